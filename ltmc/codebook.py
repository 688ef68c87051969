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
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from ltmc.errors import ExitCode, LtmcError
from ltmc.pretokenize import count_words, pieces

FORMAT = "ltmc-codebook"
VERSION = 1
N_BYTES = 256
SEPARATOR_ID = 256
GLUE_ID = 257
FLIP_ID = 258
FIRST_FREE_ID = 259
MAX_TOKEN_CHARS = 48
CACHE_LIMIT = 300_000  # pieces remembered per process: about 420 bytes each with their words

KINDS = ("byte", "special", "word", "stem", "ending", "suffix", "bond", "punct", "space")
START_KINDS = frozenset({"word", "stem", "bond"})
CONT_KINDS = frozenset({"ending", "suffix"})
SPACE_AFTER = frozenset(",.;:!?…»)]}—–\"”")  # running text puts a space after these
SENTENCE_END = frozenset(".!?…")
CLOSERS = "»)]}\"”’'"
_SURROGATE_BASE = 0xDC00
_ALNUM = re.compile(r"[^\W_]")  # str.isalnum, as a regex

START, CONT, LITERAL, MARKER = 0, 1, 2, 3
KEEP, SET, CLEAR = 0, 1, 2
_SENTENCE_START = 2  # the encoder's state index at the start of a text: capital implied, no space


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
    if _ALNUM.search(text):
        return space_after, CLEAR
    return space_after, KEEP


def unique_entries(entries: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """(kind, text) entries in order, without empty texts or a (role, text) an
    earlier entry already has: one id for each string the encoder can tell apart."""
    seen = set()
    for kind, text in entries:
        if kind not in KINDS or kind in ("byte", "special"):
            raise ValueError(f"bad token kind {kind!r}")
        key = (role_of(kind, text), text)
        if text and key not in seen:
            seen.add(key)
            yield kind, text


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
        self._space_id = self.literal_ids.get(" ")
        self._spelling_table: _Spellings | None = None
        self._encoder_ready = False  # the encoder's indexes are built on first use: decoding never needs them

    def prepare_encoder(self) -> None:
        """Build the encoder's indexes now (idempotent). A runner calls this before it
        forks workers, so they share one copy instead of each building its own."""
        if self._encoder_ready:
            return
        self._bonds: dict[str, list] = {}
        for token_id, token in enumerate(self.tokens):
            if token.kind == "bond":
                self._add_bond(token.text, self._role[token_id])
        # Every token text and every prefix of one, mapped to its id (-1 for a mere
        # prefix): the segmenter walks forward only while a longer match is possible.
        self._start_walk = _prefix_walk(self.start_ids)
        self._cont_walk = _prefix_walk(self.cont_ids)
        # One cache per decoder state (2 * capital implied + space implied), so the hot
        # loop looks a piece up by the string alone.
        self._piece_caches: list[dict[str, tuple[tuple[int, ...], int, int]]] = [{}, {}, {}, {}]
        self._word_cache: dict[str, list[int] | None] = {}
        self._encoder_ready = True

    def _add_bond(self, text: str, role: int) -> None:
        """Index a bond by the pieces it spans in running text, in every spelling of its
        head: a trie of pieces whose nodes are [bond text or None, children]."""
        head, *rest = pieces(text)
        if not rest:
            return
        heads = [head]
        if role == START:
            heads = [h for v in (head, upper_first(head)) for h in (v, " " + v)]
        for spelling in heads:
            node = self._bonds.setdefault(spelling, [None, {}])
            for part in rest:
                node = node[1].setdefault(part, [None, {}])
            if node[0] is None:
                node[0] = spelling + "".join(rest)

    def __reduce__(self):
        # Where workers are spawned rather than forked, ship the compact JSON form.
        return Codebook.from_json, (self.to_json(),)

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Codebook(vocab_size={len(self)}, fingerprint={self.fingerprint!r})"

    # -- building and storing -------------------------------------------------

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str]]) -> "Codebook":
        """Bytes and markers first, then ``entries`` (kind, text) in order."""
        tokens = [Token("byte", "") for _ in range(N_BYTES)]
        tokens += [Token("special", "<|scene|>"), Token("special", "<|glue|>"), Token("special", "<|flip|>")]
        tokens += [Token(kind, text) for kind, text in unique_entries(entries)]
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
        """Ids for ``text``. Stray bytes decoded with surrogateescape become byte ids."""
        return self.encode_counting_words(text)[0]

    def encode_counting_words(self, text: str) -> tuple[list[int], int]:
        """Ids for ``text``, and how many words it holds (``pretokenize.count_words``),
        counted on the way: the pieces are already there."""
        self.prepare_encoder()
        parts = pieces(text)
        caches = self._piece_caches
        bonds = self._bonds
        ids: list[int] = []
        words = 0
        state = _SENTENCE_START
        i, n = 0, len(parts)
        while i < n:
            piece = parts[i]
            step = 1
            node = bonds.get(piece)
            if node is not None:  # a bond may start here: take the longest that does
                end = i + 1
                while end < n and (node := node[1].get(parts[end])) is not None:
                    end += 1
                    if node[0] is not None:
                        piece, step = node[0], end - i
            hit = caches[state].get(piece)
            if hit is None:
                hit = self._encode_new_piece(piece, state)
            seg, state, in_piece = hit
            ids += seg
            words += in_piece
            i += step
        return ids, words

    def _encode_new_piece(self, piece: str, state: int) -> tuple[tuple[int, ...], int, int]:
        if sum(map(len, self._piece_caches)) >= CACHE_LIMIT:  # keep memory flat on huge, diverse corpora
            for cache in self._piece_caches:
                cache.clear()
            self._word_cache.clear()
        seg, cap, space = self._encode_piece(piece, state >> 1 == 1, state & 1 == 1)
        hit = self._piece_caches[state][piece] = (seg, 2 * cap + space, count_words(piece))
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
            lower_seg = self._word_segments(lower)
            core_seg = None
            if core != lower:
                # A capitalised spelling of its own (a name) matters only if it is no
                # longer than the lower-case one with FLIP.
                core_seg = self._word_segments(core, len(lower_seg) + 2 if lower_seg else None)
            candidates = [lead + flip + seg for seg in (core_seg, lower_seg) if seg for flip in ([], [FLIP_ID])]
        else:
            candidates.append(self._segment_literal(piece))
        candidates.sort(key=len)
        for ids in candidates:
            out, cap_after, space_after = self._decode_run(ids, cap, space)
            if out == target:
                return tuple(ids), cap_after, space_after
        ids = self._spell(piece)  # always exact: the last resort
        out, cap_after, space_after = self._decode_run(ids, cap, space)
        assert out == target, f"no encoding decodes back to {piece!r}"
        return tuple(ids), cap_after, space_after

    def _word_segments(self, word: str, bound: int | None = None) -> list[int] | None:
        seg = self._word_cache.get(word, False)
        if seg is False:
            seg = self._word_cache[word] = self._segment_word(word, bound)
        return seg

    def _spell(self, piece: str) -> list[int]:
        """Literal spelling: continuation letters, punctuation, bytes. Always exact."""
        ids = []
        for char in piece:
            token_id = self.cont_ids.get(char, self.literal_ids.get(char))
            ids.extend((token_id,) if token_id is not None else _char_bytes(char))
        return ids

    def _segment_word(self, word: str, bound: int | None = None) -> list[int] | None:
        """Fewest tokens: one start token, then continuation tokens or, for a character
        no token covers, its bytes (shortest path; ties go to the longest last token).

        Positions are settled left to right. From each one the walk tables extend a
        match only while some token still begins with it, and a position that cannot
        beat the best whole path found so far is not expanded at all. With a ``bound``,
        only a path of fewer tokens counts (None if there is none)."""
        n = len(word)
        inf = n * 8 + 8
        cost = [inf] * (n + 1)
        if bound is not None:
            cost[n] = min(bound, inf)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        walk = self._start_walk
        for end in range(1, n + 1):
            token_id = walk.get(word[:end])
            if token_id is None:
                break
            if token_id >= 0:
                cost[end], back[end] = 1, (0, token_id)
        if cost[n] == 1:
            return [back[n][1]]
        if min(cost) == inf:
            return None  # no start token fits: only spelling can say this word
        walk = self._cont_walk
        for begin in range(1, n):
            reach = cost[begin] + 1
            if reach >= cost[n]:
                continue
            for end in range(begin + 1, n + 1):
                token_id = walk.get(word[begin:end])
                if token_id is None:
                    break
                if token_id >= 0 and reach < cost[end]:
                    cost[end], back[end] = reach, (begin, token_id)
            if reach < cost[begin + 1]:  # only bytes may get past this character
                spelled = cost[begin] + len(_char_bytes(word[begin]))
                if spelled < cost[begin + 1]:
                    cost[begin + 1], back[begin + 1] = spelled, (begin, -1)
        if bound is not None and cost[n] >= bound:
            return None
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
            fallback = self._spell(text[end - 1])
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

    def decode_scenes(self, ids: pa.ListArray) -> pa.LargeBinaryArray:
        """Many scenes at once, the same as ``decode_bytes`` on each row, but vectorised.

        The decoder's state before each token (space implied? capital implied? GLUE
        or FLIP pending?) is a function of the tokens before it, and each is found for
        all positions at once as "where was the last token that set it": a running
        maximum of positions. The token's spelling is then one of four per id, and
        one ``take`` lays all the bytes end to end."""
        flat = ids.flatten().to_numpy(zero_copy_only=False).astype(np.int32)
        starts = ids.offsets.to_numpy(zero_copy_only=False)
        starts = starts - starts[0]
        if flat.size and (flat.min() < 0 or flat.max() >= len(self.tokens)):
            raise self._bad_id(flat.tolist())
        table = self._spellings()
        n = flat.size
        if n == 0:
            return pa.array([b""] * len(ids), pa.large_binary())
        at = np.arange(n, dtype=np.int32)
        role = table.role[flat]
        # A scene starts afresh at its first token and after a scene separator.
        fresh = np.zeros(n + 1, bool)
        fresh[starts] = True
        fresh[1:] |= flat == SEPARATOR_ID
        since = np.maximum.accumulate(np.where(fresh[:n], at, np.int32(0)))

        def last_before(mask: np.ndarray) -> np.ndarray:
            """Position of the last token before each one where ``mask`` holds, or -1."""
            last = np.maximum.accumulate(np.where(mask, at, np.int32(-1)))
            return np.concatenate((np.array([-1], np.int32), last[:-1]))

        previous = last_before(role != MARKER)
        space = (previous >= since) & table.space_after[flat[previous]]
        effect = table.cap_effect[flat]
        setter = last_before(effect != KEEP)
        cap = np.where(setter >= since, effect[setter] == SET, True)
        pending_from = np.maximum(last_before(role == START), since - 1)
        glue = last_before(flat == GLUE_ID) > pending_from
        flip = last_before(flat == FLIP_ID) > pending_from
        variant = np.where(role == START, 2 * (space & ~glue) + (cap != flip), 0)
        spelled = table.spellings.take(pa.array(flat.astype(np.int64) * 4 + variant))
        _, offsets, data = spelled.buffers()
        ends = np.frombuffer(offsets, np.int64)[spelled.offset + starts]
        return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(ids), [None, pa.py_buffer(ends), data])

    def _spellings(self) -> "_Spellings":
        if self._spelling_table is None:
            self._spelling_table = _Spellings(self)
        return self._spelling_table

    def decode(self, ids) -> str:
        return self.decode_bytes(ids).decode("utf-8", "surrogateescape")

    def kind_of(self, token_id: int) -> str:
        return self.tokens[token_id].kind

    def piece_of(self, token_id: int) -> str:
        """Readable text for a token (bytes shown as <0xNN>)."""
        if token_id < N_BYTES:
            return f"<0x{token_id:02X}>"
        return self.tokens[token_id].text


class _Spellings:
    """The decoder's tables as arrays: per id its role, effects and four spellings
    (index 2 * space implied + capital implied; tokens that are not START have one)."""

    def __init__(self, book: Codebook) -> None:
        self.role = np.array(book._role, np.int8)
        self.space_after = np.array(book._space_after, bool)
        self.cap_effect = np.array(book._cap_effect, np.int8)
        four = []
        for literal, variants in zip(book._literal, book._variants):
            four.extend(variants or (literal,) * 4)
        self.spellings = pa.array(four, pa.large_binary())


def _prefix_walk(ids: dict[str, int]) -> dict[str, int]:
    walk: dict[str, int] = {}
    for text in ids:
        for end in range(1, len(text)):
            walk.setdefault(text[:end], -1)
    walk.update(ids)
    return walk


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
