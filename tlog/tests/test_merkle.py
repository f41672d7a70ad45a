"""tlog.core.merkle against RFC 6962's recursive definitions, published vectors, sigstore."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore._internal import merkle as sigstore_merkle

from tlog.core.merkle import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    ProofError,
    consistency_proof,
    consistency_proof_from_leaves,
    inclusion_proof,
    inclusion_proof_from_leaves,
    leaf_hash,
    node_hash,
    reader_from_leaf_hashes,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# --- The reference: RFC 6962 §2.1 written out recursively, with its own hashing. ---


def _ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _ref_split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class RefTree:
    """MTH, PATH and PROOF from RFC 6962 §2.1, recursive, memoised per range."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.leaves = leaf_hashes
        self._mth: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        if (lo, hi) not in self._mth:
            if hi == lo:
                value = hashlib.sha256(b"").digest()
            elif hi - lo == 1:
                value = self.leaves[lo]
            else:
                k = _ref_split(hi - lo)
                value = _ref_node(self.mth(lo, lo + k), self.mth(lo + k, hi))
            self._mth[(lo, hi)] = value
        return self._mth[(lo, hi)]

    def root(self, n: int) -> bytes:
        return self.mth(0, n)

    def path(self, m: int, n: int, lo: int = 0) -> list[bytes]:
        # PATH(m, D[lo:lo+n]) with m relative to lo.
        if n == 1:
            return []
        k = _ref_split(n)
        if m < k:
            return [*self.path(m, k, lo), self.mth(lo + k, lo + n)]
        return [*self.path(m - k, n - k, lo + k), self.mth(lo, lo + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        return self._subproof(m, n, 0, True)

    def _subproof(self, m: int, n: int, lo: int, whole: bool) -> list[bytes]:
        # SUBPROOF(m, D[lo:lo+n], b) with m relative to lo.
        if m == n:
            return [] if whole else [self.mth(lo, lo + n)]
        k = _ref_split(n)
        if m <= k:
            return [*self._subproof(m, k, lo, whole), self.mth(lo + k, lo + n)]
        return [*self._subproof(m - k, n - k, lo + k, False), self.mth(lo, lo + k)]


def synthetic_leaves(count: int, salt: bytes = b"") -> list[bytes]:
    return [_ref_leaf(salt + i.to_bytes(8, "big")) for i in range(count)]


# --- Published vectors (transparency-dev/merkle testonly, RFC 6962 test data). ---

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
LEAVES = [leaf_hash(d) for d in LEAF_INPUTS]
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
# (level, index) -> hash of every complete subtree of the 8-leaf tree.
NODE_HASHES = {
    (0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (0, 6): "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    (0, 7): "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
INCLUSION_VECTORS = [  # (index, size, proof)
    (0, 1, []),
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
CONSISTENCY_VECTORS = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]


def _prefixes(proof: list[bytes]) -> list[str]:
    return [h.hex()[:8] for h in proof]


def test_roots_match_the_published_vectors() -> None:
    assert EMPTY_ROOT == ROOTS[0]
    for size, want in enumerate(ROOTS):
        assert root_from_leaf_hashes(LEAVES[:size]) == want, size
        assert tree_root(size, reader_from_leaf_hashes(LEAVES)) == want, size


def test_subtree_addressing_matches_the_published_node_hashes() -> None:
    read = reader_from_leaf_hashes(LEAVES)
    pairs = list(NODE_HASHES)
    assert [h.hex() for h in read(pairs)] == list(NODE_HASHES.values())


@pytest.mark.parametrize(("index", "size", "want"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_the_published_vectors(
    index: int, size: int, want: list[str]
) -> None:
    proof = inclusion_proof_from_leaves(index, LEAVES[:size])
    assert _prefixes(proof) == want
    verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "want"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_the_published_vectors(
    old: int, new: int, want: list[str]
) -> None:
    proof = consistency_proof_from_leaves(old, LEAVES[:new])
    assert _prefixes(proof) == want
    verify_consistency(old, new, proof, ROOTS[old], ROOTS[new])


# --- Properties against the recursive reference. ---

sizes = st.integers(min_value=1, max_value=300)
salts = st.binary(max_size=4)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(min_value=0, max_value=300), salt=salts)
def test_root_equals_the_recursive_mth(size: int, salt: bytes) -> None:
    leaves = synthetic_leaves(size, salt)
    ref = RefTree(leaves)
    assert root_from_leaf_hashes(leaves) == ref.root(size)
    assert tree_root(size, reader_from_leaf_hashes(leaves)) == ref.root(size)


@settings(max_examples=200, deadline=None)
@given(size=sizes, data=st.data())
def test_inclusion_proof_equals_path_and_verifies(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    leaves = synthetic_leaves(size)
    ref = RefTree(leaves)
    proof = inclusion_proof_from_leaves(index, leaves)
    assert proof == ref.path(index, size)
    assert root_from_inclusion_proof(leaves[index], index, size, proof) == ref.root(size)
    verify_inclusion(leaves[index], index, size, proof, ref.root(size))


@settings(max_examples=200, deadline=None)
@given(size=sizes, data=st.data())
def test_consistency_proof_equals_proof_and_verifies(size: int, data: st.DataObject) -> None:
    old = data.draw(st.integers(1, size), label="old size")
    leaves = synthetic_leaves(size)
    ref = RefTree(leaves)
    proof = consistency_proof_from_leaves(old, leaves)
    assert proof == ref.proof(old, size)
    verify_consistency(old, size, proof, ref.root(old), ref.root(size))


@settings(max_examples=100, deadline=None)
@given(size=st.integers(2, 200), data=st.data())
def test_tampered_inclusion_proofs_fail(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    leaves = synthetic_leaves(size)
    root = root_from_leaf_hashes(leaves)
    proof = inclusion_proof_from_leaves(index, leaves)
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
    flip = data.draw(st.integers(0, len(proof) * 256 - 1), label="bit")
    flipped = list(proof)
    flipped[flip // 256] = _flip_bit(flipped[flip // 256], flip % 256)
    for bad_leaf, bad_index, bad_proof, bad_root in [
        (leaves[index], other, proof, root),
        (leaves[other], index, proof, root),
        (leaves[index], index, flipped, root),
        (leaves[index], index, proof[:-1], root),
        (leaves[index], index, [*proof, root], root),
        (leaves[index], index, [root, *proof], root),
        (leaves[index], index, proof, _flip_bit(root, 0)),
    ]:
        with pytest.raises(ProofError):
            verify_inclusion(bad_leaf, bad_index, size, bad_proof, bad_root)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(2, 200), data=st.data())
def test_tampered_consistency_proofs_fail(size: int, data: st.DataObject) -> None:
    old = data.draw(st.integers(1, size - 1), label="old size")
    leaves = synthetic_leaves(size)
    old_root, new_root = root_from_leaf_hashes(leaves[:old]), root_from_leaf_hashes(leaves)
    proof = consistency_proof_from_leaves(old, leaves)
    flip = data.draw(st.integers(0, len(proof) * 256 - 1), label="bit")
    flipped = list(proof)
    flipped[flip // 256] = _flip_bit(flipped[flip // 256], flip % 256)
    for bad_proof, bad_old_root, bad_new_root in [
        (flipped, old_root, new_root),
        (proof[:-1], old_root, new_root),
        (proof[1:], old_root, new_root),
        ([*proof, new_root], old_root, new_root),
        ([old_root, *proof], old_root, new_root),
        (proof, new_root, old_root),
        (proof, _flip_bit(old_root, 3), new_root),
        (proof, old_root, _flip_bit(new_root, 3)),
        ([], old_root, new_root),
    ]:
        with pytest.raises(ProofError):
            verify_consistency(old, size, bad_proof, bad_old_root, bad_new_root)


@settings(max_examples=100, deadline=None)
@given(size=sizes, data=st.data())
def test_sigstore_python_accepts_our_inclusion_proofs(size: int, data: st.DataObject) -> None:
    # The same chaining sigstore-python 4.5.1 runs in verify_merkle_inclusion.
    index = data.draw(st.integers(0, size - 1), label="index")
    leaves = synthetic_leaves(size)
    proof = inclusion_proof_from_leaves(index, leaves)
    inner, border = sigstore_merkle._decomp_inclusion_proof(index, size)
    assert len(proof) == inner + border
    chained = sigstore_merkle._chain_inner(leaves[index], proof[:inner], index)
    assert sigstore_merkle._chain_border_right(chained, proof[inner:]) == (
        root_from_leaf_hashes(leaves)
    )


# --- Huge trees: the arithmetic at 2**63 - 1, on a tree whose leaves are all equal. ---


def _uniform_reader(pairs: Sequence[tuple[int, int]]) -> list[bytes]:
    # Every subtree of level l of an all-equal-leaves tree has the same hash.
    out = []
    for level, index in pairs:
        assert (index + 1) << level <= MAX_TREE_SIZE
        h = _ref_leaf(b"same")
        for _ in range(level):
            h = _ref_node(h, h)
        out.append(h)
    return out


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, MAX_TREE_SIZE), data=st.data())
def test_proofs_for_huge_trees_verify(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old size")
    root = tree_root(size, _uniform_reader)
    proof = inclusion_proof(index, size, _uniform_reader)
    inner, border = sigstore_merkle._decomp_inclusion_proof(index, size)
    assert len(proof) == inner + border
    verify_inclusion(_ref_leaf(b"same"), index, size, proof, root)
    cproof = consistency_proof(old, size, _uniform_reader)
    verify_consistency(old, size, cproof, tree_root(old, _uniform_reader), root)


# --- The reader contract: one batched call, none when nothing is needed. ---


class CountingReader:
    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.inner = reader_from_leaf_hashes(leaves)
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(pairs))
        return self.inner(pairs)


def test_each_operation_reads_once_and_only_complete_subtrees() -> None:
    leaves = synthetic_leaves(1000)
    for operation in (
        lambda r: tree_root(1000, r),
        lambda r: inclusion_proof(617, 1000, r),
        lambda r: consistency_proof(333, 1000, r),
    ):
        reader = CountingReader(leaves)
        operation(reader)
        assert len(reader.calls) == 1
        # reader_from_leaf_hashes refuses an incomplete subtree, so every pair was complete.
        assert len(set(reader.calls[0])) == len(reader.calls[0])


def test_trivial_operations_do_not_read() -> None:
    reader = CountingReader(synthetic_leaves(4))
    assert tree_root(0, reader) == EMPTY_ROOT
    assert inclusion_proof(0, 1, reader) == []
    assert consistency_proof(4, 4, reader) == []
    assert reader.calls == []


def test_a_reader_returning_the_wrong_count_is_refused() -> None:
    with pytest.raises(ValueError, match="returned 0 hashes"):
        tree_root(5, lambda pairs: [])


# --- Argument checks. ---


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: tree_root(-1, _uniform_reader), "size must be between 0"),
        (lambda: tree_root(MAX_TREE_SIZE + 1, _uniform_reader), "size must be between 0"),
        (lambda: tree_root(True, _uniform_reader), "must be an integer"),
        (lambda: inclusion_proof(0, 0, _uniform_reader), "size must be between 1"),
        (lambda: inclusion_proof(5, 5, _uniform_reader), "outside a tree of 5"),
        (lambda: inclusion_proof(-1, 5, _uniform_reader), "index must be between 0"),
        (lambda: consistency_proof(0, 5, _uniform_reader), "no consistency proof from size 0"),
        (lambda: consistency_proof(6, 5, _uniform_reader), "larger than new size"),
        (lambda: consistency_proof(1, MAX_TREE_SIZE + 1, _uniform_reader), "between 1"),
    ],
)
def test_bad_arguments_raise_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_verify_inclusion_rejects_impossible_positions() -> None:
    h = LEAVES[0]
    with pytest.raises(ProofError, match="outside a tree of 0"):
        verify_inclusion(h, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="outside a tree of 1"):
        verify_inclusion(h, 1, 1, [], h)
    with pytest.raises(ProofError, match="needs 3"):
        verify_inclusion(h, 0, 8, [h], ROOTS[8])
    with pytest.raises(ProofError, match="32 bytes"):
        verify_inclusion(h, 0, 2, [b"short"], ROOTS[2])
    with pytest.raises(ProofError, match="32 bytes"):
        verify_inclusion(b"WrongLeaf", 0, 1, [], ROOTS[1])
    verify_inclusion(ROOTS[1], 0, 1, [], ROOTS[1])


def test_verify_consistency_edge_cases() -> None:
    some = LEAVES[3]
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 5, [], EMPTY_ROOT, ROOTS[5])
    verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])
    failures = [
        (0, 5, [], some, ROOTS[5], "empty root"),
        (0, 5, [some], EMPTY_ROOT, ROOTS[5], "must be empty"),
        (5, 5, [some], ROOTS[5], ROOTS[5], "must be empty"),
        (5, 5, [], ROOTS[5], ROOTS[6], "two different roots"),
        (6, 5, [], ROOTS[6], ROOTS[5], "larger than new size"),
        (1, 2, [], ROOTS[1], ROOTS[2], "has 0 hashes"),
    ]
    for old, new, proof, old_root, new_root, message in failures:
        with pytest.raises(ProofError, match=message):
            verify_consistency(old, new, proof, old_root, new_root)


def test_hash_functions_use_the_rfc_6962_prefixes() -> None:
    assert leaf_hash(b"") == ROOTS[1]
    assert node_hash(LEAVES[0], LEAVES[1]) == ROOTS[2]


def _flip_bit(h: bytes, bit: int) -> bytes:
    out = bytearray(h)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)
