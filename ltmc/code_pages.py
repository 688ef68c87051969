"""Which Cyrillic code page a file that is not UTF-8 was written in, if any: each
page's bytes scored as letters of Russian text (``sources.sniff`` asks)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CYRILLIC_PAGES = ("cp1251", "koi8-r", "cp866")


@dataclass(frozen=True, slots=True)
class Guess:
    encoding: str
    doubt: str | None  # None when the guess is clear


# Letters per thousand in Russian prose; the code pages differ in where they put
# lower and upper case, and common text is mostly lower case: that tells them apart.
_RUSSIAN = dict(zip(
    "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
    (110, 85, 80, 74, 67, 63, 55, 47, 45, 44, 35, 32, 30, 28, 26, 20, 19, 17, 17, 16, 16, 14, 12, 10, 9, 7, 6, 5, 4, 3, 2, 1, 1),
))
_UPPER_SHARE = 0.05  # a capital costs this much more than its small letter
_OTHER = 1e-5  # a byte that is no letter in the page (box drawing, symbols)
_LETTER_SHARE = 0.8  # of the high bytes, at least this many must be letters in the page
_CLEAR_MARGIN = 0.5  # nats per high byte between the best page and the next
# Russian text scores about -3.2 nats per letter, mostly small letters; one read in the
# wrong page, or text that is not Russian, mostly capitals: -6.5 and below.
_PLAUSIBLE = -6.0
_ENOUGH_LETTERS = 64


def _page_scores() -> dict[str, np.ndarray]:
    """Per code page, the log-likelihood of each byte as a character of Russian text
    (NaN for a byte the page does not define)."""
    total = sum(_RUSSIAN.values())
    scores = {}
    for page in CYRILLIC_PAGES:
        row = np.full(256, np.nan)
        for byte in range(0x80, 0x100):
            try:
                char = bytes([byte]).decode(page)
            except UnicodeDecodeError:
                continue
            small = char.lower()
            p = _RUSSIAN.get(small, 0) / total * (1 if char == small else _UPPER_SHARE)
            row[byte] = math.log(p) if p else math.log(_OTHER)
        scores[page] = row
    return scores


_SCORES = _page_scores()


def guess_cyrillic(counts: np.ndarray) -> Guess | None:
    """The code page in which bytes with these ``counts`` (a 256-long histogram) read
    best as Russian, or None when none of them reads as letters."""
    high = counts[0x80:]
    n_high = int(high.sum())
    if not n_high:
        return None
    ranked = []
    for page, row in _SCORES.items():
        scores = row[0x80:]
        if np.any(high[np.isnan(scores)]):
            continue  # a byte this page does not define
        letters = int(high[scores > math.log(_OTHER)].sum())
        if letters < _LETTER_SHARE * n_high:
            continue
        ranked.append((float(np.nansum(high * scores)) / n_high, page, letters))
    if not ranked:
        return None
    ranked.sort(reverse=True)
    best, page, letters = ranked[0]
    if best < _PLAUSIBLE:
        return None
    if letters < _ENOUGH_LETTERS:
        return Guess(page, f"only {letters} letters to tell Cyrillic code pages apart")
    if len(ranked) > 1 and best - ranked[1][0] < _CLEAR_MARGIN:
        return Guess(page, f"it reads almost as well as {ranked[1][1]}")
    return Guess(page, None)
