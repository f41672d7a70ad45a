"""C2SP tlog-tiles: tile geometry and paths, reading proofs from tiles, appending leaves.

Pure Python with no Django. Tiles have height 8: the tile at tile level ``L``
and index ``N`` holds up to 256 hashes of complete subtrees at tree level
``8 * L``, with subtree indices ``N * 256`` to ``N * 256 + 255``. A tile's bytes
are its hashes concatenated. Only the rightmost tile of each level may be
partial (fewer than 256 hashes); a tile only ever grows, so every earlier
version of a tile is a prefix of the later ones.

Storage keeps tiles keyed by ``(level, index)`` and overwrites a partial tile
as it grows. ``edge_tiles`` says what to read before an append and
``append_leaves`` returns every tile to write back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from . import merkle
from .merkle import HASH_SIZE, MAX_TREE_SIZE, SubtreeReader, root_from_leaf_hashes

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
TILE_BYTES = TILE_WIDTH * HASH_SIZE
MAX_TILE_LEVEL = 63
# parse_tile_path reports entry bundles ("tile/entries/...") with this level.
ENTRIES_LEVEL = -1
MAX_ENTRY_SIZE = 0xFFFF

TileFetcher = Callable[[list[tuple[int, int, int]]], Mapping[tuple[int, int], bytes]]
"""Given ``(level, index, min_width)`` of tiles, return their bytes keyed by ``(level, index)``.

A returned tile may be wider than ``min_width`` (a later version of the same tile).
"""

_MAX_PATH_LENGTH = 64  # the longest canonical path is 52 characters
_TILE_PATH = re.compile(
    r"tile/(entries|[0-9]+)/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]+))?",
    re.ASCII,
)


def tile_path(level: int, index: int, width: int | None = None) -> str:
    """Return the tile's path, e.g. ``tile/0/x001/x234/067`` or ``tile/1/007.p/5``.

    ``width`` below 256 adds the partial-tile suffix ``.p/<width>``; None or
    256 names the full tile.
    """
    _check_range("tile level", level, 0, MAX_TILE_LEVEL)
    return f"tile/{level}/{_encode_index(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int | None = None) -> str:
    """Return the path of an entry bundle, e.g. ``tile/entries/x001/234.p/17``."""
    return f"tile/entries/{_encode_index(index)}{_width_suffix(width)}"


def parse_tile_path(path: str) -> tuple[int, int, int | None]:
    """Parse a tile or entry-bundle path into ``(level, index, width)``.

    Entry bundles (``tile/entries/...``) come back with level ``ENTRIES_LEVEL``
    (-1). ``width`` is None for a full tile. Only the canonical encoding is
    accepted (no extra leading zeroes, width 1..255, level 0..63); anything
    else raises ValueError.
    """
    ok = isinstance(path, str) and len(path) <= _MAX_PATH_LENGTH
    match = _TILE_PATH.fullmatch(path) if ok else None
    if match is None:
        raise ValueError(f"not a tile path: {path!r}")
    level_text, index_text, width_text = match.groups()
    level = ENTRIES_LEVEL if level_text == "entries" else int(level_text)
    index = int(index_text.replace("x", "").replace("/", ""))
    width = None if width_text is None else int(width_text)
    if width == TILE_WIDTH:
        raise ValueError(f"a full tile has no .p/ suffix: {path!r}")
    try:
        canonical = (
            entries_path(index, width) if level == ENTRIES_LEVEL else tile_path(level, index, width)
        )
    except ValueError as exc:
        raise ValueError(f"not a tile path: {path!r} ({exc})") from None
    if canonical != path:
        raise ValueError(f"non-canonical tile path {path!r}; the canonical form is {canonical!r}")
    return level, index, width


def tiles_for_subtrees(pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Return the ``(tile level, tile index, min width)`` of tiles needed for these subtrees.

    A subtree at tree level ``l`` comes from the tile at tile level ``l // 8``:
    one stored hash when ``l % 8 == 0``, else ``2 ** (l % 8)`` consecutive
    hashes that are hashed together. Each tile appears once, sorted.
    """
    widths: dict[tuple[int, int], int] = {}
    for level, index in pairs:
        tile_level, tile_index, offset, count = _locate(level, index)
        key = (tile_level, tile_index)
        widths[key] = max(widths.get(key, 0), offset + count)
    return [(lvl, idx, w) for (lvl, idx), w in sorted(widths.items())]


def subtree_hashes_from_tiles(
    pairs: Sequence[tuple[int, int]], tiles: Mapping[tuple[int, int], bytes]
) -> list[bytes]:
    """Compute the hashes of complete subtrees ``(level, index)`` from tile bytes.

    A tile may be wider than the subtrees need. Raises ValueError if a tile is
    missing, too narrow or not a whole number of hashes.
    """
    out = []
    for level, index in pairs:
        tile_level, tile_index, offset, count = _locate(level, index)
        data = tiles.get((tile_level, tile_index))
        if data is None:
            raise ValueError(
                f"tile {tile_level}/{tile_index} (for subtree {level}/{index}) is missing"
            )
        _check_tile_bytes(tile_level, tile_index, data, offset + count)
        out.append(_perfect_root(data[offset * HASH_SIZE : (offset + count) * HASH_SIZE]))
    return out


def make_tile_reader(fetch: TileFetcher) -> SubtreeReader:
    """Return a SubtreeReader that fetches each needed tile once per call, in one batch."""

    def read(pairs: Sequence[tuple[int, int]]) -> list[bytes]:
        needed = tiles_for_subtrees(pairs)
        tiles = fetch(needed) if needed else {}
        return subtree_hashes_from_tiles(pairs, tiles)

    return read


class SubtreeCache:
    """Hashes of complete subtrees of one log, kept across reads.

    A complete subtree's hash never changes, so proofs against any later tree reuse it.
    Without this, every upload's inclusion proof hashed its partial edge tiles again:
    about 200 hashes per level for the same left siblings every request shares. Leaves
    (level 0) are not kept: a tile read gives them without hashing. Bounded: cleared
    when full (the next reads refill what is in use). Safe across threads under the GIL
    (single dict operations only).
    """

    def __init__(self, max_entries: int = 16384) -> None:
        self._hashes: dict[tuple[int, int], bytes] = {}
        self._max = max_entries

    def reader(self, read: SubtreeReader) -> SubtreeReader:
        """`read`, answering the subtrees it answered before from memory. Only for readers
        of the log this cache belongs to, asked only for complete subtrees (as proofs
        and roots at sizes up to the tree's are)."""
        hashes = self._hashes

        def cached(pairs: Sequence[tuple[int, int]]) -> list[bytes]:
            out: dict[tuple[int, int], bytes] = {}
            for pair in pairs:
                known = hashes.get(pair)
                if known is not None:
                    out[pair] = known
            missing = [p for p in dict.fromkeys(pairs) if p not in out]
            if missing:
                fresh = dict(zip(missing, read(missing), strict=True))
                out.update(fresh)
                if len(hashes) + len(fresh) > self._max:
                    hashes.clear()
                for pair, value in fresh.items():
                    if pair[0] > 0 and len(hashes) < self._max:
                        hashes[pair] = value
            return [out[p] for p in pairs]

        return cached


def edge_tiles(size: int) -> list[tuple[int, int, int]]:
    """Return ``(level, index, width)`` of the partial tile at each level of a tree of ``size``.

    These are the only tiles an append reads. Levels whose partial tile would
    be empty are left out, so a tree of 256 leaves gives ``[(1, 0, 1)]``.
    """
    _check_range("tree size", size, 0, MAX_TREE_SIZE)
    out = []
    level = 0
    count = size  # hashes stored at tree level 8 * level
    while count:
        index, width = divmod(count, TILE_WIDTH)
        if width:
            out.append((level, index, width))
        count = index
        level += 1
    return out


def append_leaves(
    size: int, edge: Mapping[tuple[int, int], bytes], new_leaf_hashes: Sequence[bytes]
) -> dict[tuple[int, int], bytes]:
    """Append leaf hashes to a tree of ``size`` and return every tile that changed.

    ``edge`` holds the tiles ``edge_tiles(size)`` names (more are ignored; an
    edge tile wider than ``size`` implies, left by an append that was never
    committed, is cut back). The result maps ``(level, index)`` to the full new
    contents of each tile that grew or was created: level-0 tiles take the new
    leaf hashes, and each tile that fills up passes its root to the level above.
    Appending k leaves costs about k hashes, whatever the tree size.
    """
    _check_range("tree size", size, 0, MAX_TREE_SIZE)
    if len(new_leaf_hashes) > MAX_TREE_SIZE - size:
        raise ValueError("appending these leaves would overflow the maximum tree size")
    for i, h in enumerate(new_leaf_hashes):
        if len(h) != HASH_SIZE:
            raise ValueError(f"new leaf hash {i} is {len(h)} bytes, not {HASH_SIZE}")
    changed: dict[tuple[int, int], bytes] = {}
    pending = b"".join(new_leaf_hashes)
    level, count = 0, size
    while pending:
        pending = _append_to_level(level, count, edge, pending, changed)
        level, count = level + 1, count // TILE_WIDTH
    return changed


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Encode up to 256 entries as a tlog-tiles entry bundle (uint16 big-endian length + bytes)."""
    if len(entries) > TILE_WIDTH:
        raise ValueError(f"an entry bundle holds at most {TILE_WIDTH} entries, not {len(entries)}")
    parts = []
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(
                f"entry {i} is {len(entry)} bytes; entry bundles allow {MAX_ENTRY_SIZE}"
            )
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """Decode a tlog-tiles entry bundle; raises ValueError if truncated or over 256 entries."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(entries) == TILE_WIDTH:
            raise ValueError(f"entry bundle has more than {TILE_WIDTH} entries")
        if pos + 2 > len(data):
            raise ValueError(f"entry bundle ends inside the length of entry {len(entries)}")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise ValueError(f"entry bundle ends inside entry {len(entries)}")
        entries.append(bytes(data[pos : pos + length]))
        pos += length
    return entries


def _append_to_level(
    level: int,
    count: int,
    edge: Mapping[tuple[int, int], bytes],
    pending: bytes,
    changed: dict[tuple[int, int], bytes],
) -> bytes:
    # Append the concatenated hashes in ``pending`` to tile level ``level``,
    # which holds ``count`` hashes; return the roots of tiles that filled up.
    index, width = divmod(count, TILE_WIDTH)
    current = _edge_tile(level, index, width, edge) + pending
    completed = []
    for start in range(0, len(current) - TILE_BYTES + 1, TILE_BYTES):
        tile = current[start : start + TILE_BYTES]
        changed[(level, index)] = tile
        completed.append(_tile_root(tile))
        index += 1
    rest = current[len(completed) * TILE_BYTES :]
    if rest:
        changed[(level, index)] = rest
    return b"".join(completed)


def _edge_tile(level: int, index: int, width: int, edge: Mapping[tuple[int, int], bytes]) -> bytes:
    if width == 0:
        return b""
    data = edge.get((level, index))
    if data is None:
        raise ValueError(f"edge tile {level}/{index} (width {width}) was not supplied")
    _check_tile_bytes(level, index, data, width)
    return bytes(data[: width * HASH_SIZE])


def _tile_root(tile: bytes) -> bytes:
    return _perfect_root(tile)


def _perfect_root(data: bytes) -> bytes:
    # Root of a power-of-two run of concatenated hashes. Hashing the bottom
    # level straight from 64-byte slices saves a split and a join per pair.
    if len(data) == HASH_SIZE:
        return bytes(data)
    sha256 = merkle._sha256
    pair = 2 * HASH_SIZE
    level = [sha256(b"\x01" + data[i : i + pair]).digest() for i in range(0, len(data), pair)]
    return root_from_leaf_hashes(level)


def _locate(level: int, index: int) -> tuple[int, int, int, int]:
    # Where the stored hashes of subtree (level, index) sit:
    # (tile level, tile index, offset in the tile, number of hashes).
    _check_range("subtree level", level, 0, 62)
    _check_range("subtree index", index, 0, MAX_TREE_SIZE >> level)
    tile_level, rest = divmod(level, TILE_HEIGHT)
    first = index << rest  # index of the first hash at tree level 8 * tile_level
    tile_index, offset = divmod(first, TILE_WIDTH)
    return tile_level, tile_index, offset, 1 << rest


def _check_tile_bytes(level: int, index: int, data: bytes, min_width: int) -> None:
    if len(data) % HASH_SIZE or len(data) > TILE_BYTES:
        raise ValueError(f"tile {level}/{index} is {len(data)} bytes, not a whole number of hashes")
    if len(data) < min_width * HASH_SIZE:
        raise ValueError(
            f"tile {level}/{index} holds {len(data) // HASH_SIZE} hashes; {min_width} are needed"
        )


def _encode_index(index: int) -> str:
    _check_range("tile index", index, 0, MAX_TREE_SIZE)
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def _width_suffix(width: int | None) -> str:
    if width is None:
        return ""
    _check_range("tile width", width, 1, TILE_WIDTH)
    return "" if width == TILE_WIDTH else f".p/{width}"


def _check_range(name: str, value: int, minimum: int, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, not {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, not {value}")
