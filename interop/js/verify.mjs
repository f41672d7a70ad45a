#!/usr/bin/env node
// Verify a Sigstore bundle with the real sigstore-js verifier
// (@sigstore/verify) against an explicit trusted_root.json, with no TUF.
//
// Exit codes: 0 = verified ("OK" on stdout), 1 = verification failed
// (reason on stderr), 2 = usage error (bad flags, unreadable files).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');
const { X509Certificate } = require('@sigstore/core');

const USAGE = `usage: node verify.mjs --trusted-root FILE --bundle FILE [--artifact FILE]
                       [--identity-email EMAIL | --identity-uri URI | --identity-regexp RE]
                       --issuer ISSUER [--tlog-threshold N] [--ctlog-threshold N]
                       [--timestamp-threshold N]

Verifies a bundle with @sigstore/verify ${require('@sigstore/verify/package.json').version} against a custom trusted root:
TrustedRoot.fromJSON -> toTrustMaterial -> new Verifier(tm).verify(toSignedEntity(bundleFromJSON(b), artifact), policy)

  --trusted-root FILE     trusted_root.json (a ClientTrustConfig with a "trustedRoot" key also works)
  --bundle FILE           the Sigstore bundle JSON
  --artifact FILE         the signed file. Required for message-signature (hashedrekord) bundles.
                          Optional for DSSE bundles (sigstore-js verifies the envelope); when given,
                          it must equal the DSSE payload or match (sha256) an in-toto subject digest.
  --identity-email EMAIL  expected SAN email: passed to sigstore-js escaped and anchored, and the
                          leaf's rfc822Name SAN must also equal EMAIL exactly
  --identity-uri URI      expected SAN URI: passed to sigstore-js escaped and anchored, and the
                          leaf's URI SAN must also equal URI exactly
  --identity-regexp RE    raw sigstore-js SAN policy: unanchored JS regexp, as @sigstore/cli does
  --issuer ISSUER         expected OIDC issuer (cert ext 1.3.6.1.4.1.57264.1.8, falling back to .1.1)
  --tlog-threshold N      minimum verified tlog entries (default 1)
  --ctlog-threshold N     minimum verified SCTs (default 1)
  --timestamp-threshold N minimum verified timestamps (default 1)
  -h, --help              show this help

Exit status: 0 verified (prints OK); 1 verification failed (reason on stderr); 2 usage error.`;

function usageError(msg) {
  process.stderr.write(`verify.mjs: ${msg} (see --help)\n`);
  process.exit(2);
}

function fail(msg) {
  process.stderr.write(`verify.mjs: verification failed\n${msg}\n`);
  process.exit(1);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'trusted-root': { type: 'string' },
      bundle: { type: 'string' },
      artifact: { type: 'string' },
      'identity-email': { type: 'string' },
      'identity-uri': { type: 'string' },
      'identity-regexp': { type: 'string' },
      issuer: { type: 'string' },
      'tlog-threshold': { type: 'string' },
      'ctlog-threshold': { type: 'string' },
      'timestamp-threshold': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  usageError(err.message);
}

if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

for (const required of ['trusted-root', 'bundle', 'issuer']) {
  if (!args[required]) usageError(`--${required} is required`);
}
const identityFlags = ['identity-email', 'identity-uri', 'identity-regexp'].filter(
  (f) => args[f] !== undefined,
);
if (identityFlags.length > 1) {
  usageError('give at most one of --identity-email, --identity-uri, --identity-regexp');
}

function threshold(name) {
  if (args[name] === undefined) return undefined;
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 0) usageError(`--${name} must be a non-negative integer`);
  return n;
}
const verifierOptions = {};
for (const [flag, key] of [
  ['tlog-threshold', 'tlogThreshold'],
  ['ctlog-threshold', 'ctlogThreshold'],
  ['timestamp-threshold', 'timestampThreshold'],
]) {
  const n = threshold(flag);
  if (n !== undefined) verifierOptions[key] = n;
}

function readJSON(path, what) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    usageError(`cannot read ${what}: ${err.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    // A file that is not JSON is a bad input, not a usage error.
    fail(`${what} ${path} is not valid JSON: ${err.message}`);
  }
}

function describeError(err) {
  const lines = [];
  let cur = err;
  let depth = 0;
  while (cur !== undefined && cur !== null && depth < 10) {
    const prefix = depth === 0 ? 'error' : 'caused by';
    if (cur instanceof Error) {
      const name = cur.name && cur.name !== 'Error' ? `${cur.name} ` : '';
      const code = cur.code ? `${cur.code}: ` : '';
      const fields = Array.isArray(cur.fields) && cur.fields.length ? ` (fields: ${cur.fields.join(', ')})` : '';
      lines.push(`${prefix}: ${name}${code}${cur.message}${fields}`);
    } else {
      lines.push(`${prefix}: ${String(cur)}`);
    }
    cur = cur instanceof Error ? cur.cause : undefined;
    depth += 1;
  }
  return lines.join('\n');
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Extra check for DSSE bundles when an artifact is given: sigstore-js itself
// ignores the artifact for DSSE, so bind it here the way users expect.
function checkDsseArtifact(envelope, artifact) {
  const payload = Buffer.from(envelope.payload);
  if (payload.equals(artifact)) return;
  const digest = createHash('sha256').update(artifact).digest('hex');
  if (envelope.payloadType === 'application/vnd.in-toto+json') {
    let statement;
    try {
      statement = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      throw new Error(`DSSE in-toto payload is not JSON: ${err.message}`);
    }
    const subjects = Array.isArray(statement.subject) ? statement.subject : [];
    if (subjects.some((s) => s && s.digest && String(s.digest.sha256).toLowerCase() === digest)) {
      return;
    }
    throw new Error(`artifact (sha256 ${digest}) matches neither the DSSE payload nor any in-toto subject digest`);
  }
  throw new Error(`artifact (sha256 ${digest}) does not match the DSSE payload`);
}

// sigstore-js matches its SAN policy against "first URI SAN, else first email
// SAN" without looking at the type; check the type here so that
// --identity-email and --identity-uri mean what they say.
function checkSanType(b) {
  const want = args['identity-email'] ?? args['identity-uri'];
  if (want === undefined) return;
  const vm = b.verificationMaterial.content;
  let raw;
  if (vm.$case === 'x509CertificateChain') raw = vm.x509CertificateChain.certificates[0].rawBytes;
  else if (vm.$case === 'certificate') raw = vm.certificate.rawBytes;
  else throw new Error('bundle has no signing certificate, cannot check the identity');
  const san = X509Certificate.parse(Buffer.from(raw)).extSubjectAltName;
  const kind = args['identity-email'] !== undefined ? 'rfc822Name' : 'uri';
  const got = san?.[kind];
  if (got !== want) {
    throw new Error(`certificate ${kind} SAN is ${got === undefined ? 'absent' : JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
}

const rootJSON = readJSON(args['trusted-root'], 'trusted root');
const bundleJSON = readJSON(args.bundle, 'bundle');
let artifact;
if (args.artifact !== undefined) {
  try {
    artifact = readFileSync(args.artifact);
  } catch (err) {
    usageError(`cannot read artifact: ${err.message}`);
  }
}

let trustMaterial;
try {
  const rootObj =
    rootJSON && typeof rootJSON === 'object' && rootJSON.trustedRoot ? rootJSON.trustedRoot : rootJSON;
  if (!rootObj || typeof rootObj !== 'object' || !Array.isArray(rootObj.certificateAuthorities) || !Array.isArray(rootObj.tlogs)) {
    throw new Error('not a trusted root: "certificateAuthorities" and "tlogs" lists are required');
  }
  trustMaterial = toTrustMaterial(TrustedRoot.fromJSON(rootObj));
} catch (err) {
  fail(`cannot load trusted root\n${describeError(err)}`);
}

let bundle;
try {
  bundle = bundleFromJSON(bundleJSON);
} catch (err) {
  fail(`invalid bundle\n${describeError(err)}`);
}

const isDsse = bundle.content.$case === 'dsseEnvelope';
if (!isDsse && artifact === undefined) {
  usageError('--artifact is required for message-signature (non-DSSE) bundles');
}

const policy = { extensions: { issuer: args.issuer } };
if (args['identity-email'] !== undefined) {
  policy.subjectAlternativeName = `^${escapeRegExp(args['identity-email'])}$`;
} else if (args['identity-uri'] !== undefined) {
  policy.subjectAlternativeName = `^${escapeRegExp(args['identity-uri'])}$`;
} else if (args['identity-regexp'] !== undefined) {
  policy.subjectAlternativeName = args['identity-regexp'];
}

try {
  const verifier = new Verifier(trustMaterial, verifierOptions);
  const signer = verifier.verify(toSignedEntity(bundle, artifact), policy);
  if (isDsse && artifact !== undefined) {
    checkDsseArtifact(bundle.content.dsseEnvelope, artifact);
  }
  checkSanType(bundle);
  const id = signer.identity || {};
  process.stderr.write(
    `verified: san=${id.subjectAlternativeName ?? '-'} issuer=${id.extensions?.issuer ?? '-'}\n`,
  );
  process.stdout.write('OK\n');
  process.exit(0);
} catch (err) {
  fail(describeError(err));
}
