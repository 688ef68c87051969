"""The rules a codebook's format version implies between tokens: each token's role
(start, continuation, literal or marker) and what its text implies after it (a
space? a capital?). ``ltmc.codebook``'s module doc explains them; the decoders
(``fastpath.decode_run`` and ``decode_variant`` in ``ltmc/csrc/fastpath.h``) apply
them through the tables the codebook builds from these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ltmc.fastpath import CLEAR, CONT, KEEP, LITERAL, MARKER, SET, START

KINDS = ("byte", "special", "word", "stem", "ending", "suffix", "bond", "punct", "space")
STRING_KINDS = frozenset(KINDS) - {"byte", "special"}
START_KINDS = frozenset({"word", "stem", "bond"})
CONT_KINDS = frozenset({"ending", "suffix"})
SENTENCE_END = frozenset(".!?…")
CLOSERS = "»)]}\"”’'"
LINE_BREAKS = "\n\r"
DASHES = "-–—"


@dataclass(frozen=True)
class Rules:
    """What a codebook's format version implies between tokens."""

    space_after: frozenset[str]  # running text puts a space after these
    # Version 1 read a token's effect on the capital off its text as a whole, so
    # "\nОн" set a sentence start after the word, and any line break set one.
    # Version 2 lets the last thing in the text decide, and a line break followed
    # by indentation does not start a sentence: hard-wrapped prose indents its
    # lines and goes on in lower case (on ru/, 91% of 15k such words), while a
    # bare line break, as in verse, is mostly followed by a capital.
    last_decides: bool


# Version 2's set follows what running text does after each mark (ru/, word next):
# " - " as a dash 35k times against 1k hyphens glued to a word, and an ASCII
# quote opens far more often (4.9k glued) than it closes before a word (1k).
RULES = {
    1: Rules(frozenset(",.;:!?…»)]}—–\"”"), last_decides=False),
    2: Rules(frozenset(",.;:!?…»)]}—–”-*>№\u0300\u0301"), last_decides=True),
}
RULES[3] = RULES[2]  # version 3 adds special tokens, not rules
RULES[4] = RULES[3]  # version 4 adds counts, which break the encoder's ties (ltmc.codebook_file)
_ALNUM = re.compile(r"[^\W_]")  # str.isalnum, as a regex


def roles(entries: Iterable[tuple[str, str]]) -> list[int]:
    """The role of each (kind, text) entry (see the module doc)."""
    out = []
    for kind, text in entries:
        if kind == "special":
            out.append(MARKER)
        elif kind in CONT_KINDS:
            out.append(CONT)
        elif kind in START_KINDS and text[:1].isalnum():
            out.append(START)
        else:  # bytes, punctuation, whitespace, and bonds that begin with neither
            out.append(LITERAL)
    return out


def role_of(kind: str, text: str) -> int:
    return roles(((kind, text),))[0]


def effects(texts: Iterable[str], rules: Rules) -> list[tuple[bool, int]]:
    """``_effects`` of each text. This runs over every id at every start-up, which no
    number of workers shares: one call for all, and most texts end in a letter or
    digit, which under version 2's rules settles both at once."""
    settled_by_letter = rules.last_decides
    return [(True, CLEAR) if settled_by_letter and text[-1].isalnum() else _effects(text, rules) for text in texts]


def _effects(text: str, rules: Rules) -> tuple[bool, int]:
    """(is a space implied after this text, what it does to sentence-start state)."""
    last = text[-1]
    space_after = last.isalnum() or last in rules.space_after
    if rules.last_decides:
        return space_after, _last_effect(text)
    stripped = text.rstrip(" " + CLOSERS)
    ends_sentence = bool(stripped) and stripped[-1] in SENTENCE_END
    if "\n" in text or "\r" in text or ends_sentence:
        return space_after, SET
    if _ALNUM.search(text):
        return space_after, CLEAR
    return space_after, KEEP


def _last_effect(text: str) -> int:
    """The effect of the last character that has one: a letter or digit ends a
    sentence start, a sentence end or a line break begins one, except "!" or "?"
    before a dash (on ru/, 4% of 10.5k such words are capitalised); commas,
    quotes, spaces and the like keep the state. A line break that indentation follows to
    the end of the text decides nothing: it is a wrapped line's."""
    body = text.rstrip(" \t")
    if len(body) < len(text) and body.endswith(tuple(LINE_BREAKS)):
        body = body[:-2] if body.endswith("\r\n") else body[:-1]
    dash = False
    for char in reversed(body):
        if char.isalnum():
            return CLEAR
        if char in "!?" and dash:  # "– Куда? – спросил он": the question's speaker goes on
            return CLEAR
        if char in SENTENCE_END or char in LINE_BREAKS:
            return SET
        dash = dash or char in DASHES
    return KEEP
