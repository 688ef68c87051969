"""ltmc.parts: the ids each id is made of."""

from __future__ import annotations

import numpy as np

from ltmc.codebook import Codebook
from ltmc.morph import analyse
from ltmc.parts import MAX_PARTS, NO_PART, token_parts


def _texts(book: Codebook, row: np.ndarray) -> list[str]:
    return [book.tokens[i].text for i in row if i != NO_PART]


def test_parts_worked_by_hand():
    book = Codebook.from_entries(
        [("word", "милой"), ("stem", "мил"), ("ending", "ой"), ("stem", "ми"), ("suffix", "лой"), ("suffix", "ившись"), ("suffix", "ив"), ("suffix", "шись"), ("stem", "о")]
        + [("word", "сказала"), ("word", "сказал"), ("ending", "а"), ("word", "сказать")]
    )
    parts = token_parts(book)
    assert parts.shape == (len(book), MAX_PARTS)
    of = lambda text, role=book.start_ids: _texts(book, parts[role[text]])  # noqa: E731
    assert of("милой") == ["мил", "ой"]  # the cut before an ending, not the longer-headed ми + лой
    assert of("сказала") == ["сказал", "а", "сказать"]  # and the lemma, shared by every form
    assert of("сказать") == []  # its own lemma, and no ids spell "ть"
    assert of("ившись", book.cont_ids) == ["ив", "шись"]  # a continuation is cut into continuations
    assert of("мил") == []  # "л" has no id: no partial spelling
    assert of("о") == []
    assert (parts[:256] == NO_PART).all()  # bytes


def test_every_id_is_spelled_by_its_parts(codebook):
    parts = token_parts(codebook)
    with_parts = np.flatnonzero((parts != NO_PART).any(axis=1))
    assert len(with_parts) > len(codebook) // 10
    cont = set(codebook.cont_ids.values())
    for token_id in with_parts:
        row = [int(i) for i in parts[token_id] if i != NO_PART]
        assert len(row) >= 1 and token_id not in row
        text = codebook.tokens[token_id].text
        if codebook.kind_of(token_id) == "word" and analyse(text).lemma in codebook.start_ids and analyse(text).lemma != text:
            assert row[-1] == codebook.start_ids[analyse(text).lemma]
            row = row[:-1]
        if row and len(row) < MAX_PARTS - 1:  # a spelling cut short spells a prefix
            assert "".join(codebook.tokens[i].text for i in row) == text
            assert all(i in cont for i in row[1:])  # only the first part may start a word
            assert (row[0] in cont) == (token_id in cont)
