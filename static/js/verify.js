// In-browser verification of log entries and consistency proofs, with WebCrypto only.
//
// The page renders everything the server claims into a <script type="application/json">
// block (Django's json_script). On click, this reads that block afresh, recomputes the
// RFC 6962 hashes, and checks the log's signatures with the log's public key, listing
// each step with pass or fail. No network requests; nothing here trusts the server's
// own verdict. Needs a secure context (https, or http://127.0.0.1 / localhost).
"use strict";

(function () {
  const enc = new TextEncoder();

  // --- small helpers --------------------------------------------------------------

  function hexToBytes(hex) {
    if (typeof hex !== "string" || hex.length % 2 || /[^0-9a-f]/i.test(hex)) {
      throw new Error("not a hex string: " + String(hex).slice(0, 80));
    }
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function bytesToHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function b64ToBytes(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }

  function equal(a, b) {
    return a.length === b.length && a.every((v, i) => v === b[i]);
  }

  async function sha256(data) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }

  // RFC 6962: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right).
  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  // An ECDSA signature in DER (SEQUENCE { INTEGER r, INTEGER s }) as raw r || s, which
  // is the only form WebCrypto verifies.
  function derToRaw(der, size) {
    let pos = 0;
    const read = (tag) => {
      if (der[pos++] !== tag) throw new Error("not a DER ECDSA signature");
      let len = der[pos++];
      if (len & 0x80) {
        const n = len & 0x7f;
        len = 0;
        for (let i = 0; i < n; i++) len = (len << 8) | der[pos++];
      }
      const value = der.slice(pos, pos + len);
      pos += len;
      return value;
    };
    const seq = read(0x30);
    der = seq;
    pos = 0;
    const out = new Uint8Array(size * 2);
    [read(0x02), read(0x02)].forEach((int, i) => {
      let start = 0;
      while (start < int.length - 1 && int[start] === 0) start++;
      const trimmed = int.slice(start);
      if (trimmed.length > size) throw new Error("ECDSA integer too long");
      out.set(trimmed, i * size + size - trimmed.length);
    });
    return out;
  }

  async function importLogKey(data) {
    const spki = b64ToBytes(data.publicKey);
    if (data.keyAlgorithm === "ed25519") {
      return { key: await crypto.subtle.importKey("spki", spki, { name: "Ed25519" }, false, ["verify"]), spki };
    }
    const key = await crypto.subtle.importKey(
      "spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    return { key, spki };
  }

  async function verifySignature(data, key, signature, message) {
    if (data.keyAlgorithm === "ed25519") {
      return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
    }
    return crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" }, key, derToRaw(signature, 32), message);
  }

  // --- reporting --------------------------------------------------------------------

  function reporter(button) {
    const list = document.getElementById(button.dataset.output);
    const verdict = document.getElementById(button.dataset.output.replace("-steps", "-verdict"));
    list.replaceChildren();
    verdict.textContent = "";
    verdict.className = "";
    let failed = false;
    return {
      step(ok, text) {
        const item = document.createElement("li");
        item.className = ok ? "pass" : "fail";
        item.dataset.result = ok ? "pass" : "fail";
        item.textContent = text; // textContent: log data never becomes markup
        list.appendChild(item);
        if (!ok) failed = true;
        return ok;
      },
      finish() {
        verdict.className = failed ? "verdict-fail" : "verdict-pass";
        verdict.dataset.result = failed ? "fail" : "pass";
        verdict.textContent = failed
          ? "Verification FAILED: see the steps below."
          : "Every check passed.";
      },
    };
  }

  // --- inclusion of an entry ----------------------------------------------------------

  async function verifyEntry(data, r) {
    // 1. The leaf: SHA-256(0x00 || canonical body), which is also the UUID's tail.
    const leaf = await leafHash(b64ToBytes(data.body));
    r.step(true, "Leaf hash of the entry body: " + bytesToHex(leaf));
    if (data.uuid) {
      r.step(data.uuid.endsWith(bytesToHex(leaf)), "The leaf hash matches the entry UUID " + data.uuid);
    }
    // 2. Walk the inclusion proof (RFC 9162 §2.1.3.2) from the leaf to the root.
    const root = await walkInclusion(data, leaf, r);
    if (!root) return;
    // 3. The computed root must be the checkpoint's.
    const checkpoint = parseCheckpoint(data.checkpoint);
    r.step(checkpoint.origin === data.origin, "Checkpoint origin is " + JSON.stringify(checkpoint.origin));
    r.step(checkpoint.size === data.treeSize, `Checkpoint tree size ${checkpoint.size} is the proof's size ${data.treeSize}`);
    r.step(equal(root, checkpoint.root), "Computed root " + bytesToHex(root) +
      (equal(root, checkpoint.root) ? " equals" : " differs from") + " the checkpoint's root " + bytesToHex(checkpoint.root));
    // 4. The checkpoint is signed by the log's key (C2SP signed note).
    const { key, spki } = await importLogKey(data);
    await verifyNote(data, checkpoint, key, spki, r);
    // 5. The signed entry timestamp: the log's promise to include this entry.
    await verifySet(data, key, r);
  }

  async function walkInclusion(data, leaf, r) {
    let fn = BigInt(data.logIndex);
    let sn = BigInt(data.treeSize) - 1n;
    let hash = leaf;
    if (fn > sn) return r.step(false, `Leaf index ${fn} is outside a tree of ${data.treeSize}`) && null;
    for (const [i, hex] of data.hashes.entries()) {
      if (sn === 0n) return r.step(false, "The proof is longer than the path to the root") && null;
      const sibling = hexToBytes(hex);
      if ((fn & 1n) === 1n || fn === sn) {
        hash = await nodeHash(sibling, hash);
        r.step(true, `Step ${i + 1}: hash(proof[${i}] || current) = ${bytesToHex(hash)}`);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        hash = await nodeHash(hash, sibling);
        r.step(true, `Step ${i + 1}: hash(current || proof[${i}]) = ${bytesToHex(hash)}`);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) return r.step(false, "The proof is shorter than the path to the root") && null;
    return hash;
  }

  function parseCheckpoint(note) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0) throw new Error("the checkpoint is not a signed note");
    const text = note.slice(0, split + 1);
    const lines = text.split("\n");
    const signatures = note.slice(split + 2).split("\n").filter((l) => l.length);
    return {
      text,
      origin: lines[0],
      size: Number(lines[1]),
      root: b64ToBytes(lines[2]),
      signatures,
    };
  }

  async function verifyNote(data, checkpoint, key, spki, r) {
    const hint = (await sha256(spki)).slice(0, 4); // Rekor's key hint: SHA-256(SPKI)[:4]
    for (const line of checkpoint.signatures) {
      const match = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!match || match[1] !== data.signerName) continue;
      const blob = b64ToBytes(match[2]);
      if (!equal(blob.slice(0, 4), hint)) continue;
      const ok = await verifySignature(data, key, blob.slice(4), enc.encode(checkpoint.text));
      return r.step(ok, `Checkpoint signature by ${data.signerName} (key hint ${bytesToHex(hint)}) ` +
        (ok ? "verifies" : "does NOT verify") + " with the log's public key");
    }
    return r.step(false, `The checkpoint has no signature by ${data.signerName} with this log's key`);
  }

  async function verifySet(data, key, r) {
    // RFC 8785 of {body, integratedTime, logID, logIndex}: sorted keys, no spaces; the
    // values are base64, hex and integers, which JSON.stringify writes canonically.
    const payload = JSON.stringify({
      body: data.body,
      integratedTime: data.integratedTime,
      logID: data.logID,
      logIndex: data.globalIndex,
    });
    const ok = await verifySignature(data, key, b64ToBytes(data.set), enc.encode(payload));
    return r.step(ok, "Signed entry timestamp " + (ok ? "verifies" : "does NOT verify") + " with the log's public key");
  }

  // --- consistency between two sizes (RFC 9162 §2.1.4.2) ------------------------------

  async function verifyConsistency(data, r) {
    const oldRoot = hexToBytes(data.oldRoot);
    const newRoot = hexToBytes(data.newRoot);
    const proof = data.proof.map(hexToBytes);
    let fn = BigInt(data.oldSize) - 1n;
    let sn = BigInt(data.newSize) - 1n;
    if (data.oldSize === data.newSize) {
      r.step(proof.length === 0, "Equal sizes need an empty proof");
      return r.step(equal(oldRoot, newRoot), "Equal sizes need equal roots");
    }
    if (!r.step(proof.length > 0, `The proof has ${proof.length} hashes`)) return;
    // A power-of-two old tree is itself a node on the new tree's path: start from it.
    const path = (BigInt(data.oldSize) & (BigInt(data.oldSize) - 1n)) === 0n ? [oldRoot, ...proof] : proof;
    while ((fn & 1n) === 1n) {
      fn >>= 1n;
      sn >>= 1n;
    }
    let fr = path[0];
    let sr = path[0];
    for (const [i, c] of path.slice(1).entries()) {
      if (sn === 0n) return r.step(false, "The proof is longer than needed");
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
        r.step(true, `Step ${i + 1}: both roots take hash ${bytesToHex(c).slice(0, 16)}… from the left`);
      } else {
        sr = await nodeHash(sr, c);
        r.step(true, `Step ${i + 1}: the new root takes hash ${bytesToHex(c).slice(0, 16)}… from the right`);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    r.step(sn === 0n, "The proof ends exactly at the new root");
    r.step(equal(fr, oldRoot), `Recomputed old root ${bytesToHex(fr)} ${equal(fr, oldRoot) ? "equals" : "differs from"} ${data.oldRoot}`);
    r.step(equal(sr, newRoot), `Recomputed new root ${bytesToHex(sr)} ${equal(sr, newRoot) ? "equals" : "differs from"} ${data.newRoot}`);
  }

  // --- wiring -------------------------------------------------------------------------

  async function run(button) {
    const r = reporter(button);
    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      r.step(false, "Your browser only offers WebCrypto on secure pages (https, or http://127.0.0.1 and localhost); " +
        "this page was served over plain http, so it cannot check anything here.");
      return r.finish();
    }
    try {
      const data = JSON.parse(document.getElementById(button.dataset.source).textContent);
      if (button.dataset.verify === "entry") await verifyEntry(data, r);
      else await verifyConsistency(data, r);
    } catch (err) {
      r.step(false, "Could not complete the check: " + (err && err.message ? err.message : String(err)));
    }
    r.finish();
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("button[data-verify]")) {
      button.addEventListener("click", () => run(button));
    }
  });
})();
