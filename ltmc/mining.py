"""Learn a codebook from a corpus under a vocabulary budget.

1. Count pieces, and runs of two to four pieces (n-grams), a few lines at a
   time so that a run may span a line break. Words are counted without their
   leading space and, where the lower-case spelling also occurs, without a
   sentence-initial capital: the codebook implies both. Keep a sample of these
   chunks of lines, chosen by their hash.
2. Gather candidates: every character; punctuation and whitespace runs; word
   forms, their stems (pymorphy3) and prefixes as start tokens; endings and
   word-final and inner pieces as continuation tokens (prefixes, pieces and
   characters only if they occur at least 1.5 times per id of the budget; a
   rarer character takes an id only if some are left over); hyperbonds.
3. Prune by Viterbi counts, as a unigram tokenizer is trained: segment every
   word form with the fewest tokens, and price each token by what losing it
   would cost: uses × (tokens of its best spelling without it − 1). Drop the
   cheapest part and repeat until the budget is met. A hyperbond is priced the
   same way, with its uses found as the encoder finds them: the sampled chunks
   are covered by pieces and bonds, the longest bond first, left to right, and
   a bond's count is scaled by the share of its sampled occurrences that the
   cover takes. Mined for pairs (``paired``), costs are counted in paired
   positions (``ltmc.pairing``) instead of tokens.

Counting is bounded: the n-gram and piece tables are pruned of their rarest
entries whenever they grow past a cap, and the sample is thinned whenever it
does, so memory does not grow with the corpus.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import regex

from ltmc.codebook import DEFAULT_SPECIALS, FIRST_FREE_ID, MAX_TOKEN_CHARS, Codebook, check_specials, unique_entries
from ltmc.errors import ExitCode, LtmcError
from ltmc.morph import analyse
from ltmc.pretokenize import pieces

try:
    from ltmc import _fastpath as native
except ImportError:  # installed without a C compiler: the Python loops below
    native = None

MIN_COUNT = 2  # a unit seen once saves nothing on the corpus it was mined from
MORPH_FORMS = 10_000  # analyse this many most frequent forms for stems and endings
MAX_NGRAMS = 2_000_000  # prune the n-gram table beyond this many entries
MAX_PIECES = 1_000_000  # and the piece table beyond this many (ru/, 40 MB, has 264k)
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
# Mined for pairs, a prefix that makes a stem beside an ending saves a position
# where a whole form would, and rarer ones pay: 0.5 gives 0.2% fewer positions
# at 8192 ids and 0.6% at 32768 than 1.5 (0.25 and 0.75 are between the two).
PAIRED_PIECE_MIN_SHARE = 0.5
MIN_PIECE_COUNT = 20  # and never rarer than this
SHRINK = 0.6  # share of the surplus candidates dropped per pruning round
CHUNK_LINES = 8  # lines counted and sampled together
MAX_BOND_PIECES = 4  # 5 saves ~0.2% more tokens for ~45% more counting time
SAMPLE_CHARS = 4_000_000  # text kept to price bonds by where the encoder would use them


def _tokens(n_units: int) -> int:
    return n_units


def _positions(n_units: int) -> int:
    """Positions a word of ``n_units`` takes paired (``ltmc.pairing``): its start
    shares one with the first continuation, every further one takes its own."""
    return max(1, n_units - 1)


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
        if len(self.pieces) > MAX_PIECES:
            self.pieces = _without_rarest(self.pieces, MAX_PIECES // 2)


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


_SURROGATE = regex.compile("[\ud800-\udfff]")


def _storable(text: str) -> bool:
    """Stray bytes (surrogate escapes) stay bytes: a token's text must be valid Unicode."""
    return _SURROGATE.search(text) is None


def _least(keyed: dict, values: np.ndarray, count: int) -> list:
    """The keys of ``keyed`` with the ``count`` least ``values`` (one per key, in its
    order), ties going to the least key: the head of a sort by (value, key), in no
    set order, found by a partition rather than a sort."""
    keys = list(keyed)
    if count >= len(keys):
        return keys
    cut = np.partition(values, count - 1)[count - 1]
    chosen = [keys[i] for i in np.flatnonzero(values < cut)]
    tied = sorted(keys[i] for i in np.flatnonzero(values == cut))
    return chosen + tied[: count - len(chosen)]


def py_slice_counts(words: Counter) -> tuple[Counter, Counter]:
    """Word occurrences of each word's prefixes (start candidates), and of its inner
    and word-final pieces (continuation candidates)."""
    prefix_counts: Counter[str] = Counter()
    inner_counts: Counter[str] = Counter()
    for word, n in words.items():
        for size in PREFIX_CHARS:
            if size < len(word):
                prefix_counts[word[:size]] += n
        for begin in range(1, len(word)):
            for size in INNER_CHARS:
                if begin + size <= len(word):
                    inner_counts[word[begin : begin + size]] += n
        for size in FINAL_CHARS:
            if size < len(word):
                inner_counts[word[-size:]] += n
    return prefix_counts, inner_counts


def slice_counts(words: Counter) -> tuple[dict[str, int], dict[str, int]]:
    if native is None:
        return py_slice_counts(words)
    sizes = (PREFIX_CHARS, INNER_CHARS, FINAL_CHARS)
    return native.slice_counts(words, *(bound for size in sizes for bound in (size.start, size.stop)))


def _by_count(counter: Counter) -> list:
    """Most frequent first, ties in a fixed order: what is mined must not depend on
    the order the texts came in."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _literal_kind(text: str) -> str:
    return "space" if text.isspace() else "punct"


class _Segmenter:
    """Fewest-token segmentation of word forms over candidate sets that shrink.

    With the C extension the sets are mirrored in two tries, so that a segmentation
    walks them instead of slicing and looking up every substring.
    """

    def __init__(self, start: set[str], cont: set[str]) -> None:
        self.start, self.cont = start, cont
        self._tries = None
        if native is not None:
            self._tries = native.candidate_tries(list(start), list(cont), MAX_TOKEN_CHARS)

    def discard(self, role: str, unit: str) -> None:
        (self.cont if role == "cont" else self.start).discard(unit)
        if self._tries is not None:
            native.discard_candidate(self._tries, role == "cont", unit)

    def segment(self, word: str, without: str | None = None, from_cont: bool = False) -> list[str]:
        """Units of ``word``: one start unit (a continuation with ``from_cont``),
        then continuations; never ``without``."""
        if self._tries is not None:
            return native.segment_candidates(self._tries, word, without, from_cont)
        return self.py_segment(word, without, from_cont)

    def py_segment(self, word: str, without: str | None = None, from_cont: bool = False) -> list[str]:
        first = self.cont if from_cont else self.start
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


class _Segmentations:
    """Every word form's fewest-token segmentation (``split``), each unit's uses in
    the corpus (``usage``) and its uses as a whole word (``alone``), kept up to date
    as units are dropped.

    Dropping units can only change the segmentation of words that used one of
    them, so only those are segmented again, found by an index from unit to the
    words whose segmentation used it since it was added. A word segmented again
    stays listed under units it no longer uses and is skipped when one of them is
    dropped: lists with such leftovers take a third of the memory of exact sets.
    """

    def __init__(self, words: Counter, segmenter: _Segmenter, endings: frozenset[str] | None = None) -> None:
        """``endings``: segment for pairs (``_segment_for_pairs``), preferring these continuations."""
        self.words, self.segmenter, self.endings = words, segmenter, endings
        self._segment = segmenter.segment if endings is None else self._segment_for_pairs
        self.split = {word: self._segment(word) for word in words}
        self.usage: Counter[str] = Counter()
        self.alone: Counter[str] = Counter()
        self._users: dict[str, list[str]] = {}
        for word, units in self.split.items():
            if len(units) == 1:
                self.alone[units[0]] += words[word]
            for unit in units:
                self.usage[unit] += words[word]
                self._users.setdefault(unit, []).append(word)

    def drop(self, dropped: set[str]) -> list[str]:
        """Segment again the words that used a unit of ``dropped`` (texts, already
        discarded from the segmenter); returns those whose token count changed."""
        recounted = []
        for word in set().union(*(self._users.pop(unit, ()) for unit in dropped)):
            n, before = self.words[word], self.split[word]
            if dropped.isdisjoint(before):
                continue  # listed under a unit it no longer uses
            for unit in before:
                self.usage[unit] -= n
            if len(before) == 1:
                self.alone[before[0]] -= n
            units = self.split[word] = self._segment(word)
            if len(units) == 1:
                self.alone[units[0]] += n
            for unit in units:
                self.usage[unit] += n
                if unit not in before or unit in dropped:  # a text dropped in one role, kept in the other
                    self._users.setdefault(unit, []).append(word)
            if len(units) != len(before):
                recounted.append(word)
        return recounted

    def _segment_for_pairs(self, word: str) -> list[str]:
        """Fewest positions, and of those the most units. A start and one continuation
        take one position, as the whole form does; spelled so, the form shows that its
        id saves nothing, and its start and continuation are seen to be used. Of such
        splits, the longest start whose continuation is an ending, else the longest
        start (on bench/compression.py's split, 0.6% fewer positions at 8192 and at
        32768 ids than the longest start alone)."""
        units = self.segmenter.segment(word)
        if len(units) == 1:
            start, cont = self.segmenter.start, self.segmenter.cont
            cuts = [cut for cut in range(len(word) - 1, 0, -1) if word[:cut] in start and word[cut:] in cont]
            cut = next((cut for cut in cuts if word[cut:] in self.endings), cuts[0] if cuts else None)
            if cut is not None:
                return [word[:cut], word[cut:]]
        return units


class _PieceKeys(dict):
    """Each piece as the codebook stores it, computed on first use: a word as its
    form, without the space and sentence capital that are implied; anything else as
    it is (no form begins like one of those). A bond is stored with its head piece
    so, and a piece's cost on its own depends on it."""

    def __init__(self, form_of: dict[str, str]) -> None:
        super().__init__()
        self.form_of = form_of

    def __missing__(self, piece: str) -> str:
        core = _core(piece)
        key = self[piece] = self.form_of.get(core, core) if core[:1].isalnum() else piece
        return key


class _PieceCost(dict):
    """Tokens of a piece on its own under the current candidates, computed on first use."""

    def __init__(self, split: dict[str, list[str]], keys: _PieceKeys, literal_cost, word_cost) -> None:
        super().__init__()
        self.split, self.keys, self.literal_cost, self.word_cost = split, keys, literal_cost, word_cost

    def __missing__(self, piece: str) -> int:
        key = self.keys[piece]
        cost = self[piece] = self.word_cost(len(self.split[key])) if key[:1].isalnum() else self.literal_cost(piece)
        return cost


class _BondCover:
    """Where the encoder would use each bond: its cover of the sample.

    Bonds overlap (", что" inside ", что он"), so a bond's count overstates what it
    saves. As the encoder does, each sampled chunk is covered left to right by the
    longest bond that starts at each piece, or the piece alone; a bond's uses are
    the places that cover takes it, and what it saves at each is the tokens of the
    cover of its own pieces without it, less one.

    The pool shrinks round by round. Which bonds a cover takes depends on the pool
    alone, so only the runs where a dropped bond could start are covered again; a
    bond's own cover is kept until a bond in it is dropped or one of its pieces
    changes cost (``forget``).
    """

    def __init__(self, sample: list[tuple[str, ...]], pool: dict[str, int], keys: _PieceKeys) -> None:
        """``sample``: the pieces of each sampled chunk."""
        # Runs of pieces that bonds may join, each with the bonds starting at each position.
        self.runs: list[tuple[tuple[str, ...], dict[int, list[tuple[int, str]]]]] = []
        self.inner: dict[str, tuple[tuple[str, ...], dict[int, list[tuple[int, str]]]]] = {}
        self.seen: Counter[str] = Counter()  # occurrences of each bond in the sample
        self.pool = pool
        for parts in sample:
            spans = self._spans(parts, pool, keys)
            self.seen.update(text for found in spans.values() for _, text in found)
            self.runs.extend(self._runs(parts, spans))
            for begin, found in spans.items():
                for step, text in found:
                    if text not in self.inner:
                        own = parts[begin : begin + step]
                        inner = self._spans(own, pool, keys)
                        inner[0] = [(k, t) for k, t in inner[0] if k < step]
                        self.inner[text] = (own, inner)
        self.used = [self._cover(parts, spans, pool)[1] for parts, spans in self.runs]
        self.uses = Counter(text for used in self.used for text in used)
        # Lists, not sets, in these indexes: a tenth of the memory (ru/: ~57 MB of
        # sets), and a repeat costs no more than a second look.
        self.runs_of: dict[str, list[int]] = {}
        for index, (_, spans) in enumerate(self.runs):
            for found in spans.values():
                for _, text in found:
                    self.runs_of.setdefault(text, []).append(index)
        # What each bond's own cover depends on: its pieces' keys, and the bonds inside it.
        self.by_piece: dict[str, list[str]] = {}
        self.by_bond: dict[str, list[str]] = {}
        for text, (own, inner) in self.inner.items():
            for part in own:
                self.by_piece.setdefault(keys[part], []).append(text)
            for found in inner.values():
                for _, other in found:
                    self.by_bond.setdefault(other, []).append(text)
        self.own_cost: dict[str, int] = {}

    @staticmethod
    def _spans(parts, pool, keys) -> dict[int, list[tuple[int, str]]]:
        """Per position, the bonds of ``pool`` that start there, longest first."""
        spans: dict[int, list[tuple[int, str]]] = {}
        n = len(parts)
        for begin in range(n - 1):
            text, found = keys[parts[begin]], []
            for end in range(begin + 1, begin + MAX_BOND_PIECES):
                if end == n:
                    break
                text += parts[end]
                if text in pool:
                    found.append((end + 1 - begin, text))
            if found:
                spans[begin] = found[::-1]
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
    def _cover(parts, spans, pool, piece_cost=None) -> tuple[int, list[str]]:
        """Tokens for ``parts`` (given ``piece_cost``) and the bonds used, matched as
        the encoder matches them: left to right, the longest bond in ``pool`` that
        starts at each piece."""
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
                if piece_cost is not None:
                    cost += piece_cost[parts[i]]
                i += 1
        return cost, used

    def forget(self, bonds: Iterable[str], piece_keys: Iterable[str]) -> None:
        """Take account of bonds dropped from the pool and of pieces whose cost changed."""
        runs: set[int] = set()
        stale: set[str] = set()
        for text in bonds:
            runs.update(self.runs_of.get(text, ()))
            stale.update(self.by_bond.get(text, ()))
        for key in piece_keys:
            stale.update(self.by_piece.get(key, ()))
        for index in runs:
            self.uses.subtract(self.used[index])
            self.used[index] = self._cover(*self.runs[index], self.pool)[1]
            self.uses.update(self.used[index])
        for text in stale:
            self.own_cost.pop(text, None)

    def savings(self, piece_cost) -> dict[str, float]:
        """bond → tokens it saves on the corpus: its count × the share of its sampled
        occurrences that the cover takes × (tokens of its pieces without it − 1)."""
        out = {}
        for text, count in self.pool.items():
            uses = self.uses[text]
            if uses:
                own = self.own_cost.get(text)
                if own is None:
                    own = self.own_cost[text] = self._cover(*self.inner[text], self.pool, piece_cost)[0]
                out[text] = count * uses / self.seen[text] * (own - 1)
            else:
                out[text] = 0
        return out


def mine(
    texts: Iterable[str], vocab_size: int, progress=None, paired: bool = False, specials: Iterable[str] = DEFAULT_SPECIALS
) -> tuple[Codebook, MiningReport]:
    counts = CorpusCounts()
    for text in texts:
        counts.add(text)
        if progress:
            progress(len(text.encode("utf-8", "surrogateescape")))
    return mine_from_counts(counts, vocab_size, paired, specials)


def _word_counts(counts: CorpusCounts, sample: list[tuple[str, ...]]) -> tuple[Counter, Counter, dict[str, str]]:
    """Word forms as the codebook sees them, literal pieces, and piece → form."""
    # Bonds are priced on the sample (its chunks' pieces) by the cost of each piece,
    # so every piece in it needs a count; one that pruning dropped was rare.
    missing = {piece for parts in sample for piece in parts} - counts.pieces.keys()
    piece_counts = counts.pieces
    if missing:
        piece_counts = dict(counts.pieces)
        piece_counts.update(dict.fromkeys(missing, 1))
    words: Counter[str] = Counter()
    literals: Counter[str] = Counter()
    for piece, n in piece_counts.items():
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


def mine_from_counts(
    counts: CorpusCounts, vocab_size: int, paired: bool = False, specials: Iterable[str] = DEFAULT_SPECIALS
) -> tuple[Codebook, MiningReport]:
    """The codebook that spells the counted corpus in the fewest ids, or with
    ``paired`` in the fewest paired positions (``ltmc.pairing``). Its ``specials``
    (BOS, EOS, PAD and the caller's) take the last ids of ``vocab_size``."""
    word_cost = _positions if paired else _tokens
    specials = check_specials(specials)
    budget = vocab_size - FIRST_FREE_ID - len(specials)
    if budget < 0:
        raise LtmcError(f"--vocab-size {vocab_size} is too small: the bytes, markers and {len(specials)} special tokens take {FIRST_FREE_ID + len(specials)} ids", ExitCode.USAGE)
    sample = [tuple(pieces(chunk)) for chunk in counts.sample]
    words, literals, form_of = _word_counts(counts, sample)

    # A common character is always kept: with it no common text falls back to bytes.
    # A rarer one, like any piece, only if it pays for its id (at 8192 ids this frees
    # ~160 ids that Latin, Greek and accented letters held: 0.3% fewer tokens on
    # unseen authors, none at 32768); otherwise it gets one only if ids are left over.
    share = PAIRED_PIECE_MIN_SHARE if paired else PIECE_MIN_SHARE
    min_piece = max(MIN_PIECE_COUNT, share * words.total() / max(budget, 1))
    chars: Counter[str] = Counter()
    for word, n in words.items():
        for char in word:
            chars[char] += n
    for piece, n in literals.items():
        for char in piece:
            chars[char] += n
    fixed: list[tuple[str, str]] = []
    rarer_chars: list[tuple[str, str]] = []  # rare, or past a quarter of the budget
    for char, n in _by_count(chars):
        if n < MIN_COUNT or not _storable(char):
            continue
        entries = [("stem", char), ("suffix", char)] if char.isalnum() else [(_literal_kind(char), char)]
        if len(fixed) < budget // 4 and n >= min_piece:
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
    piece_counts, inner_counts = slice_counts(words)
    for unit, n in piece_counts.items():
        if n >= min_piece:
            start.setdefault(unit, "stem")
    for unit, n in inner_counts.items():
        if n >= min_piece:
            cont.setdefault(unit, "suffix")
    literal_candidates = {p: n for p, n in literals.items() if n >= MIN_COUNT and len(p) > 1}

    keys = _PieceKeys(form_of)
    bonds: Counter[str] = Counter()
    for parts, n in counts.ngrams.items():
        if n < MIN_COUNT:
            continue
        text = keys[parts[0]] + "".join(parts[1:])
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
    counted = -np.fromiter(bonds.values(), dtype=np.float64, count=len(bonds))
    bond_pool = {text: bonds[text] for text in _least(bonds, counted, 2 * budget)}
    cover = _BondCover(sample, bond_pool, keys)

    room = budget - len(fixed)
    reserve: dict[tuple[str, str], float] = {}
    endings = frozenset(unit for unit, kind in cont.items() if kind == "ending") if paired else None
    segmented = _Segmentations(words, seg, endings)
    split, usage = segmented.split, segmented.usage
    # A unit's best spelling without itself only changes when a unit of that
    # spelling is dropped (units are never added), so it is kept between rounds.
    spelled_without: dict[tuple[str, str], list[str]] = {}
    dropped: set[str] = set()

    def cost_without(role: str, unit: str) -> int:
        units = spelled_without.get((role, unit))
        if units is None or not dropped.isdisjoint(units):
            units = spelled_without[(role, unit)] = seg.segment(unit, without=unit, from_cont=role == "cont")
        return len(units)

    while True:
        loss: dict[tuple[str, str], float] = {}
        for role, units in (("start", seg.start), ("cont", seg.cont)):
            for unit in units:
                if unit not in letters:
                    uses = usage[unit]
                    if uses:
                        # Spelled in n units instead of one, a unit adds n − 1 to a word of two
                        # or more units, and word_cost(n) − 1 to a word it spells alone.
                        n = cost_without(role, unit)
                        alone = segmented.alone[unit] if role == "start" else 0
                        loss[(role, unit)] = (uses - alone) * (n - 1) + alone * (word_cost(n) - 1)
                    else:
                        loss[(role, unit)] = 0
        for text, n in literal_candidates.items():
            loss[("literal", text)] = n * (len(text) - 1)
        piece_cost = _PieceCost(split, keys, literal_cost, word_cost)
        for text, saved in cover.savings(piece_cost).items():
            loss[("bond", text)] = saved
        values = np.fromiter(loss.values(), dtype=np.float64, count=len(loss))
        surplus = int(np.count_nonzero(values > 0)) - room  # what saves nothing takes no id
        if surplus <= 0:
            break
        drop = surplus if surplus < 64 else max(int(surplus * SHRINK), 64)
        cheapest = [(key, loss[key]) for key in _least(loss, values, drop)]
        # Dropping can leave other units with no uses at all, so the rounds may end
        # some ids short; the dropped units, the most valued when dropped, fill them.
        reserve.update(cheapest)
        dropped.clear()
        dropped_bonds: list[str] = []
        recosted: list[str] = []  # pieces whose cost on their own changes: words and literals
        for (role, unit), _ in cheapest:
            if role in ("start", "cont"):
                seg.discard(role, unit)
                dropped.add(unit)
            elif role == "literal":
                del literal_candidates[unit]
                recosted.append(unit)
            else:
                del bond_pool[unit]
                dropped_bonds.append(unit)
        recosted += segmented.drop(dropped)
        cover.forget(dropped_bonds, recosted)

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
    book = Codebook.from_entries(islice(unique_entries(candidates), budget), specials=specials)
    report = MiningReport(len(book), vocab_size, filled=len(book) == vocab_size)
    report.kinds.update(t.kind for t in book.tokens)
    return book, report
