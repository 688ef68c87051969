"""The first pieces of a byte-level BPE over word forms, kept by mining.

Mining prunes by what a unit is worth on the mining text (``ltmc.mining``). There
most running words are forms the codebook keeps whole, so a piece that spells
parts of many rarer words (``ся``, ``ов``, ``котор``) looks worth little and is
dropped; yet on new text more words are rare, and without such pieces they take
three or four ids where BPE takes two. BPE picks its pieces by how often two
neighbours occur together in every word, whole forms included, which keeps those
pieces. Mining keeps the pieces of its first merges whatever pruning says.

The merges are over UTF-8 bytes, as byte-level BPE's are, and a piece is kept
only once it spells whole letters. A Cyrillic letter is two bytes, and a vowel's
last byte often merges with the next letter's first before that letter is
whole, so the pieces tend to begin with a vowel (``ов``, ``ом``, ``ал``), where
Russian endings begin; merged letter by letter they tend to end with one
(``то``, ``но``, ``ро``). Kept in the codebook, the pieces of merged bytes gave
a paired model fewer bits per byte, those of merged letters more
(docs/benchmarks.md, "BPE's first pieces").

Worked by hand on ``talked`` ×3 and ``talks`` ×2, whose letters are one byte
each: a word is a start mark (▁, as byte-level BPE's leading space) and its
letters. ``▁·t``, ``t·a``, ``a·l`` and ``l·k`` occur 5 times; ties go to the
least pair, so the first merge makes the continuation ``al``, then ``al·k``
makes ``alk`` and ``t·alk`` ``talk``; then ``▁·talk`` makes the start ``talk``.
Of ``e·d`` and ``▁talk·e`` (3 each), ``ed`` comes first, then the start
``talked`` and, from ``▁talk·s`` (2), ``talks``. A piece that holds the mark is
a start, any other a continuation, as the codebook spells words.

Counts are kept up to date merge by merge, around each merge only, in the words
that hold the merged pair, with a heap whose stale entries are skipped.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict

START = "\u2581"  # marks a word's start, as byte-level BPE's leading space does


def _letters(piece: str) -> str | None:
    """The text of a piece of bytes, or None where it cuts a character."""
    try:
        return piece.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return None


def _merge(symbols: list[str], left: str, right: str, n: int, counts: Counter, touched: list) -> list[str]:
    """``symbols`` with every ``left``·``right`` merged, ``counts`` of pairs updated
    by ``n`` (the form's count) around each merge only; changed pairs go to
    ``touched``. In ``a b a b`` the middle ``b·a`` is counted off once, and the
    new pair is ``ab·ab``."""
    merged = left + right
    out: list[str] = []
    i, length, last_end = 0, len(symbols), -1
    while i < length:
        if i + 1 < length and symbols[i] == left and symbols[i + 1] == right:
            counts[(left, right)] -= n
            if i > 0:
                if last_end != i:  # else the previous merge counted off its right neighbour already
                    counts[(symbols[i - 1], left)] -= n
                    touched.append((symbols[i - 1], left))
                counts[(out[-1], merged)] += n
                touched.append((out[-1], merged))
            after = i + 2
            if after < length:
                counts[(right, symbols[after])] -= n
                touched.append((right, symbols[after]))
                if not (after + 1 < length and symbols[after] == left and symbols[after + 1] == right):
                    counts[(merged, symbols[after])] += n
                    touched.append((merged, symbols[after]))
            out.append(merged)
            i = last_end = i + 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def merged_pieces(words: Counter, n_pieces: int, max_chars: int) -> list[tuple[str, str]]:
    """The first ``n_pieces`` pieces of two letters or more (``("start" | "cont",
    text)``) that the merges of a BPE over ``words`` (form → count) make, in
    merge order, none longer than ``max_chars``. Ties go to the least pair, so
    the result does not depend on the order of ``words``."""
    # Letters as their UTF-8 bytes (one latin-1 character each), as byte-level BPE sees them.
    kept = [word for word in sorted(words) if len(word) > 1]
    forms = [[START, *word.encode("utf-8").decode("latin-1")] for word in kept]
    weights = [words[word] for word in kept]
    counts: Counter[tuple[str, str]] = Counter()
    holders: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for index, symbols in enumerate(forms):
        for pair in zip(symbols, symbols[1:]):
            counts[pair] += weights[index]
            holders[pair].add(index)
    heap = [(-n, pair) for pair, n in counts.items()]
    heapq.heapify(heap)
    pieces: list[tuple[str, str]] = []
    while heap and len(pieces) < n_pieces:
        negative, pair = heapq.heappop(heap)
        if counts.get(pair, 0) != -negative or -negative <= 0:
            continue  # stale: the count changed since this entry was pushed
        left, right = pair
        text = _letters((left + right).removeprefix(START))
        if text is not None and len(text) > max_chars:
            del counts[pair]
            continue
        if text is not None and len(text) > 1 and text.isalpha():
            pieces.append(("start" if left.startswith(START) else "cont", text))
        touched: list[tuple[str, str]] = []
        for index in holders.pop(pair):
            before = len(touched)
            forms[index] = _merge(forms[index], left, right, weights[index], counts, touched)
            for new in touched[before:]:
                holders[new].add(index)
        del counts[pair]
        for changed in set(touched):
            if counts.get(changed, 0) > 0:
                heapq.heappush(heap, (-counts[changed], changed))
    return pieces
