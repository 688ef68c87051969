"""Export the token shards in the formats that trainers read.

Three formats, all written under one destination folder together with the
codebook (to decode with) and ``meta.json`` (what was written, and how):

``nanogpt``
    ``train.bin`` and ``val.bin``: one flat array of token ids each, uint16 when
    every id fits (vocab_size ≤ 65,536), else uint32, little-endian, no header —
    what nanoGPT's ``np.memmap(path, dtype=np.uint16, mode="r")`` reads. Every
    scene is preceded by the separator id (``SEPARATOR_ID`` = 256), so splitting
    the stream at the separator gives the scenes back. ``meta.pkl`` carries
    ``vocab_size`` for nanoGPT's ``train.py``.

``llmc``
    llm.c's token files ``train_000000.bin``, ``val_000000.bin``, …: a header of
    256 int32 (magic 20240520, version, number of tokens) then the tokens, the
    same separator-before-each-scene stream as ``nanogpt``. Version 1 holds uint16
    tokens and is what llm.c's dataloader reads; a codebook with more than 65,536
    ids is written as version 2 with uint32 tokens, which stock llm.c refuses.
    A file holds at most ``LLMC_SHARD_TOKENS`` tokens.

``hf``
    Parquet shards ``train-00000-of-000NN.parquet`` (and ``validation-…``) with one
    row per scene: ``input_ids`` (list<int32>, no separator), ``path``, ``scene``.
    ``datasets.load_dataset("parquet", data_files=...)`` loads them.

The hf folder also holds ``tokenizer_config.json``, so that
``ltmc.hf.LtmcTokenizer.from_pretrained(folder)`` loads the codebook the shards
were encoded with (this module writes it as JSON; it never imports transformers).

``--paired`` (nanogpt and hf): positions instead of ids (see ``ltmc.pairing``).
The nanogpt streams, ``train_pairs.bin`` and ``val_pairs.bin`` (named so that
nothing reads them as ``train.bin`` by mistake), hold two ids per position, head
then tail, so ``np.memmap(...).reshape(-1, 2)`` gives the positions, with
(256, 256) as the separator; the hf rows hold ``head_ids`` and ``tail_ids``
instead of ``input_ids``. An empty slot holds 256. ``--place-width 3`` makes places
of a head and up to two continuations: ``train_places3.bin`` (``reshape(-1, 3)``)
and a third column, ``tail2_ids``. ``--punct-tails`` makes punctuation a
continuation too, so a comma shares the place of the word before it. meta.json and
meta.pkl name the kinds that continue a place (``tail_kinds``), from which
``pairing.tail_mask`` gives a reader the same split of the ids.

The train/validation split is by scene and deterministic: a scene goes to
validation when the first 8 bytes of sha256(path NUL scene) read as a fraction
fall below ``val_fraction``. It does not depend on the order, the shard layout or
the other documents, so adding a book never moves another book's scenes. When no
scene falls below it (a tiny corpus), the scene with the lowest hash does: no
validation file is ever empty. A split that would leave training empty is
refused, and ``val_fraction`` 0 writes no validation files at all.

(This note is why the module passes 400 lines: its code, after it, is under 390.)
"""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ltmc import pairing
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.files import STAGING_PREFIX, AtomicFile, claimed, os_error, publish, staging, write_atomic, write_parquet
from ltmc.shard_writer import is_output
from ltmc.shards import CODEBOOK, Output
from ltmc.vocab import BOS, EOS, PAD, SEPARATOR_ID

FORMATS = ("nanogpt", "llmc", "hf")
VAL_FRACTION = 0.1
LLMC_MAGIC = 20240520
LLMC_HEADER_INTS = 256
LLMC_SHARD_TOKENS = 100_000_000  # as llm.c's fineweb.py shards
HF_SHARD_ROWS = 100_000
META = "meta.json"
TOKENIZER_CONFIG = "tokenizer_config.json"

HF_SCHEMA = pa.schema([("input_ids", pa.list_(pa.int32())), ("path", pa.string()), ("scene", pa.int32())])


def hf_places_schema(width: int) -> pa.Schema:
    """The hf rows of places of ``width`` ids: head_ids, tail_ids, tail2_ids, …, path, scene."""
    slots = ["head_ids", "tail_ids", *(f"tail{k}_ids" for k in range(2, width))]
    return pa.schema([*((name, pa.list_(pa.int32())) for name in slots), ("path", pa.string()), ("scene", pa.int32())])


# -- pure parts -----------------------------------------------------------------


def stream_file_name(split: str, *, place_width: int = 1) -> str:
    """``train.bin``, or for places of more than one id ``train_pairs.bin`` (two) and
    ``train_places3.bin`` (three): nanoGPT's train.py reads train.bin, so it can never
    take a paired file for a flat one, nor one width for another."""
    return f"{split}.bin" if place_width == 1 else f"{split}_pairs.bin" if place_width == 2 else f"{split}_places{place_width}.bin"


def token_dtype(vocab_size: int) -> str:
    """'uint16' when every id (0 … vocab_size − 1) fits in 16 bits, else 'uint32'."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def stored_dtype(fmt: str, vocab_size: int) -> str:
    """The type of the ids that format ``fmt`` stores, as meta.json reports it: the
    Parquet lists' int32 for hf (what ``datasets`` reads), ``token_dtype`` for the flat streams."""
    return str(HF_SCHEMA.field("input_ids").type.value_type) if fmt == "hf" else token_dtype(vocab_size)


def is_val(path: str, scene: int, val_fraction: float = VAL_FRACTION) -> bool:
    """Whether scene ``scene`` of document ``path`` belongs to the validation split."""
    return val_fraction > 0 and scene_hash(path, scene) < val_fraction


def scene_hash(path: str, scene: int) -> float:
    """Where a scene falls in [0, 1): the first 8 bytes of sha256(path NUL scene)."""
    digest = hashlib.sha256(f"{path}\0{scene}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fallback_val_scene(documents: list[dict], val_fraction: float) -> tuple[str, int] | None:
    """The scene that goes to validation although ``is_val`` does not send it there:
    the one with the lowest hash, when no scene falls below ``val_fraction``. Raises
    when the scenes (the manifest's ``documents`` count them) cannot fill both splits."""
    scenes = [(doc["path"], scene) for doc in documents for scene in range(doc["scenes"])]
    if not scenes:
        raise LtmcError("the output holds no scenes to export; encode some text first", ExitCode.USAGE)
    if val_fraction <= 0:
        return None
    if len(scenes) < 2:
        raise LtmcError("the output holds 1 scene: a train/validation split needs 2; add text or pass --val-fraction 0", ExitCode.USAGE)
    in_val = sum(is_val(path, scene, val_fraction) for path, scene in scenes)
    if in_val == len(scenes):
        raise LtmcError(f"--val-fraction {val_fraction} sends all {len(scenes)} scenes to validation; lower it", ExitCode.USAGE)
    return None if in_val else min(scenes, key=lambda key: scene_hash(*key))


def split_batch(
    batch: pa.RecordBatch, val_fraction: float = VAL_FRACTION, also_val: tuple[str, int] | None = None
) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """Token rows → (train rows, validation rows), by ``is_val``; ``also_val`` is
    ``fallback_val_scene``'s scene."""
    mask = [
        is_val(p, s, val_fraction) or (p, s) == also_val
        for p, s in zip(batch.column("path").to_pylist(), batch.column("scene").to_pylist())
    ]
    val = pa.array(mask, pa.bool_())
    return batch.filter(pc.invert(val)), batch.filter(val)


def stream_bytes(batch: pa.RecordBatch, dtype: str, is_tail: np.ndarray | None = None, width: int = 2) -> bytes:
    """The flat little-endian token stream of ``batch``: separator, scene ids, separator, …

    With ``is_tail`` (``pairing.tail_mask``), the stream of positions instead: ``width``
    ids each, head then tails (``pairing``), the separator as the position (256, 256, …)."""
    ids = batch.column("ids")
    flat = ids.flatten().to_numpy(zero_copy_only=False)
    offsets = ids.offsets.to_numpy()
    is_separator = np.zeros(len(flat) + len(ids), dtype=bool)
    is_separator[offsets[:-1] - offsets[0] + np.arange(len(ids))] = True
    stream = np.full(len(is_separator), SEPARATOR_ID, dtype=np.int64)
    stream[~is_separator] = flat
    if is_tail is not None:
        stream = pairing.pair(stream, is_tail, width=width).ravel()
    arrow_type = pa.uint16() if dtype == "uint16" else pa.uint32()
    fitted = pc.cast(pa.array(stream), arrow_type)  # raises if an id does not fit
    return fitted.to_numpy().astype("<u2" if dtype == "uint16" else "<u4").tobytes()


def to_hf(batch: pa.RecordBatch, is_tail: np.ndarray | None = None, width: int = 2) -> pa.RecordBatch:
    """Token rows → HuggingFace rows (input_ids, path, scene), or with ``is_tail``
    (head_ids, tail_ids, …, path, scene): the scene's positions, one slot per column."""
    where = [batch.column("path"), batch.column("scene")]
    if is_tail is None:
        return pa.RecordBatch.from_arrays([batch.column("ids"), *where], schema=HF_SCHEMA)
    slots = pairing.pair_scenes(batch.column("ids"), is_tail, width)
    return pa.RecordBatch.from_arrays([*slots, *where], schema=hf_places_schema(width))


def llmc_header(n_tokens: int, dtype: str) -> bytes:
    header = [0] * LLMC_HEADER_INTS
    header[0] = LLMC_MAGIC
    header[1] = 1 if dtype == "uint16" else 2
    header[2] = n_tokens
    return struct.pack(f"<{LLMC_HEADER_INTS}i", *header)


# -- writing --------------------------------------------------------------------


@dataclass
class ExportResult:
    dest: Path
    format: str
    dtype: str
    vocab_size: int
    is_tail: np.ndarray | None = None  # set when the export is paired
    place_width: int = 1  # ids per place: 1 flat, 2 or more paired
    tail_kinds: tuple[str, ...] = ()  # paired: the kinds of the ids that continue a place
    splits: tuple[str, ...] = ("train", "val")  # the splits written: no "val" at --val-fraction 0
    files: list[str] = field(default_factory=list)
    scenes: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    tokens: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    positions: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})

    @property
    def paired(self) -> bool:
        return self.is_tail is not None

    def to_dict(self) -> dict:
        fields = {
            "dest": str(self.dest),
            "format": self.format,
            "dtype": self.dtype,
            "vocab_size": self.vocab_size,
            "separator_id": SEPARATOR_ID,
            "files": self.files,
            "scenes": self.scenes,
            "tokens": self.tokens,
            "paired": self.paired,
        }
        if self.paired:
            fields |= {"empty_id": pairing.EMPTY, "positions": self.positions, "place_width": self.place_width, "tail_kinds": list(self.tail_kinds)}
        return fields


class _StreamFile:
    """A growing flat token file of ``dtype`` ids (optionally with an llm.c header), written to a temp name."""

    def __init__(self, path: Path, dtype: str, header: bool) -> None:
        self.path = path
        self.dtype, self.header = dtype, header
        self.tokens = 0  # ids written, separators included
        self._target = AtomicFile(path)
        self.fh = self._target.file
        if header:
            self.fh.write(llmc_header(0, dtype))

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.tokens += len(data) // np.dtype(self.dtype).itemsize

    def close(self) -> None:
        if self.header:
            if self.tokens >= 2**31:
                raise LtmcError(f"{self.path}: more than 2^31 tokens do not fit llm.c's int32 header", ExitCode.DATA)
            self.fh.seek(0)
            self.fh.write(llmc_header(self.tokens, self.dtype))
        self._target.commit()

    def discard(self) -> None:
        """Drop the file unless it was closed (committed) already."""
        if not self.fh.closed:
            self._target.discard()


def export(
    out_dir: str | Path,
    dest: str | Path,
    fmt: str,
    val_fraction: float = VAL_FRACTION,
    progress=None,
    paired: bool = False,
    place_width: int = 2,
    punct_tails: bool = False,
) -> ExportResult:
    """Write the shards of ``out_dir`` to ``dest`` in format ``fmt`` (see the module doc);
    ``paired``: positions of (head, tail) ids instead of single ids (``pairing``), or
    of a head and up to ``place_width`` − 1 continuations; ``punct_tails``: punctuation
    continues a place too."""
    if fmt not in FORMATS:
        raise LtmcError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}", ExitCode.USAGE)
    if paired and fmt == "llmc":
        raise LtmcError("--paired writes several ids per position, which llm.c's loader cannot read; use --format nanogpt or hf", ExitCode.USAGE)
    if place_width < 2:
        raise LtmcError(f"--place-width must be 2 or more (a head and its continuations), not {place_width}", ExitCode.USAGE)
    if place_width != 2 and not paired:
        raise LtmcError(f"--place-width {place_width} is the width of paired places: add --paired", ExitCode.USAGE)
    if punct_tails and not paired:
        raise LtmcError("--punct-tails puts punctuation in the place of the word before it: add --paired", ExitCode.USAGE)
    if not 0 <= val_fraction < 1:
        raise LtmcError(f"--val-fraction must be in [0, 1), not {val_fraction}", ExitCode.USAGE)
    output = Output.open(out_dir)
    dest = Path(dest)
    if is_output(dest):
        raise LtmcError(f"{dest}: is an encode output; give the export a folder of its own", ExitCode.USAGE)
    vocab_size = len(output.codebook)
    tail_kinds = pairing.PUNCT_TAIL_KINDS if punct_tails else pairing.CONT_KINDS
    is_tail = pairing.tail_mask(output.codebook, tail_kinds) if paired else None
    splits = ("train", "val") if val_fraction > 0 else ("train",)
    result = ExportResult(dest, fmt, stored_dtype(fmt, vocab_size), vocab_size, is_tail, place_width if paired else 1, tuple(sorted(tail_kinds)) if paired else (), splits)
    also_val = fallback_val_scene(output.documents, val_fraction)
    # Written whole into a staging folder, then moved into place (meta.json last): a
    # failed or killed export leaves the previous one as it was.
    with claimed(dest, is_export, leftovers=_OLD_LEFTOVERS), staging(dest) as staged:
        try:
            splits = _split_stream(output.iter_batches(), val_fraction, result, progress, also_val)
            if fmt == "nanogpt":
                _write_nanogpt(splits, staged, result)
            elif fmt == "llmc":
                _write_llmc(splits, staged, result)
            else:
                _write_hf(splits, staged, result)
                write_atomic(staged / TOKENIZER_CONFIG, orjson.dumps(tokenizer_config(output.codebook), option=orjson.OPT_INDENT_2))
                result.files.append(TOKENIZER_CONFIG)
            write_atomic(staged / CODEBOOK, (output.root / CODEBOOK).read_bytes())
            meta = result.to_dict() | {
                "codebook": output.codebook.fingerprint,
                "val_fraction": val_fraction,
                "source": str(output.root),
            }
            meta.pop("dest")
            write_atomic(staged / META, orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        except OSError as err:
            raise os_error(err, dest) from None
        publish(staged, dest, [*result.files, CODEBOOK, META], _files_of_export(dest), first_gone=META)
    return result


def tokenizer_config(book: Codebook) -> dict:
    """``tokenizer_config.json`` for ``ltmc.hf.LtmcTokenizer``: its class name (which
    ``AutoTokenizer`` looks up) and the codebook's special tokens."""
    specials = book.special_ids
    named = {key: text if text in specials else None for key, text in (("bos_token", BOS), ("eos_token", EOS), ("pad_token", PAD))}
    return {
        "tokenizer_class": "LtmcTokenizer",
        **named,
        "extra_special_tokens": [text for text in specials if text not in named.values()],
        "clean_up_tokenization_spaces": False,
    }


# What exports of earlier versions left when killed: temporaries beside their files.
_OLD_LEFTOVERS = (".*.parquet.part", ".train*.tmp", ".val*.tmp", f".{META}.*.tmp", ".meta.pkl.*.tmp", f".{CODEBOOK}.*.tmp")


def is_export(folder: Path) -> bool:
    """Whether ``folder`` holds an export (its meta.json), or what a killed one left."""
    if any(folder.glob(STAGING_PREFIX + "*")):
        return True
    try:
        meta = read_meta(folder)
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(meta, dict) and meta.get("format") in FORMATS and "codebook" in meta


def _files_of_export(folder: Path) -> list[str]:
    """The files of the export in ``folder`` now, which a new one replaces or retires."""
    try:
        listed = read_meta(folder)["files"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return []
    return [name for name in listed if isinstance(name, str) and Path(name).name == name] + [CODEBOOK, META]


def _split_stream(batches: Iterable[pa.RecordBatch], val_fraction: float, result: ExportResult, progress, also_val):
    for batch in batches:
        train, val = split_batch(batch, val_fraction, also_val)
        for name, part in (("train", train), ("val", val)):
            result.scenes[name] += part.num_rows
            result.tokens[name] += len(part.column("ids").values) if part.num_rows else 0
            if result.paired and part.num_rows:
                result.positions[name] += pairing.count_positions(part.column("ids"), result.is_tail, result.place_width)
        if progress:
            progress(batch.num_rows)
        yield train, val


@contextmanager
def _discarding_on_failure(files):
    """Drop the temporaries of ``files`` (read when the block fails) if it fails."""
    try:
        yield
    except BaseException:
        for f in files:
            f.discard()
        raise


def _write_nanogpt(splits, dest: Path, result: ExportResult) -> None:
    files = {name: _StreamFile(dest / stream_file_name(name, place_width=result.place_width), result.dtype, header=False) for name in result.splits}
    with _discarding_on_failure(files.values()):
        for pair in splits:
            for name, part in zip(("train", "val"), pair):
                if part.num_rows and name in files:
                    files[name].write(stream_bytes(part, result.dtype, result.is_tail, result.place_width))
        for f in files.values():
            f.close()
            result.files.append(f.path.name)
    meta = {"vocab_size": result.vocab_size, "dtype": result.dtype, "separator_id": SEPARATOR_ID, "codebook": CODEBOOK, "paired": result.paired}
    if result.paired:
        meta["place_width"] = result.place_width
        meta["tail_kinds"] = list(result.tail_kinds)
    write_atomic(dest / "meta.pkl", pickle.dumps(meta))
    result.files.append("meta.pkl")


def _write_llmc(splits, dest: Path, result: ExportResult) -> None:
    current: dict[str, _StreamFile | None] = {"train": None, "val": None}
    index = {"train": 0, "val": 0}

    def target(name: str) -> _StreamFile:
        f = current[name]
        if f is None or f.tokens >= LLMC_SHARD_TOKENS:
            if f is not None:
                f.close()
                result.files.append(f.path.name)
            f = current[name] = _StreamFile(dest / f"{name}_{index[name]:06d}.bin", result.dtype, header=True)
            index[name] += 1
        return f

    with _discarding_on_failure(f for f in current.values() if f is not None):
        for pair in splits:
            for name, part in zip(("train", "val"), pair):
                if part.num_rows and name in result.splits:
                    target(name).write(stream_bytes(part, result.dtype))
        for name in result.splits:
            current[name].close()
            result.files.append(current[name].path.name)
    result.files.sort()


def _write_hf(splits, dest: Path, result: ExportResult) -> None:
    prefixes = {"train": "train", "val": "validation"}
    written: dict[str, list[Path]] = {"train": [], "val": []}
    pending: dict[str, list[pa.RecordBatch]] = {"train": [], "val": []}
    rows = {"train": 0, "val": 0}

    def flush(name: str) -> None:
        # Under a hidden name until the number of parts, which the final names hold, is known.
        tmp = dest / f".{prefixes[name]}-{len(written[name]):05d}.parquet.part"
        table = pa.Table.from_batches(pending[name], schema=hf_places_schema(result.place_width) if result.paired else HF_SCHEMA)
        write_parquet(tmp, table, compression="zstd")
        written[name].append(tmp)
        pending[name], rows[name] = [], 0

    for pair in splits:
        for name, part in zip(("train", "val"), pair):
            if part.num_rows and name in result.splits:
                pending[name].append(to_hf(part, result.is_tail, result.place_width))
                rows[name] += part.num_rows
                if rows[name] >= HF_SHARD_ROWS:
                    flush(name)
    for name in result.splits:
        if pending[name] or not written[name]:
            flush(name)
        total = len(written[name])
        for i, tmp in enumerate(written[name]):
            final = dest / f"{prefixes[name]}-{i:05d}-of-{total:05d}.parquet"
            os.replace(tmp, final)
            result.files.append(final.name)


def read_meta(dest: str | Path) -> dict:
    return orjson.loads(Path(dest, META).read_bytes())
