"""What ``ltmc show`` shows: a text's tokens, each with what it adds to the decoded
text in its place, and how many ids and paired positions the text takes."""

from __future__ import annotations

import numpy as np

from ltmc import pairing
from ltmc.codebook import Codebook
from ltmc.vocab import N_BYTES

MAX_UTF8_BYTES = 4


def token_pieces(book: Codebook, text: str) -> list[dict]:
    """The tokens of ``text`` as [{ids, kind, text}], ``text`` being what the token
    adds to the decoded output in its place (implied spaces and capitals included;
    empty for markers). A run of byte tokens that spells one character is one entry.

    Each token is decoded once, from the state the tokens before it left
    (``DecodeStream.step_bytes``): linear in the text."""
    out: list[dict] = []
    pending: list[int] = []  # byte tokens of a character not yet complete
    pending_bytes = b""
    spelling = book.decode_stream()

    def flush_bytes() -> None:
        nonlocal pending_bytes
        if pending:
            out.append({"ids": list(pending), "kind": "byte", "text": pending_bytes.decode("utf-8", "surrogateescape")})
            pending.clear()
            pending_bytes = b""

    for token_id in book.encode(text, joinable=False):  # as a scene: what the shards hold
        kind = book.kind_of(token_id)
        added = spelling.step_bytes(token_id)
        if kind == "special":
            flush_bytes()
            out.append({"ids": [token_id], "kind": kind, "text": book.piece_of(token_id)})
            continue
        if token_id < N_BYTES:
            pending.append(token_id)
            pending_bytes += added
            if _complete_character(pending_bytes) or len(pending) >= MAX_UTF8_BYTES:
                flush_bytes()
            continue
        flush_bytes()
        out.append({"ids": [token_id], "kind": kind, "text": added.decode("utf-8", "surrogateescape")})
    flush_bytes()
    return out


def _complete_character(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def describe(book: Codebook, text: str) -> dict:
    """``text``'s pieces (``token_pieces``), its length in characters, and how many
    ids and paired positions (``pairing``) it takes."""
    pieces = token_pieces(book, text)
    ids = np.asarray([i for piece in pieces for i in piece["ids"]], dtype=np.int32)
    positions = len(pairing.pair(ids, pairing.tail_mask(book)))
    return {"chars": len(text), "tokens": len(ids), "positions": positions, "pieces": pieces}
