"""Stem|ending splits checked against a hand analysis."""

from collections import Counter
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from ltmc import morph
from ltmc.morph import analyse, analyse_each, forget_lexemes

# Worked out by hand: the ending is the inflection only; past -л-, participle and
# comparative suffixes stay in the stem, as do alternating and fleeting letters.
HAND = """
стол|  стол|а  стол|ами  Москв|е  книг|у  окн|о  окон|  отец|  отц|а  день|  дн|я
ёлк|а  елк|и  ёлок|  сестёр|  люд|ей  люд|ьми  врем|я  времен|и  здани|е  музей|
столов|ая  рабоч|его
красив|ый  красив|а  красив|ее  красивейш|его  хорош|его  син|ий  лучш|е  мо|его
чита|ю  чита|ет  ид|ём  хож|у  ход|ит  виж|у  бег|и  бег|ут  чита|ть  ид|ти
бежал|и  читал|а  шёл|  шл|и  пошёл|  пошл|а  смеял|ась  смеял|ся  сме|юсь
читающ|его  сделанн|ого  сделан|а  чита|я  верну|вшись
"""
CASES = [w.split("|") for w in HAND.split()]


@pytest.mark.parametrize("stem,ending", CASES, ids=["|".join(c) for c in CASES])
def test_hand_split(stem, ending):
    a = analyse(stem + ending)
    assert (a.stem, a.ending) == (stem, ending)


def test_invariable_and_foreign_words_are_all_stem():
    for word in ("красиво", "потому", "и", "London", "café", "2024", "кто-то"):
        assert analyse(word).ending == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_lossless(word):
    a = analyse(word)
    assert a.stem + a.ending == word


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcxyzABC-'é"), min_size=1, max_size=10))
def test_non_russian_is_all_stem(word):
    assert analyse(word).stem == word


CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
# Russian inflections (ё as е), written out independently of ltmc.morph's tables.
_BASE = [
    "а",
    "я",
    "о",
    "е",
    "ы",
    "и",
    "у",
    "ю",
    "ой",
    "ей",
    "ою",
    "ею",
    "ом",
    "ем",
    "ам",
    "ям",
    "ами",
    "ями",
    "ах",
    "ях",
    "ов",
    "ев",
    "ью",
    "ьми",
    "ый",
    "ий",
    "ая",
    "яя",
    "ое",
    "ее",
    "ого",
    "его",
    "ому",
    "ему",
    "ую",
    "юю",
    "ым",
    "им",
    "ые",
    "ие",
    "ых",
    "их",
    "ыми",
    "ими",
    "ешь",
    "ишь",
    "ет",
    "ит",
    "ете",
    "ите",
    "ут",
    "ют",
    "ат",
    "ят",
    "ть",
    "ти",
    "чь",
]
INFLECTIONS = {""} | {e + p for e in [""] + _BASE for p in ("", "ся", "сь")}


def _share_of_inflections(files, top=2000):
    counts = Counter()
    for path in files:
        counts.update(
            regex.findall(r"\p{Cyrillic}+", path.read_text(encoding="utf-8").lower())
        )
    inflected = [
        a
        for a in (analyse(w) for w, _ in counts.most_common(6 * top))
        if a.pos in {"NOUN", "ADJF", "ADJS", "VERB", "PRTF", "PRTS", "INFN"}
    ][:top]
    return sum(1 for a in inflected if _fold(a.ending) in INFLECTIONS) / len(
        inflected
    ), inflected


def _fold(s):
    return s.replace("ё", "е")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="no shared corpus")
def test_endings_on_real_text_form_a_closed_set():
    files = sorted((CORPUS / "ru" / "prose").glob("*/*.txt"))[:80]
    if not files:
        pytest.skip("no prose files")
    share, inflected = _share_of_inflections(files)
    assert len(INFLECTIONS) <= 300
    assert share >= 0.9, share
    assert all(a.stem for a in inflected)


def test_analyse_each_splits_as_analyse_does_keeping_no_form_and_forget_lexemes_empties_the_rest():
    words = ["бежали", "шёл", "красивейшего", "столовая", "вдруг", "hello"]
    analyse.cache_clear()
    each = list(analyse_each(words))
    assert analyse.cache_info().currsize == 0
    assert morph._lexeme.cache_info().currsize > 0
    forget_lexemes()
    assert morph._lexeme.cache_info().currsize == morph._paradigm_neighbours.cache_info().currsize == 0
    assert each == [analyse(word) for word in words]
