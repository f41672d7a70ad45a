"""Entry kinds: what the log accepts, what it stores, and what it refuses (and why).

No database: tlog.kinds is a pure core. The interop tests run sigstore-python's
own consistency checks against the bodies we store.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from types import SimpleNamespace

import pytest
import rekor_types
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sigstore import dsse as sigstore_dsse
from sigstore._internal.rekor import _hashedrekord_from_parts
from sigstore._internal.rekor.client import RekorClient
from sigstore.hashes import Hashed
from sigstore.verify.verifier import (
    _validate_dsse_v001_entry_body,
    _validate_hashedrekord_v001_entry_body,
)
from sigstore_models.common.v1 import HashAlgorithm

from tlog.kinds import (
    EntryError,
    SearchKey,
    accept_proposed_entry,
    body_search_keys,
    decode_body,
    ed25519ph,
)
from tlog.kinds.verifiers import key_fingerprint
from tlog.tests.kinds_fixtures import (
    EMAIL,
    INTOTO,
    ISSUER,
    RFC8032_PH_PUBLIC,
    RFC8032_PH_SEED,
    RFC8032_PH_SIGNATURE,
    WORKFLOW,
    b64,
    cert_pem,
    crlf,
    dsse_request,
    ec_key,
    ed25519_key,
    envelope,
    hashedrekord_request,
    intoto_request,
    key_pem,
    leaf_certificate,
    pae,
    rsa_key,
    sha256_hex,
    sign_digest,
    sign_message,
    signed_hashedrekord,
    statement,
)


def refused(proposed: object) -> EntryError:
    with pytest.raises(EntryError) as caught:
        accept_proposed_entry(proposed)
    return caught.value


# --- hashedrekord ---------------------------------------------------------------------


def test_hashedrekord_stores_the_exact_canonical_body():
    key = ec_key()
    certificate = leaf_certificate(key)
    digest = hashlib.sha256(b"artifact").digest()
    signature = sign_digest(key, digest)

    accepted = accept_proposed_entry(
        hashedrekord_request(signature, cert_pem(certificate), digest.hex())
    )

    expected = (
        '{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":'
        f'{{"algorithm":"sha256","value":"{digest.hex()}"}}}},"signature":{{"content":'
        f'"{b64(signature)}","publicKey":{{"content":"{b64(cert_pem(certificate))}"}}}}}}}}'
    )
    assert accepted.canonical_body == expected.encode()
    assert (accepted.kind, accepted.api_version) == ("hashedrekord", "0.0.1")
    assert accepted.certificates == (certificate,)
    assert accepted.search_keys == (
        SearchKey("sha256", f"sha256:{digest.hex()}"),
        SearchKey("key", key_fingerprint(key.public_key())),
        SearchKey("cert_serial", "1a2b3c"),
        SearchKey("email", EMAIL.lower()),
        SearchKey("issuer", ISSUER),
    )


def test_hashedrekord_with_a_raw_p256_public_key():
    key = ec_key("secp256r1", 1)
    accepted = accept_proposed_entry(signed_hashedrekord(key, key_pem(key)))
    body = json.loads(accepted.canonical_body)
    assert body["spec"]["signature"]["publicKey"]["content"] == b64(key_pem(key))
    assert accepted.certificates == ()
    assert {k.kind for k in accepted.search_keys} == {"sha256", "key"}


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_hashedrekord_rsa_2048_certificate_with_each_digest(algorithm):
    key = rsa_key(2048)
    digest = hashlib.new(algorithm, b"artifact").digest()
    proposed = hashedrekord_request(
        sign_digest(key, digest, algorithm),
        cert_pem(leaf_certificate(key)),
        digest.hex(),
        algorithm,
    )
    accepted = accept_proposed_entry(proposed)
    assert SearchKey(algorithm, f"{algorithm}:{digest.hex()}") in accepted.search_keys


def test_hashedrekord_p384_key_with_sha384():
    key = ec_key("secp384r1")
    digest = hashlib.sha384(b"artifact").digest()
    proposed = hashedrekord_request(
        sign_digest(key, digest, "sha384"), key_pem(key), digest.hex(), "sha384"
    )
    assert accept_proposed_entry(proposed).kind == "hashedrekord"


def test_hashedrekord_ecdsa_signature_in_p1363_form_is_accepted_as_rekor_does():
    key = ec_key()
    digest = hashlib.sha256(b"artifact").digest()
    r, s = decode_dss_signature(sign_digest(key, digest))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    accepted = accept_proposed_entry(hashedrekord_request(raw, key_pem(key), digest.hex()))
    assert json.loads(accepted.canonical_body)["spec"]["signature"]["content"] == b64(raw)


def _ed25519ph_vector_request(algorithm: str = "sha512") -> dict:
    public = ed25519.Ed25519PublicKey.from_public_bytes(RFC8032_PH_PUBLIC)
    digest = hashlib.new(algorithm, b"abc").hexdigest()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashedrekord_request(RFC8032_PH_SIGNATURE, pem, digest, algorithm)


def test_hashedrekord_ed25519_key_is_verified_as_ed25519ph_over_sha512():
    accepted = accept_proposed_entry(_ed25519ph_vector_request())
    assert accepted.search_keys[0].value == "sha512:" + hashlib.sha512(b"abc").hexdigest()


def test_hashedrekord_ed25519_key_with_a_sha256_digest_is_refused_clearly():
    error = refused(_ed25519ph_vector_request("sha256"))
    assert error.code == "malformed_entry"
    assert "Ed25519ph" in error.message and "sha512" in error.message


def test_hashedrekord_crlf_pem_is_stored_as_canonical_lf_pem():
    key = ec_key()
    certificate = leaf_certificate(key)
    sloppy = b"\r\n  " + crlf(cert_pem(certificate)) + b"\r\n\n"
    accepted = accept_proposed_entry(signed_hashedrekord(key, sloppy))
    stored = json.loads(accepted.canonical_body)["spec"]["signature"]["publicKey"]["content"]
    assert stored == b64(cert_pem(certificate))


def test_hashedrekord_public_key_pem_is_rewritten_canonically():
    key = ec_key()
    body = key_pem(key).split(b"\n")
    # Same key, 40-character base64 lines instead of 64.
    joined = b"".join(body[1:-2])
    rewrapped = b"\n".join([body[0], *[joined[i : i + 40] for i in range(0, len(joined), 40)]])
    rewrapped += b"\n" + body[-2] + b"\n"
    accepted = accept_proposed_entry(signed_hashedrekord(key, rewrapped))
    stored = json.loads(accepted.canonical_body)["spec"]["signature"]["publicKey"]["content"]
    assert stored == b64(key_pem(key))


def _valid_hashedrekord() -> dict:
    key = ec_key()
    return signed_hashedrekord(key, cert_pem(leaf_certificate(key)))


def _set(path: str, value: object):
    def mutate(proposed: dict) -> None:
        *parents, last = path.split(".")
        target = proposed
        for part in parents:
            target = target[part]
        target[last] = value

    return mutate


def _delete(path: str):
    def mutate(proposed: dict) -> None:
        *parents, last = path.split(".")
        target = proposed
        for part in parents:
            target = target[part]
        del target[last]

    return mutate


def _other_key_signature(proposed: dict) -> None:
    digest = bytes.fromhex(proposed["spec"]["data"]["hash"]["value"])
    proposed["spec"]["signature"]["content"] = b64(sign_digest(ec_key("secp256r1", 5), digest))


def _other_digest_signature(proposed: dict) -> None:
    digest = hashlib.sha256(b"another artifact").digest()
    proposed["spec"]["signature"]["content"] = b64(sign_digest(ec_key(), digest))


def _key_content(pem: bytes):
    return _set("spec.signature.publicKey.content", b64(pem))


_GARBAGE_CERT = b"-----BEGIN CERTIFICATE-----\nMIIBAAAAAAAAAAAA\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    ("mutate", "code", "in_message"),
    [
        (_set("kind", "rekord"), "unsupported_kind", "rekord"),
        (_set("apiVersion", "0.0.2"), "unsupported_version", "0.0.2"),
        (_delete("kind"), "malformed_entry", "kind"),
        (_set("kind", 7), "malformed_entry", "kind"),
        (_set("extra", 1), "malformed_entry", "extra"),
        (_delete("spec.signature"), "malformed_entry", "spec.signature"),
        (_set("spec.data.content", "aGVsbG8="), "malformed_entry", "spec.data.content"),
        (_set("spec.signature.publicKey.url", "x"), "malformed_entry", "publicKey.url"),
        (_set("spec.data.hash.algorithm", "md5"), "malformed_entry", "algorithm"),
        (_set("spec.data.hash.value", "ab" * 31), "malformed_entry", "64 lowercase hex"),
        (_set("spec.data.hash.value", "AB" * 32), "malformed_entry", "lowercase"),
        (_set("spec.data.hash.algorithm", "sha512"), "malformed_entry", "128"),
        (_set("spec.signature.content", 12), "malformed_entry", "spec.signature.content"),
        (_set("spec.signature.content", ""), "malformed_entry", "empty"),
        (_set("spec.signature.content", "not base64!"), "bad_base64", "spec.signature.content"),
        (_set("spec.signature.content", "QR=="), "bad_base64", "canonical"),
        (_set("spec.signature.content", "QQ"), "bad_base64", "padded"),
        (_key_content(b"hello"), "bad_public_key", "PEM"),
        (_key_content(_GARBAGE_CERT), "bad_certificate", "X.509"),
        (_key_content(key_pem(rsa_key(1024))), "bad_public_key", "1024 bits"),
        (_key_content(key_pem(ec_key("secp256k1"))), "bad_public_key", "secp256k1"),
        (
            _key_content(cert_pem(leaf_certificate(ec_key())) * 2),
            "bad_public_key",
            "several PEM blocks",
        ),
        (_other_digest_signature, "signature_invalid", "spec.signature.content"),
        (_other_key_signature, "signature_invalid", "spec.signature.content"),
        (_key_content(key_pem(ec_key("secp256r1", 5))), "signature_invalid", "digest"),
    ],
)
def test_hashedrekord_refusals(mutate, code, in_message):
    proposed = _valid_hashedrekord()
    mutate(proposed)
    error = refused(proposed)
    assert (error.code, in_message in error.message) == (code, True), error.message


@pytest.mark.parametrize("proposed", [None, [], "hashedrekord", 3])
def test_a_body_that_is_not_an_object_is_malformed(proposed):
    assert refused(proposed).code == "malformed_entry"


def test_certificate_identity_prefers_the_der_issuer_and_indexes_uris():
    key = ec_key()
    certificate = leaf_certificate(
        key, email=None, uri=WORKFLOW, issuer_v1="https://old.example", issuer_v2=ISSUER
    )
    keys = accept_proposed_entry(signed_hashedrekord(key, cert_pem(certificate))).search_keys
    assert SearchKey("uri", WORKFLOW) in keys
    assert SearchKey("issuer", ISSUER) in keys
    assert not [k for k in keys if k.kind == "email"]
    assert SearchKey("issuer", "https://old.example") not in keys


# --- sigstore-python interop ------------------------------------------------------------


def _bundle(body: bytes, certificate, *, signature: bytes = b"", envelope=None):
    """Just the attributes sigstore-python's entry-body checks read from a Bundle."""
    return SimpleNamespace(
        log_entry=SimpleNamespace(_inner=SimpleNamespace(canonicalized_body=body)),
        signing_certificate=certificate,
        _inner=SimpleNamespace(message_signature=SimpleNamespace(signature=signature)),
        _dsse_envelope=envelope,
    )


@pytest.mark.parametrize("sloppy_pem", [False, True], ids=["python", "js-crlf"])
def test_sigstore_python_accepts_our_hashedrekord_body(sloppy_pem):
    key = ec_key()
    certificate = leaf_certificate(key)
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=hashlib.sha256(b"x").digest())
    signature = sign_digest(key, hashed.digest)
    proposed = RekorClient("http://rekor.test")._build_hashed_rekord_request(
        hashed, signature, certificate
    )
    if sloppy_pem:  # what sigstore-js sends when Fulcio gave it CRLF PEM
        proposed["spec"]["signature"]["publicKey"]["content"] = b64(crlf(cert_pem(certificate)))

    body = accept_proposed_entry(proposed).canonical_body

    assert rekor_types.Hashedrekord.model_validate_json(body) == _hashedrekord_from_parts(
        certificate, signature, hashed
    )
    _validate_hashedrekord_v001_entry_body(_bundle(body, certificate, signature=signature), hashed)


def _sigstore_python_dsse(key, certificate, *digests: str):
    builder = sigstore_dsse.StatementBuilder().subjects(
        [
            sigstore_dsse.Subject(name=f"a{i}", digest=sigstore_dsse.DigestSet(root={"sha256": d}))
            for i, d in enumerate(digests)
        ]
    )
    stmt = builder.predicate_type("https://example.com/p").predicate({"k": "v"}).build()
    signed = sigstore_dsse._sign(key, stmt)
    return signed, RekorClient("http://rekor.test")._build_dsse_request(signed, certificate)


def test_sigstore_python_dsse_request_is_stored_exactly_and_passes_its_checks():
    key = ec_key()
    certificate = leaf_certificate(key)
    subject = "cd" * 32
    signed, proposed = _sigstore_python_dsse(key, certificate, subject)
    envelope_text = proposed["spec"]["proposedContent"]["envelope"]
    inner = json.loads(envelope_text)

    accepted = accept_proposed_entry(proposed)

    payload = signed._inner.payload
    expected = (
        '{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256",'
        f'"value":"{sha256_hex(envelope_text.encode())}"}},"payloadHash":{{"algorithm":'
        f'"sha256","value":"{sha256_hex(payload)}"}},"signatures":[{{"signature":'
        f'"{inner["signatures"][0]["sig"]}","verifier":"{b64(cert_pem(certificate))}"}}]}}}}'
    )
    assert accepted.canonical_body == expected.encode()
    assert SearchKey("sha256", f"sha256:{subject}") in accepted.search_keys
    assert SearchKey("sha256", f"sha256:{sha256_hex(payload)}") in accepted.search_keys
    assert accepted.certificates == (certificate,)
    rekor_types.Dsse.model_validate_json(accepted.canonical_body)
    _validate_dsse_v001_entry_body(_bundle(accepted.canonical_body, certificate, envelope=signed))


# --- dsse -------------------------------------------------------------------------------


def _dsse(payload: bytes, signers, verifiers, **envelope_args) -> dict:
    text = json.dumps(envelope(payload, signers, **envelope_args))
    return dsse_request(text, verifiers)


def _stored_signatures(accepted) -> list[dict]:
    return json.loads(accepted.canonical_body)["spec"]["signatures"]


def test_dsse_ed25519_raw_key():
    key = ed25519_key()
    accepted = accept_proposed_entry(_dsse(b"hello", [key], [key_pem(key)]))
    assert _stored_signatures(accepted)[0]["verifier"] == b64(key_pem(key))
    assert accepted.certificates == ()


def test_dsse_rsa_certificate_js_style_with_empty_keyid_and_crlf_pem():
    key = rsa_key(2048)
    certificate = leaf_certificate(key)
    proposed = _dsse(statement("ef" * 32), [key], [crlf(cert_pem(certificate))], keyid="")
    accepted = accept_proposed_entry(proposed)
    assert _stored_signatures(accepted)[0]["verifier"] == b64(cert_pem(certificate))
    assert SearchKey("sha256", "sha256:" + "ef" * 32) in accepted.search_keys


def test_dsse_signatures_are_sorted_and_paired_with_their_own_verifier():
    p256, ed = ec_key(), ed25519_key()
    proposed = _dsse(b"payload", [p256, ed], [key_pem(ed), key_pem(p256)])
    envelope_sigs = json.loads(proposed["spec"]["proposedContent"]["envelope"])["signatures"]
    by_sig = {
        envelope_sigs[0]["sig"]: b64(key_pem(p256)),
        envelope_sigs[1]["sig"]: b64(key_pem(ed)),
    }

    stored = _stored_signatures(accept_proposed_entry(proposed))

    assert [s["signature"] for s in stored] == sorted(by_sig)
    assert all(by_sig[s["signature"]] == s["verifier"] for s in stored)


def test_dsse_key_ids_are_ignored_as_in_rekor():
    key = ec_key()
    accepted = accept_proposed_entry(_dsse(b"p", [key], [key_pem(key)], keyid="no-such-key"))
    assert len(_stored_signatures(accepted)) == 1


def test_dsse_verifiers_after_all_signatures_are_covered_are_not_consulted():
    key = ec_key()
    unrelated = ec_key("secp256r1", 7)
    accepted = accept_proposed_entry(_dsse(b"p", [key], [key_pem(key), key_pem(unrelated)]))
    assert _stored_signatures(accepted)[0]["verifier"] == b64(key_pem(key))


def test_dsse_a_verifier_that_verifies_nothing_is_refused():
    key = ec_key()
    unrelated = ec_key("secp256r1", 7)
    error = refused(_dsse(b"p", [key], [key_pem(unrelated), key_pem(key)]))
    assert error.code == "signature_invalid"
    assert "spec.proposedContent.verifiers[0]" in error.message


def test_dsse_one_key_cannot_account_for_two_different_signatures_as_in_rekor():
    key = ec_key()  # ECDSA signatures are randomized: two signatures, two strings
    error = refused(_dsse(b"p", [key, key], [key_pem(key), key_pem(key)]))
    assert error.code == "signature_invalid"


def test_dsse_a_repeated_signature_string_is_stored_once():
    key = ed25519_key()  # Ed25519 is deterministic: the same signature twice
    accepted = accept_proposed_entry(_dsse(b"p", [key, key], [key_pem(key)]))
    assert len(_stored_signatures(accepted)) == 1


def _valid_dsse() -> dict:
    key = ec_key()
    return _dsse(statement("aa" * 32), [key], [cert_pem(leaf_certificate(key))])


def _edit_envelope(edit):
    def mutate(proposed: dict) -> None:
        content = proposed["spec"]["proposedContent"]
        document = json.loads(content["envelope"])
        edit(document)
        content["envelope"] = json.dumps(document)

    return mutate


def _envelope_text(text: str):
    return _set("spec.proposedContent.envelope", text)


def _swap_payload(document: dict) -> None:
    document["payload"] = b64(b"another payload")


def _too_many_signatures(document: dict) -> None:
    document["signatures"] = document["signatures"] * 17


@pytest.mark.parametrize(
    ("mutate", "code", "in_message"),
    [
        (_set("apiVersion", "0.0.2"), "unsupported_version", "dsse"),
        (
            _set("spec.envelopeHash", {"algorithm": "sha256", "value": "00" * 32}),
            "malformed_entry",
            "computed by the log",
        ),
        (_set("spec.proposedContent.extra", 1), "malformed_entry", "proposedContent.extra"),
        (_envelope_text("{not json"), "malformed_entry", "not valid JSON"),
        (_envelope_text('{"a": 1, "a": 2}'), "malformed_entry", "duplicate"),
        (_envelope_text("[]"), "malformed_entry", "must be a JSON object"),
        (_envelope_text('{"payload": "\ud800"}'), "malformed_entry", "surrogate"),
        (_envelope_text("[" * 5000 + "]" * 5000), "malformed_entry", "not valid JSON"),
        (_edit_envelope(lambda d: d.pop("payloadType")), "malformed_entry", "payloadType"),
        (_edit_envelope(lambda d: d.update(extra=1)), "malformed_entry", "envelope.extra"),
        (_edit_envelope(lambda d: d.update(signatures=[])), "malformed_entry", "empty"),
        (_edit_envelope(lambda d: d.update(payload="%%%")), "bad_base64", "payload"),
        (_edit_envelope(_too_many_signatures), "too_large", "at most 16"),
        (_edit_envelope(_swap_payload), "signature_invalid", "verifiers[0]"),
        (_set("spec.proposedContent.verifiers", []), "malformed_entry", "empty"),
        (_set("spec.proposedContent.verifiers", ["QQ=="] * 17), "too_large", "at most 16"),
        (_set("spec.proposedContent.verifiers", [5]), "malformed_entry", "verifiers[0]"),
        (_set("spec.proposedContent.verifiers", ["*"]), "bad_base64", "verifiers[0]"),
        (
            _set("spec.proposedContent.verifiers", [b64(key_pem(rsa_key(1024)))]),
            "bad_public_key",
            "verifiers[0]",
        ),
    ],
)
def test_dsse_refusals(mutate, code, in_message):
    proposed = _valid_dsse()
    mutate(proposed)
    error = refused(proposed)
    assert (error.code, in_message in error.message) == (code, True), error.message


def test_dsse_signature_from_another_key_is_refused():
    key, other = ec_key(), ec_key("secp256r1", 3)
    error = refused(_dsse(b"p", [other], [key_pem(key)]))
    assert error.code == "signature_invalid"


# --- intoto -----------------------------------------------------------------------------


def _intoto(payload: bytes, key, pem: bytes, keyid: str = "", **kwargs) -> dict:
    signature = sign_message(key, pae(INTOTO, payload))
    return intoto_request(payload, [(signature, pem, keyid)], **kwargs)


def test_intoto_stores_rekors_canonical_body_without_the_payload():
    key = ec_key()
    certificate = leaf_certificate(key)
    payload = statement("bb" * 32)
    proposed = _intoto(payload, key, crlf(cert_pem(certificate)), envelope_hash="12" * 32)
    sig = proposed["spec"]["content"]["envelope"]["signatures"][0]["sig"]

    accepted = accept_proposed_entry(proposed)

    expected = (
        '{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"payloadType":'
        f'"{INTOTO}","signatures":[{{"publicKey":"{b64(cert_pem(certificate))}","sig":"{sig}"'
        f'}}]}},"hash":{{"algorithm":"sha256","value":"{"12" * 32}"}},"payloadHash":{{'
        f'"algorithm":"sha256","value":"{sha256_hex(payload)}"}}}}}}}}'
    )
    assert accepted.canonical_body == expected.encode()
    assert SearchKey("sha256", "sha256:" + "bb" * 32) in accepted.search_keys
    assert SearchKey("email", EMAIL.lower()) in accepted.search_keys
    assert accepted.certificates == (certificate,)
    model = rekor_types.Intoto.model_validate_json(accepted.canonical_body)
    assert type(model.spec.root).__name__ == "IntotoV002Schema"


def test_intoto_keeps_a_nonempty_keyid_and_verifies_ed25519():
    key = ed25519_key()
    accepted = accept_proposed_entry(_intoto(b"raw", key, key_pem(key), keyid="k1"))
    stored = json.loads(accepted.canonical_body)["spec"]["content"]["envelope"]["signatures"]
    assert stored[0]["keyid"] == "k1"


def test_intoto_payload_hash_may_be_left_out():
    key = ec_key()
    proposed = _intoto(b"raw", key, key_pem(key))
    del proposed["spec"]["content"]["payloadHash"]
    body = json.loads(accept_proposed_entry(proposed).canonical_body)
    assert body["spec"]["content"]["payloadHash"]["value"] == sha256_hex(b"raw")


def _valid_intoto() -> dict:
    key = ec_key()
    return _intoto(statement("cc" * 32), key, cert_pem(leaf_certificate(key)))


def _single_b64_payload(proposed: dict) -> None:
    proposed["spec"]["content"]["envelope"]["payload"] = b64(statement("cc" * 32))


def _wrong_key(proposed: dict) -> None:
    signature = proposed["spec"]["content"]["envelope"]["signatures"][0]
    signature["publicKey"] = b64(key_pem(ec_key("secp256r1", 3)))


@pytest.mark.parametrize(
    ("mutate", "code", "in_message"),
    [
        (_set("apiVersion", "0.0.1"), "unsupported_version", "intoto"),
        (_delete("spec.content.hash"), "malformed_entry", "spec.content.hash"),
        (_set("spec.content.hash.algorithm", "sha512"), "malformed_entry", "algorithm"),
        (_delete("spec.content.envelope.payload"), "malformed_entry", "payload"),
        (_set("spec.content.envelope.payloadType", ""), "malformed_entry", "payloadType"),
        (_set("spec.content.payloadHash.value", "00" * 32), "hash_mismatch", "payloadHash"),
        (_single_b64_payload, "bad_base64", "inner base64"),
        (_wrong_key, "signature_invalid", "signatures[0].publicKey"),
        (_set("spec.content.envelope.signatures", []), "malformed_entry", "empty"),
    ],
)
def test_intoto_refusals(mutate, code, in_message):
    proposed = _valid_intoto()
    mutate(proposed)
    error = refused(proposed)
    assert (error.code, in_message in error.message) == (code, True), error.message


# --- stored bodies ----------------------------------------------------------------------


def _accepted_of_each_kind():
    key = ec_key()
    pem = cert_pem(leaf_certificate(key))
    return [
        accept_proposed_entry(signed_hashedrekord(key, pem)),
        accept_proposed_entry(_dsse(statement("dd" * 32), [key], [pem])),
        accept_proposed_entry(_intoto(statement("dd" * 32), key, pem)),
    ]


def test_decode_body_round_trips_and_search_keys_are_recomputed():
    for accepted in _accepted_of_each_kind():
        document = decode_body(accepted.canonical_body)
        assert document["kind"] == accepted.kind
        subject_key = SearchKey("sha256", "sha256:" + "dd" * 32)
        expected = tuple(k for k in accepted.search_keys if k != subject_key)
        assert body_search_keys(accepted.canonical_body) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "malformed_entry"),
        (b"[]", "malformed_entry"),
        (b'{"kind":"rekord","apiVersion":"0.0.1","spec":{}}', "unsupported_kind"),
        (b'{"kind":"dsse","apiVersion":"0.0.1","spec":[]}', "malformed_entry"),
        (b'{"kind":"dsse","apiVersion":"0.0.1","spec":{},"x":1}', "malformed_entry"),
    ],
)
def test_decode_body_refuses_garbage(body, code):
    with pytest.raises(EntryError) as caught:
        decode_body(body)
    assert caught.value.code == code


def test_body_search_keys_refuses_a_stored_body_with_a_bad_verifier():
    accepted = _accepted_of_each_kind()[1]
    document = json.loads(accepted.canonical_body)
    damaged = copy.deepcopy(document)
    damaged["spec"]["signatures"][0]["verifier"] = b64(b"junk")
    with pytest.raises(EntryError) as caught:
        body_search_keys(json.dumps(damaged).encode())
    assert caught.value.code == "bad_public_key"


# --- robustness ------------------------------------------------------------------------

_ODD_VALUES = [None, 0, 1.5, True, "", "QQ==", "QR==", [], {}, [""], {"a": 1}, "\ud800", "[" * 3000]


def _json_paths(document, prefix=()):
    yield prefix
    children = document.items() if isinstance(document, dict) else enumerate(document)
    if isinstance(document, dict | list):
        for key, value in children:
            yield from _json_paths(value, (*prefix, key))


def test_random_damage_only_ever_raises_entry_error():
    rng = random.Random(8785)
    key = ec_key()
    pem = cert_pem(leaf_certificate(key))
    valid = [
        signed_hashedrekord(key, pem),
        _dsse(statement("aa" * 32), [key], [pem]),
        _intoto(statement("aa" * 32), key, pem),
    ]
    for _ in range(300):
        proposed = copy.deepcopy(rng.choice(valid))
        path = rng.choice(list(_json_paths(proposed))[1:])
        parent = proposed
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))
        try:
            accepted = accept_proposed_entry(proposed)
        except EntryError:
            continue
        assert body_search_keys(accepted.canonical_body)


# --- Ed25519ph --------------------------------------------------------------------------


def test_ed25519ph_rfc8032_vector():
    digest = hashlib.sha512(b"abc").digest()
    assert ed25519ph.verify(RFC8032_PH_PUBLIC, RFC8032_PH_SIGNATURE, digest)
    assert not ed25519ph.verify(RFC8032_PH_PUBLIC, RFC8032_PH_SIGNATURE, bytes(64))
    flipped = bytes([RFC8032_PH_SIGNATURE[0] ^ 1]) + RFC8032_PH_SIGNATURE[1:]
    assert not ed25519ph.verify(RFC8032_PH_PUBLIC, flipped, digest)
    unreduced_s = RFC8032_PH_SIGNATURE[:32] + b"\xff" * 32
    assert not ed25519ph.verify(RFC8032_PH_PUBLIC, unreduced_s, digest)
    assert not ed25519ph.verify(RFC8032_PH_PUBLIC[:31], RFC8032_PH_SIGNATURE, digest)


def test_ed25519ph_curve_arithmetic_agrees_with_cryptography():
    # The public key is [a]B for the clamped secret scalar a: a check of the
    # scalar multiplication and point encoding against an independent implementation.
    for seed in [RFC8032_PH_SEED, bytes(32), hashlib.sha256(b"seed").digest()]:
        h = hashlib.sha512(seed).digest()
        a = int.from_bytes(h[:32], "little")
        a = (a & ~7 & ~(1 << 255)) | (1 << 254)
        expected = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
        computed = ed25519ph._encode(ed25519ph._multiply(a, ed25519ph._BASE))
        assert computed == expected.public_bytes_raw()
