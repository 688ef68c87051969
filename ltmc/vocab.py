"""The id layout every codebook shares, and the names tokenizer APIs give ids.

Ids 0–255 are raw bytes, so any input is encodable. Ids 256–258 are markers: the
scene separator for flat training streams, GLUE and FLIP (``ltmc.codebook``). Every
other id stands for a string of one kind (``ltmc.rules.STRING_KINDS``); from version 3
on, codebooks end with their special tokens.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ltmc.errors import ExitCode, LtmcError
from ltmc.fastpath import CONT
from ltmc.rules import STRING_KINDS, role_of

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
DEFAULT_SPECIALS = (BOS, EOS, PAD)
N_BYTES = 256
SEPARATOR_ID = 256
FIRST_FREE_ID = 259
MAX_TOKEN_CHARS = 48

# Ids 0-258, as (kind, text): the bytes, then the markers.
FIXED_ENTRIES = (("byte", ""),) * N_BYTES + (("special", "<|scene|>"), ("special", "<|glue|>"), ("special", "<|flip|>"))
FIXED_MARKERS = frozenset(text for _, text in FIXED_ENTRIES[N_BYTES:])


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str


def unique_entries(entries: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """(kind, text) entries in order, without empty texts or a (role, text) an
    earlier entry already has: one id for each string the encoder can tell apart."""
    seen = set()
    for kind, text in entries:
        if kind not in STRING_KINDS:
            raise ValueError(f"bad token kind {kind!r}")
        key = (role_of(kind, text), text)
        if text and key not in seen:
            seen.add(key)
            yield kind, text


def check_specials(specials: Iterable[str]) -> tuple[str, ...]:
    """``specials`` as a tuple, refused if one is empty, repeated or a fixed marker."""
    specials = tuple(specials)
    for text in specials:
        if not isinstance(text, str) or not text:
            raise LtmcError(f"special token {text!r}: give a non-empty text such as '<|user|>'", ExitCode.USAGE)
        if text in FIXED_MARKERS:
            raise LtmcError(f"special token {text!r} is one of the fixed markers {', '.join(sorted(FIXED_MARKERS))}; choose another text", ExitCode.USAGE)
        if specials.count(text) > 1:
            raise LtmcError(f"special token {text!r} is given twice (every codebook has {', '.join(DEFAULT_SPECIALS)}); give each once", ExitCode.USAGE)
    return specials


def unique_names(entries: list, is_cont: list[bool]) -> list[str]:
    """One unique name per id, for ``get_vocab`` and friends: bytes as <0xNN>, markers
    and specials as their text, a continuation token as ##text (it has the text of a
    start token), any other token as its text; a rare clash takes the id as its name."""
    names, taken = [], set()
    for token_id, (kind, text) in enumerate(entries):
        if kind == "byte":
            name = f"<0x{token_id:02X}>"
        elif kind == "special":
            name = text if token_id >= FIRST_FREE_ID else FIXED_ENTRIES[token_id][1]
        else:
            name = "##" + text if is_cont[token_id] else text
        if name in taken:
            name = f"<|id {token_id}|>"
        taken.add(name)
        names.append(name)
    return names


class NamedIds:
    """The tokenizer names of a ``Codebook`` (which has ``_entries`` and its roles in
    ``_tables.role``): ``get_vocab``, ``token_to_id``, ``id_to_token`` and friends."""

    @property
    def vocab_size(self) -> int:
        return len(self._entries)

    @functools.cached_property
    def _names(self) -> list[str]:
        return unique_names(self._entries, [role == CONT for role in self._tables.role])

    def id_to_token(self, token_id: int) -> str | None:
        """The id's unique name (``get_vocab``), or None outside the codebook."""
        return self._names[token_id] if isinstance(token_id, int) and 0 <= token_id < len(self._entries) else None

    def token_to_id(self, token: str) -> int | None:
        """The id of a name from ``get_vocab``, or None."""
        return self._vocab.get(token)

    def get_vocab(self) -> dict[str, int]:
        """Every id's unique name → id (see ``id_to_token``)."""
        return dict(self._vocab)

    @functools.cached_property
    def _vocab(self) -> dict[str, int]:
        return {name: token_id for token_id, name in enumerate(self._names)}

    def kind_of(self, token_id: int) -> str:
        return self._entry(token_id)[0]

    def piece_of(self, token_id: int) -> str:
        """Readable text for a token (bytes shown as <0xNN>)."""
        entry = self._entry(token_id)
        return f"<0x{token_id:02X}>" if token_id < N_BYTES else entry[1]

    def _entry(self, token_id: int):
        # Not a plain index: -1 would be the last id, not an error.
        if not 0 <= token_id < len(self._entries):
            raise IndexError(f"id {token_id} is outside the codebook's {len(self._entries)} ids")
        return self._entries[token_id]
