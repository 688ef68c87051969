"""Learn a codebook from a corpus under a vocabulary budget.

1. Count pieces, and runs of two to four pieces (n-grams), a few lines at a
   time so that a run may span a line break. Words are counted without their
   leading space and, where the lower-case spelling also occurs, without a
   sentence-initial capital: the codebook implies both. Keep a sample of these
   chunks of lines, chosen by their hash.
2. Gather candidates: every character; punctuation and whitespace runs; word
   forms, their stems (pymorphy3) and prefixes as start tokens; endings and
   word-final and inner pieces as continuation tokens (prefixes and pieces
   only if they occur at least 1.5 times per id of the budget); hyperbonds.
3. Prune by Viterbi counts, as a unigram tokenizer is trained: segment every
   word form with the fewest tokens, and price each token by what losing it
   would cost: uses × (tokens of its best spelling without it − 1). Drop the
   cheapest part and repeat until the budget is met. A hyperbond is priced the
   same way, with its uses found as the encoder finds them: the sampled chunks
   are covered by pieces and bonds, the longest bond first, left to right, and
   a bond's count is scaled by the share of its sampled occurrences that the
   cover takes.

Counting is bounded: the n-gram table is pruned of its rarest entries whenever
it grows past a cap, and the sample is thinned whenever it does, so memory does
not grow with the corpus.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

from ltmc.codebook import FIRST_FREE_ID, MAX_TOKEN_CHARS, Codebook, unique_entries
from ltmc.morph import analyse
from ltmc.pretokenize import pieces

MIN_COUNT = 2  # a unit seen once saves nothing on the corpus it was mined from
MORPH_FORMS = 10_000  # analyse this many most frequent forms for stems and endings
MAX_NGRAMS = 2_000_000  # prune the n-gram table beyond this many entries
PREFIX_CHARS = range(2, 9)
INNER_CHARS = range(2, 6)
# Word-final pieces may be longer: suffix and ending together ("ившись",
# "ельного"). Up to 8 saves 0.3% of tokens at 32768 ids; longer inner pieces
# do not help.
FINAL_CHARS = range(INNER_CHARS.stop, 9)
# Prefixes and inner pieces rarer than this many word occurrences per id of the
# budget are not candidates: they rarely pay for their id, and where they do on
# the mining corpus they tend to be one author's names (measured: 1–1.5 is best).
PIECE_MIN_SHARE = 1.5
MIN_PIECE_COUNT = 20  # and never rarer than this
SHRINK = 0.6  # share of the surplus candidates dropped per pruning round
CHUNK_LINES = 8  # lines counted and sampled together
MAX_BOND_PIECES = 4  # 5 saves ~0.2% more tokens for ~45% more counting time
SAMPLE_CHARS = 4_000_000  # text kept to price bonds by where the encoder would use them


@dataclass
class MiningReport:
    vocab_size: int
    budget: int
    filled: bool
    kinds: Counter = field(default_factory=Counter)


class CorpusCounts:
    """Piece and n-gram counts, and a sample of chunks of lines, accumulated text by text.

    The sample keeps the chunks whose hash falls under a threshold that halves
    whenever the sample outgrows SAMPLE_CHARS, so it is the same whatever the
    order of the texts, and bounded.
    """

    def __init__(self) -> None:
        self.pieces: Counter[str] = Counter()
        self.ngrams: Counter[tuple[str, ...]] = Counter()
        self.sample: list[str] = []
        self.sample_chars = 0
        self._sample_bits = 0  # a chunk is sampled when this many leading bits of its hash are zero

    def add(self, text: str) -> None:
        # A few lines at a time: bonds may span a line break (".\n—"), and a
        # sampled chunk holds the lines on both sides of one.
        lines = text.splitlines(keepends=True)
        for begin in range(0, len(lines), CHUNK_LINES):
            chunk = "".join(lines[begin : begin + CHUNK_LINES])
            parts = pieces(chunk)
            self.pieces.update(parts)
            for size in range(2, MAX_BOND_PIECES + 1):
                self.ngrams.update(zip(*(parts[k:] for k in range(size))))
            if _chunk_hash(chunk) >> (32 - self._sample_bits) == 0:
                self.sample.append(chunk)
                self.sample_chars += len(chunk)
        while self.sample_chars > SAMPLE_CHARS:
            self._sample_bits += 1
            self.sample = [chunk for chunk in self.sample if _chunk_hash(chunk) >> (32 - self._sample_bits) == 0]
            self.sample_chars = sum(map(len, self.sample))
        if len(self.ngrams) > MAX_NGRAMS:
            self.ngrams = _without_rarest(self.ngrams, MAX_NGRAMS // 2)


def _without_rarest(counts: Counter, keep: int) -> Counter:
    """At most ``keep`` entries: those seen once go first, then twice, and so on.
    The cut is read off a histogram of the counts, then made in one pass: 4x
    faster on ru/ than sorting millions of entries, and no more memory."""
    histogram = Counter(counts.values())
    floor, left = 0, len(counts)
    while left > keep:
        floor += 1
        left -= histogram[floor]
    return Counter({key: n for key, n in counts.items() if n > floor})


def _chunk_hash(chunk: str) -> int:
    return zlib.crc32(chunk.encode("utf-8", "surrogateescape"))


def _core(piece: str) -> str:
    """A word piece without the single space the codebook implies."""
    return piece[1:] if piece[:1] == " " and piece[1:2].isalnum() else piece


def _storable(text: str) -> bool:
    """Stray bytes (surrogate escapes) stay bytes: a token's text must be valid Unicode."""
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _by_count(counter: Counter) -> list:
    """Most frequent first, ties in a fixed order: what is mined must not depend on
    the order the texts came in."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _literal_kind(text: str) -> str:
    return "space" if text.isspace() else "punct"


class _Segmenter:
    """Fewest-token segmentation of word forms over a candidate set."""

    def __init__(self, start: set[str], cont: set[str]) -> None:
        self.start, self.cont = start, cont

    def segment(self, word: str, without: str | None = None, first: set[str] | None = None) -> list[str]:
        """Units of ``word``: one from ``first`` (the start units), then continuations."""
        first = self.start if first is None else first
        n = len(word)
        inf = 4 * n + 4
        cost = [inf] * (n + 1)
        back = [("", 0)] * (n + 1)
        for end in range(1, min(n, MAX_TOKEN_CHARS) + 1):
            unit = word[:end]
            if unit in first and unit != without:
                cost[end], back[end] = 1, (unit, 0)
        for end in range(2, n + 1):
            for begin in range(max(1, end - MAX_TOKEN_CHARS), end):
                if cost[begin] + 1 < cost[end]:
                    unit = word[begin:end]
                    if unit in self.cont and unit != without:
                        cost[end], back[end] = cost[begin] + 1, (unit, begin)
            if cost[end] >= inf:  # a character outside the candidates: spelled in bytes
                cost[end], back[end] = cost[end - 1] + 2, (word[end - 1], end - 1)
        out = []
        end = n
        while end:
            unit, end = back[end]
            out.append(unit)
        return out[::-1]


class _PieceCost(dict):
    """Tokens of a piece on its own under the current candidates, computed on first use."""

    def __init__(self, split: dict[str, list[str]], form_of: dict[str, str], literal_cost) -> None:
        super().__init__()
        self.split, self.form_of, self.literal_cost = split, form_of, literal_cost

    def __missing__(self, piece: str) -> int:
        core = _core(piece)
        if core[:1].isalnum():
            cost = len(self.split[self.form_of.get(core, core)])
        else:
            cost = self.literal_cost(piece)
        self[piece] = cost
        return cost


class _BondCover:
    """Where the encoder would use each bond: its cover of the sample.

    Bonds overlap (", что" inside ", что он"), so a bond's count overstates what it
    saves. As the encoder does, each sampled chunk is covered left to right by the
    longest bond that starts at each piece, or the piece alone; a bond's uses are
    the places that cover takes it, and what it saves at each is the tokens of the
    cover of its own pieces without it, less one.
    """

    def __init__(self, sample: list[str], pool: dict[str, int], bond_text) -> None:
        # Runs of pieces that bonds may join, each with the bonds starting at each position.
        self.runs: list[tuple[tuple[str, ...], dict[int, list[tuple[int, str]]]]] = []
        self.inner: dict[str, tuple[tuple[str, ...], dict[int, list[tuple[int, str]]]]] = {}
        self.seen: Counter[str] = Counter()  # occurrences of each bond in the sample
        for chunk in sample:
            parts = tuple(pieces(chunk))
            spans = self._spans(parts, pool, bond_text)
            self.seen.update(text for found in spans.values() for _, text in found)
            self.runs.extend(self._runs(parts, spans))
            for begin, found in spans.items():
                for step, text in found:
                    if text not in self.inner:
                        own = parts[begin : begin + step]
                        inner = self._spans(own, pool, bond_text)
                        inner[0] = [(k, t) for k, t in inner[0] if k < step]
                        self.inner[text] = (own, inner)

    @staticmethod
    def _spans(parts, pool, bond_text) -> dict[int, list[tuple[int, str]]]:
        spans: dict[int, list[tuple[int, str]]] = {}
        for begin in range(len(parts) - 1):
            for step in range(min(MAX_BOND_PIECES, len(parts) - begin), 1, -1):
                text = bond_text(parts[begin : begin + step])
                if text in pool:
                    spans.setdefault(begin, []).append((step, text))
        return spans

    @staticmethod
    def _runs(parts, spans):
        """Cut a chunk where no bond crosses: the cover of each run is independent."""
        reach = begin = 0
        for i in range(len(parts) + 1):
            if i == reach and i > begin:
                if any(b in spans for b in range(begin, i)):
                    yield parts[begin:i], {b - begin: spans[b] for b in range(begin, i) if b in spans}
                begin = i
            if i < len(parts):
                reach = max(reach, i + 1, *(i + step for step, _ in spans.get(i, ())))

    @staticmethod
    def _cover(parts, spans, pool, piece_cost) -> tuple[int, list[str]]:
        """Tokens for ``parts`` and the bonds used, matched as the encoder matches them:
        left to right, the longest bond in ``pool`` that starts at each piece."""
        cost, used = 0, []
        i, n = 0, len(parts)
        while i < n:
            for step, text in spans.get(i, ()):  # longest first
                if text in pool:
                    cost += 1
                    used.append(text)
                    i += step
                    break
            else:
                cost += piece_cost[parts[i]]
                i += 1
        return cost, used

    def savings(self, pool: dict[str, int], piece_cost) -> dict[str, float]:
        """bond → tokens it saves on the corpus: its count × the share of its sampled
        occurrences that the cover takes × (tokens of its pieces without it − 1)."""
        uses: Counter[str] = Counter()
        for parts, spans in self.runs:
            uses.update(self._cover(parts, spans, pool, piece_cost)[1])
        out = {}
        for text, count in pool.items():
            if uses[text]:
                own, inner = self.inner[text]
                out[text] = count * uses[text] / self.seen[text] * (self._cover(own, inner, pool, piece_cost)[0] - 1)
            else:
                out[text] = 0
        return out


def mine(texts: Iterable[str], vocab_size: int, progress=None) -> tuple[Codebook, MiningReport]:
    counts = CorpusCounts()
    for text in texts:
        counts.add(text)
        if progress:
            progress(len(text.encode("utf-8", "surrogateescape")))
    return mine_from_counts(counts, vocab_size)


def _word_counts(counts: CorpusCounts) -> tuple[Counter, Counter, dict[str, str]]:
    """Word forms as the codebook sees them, literal pieces, and piece → form."""
    words: Counter[str] = Counter()
    literals: Counter[str] = Counter()
    for piece, n in counts.pieces.items():
        core = _core(piece)
        if core[:1].isalnum():
            words[core] += n
        elif _storable(piece):
            literals[piece] += n
    form_of = {}
    for word in list(words):
        lower = word[:1].lower() + word[1:]
        if lower != word and lower in words:
            form_of[word] = lower
    for word, lower in form_of.items():
        words[lower] += words.pop(word)
    return words, literals, form_of


def mine_from_counts(counts: CorpusCounts, vocab_size: int) -> tuple[Codebook, MiningReport]:
    budget = vocab_size - FIRST_FREE_ID
    if budget < 0:
        raise ValueError(f"vocab size must be at least {FIRST_FREE_ID}")
    words, literals, form_of = _word_counts(counts)

    # Characters are always kept: with them no common text falls back to bytes.
    chars: Counter[str] = Counter()
    for word, n in words.items():
        for char in word:
            chars[char] += n
    for piece, n in literals.items():
        for char in piece:
            chars[char] += n
    fixed: list[tuple[str, str]] = []
    rarer_chars: list[tuple[str, str]] = []  # past a quarter of the budget: only if ids are left over
    for char, n in _by_count(chars):
        if n < MIN_COUNT or not _storable(char):
            continue
        entries = [("stem", char), ("suffix", char)] if char.isalnum() else [(_literal_kind(char), char)]
        if len(fixed) < budget // 4:
            fixed += entries
        else:
            rarer_chars += entries

    # Candidates, each with the kind it would be stored as.
    start: dict[str, str] = {}
    cont: dict[str, str] = {}
    for word, n in words.items():
        if n >= MIN_COUNT and len(word) > 1 and len(word) <= MAX_TOKEN_CHARS:
            start[word] = "word"
    for word, _ in _by_count(words)[:MORPH_FORMS]:
        analysis = analyse(word)
        if analysis.ending and len(analysis.stem) > 1:
            start.setdefault(analysis.stem, "stem")
            cont.setdefault(analysis.ending, "ending")
        elif analysis.ending:
            cont.setdefault(analysis.ending, "ending")
    piece_counts: Counter[str] = Counter()
    inner_counts: Counter[str] = Counter()
    for word, n in words.items():
        for size in PREFIX_CHARS:
            if size < len(word):
                piece_counts[word[:size]] += n
        for begin in range(1, len(word)):
            for size in INNER_CHARS:
                if begin + size <= len(word):
                    inner_counts[word[begin : begin + size]] += n
        for size in FINAL_CHARS:
            if size < len(word):
                inner_counts[word[-size:]] += n
    min_piece = max(MIN_PIECE_COUNT, PIECE_MIN_SHARE * words.total() / max(budget, 1))
    for unit, n in piece_counts.items():
        if n >= min_piece:
            start.setdefault(unit, "stem")
    for unit, n in inner_counts.items():
        if n >= min_piece:
            cont.setdefault(unit, "suffix")
    literal_candidates = {p: n for p, n in literals.items() if n >= MIN_COUNT and len(p) > 1}

    def bond_text(parts: tuple[str, ...]) -> str:
        """A bond as stored: its head as it is implied, without space or sentence capital."""
        head = _core(parts[0])
        head = form_of.get(head, head) if head[:1].isalnum() else parts[0]
        return head + "".join(parts[1:])

    bonds: Counter[str] = Counter()
    for parts, n in counts.ngrams.items():
        if n < MIN_COUNT:
            continue
        text = bond_text(parts)
        if len(text) <= MAX_TOKEN_CHARS and _storable(text):
            bonds[text] += n

    for char in (c for kind, c in fixed if kind in ("stem", "suffix")):
        start.pop(char, None)
        cont.pop(char, None)
    letters = {c for kind, c in fixed if kind == "stem"}
    seg = _Segmenter(set(start) | letters, set(cont) | letters)

    def literal_cost(text: str) -> int:
        return 1 if text in literal_candidates else len(text)

    # Keep the bond candidates that could matter: a few times the budget, by count.
    bond_pool = dict(sorted(bonds.items(), key=lambda kv: (-kv[1], kv[0]))[: 2 * budget])
    cover = _BondCover(counts.sample, bond_pool, bond_text)

    room = budget - len(fixed)
    reserve: dict[tuple[str, str], float] = {}
    # Viterbi pruning. Dropping units can only change the segmentation of words
    # that used one of them, so only those are segmented again.
    split = {word: seg.segment(word) for word in words}
    usage: Counter[str] = Counter()
    for word, units in split.items():
        for unit in units:
            usage[unit] += words[word]
    # A unit's best spelling without itself only changes when a unit of that
    # spelling is dropped (units are never added), so it is kept between rounds.
    spelled_without: dict[tuple[str, str], list[str]] = {}
    dropped: set[str] = set()

    def cost_without(role: str, unit: str) -> int:
        units = spelled_without.get((role, unit))
        if units is None or not dropped.isdisjoint(units):
            first = seg.cont if role == "cont" else None
            units = spelled_without[(role, unit)] = seg.segment(unit, without=unit, first=first)
        return len(units)

    while True:
        loss: dict[tuple[str, str], float] = {}
        for role, units in (("start", seg.start), ("cont", seg.cont)):
            for unit in units:
                if unit not in letters:
                    uses = usage[unit]
                    loss[(role, unit)] = uses and uses * (cost_without(role, unit) - 1)
        for text, n in literal_candidates.items():
            loss[("literal", text)] = n * (len(text) - 1)
        piece_cost = _PieceCost(split, form_of, literal_cost)
        for text, saved in cover.savings(bond_pool, piece_cost).items():
            loss[("bond", text)] = saved
        surplus = sum(value > 0 for value in loss.values()) - room  # what saves nothing takes no id
        if surplus <= 0:
            break
        drop = surplus if surplus < 64 else max(int(surplus * SHRINK), 64)
        ranked = sorted(loss.items(), key=lambda kv: (kv[1], kv[0]))
        # Dropping can leave other units with no uses at all, so the rounds may end
        # some ids short; the dropped units, the most valued when dropped, fill them.
        reserve.update(ranked[:drop])
        dropped.clear()
        for (role, unit), _ in ranked[:drop]:
            if role == "start":
                seg.start.discard(unit)
                dropped.add(unit)
            elif role == "cont":
                seg.cont.discard(unit)
                dropped.add(unit)
            elif role == "literal":
                del literal_candidates[unit]
            else:
                del bond_pool[unit]
        for word, units in split.items():
            if not dropped.isdisjoint(units):
                n = words[word]
                for unit in units:
                    usage[unit] -= n
                units = split[word] = seg.segment(word)
                for unit in units:
                    usage[unit] += n

    kind_of = {"start": start, "cont": cont}

    def entry(role: str, unit: str) -> tuple[str, str]:
        if role in kind_of:
            return kind_of[role][unit], unit
        return (_literal_kind(unit) if role == "literal" else "bond"), unit

    def best_first(units) -> list[tuple[str, str]]:
        return [entry(*key) for key, value in sorted(units, key=lambda kv: (-kv[1], kv[0])) if value > 0]

    # The kept units, then the dropped ones and the rarer characters for any ids
    # left: a unit may share its text with another (a bond of whitespace pieces
    # ("\n", "\n") and the piece "\n\n" that ends a text), and one id serves both.
    candidates = fixed + best_first(loss.items()) + best_first(kv for kv in reserve.items() if kv[0] not in loss) + rarer_chars
    book = Codebook.from_entries(islice(unique_entries(candidates), budget))
    report = MiningReport(len(book), vocab_size, filled=len(book) == vocab_size)
    report.kinds.update(t.kind for t in book.tokens)
    return book, report
