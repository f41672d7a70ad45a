"""RFC 6962 / RFC 9162 Merkle tree hashing, proof generation and proof verification.

Pure Python with no Django, so the log, the client and the benchmarks share it.

Complete subtrees are addressed as ``(level, index)``: the hash of leaves
``[index * 2**level, (index + 1) * 2**level)``. Level 0 holds the leaf hashes.
Storage never has to keep anything else: a tree of ``n`` leaves splits into at
most 63 complete subtrees (one per set bit of ``n``), and every hash a proof
needs is a fold of such subtrees.

Proof generation works in three steps so that storage pays one round trip:
first pure arithmetic lists the complete subtrees the answer needs, then the
``SubtreeReader`` is called once with all of them, then the hashes are folded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
# Sizes and indices fit a signed 64-bit database column.
MAX_TREE_SIZE = 2**63 - 1
EMPTY_ROOT = hashlib.sha256(b"").digest()

SubtreeReader = Callable[[Sequence[tuple[int, int]]], list[bytes]]
"""Given ``(level, index)`` pairs of complete subtrees, return their hashes in order."""

_sha256 = hashlib.sha256
_Range = tuple[int, int]


class ProofError(ValueError):
    """A proof did not verify; the message says which check failed."""


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash, SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash, SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash (MTH) of a list of leaf hashes.

    Pairs neighbours level by level and carries an odd last node up unchanged,
    which yields the same left-balanced tree as RFC 6962's recursive split.
    The empty tree hashes to ``EMPTY_ROOT``.
    """
    if not hashes:
        return EMPTY_ROOT
    sha256 = _sha256
    level = list(hashes)
    while len(level) > 1:
        # zip over one iterator twice walks the level in pairs; an odd last is dropped.
        pairs = iter(level)
        paired = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def tree_root(size: int, read: SubtreeReader) -> bytes:
    """Return the root hash of the tree of the first ``size`` leaves."""
    _check_int("size", size, 0)
    if size == 0:
        return EMPTY_ROOT
    return _hash_ranges([(0, size)], read)[0]


def inclusion_proof(index: int, size: int, read: SubtreeReader) -> list[bytes]:
    """Return the RFC 6962 audit path PATH(index, D[size]), from the leaf's sibling upwards.

    This is the order Rekor returns and the Sigstore clients verify.
    """
    _check_int("size", size, 1)
    _check_index(index, size)
    return _hash_ranges(_inclusion_ranges(index, size), read)


def consistency_proof(old_size: int, new_size: int, read: SubtreeReader) -> list[bytes]:
    """Return the RFC 6962 consistency proof PROOF(old_size, D[new_size]).

    Empty when the sizes are equal. An old size of 0 has no proof in RFC 9162,
    so it raises ValueError (every tree trivially extends the empty tree).
    """
    _check_sizes(old_size, new_size)
    return _hash_ranges(_consistency_ranges(old_size, new_size), read)


def reader_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> SubtreeReader:
    """Return a ``SubtreeReader`` that computes subtree hashes from an in-memory leaf list."""

    def read(pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        out = []
        for level, index in pairs:
            start, end = index << level, (index + 1) << level
            if end > len(leaf_hashes):
                raise ValueError(f"subtree ({level}, {index}) is not complete in this tree")
            out.append(root_from_leaf_hashes(leaf_hashes[start:end]))
        return out

    return read


def inclusion_proof_from_leaves(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the inclusion proof of leaf ``index`` in the tree of all ``leaf_hashes``."""
    return inclusion_proof(index, len(leaf_hashes), reader_from_leaf_hashes(leaf_hashes))


def consistency_proof_from_leaves(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Return the consistency proof from ``old_size`` to the tree of all ``leaf_hashes``."""
    return consistency_proof(old_size, len(leaf_hashes), reader_from_leaf_hashes(leaf_hashes))


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Return the root that ``proof`` implies for ``leaf_hash`` at ``index`` (RFC 9162 §2.1.3.2).

    Raises ProofError if the proof cannot belong to that index and size.
    """
    _check_int("size", size, 0)
    _check_int("index", index, 0)
    if index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    _check_hash("leaf hash", leaf_hash)
    want = len(_inclusion_ranges(index, size))
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes; leaf {index} of a tree of {size} "
            f"needs {want}"
        )
    for i, h in enumerate(proof):
        _check_hash(f"proof hash {i}", h)

    # RFC 9162 §2.1.3.2, steps numbered as there.
    # 2. fn = leaf_index, sn = tree_size - 1, r = leaf hash.
    fn, sn, r = index, size - 1, leaf_hash
    # 3. Walk the path upwards.
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 4. The path must end exactly at the root.
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Raises ProofError with the reason on any failure.
    """
    _check_hash("root hash", root)
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof for leaf {index} leads to root {computed.hex()}, "
            f"not the expected {root.hex()} of the tree of {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``.

    Follows RFC 9162 §2.1.4.2. Equal sizes need an empty proof and equal roots.
    An old size of 0 needs an empty proof and the empty-tree root. Raises
    ProofError with the reason on any failure.
    """
    _check_int("old size", old_size, 0)
    _check_int("new size", new_size, 0)
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size or old_size == 0:
        _verify_trivial_consistency(old_size, new_size, proof, old_root, new_root)
        return
    want = len(_consistency_ranges(old_size, new_size))
    if len(proof) != want:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes; {old_size} -> {new_size} needs {want}"
        )
    for i, h in enumerate(proof):
        _check_hash(f"proof hash {i}", h)
    old_computed, new_computed = _roots_from_consistency_proof(old_size, new_size, proof, old_root)
    if old_computed != old_root:
        raise ProofError(f"consistency proof does not lead to the old root of size {old_size}")
    if new_computed != new_root:
        raise ProofError(f"consistency proof does not lead to the new root of size {new_size}")


def _verify_trivial_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    if proof:
        raise ProofError(f"consistency proof {old_size} -> {new_size} must be empty")
    if old_size == 0 and old_root != EMPTY_ROOT:
        raise ProofError("a tree of size 0 must have the empty root")
    if old_size == new_size and old_root != new_root:
        raise ProofError(f"two different roots for the same size {old_size}")


def _roots_from_consistency_proof(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes
) -> tuple[bytes, bytes]:
    # RFC 9162 §2.1.4.2, steps numbered as there (step 1, the empty path, is
    # ruled out by the length check).
    path = list(proof)
    # 2. A power-of-two old tree is itself a node of the new one: its root starts the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3.-4. fn = first - 1, sn = second - 1, shifted past fn's trailing ones.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Both running hashes start from the first path element.
    fr = sr = path[0]
    # 6. Walk upwards.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7. The walk must end at the root.
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    return fr, sr


def _inclusion_ranges(index: int, size: int) -> list[_Range]:
    # Descend from the root as in RFC 6962's PATH(m, D[n]); each step records
    # the sibling range, then the list is reversed so it runs leaf to root.
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[_Range]:
    # RFC 6962's SUBPROOF(m, D[n], b) unrolled: descending, each step appends
    # one hash after the recursive part, so the recorded ranges are reversed
    # and the terminal node (when b is false) goes first.
    appended = []
    lo, hi = 0, new_size
    whole_old_tree = True
    while old_size != hi:
        k = _split(hi - lo)
        if old_size - lo <= k:
            appended.append((lo + k, hi))
            hi = lo + k
        else:
            appended.append((lo, lo + k))
            lo += k
            whole_old_tree = False
    appended.reverse()
    return appended if whole_old_tree else [(lo, hi), *appended]


def _split(n: int) -> int:
    """Return the largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtrees_of_range(lo: int, hi: int) -> list[tuple[int, int]]:
    # Every range a proof names starts at a multiple of a power of two at least
    # as large as its length, so it splits into complete subtrees of
    # decreasing size, one per set bit of the length.
    out = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def _hash_ranges(ranges: Sequence[_Range], read: SubtreeReader) -> list[bytes]:
    pieces = [_subtrees_of_range(lo, hi) for lo, hi in ranges]
    wanted = [pair for piece in pieces for pair in piece]
    if not wanted:
        return []
    hashes = read(wanted)
    if len(hashes) != len(wanted):
        raise ValueError(f"subtree reader returned {len(hashes)} hashes for {len(wanted)} subtrees")
    for (level, index), h in zip(wanted, hashes, strict=True):
        if len(h) != HASH_SIZE:
            raise ValueError(f"subtree reader returned {len(h)} bytes for ({level}, {index})")
    out = []
    pos = 0
    for piece in pieces:
        out.append(_fold_right(hashes[pos : pos + len(piece)]))
        pos += len(piece)
    return out


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    # A right-edge range hashes as node(s1, node(s2, ... node(sk-1, sk))).
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _check_int(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, not {type(value).__name__}")
    if not minimum <= value <= MAX_TREE_SIZE:
        raise ValueError(f"{name} must be between {minimum} and 2**63-1, not {value}")


def _check_index(index: int, size: int) -> None:
    _check_int("index", index, 0)
    if index >= size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")


def _check_sizes(old_size: int, new_size: int) -> None:
    if old_size == 0:
        raise ValueError("RFC 9162 defines no consistency proof from size 0")
    _check_int("old size", old_size, 1)
    _check_int("new size", new_size, 1)
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes")
