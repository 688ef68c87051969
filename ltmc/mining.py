"""Learn a codebook from a corpus under a vocabulary budget.

Every candidate unit is scored by the tokens it saves on the corpus, given the
units already chosen, and the best is taken until the budget is spent (a lazy
greedy, as BPE takes merges). Candidates:

- whole word forms (" сказал"), numbers, punctuation and whitespace runs;
- stems (" сказа") followed by a closed set of endings ("л", "ла", "ть"), so that
  a rare form of a known stem costs two tokens, not a spelling out;
- hyperbonds: runs of two or three pieces (" и не", ", что") that save
  count × (tokens of the parts − 1).

Counting is bounded: n-gram tables are pruned of their rarest entries whenever
they grow past a cap, so memory does not grow with the corpus.
"""

from __future__ import annotations

import heapq
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ltmc.codebook import FIRST_FREE_ID, Codebook
from ltmc.morph import analyse
from ltmc.pretokenize import is_word_piece, pieces

MIN_COUNT = 2  # a unit seen once saves nothing on the corpus it was mined from
MORPH_FORMS = 40_000  # analyse this many most frequent forms; rarer ones keep whole
MAX_NGRAMS = 2_000_000  # prune bigram/trigram tables beyond this many entries
MAX_ENDING_SHARE = 0.03  # of the budget


@dataclass
class MiningReport:
    vocab_size: int
    budget: int
    filled: bool
    kinds: Counter = field(default_factory=Counter)


class CorpusCounts:
    """Piece, bigram and trigram counts, accumulated text by text."""

    def __init__(self) -> None:
        self.pieces: Counter[str] = Counter()
        self.ngrams: Counter[tuple[str, ...]] = Counter()
        self.chars: Counter[str] = Counter()

    def add(self, text: str) -> None:
        parts = pieces(text)
        self.pieces.update(parts)
        self.chars.update(text)
        # A bond never spans a line break: collocations live inside a line.
        for line in _split_at_newlines(parts):
            self.ngrams.update(zip(line, line[1:]))
            self.ngrams.update(zip(line, line[1:], line[2:]))
        if len(self.ngrams) > MAX_NGRAMS:
            self._prune()

    def _prune(self) -> None:
        keep = self.ngrams.most_common(MAX_NGRAMS // 2)
        self.ngrams = Counter(dict(keep))


def _split_at_newlines(parts: list[str]) -> Iterable[list[str]]:
    line: list[str] = []
    for piece in parts:
        if "\n" in piece or "\r" in piece:
            if len(line) > 1:
                yield line
            line = []
        else:
            line.append(piece)
    if len(line) > 1:
        yield line


def _kind_of_piece(piece: str) -> str:
    if piece.isspace():
        return "space"
    if is_word_piece(piece):
        return "word"
    if any(c.isalnum() for c in piece):
        return "word"
    return "punct"


def _char_kind(char: str) -> str:
    if char.isspace():
        return "space"
    return "stem" if unicodedata.category(char)[0] in "LMN" else "punct"


class _Planner:
    """Tracks the chosen units and prices a piece under them."""

    def __init__(self, counts: CorpusCounts) -> None:
        self.counts = counts
        self.chosen: set[str] = set()
        self.stems: dict[str, tuple[str, str]] = {}  # piece → (stem, ending)
        self.endings: set[str] = set()

    def cost(self, piece: str) -> int:
        """Tokens ``piece`` takes under the chosen units (stem + ending, or letters)."""
        if piece in self.chosen:
            return 1
        split = self.stems.get(piece)
        if split and split[0] in self.chosen and (not split[1] or split[1] in self.endings):
            return 1 + bool(split[1])
        return len(piece)


def mine(texts: Iterable[str], vocab_size: int, progress=None) -> tuple[Codebook, MiningReport]:
    counts = CorpusCounts()
    for text in texts:
        counts.add(text)
        if progress:
            progress(len(text))
    return mine_from_counts(counts, vocab_size)


def mine_from_counts(counts: CorpusCounts, vocab_size: int) -> tuple[Codebook, MiningReport]:
    budget = vocab_size - FIRST_FREE_ID
    if budget < 0:
        raise ValueError(f"vocab size must be at least {FIRST_FREE_ID}")
    entries: list[tuple[str, str]] = []
    planner = _Planner(counts)

    # Characters first: with them, no common text falls back to bytes.
    for char, n in counts.chars.most_common():
        if len(entries) >= budget // 8 or n < MIN_COUNT:
            break
        if not 0xD800 <= ord(char) <= 0xDFFF:
            entries.append((_char_kind(char), char))
            planner.chosen.add(char)

    # Endings: a closed set, weighted by the forms that carry them.
    ending_weight: Counter[str] = Counter()
    for piece, n in counts.pieces.most_common(MORPH_FORMS):
        if is_word_piece(piece):
            lead = " " if piece.startswith(" ") else ""
            analysis = analyse(piece.lstrip(" "))
            planner.stems[piece] = (lead + analysis.stem, analysis.ending)
            if analysis.ending:
                ending_weight[analysis.ending] += n
    for ending, n in ending_weight.most_common(int(budget * MAX_ENDING_SHARE)):
        if n >= MIN_COUNT and len(entries) < budget and ending not in planner.chosen:
            entries.append(("ending", ending))
            planner.endings.add(ending)
            planner.chosen.add(ending)

    forms_of_stem: dict[str, list[str]] = {}
    for piece, (stem, ending) in planner.stems.items():
        if ending:
            forms_of_stem.setdefault(stem, []).append(piece)

    def gain(unit: str, kind: str) -> int:
        if kind == "stem":
            return sum(
                counts.pieces[f] * (planner.cost(f) - 2)
                for f in forms_of_stem[unit]
                if f not in planner.chosen and planner.stems[f][1] in planner.endings
            )
        if kind == "bond":
            parts = bond_parts[unit]
            return counts.ngrams[parts] * (sum(planner.cost(p) for p in parts) - 1)
        return counts.pieces[unit] * (planner.cost(unit) - 1)

    bond_parts: dict[str, tuple[str, ...]] = {}
    candidates: list[tuple[int, str, str]] = []
    for piece, n in counts.pieces.items():
        if n >= MIN_COUNT and len(piece) > 1:
            candidates.append((-gain(piece, "piece"), piece, "piece"))
    for stem in forms_of_stem:
        if stem not in planner.chosen:
            candidates.append((-gain(stem, "stem"), stem, "stem"))
    for parts, n in counts.ngrams.items():
        if n >= MIN_COUNT:
            text = "".join(parts)
            if tuple(pieces(text)) == parts:  # the encoder will meet it as these pieces
                bond_parts[text] = parts
                candidates.append((-gain(text, "bond"), text, "bond"))
    heapq.heapify(candidates)

    while candidates and len(entries) < budget:
        neg, unit, kind = heapq.heappop(candidates)
        if unit in planner.chosen:
            continue
        current = gain(unit, kind)
        if current <= 0:
            continue
        if candidates and current < -candidates[0][0]:
            heapq.heappush(candidates, (-current, unit, kind))  # stale: price it again later
            continue
        planner.chosen.add(unit)
        entries.append((_kind_of_piece(unit) if kind == "piece" else kind, unit))

    book = Codebook.from_entries(entries)
    report = MiningReport(len(book), vocab_size, filled=len(book) == vocab_size)
    report.kinds.update(t.kind for t in book.tokens)
    return book, report
