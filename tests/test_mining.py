"""ltmc.mining: candidates, pruning to the budget, the codebook it gives."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltmc import corpus_counts, mining, morph, pairing, segmenting, stages
from ltmc.codebook import FIRST_FREE_ID, Codebook
from ltmc.corpus_counts import CorpusCounts
from ltmc.engines.local import LocalEngine
from ltmc.errors import LtmcError
from ltmc.mining import mine, mine_from_counts
from ltmc.pretokenize import pieces


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


def test_unigram_nats_worked_by_hand():
    # Uses a: 3, b: 1 (c never used) → p(a) = 3/4, p(b) = 1/4; an unused unit counts as used once.
    nats = mining._UnigramNats(Counter({"a": 3, "b": 1, "c": 0}))
    assert nats.of(["a"]) == pytest.approx(np.log(4 / 3))
    assert nats.of(["a", "b", "c"]) == pytest.approx(np.log(4 / 3) + np.log(4) + np.log(4))
    assert nats.mean == pytest.approx(0.75 * np.log(4 / 3) + 0.25 * np.log(4))


def _losses(words: Counter, likelihood: bool) -> dict:
    pruning = mining._Pruning(
        words=words, start={"ab": "word"}, cont={}, letters={"a", "b"}, literals={}, bonds=Counter(),
        sample=[], keys=segmenting.PieceKeys({}), budget=10, room=10, paired=False, likelihood=likelihood,
    )
    return pruning.losses()


def test_a_whole_form_priced_by_each_objective_worked_by_hand():
    # "ab" is spelled by its own id twice; without it, by "a" then "b". Uses: ab 2,
    # a 5, b 3 (10 in all), so losing it costs 2 × (−log 5/10 − log 3/10 + log 2/10)
    # = 2 log(4/3) nats, or 2 × (2 − 1) tokens.
    words = Counter({"ab": 2, "a": 5, "b": 3})
    assert _losses(words, likelihood=True)[("start", "ab")] == pytest.approx(2 * np.log(4 / 3))
    assert _losses(words, likelihood=False)[("start", "ab")] == 2
    # Where its letters are rare, the same two uses are worth more than the tokens.
    assert _losses(Counter({"ab": 2, "a": 1, "b": 1}), likelihood=True)[("start", "ab")] > 2


def test_objectives_are_checked_and_default_by_what_is_mined(sample_texts):
    assert mining._check_objective(None, paired=False) == "likelihood"
    assert mining._check_objective(None, paired=True) == "tokens"
    for objective, paired in (("likelihood", True), ("fewest", False)):
        with pytest.raises(mining.LtmcError):
            mining._check_objective(objective, paired)
    likely, report = mine(sample_texts * 2, 500)
    fewest, _ = mine(sample_texts * 2, 500, objective="tokens")
    assert report.objective == "likelihood" and likely.fingerprint != fewest.fingerprint
    text = "".join(sample_texts[:3])
    for book in (likely, fewest):
        assert book.decode(book.encode(text)) == text


def positions(book, text: str) -> int:
    return len(pairing.pair(np.array(book.encode(text)), pairing.tail_mask(book)))


def test_mining_is_deterministic_and_independent_of_text_order(sample_texts):
    forward = mine(sample_texts * 2, 700)[0]
    backward = mine(list(reversed(sample_texts * 2)), 700)[0]
    assert forward.fingerprint == mine(sample_texts * 2, 700)[0].fingerprint
    assert forward.fingerprint == backward.fingerprint


def test_forms_analysed_on_a_pool_give_the_same_codebook_and_leave_no_lexeme_cached(monkeypatch, sample_texts):
    monkeypatch.setattr(stages, "FORMS_PER_BATCH", 16)  # many batches: each must come back, once
    here = mine(sample_texts, 700)[0]
    assert morph._lexeme.cache_info().currsize == 0
    assert mine(sample_texts, 700, stage_map=LocalEngine(2).map)[0].fingerprint == here.fingerprint


def test_a_frequent_collocation_becomes_one_bond_token():
    texts = [f"Он сказал, что придёт в {n} часов. Она сказала, что не придёт.\n" for n in range(40)]
    book = mine(texts, 600)[0]
    bonds = {t.text for t in book.tokens if t.kind == "bond"}
    assert any("что" in text and "," in text for text in bonds), bonds
    ids = book.encode("Он сказал, что придёт.")
    assert any(book.kind_of(i) == "bond" for i in ids)


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


def test_without_bonds_no_run_of_pieces_takes_an_id(sample_texts):
    kinds = {}
    for bonds in (True, False):
        book, _ = mine(sample_texts * 3, 1024, bonds=bonds)
        kinds[bonds] = {book.kind_of(i) for i in range(len(book))}
    assert "bond" in kinds[True] and "bond" not in kinds[False]
    assert {"word", "stem"} <= kinds[False]  # the ids went to the other kinds


def test_a_mined_codebook_counts_the_ids_its_encoder_uses_on_its_word_forms(sample_texts):
    counts = CorpusCounts()
    for text in sample_texts * 3:
        counts.add(text)
    book, _ = mine_from_counts(counts, 700)
    # Recounted by hand: every word form mining saw, spelled alone by a copy of the
    # codebook without counts (the counts were taken before there were any), as
    # often as the form occurs.
    words, _, _ = mining._word_counts(counts, [tuple(pieces(chunk)) for chunk in counts.sample])
    plain = Codebook(book._entries, book.version)
    expected = [0] * len(book)
    for form, n in words.items():
        for token_id in plain.encode(form, joinable=False):
            expected[token_id] += n
    assert book.counts == expected
    common = max(words, key=words.get)
    assert all(book.counts[i] >= words[common] for i in plain.encode(common, joinable=False))
    assert all(book.counts[t] == 0 for t in book.special_ids.values())


def test_a_count_power_weighs_each_form_by_its_count_to_that_power_worked_by_hand():
    counts = CorpusCounts()
    counts.add("дом " * 100 + "Дом " * 44 + "кот " * 4 + "лес")
    plain, _, _ = mining._word_counts(counts, [])
    assert plain == Counter({"дом": 144, "кот": 4, "лес": 1})  # "Дом" is "дом" at a sentence start
    flattened, _, _ = mining._word_counts(counts, [], count_power=0.5)
    assert flattened == Counter({"дом": 12, "кот": 2, "лес": 1})  # 144 ** 0.5, 4 ** 0.5, never below 1


@pytest.mark.parametrize("power", [0.0, -1.0, 1.5])
def test_a_count_power_outside_0_1_is_refused(power):
    with pytest.raises(LtmcError, match="--count-power must be in"):
        mine(["слово и слово.\n"], 600, count_power=power)
