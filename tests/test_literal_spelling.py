"""ltmc.literal_spelling: punctuation, whitespace and bytes, the fewest ids first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ltmc.fastpath import char_bytes
from ltmc.literal_spelling import fewest_literals, spell_by_character

LITERALS = {",": 300, " ": 301, ", ": 302, "...": 303, ".": 304, "\n": 305}
CONTS = {"а": 400, "б": 401}


def test_fewest_literals_worked_by_hand():
    # ", ..." is ", " then "...": 2 ids, not 5 single characters.
    assert fewest_literals(", ...", CONTS, LITERALS) == [302, 303]
    # "...." has no 4-dot token: "..." and "." in whichever order the path finds first.
    assert sorted(fewest_literals("....", CONTS, LITERALS)) == [303, 304]
    # A character no token covers is spelled by its UTF-8 bytes.
    assert fewest_literals("!", CONTS, LITERALS) == list(char_bytes("!")) == [ord("!")]


def test_spell_by_character_takes_letters_then_punctuation_then_bytes():
    assert spell_by_character("а,ж", CONTS, LITERALS) == [400, 300, *char_bytes("ж")]


@given(st.text(alphabet=",. \nабж!", max_size=30))
def test_both_are_no_longer_than_one_id_per_byte_and_fewest_is_no_longer(text):
    by_character = spell_by_character(text, CONTS, LITERALS)
    assert len(by_character) <= len(text.encode("utf-8"))
    assert len(fewest_literals(text, CONTS, LITERALS)) <= len(by_character)
