"""ltmc.vocab: the id layout, entries, special tokens and the names ids take."""

from __future__ import annotations

import pytest

from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.vocab import FIRST_FREE_ID, FIXED_ENTRIES, SEPARATOR_ID, check_specials, unique_entries, unique_names


def test_from_entries_rejects_reserved_kinds():
    with pytest.raises(ValueError):
        Codebook.from_entries([("byte", "x")])
    with pytest.raises(ValueError):
        Codebook.from_entries([("nonsense", "x")])


def test_from_entries_drops_duplicates_and_empty_texts():
    book = Codebook.from_entries([("word", " да"), ("word", " да"), ("punct", ""), ("punct", ",")], specials=())
    assert [t.text for t in book.tokens[FIRST_FREE_ID:]] == [" да", ","]


@pytest.mark.parametrize("specials", [["<|a|>", "<|a|>"], [""], ["<|scene|>"]], ids=["twice", "empty", "marker"])
def test_bad_special_tokens_are_refused(specials):
    with pytest.raises(LtmcError) as info:
        Codebook.from_entries([("word", "да")], specials=specials)
    assert info.value.exit_code == ExitCode.USAGE


def test_unique_entries_keeps_one_per_role_and_text():
    # " да" as a word and as punctuation are told apart by role; the repeat is not.
    entries = [("word", "да"), ("stem", "да"), ("ending", "да"), ("suffix", "да"), ("punct", ",")]
    assert list(unique_entries(entries)) == [("word", "да"), ("ending", "да"), ("punct", ",")]


def test_check_specials_returns_them_in_order():
    assert check_specials(iter(["<|user|>", "<|bos|>"])) == ("<|user|>", "<|bos|>")


def test_unique_names_worked_by_hand():
    # A continuation token takes ##, a byte <0xNN>, a marker its text; the second
    # "да" (a start token again, say an edited file) clashes and takes its id.
    entries = [*FIXED_ENTRIES, ("word", "да"), ("ending", "да"), ("word", "да")]
    is_cont = [False] * len(entries)
    is_cont[FIRST_FREE_ID + 1] = True
    names = unique_names(entries, is_cont)
    assert names[0x41] == "<0x41>" and names[SEPARATOR_ID] == "<|scene|>"
    assert names[FIRST_FREE_ID:] == ["да", "##да", f"<|id {FIRST_FREE_ID + 2}|>"]


def test_every_id_has_a_unique_name_that_maps_back(codebook):
    vocab = codebook.get_vocab()
    assert len(vocab) == codebook.vocab_size == len(codebook)
    assert all(codebook.token_to_id(codebook.id_to_token(i)) == i for i in range(len(codebook)))
    assert codebook.id_to_token(0x41) == "<0x41>" and codebook.id_to_token(SEPARATOR_ID) == "<|scene|>"
    assert codebook.token_to_id("<|eos|>") == codebook.special_ids["<|eos|>"]
    assert codebook.id_to_token(len(codebook)) is None and codebook.token_to_id("no such name") is None
    cont = next(i for i in range(FIRST_FREE_ID, len(codebook)) if codebook.kind_of(i) in ("ending", "suffix"))
    assert codebook.id_to_token(cont) == "##" + codebook.piece_of(cont)
