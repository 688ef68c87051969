"""Scenes of ids back to bytes in one call: ``Codebook.decode_scenes``.

The C decoder (``fastpath.decode_flat``) works on flat arrays rather than the
codebook's lists, so that it runs without the GIL and decode threads work at once;
without the extension each scene goes through the reference decoder instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ltmc.fastpath import Tables, decode_flat

if TYPE_CHECKING:
    from ltmc.codebook import Codebook


class SpellingArrays:
    """The decoder's tables as arrays: per id its role, effects and four spellings
    (index 2 * space implied + capital implied; tokens that are not START have one)."""

    def __init__(self, tables: Tables) -> None:
        self.role = np.array(tables.role, np.int8)
        self.space_after = np.array(tables.space_after, bool)
        self.cap_effect = np.array(tables.cap_effect, np.int8)
        four = []
        for literal, variants in zip(tables.literal, tables.variants):
            four.extend(variants or (literal,) * 4)
        self.spellings = pa.array(four, pa.large_binary())
        _, offsets, data = self.spellings.buffers()
        self.spelling_offsets = np.frombuffer(offsets, np.int64)
        self.spelling_data = data


def decode_scenes(book: Codebook, ids: pa.ListArray) -> pa.LargeBinaryArray:
    """Each row of ``ids`` decoded as ``book.decode_bytes`` decodes it."""
    # The row's values by its offsets, not ids.flatten(): that loads pyarrow.compute (~45 ms).
    offsets = ids.offsets.to_numpy(zero_copy_only=False)
    flat = np.ascontiguousarray(ids.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]], np.int32)
    starts = offsets - offsets[0]
    table = book._spellings()
    if flat.size == 0:
        return pa.array([b""] * len(ids), pa.large_binary())
    if decode_flat is None:
        return pa.array([book.decode_bytes(flat[a:b].tolist()) for a, b in zip(starts[:-1], starts[1:])], pa.large_binary())
    try:
        data, ends = decode_flat(flat, starts, table.role, table.space_after, table.cap_effect, table.spelling_offsets, table.spelling_data)
    except IndexError:  # an id outside the codebook
        raise book._bad_id(flat.tolist()) from None
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(ids), [None, pa.py_buffer(ends), pa.py_buffer(data)])
