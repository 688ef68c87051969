"""The codebook: what each id stands for, and text ⇄ ids with it.

Ids 0–255 are raw bytes, so any input is encodable. Ids 256–258 are markers:
the scene separator for flat training streams, GLUE and FLIP (below). Every
other id stands for a string of one kind: a whole word form, a stem, an ending,
a suffix piece, a hyperbond, punctuation or whitespace.

Two things are implied rather than spelled, so that " он", "он", "Он" and " Он"
are one id, and the vocabulary spends its budget on meaning:

- a single space before a word, after a word or after punctuation that is
  followed by a space in running text (",", ".", "—", "»", ...);
- a capital at the start of a sentence: at the start of a scene, after a line
  break, or after ".", "!", "?" or "…".

A word that breaks the rule is preceded by a marker: GLUE (no space here) or
FLIP (the opposite capitalisation). The encoder checks every choice against the
decoder, so a rule can cost a token but never a byte.

Roles: a *start* token begins a word (words, stems, bonds that begin with a
letter) and takes the implied space and capital; a *cont* token continues one
(endings, suffix pieces); *literal* tokens (punctuation, whitespace, bytes) are
copied as they are.
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
GLUE_ID = 257
FLIP_ID = 258
FIRST_FREE_ID = 259
MAX_TOKEN_CHARS = 48

KINDS = ("byte", "special", "word", "stem", "ending", "suffix", "bond", "punct", "space")
START_KINDS = frozenset({"word", "stem", "bond"})
CONT_KINDS = frozenset({"ending", "suffix"})
SPACE_AFTER = frozenset(",.;:!?…»)]}—–\"”")  # running text puts a space after these
SENTENCE_END = frozenset(".!?…")
CLOSERS = "»)]}\"”’'"
_SURROGATE_BASE = 0xDC00

START, CONT, LITERAL, MARKER = 0, 1, 2, 3
KEEP, SET, CLEAR = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str


def role_of(kind: str, text: str) -> int:
    if kind in ("byte",):
        return LITERAL
    if kind == "special":
        return MARKER
    if kind in CONT_KINDS:
        return CONT
    if kind in START_KINDS and text[:1].isalnum():
        return START
    return LITERAL


def _effects(text: str) -> tuple[bool, int]:
    """(is a space implied after this text, what it does to sentence-start state)."""
    last = text[-1]
    space_after = last.isalnum() or last in SPACE_AFTER
    stripped = text.rstrip(" " + CLOSERS)
    ends_sentence = bool(stripped) and stripped[-1] in SENTENCE_END
    if "\n" in text or "\r" in text or ends_sentence:
        return space_after, SET
    if any(c.isalnum() for c in text):
        return space_after, CLEAR
    return space_after, KEEP


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class Codebook:
    """An immutable vocabulary with its encoder and decoder."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.fingerprint = _fingerprint(tokens)
        self.start_ids: dict[str, int] = {}
        self.cont_ids: dict[str, int] = {}
        self.literal_ids: dict[str, int] = {}
        self._bonds: dict[tuple[str, ...], str] = {}
        self._bond_heads: set[str] = set()
        self._longest_bond = 0
        self._role: list[int] = []
        self._space_after: list[bool] = []
        self._cap_effect: list[int] = []
        self._literal: list[bytes] = []
        self._variants: list[tuple[bytes, bytes, bytes, bytes] | None] = []
        by_role = {START: self.start_ids, CONT: self.cont_ids, LITERAL: self.literal_ids}
        for token_id, token in enumerate(tokens):
            role = role_of(token.kind, token.text)
            self._role.append(role)
            if token_id < N_BYTES:
                self._literal.append(bytes([token_id]))
                self._space_after.append(False)
                self._cap_effect.append(KEEP)
                self._variants.append(None)
                continue
            if role == MARKER:
                self._literal.append(b"")
                self._space_after.append(False)
                self._cap_effect.append(KEEP)
                self._variants.append(None)
                continue
            space_after, cap_effect = _effects(token.text)
            self._space_after.append(space_after)
            self._cap_effect.append(cap_effect)
            raw = token.text.encode("utf-8")
            self._literal.append(raw)
            if role == START:
                capital = upper_first(token.text).encode("utf-8")
                # index: 2 * (space implied) + (capital implied)
                self._variants.append((raw, capital, b" " + raw, b" " + capital))
            else:
                self._variants.append(None)
            by_role[role].setdefault(token.text, token_id)
            if token.kind == "bond":
                self._add_bond(token.text, role)
        self._space_id = self.literal_ids.get(" ")
        self._piece_cache: dict[tuple[str, bool, bool], tuple[tuple[int, ...], bool, bool]] = {}

    def _add_bond(self, text: str, role: int) -> None:
        """Index a bond by the pieces it spans in running text, in every spelling of its head."""
        head, *rest = pieces(text)
        heads = [head]
        if role == START:
            heads = [h for v in (head, upper_first(head)) for h in (v, " " + v)]
        for spelling in heads:
            parts = (spelling, *rest)
            if len(parts) > 1:
                self._bonds.setdefault(parts, "".join(parts))
                self._bond_heads.add(spelling)
                self._longest_bond = max(self._longest_bond, len(parts))

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Codebook(vocab_size={len(self)}, fingerprint={self.fingerprint!r})"

    # -- building and storing -------------------------------------------------

    @classmethod
    def from_entries(cls, entries: list[tuple[str, str]]) -> "Codebook":
        """Bytes and markers first, then ``entries`` (kind, text) in order."""
        tokens = [Token("byte", "") for _ in range(N_BYTES)]
        tokens += [Token("special", "<|scene|>"), Token("special", "<|glue|>"), Token("special", "<|flip|>")]
        seen = set()
        for kind, text in entries:
            if kind not in KINDS or kind in ("byte", "special"):
                raise ValueError(f"bad token kind {kind!r}")
            key = (role_of(kind, text), text)
            if text and key not in seen:
                seen.add(key)
                tokens.append(Token(kind, text))
        return cls(tokens)

    def to_json(self) -> bytes:
        body = [[t.kind, t.text] for t in self.tokens[FIRST_FREE_ID:]]
        return orjson.dumps(
            {"format": FORMAT, "version": VERSION, "fingerprint": self.fingerprint, "vocab_size": len(self), "tokens": body}
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
            book = cls.from_entries(entries)
            recorded = (doc["fingerprint"], doc["vocab_size"])
        except LtmcError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise LtmcError(f"{source}: corrupt codebook ({err!r}); mine a new one with `ltmc mine-bonds`", ExitCode.DATA) from None
        if recorded != (book.fingerprint, len(book)):
            raise LtmcError(f"{source}: codebook fingerprint does not match its tokens; the file was altered", ExitCode.DATA)
        return book

    @classmethod
    def load(cls, path: str | Path) -> "Codebook":
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise LtmcError(f"{path}: cannot read codebook ({err.strerror})", ExitCode.USAGE) from None
        return cls.from_json(data, str(path))

    # -- text → ids -------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Ids for ``text``. Stray bytes decoded with surrogateescape become byte ids.

        The pieces are covered by bonds and single pieces with the fewest ids in all:
        a shortest path over piece boundaries, each boundary reached in the decoder
        state (capital implied?, space implied?) of its best path. Ties go to the
        longest span from the earliest start.
        """
        parts = pieces(text)
        n = len(parts)
        bonds, heads, longest = self._bonds, self._bond_heads, self._longest_bond
        cost = [0] + [n * 64 + 64] * n
        state = [(True, False)] * (n + 1)
        link: list[tuple[int, tuple[int, ...]]] = [(0, ())] * (n + 1)  # (previous boundary, ids)
        for i in range(n):
            piece, here, (cap, space) = parts[i], cost[i], state[i]
            spans = [(i + 1, piece)]
            if piece in heads:
                for end in range(min(i + longest, n), i + 1, -1):
                    bond = bonds.get(tuple(parts[i:end]))
                    if bond:
                        spans.append((end, bond))
            for end, span in spans:
                seg, cap_after, space_after = self._piece_ids(span, cap, space)
                if here + len(seg) < cost[end]:
                    cost[end], state[end], link[end] = here + len(seg), (cap_after, space_after), (i, seg)
        chunks = []
        end = n
        while end:
            end, seg = link[end]
            chunks.append(seg)
        return [token_id for seg in reversed(chunks) for token_id in seg]

    def _piece_ids(self, piece: str, cap: bool, space: bool) -> tuple[tuple[int, ...], bool, bool]:
        """``_encode_piece``, cached per (piece, state)."""
        key = (piece, cap, space)
        hit = self._piece_cache.get(key)
        if hit is None:
            hit = self._encode_piece(piece, cap, space)
            if len(self._piece_cache) > 1 << 20:  # keep memory flat on huge, diverse corpora
                self._piece_cache.clear()
            self._piece_cache[key] = hit
        return hit

    def _encode_piece(self, piece: str, cap: bool, space: bool) -> tuple[tuple[int, ...], bool, bool]:
        """The shortest ids that decode to ``piece`` in this state, and the state after."""
        target = piece.encode("utf-8", "surrogateescape")
        candidates = []
        core = piece[1:] if piece[:1] == " " and piece[1:2].isalnum() else piece
        if core[:1].isalnum():
            lead = []
            if core is not piece and not space:
                lead = [self._space_id] if self._space_id is not None else list(b" ")
            elif core is piece and space:
                lead = [GLUE_ID]
            # Decoding can only raise a first letter, so a lower-case form has one spelling.
            lower = core[:1].lower() + core[1:]
            for variant in (core,) if lower == core else (core, lower):
                seg = self._segment_word(variant)
                if seg:
                    candidates.append(lead + seg)
                    candidates.append(lead + [FLIP_ID] + seg)
        else:
            candidates.append(self._segment_literal(piece))
        candidates.sort(key=len)
        candidates.append(self._spell(piece, space))  # always exact: the last resort
        for ids in candidates:
            out, cap_after, space_after = self._decode_run(ids, cap, space)
            if out == target:
                return tuple(ids), cap_after, space_after
        raise AssertionError(f"no encoding decodes back to {piece!r}")

    def _spell(self, piece: str, space: bool) -> list[int]:
        """Literal spelling: continuation letters, punctuation, bytes. Always exact."""
        ids = []
        for char in piece:
            token_id = self.cont_ids.get(char, self.literal_ids.get(char))
            ids.extend((token_id,) if token_id is not None else _char_bytes(char))
        return ids

    def _segment_word(self, word: str) -> list[int] | None:
        """Fewest tokens: one start token, then continuation tokens (shortest path)."""
        n = len(word)
        start, cont = self.start_ids, self.cont_ids
        inf = n * 8 + 8
        cost = [inf] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        for end in range(1, min(n, MAX_TOKEN_CHARS) + 1):
            token_id = start.get(word[:end])
            if token_id is not None:
                cost[end], back[end] = 1, (0, token_id)
        if cost[1] == inf and min(cost) == inf:
            return None  # no start token fits: only spelling can say this word
        for end in range(2, n + 1):
            best = cost[end]
            for begin in range(max(1, end - MAX_TOKEN_CHARS), end):
                if cost[begin] + 1 < best:
                    token_id = cont.get(word[begin:end])
                    if token_id is not None:
                        best, back[end] = cost[begin] + 1, (begin, token_id)
            if best == inf:
                char_bytes = _char_bytes(word[end - 1])
                best, back[end] = cost[end - 1] + len(char_bytes), (end - 1, -1)
            cost[end] = best
        out: list[int] = []
        end = n
        while end:
            begin, token_id = back[end]
            out[:0] = (token_id,) if token_id >= 0 else _char_bytes(word[begin])
            end = begin
        return out

    def _segment_literal(self, text: str) -> list[int]:
        """Fewest literal tokens (punctuation and whitespace runs), bytes as fallback."""
        n = len(text)
        table = self.literal_ids
        cost = [0] + [n * 8 + 8] * n
        back: list[tuple[int, tuple[int, ...]]] = [(0, ())] * (n + 1)
        for end in range(1, n + 1):
            fallback = self._spell(text[end - 1], False)
            cost[end], back[end] = cost[end - 1] + len(fallback), (end - 1, tuple(fallback))
            for begin in range(max(0, end - MAX_TOKEN_CHARS), end - 1):
                token_id = table.get(text[begin:end])
                if token_id is not None and cost[begin] + 1 < cost[end]:
                    cost[end], back[end] = cost[begin] + 1, (begin, (token_id,))
        out: list[int] = []
        end = n
        while end:
            begin, ids = back[end]
            out[:0] = ids
            end = begin
        return out

    # -- ids → text -------------------------------------------------------------

    def _decode_run(self, ids, cap: bool = True, space: bool = False) -> tuple[bytes, bool, bool]:
        role, variants, literal = self._role, self._variants, self._literal
        space_after, cap_effect = self._space_after, self._cap_effect
        out = []
        glue = flip = False
        try:
            if len(ids) and min(ids) < 0:  # a negative index would silently wrap around
                raise IndexError
            for token_id in ids:
                kind = role[token_id]
                if kind == START:
                    out.append(variants[token_id][2 * (space and not glue) + (cap != flip)])
                    glue = flip = False
                elif kind == MARKER:
                    if token_id == GLUE_ID:
                        glue = True
                    elif token_id == FLIP_ID:
                        flip = True
                    else:  # a scene separator: the next scene starts afresh
                        cap, space, glue, flip = True, False, False, False
                    continue
                else:
                    out.append(literal[token_id])
                space = space_after[token_id]
                effect = cap_effect[token_id]
                if effect == SET:
                    cap = True
                elif effect == CLEAR:
                    cap = False
        except (IndexError, TypeError):
            raise self._bad_id(ids) from None
        return b"".join(out), cap, space

    def _bad_id(self, ids) -> LtmcError:
        bad = next(i for i in ids if not (isinstance(i, int) and 0 <= i < len(self.tokens)))
        return LtmcError(
            f"token id {bad} is outside this codebook (size {len(self.tokens)}); decode with the codebook the shards were encoded with",
            ExitCode.DATA,
        )

    def decode_bytes(self, ids) -> bytes:
        """The UTF-8 (plus stray bytes) that a scene's ``ids`` stand for."""
        return self._decode_run(ids)[0]

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


_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name beside ``path``, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
