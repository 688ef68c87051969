"""Cut text into pieces: the units that the codebook segments and that bonds join.

A word keeps the single space before it (" слово"), as byte-level BPE does, so the
common case of one space between words costs no token of its own. A longer run
of whitespace is a piece of its own, whole: no space is implied after whitespace,
so a space left to the next word, as BPE's pretokenizers leave it, would cost a
token of its own.
"""

from __future__ import annotations

import regex

_LETTERS = r"\p{L}[\p{L}\p{M}]*"
PIECE_PATTERN = regex.compile(
    rf" ?{_LETTERS}(?:[-'’]{_LETTERS})*"  # words, with inner hyphens: "кто-то", "don't"
    r"| ?\p{N}{1,3}"  # numbers in groups of up to three digits
    r"| ?[^\s\p{L}\p{N}]+"  # runs of punctuation and symbols
    r"|\s+",  # other whitespace
    regex.V0,
)

WORD_PATTERN = regex.compile(rf"{_LETTERS}(?:[-'’]{_LETTERS})*")


def pieces(text: str) -> list[str]:
    """Split ``text`` into pieces whose concatenation is ``text``."""
    return PIECE_PATTERN.findall(text)


def is_word_piece(piece: str) -> bool:
    return WORD_PATTERN.fullmatch(piece.lstrip(" ")) is not None


def count_words(text: str) -> int:
    return len(WORD_PATTERN.findall(text))
