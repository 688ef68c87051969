"""ltmc.fastpath: the C inner loop held equal to its Python twin."""

from __future__ import annotations

import subprocess
import sys
from array import array
from pathlib import Path

import numpy as np
import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from ltmc import fastpath, pipeline
from ltmc.codebook import Codebook
from ltmc.mining import mine
from ltmc.pretokenize import PIECE_PATTERN, pieces

needs_c = pytest.mark.skipif(not fastpath.ACCELERATED, reason="ltmc._fastpath was not built (no C compiler at install); .ci/run requires it")

_WORDISH = st.text(alphabet=st.sampled_from(list("абвгдеёжзиклмнопрстуя АБВЁЯZЂЏ.,—«»-\n0123456789ßİǅ\u0301") + ["\udc80", "\udcff"]), max_size=200)
_TEXTS = st.one_of(
    st.text(max_size=200),
    _WORDISH,
    st.binary(max_size=200).map(lambda data: data.decode("utf-8", "surrogateescape")),
)


def _prepared(codebook: Codebook) -> Codebook:
    book = Codebook.from_json(codebook.to_json())  # caches of its own
    book.prepare_encoder()
    return book


@pytest.fixture(scope="module", params=["with counts", "without counts"])
def twins(codebook, request):
    """Two copies of the codebook, one encoded by C and one by Python. They keep
    their caches across examples, so hits are compared as well as misses. With
    counts, ties between spellings go to the likeliest; without, to the longest
    last token."""
    assert codebook.counts is not None
    book = codebook if request.param == "with counts" else Codebook(codebook._entries, codebook.version)
    return _prepared(book), _prepared(book)


@needs_c
def test_module_constants_match_python():
    from ltmc import _fastpath

    for name in ("START", "MARKER", "SET", "CLEAR", "GLUE_ID", "FLIP_ID", "SENTENCE_START"):
        assert getattr(_fastpath, name) == getattr(fastpath, name), name


@needs_c
def test_a_repeated_piece_is_one_string_object():
    # Pieces are interned, so that the encoder's dict lookups match by identity;
    # a piece from a text of wider characters matches one from a narrower text.
    first = fastpath.split_pieces("x, мир, мир", fastpath.char_classes())
    assert first == ["x", ",", " мир", ",", " мир"]
    assert first[2] is first[4] and first[1] is first[3]
    assert fastpath.split_pieces("y, z", fastpath.char_classes())[1] is first[1]


_SPACES_AND_JOINERS = st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x85\u00a0\u2028\u3000-'’аZ1٣²\u0301.,")), max_size=60)


@needs_c
@given(st.one_of(_TEXTS, _SPACES_AND_JOINERS))
def test_c_cuts_pieces_exactly_as_the_regex(text):
    parts = fastpath.split_pieces(text, fastpath.char_classes())
    if parts is None:
        assert max(map(ord, text)) >= fastpath.CLASSIFIED
    else:
        assert parts == PIECE_PATTERN.findall(text)
    assert fastpath.pieces(text) == PIECE_PATTERN.findall(text)


def test_character_classes_do_not_overlap():
    # The C pretokenizer gives each character one class: letters, marks, numbers and
    # whitespace must be disjoint as the regex module sees them.
    table = fastpath.char_classes()
    seen = {}
    for pattern in (r"\p{L}", r"\p{M}", r"\p{N}", r"\s"):
        for char in regex.findall(pattern, "".join(map(chr, range(fastpath.CLASSIFIED)))):
            assert seen.setdefault(char, pattern) == pattern
            assert table[ord(char)] != 0
    assert table[ord("a")] == 1 and table[0x301] == 2 and table[ord("7")] == 3 and table[ord(" ")] == 4 and table[ord(",")] == 0


@needs_c
@given(_TEXTS)
def test_c_encodes_exactly_as_python(twins, text):
    in_c, in_python = twins
    parts = pieces(text)
    assert fastpath.encode_pieces(parts, in_c._tables) == fastpath.py_encode_pieces(parts, in_python._tables)
    assert in_c._tables.word_cache.keys() == in_python._tables.word_cache.keys()
    assert in_c._tables.caches == in_python._tables.caches  # one Hit layout on both sides
    assert in_c._tables.old_caches == in_python._tables.old_caches


@needs_c
@given(st.text(alphabet=st.sampled_from(list("абвгдежзиклмнопрстуяёАБВЁЯxyzß\u0301") + ["\udc80"]), max_size=24), st.one_of(st.none(), st.integers(0, 12)))
def test_c_segments_exactly_as_python(twins, word, bound):
    tables = twins[0]._tables
    assert fastpath.segment_word(word, tables, bound) == fastpath.py_segment_word(word, tables, bound)


@given(_TEXTS)
def test_python_encoder_round_trips(twins, text):
    book = twins[1]
    packed, words = fastpath.py_encode_pieces(pieces(text), book._tables)
    assert book.decode_bytes(array(fastpath.ID_TYPE, packed)) == text.encode("utf-8", "surrogateescape")


@needs_c
def test_both_turn_a_full_cache_over_alike(codebook, sample_texts):
    text = "".join(sample_texts)
    in_c, in_python = _prepared(codebook), _prepared(codebook)
    for book in (in_c, in_python):
        book._tables.cache_limit = 40
    for _ in range(2):
        assert fastpath.encode_pieces(pieces(text), in_c._tables) == fastpath.py_encode_pieces(pieces(text), in_python._tables)
        assert in_c._tables.caches == in_python._tables.caches and in_c._tables.old_caches == in_python._tables.old_caches
        assert 0 < sum(map(len, in_c._tables.old_caches)) == 40 and sum(map(len, in_c._tables.caches)) <= 40


@needs_c
def test_codebooks_taking_turns_on_the_same_pieces_get_their_own_ids(codebook, sample_texts):
    # The C loop's memo is indexed by the piece object, which interning makes the
    # same whichever codebook encodes it.
    other = mine(sample_texts, 400)[0]
    books, references = [_prepared(codebook), _prepared(other)], [_prepared(codebook), _prepared(other)]
    parts = pieces("".join(sample_texts))
    for _ in range(2):
        for book, reference in zip(books, references):
            assert fastpath.encode_pieces(parts, book._tables) == fastpath.py_encode_pieces(parts, reference._tables)
    assert fastpath.encode_pieces(parts, books[0]._tables) != fastpath.encode_pieces(parts, books[1]._tables)


@pytest.mark.parametrize("side", ["c", "python"])
def test_a_piece_used_since_the_last_turnover_survives_the_next(codebook, side):
    if side == "c" and not fastpath.ACCELERATED:
        pytest.skip("the C extension is not built")
    encode = fastpath.encode_pieces if side == "c" else fastpath.py_encode_pieces
    t = _prepared(codebook)._tables
    t.cache_limit = 8
    common = pieces("Он")[0]
    words = ("раз", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять", "одиннадцать")
    encode(pieces("Он."), t)
    first_hit = t.caches[fastpath.SENTENCE_START][common]
    for word in words * 3:  # "Он" at every sentence start, among pieces seen once a round
        encode(pieces(f"Он {word}."), t)
    assert sum(map(len, t.old_caches)) == 8  # it turned over many times
    # Clearing everything at the limit would have encoded "Он" again after each
    # turnover; it was taken back from the old cache each time instead.
    assert t.caches[fastpath.SENTENCE_START].get(common, t.old_caches[fastpath.SENTENCE_START].get(common)) is first_hit


@needs_c
def test_c_refuses_tables_before_prepare_encoder(codebook):
    book = Codebook.from_json(codebook.to_json())
    with pytest.raises(TypeError, match="prepare_encoder"):
        fastpath.encode_pieces(["слово"], book._tables)


@needs_c
def test_c_decoder_refuses_arrays_that_do_not_fit(codebook):
    table = codebook._spellings()
    arrays = (table.role, table.space_after, table.cap_effect, table.spelling_offsets, table.spelling_data)
    ids = np.array([300, 301], np.int32)
    with pytest.raises(ValueError, match="do not span the ids"):
        fastpath.decode_flat(ids, np.array([0, 1], np.int32), *arrays)
    with pytest.raises(ValueError, match="go backwards"):
        fastpath.decode_flat(ids, np.array([0, 2, 1, 2], np.int32), *arrays)
    with pytest.raises(ValueError, match="do not fit together"):
        fastpath.decode_flat(ids, np.array([0, 2], np.int32), table.role[:-1], *arrays[1:])
    with pytest.raises(IndexError, match="outside the codebook"):
        fastpath.decode_flat(np.array([len(codebook)], np.int32), np.array([0, 1], np.int32), *arrays)
    data, ends = fastpath.decode_flat(ids, np.array([0, 1, 2], np.int32), *arrays)
    assert np.frombuffer(ends, np.int64).tolist() == [0, len(codebook.decode_bytes([300])), len(data)]


_ENCODE_WITHOUT_C = """
import sys
sys.modules["ltmc._fastpath"] = None  # as on a machine where the extension was not built
import ltmc.fastpath
assert not ltmc.fastpath.ACCELERATED
from ltmc import pipeline
pipeline.encode_corpus([sys.argv[1]], sys.argv[2], vocab_size=2048, workers=2)
"""


@needs_c
def test_without_the_extension_the_shards_are_the_same(tmp_path, read_tree):
    fixtures = Path(__file__).parents[1] / "fixtures"
    pipeline.encode_corpus([str(fixtures)], tmp_path / "c", vocab_size=2048, workers=2)
    subprocess.run([sys.executable, "-c", _ENCODE_WITHOUT_C, str(fixtures), str(tmp_path / "python")], check=True, timeout=300)
    assert read_tree(tmp_path / "python") == read_tree(tmp_path / "c")
