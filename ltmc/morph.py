"""Stem and ending of a word form.

pymorphy3 gives a form's lexeme, but its paradigm stem is the prefix common to the
whole lexeme, which suppletive and alternating forms shrink (красивейшего → кра|…).
We take the ending against the form's neighbours instead: the forms of the same
stem variant (the same tense, degree, voice) within the lexeme.

Worked example, бежали. Its neighbours are the past forms бежал, бежала, бежало,
бежали; all of them share "бежал", so бежал|и. For шёл the neighbours шёл, шла,
шло, шли all share "ш", but three in four go on with "л" where шёл has "ё": шёл is
an alternant of the stem шл-, with a zero ending, шёл|.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

_CYRILLIC_WORD = regex.compile(r"[\p{Cyrillic}\-]+")
# Grammemes that pick a stem variant inside one lexeme.
_VARIANT_GRAMMEMES = frozenset({"past", "pres", "futr", "impr", "Supr", "Cmp2", "actv", "pssv"})
_MIN_GROUP = 3
_MAJORITY = 0.7  # share of neighbours that must agree on a prefix


@dataclass(frozen=True, slots=True)
class Analysis:
    form: str
    lemma: str
    pos: str
    stem: str
    ending: str


@lru_cache(maxsize=1)
def _analyzer():
    import pymorphy3  # loading the dictionaries takes ~0.5 s; do it only when needed

    return pymorphy3.MorphAnalyzer()


def _fold(word: str) -> str:
    return word.replace("ё", "е")


def _share(prefix: str, forms: list[str]) -> float:
    return sum(1 for f in forms if f.startswith(prefix)) / len(forms)


def stem_length(word: str, neighbours: list[str]) -> int:
    """Length of the stem of ``word`` (folded lowercase) among its ``neighbours``.

    The stem is the longest prefix of ``word`` that most neighbours share. If most of
    them go on past it with a letter other than ``word``'s, ``word`` is an alternant
    (ёлок among ёлк-, шёл among шл-) whose whole form is the stem.
    """
    forms = neighbours or [word]
    cut = 0
    while cut < len(word) and _share(word[: cut + 1], forms) >= _MAJORITY:
        cut += 1
    if cut < len(word):
        siblings = {f[: cut + 1] for f in forms if len(f) > cut and f[cut] != word[cut]}
        if any(_share(s, forms) >= _MAJORITY for s in siblings):
            return len(word)
    return cut


def _variant_key(tag) -> tuple:
    return (tag.POS, frozenset(tag.grammemes & _VARIANT_GRAMMEMES))


def _split_russian(word: str) -> Analysis:
    lower = word.lower()
    parse = _analyzer().parse(lower)[0]
    key = _variant_key(parse.tag)
    lexeme = [(_fold(f.word), f.tag) for f in parse.lexeme]
    folded = _fold(lower)
    # Ask the narrowest circle of neighbours that is big enough to vote.
    for same_circle in (lambda tag: _variant_key(tag) == key, lambda tag: tag.POS == parse.tag.POS):
        group = {f for f, tag in lexeme if same_circle(tag) and f[:2] == folded[:2]}
        if len(group) >= _MIN_GROUP:
            break
    else:
        group = {f for f, _ in lexeme if f[:2] == folded[:2]} | {folded}
    cut = stem_length(folded, sorted(group))
    return Analysis(word, parse.normal_form, str(parse.tag.POS or "UNKN"), word[:cut], word[cut:])


@lru_cache(maxsize=1 << 18)
def analyse(word: str) -> Analysis:
    """Split one word form. Words that are not Russian keep the whole form as stem."""
    if _CYRILLIC_WORD.fullmatch(word) and "-" not in word.strip("-"):
        return _split_russian(word)
    return Analysis(word, word.lower(), "LATN" if word.isascii() else "UNKN", word, "")
