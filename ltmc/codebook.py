"""The codebook: what each id stands for, and text ⇄ ids with it.

Ids 0–255 are raw bytes, ids 256–258 the markers: the scene separator, GLUE and
FLIP (below); every other id stands for a string of one kind: a whole word form,
a stem, an ending, a suffix piece, a hyperbond, punctuation or whitespace
(``ltmc.vocab``). The file format is ``ltmc.codebook_file``.

Two things are implied rather than spelled, so that " он", "он", "Он" and " Он"
are one id, and the vocabulary spends its budget on meaning:

- a single space before a word, after a word or after punctuation that is
  followed by a space in running text (",", ".", "—", "»", ...);
- a capital at the start of a sentence: at the start of a scene, after a line
  break that does not indent the next line, or after ".", "!", "?" or "…".

The rules belong to the codebook's format version, so a codebook decodes as it
was written: version 1 had cruder ones (`ltmc.rules`). Version 3 has version 2's
rules and adds special tokens (below); version 4 adds counts.

A word no single token spells takes the fewest tokens. Of spellings with as
few, a codebook with counts (per id, how often it spells the mining corpus's
words) takes the likeliest under a unigram model of those counts, so a rare word
is spelled from common pieces (`мил|ой`, not `ми|лой`): a model trained on such
ids reached fewer bits per byte (docs/benchmarks.md, "Training"). Without counts
the longest last token wins, as before version 4.

A word that breaks the rule is preceded by a marker: GLUE (no space here) or
FLIP (the opposite capitalisation). The encoder checks every choice against the
decoder, so a rule can cost a token but never a byte.

Special tokens (BOS, EOS, PAD and the user's own, such as chat roles) close the
vocabulary in version 3. Ordinary text never produces one: ``encode`` gives one
only for the specials the caller allows. A special, like the scene separator, is a
reset: the text after it decodes from a sentence start, as a scene does.

Joining: ``encode`` assumes its text starts a sentence. Ids that depend on that
(the first word's implied capital or missing space) get the separator in front,
so ``decode(encode(a) + encode(b)) == a + b`` for any ``a`` and ``b``. A scene in
the shards starts at a scene start anyway and is encoded without it
(``encode_scenes``, ``encode(..., joinable=False)``).

Roles: a *start* token begins a word (words, stems, bonds that begin with a
letter) and takes the implied space and capital; a *cont* token continues one
(endings, suffix pieces); *literal* tokens (punctuation, whitespace, bytes) are
copied as they are.
"""

from __future__ import annotations

import functools
import gc
import math
import re
from array import array
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa

from ltmc.codebook_file import SPECIALS_SINCE, VERSION, check_counts, dump, fingerprint, parse
from ltmc.errors import ExitCode, LtmcError
from ltmc.files import write_atomic
from ltmc.literal_spelling import fewest_literals, spell_by_character
from ltmc.rules import RULES, effects, roles
from ltmc.scene_decoder import SpellingArrays, decode_scenes
from ltmc.vocab import DEFAULT_SPECIALS, FIRST_FREE_ID, FIXED_ENTRIES, N_BYTES, SEPARATOR_ID, NamedIds, Token, check_specials, unique_entries
from ltmc.fastpath import CONT, FLIP_ID, GLUE_ID, ID_TYPE, KEEP, LITERAL, MARKER, START, Tables, decode_run, encode_pieces, pieces

CACHE_LIMIT = 300_000  # pieces remembered per process: about 420 bytes each with their words
WEIGHT_SCALE = 1000  # weights in thousandths of a nat: integers, so that C and Python sum them alike


def unigram_weights(counts: list[int]) -> list[int]:
    """Per id, its log-probability (add-one smoothed) in thousandths of a nat: <= 0."""
    total = sum(counts) + len(counts)
    return [round(WEIGHT_SCALE * math.log((count + 1) / total)) for count in counts]


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class Codebook(NamedIds):
    """An immutable vocabulary with its encoder and decoder (and, from ``NamedIds``,
    the names tokenizer APIs give its ids)."""

    def __init__(self, entries: list, version: int = VERSION, counts: list[int] | None = None, known_fingerprint: str | None = None) -> None:
        """``entries``: (kind, text) per id, FIXED_ENTRIES first, as pairs (tuples or
        lists): a codebook that is only decoded never makes a Token object.
        ``counts``: per id, how often it was used (version 4 on), or None.
        ``known_fingerprint``: theirs, where the caller has computed it already."""
        self._entries = entries
        self.version = version
        self.counts = counts
        self.fingerprint = known_fingerprint or fingerprint(entries, version, counts)
        rules = RULES[version]
        self.start_ids: dict[str, int] = {}
        self.cont_ids: dict[str, int] = {}
        self.literal_ids: dict[str, int] = {}
        self.special_ids: dict[str, int] = {}  # BOS, EOS, PAD and the user's: text → id
        role = roles(entries)
        # Bytes and markers (from_entries puts them first) imply nothing.
        implied = effects([text for _, text in entries[FIRST_FREE_ID:]], rules)
        space_after = [False] * FIRST_FREE_ID + [space for space, _ in implied]
        cap_effect = [KEEP] * FIRST_FREE_ID + [effect for _, effect in implied]
        literal = [bytes([i]) for i in range(N_BYTES)] + [b""] * (FIRST_FREE_ID - N_BYTES)
        variants: list[tuple[bytes, bytes, bytes, bytes] | None] = [None] * FIRST_FREE_ID
        by_role = {START: self.start_ids, CONT: self.cont_ids, LITERAL: self.literal_ids}
        for token_id in range(FIRST_FREE_ID, len(entries)):
            text = entries[token_id][1]
            raw = text.encode("utf-8")
            literal.append(raw)
            token_role = role[token_id]
            if token_role == MARKER:  # a special token: its text, then a fresh start, like the separator
                self.special_ids[text] = token_id
                space_after[token_id], cap_effect[token_id] = False, KEEP
                variants.append(None)
                continue
            if token_role == START:
                capital = upper_first(text).encode("utf-8")
                variants.append((raw, capital, b" " + raw, b" " + capital))  # index: 2 * (space implied) + (capital implied)
            else:
                variants.append(None)
            by_role[token_role].setdefault(text, token_id)
        self._tables = Tables(role, variants, literal, space_after, cap_effect, self.literal_ids.get(" "))
        self._spelling_table: SpellingArrays | None = None
        self._encoder_ready = False  # the encoder's indexes are built on first use: decoding never needs them

    def prepare_encoder(self) -> None:
        """Build the encoder's indexes now (idempotent). An engine calls this before it
        forks workers, so they share one copy instead of each building its own."""
        if self._encoder_ready:
            return
        with _no_collections():
            self._build_encoder()

    def _build_encoder(self) -> None:
        tables = self._tables
        for token_id, (kind, text) in enumerate(self._entries):
            if kind == "bond":
                self._add_bond(text, tables.role[token_id])
        tables.start_ids, tables.cont_ids = self.start_ids, self.cont_ids
        # One cache per decoder state (2 * capital implied + space implied), so the hot
        # loop looks a piece up by the string alone.
        tables.caches = [{}, {}, {}, {}]
        tables.old_caches = [{}, {}, {}, {}]
        tables.word_cache = {}
        tables.cache_limit = CACHE_LIMIT
        tables.weights = unigram_weights(self.counts) if self.counts is not None else None
        tables.encode_other = self._encode_other
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
            node = self._tables.bonds.setdefault(spelling, [None, {}])
            for part in rest:
                node = node[1].setdefault(part, [None, {}])
            if node[0] is None:
                node[0] = spelling + "".join(rest)

    def __reduce__(self):
        # Where workers are spawned rather than forked, ship the compact JSON form.
        return Codebook.from_json, (self.to_json(),)

    def __len__(self) -> int:
        return len(self._entries)

    @functools.cached_property
    def tokens(self) -> list[Token]:
        """Every id's token, in id order."""
        return [Token(kind, text) for kind, text in self._entries]

    def __repr__(self) -> str:
        return f"Codebook(vocab_size={len(self)}, fingerprint={self.fingerprint!r})"

    # -- building and storing -------------------------------------------------

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, str]], version: int = VERSION, specials: Iterable[str] = DEFAULT_SPECIALS) -> "Codebook":
        """Bytes and markers first, then ``entries`` (kind, text) in order, then the
        special tokens (version 3 on; an older version has none)."""
        specials = check_specials(specials) if version >= SPECIALS_SINCE else ()
        return cls([*FIXED_ENTRIES, *unique_entries(entries), *(("special", text) for text in specials)], version)

    def with_counts(self, counts: Iterable[int]) -> "Codebook":
        """The same codebook with ``counts`` (one per id), which break its encoder's ties."""
        counts = [int(c) for c in counts]
        check_counts(counts, len(self), self.version)
        return Codebook(self._entries, self.version, counts)

    def to_json(self) -> bytes:
        return dump(self._entries, self.version, self.fingerprint, self.counts)

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, self.to_json())

    @classmethod
    def from_json(cls, data: bytes, source: str = "codebook") -> "Codebook":
        with _no_collections():
            entries, version, counts, checked = parse(data, source)
            return cls(entries, version, counts, known_fingerprint=checked)

    @classmethod
    def load(cls, path: str | Path) -> "Codebook":
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise LtmcError(f"{path}: cannot read codebook ({err.strerror})", ExitCode.USAGE) from None
        return cls.from_json(data, str(path))

    # -- text → ids -------------------------------------------------------------

    def encode(self, text: str | list[str], *, allowed_special: Iterable[str] | str = (), joinable: bool = True):
        """Ids for ``text``, or for a list of texts a list of ids each. Stray bytes
        decoded with surrogateescape become byte ids.

        ``allowed_special``: the special tokens (texts, or "all") that become their one
        id where the text holds them; any other text, specials' included, is spelled
        as text. ``joinable``: the separator in front of ids that depend on starting a
        sentence, so that separately encoded texts join (the module doc); False gives
        a scene's ids as the shards hold them."""
        if isinstance(text, list):
            return self.encode_batch(text, allowed_special=allowed_special, joinable=joinable)
        allowed = self._allowed_specials(allowed_special)
        if not allowed:
            return self._encode_fragment(text, joinable)
        # A special resets the decoder, so the text after one starts like a fragment.
        ids: list[int] = []
        at = 0
        for found in re.finditer("|".join(map(re.escape, sorted(allowed, key=len, reverse=True))), text):
            ids += self._encode_fragment(text[at : found.start()], joinable and at == 0)
            ids.append(self.special_ids[found.group()])
            at = found.end()
        return ids + self._encode_fragment(text[at:], joinable and at == 0)

    def encode_batch(self, texts: list[str], *, allowed_special: Iterable[str] | str = (), joinable: bool = True) -> list[list[int]]:
        return [self.encode(text, allowed_special=allowed_special, joinable=joinable) for text in texts]

    def _allowed_specials(self, allowed: Iterable[str] | str) -> frozenset[str]:
        if allowed == "all":
            return frozenset(self.special_ids)
        if isinstance(allowed, str):
            allowed = (allowed,)
        unknown = [text for text in allowed if text not in self.special_ids]
        if unknown:
            raise LtmcError(
                f"{unknown[0]!r} is not a special token of this codebook (it has {', '.join(self.special_ids) or 'none'}); "
                "mine one with `ltmc mine-bonds --special-token TEXT`",
                ExitCode.USAGE,
            )
        return frozenset(allowed)

    def _encode_fragment(self, text: str, joinable: bool) -> list[int]:
        ids = self.encode_counting_words(text)[0]
        return [SEPARATOR_ID, *ids] if joinable and self._depends_on_start(ids) else ids

    def _depends_on_start(self, ids: list[int]) -> bool:
        """Whether ``ids`` decode differently after other text than at a sentence start:
        a START token (whose space and capital are implied) comes before any token
        that settles the implied capital. GLUE and FLIP only change the next word
        relative to the state, so they settle nothing."""
        role, cap_effect = self._tables.role, self._tables.cap_effect
        for token_id in ids:
            if role[token_id] == START:
                return True
            if role[token_id] == MARKER and token_id not in (GLUE_ID, FLIP_ID):
                return False  # a reset: nothing after it depends on what came before
            if role[token_id] != MARKER and cap_effect[token_id] != KEEP:
                return False
        return False

    def encode_counting_words(self, text: str) -> tuple[list[int], int]:
        """Ids for ``text``, and how many words it holds (``pretokenize.count_words``),
        counted on the way: the pieces are already there."""
        self.prepare_encoder()
        packed, words = encode_pieces(pieces(text), self._tables)
        return array(ID_TYPE, packed).tolist(), words

    def encode_scenes(self, texts: list[str]) -> tuple[pa.ListArray, list[int]]:
        """Many scenes at once: their ids as one Arrow column of int32 lists, built
        from the encoder's packed output without a Python int in between, and the
        words each scene holds."""
        self.prepare_encoder()
        encoded = [encode_pieces(pieces(text), self._tables) for text in texts]
        offsets = np.zeros(len(texts) + 1, np.int32)
        np.cumsum([len(packed) // 4 for packed, _ in encoded], out=offsets[1:])
        values = pa.Array.from_buffers(pa.int32(), int(offsets[-1]), [None, pa.py_buffer(b"".join(p for p, _ in encoded))])
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values), [words for _, words in encoded]

    def _encode_other(self, piece: str, cap: bool, space: bool) -> tuple[tuple[int, ...], bool, bool]:
        """A piece the word path of ``fastpath`` does not settle: punctuation, spaces,
        bytes, or a word none of its candidates spells right. The fewest literal
        tokens if they decode back exactly, else a letter-by-letter spelling."""
        target = piece.encode("utf-8", "surrogateescape")
        for spell in (fewest_literals, spell_by_character):
            ids = spell(piece, self.cont_ids, self.literal_ids)
            out, cap_after, space_after = self._decode_run(ids, cap, space)
            if out == target:
                return tuple(ids), cap_after, space_after
        raise AssertionError(f"no encoding decodes back to {piece!r}")

    # -- ids → text -------------------------------------------------------------

    def _decode_run(self, ids, cap: bool = True, space: bool = False) -> tuple[bytes, bool, bool]:
        try:
            return decode_run(self._tables, ids, cap, space)
        except (IndexError, TypeError):
            raise self._bad_id(ids) from None

    def decode_continuing(self, ids, cap: bool = True, space: bool = False) -> tuple[bytes, bool, bool]:
        """The bytes ``ids`` stand for after text that left the decoder implying a
        capital (``cap``) and a space (``space``), and what they leave implied: for
        decoding token by token, as ``decode_bytes`` would decode them all at once."""
        return self._decode_run(ids, cap, space)

    def _bad_id(self, ids) -> LtmcError:
        bad = next(i for i in ids if not (isinstance(i, int) and 0 <= i < len(self)))
        return LtmcError(
            f"token id {bad!r} is outside this codebook (size {len(self)}); decode with the codebook the shards were encoded with",
            ExitCode.DATA,
        )

    def decode_bytes(self, ids) -> bytes:
        """The UTF-8 (plus stray bytes) that a scene's ``ids`` stand for."""
        return self._decode_run(ids)[0]

    def decode_scenes(self, ids: pa.ListArray) -> pa.LargeBinaryArray:
        """Many scenes at once, the same as ``decode_bytes`` on each row: in C
        (``fastpath.decode_flat``, without the GIL) when the extension is built."""
        return decode_scenes(self, ids)

    def prepare_decoder(self) -> None:
        """Build the batch decoder's arrays now (idempotent), so that threads decoding
        at once share one copy."""
        self._spellings()

    def _spellings(self) -> SpellingArrays:
        if self._spelling_table is None:
            self._spelling_table = SpellingArrays(self._tables)
        return self._spelling_table

    def decode(self, ids) -> str:
        return self.decode_bytes(ids).decode("utf-8", "surrogateescape")

    def decode_batch(self, batch) -> list[str]:
        return [self.decode(ids) for ids in batch]

    def decode_stream(self) -> "DecodeStream":
        """A decoder fed one id at a time (``ltmc.streaming``): ``step(id)`` gives the
        text that is final after that id, ``finish()`` what is left at the end."""
        from ltmc.streaming import DecodeStream

        return DecodeStream(self)


@contextmanager
def _no_collections():
    """Building a codebook makes some 10^5 objects and no reference cycles; the
    collector would rescan them over and over (40% of load and prepare_encoder)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

