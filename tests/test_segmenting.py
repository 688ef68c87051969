"""ltmc.segmenting: fewest-unit segmentations and bond covers, kept up to date as units drop."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltmc import segmenting
from ltmc.corpus_counts import CorpusCounts
from ltmc.pretokenize import pieces

from conftest import needs_c

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
    return [tuple(pieces(chunk)) for chunk in counts.sample], dict(bonds.most_common(300)), keys


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
