"""ltmc.mining: counting, candidates, pruning to the budget."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltmc import corpus_counts, mining, pairing, segmenting
from ltmc.codebook import FIRST_FREE_ID
from ltmc.corpus_counts import CorpusCounts
from ltmc.mining import mine, mine_from_counts


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


def test_a_rare_character_gets_an_id_only_when_ids_are_left_over():
    # Words of 15 letters, and "ω" seen 3 times: under the 20 uses a piece needs to
    # be a candidate. A quarter of a 200-id budget would hold every character, but
    # "ω" takes no id from the words while they fill the budget, and still decodes.
    rng = random.Random(7)
    words = ["".join(rng.choice("абвгдеклмнопрст") for _ in range(rng.randint(3, 7))) for _ in range(400)]
    texts = [" ".join(rng.choice(words) for _ in range(12)) + ".\n" for _ in range(2000)] + ["ω, ω и ω.\n"]
    tight, report = mine(texts, FIRST_FREE_ID + 200)
    assert report.filled
    assert "ω" not in {t.text for t in tight.tokens} and "а" in {t.text for t in tight.tokens}
    assert "ω" in {t.text for t in mine(texts, 100_000)[0].tokens}
    assert tight.decode(tight.encode("Буква ω.")) == "Буква ω."


def _verb_lines(seed: int, n: int) -> list[str]:
    stems = ["чита", "писа", "дума", "слуша", "игра", "гуля", "работа", "отвеча", "спрашива", "понима", "зна", "дела"]
    endings = ["л", "ла", "ли", "ло", "ть", "ю", "ет", "ем", "ют", "ешь", "ете"]
    rng = random.Random(seed)
    return [" ".join(rng.choice(stems) + rng.choice(endings) for _ in range(10)) + ".\n" for _ in range(n)]


@pytest.mark.parametrize("vocab_size", [400, 600])
def test_mining_for_pairs_spends_ids_on_stems_not_whole_forms(vocab_size):
    # 132 forms of 12 stems: a stem and its ending take one position, as the whole
    # form does, so the ids that would spell each form whole are better spent elsewhere.
    train, unseen = "".join(_verb_lines(1, 400)), "".join(_verb_lines(2, 100))
    flat, _ = mine([train], vocab_size)
    paired, report = mine([train], vocab_size, paired=True)
    assert report.filled
    kinds = lambda book: Counter(t.kind for t in book.tokens)  # noqa: E731
    assert kinds(paired)["word"] < kinds(flat)["word"] / 4
    for text in (train, unseen):
        assert paired.decode(paired.encode(text)) == text
        assert positions(paired, text) < positions(flat, text)
    assert len(flat.encode(unseen)) < len(paired.encode(unseen))  # the ids it gave up


def positions(book, text: str) -> int:
    return len(pairing.pair(np.array(book.encode(text)), pairing.tail_mask(book)))


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


# The C twins of mining's inner loops, held equal to the Python they replace.

needs_c = pytest.mark.skipif(corpus_counts.native is None, reason="ltmc._fastpath was not built (no C compiler at install); .ci/run requires it")
_UNITS = st.text(alphabet="абвгд-Ё\U0001f600", min_size=1, max_size=5)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    start=st.sets(_UNITS, max_size=25),
    cont=st.sets(_UNITS, max_size=25),
    words=st.lists(st.text(alphabet="абвгд-Ё\U0001f600x", max_size=14), min_size=1, max_size=12),
    dropped=st.lists(st.tuples(st.sampled_from(["start", "cont"]), _UNITS), max_size=10),
)
def test_the_c_segmenter_equals_the_python_one(start, cont, words, dropped):
    # "x" is in no unit, so it is spelled by the fallback; a word may start with it.
    segmenter = segmenting.Segmenter(set(start), set(cont))
    for role, unit in [(None, None)] + dropped:
        if role is not None:
            segmenter.discard(role, unit)
        for word in words:
            for without in (None, word, word[1:3]):
                for from_cont in (False, True):
                    expected = segmenter.py_segment(word, without, from_cont)
                    assert segmenter.segment(word, without, from_cont) == expected, (word, without, from_cont)
                    assert "".join(expected) == word or expected[:1] == [""]


def test_a_segmentation_takes_the_fewest_units_and_never_the_one_left_out():
    segmenter = segmenting.Segmenter({"под", "подним"}, {"ним", "ается", "а", "ет", "ся"})
    assert segmenter.segment("поднимается") == ["подним", "ается"]
    assert segmenter.segment("поднимается", without="ается") == ["подним", "а", "ет", "ся"]
    segmenter.discard("start", "подним")
    assert segmenter.segment("поднимается") == ["под", "ним", "ается"]
    # A character no unit holds is spelled on its own, at a cost of two.
    assert segmenter.segment("подъем") == ["под", "ъ", "е", "м"]


@needs_c
@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet="абвгдеё\U0001f600", min_size=1, max_size=12), st.integers(1, 10**12), max_size=40))
def test_the_c_slice_counts_equal_the_python_ones(words):
    native = corpus_counts.slice_counts(Counter(words))
    python = corpus_counts.py_slice_counts(Counter(words))
    assert native[0] == dict(python[0]) and native[1] == dict(python[1])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=3), st.sampled_from([0, 0.5, 1, 2, 2.5, 7]), min_size=1, max_size=40), st.data())
def test_least_is_the_head_of_a_full_sort(loss, data):
    count = data.draw(st.integers(1, len(loss)))
    values = np.fromiter(loss.values(), dtype=np.float64, count=len(loss))
    head = sorted(loss.items(), key=lambda kv: (kv[1], kv[0]))[:count]
    assert sorted(mining._least(loss, values, count)) == sorted(key for key, _ in head)


@pytest.mark.parametrize("paired", [False, True])
def test_mining_gives_the_same_codebook_without_the_c_extension(monkeypatch, sample_texts, paired):
    with_c = mine(sample_texts * 2, 900, paired=paired)[0]
    monkeypatch.setattr(corpus_counts, "native", None)  # counting's loops
    monkeypatch.setattr(segmenting, "native", None)  # and the segmenter's
    assert mine(sample_texts * 2, 900, paired=paired)[0].fingerprint == with_c.fingerprint


def test_mining_prices_every_sampled_piece_after_the_piece_table_is_pruned(monkeypatch, sample_texts):
    monkeypatch.setattr(corpus_counts, "MAX_PIECES", 100)
    counts = CorpusCounts()
    for text in sample_texts:
        counts.add(text)
    sampled = {piece for chunk in counts.sample for piece in mining.pieces(chunk)}
    assert sampled - counts.pieces.keys()  # pruning dropped some piece the sample holds
    book, _ = mine_from_counts(counts, 700)  # no piece of the sample lacks a count
    assert FIRST_FREE_ID < len(book) <= 700
    assert book.decode(book.encode(sample_texts[0])) == sample_texts[0]


@settings(max_examples=200, deadline=None)
@given(
    units=st.sets(_UNITS, min_size=1, max_size=30),
    words=st.dictionaries(st.text(alphabet="абвгд-Ё\U0001f600", min_size=1, max_size=12), st.integers(1, 50), min_size=1, max_size=15),
    rounds=st.lists(st.lists(st.tuples(st.sampled_from(["start", "cont"]), st.integers(0, 29)), max_size=6), max_size=6),
)
def test_segmentations_after_drops_equal_segmenting_everything_again(units, words, rounds):
    # The same texts serve as start and continuation units, so that a text can be
    # dropped in one role and kept in the other.
    pool = sorted(units)
    segmenter = segmenting.Segmenter(set(pool), set(pool))
    segmented = segmenting.Segmentations(Counter(words), segmenter)
    for drops in rounds:
        dropped = set()
        for role, index in drops:
            unit = pool[index % len(pool)]
            segmenter.discard(role, unit)
            dropped.add(unit)
        before = {word: len(units) for word, units in segmented.split.items()}
        recounted = segmented.drop(dropped)
        assert segmented.split == {word: segmenter.segment(word) for word in words}
        expected = Counter()
        for word, units in segmented.split.items():
            for unit in units:
                expected[unit] += words[word]
        assert +segmented.usage == expected
        assert sorted(recounted) == sorted(w for w in words if len(segmented.split[w]) != before[w])


@pytest.fixture(scope="module")
def bond_sample(sample_texts):
    """The pieces of the sampled chunks, and every run of 2-4 of them as a bond."""
    counts = CorpusCounts()
    for text in sample_texts:
        counts.add(text)
    keys = segmenting.PieceKeys({})
    bonds = Counter()
    for parts, n in counts.ngrams.items():
        bonds[keys[parts[0]] + "".join(parts[1:])] += n
    return [tuple(mining.pieces(chunk)) for chunk in counts.sample], dict(bonds.most_common(300)), keys


class _Costs(dict):
    def __missing__(self, piece):
        return len(piece)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 299), st.integers(0, 299)), min_size=1, max_size=4))
def test_bond_savings_kept_up_to_date_equal_a_cover_built_again(bond_sample, rounds):
    sample, bonds, keys = bond_sample
    pool = dict(bonds)
    cover = segmenting.BondCover(sample, pool, keys)
    costs = _Costs()
    cover.savings(costs)
    pieces_seen = sorted({part for own, _ in cover.inner.values() for part in own})
    for drop_at, recost_at in rounds:
        dropped = list(pool)[drop_at % 7 :: 7]
        for text in dropped:
            del pool[text]
        piece = pieces_seen[recost_at % len(pieces_seen)]
        costs[piece] = len(piece) + 3
        cover.forget(dropped, [keys[piece]])
        assert cover.savings(costs) == segmenting.BondCover(sample, dict(pool), keys).savings(costs)
