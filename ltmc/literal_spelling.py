"""Spellings of what the word path of ``ltmc.fastpath`` leaves to the codebook:
punctuation, whitespace and bytes, and the rare word no candidate spells right
(``Codebook._encode_other`` keeps the first of these that decodes back exactly)."""

from __future__ import annotations

from ltmc.fastpath import char_bytes
from ltmc.vocab import MAX_TOKEN_CHARS


def spell_by_character(text: str, cont_ids: dict[str, int], literal_ids: dict[str, int]) -> list[int]:
    """One id per character: a continuation letter, punctuation, or its bytes. Always exact."""
    ids = []
    for char in text:
        token_id = cont_ids.get(char, literal_ids.get(char))
        ids.extend((token_id,) if token_id is not None else char_bytes(char))
    return ids


def fewest_literals(text: str, cont_ids: dict[str, int], literal_ids: dict[str, int]) -> list[int]:
    """Fewest literal tokens (punctuation and whitespace runs), a character spelled
    by ``spell_by_character`` where none covers it: shortest path over the text."""
    n = len(text)
    cost = [0] + [n * 8 + 8] * n
    back: list[tuple[int, tuple[int, ...]]] = [(0, ())] * (n + 1)
    for end in range(1, n + 1):
        fallback = spell_by_character(text[end - 1], cont_ids, literal_ids)
        cost[end], back[end] = cost[end - 1] + len(fallback), (end - 1, tuple(fallback))
        for begin in range(max(0, end - MAX_TOKEN_CHARS), end - 1):
            token_id = literal_ids.get(text[begin:end])
            if token_id is not None and cost[begin] + 1 < cost[end]:
                cost[end], back[end] = cost[begin] + 1, (begin, (token_id,))
    out: list[int] = []
    end = n
    while end:
        begin, ids = back[end]
        out[:0] = ids
        end = begin
    return out
