"""Cut a text stream into scenes: a stanza, or a group of paragraphs of bounded size.

A cut depends only on the text from the scene's start to ``LIMIT`` characters past
it, so streaming a file in blocks of any size gives the same scenes as reading it
whole, and so the same shards.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import regex

MIN_STANZA = 200  # a blank line ends a scene once it holds this many characters
TARGET = 2_000  # past this, any line break ends a scene
LIMIT = 8_000  # no scene is longer; text with no break is cut at a space, or hard

_BLANK_LINE = regex.compile(r"\n[^\S\n]*\n")


def _cut(text: str) -> int:
    """Where the scene that starts ``text`` ends (``text`` is complete to LIMIT + 1)."""
    if len(text) <= MIN_STANZA:
        return len(text)
    end = min(len(text), LIMIT)
    blank = _BLANK_LINE.search(text, MIN_STANZA - 1, end)
    if blank:
        return blank.end()
    if end < len(text) or len(text) > TARGET:
        newline = text.find("\n", TARGET - 1, end)
        if newline != -1:
            return newline + 1
    if end == len(text):
        return end
    space = text.rfind(" ", LIMIT * 3 // 4, end)
    return space + 1 if space != -1 else end


def iter_scenes(blocks: Iterable[str]) -> Iterator[str]:
    """Scenes of the text made by concatenating ``blocks``."""
    buffer = ""
    for block in blocks:
        buffer += block
        start = 0
        while len(buffer) - start > LIMIT + 1:
            end = start + _cut(buffer[start : start + LIMIT + 2])
            yield buffer[start:end]
            start = end
        buffer = buffer[start:]
    while buffer:
        end = _cut(buffer)
        yield buffer[:end]
        buffer = buffer[end:]


def split_scenes(text: str) -> list[str]:
    return list(iter_scenes([text]))
