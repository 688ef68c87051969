"""ltmc.scene_decoder: many scenes decoded at once, in C or scene by scene."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltmc import scene_decoder
from ltmc.errors import ExitCode, LtmcError
from ltmc.vocab import FIRST_FREE_ID, SEPARATOR_ID

_ANY_IDS = st.lists(
    st.one_of(st.integers(0, 1023), st.sampled_from([SEPARATOR_ID, SEPARATOR_ID + 1, SEPARATOR_ID + 2, 32, 10, 46])),
    max_size=40,
)


@given(st.lists(_ANY_IDS, max_size=6), st.integers(0, 5))
def test_decode_scenes_agrees_with_decode_bytes_on_any_ids(codebook, rows, skip):
    # Any ids, markers in odd places included, and a sliced column (as Arrow hands out).
    rows = [[i % len(codebook) for i in row] for row in rows]
    column = pa.array(rows, pa.list_(pa.int32())).slice(min(skip, len(rows)))
    assert codebook.decode_scenes(column).to_pylist() == [codebook.decode_bytes(r) for r in rows[min(skip, len(rows)) :]]


@given(st.lists(_ANY_IDS, max_size=6), st.integers(0, 5))
def test_decode_scenes_without_the_extension_gives_the_same_bytes(codebook, rows, skip):
    rows = [[i % len(codebook) for i in row] for row in rows]
    column = pa.array(rows, pa.list_(pa.int32())).slice(min(skip, len(rows)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scene_decoder, "decode_flat", None)
        in_python = codebook.decode_scenes(column)
    assert in_python.to_pylist() == codebook.decode_scenes(column).to_pylist()


def test_decode_scenes_restores_encoded_scenes(codebook, sample_texts):
    column = pa.array([codebook.encode(t) for t in sample_texts], pa.list_(pa.int32()))
    assert codebook.decode_scenes(column).to_pylist() == [t.encode("utf-8") for t in sample_texts]


def test_decode_scenes_refuses_ids_outside_the_codebook(codebook):
    with pytest.raises(LtmcError) as info:
        codebook.decode_scenes(pa.array([[FIRST_FREE_ID], [len(codebook)]], pa.list_(pa.int32())))
    assert info.value.exit_code == ExitCode.DATA
