"""The streams bench/train.py trains on: one per arm (tokenizer), all from the same text.

Arms:
- ``bpe``: byte-level BPE (HF tokenizers) trained on the mining part, the separator
  one of its ids;
- ``flat``: ltmc ids, codebook mined for the fewest ids;
- ``paired``: ltmc positions (``ltmc.pairing``), codebook mined for the fewest positions;
- ``paired-ids``: ltmc positions made from the ``flat`` arm's codebook (fewer ids per
  text, a few more positions);
- ``flat-nobonds``: ltmc ids, codebook mined for ids with no bond among the candidates
  (do bonds help a model, or only shorten the stream?);
- ``paired-nobonds``: ltmc positions made from the ``flat-nobonds`` arm's codebook;
- ``flat-rare``, ``paired-rare``: the same without bonds, each word form weighed by
  its count to the arm's ``COUNT_POWERS`` in mining (``mine-bonds --count-power``), so
  that ids go from common whole forms to the stems and pieces of rarer words; further
  for positions, where a stem and its ending share one place;
- ``paired3-rare``: ``paired-rare``'s codebook in places of up to three ids
  (``ltmc.pairing.pair(width=3)``), so that a word of a stem and two pieces takes one;
- ``paired3-punct``: the same with punctuation as continuations too
  (``ltmc.pairing.PUNCT_TAIL_KINDS``): a comma shares the place of the word before it;
  ``paired4-punct`` in places of up to four ids.
Every arm has the same vocabulary size, specials included.

Each stream is the separator followed by a scene's ids, scene after scene, and
every place knows the bytes it spells, so that the bits a model spends can be
laid on the text they stand for: per token kind (ltmc) and per word class (both).
Tokenizers and streams are cached in ``--cache``, keyed by everything they depend on.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import regex

from common import fail, log
from ltmc.codebook import SEPARATOR_ID, VERSION

ARMS = ("bpe", "flat", "paired", "paired-ids", "flat-nobonds", "paired-nobonds", "flat-rare", "paired-rare", "paired3-rare", "paired3-punct", "paired4-punct")
COUNT_POWERS = {"flat-rare": 0.7, "paired-rare": 0.5, "paired3-rare": 0.5, "paired3-punct": 0.5, "paired4-punct": 0.5}  # each the best measured (docs/benchmarks.md)
SEPARATOR_TEXT = "<|sep|>"  # BPE's separator, one of its ids


@dataclass
class Stream:
    """A tokenized text: ``places`` (n,) or (n, 2), and per place what it stands for."""

    places: np.ndarray
    slot_bytes: np.ndarray  # UTF-8 bytes each id adds to the text (0 for separators, markers), shaped as places
    n_bytes: int  # of the text (the scenes' UTF-8)
    vocab_size: int
    is_tail: np.ndarray | None = None  # paired streams: which ids are continuations

    @property
    def place_bytes(self) -> np.ndarray:
        return self.slot_bytes.sum(axis=1) if self.slot_bytes.ndim == 2 else self.slot_bytes


def is_paired(arm: str) -> bool:
    return arm.startswith("paired")


def place_width(arm: str) -> int:
    """Ids per place: 1 flat, 2 paired, N for ``pairedN-*``."""
    if not is_paired(arm):
        return 1
    digit = arm.removeprefix("paired")[:1]
    return int(digit) if digit.isdigit() else 2


def scene_order(texts: list[str]) -> list[str]:
    """Every scene of ``texts``, in an order fixed by a hash of its text: the same on every run."""
    from ltmc.scenes import split_scenes

    return [s for _, s in sorted((zlib.crc32(s.encode("utf-8", "surrogateescape")), s) for t in texts for s in split_scenes(t))]


def take_mb(scenes: list[str], megabytes: float) -> list[str]:
    out, size = [], 0
    for scene in scenes:
        if size >= megabytes * 1e6:
            break
        out.append(scene)
        size += len(scene.encode("utf-8", "surrogateescape"))
    return out


def utf8_len(scenes: list[str]) -> int:
    return sum(len(s.encode("utf-8", "surrogateescape")) for s in scenes)


class Tokenizers:
    """The arms' tokenizers at one vocabulary size, mined once and cached."""

    def __init__(self, mining_texts: list[str], vocab_size: int, cache: Path) -> None:
        self.texts, self.vocab_size, self.cache = mining_texts, vocab_size, cache
        digest = hashlib.sha256("\0".join(mining_texts[:: max(1, len(mining_texts) // 20)]).encode("utf-8", "surrogateescape"))
        self.key = f"{vocab_size}-{len(mining_texts)}-{sum(map(len, mining_texts))}-{digest.hexdigest()[:10]}"
        cache.mkdir(parents=True, exist_ok=True)
        self._made: dict = {}

    def get(self, arm: str):
        if arm not in self._made:
            power = COUNT_POWERS.get(arm, 1.0)
            self._made[arm] = self._bpe() if arm == "bpe" else self._codebook(paired=arm == "paired", bonds=not arm.endswith("-nobonds") and power == 1.0, count_power=power)
        return self._made[arm]

    def _codebook(self, paired: bool, bonds: bool, count_power: float):
        from ltmc import mining
        from ltmc.codebook import Codebook
        from ltmc.engines.local import LocalEngine, default_workers

        power = "" if count_power == 1 else f"-power{count_power:g}"
        name = f"{'pairs' if paired else 'ids'}{'' if bonds else '-nobonds'}{power}-{mining.default_objective(paired)}-v{VERSION}-{_mining_settings()}"
        path = self.cache / f"codebook-{name}-{self.key}.json"
        if path.exists():
            return Codebook.load(path)
        log(f"  mining {self.vocab_size} ids for {name}")
        book, _ = mining.mine(self.texts, self.vocab_size, paired=paired, bonds=bonds, stage_map=LocalEngine(default_workers()).map, count_power=count_power)
        book.save(path)
        return book

    def _bpe(self):
        from tokenizers import Tokenizer

        from ltmc.baselines import train_bpe

        path = self.cache / f"bpe-{self.key}.json"
        if path.exists():
            return Tokenizer.from_file(str(path))
        log(f"  training byte-level BPE of {self.vocab_size} ids")
        tokenizer = train_bpe(self.texts, self.vocab_size, special_tokens=(SEPARATOR_TEXT,))
        # Written as every cache file is (atomically): two runs may train it at once.
        from ltmc.files import write_atomic

        write_atomic(path, tokenizer.to_str().encode("utf-8"))
        return tokenizer


def made_by(tokenizer) -> str:
    """What a kept result was trained on: the codebook's fingerprint, or a digest of the BPE."""
    if hasattr(tokenizer, "fingerprint"):
        return tokenizer.fingerprint
    return "bpe:" + hashlib.sha256(tokenizer.to_str().encode()).hexdigest()[:16]


def separator_id(tokenizer) -> int:
    """The id that stands between scenes: ltmc's own, or the one BPE was trained with."""
    if hasattr(tokenizer, "fingerprint"):
        return SEPARATOR_ID
    separator = tokenizer.token_to_id(SEPARATOR_TEXT)
    if separator is None:
        raise ValueError(f"the BPE tokenizer has no {SEPARATOR_TEXT} token: train it again")
    return separator


def separator_places(places: np.ndarray, separator: int) -> np.ndarray:
    """Per place (an id, or a (head, tail) position), whether it is the separator."""
    return (places == separator) if places.ndim == 1 else (places == separator).all(axis=1)


def _mining_settings() -> str:
    """A digest of mining's numeric settings (``MORPH_FORMS`` and the like): a codebook
    mined before one of them changed is not the one mining would give now."""
    from ltmc import mining

    settings = sorted((name, value) for name, value in vars(mining).items() if name.isupper() and isinstance(value, (int, float)))
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:8]


def stream(tokenizers: Tokenizers, arm: str, scenes: list[str], label: str) -> Stream:
    """The arm's stream for ``scenes``, cached under ``label`` and a hash of the scenes."""
    digest = hashlib.sha256("\0".join(scenes).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    tok = tokenizers.get(arm)
    codebook_tag = "" if arm == "bpe" else f"-{tok.fingerprint.split(':')[-1][:12]}"  # ltmc's streams change with its codebook
    path = tokenizers.cache / f"stream2-{arm}{codebook_tag}-{label}-{tokenizers.key}-{digest}.npz"
    is_tail = None
    if arm != "bpe":
        from ltmc.pairing import PUNCT_TAIL_KINDS, tail_mask
        from ltmc.rules import CONT_KINDS

        # A codebook mined from little text may fall short of its budget: the model's
        # ids past it are heads that never occur.
        is_tail = np.zeros(tokenizers.vocab_size, dtype=bool)
        is_tail[: len(tok)] = tail_mask(tok, PUNCT_TAIL_KINDS if arm.endswith("-punct") else CONT_KINDS)
    if path.exists():
        saved = np.load(path)
        places, slot_bytes, n_bytes = saved["places"], saved["slot_bytes"], int(saved["n_bytes"])
    else:
        places, slot_bytes = _bpe_stream(tok, scenes) if arm == "bpe" else _ltmc_stream(tok, scenes)
        if is_paired(arm):
            places, slot_bytes = _pair(places, slot_bytes, is_tail, place_width(arm))
        n_bytes = utf8_len(scenes)
        save_arrays(path, places=places, slot_bytes=slot_bytes, n_bytes=n_bytes)
    made = Stream(places, slot_bytes, n_bytes, tokenizers.vocab_size, is_tail if is_paired(arm) else None)
    spelled = int(made.place_bytes.sum())
    if spelled != made.n_bytes:  # every bit is laid on the text's bytes, so the places must spell all of them
        fail(f"{arm} at {tokenizers.vocab_size}: the {label} stream spells {spelled:,} bytes of {made.n_bytes:,}", 1)
    return made


def _bpe_stream(tokenizer, scenes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    sep = separator_id(tokenizer)
    sizes = bpe_token_sizes(tokenizer)
    encodings = tokenizer.encode_batch(scenes, add_special_tokens=False)
    ids = np.fromiter((i for e in encodings for i in (sep, *e.ids)), dtype=np.int64)
    for scene, e in zip(scenes[:50], encodings[:50]):  # the baseline must be lossless to be fair
        if tokenizer.decode(e.ids) != scene:
            raise SystemExit("error: the BPE baseline does not decode back to its input")
    return ids, sizes[ids]


def bpe_token_sizes(tokenizer) -> np.ndarray:
    """UTF-8 bytes each BPE id spells: byte-level BPE writes each byte as one character,
    so a token spells as many bytes as it has characters; specials spell nothing."""
    sizes = np.zeros(tokenizer.get_vocab_size(), dtype=np.int64)
    specials = {t.content for t in tokenizer.get_added_tokens_decoder().values()}
    for token, token_id in tokenizer.get_vocab().items():
        if token not in specials:
            sizes[token_id] = len(token)
    return sizes


def _ltmc_stream(book, scenes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The separator then each scene's ids, and the bytes each id adds in its place
    (``DecodeStream.step_bytes``: the separator resets the decoder, a marker adds none)."""
    from ltmc.export import stream_bytes

    ids_column, _ = book.encode_scenes(scenes)
    batch = pa.RecordBatch.from_arrays([ids_column], names=["ids"])
    ids = np.frombuffer(stream_bytes(batch, "uint32"), dtype="<u4").astype(np.int64)
    spelling = book.decode_stream()
    return ids, np.fromiter((len(spelling.step_bytes(int(i))) for i in ids), dtype=np.int64, count=len(ids))


def _pair(flat: np.ndarray, sizes: np.ndarray, is_tail: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``width`` ids, and the bytes each of their slots spells (0 where empty)."""
    from ltmc.pairing import pair, slots

    places = pair(flat, is_tail, width=width).astype(np.int64)
    position, slot = slots(flat, is_tail, width=width)
    slot_bytes = np.zeros(places.shape, dtype=np.int64)
    slot_bytes[position, slot] = sizes
    return places, slot_bytes


def token_parts(tokenizer, arm: str) -> np.ndarray:
    """Each id's parts for ``ltmc.nn.GPT(parts=...)``, -1 padded: ltmc's from
    ``ltmc.parts``; a BPE id's are the two ids its merge joined."""
    if arm != "bpe":
        from ltmc.parts import token_parts as ltmc_parts

        return ltmc_parts(tokenizer)
    model = json.loads(tokenizer.to_str())["model"]
    vocab = model["vocab"]
    out = np.full((tokenizer.get_vocab_size(), 2), -1, dtype=np.int64)
    for merge in model["merges"]:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        out[vocab[left + right]] = vocab[left], vocab[right]
    return out


BPE_CLASSES = ("word start", "continuation", "other")  # the classes of ``--classes kinds`` for BPE


def token_classes(tokenizer, arm: str, vocab_size: int) -> np.ndarray:
    """Each id's class for ``ltmc.nn.GPT(classes=...)``: ltmc's by its kind
    (``ltmc.nn.kind_classes``); a BPE id's by its bytes (a space then a letter,
    letters alone, anything else)."""
    if arm != "bpe":
        from ltmc.nn import kind_classes

        return kind_classes(tokenizer, vocab_size)
    sizes = bpe_token_sizes(tokenizer)
    out = np.full(vocab_size, BPE_CLASSES.index("other"), dtype=np.int64)
    for i in range(tokenizer.get_vocab_size()):
        if not sizes[i]:  # a special
            continue
        text = tokenizer.decode([i])
        letters = text.lstrip(" ")
        # A byte-level piece may hold part of a letter's two bytes: it decodes as U+FFFD.
        if letters and all(c.isalpha() or c in "\ufffd-" for c in letters):
            out[i] = BPE_CLASSES.index("word start" if text.startswith(" ") else "continuation")
    return out


# -- where the bits go ------------------------------------------------------------------

WORD = regex.compile(r"[\p{L}\p{M}]+(?:[-'’][\p{L}\p{M}]+)*")
SENTENCE_END = regex.compile(r"[.!?…]['\"»”)\]]*\s*$|^\s*$|\n\s*[—–-]?\s*$")
COMMON_FORMS = 5000  # the most frequent lower-case forms of the training text are "common"
CLASSES = ("name", "sentence start", "common word", "rare word", "other")


def common_forms(texts: list[str]) -> set[str]:
    counts = Counter(m.group().lower() for t in texts for m in WORD.finditer(t))
    return {w for w, _ in counts.most_common(COMMON_FORMS)}


def word_spans(scenes: list[str], common: set[str]) -> Iterator[tuple[int, int, int]]:
    """(first byte, end byte, class index) of every word of the scenes, in order, its
    bytes counted from the first scene's start: a capitalised word after the start of
    a sentence is a ``name``, the first word of one a ``sentence start``, other words
    ``common`` or ``rare`` by their form."""
    offset = 0
    for scene in scenes:
        char_to_byte = offset + np.concatenate(([0], np.cumsum([len(c.encode("utf-8", "surrogateescape")) for c in scene])))
        for m in WORD.finditer(scene):
            word = m.group()
            if word[0].isupper():
                klass = "sentence start" if SENTENCE_END.search(scene[max(0, m.start() - 12) : m.start()]) else "name"
            else:
                klass = "common word" if word.lower() in common else "rare word"
            yield int(char_to_byte[m.start()]), int(char_to_byte[m.end()]), CLASSES.index(klass)
        offset = int(char_to_byte[-1])


def byte_classes(scenes: list[str], common: set[str]) -> np.ndarray:
    """One class index per UTF-8 byte of the scenes, in order: the class of the word
    it is in (``word_spans``), or ``other`` (spaces and punctuation)."""
    classes = np.full(utf8_len(scenes), CLASSES.index("other"), dtype=np.int8)
    for start, end, klass in word_spans(scenes, common):
        classes[start:end] = klass
    return classes


def byte_nats(place_nats: np.ndarray, place_bytes: np.ndarray, is_separator: np.ndarray) -> tuple[np.ndarray, float]:
    """(nats per byte of the text, plus one "end" slot past it; the separators' nats).
    Each place's nats are spread evenly over the bytes it spells; a place that spells
    nothing (a marker) gives its nats to the next byte."""
    nats = place_nats.reshape(len(place_bytes), -1).sum(axis=1)
    separator_nats = float(nats[is_separator].sum())
    nats = np.where(is_separator, 0.0, nats)
    starts = np.concatenate(([0], np.cumsum(place_bytes)[:-1]))
    spelled = place_bytes > 0
    # The spelling places cover the text in order, so their bytes follow one another.
    per_byte = np.append(np.repeat(nats[spelled] / place_bytes[spelled], place_bytes[spelled]), 0.0)
    np.add.at(per_byte, starts[~spelled], nats[~spelled])
    return per_byte, separator_nats


def bits_by_class(place_nats: np.ndarray, place_bytes: np.ndarray, classes: np.ndarray, is_separator: np.ndarray) -> dict:
    """``byte_nats`` summed by the class of each byte, the separators' under
    ``separator``. → {class: {bits, bytes}}."""
    total_bytes = int(place_bytes.sum())
    if total_bytes != len(classes):
        raise ValueError(f"the stream spells {total_bytes} bytes, the text has {len(classes)}")
    per_byte, separator_nats = byte_nats(place_nats, place_bytes, is_separator)
    separator_bits = float(separator_nats / np.log(2))
    result = {}
    labels = np.append(classes, len(CLASSES))
    for index, name in enumerate((*CLASSES, "end")):
        mask = labels == index
        bits = float(per_byte[mask].sum() / np.log(2))
        if mask[:-1].any() or bits:
            result[name] = {"bits": bits, "bytes": int(mask[:-1].sum())}
    result["separator"] = {"bits": separator_bits, "bytes": 0}
    return result


def bits_by_kind(book, places: np.ndarray, place_nats: np.ndarray, slot_bytes: np.ndarray) -> dict:
    """{kind: {bits, bytes}} over the predicted ids: ltmc's kinds, the two markers and the
    separator apart; in a paired place, an empty slot is ``empty head`` or ``empty tail``
    (the second tail of a place of three: ``empty tail 2``)."""
    names = np.array([_kind_name(book, i) for i in range(len(book))], dtype=object)  # room for "empty tail"
    labels = names[places]
    if places.ndim == 2:  # a slot holding the separator is empty, unless both do: the separator
        empty = places == SEPARATOR_ID
        not_separator = ~empty.all(axis=1)
        labels[empty[:, 0] & not_separator, 0] = "empty head"
        for k in range(1, places.shape[1]):
            labels[empty[:, k] & not_separator, k] = "empty tail" if k == 1 else f"empty tail {k}"
    labels, nats, sizes = labels.reshape(-1), place_nats.reshape(-1), slot_bytes.reshape(-1)
    return {str(k): {"bits": float(nats[labels == k].sum() / np.log(2)), "bytes": int(sizes[labels == k].sum())} for k in np.unique(labels)}


def _kind_name(book, token_id: int) -> str:
    from ltmc.fastpath import FLIP_ID, GLUE_ID

    return {SEPARATOR_ID: "separator", GLUE_ID: "glue", FLIP_ID: "flip"}.get(token_id) or book.kind_of(token_id)


def save_arrays(path: Path, array: np.ndarray | None = None, **arrays) -> None:
    """``np.save`` of ``array`` (a ``.npy``) or ``np.savez`` of ``arrays``, written
    atomically: two runs may fill one cache at once, and a half-written file must
    never be loaded."""
    from ltmc.files import atomic_file

    with atomic_file(path) as fh:
        if array is None:
            np.savez(fh, **arrays)
        else:
            np.save(fh, array)


def save_json(path: Path, data: dict) -> None:
    from ltmc.files import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8"))
