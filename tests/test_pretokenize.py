"""ltmc.pretokenize: cutting text into pieces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltmc.pretokenize import is_word_piece, pieces


@given(st.text())
def test_pieces_concatenate_back_to_the_text(text):
    assert "".join(pieces(text)) == text


@given(st.text())
def test_no_piece_is_empty(text):
    assert all(pieces(text))


# Text made of the characters that matter most to the pattern: letters of both
# scripts, combining marks, digits, hyphens, apostrophes and every kind of space.
_DENSE = st.text(alphabet=st.sampled_from(list("аяёЖzQ\u0301-'’0912.,!— \t\n\r\u00a0\u2003\u3000")), max_size=60)


@given(_DENSE)
def test_pieces_concatenate_back_on_dense_text(text):
    assert "".join(pieces(text)) == text


def test_words_keep_one_leading_space():
    assert pieces("Мороз и солнце") == ["Мороз", " и", " солнце"]


def test_only_a_single_space_joins_the_next_word():
    assert pieces("день   чудесный") == ["день", "   ", "чудесный"]
    assert pieces("день чудесный") == ["день", " чудесный"]


def test_a_line_break_keeps_its_indentation():
    # No space is implied after whitespace: a space given to the word would cost a token.
    assert pieces("конец\n\n   начало") == ["конец", "\n\n   ", "начало"]
    assert pieces("строка\n  другая") == ["строка", "\n  ", "другая"]


def test_trailing_whitespace_is_one_piece():
    assert pieces("конец  \n") == ["конец", "  \n"]


def test_hyphenated_and_apostrophe_words_are_single_pieces():
    assert pieces("кто-то сказал don't") == ["кто-то", " сказал", " don't"]


def test_numbers_are_cut_in_groups_of_three():
    assert pieces("1234567") == ["123", "456", "7"]


def test_punctuation_run_keeps_its_leading_space():
    assert pieces("да ?!") == ["да", " ?!"]


def test_combining_mark_stays_inside_the_word():
    assert pieces("за\u0301мок") == ["за\u0301мок"]


@pytest.mark.parametrize(
    ("piece", "expected"),
    [
        (" слово", True),
        ("слово", True),
        ("кто-то", True),
        (" 123", False),
        (" ,", False),
        ("  ", False),
        ("", False),
    ],
)
def test_is_word_piece(piece, expected):
    assert is_word_piece(piece) is expected


@given(st.text())
def test_at_most_one_leading_space_on_a_word_piece(text):
    for piece in pieces(text):
        if is_word_piece(piece):
            assert not piece.startswith("  ")
