"""Paired positions: a stem and its ending in one position of the sequence.

A continuation token (an ending or a suffix piece) never begins anything: it
always follows the token it continues. So the ids of a scene can be cut into
*positions* of at most two ids (by default; ``width``), a **head** (any id that
is not a continuation) and the **tail** right after it (a continuation), and a
model can embed a position as the sum of its ids' rows:

    ids        подня|лась  ,  и  Б|аз|аров
    positions  (подня, лась) (",", ·) (и, ·) (б, аз) (·, аров)

The two slots draw on disjoint sets of ids, so one table of ``len(codebook)``
rows serves both, and two softmaxes, one over the head ids and one over the
tail ids, are together as wide as one over the codebook. An empty slot holds
``EMPTY``, the scene separator, which never occurs inside a scene; a position
with both slots empty is the separator itself.

The pairing is a pure function of the ids and the codebook's roles, so the
shards keep the flat ids and the pairs are made where they are used (export,
stats, benchmarks); ``unpair`` gives the flat ids back.

A place may hold more than one continuation (``width=3``: a head and up to two
continuations after it), so that a word of three ids takes one place too:

    ids        подня|лась  ,  и  Б|аз|аров
    width 3    (подня, лась, ·) (",", ·, ·) (и, ·, ·) (б, аз, аров)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ltmc.codebook import Codebook
from ltmc.rules import CONT_KINDS
from ltmc.vocab import SEPARATOR_ID

EMPTY = SEPARATOR_ID


# Punctuation as continuations too: a comma or a full stop shares the place of the word before it.
PUNCT_TAIL_KINDS = CONT_KINDS | {"punct"}


def tail_mask(book: Codebook, kinds: frozenset[str] = CONT_KINDS) -> np.ndarray:
    """Per id, whether it is a continuation (its kind is one of ``kinds``), the only ids a tail slot holds."""
    return np.fromiter((book.kind_of(i) in kinds for i in range(len(book))), dtype=bool, count=len(book))


def _joins(flat: np.ndarray, scene_starts: np.ndarray, is_tail: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(does each id join the position of the id before it, its slot in its position)."""
    if width < 2:
        raise ValueError(f"a position holds a head and at least one continuation: width {width}")
    if len(flat) and (flat.min() < 0 or flat.max() >= len(is_tail)):
        raise ValueError(f"an id outside the codebook's {len(is_tail)} ids")
    tail = is_tail[flat]
    index = np.arange(len(flat))
    at_start = np.zeros(len(flat), dtype=bool)
    at_start[scene_starts[scene_starts < len(flat)]] = True
    # Each id's anchor: the last head, or scene start, at or before it. A continuation
    # joins its anchor's position while that holds a head (never the separator) and room.
    anchor = np.maximum.accumulate(np.where(~tail | at_start, index, -1)) if len(flat) else index
    held = anchor >= 0
    anchored = np.zeros(len(flat), dtype=bool)
    anchored[held] = ~tail[anchor[held]] & (flat[anchor[held]] != EMPTY)
    joins = tail & anchored & (index > anchor) & (index - anchor < width)
    return joins, np.where(joins, index - anchor, tail.astype(np.int64))


def pair(flat: np.ndarray, is_tail: np.ndarray, scene_starts: np.ndarray | None = None, width: int = 2) -> np.ndarray:
    """Flat ids → positions, an (n, ``width``) int32 array: the head, then the continuations.

    ``scene_starts``: offsets where a scene begins, so no position spans two."""
    return _fill(np.asarray(flat, dtype=np.int32), *slots(flat, is_tail, scene_starts, width), width)


def slots(flat: np.ndarray, is_tail: np.ndarray, scene_starts: np.ndarray | None = None, width: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Where ``pair`` puts each id: (its position, its slot: 0 the head, 1 on the
    continuations; an int, not a mask), so that anything known per id (its bytes, its loss) can be laid
    out as the positions are."""
    flat = np.asarray(flat, dtype=np.int32)
    starts = np.zeros(1, dtype=np.int64) if scene_starts is None else np.asarray(scene_starts, dtype=np.int64)
    joins, slot = _joins(flat, starts, is_tail, width)
    return np.cumsum(~joins) - 1, slot


def _fill(flat: np.ndarray, position: np.ndarray, slot: np.ndarray, width: int) -> np.ndarray:
    places = np.full((int(position[-1]) + 1 if len(flat) else 0, width), EMPTY, dtype=np.int32)
    places[position, slot] = flat
    return places


def unpair(places: np.ndarray, width: int = 2) -> np.ndarray:
    """Positions ((n, width), or flat as written, ``width`` ids each) → the flat ids they
    hold, in order (the separator stays one id)."""
    places = np.asarray(places, dtype=np.int32)
    places = places.reshape(-1, places.shape[-1] if places.ndim >= 2 else width)
    keep = places != EMPTY
    keep[:, 0] |= ~keep[:, 1:].any(axis=1)
    return places[keep]


def _scenes(ids: pa.ListArray, is_tail: np.ndarray, width: int):
    """(flat ids, offsets from 0, does each join the id before it, its slot)."""
    flat = ids.flatten().to_numpy(zero_copy_only=False)
    offsets = ids.offsets.to_numpy().astype(np.int64)
    offsets -= offsets[0]
    return flat, offsets, *_joins(flat, offsets[:-1], is_tail, width)


def count_positions(ids: pa.ListArray, is_tail: np.ndarray, width: int = 2) -> int:
    """How many positions the scenes of ``ids`` take, paired."""
    flat, _, joins, _ = _scenes(ids, is_tail, width)
    return len(flat) - int(joins.sum())


def pair_scenes(ids: pa.ListArray, is_tail: np.ndarray, width: int = 2) -> tuple[pa.ListArray, ...]:
    """A column of scenes' ids → (heads, tails, …), ``width`` list columns of one row per scene."""
    flat, offsets, joins, slot = _scenes(ids, is_tail, width)
    position = np.cumsum(~joins) - 1
    places = _fill(flat, position, slot, width)
    # No position spans two scenes, so a scene's positions start where its first id's does.
    begins = np.concatenate(([0], position + 1))
    new_offsets = pa.array(begins[offsets].astype(np.int32))
    return tuple(pa.ListArray.from_arrays(new_offsets, pa.array(places[:, k])) for k in range(width))
