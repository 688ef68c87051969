"""Step 1 of mining (``ltmc.mining``): count a corpus's pieces and runs of two to
four pieces (n-grams), a few lines at a time, and keep a sample of those chunks;
and the candidate slices of word forms (prefixes, inner and word-final pieces).

Counting is bounded: the n-gram and piece tables are pruned of their rarest
entries whenever they grow past a cap, and the sample is thinned whenever it
does, so memory does not grow with the corpus.
"""

from __future__ import annotations

import zlib
from collections import Counter

import regex

from ltmc.pretokenize import pieces

try:
    from ltmc import _fastpath as native
except ImportError:  # installed without a C compiler: the Python loops below
    native = None

MAX_NGRAMS = 2_000_000  # prune the n-gram table beyond this many entries
MAX_PIECES = 1_000_000  # and the piece table beyond this many (ru/, 40 MB, has 264k)
PREFIX_CHARS = range(2, 9)
INNER_CHARS = range(2, 6)
# Word-final pieces may be longer: suffix and ending together ("ившись",
# "ельного"). Up to 8 saves 0.3% of tokens at 32768 ids; longer inner pieces
# do not help.
FINAL_CHARS = range(INNER_CHARS.stop, 9)
CHUNK_LINES = 8  # lines counted and sampled together
MAX_BOND_PIECES = 4  # 5 saves ~0.2% more tokens for ~45% more counting time
SAMPLE_CHARS = 4_000_000  # text kept to price bonds by where the encoder would use them


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


def word_core(piece: str) -> str:
    """A word piece without the single space the codebook implies."""
    return piece[1:] if piece[:1] == " " and piece[1:2].isalnum() else piece


_SURROGATE = regex.compile("[\ud800-\udfff]")


def storable(text: str) -> bool:
    """Stray bytes (surrogate escapes) stay bytes: a token's text must be valid Unicode."""
    return _SURROGATE.search(text) is None


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
