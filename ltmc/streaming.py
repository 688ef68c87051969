"""Decoding one id at a time, for text shown while a model generates it.

A token's text depends only on the tokens before it, so what the decoder has
produced is never taken back, with one exception: a character that byte tokens
spell is held back until its last byte arrives (or the stream ends). GLUE and FLIP
change the next word, so they are held with the decoder state until it comes.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from ltmc.fastpath import FLIP_ID, GLUE_ID, MARKER, START

if TYPE_CHECKING:
    from ltmc.codebook import Codebook


class DecodeStream:
    """``Codebook.decode_stream()``: ``step(id)`` returns the text that is final after
    ``id`` (possibly empty); the pieces so far, joined with ``finish()``, are
    ``decode`` of the ids so far."""

    def __init__(self, book: Codebook) -> None:
        self._book = book
        self._cap, self._space = True, False  # the decoder state: a sentence start
        self._markers: list[int] = []  # GLUE and FLIP waiting for the word they change
        self._utf8 = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def step(self, token_id: int) -> str:
        return self._utf8.decode(self.step_bytes(token_id))

    def step_bytes(self, token_id: int) -> bytes:
        """The bytes ``token_id`` adds in its place (empty for a marker, a reset or a
        separator): ``decode_bytes`` of the ids so far is these joined."""
        if token_id in (GLUE_ID, FLIP_ID):
            self._markers.append(token_id)
            return b""
        # Markers change only a START token, so decoding them in front of any other is
        # harmless; they wait on through a literal or a continuation, as in ``decode``.
        data, self._cap, self._space = self._book.decode_continuing([*self._markers, token_id], self._cap, self._space)
        if self._book._tables.role[token_id] in (START, MARKER):
            self._markers = []  # the word they change came, or a reset dropped them
        return data

    def finish(self) -> str:
        """The text still held: a character whose last byte never came, shown as
        ``decode`` shows a stray byte."""
        self._markers.clear()
        return self._utf8.decode(b"", final=True)
