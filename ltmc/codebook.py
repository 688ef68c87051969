"""The codebook: what each id stands for, and text ⇄ ids with it.

Ids 0–255 are raw bytes, so any input is encodable; id 256 separates scenes in
flat training streams. Every other id stands for a literal string of one kind:
a whole word form, a stem, an ending, a hyperbond, punctuation or whitespace. A
scene's ids decode by concatenating what they stand for, so decoding is a table
lookup and a join.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from ltmc.errors import ExitCode, LtmcError
from ltmc.pretokenize import pieces

FORMAT = "ltmc-codebook"
VERSION = 1
N_BYTES = 256
SEPARATOR_ID = 256
FIRST_FREE_ID = 257
# Longest literal a piece is segmented into; longer vocabulary strings (bonds)
# are matched as whole pieces.
MAX_TOKEN_CHARS = 32

KINDS = ("byte", "special", "word", "stem", "ending", "bond", "punct", "space")
_SURROGATE_BASE = 0xDC00  # surrogateescape maps a stray byte b to U+DC00+b


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str


class Codebook:
    """An immutable vocabulary with its encoder and decoder."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.fingerprint = _fingerprint(tokens)
        self._by_text: dict[str, int] = {}
        self._bonds: dict[tuple[str, ...], int] = {}
        self._bond_heads: set[str] = set()
        for token_id, token in enumerate(tokens):
            if token.kind in ("byte", "special"):
                continue
            if token.kind == "bond":
                parts = tuple(pieces(token.text))
                self._bonds[parts] = token_id
                self._bond_heads.add(parts[0])
            elif len(token.text) <= MAX_TOKEN_CHARS:
                self._by_text.setdefault(token.text, token_id)
        self._bytes = [bytes([b]) for b in range(N_BYTES)] + [b""] + [
            t.text.encode("utf-8") for t in tokens[FIRST_FREE_ID:]
        ]
        self._piece_cache: dict[str, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Codebook(vocab_size={len(self)}, fingerprint={self.fingerprint!r})"

    # -- building and storing -------------------------------------------------

    @classmethod
    def from_entries(cls, entries: list[tuple[str, str]]) -> "Codebook":
        """Bytes and the separator first, then ``entries`` (kind, text) in order."""
        tokens = [Token("byte", "") for _ in range(N_BYTES)] + [Token("special", "<|scene|>")]
        seen = set()
        for kind, text in entries:
            if kind not in KINDS or kind in ("byte", "special"):
                raise ValueError(f"bad token kind {kind!r}")
            if text and text not in seen:
                seen.add(text)
                tokens.append(Token(kind, text))
        return cls(tokens)

    def to_json(self) -> bytes:
        body = [[t.kind, t.text] for t in self.tokens[FIRST_FREE_ID:]]
        return orjson.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "fingerprint": self.fingerprint,
                "vocab_size": len(self),
                "tokens": body,
            }
        )

    def save(self, path: str | Path) -> None:
        write_atomic(Path(path), self.to_json())

    @classmethod
    def from_json(cls, data: bytes, source: str = "codebook") -> "Codebook":
        try:
            doc = orjson.loads(data)
            if doc.get("format") != FORMAT:
                raise LtmcError(f"{source}: not an ltmc codebook; pass a file written by `ltmc mine-bonds`", ExitCode.DATA)
            if doc["version"] > VERSION:
                raise LtmcError(
                    f"{source}: codebook format version {doc['version']} is newer than this ltmc reads ({VERSION}); upgrade ltmc",
                    ExitCode.DATA,
                )
            entries = [(kind, text) for kind, text in doc["tokens"]]
        except LtmcError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise LtmcError(f"{source}: corrupt codebook ({err}); mine a new one with `ltmc mine-bonds`", ExitCode.DATA) from None
        book = cls.from_entries(entries)
        if book.fingerprint != doc["fingerprint"] or len(book) != doc["vocab_size"]:
            raise LtmcError(f"{source}: codebook fingerprint does not match its tokens; the file was altered", ExitCode.DATA)
        return book

    @classmethod
    def load(cls, path: str | Path) -> "Codebook":
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise LtmcError(f"{path}: cannot read codebook ({err.strerror})", ExitCode.USAGE) from None
        return cls.from_json(data, str(path))

    # -- text ⇄ ids -------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Ids for ``text``. Stray bytes decoded with surrogateescape become byte ids."""
        parts = pieces(text)
        cache = self._piece_cache
        bonds, heads = self._bonds, self._bond_heads
        ids: list[int] = []
        i, n = 0, len(parts)
        while i < n:
            piece = parts[i]
            if piece in heads:
                if i + 2 < n and (bond := bonds.get((piece, parts[i + 1], parts[i + 2]))) is not None:
                    ids.append(bond)
                    i += 3
                    continue
                if i + 1 < n and (bond := bonds.get((piece, parts[i + 1]))) is not None:
                    ids.append(bond)
                    i += 2
                    continue
            seg = cache.get(piece)
            if seg is None:
                seg = self._segment(piece)
                if len(cache) > 1 << 20:  # keep memory flat on huge, diverse corpora
                    cache.clear()
                cache[piece] = seg
            ids.extend(seg)
            i += 1
        return ids

    def _segment(self, piece: str) -> tuple[int, ...]:
        """Fewest-token split of one piece (shortest path over vocabulary strings)."""
        by_text = self._by_text
        n = len(piece)
        inf = float("inf")
        cost = [0.0] + [inf] * n
        back: list[tuple[int, tuple[int, ...]]] = [(0, ())] * (n + 1)
        for end in range(1, n + 1):
            char = piece[end - 1]
            char_id = by_text.get(char)
            # A single character is always possible: its own id, or its bytes.
            fallback = (char_id,) if char_id is not None else _char_bytes(char)
            best, best_back = cost[end - 1] + len(fallback) + 0.5 * (char_id is None), (end - 1, fallback)
            for start in range(max(0, end - MAX_TOKEN_CHARS), end - 1):
                token_id = by_text.get(piece[start:end])
                if token_id is not None and cost[start] + 1 < best:
                    best, best_back = cost[start] + 1, (start, (token_id,))
            cost[end], back[end] = best, best_back
        out: list[int] = []
        end = n
        while end:
            start, ids = back[end]
            out[:0] = ids
            end = start
        return tuple(out)

    def decode_bytes(self, ids) -> bytes:
        """The UTF-8 (plus stray bytes) that ``ids`` stand for."""
        table = self._bytes
        try:
            return b"".join([table[i] for i in ids])
        except (IndexError, TypeError):
            bad = next(i for i in ids if not (isinstance(i, int) and 0 <= i < len(table)))
            raise LtmcError(f"token id {bad} is outside this codebook (size {len(table)}); decode with the codebook the shards were encoded with", ExitCode.DATA) from None

    def decode(self, ids) -> str:
        return self.decode_bytes(ids).decode("utf-8", "surrogateescape")

    def kind_of(self, token_id: int) -> str:
        return self.tokens[token_id].kind

    def piece_of(self, token_id: int) -> str:
        """Readable text for a token (bytes shown as <0xNN>)."""
        if token_id < N_BYTES:
            return f"<0x{token_id:02X}>"
        return self.tokens[token_id].text


def _char_bytes(char: str) -> tuple[int, ...]:
    code = ord(char)
    if _SURROGATE_BASE + 0x80 <= code <= _SURROGATE_BASE + 0xFF:
        return (code - _SURROGATE_BASE,)
    return tuple(char.encode("utf-8", "surrogatepass"))


def _fingerprint(tokens: list[Token]) -> str:
    body = orjson.dumps([VERSION, [[t.kind, t.text] for t in tokens]])
    return "sha256:" + hashlib.sha256(body).hexdigest()[:32]


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name beside ``path``, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
