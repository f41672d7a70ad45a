"""tlog.core.tiles: C2SP tile paths, tile geometry, appends, and proofs read from tiles."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.core import merkle
from tlog.core.merkle import (
    consistency_proof,
    inclusion_proof,
    root_from_leaf_hashes,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tlog.core.tiles import (
    ENTRIES_LEVEL,
    TILE_BYTES,
    SubtreeCache,
    append_leaves,
    decode_entry_bundle,
    edge_tiles,
    encode_entry_bundle,
    entries_path,
    make_tile_reader,
    parse_tile_path,
    subtree_hashes_from_tiles,
    tile_path,
    tiles_for_subtrees,
)
from tlog.tests.test_merkle import RefTree, synthetic_leaves

# One leaf list and one memoised reference tree shared by every example, so the
# recursive reference stays cheap.
ALL_LEAVES = synthetic_leaves(4096, b"tiles")
REF = RefTree(ALL_LEAVES)


class TileStore:
    """An in-memory tile store that records how it is read."""

    def __init__(self) -> None:
        self.tiles: dict[tuple[int, int], bytes] = {}
        self.size = 0
        self.fetches: list[list[tuple[int, int, int]]] = []

    def append(self, leaf_hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
        edge = {(lvl, idx): self.tiles[(lvl, idx)] for lvl, idx, _ in edge_tiles(self.size)}
        changed = append_leaves(self.size, edge, leaf_hashes)
        self.tiles.update(changed)
        self.size += len(leaf_hashes)
        return changed

    def fetch(self, needed: list[tuple[int, int, int]]) -> dict[tuple[int, int], bytes]:
        self.fetches.append(needed)
        out = {}
        for level, index, width in needed:
            data = self.tiles[(level, index)]
            assert len(data) >= width * 32
            out[(level, index)] = data
        return out


# --- Paths. ---


@pytest.mark.parametrize(
    ("args", "path"),
    [
        ((0, 0), "tile/0/000"),
        ((0, 1234067), "tile/0/x001/x234/067"),
        ((1, 7, 5), "tile/1/007.p/5"),
        ((2, 1000, 256), "tile/2/x001/000"),
        ((63, 999), "tile/63/999"),
        ((0, 2**63 - 1, 255), "tile/0/x009/x223/x372/x036/x854/x775/807.p/255"),
    ],
)
def test_tile_paths(args: tuple[int, ...], path: str) -> None:
    assert tile_path(*args) == path
    level, index, *width = args
    expected_width = width[0] if width and width[0] < 256 else None
    assert parse_tile_path(path) == (level, index, expected_width)


def test_entry_bundle_paths() -> None:
    assert entries_path(1234067) == "tile/entries/x001/x234/067"
    assert entries_path(5, 17) == "tile/entries/005.p/17"
    assert parse_tile_path("tile/entries/x001/x234/067.p/17") == (ENTRIES_LEVEL, 1234067, 17)


@settings(max_examples=100, deadline=None)
@given(
    level=st.integers(ENTRIES_LEVEL, 63),
    index=st.integers(0, 2**63 - 1),
    width=st.none() | st.integers(1, 255),
)
def test_paths_round_trip(level: int, index: int, width: int | None) -> None:
    path = entries_path(index, width) if level == ENTRIES_LEVEL else tile_path(level, index, width)
    assert parse_tile_path(path) == (level, index, width)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile/0/1",
        "tile/0/0001",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/x/000",
        "tile/0/x000/001",
        "tile/0/x001",
        "tile/0/001/002",
        "tile/0/x01/001",
        "tile/0/000/",
        "/tile/0/000",
        "tile/0/000\n",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/05",
        "tile/0/000.p",
        "tile/0/000.p/",
        "tile/0/000.p/1/2",
        "tile/0/X001/000",
        "tile/0/\u0660\u0660\u0661",
        "tile/entries/000.p/300",
        "tile/entries/x000/000",
        "tile/0/x010/x000/x000/x000/x000/x000/x000/000",
        "tile/0/" + "x000/" * 20 + "001",
    ],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        parse_tile_path(path)


@pytest.mark.parametrize(
    "args",
    [(-1, 0), (64, 0), (0, -1), (0, 2**63), (0, 0, 0), (0, 0, 257), (True, 0)],
)
def test_bad_tile_coordinates_are_refused(args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        tile_path(*args)


# --- Geometry. ---


def test_edge_tiles_follow_the_spec_examples() -> None:
    # tlog-tiles: size 70,000 has partial tiles 0/273 (112), 1/1 (17) and 2/0 (1);
    # size 256 has only a partial level-1 tile of width 1.
    assert edge_tiles(70000) == [(0, 273, 112), (1, 1, 17), (2, 0, 1)]
    assert edge_tiles(256) == [(1, 0, 1)]
    assert edge_tiles(0) == []
    assert edge_tiles(1) == [(0, 0, 1)]
    assert edge_tiles(65536) == [(2, 0, 1)]


def test_tiles_for_subtrees() -> None:
    assert tiles_for_subtrees([(0, 5)]) == [(0, 0, 6)]
    # Level 3 index 1 is leaves 8..15 of tile 0/0.
    assert tiles_for_subtrees([(3, 1)]) == [(0, 0, 16)]
    # Level 8 is stored directly in level-1 tiles; level 9 is two of those hashes.
    assert tiles_for_subtrees([(8, 3)]) == [(1, 0, 4)]
    assert tiles_for_subtrees([(9, 300)]) == [(1, 2, 90)]
    # One entry per tile, with the widest need, sorted.
    assert tiles_for_subtrees([(9, 300), (0, 700), (0, 5), (1, 300)]) == [
        (0, 0, 6),
        (0, 2, 189),
        (1, 2, 90),
    ]


def test_subtree_hashes_from_tiles_checks_what_it_is_given() -> None:
    store = TileStore()
    store.append(ALL_LEAVES[:300])
    tiles = {(0, 0): store.tiles[(0, 0)], (0, 1): store.tiles[(0, 1)][: 10 * 32]}
    assert subtree_hashes_from_tiles([(2, 1)], tiles) == [REF.mth(4, 8)]
    with pytest.raises(ValueError, match="holds 10 hashes; 12 are needed"):
        subtree_hashes_from_tiles([(2, 66)], tiles)
    with pytest.raises(ValueError, match="missing"):
        subtree_hashes_from_tiles([(8, 1)], tiles)
    with pytest.raises(ValueError, match="whole number"):
        subtree_hashes_from_tiles([(0, 0)], {(0, 0): b"\x00" * 33})


# --- Appending, checked against the recursive reference. ---


def _snapshot(store: TileStore) -> dict[tuple[int, int], bytes]:
    return dict(store.tiles)


def _check_tree(store: TileStore, data: st.DataObject) -> None:
    size = store.size
    read = make_tile_reader(store.fetch)
    root = tree_root(size, read)
    assert root == REF.root(size)
    # The stored partial tiles are exactly the ones the spec says the size has.
    for level, index, width in edge_tiles(size):
        assert len(store.tiles[(level, index)]) == width * 32
    if size == 0:
        return
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(index, size, read)
    assert proof == REF.path(index, size)
    verify_inclusion(ALL_LEAVES[index], index, size, proof, root)
    old = data.draw(st.integers(1, size), label="old size")
    cproof = consistency_proof(old, size, read)
    assert cproof == REF.proof(old, size)
    verify_consistency(old, size, cproof, REF.root(old), root)


@settings(max_examples=100, deadline=None)
@given(batches=st.lists(st.integers(0, 700), max_size=8), data=st.data())
def test_appends_match_the_reference_tree(batches: list[int], data: st.DataObject) -> None:
    store = TileStore()
    history = []
    for batch in batches:
        batch = min(batch, len(ALL_LEAVES) - store.size)
        before = _snapshot(store)
        changed = store.append(ALL_LEAVES[store.size : store.size + batch])
        # Only new or grown tiles come back, and every old tile is a prefix of its new self.
        for key, tile in changed.items():
            assert tile != before.get(key)
        for key, tile in before.items():
            assert store.tiles[key].startswith(tile)
        history.append(store.size)
        _check_tree(store, data)
    # Proofs for any earlier size still come out right from the grown tiles.
    read = make_tile_reader(store.fetch)
    for size in history:
        if size:
            assert tree_root(size, read) == REF.root(size)
            proof = consistency_proof(size, store.size, read)
            verify_consistency(size, store.size, proof, REF.root(size), REF.root(store.size))


@settings(max_examples=40, deadline=None)
@given(total=st.integers(0, 2000), data=st.data())
def test_batch_boundaries_do_not_matter(total: int, data: st.DataObject) -> None:
    one_go, one_by_one_ish = TileStore(), TileStore()
    one_go.append(ALL_LEAVES[:total])
    while one_by_one_ish.size < total:
        step = data.draw(st.integers(1, 300), label="step")
        end = min(total, one_by_one_ish.size + step)
        one_by_one_ish.append(ALL_LEAVES[one_by_one_ish.size : end])
    assert one_go.tiles == one_by_one_ish.tiles


def test_a_tree_with_three_tile_levels() -> None:
    leaves = synthetic_leaves(70000, b"big")
    store = TileStore()
    for start in range(0, len(leaves), 997):
        store.append(leaves[start : start + 997])
    assert store.size == 70000
    read = make_tile_reader(store.fetch)
    root = tree_root(70000, read)
    assert root == root_from_leaf_hashes(leaves)
    assert {
        (lvl, idx): len(store.tiles[(lvl, idx)]) // 32 for lvl, idx, _ in edge_tiles(70000)
    } == {
        (0, 273): 112,
        (1, 1): 17,
        (2, 0): 1,
    }
    assert store.tiles[(2, 0)] == root_from_leaf_hashes(leaves[:65536])
    for index in (0, 255, 256, 65535, 65536, 69999):
        store.fetches.clear()
        proof = inclusion_proof(index, 70000, read)
        assert len(store.fetches) == 1
        verify_inclusion(leaves[index], index, 70000, proof, root)
    proof = consistency_proof(65537, 70000, read)
    verify_consistency(65537, 70000, proof, root_from_leaf_hashes(leaves[:65537]), root)


class RecordingMapping(Mapping[tuple[int, int], bytes]):
    def __init__(self, tiles: dict[tuple[int, int], bytes]) -> None:
        self.tiles = tiles
        self.read: set[tuple[int, int]] = set()

    def __getitem__(self, key: tuple[int, int]) -> bytes:
        self.read.add(key)
        return self.tiles[key]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        raise AssertionError("append_leaves must not list the store")

    def __len__(self) -> int:
        raise AssertionError("append_leaves must not size the store")


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 65535, 65536, 65791])
def test_append_reads_only_the_edge(size: int) -> None:
    store = TileStore()
    store.append(synthetic_leaves(size))
    recording = RecordingMapping(store.tiles)
    append_leaves(size, recording, synthetic_leaves(600, b"more"))
    assert recording.read <= {(lvl, idx) for lvl, idx, _ in edge_tiles(size)}


def test_appending_costs_about_one_hash_per_leaf(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = merkle._sha256

    def counting(data: bytes) -> object:
        nonlocal calls
        calls += 1
        return real(data)

    store = TileStore()
    store.append(synthetic_leaves(65000))
    monkeypatch.setattr(merkle, "_sha256", counting)
    new = synthetic_leaves(3000, b"more")
    for leaf in new:  # the worst case: one leaf per append
        store.append([leaf])
    # Growing from 65000 to 68000 fills 12 level-0 tiles and one level-1 tile;
    # hashing each one's root (255 hashes) is all the work there is.
    assert calls == (68000 // 256 - 65000 // 256 + 68000 // 65536 - 65000 // 65536) * 255
    assert calls == 13 * 255


def test_edge_problems_are_reported() -> None:
    store = TileStore()
    store.append(ALL_LEAVES[:300])
    edge = {(0, 1): store.tiles[(0, 1)], (1, 0): store.tiles[(1, 0)]}
    with pytest.raises(ValueError, match="edge tile 0/1 \\(width 44\\) was not supplied"):
        append_leaves(300, {}, ALL_LEAVES[300:301])
    with pytest.raises(ValueError, match="holds 43 hashes; 44 are needed"):
        append_leaves(300, {**edge, (0, 1): edge[(0, 1)][:-32]}, ALL_LEAVES[300:301])
    with pytest.raises(ValueError, match="33 bytes"):
        append_leaves(300, edge, [b"\x00" * 33])
    with pytest.raises(ValueError, match="tree size"):
        append_leaves(-1, edge, [])
    assert append_leaves(300, {}, []) == {}


def test_a_wider_edge_tile_from_an_uncommitted_append_is_cut_back() -> None:
    store = TileStore()
    store.append(ALL_LEAVES[:300])
    orphaned = store.tiles[(0, 1)] + b"\xee" * 32 * 5
    changed = append_leaves(300, {(0, 1): orphaned}, ALL_LEAVES[300:302])
    assert changed == {(0, 1): store.tiles[(0, 1)] + ALL_LEAVES[300] + ALL_LEAVES[301]}


def test_filling_a_tile_exactly_creates_no_empty_tile() -> None:
    store = TileStore()
    changed = store.append(ALL_LEAVES[:256])
    assert set(changed) == {(0, 0), (1, 0)}
    assert len(changed[(0, 0)]) == TILE_BYTES
    assert changed[(1, 0)] == REF.root(256)


# --- Entry bundles. ---


@settings(max_examples=50, deadline=None)
@given(entries=st.lists(st.binary(max_size=300), max_size=256))
def test_entry_bundles_round_trip(entries: list[bytes]) -> None:
    assert decode_entry_bundle(encode_entry_bundle(entries)) == entries


def test_entry_bundle_limits() -> None:
    assert encode_entry_bundle([b"ab", b""]) == b"\x00\x02ab\x00\x00"
    assert decode_entry_bundle(encode_entry_bundle([b"x" * 65535])) == [b"x" * 65535]
    with pytest.raises(ValueError, match="65535"):
        encode_entry_bundle([b"x" * 65536])
    with pytest.raises(ValueError, match="at most 256"):
        encode_entry_bundle([b""] * 257)
    with pytest.raises(ValueError, match="more than 256"):
        decode_entry_bundle(b"\x00\x00" * 257)
    with pytest.raises(ValueError, match="inside the length"):
        decode_entry_bundle(b"\x00\x01a\x00")
    with pytest.raises(ValueError, match="inside entry 1"):
        decode_entry_bundle(b"\x00\x01a\x00\x05abc")


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(st.integers(1, 600), min_size=1, max_size=6),
    capacity=st.sampled_from([4, 64, 16384]),
    data=st.data(),
)
def test_a_subtree_cache_answers_as_the_tiles_do_while_the_log_grows(
    batches: list[int], capacity: int, data: st.DataObject
) -> None:
    """One cache kept across appends (as each process keeps one per log): every root and
    proof through it equals the reference tree's, whatever it remembered or forgot."""
    store = TileStore()
    cache = SubtreeCache(max_entries=capacity)
    for batch in batches:
        batch = min(batch, len(ALL_LEAVES) - store.size)
        if batch == 0:
            break
        store.append(ALL_LEAVES[store.size : store.size + batch])
        size = store.size
        read = cache.reader(make_tile_reader(store.fetch))
        for _ in range(3):
            index = data.draw(st.integers(0, size - 1), label="index")
            at = data.draw(st.integers(index + 1, size), label="tree size")
            assert inclusion_proof(index, at, read) == REF.path(index, at)
            old = data.draw(st.integers(1, at), label="old size")
            assert consistency_proof(old, at, read) == REF.proof(old, at)
            assert tree_root(at, read) == REF.root(at)
        assert len(cache._hashes) <= capacity


def test_a_subtree_cache_spares_the_hashing_of_shared_siblings() -> None:
    store = TileStore()
    store.append(ALL_LEAVES[:1000])
    cache = SubtreeCache()
    read = cache.reader(make_tile_reader(store.fetch))
    inclusion_proof(998, 1000, read)
    fetches = len(store.fetches)
    # The next leaf's proof shares every sibling above the leaves' level: only the leaf
    # level is read from a tile again.
    assert inclusion_proof(999, 1000, read) == REF.path(999, 1000)
    assert len(store.fetches) == fetches + 1
    assert all(level == 0 for level, _, _ in store.fetches[-1])
