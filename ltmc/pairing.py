"""Paired positions: a stem and its ending in one position of the sequence.

A continuation token (an ending or a suffix piece) never begins anything: it
always follows the token it continues. So the ids of a scene can be cut into
*positions* of at most two ids, a **head** (any id that is not a continuation)
and the **tail** right after it (a continuation), and a model can embed a
position as the sum of its two ids' rows:

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
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ltmc.codebook import Codebook
from ltmc.rules import CONT_KINDS
from ltmc.vocab import SEPARATOR_ID

EMPTY = SEPARATOR_ID


def tail_mask(book: Codebook) -> np.ndarray:
    """Per id, whether it is a continuation, the only ids a tail slot holds."""
    return np.fromiter((book.kind_of(i) in CONT_KINDS for i in range(len(book))), dtype=bool, count=len(book))


def _joins(flat: np.ndarray, scene_starts: np.ndarray, is_tail: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(is each id a tail, does it join the position of the id before it)."""
    if len(flat) and (flat.min() < 0 or flat.max() >= len(is_tail)):
        raise ValueError(f"an id outside the codebook's {len(is_tail)} ids")
    tail = is_tail[flat]
    joins = np.zeros(len(flat), dtype=bool)
    # A tail joins a head before it; the separator takes none, so (EMPTY, EMPTY) stays the separator.
    joins[1:] = tail[1:] & ~tail[:-1] & (flat[:-1] != EMPTY)
    joins[scene_starts[scene_starts < len(flat)]] = False
    return tail, joins


def pair(flat: np.ndarray, is_tail: np.ndarray, scene_starts: np.ndarray | None = None) -> np.ndarray:
    """Flat ids → positions, an (n, 2) int32 array of (head, tail).

    ``scene_starts``: offsets where a scene begins, so no position spans two."""
    flat = np.asarray(flat, dtype=np.int32)
    starts = np.zeros(1, dtype=np.int64) if scene_starts is None else np.asarray(scene_starts, dtype=np.int64)
    return _fill(flat, *_joins(flat, starts, is_tail))


def slots(flat: np.ndarray, is_tail: np.ndarray, scene_starts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Where ``pair`` puts each id: (its position, whether in the tail slot), so that
    anything known per id (its bytes, its loss) can be laid out as the positions are."""
    flat = np.asarray(flat, dtype=np.int32)
    starts = np.zeros(1, dtype=np.int64) if scene_starts is None else np.asarray(scene_starts, dtype=np.int64)
    tail, joins = _joins(flat, starts, is_tail)
    return np.cumsum(~joins) - 1, tail


def _fill(flat: np.ndarray, tail: np.ndarray, joins: np.ndarray) -> np.ndarray:
    position = np.cumsum(~joins) - 1
    pairs = np.full((int(position[-1]) + 1 if len(flat) else 0, 2), EMPTY, dtype=np.int32)
    pairs[position[~tail], 0] = flat[~tail]
    pairs[position[tail], 1] = flat[tail]
    return pairs


def unpair(pairs: np.ndarray) -> np.ndarray:
    """Positions → the flat ids they hold, in order (the separator stays one id)."""
    pairs = np.asarray(pairs, dtype=np.int32).reshape(-1, 2)
    keep = np.empty_like(pairs, dtype=bool)
    keep[:, 1] = pairs[:, 1] != EMPTY
    keep[:, 0] = (pairs[:, 0] != EMPTY) | ~keep[:, 1]
    return pairs[keep]


def _scenes(ids: pa.ListArray, is_tail: np.ndarray):
    """(flat ids, offsets from 0, is each a tail, does it join the id before it)."""
    flat = ids.flatten().to_numpy(zero_copy_only=False)
    offsets = ids.offsets.to_numpy().astype(np.int64)
    offsets -= offsets[0]
    return flat, offsets, *_joins(flat, offsets[:-1], is_tail)


def count_positions(ids: pa.ListArray, is_tail: np.ndarray) -> int:
    """How many positions the scenes of ``ids`` take, paired."""
    flat, _, _, joins = _scenes(ids, is_tail)
    return len(flat) - int(joins.sum())


def pair_scenes(ids: pa.ListArray, is_tail: np.ndarray) -> tuple[pa.ListArray, pa.ListArray]:
    """A column of scenes' ids → (heads, tails), list columns of one row per scene."""
    flat, offsets, tail, joins = _scenes(ids, is_tail)
    pairs = _fill(flat, tail, joins)
    # No position spans two scenes, so a scene's positions start where its first id's does.
    begins = np.concatenate(([0], np.cumsum(~joins)))
    new_offsets = pa.array(begins[offsets].astype(np.int32))
    return (
        pa.ListArray.from_arrays(new_offsets, pa.array(pairs[:, 0])),
        pa.ListArray.from_arrays(new_offsets, pa.array(pairs[:, 1])),
    )
