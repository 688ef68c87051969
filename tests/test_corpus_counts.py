"""ltmc.corpus_counts: counting stays bounded and order-free; C and Python slice alike."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ltmc import corpus_counts
from ltmc.corpus_counts import CorpusCounts

from conftest import needs_c

def test_ngram_and_piece_counting_stay_bounded(monkeypatch, sample_texts):
    monkeypatch.setattr(corpus_counts, "MAX_NGRAMS", 200)
    monkeypatch.setattr(corpus_counts, "MAX_PIECES", 100)
    counts = CorpusCounts()
    for text in sample_texts * 3:
        counts.add(text)
        assert len(counts.ngrams) <= 200 and len(counts.pieces) <= 100


def test_the_pricing_sample_stays_bounded_and_order_free(monkeypatch, sample_texts):
    monkeypatch.setattr(corpus_counts, "SAMPLE_CHARS", 2_000)
    forward, backward = CorpusCounts(), CorpusCounts()
    for text in sample_texts:
        forward.add(text)
    for text in reversed(sample_texts):
        backward.add(text)
    assert 0 < forward.sample_chars <= 2_000
    assert sorted(forward.sample) == sorted(backward.sample)


@needs_c
@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet="абвгдеё\U0001f600", min_size=1, max_size=12), st.integers(1, 10**12), max_size=40))
def test_the_c_slice_counts_equal_the_python_ones(words):
    native = corpus_counts.slice_counts(Counter(words))
    python = corpus_counts.py_slice_counts(Counter(words))
    assert native[0] == dict(python[0]) and native[1] == dict(python[1])
