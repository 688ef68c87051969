"""The encoder's inner loop: in C when the extension was built, else in Python.

The C twin, the extension ``ltmc._fastpath`` built from ``ltmc/csrc/``, is a
step-for-step port of ``py_encode_pieces`` (``encode.c``) and ``py_segment_word``
(``wordpath.c``) below. The Python versions are the reference (tests hold the two
equal on random input) and the fallback where ltmc was installed without a C
compiler; ``ACCELERATED`` says which one runs.

Both read the codebook's own lists and dicts, gathered in ``Tables``; the only
structure of the C side's own is a pair of tries over code points that stand in for
the token texts (``Tables.native``, built on first use). Pieces that are not words
(punctuation, spaces, bytes) and the rare word no candidate spells right go back to
the codebook (``Tables.encode_other``): they are few and their rules are easier
read in Python.

``decode_flat`` is the decoder of whole scenes over the codebook's flat arrays
(``scene_decoder.SpellingArrays``); it drops the GIL, so decode threads run at
once. Without the extension ``scene_decoder`` decodes scene by scene with
``decode_run``, and a test holds the two equal.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import regex

from ltmc import pretokenize
from ltmc.pretokenize import count_words

START, CONT, LITERAL, MARKER = 0, 1, 2, 3  # token roles
KEEP, SET, CLEAR = 0, 1, 2  # what a token does to "capital implied"
GLUE_ID, FLIP_ID = 257, 258
SENTENCE_START = 2  # the decoder state at the start of a text: capital implied, no space
_SURROGATE_BASE = 0xDC00
CLASSIFIED = 0x3000  # code points below this have a class for the C pretokenizer (Latin, Cyrillic, punctuation ...)

# A cached piece: int32s, packed; the first is the decoder state after the piece
# plus 4 × the words it holds, the rest are its ids. One object, so that a cache hit
# reads one block of memory besides the dict.
Hit = bytes
ID_TYPE = "i"  # array type of packed ids: int32, native byte order, as Arrow lays out int32


@dataclass(slots=True)
class Tables:
    """The codebook as the inner loop reads it.

    Per id, for the decoder and for checking each encoder choice: role, the four
    spellings of a START token (index 2 * space implied + capital implied), the
    bytes of any other, whether a space is implied after it, its effect on the
    capital. The encoder's side is filled in by ``Codebook.prepare_encoder``."""

    role: list[int]
    variants: list[tuple[bytes, bytes, bytes, bytes] | None]
    literal: list[bytes]
    space_after: list[bool]
    cap_effect: list[int]
    space_id: int | None
    start_ids: dict[str, int] = field(default_factory=dict)  # token text → id
    cont_ids: dict[str, int] = field(default_factory=dict)
    walks: tuple[dict[str, int], dict[str, int]] | None = None  # py_segment_word's, built on its first use
    bonds: dict[str, list] = field(default_factory=dict)  # trie of pieces: [bond text or None, children]
    caches: list[dict[str, Hit]] = field(default_factory=list)  # one per decoder state: piece → Hit
    old_caches: list[dict[str, Hit]] = field(default_factory=list)  # the caches before the last turnover
    word_cache: dict[str, list[int] | None] = field(default_factory=dict)
    cache_limit: int = 0
    encode_other: Callable[[str, bool, bool], tuple[tuple[int, ...], bool, bool]] | None = None
    native: object = None  # the C side's tries over the walk tables, built on its first use
    weights: list[int] | None = None  # per id, a log-likelihood (<= 0) that breaks the segmenter's ties


@cache
def char_classes() -> bytes:
    """Per code point below CLASSIFIED: 1 letter, 2 mark, 3 number, 4 whitespace, 0 other,
    asked of the regex module itself, so the C pretokenizer agrees with
    ``pretokenize.PIECE_PATTERN`` whatever Unicode version the module carries."""
    chars = "".join(map(chr, range(CLASSIFIED)))
    table = bytearray(CLASSIFIED)
    for code, pattern in ((1, r"\p{L}"), (2, r"\p{M}"), (3, r"\p{N}"), (4, r"\s")):
        for char in regex.findall(pattern, chars):
            table[ord(char)] = code
    return bytes(table)


def pieces(text: str) -> list[str]:
    """``pretokenize.pieces(text)``, cut in C when every character is classified."""
    parts = split_pieces(text, char_classes()) if ACCELERATED else None
    return parts if parts is not None else pretokenize.pieces(text)


def char_bytes(char: str) -> tuple[int, ...]:
    """Byte ids for one character: a stray byte (decoded with surrogateescape) is
    itself, anything else its UTF-8."""
    code = ord(char)
    if _SURROGATE_BASE + 0x80 <= code <= _SURROGATE_BASE + 0xFF:
        return (code - _SURROGATE_BASE,)
    return tuple(char.encode("utf-8", "surrogatepass"))


def decode_run(t: Tables, ids, cap: bool = True, space: bool = False) -> tuple[bytes, bool, bool]:
    """The bytes ``ids`` stand for from a decoder state, and the state after.
    Raises IndexError or TypeError for an id that is not in the codebook."""
    role, variants, literal, space_after, cap_effect = t.role, t.variants, t.literal, t.space_after, t.cap_effect
    if len(ids) and min(ids) < 0:  # a negative index would silently wrap around
        raise IndexError
    out = []
    glue = flip = False
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
            else:  # the separator or a special token: its text (none for the separator), then a fresh start
                out.append(literal[token_id])
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
    return b"".join(out), cap, space


def py_encode_pieces(parts: list[str], t: Tables) -> tuple[bytes, int]:
    """Ids for a text cut into ``parts``, packed as int32, and how many words it holds.

    At each piece the bond trie gives the longest bond that starts there; the piece,
    or the bond, is then looked up in the cache of the current decoder state, and
    encoded and cached if it is not there yet."""
    bonds, caches = t.bonds, t.caches
    ids = bytearray()
    words = 0
    state = SENTENCE_START
    i, n = 0, len(parts)
    while i < n:
        piece = parts[i]
        step = 1
        node = bonds.get(piece)
        if node is not None:
            end = i + 1
            while end < n and (node := node[1].get(parts[end])) is not None:
                end += 1
                if node[0] is not None:
                    piece, step = node[0], end - i
        hit = caches[state].get(piece)
        if hit is None:
            hit = _encode_new_piece(piece, state, t)
        header = int.from_bytes(hit[:4], sys.byteorder, signed=True)
        ids += hit[4:]
        state = header & 3
        words += header >> 2
        i += step
    return bytes(ids), words


def _encode_new_piece(piece: str, state: int, t: Tables) -> Hit:
    hit = t.old_caches[state].get(piece)
    if hit is None:
        cap, space = state >> 1 == 1, state & 1 == 1
        seg, cap_after, space_after = _encode_word_piece(piece, cap, space, t) or t.encode_other(piece, cap, space)
        bare = piece[1:] if piece[:1] == " " else piece
        words = 1 if bare.isalpha() else count_words(piece)  # the common case without the regex
        hit = array(ID_TYPE, [2 * cap_after + space_after + 4 * words, *seg]).tobytes()
    _make_room(t)
    t.caches[state][piece] = hit
    return hit


def _make_room(t: Tables) -> None:
    """Keep memory flat on huge, diverse corpora: once the young caches hold
    ``cache_limit`` entries they become the old ones and the old ones are dropped,
    so what was used since the last turnover survives it."""
    if sum(map(len, t.caches)) >= t.cache_limit:
        for s, old in enumerate(t.old_caches):
            old.clear()
            t.old_caches[s], t.caches[s] = t.caches[s], old
        t.word_cache.clear()


def _encode_word_piece(piece: str, cap: bool, space: bool, t: Tables) -> tuple[tuple[int, ...], bool, bool] | None:
    """The shortest ids that decode to a piece that starts with a letter or digit
    (after one space), from this state; None for other pieces, or if no candidate
    decodes right. Decoding can only raise a first letter, so a lower-case form has
    one spelling; a capitalised one (a name) is tried as itself and as FLIP plus its
    lower-case form, and the first candidate, shortest first, that decodes back
    exactly is taken."""
    core = piece[1:] if piece[:1] == " " and piece[1:2].isalnum() else piece
    if not core[:1].isalnum():
        return None
    lead = []
    if core is not piece and not space:
        lead = [t.space_id] if t.space_id is not None else list(b" ")
    elif core is piece and space:
        lead = [GLUE_ID]
    lower = core[:1].lower() + core[1:]
    lower_seg = _word_segments(lower, None, t)
    core_seg = None
    if core != lower:
        # Its own spelling matters only if it is no longer than the lower-case one with FLIP.
        core_seg = _word_segments(core, len(lower_seg) + 2 if lower_seg else None, t)
    candidates = sorted((lead + flip + seg for seg in (core_seg, lower_seg) if seg for flip in ([], [FLIP_ID])), key=len)
    target = piece.encode("utf-8", "surrogateescape")
    for ids in candidates:
        out, cap_after, space_after = decode_run(t, ids, cap, space)
        if out == target:
            return tuple(ids), cap_after, space_after
    return None


def _word_segments(word: str, bound: int | None, t: Tables) -> list[int] | None:
    seg = t.word_cache.get(word, False)
    if seg is False:
        seg = t.word_cache[word] = py_segment_word(word, t, bound)
    return seg


def py_segment_word(word: str, t: Tables, bound: int | None) -> list[int] | None:
    """Fewest tokens for ``word``: one start token, then continuation tokens or, for a
    character no token covers, its bytes (shortest path). Ties go to the likeliest
    spelling when the codebook has weights (``Tables.weights``), else to the longest
    last token. None if no start token fits, or, with a ``bound``, if no path is
    shorter.

    Positions are settled left to right; from each, a match is extended only while
    some token still begins with it (the walk tables know every prefix), and a
    position that cannot beat the best whole path found so far is not expanded."""
    if t.walks is None:
        t.walks = _prefix_walk(t.start_ids), _prefix_walk(t.cont_ids)
    start_walk, cont_walk = t.walks
    weights = t.weights
    tied = weights is not None
    n = len(word)
    inf = n * 8 + 8
    cost = [inf] * (n + 1)
    # With weights, the summed weight of the best path to each position. Weights are
    # log-likelihoods (<= 0), so an unreached position (0) never wins a tie.
    gain = [0] * (n + 1)
    if bound is not None:
        cost[n] = min(bound, inf)
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for end in range(1, n + 1):
        token_id = start_walk.get(word[:end])
        if token_id is None:
            break
        if token_id >= 0:
            cost[end], back[end] = 1, (0, token_id)
            gain[end] = weights[token_id] if tied else 0
    if cost[n] == 1:
        return [back[n][1]]
    if min(cost) == inf:
        return None
    for begin in range(1, n):
        reach = cost[begin] + 1
        if reach > cost[n] or (reach == cost[n] and not tied):
            continue
        for end in range(begin + 1, n + 1):
            token_id = cont_walk.get(word[begin:end])
            if token_id is None:
                break
            if token_id >= 0:
                got = gain[begin] + weights[token_id] if tied else 0
                if reach < cost[end] or (tied and reach == cost[end] and got > gain[end]):
                    cost[end], back[end], gain[end] = reach, (begin, token_id), got
        if reach < cost[begin + 1] or (tied and reach == cost[begin + 1]):  # only bytes may get past this character
            spelled_ids = char_bytes(word[begin])
            spelled = cost[begin] + len(spelled_ids)
            got = gain[begin] + sum(weights[b] for b in spelled_ids) if tied else 0
            if spelled < cost[begin + 1] or (tied and spelled == cost[begin + 1] and got > gain[begin + 1]):
                cost[begin + 1], back[begin + 1], gain[begin + 1] = spelled, (begin, -1), got
    if bound is not None and cost[n] >= bound:
        return None
    out: list[int] = []
    end = n
    while end:
        begin, token_id = back[end]
        out[:0] = (token_id,) if token_id >= 0 else char_bytes(word[begin])
        end = begin
    return out


def _prefix_walk(ids: dict[str, int]) -> dict[str, int]:
    """Every token text and every proper prefix of one, mapped to its id (-1 for a
    mere prefix): the segmenter walks forward only while a longer match is possible.
    The C side walks tries over code points instead, built from the ids alone."""
    walk: dict[str, int] = {}
    for text in ids:
        for end in range(1, len(text)):
            walk.setdefault(text[:end], -1)
    walk.update(ids)
    return walk


try:
    from ltmc._fastpath import decode_flat, encode_pieces, segment_word, split_pieces

    ACCELERATED = True
except ImportError:  # installed without a C compiler
    encode_pieces, segment_word = py_encode_pieces, py_segment_word
    decode_flat = None  # ltmc.scene_decoder decodes scene by scene instead
    ACCELERATED = False
