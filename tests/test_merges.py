"""The BPE merges mining keeps pieces from (ltmc.merges)."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ltmc.merges import START, merged_pieces


def naive_pieces(words: Counter, n_pieces: int, max_chars: int) -> list[tuple[str, str]]:
    """The same merges, every pair counted again from scratch after each."""
    forms = {word: [START, *word.encode("utf-8").decode("latin-1")] for word in words if len(word) > 1}
    pieces: list[tuple[str, str]] = []
    banned: set[tuple[str, str]] = set()
    while len(pieces) < n_pieces:
        counts: Counter = Counter()
        for word, symbols in forms.items():
            for pair in zip(symbols, symbols[1:]):
                if pair not in banned:
                    counts[pair] += words[word]
        if not counts:
            return pieces
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        try:
            text = (best[0] + best[1]).removeprefix(START).encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and len(text) > max_chars:
            banned.add(best)
            continue
        if text is not None and len(text) > 1 and text.isalpha():
            pieces.append(("start" if best[0].startswith(START) else "cont", text))
        for word, symbols in forms.items():
            out, i = [], 0
            while i < len(symbols):
                if symbols[i : i + 2] == list(best):
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            forms[word] = out
    return pieces


def test_the_example_worked_by_hand():
    pieces = merged_pieces(Counter({"talked": 3, "talks": 2}), 10, 24)
    assert pieces == [("cont", "al"), ("cont", "alk"), ("cont", "talk"), ("start", "talk"), ("cont", "ed"), ("start", "talked"), ("start", "talks")]


def test_cyrillic_pieces_are_whole_letters():
    words = Counter({"сказала": 5, "сказали": 4, "писала": 3, "писали": 2, "ёлка": 2})
    pieces = merged_pieces(words, 30, 24)
    assert pieces, "no piece"
    assert all(text.isalpha() and len(text) > 1 for _, text in pieces)
    assert ("start", "сказал") in pieces


def test_no_piece_is_longer_than_asked():
    pieces = merged_pieces(Counter({"abcdefgh": 9, "abcdxy": 4}), 50, 3)
    assert pieces and all(len(text) <= 3 for _, text in pieces)


def test_the_order_of_the_words_does_not_matter():
    words = Counter({"мама": 3, "мыла": 3, "раму": 2, "рама": 2, "мыло": 1})
    shuffled = list(words.items())
    random.Random(0).shuffle(shuffled)
    assert merged_pieces(words, 20, 24) == merged_pieces(Counter(dict(shuffled)), 20, 24)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(alphabet="abаб", min_size=1, max_size=7), st.integers(1, 9), max_size=8), st.integers(1, 12))
def test_counting_around_each_merge_agrees_with_counting_again(words, n_pieces):
    # Repeats such as "абаб" and "aaa" are where counting around a merge can go wrong.
    words = Counter(words)
    assert merged_pieces(words, n_pieces, 5) == naive_pieces(words, n_pieces, 5)
