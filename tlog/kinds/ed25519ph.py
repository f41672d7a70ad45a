"""Ed25519ph verification (RFC 8032 section 5.1, prehashed variant, empty context).

Rekor verifies hashedrekord signatures made with Ed25519 keys as Ed25519ph over
the entry's SHA-512 digest (`x509.NewSignatureWithOpts(..., options.WithED25519ph())`
in `pkg/types/hashedrekord/v0.0.1/entry.go`). `cryptography` only offers pure
Ed25519, which signs the message itself and so cannot check a signature over a
digest, hence this small verifier.

It handles public data only (a public key, a signature, a digest), so running
in variable time leaks nothing. The check matches Go's `ed25519.VerifyWithOptions`:
S must be reduced, and the encoding of [S]B - [k]A must equal R byte for byte
(the cofactorless equation).
"""

from __future__ import annotations

import hashlib

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
# dom2(phflag=1, context=""): what makes an Ed25519ph signature differ from pure Ed25519.
_DOM2 = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])

# A point in extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.
_Point = tuple[int, int, int, int]
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    # The unified twisted Edwards addition (RFC 8032 section 5.1.4): also doubles.
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: _Point) -> _Point:
    result = _IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decode(encoded: bytes) -> _Point | None:
    y = int.from_bytes(encoded, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


def _encode(point: _Point) -> bytes:
    z_inverse = pow(point[2], _P - 2, _P)
    x, y = point[0] * z_inverse % _P, point[1] * z_inverse % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _base_point() -> _Point:
    y = 4 * pow(5, _P - 2, _P) % _P
    point = _decode(y.to_bytes(32, "little"))
    if point is None:  # cannot happen: y = 4/5 is the standard base point
        raise RuntimeError("Ed25519 base point failed to decode")
    return point


_BASE = _base_point()


def verify(public_key: bytes, signature: bytes, sha512_digest: bytes) -> bool:
    """True if `signature` is a valid Ed25519ph signature of `sha512_digest`."""
    if len(public_key) != 32 or len(signature) != 64 or len(sha512_digest) != 64:
        return False
    a = _decode(public_key)
    s = int.from_bytes(signature[32:], "little")
    if a is None or s >= _L:
        return False
    r_encoded = signature[:32]
    k = int.from_bytes(
        hashlib.sha512(_DOM2 + r_encoded + public_key + sha512_digest).digest(), "little"
    )
    minus_a: _Point = (-a[0] % _P, a[1], a[2], -a[3] % _P)
    return _encode(_add(_multiply(s, _BASE), _multiply(k % _L, minus_a))) == r_encoded
