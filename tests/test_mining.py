"""ltmc.mining: counting, candidates, pruning to the budget."""

from __future__ import annotations

import pytest

from ltmc import mining
from ltmc.codebook import FIRST_FREE_ID
from ltmc.mining import CorpusCounts, mine, mine_from_counts


@pytest.fixture(scope="module")
def counts(sample_texts) -> CorpusCounts:
    counts = CorpusCounts()
    for text in sample_texts * 3:
        counts.add(text)
    return counts


def test_the_budget_is_filled_exactly_when_the_corpus_allows(counts):
    # How many ids this corpus can fill at most: a codebook mined with room to spare.
    most = len(mine_from_counts(counts, 100_000)[0])
    assert FIRST_FREE_ID + 300 < most < 100_000
    # Near `most` a smaller budget gives fewer ids to single letters, which changes
    # what else pays for an id, so only a margin below it is sure to fill.
    for vocab_size in (FIRST_FREE_ID + 100, (FIRST_FREE_ID + most) // 2, most - 10):
        book, report = mine_from_counts(counts, vocab_size)
        assert len(book) == vocab_size, vocab_size
        assert report.filled


def test_mining_is_deterministic_and_independent_of_text_order(sample_texts):
    forward = mine(sample_texts * 2, 700)[0]
    backward = mine(list(reversed(sample_texts * 2)), 700)[0]
    assert forward.fingerprint == mine(sample_texts * 2, 700)[0].fingerprint
    assert forward.fingerprint == backward.fingerprint


def test_a_frequent_collocation_becomes_one_bond_token():
    texts = [f"Он сказал, что придёт в {n} часов. Она сказала, что не придёт.\n" for n in range(40)]
    book = mine(texts, 600)[0]
    bonds = {t.text for t in book.tokens if t.kind == "bond"}
    assert any("что" in text and "," in text for text in bonds), bonds
    ids = book.encode("Он сказал, что придёт.")
    assert any(book.kind_of(i) == "bond" for i in ids)


def test_ngram_counting_stays_bounded(monkeypatch, sample_texts):
    monkeypatch.setattr(mining, "MAX_NGRAMS", 200)
    counts = CorpusCounts()
    for text in sample_texts * 3:
        counts.add(text)
        assert len(counts.ngrams) <= 200


def test_the_pricing_sample_stays_bounded_and_order_free(monkeypatch, sample_texts):
    monkeypatch.setattr(mining, "SAMPLE_CHARS", 2_000)
    forward, backward = CorpusCounts(), CorpusCounts()
    for text in sample_texts:
        forward.add(text)
    for text in reversed(sample_texts):
        backward.add(text)
    assert 0 < forward.sample_chars <= 2_000
    assert sorted(forward.sample) == sorted(backward.sample)


def test_a_long_word_final_piece_can_become_one_token():
    # Thirty made-up words, each seen once, share the six letters "ations": longer
    # than any inner piece, so only a word-final candidate holds them whole. (Latin
    # letters keep morphology out of it: it would offer each form's own stem.)
    stems = [a + b for a in ("bl", "kw", "tr", "sn", "gr", "dw") for b in ("ob", "ix", "um", "ep", "ag")]
    texts = [f"We saw the {stem}ations near the gate.\n" for stem in stems]
    book = mine(texts, 2000)[0]
    assert ("suffix", "ations") in {(t.kind, t.text) for t in book.tokens}
    ids = book.encode("We saw the plovations.")
    assert "ations" in [book.piece_of(i) for i in ids]
