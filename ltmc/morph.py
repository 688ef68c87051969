"""Stem and ending of a word form.

pymorphy3 gives a form's lexeme, but its paradigm stem is the prefix common to the
whole lexeme, which suppletive and alternating forms shrink (красивейшего → кра|…).
We take the ending against the form's neighbours instead: the forms of the same
stem variant (the same tense, degree, voice) within the lexeme. The ending must be
one its tag allows (a closed set, by case, person, tense), and of the cuts that
leave one, we keep the one after which most neighbours also end in an inflection.

Worked example, бежали. Its neighbours are the past forms бежал, бежала, бежало,
бежали, and a past form ends in -, -а, -о or -и. Cutting after "бежал" leaves all
four an inflection, cutting after "бежали" only itself: бежал|и. For шёл the
neighbours all share "ш", but three in four go on with "л" where шёл has "ё": шёл is
an alternant of the stem шл-, so its stem runs at least to "шё", and of what is
left, "л", only the zero ending is an inflection: шёл|.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

import regex

_CYRILLIC_WORD = regex.compile(r"[\p{Cyrillic}\-]+")
# Grammemes that pick a stem variant inside one lexeme. Present, future and
# imperative share the present stem (бег-у, беж-ишь, бег-и), so they count as one.
_VARIANT_GRAMMEMES = {
    "past": "past",
    "pres": "npst",
    "futr": "npst",
    "impr": "npst",
    "Supr": "Supr",
    "Cmp2": "Cmp2",
    "actv": "actv",
    "pssv": "pssv",
}
_MIN_GROUP = 3
_MAJORITY = 0.7  # share of neighbours that must agree on a prefix
_VOWELS = frozenset("аеиоуыэюя")


def _set(*groups: str, zero: bool = True, reflexive: bool = False) -> frozenset[str]:
    endings = {e for g in groups for e in g.split()} | ({""} if zero else set())
    if reflexive:  # the postfix goes with the ending: смеял|ась, not смеяла|сь
        endings |= {e + p for e in endings for p in ("ся", "сь")}
    return frozenset(endings)


# Inflections, ё folded to е, by the grammemes that choose them: a form's ending
# must be one its tag allows, which keeps stem letters out of it (хож|у, not хожу|,
# since a 1st person has -у/-ю; музей|, not муз|ей, since -ей is no nominative).
# Reflexive verbs: the stem is the stem of the plain verb (смеял- in смеялся,
# смеялась), so the postfix -ся/-сь rides on the ending; "смеяла" as a stem would
# hold the ending "а". Invariable forms (comparatives, gerunds) give up their
# formative suffix as ending, the part that varies against their neighbours.
_NOUN_CASES = {
    "nomn": "а я о е ы и",
    "gent": "а я ы и ов ев ей",
    "datv": "у ю е и ам ям",
    "accs": "а я о е у ю ы и ов ев ей",
    "ablt": "ом ем ой ей ою ею ью ами ями ьми",
    "loct": "е и у ю ах ях",
    "voct": "а я",
}
_ADJ_CASES = {
    "nomn": "ый ий ой ая яя ое ее ые ие",
    "gent": "ого его ой ей ых их",
    "datv": "ому ему ой ей ым им",
    "accs": "ый ий ой ую юю ое ее ые ие ого его ых их",
    "ablt": "ым им ой ей ою ею ыми ими",
    "loct": "ом ем ой ей ых их",
    "voct": "",
}
_CASE_OF = {
    "gen1": "gent",
    "gen2": "gent",
    "acc2": "nomn",
    "loc1": "loct",
    "loc2": "loct",
}
_ADJ = " ".join(_ADJ_CASES.values()) + " й"  # мо|й
_SHORT = "а я о е ы и"
_PERSON = {
    ("1per", "sing"): "у ю",
    ("2per", "sing"): "ешь ишь",
    ("3per", "sing"): "ет ит",
    ("1per", "plur"): "ем им",
    ("2per", "plur"): "ете ите",
    ("3per", "plur"): "ут ют ат ят",
}
_BY_POS = {
    "ADJF": _set(_ADJ, _SHORT),
    "PRTF": _set(_ADJ, reflexive=True),
    "ADJS": _set(_SHORT),
    "PRTS": _set(_SHORT),
    "COMP": _set("ее ей е"),
    "INFN": _set("ть ти чь", zero=False, reflexive=True),
    "GRND": _set("я а в вши ши учи ючи", reflexive=True),
    "NUMR": _set(" ".join(_NOUN_CASES.values()), _ADJ, "ух ум умя ьмя"),
    "NPRO": _set(" ".join(_NOUN_CASES.values()), _ADJ),
}


@cache
def _endings(
    pos: str | None, grammemes: frozenset, adjectival: bool = False
) -> frozenset | None:
    """The endings a form with this tag can have; None for words that do not inflect."""
    if pos == "NOUN":
        case = next(
            (
                _CASE_OF.get(g, g)
                for g in grammemes
                if _CASE_OF.get(g, g) in _NOUN_CASES
            ),
            "nomn",
        )
        extra = "у ю" if "gen2" in grammemes or "loc2" in grammemes else ""
        zero = case in ("nomn", "gent", "accs", "voct")
        return _set(
            _ADJ_CASES[case] if adjectival else _NOUN_CASES[case], extra, zero=zero
        )
    if pos == "VERB":
        if "past" in grammemes:
            return _set("а о и", reflexive=True)
        if "impr" in grammemes:
            return _set("и ите те ем им емте имте", reflexive=True)
        person = next((v for (p, n), v in _PERSON.items() if {p, n} <= grammemes), "")
        return _set(person, zero=False, reflexive=True)
    return _BY_POS.get(pos)


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


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def stem_length(word: str, neighbours, endings=frozenset({""})) -> int:
    """Length of the stem of ``word`` (folded lowercase) among its ``neighbours``.

    ``neighbours`` are (form, its possible endings). The stem is the cut after which
    ``word`` and the most neighbours that share that stem end in an inflection
    (этого among это, этому, этим: эт|ого, not это|го); on a tie, the shorter stem
    (врем|я, not время| beside времени). An alternant stem holds the letter it
    alternates: where most neighbours go on with a consonant other than ``word``'s
    (ёлок among ёлк-, хожу among ход-, ров among рв-), that letter is stem too.
    """
    neighbours = list(neighbours) or [(word, endings)]
    common = [_common(word, f) for f, _ in neighbours]
    quorum = math.ceil(_MAJORITY * len(neighbours) - 1e-9)
    cut = sorted(common, reverse=True)[quorum - 1]  # the longest prefix most share
    others = Counter(
        f[cut] for (f, _), n in zip(neighbours, common) if n == cut < len(f)
    )
    alternant = any(c not in _VOWELS and n >= quorum for c, n in others.items())
    low = cut + 1 if alternant and cut < len(word) else 1

    def votes(c: int) -> int:
        return sum(1 for (f, e), n in zip(neighbours, common) if n >= c and f[c:] in e)

    valid = [c for c in range(low, len(word) + 1) if word[c:] in endings] or [len(word)]
    return max(valid, key=lambda c: (votes(c), -c))


def _variant_key(tag) -> tuple:
    return (
        str(tag.POS),
        frozenset(
            _VARIANT_GRAMMEMES[g] for g in tag.grammemes if g in _VARIANT_GRAMMEMES
        ),
    )


def _entries(forms) -> tuple:
    """(form, variant key, endings) for each (form, tag) of a lexeme or paradigm."""
    forms = list(forms)
    # A noun declines either as a noun or as an adjective (столов|ая, рабоч|его).
    adjectival = any(
        t.POS == "NOUN"
        and {"gent", "sing"} <= t.grammemes
        and f.endswith(("ого", "его", "ой", "ей"))
        for f, t in forms
    )
    return tuple(
        (f, _variant_key(t), _endings(str(t.POS), t.grammemes, adjectival))
        for f, t in forms
    )


@cache
def _paradigm(para_id: int) -> tuple:
    """(prefix, suffix, variant key, endings) for each slot of a pymorphy3 paradigm."""
    slots = _analyzer().dictionary.build_paradigm_info(para_id)
    entries = _entries(
        (_fold(s), t) for _, t, s in slots
    )  # the suffix holds any adjectival ending
    return tuple((_fold(p), s, k, e) for (p, _, _), (s, k, e) in zip(slots, entries))


@lru_cache(maxsize=1 << 15)
def _lexeme(para_id: int, stem: str) -> tuple:
    return tuple((p + stem + s, k, e) for p, s, k, e in _paradigm(para_id))


def _neighbours(lexeme, key: tuple, head: str) -> frozenset:
    """The narrowest circle of forms around ``key`` that is big enough to vote.

    Only forms that begin like the word (``head``, two letters) can share its stem;
    the others are suppletive (хороший beside лучше) or prefixed (покрасивее).
    """
    for circle in (lambda k: k == key, lambda k: k[0] == key[0], lambda k: True):
        group = frozenset((f, e) for f, k, e in lexeme if circle(k) and f[:2] == head)
        if len(group) >= _MIN_GROUP:
            break
    return group


@lru_cache(maxsize=1 << 16)
def _paradigm_neighbours(para_id: int, stem: str, key: tuple, head: str) -> frozenset:
    return _neighbours(_lexeme(para_id, stem), key, head)


def _split_russian(word: str) -> Analysis:
    lower, folded = word.lower(), _fold(word.lower())
    parse = _analyzer().parse(lower)[0]
    pos = str(parse.tag.POS)
    if (
        _endings(pos, parse.tag.grammemes) is None
    ):  # adverbs, prepositions...: no inflection
        return Analysis(
            word, parse.normal_form, "UNKN" if pos == "None" else pos, word, ""
        )
    key = _variant_key(parse.tag)
    # Parse.lexeme builds a Parse per form; the paradigm and its tags are shared by
    # thousands of words, so build only the strings, and the circles once per lexeme.
    _, fixed_word, para_id, idx = (parse.methods_stack[0] + (None,) * 4)[:4]
    if isinstance(para_id, int) and fixed_word == parse.word:
        d = _analyzer().dictionary
        stem = _fold(d.build_stem(d.paradigms[para_id], idx, fixed_word))
        lexeme = _lexeme(para_id, stem)
        group = _paradigm_neighbours(para_id, stem, key, folded[:2])
    else:
        lexeme = _entries((_fold(f.word), f.tag) for f in parse.lexeme)
        group = _neighbours(lexeme, key, folded[:2])
    endings = next((e for f, k, e in lexeme if f == folded and k == key), None)
    endings = endings or _endings(pos, parse.tag.grammemes)
    cut = stem_length(folded, group | {(folded, endings)}, endings)
    return Analysis(word, parse.normal_form, pos, word[:cut], word[cut:])


@lru_cache(maxsize=1 << 18)
def analyse(word: str) -> Analysis:
    """Split one word form. Words that are not Russian keep the whole form as stem."""
    if _CYRILLIC_WORD.fullmatch(word) and "-" not in word.strip("-"):
        return _split_russian(word)
    return Analysis(word, word.lower(), "LATN" if word.isascii() else "UNKN", word, "")


def analyse_each(words: Iterable[str]) -> Iterator[Analysis]:
    """``analyse`` for a pass over distinct forms, as ``ltmc morph`` and mining make:
    no form is kept (each comes once), but the lexemes they share are, within their
    caches' bounds, until ``forget_lexemes``."""
    for word in words:
        yield analyse.__wrapped__(word)


def forget_lexemes() -> None:
    """Empty the caches of lexemes (the small one of paradigms stays). After the 174k
    forms of ru/'s mining part they held 500 MiB that mining needs for pruning."""
    _lexeme.cache_clear()
    _paradigm_neighbours.cache_clear()
