"""The one way token rows become an output directory (layout: ``ltmc.shards``).

Every producer of token rows (the local engine, the Dask engine's shard tasks,
``glyphs from``) hands its batches, in input order, to a ``ShardCutter``, which cuts
them into shards of exactly ``SHARD_SCENES`` rows (the last one fewer): how the work
was split never shows in the output. An engine that writes shards in parallel plans
the same cut with ``plan_shards`` and gives each task one shard's rows.

An output is written in one order, whatever the engine, into a folder it holds
(``claimed``): ``write_output`` writes the codebook, the shards and the manifest into a
staging folder, then moves them into place, the manifest last.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ltmc import codebook_file, files
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.files import STAGING_PREFIX, TEMP_SUFFIX, write_atomic
from ltmc.shards import CODEBOOK, FORMAT, MANIFEST, VERSION, VERSION_KEY, count_tokens, is_shard_name, shard_name
from ltmc.sources import UTF8
from ltmc.stages import TOKEN_SCHEMA

SHARD_SCENES = 16_384  # scenes per shard
ROW_GROUP_ROWS = 1024  # scenes per Parquet row group
SPOOL_PREFIX = ".spool-"  # a folder where encode workers leave token rows for the parent


class ShardWriter:
    """One shard, compressed row group by row group as its rows arrive, so that the
    writing keeps pace with the encoder instead of waiting for the whole shard.
    The file depends only on the rows, not on how they were batched; ``close``
    writes it atomically and returns its entry in the manifest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.tokens = 0
        self._sink = io.BytesIO()
        schema = TOKEN_SCHEMA.with_metadata({VERSION_KEY: str(VERSION).encode()})
        # zstd level 1: as small as the default level 3 on token ids, and 30% faster.
        self._writer = pq.ParquetWriter(self._sink, schema, compression="zstd", compression_level=1)
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, rows: pa.RecordBatch | pa.Table) -> None:
        self._pending.extend(rows.to_batches() if isinstance(rows, pa.Table) else [rows])
        self._pending_rows += rows.num_rows
        self.rows += rows.num_rows
        self.tokens += count_tokens(rows)
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        table = pa.Table.from_batches(self._pending, schema=TOKEN_SCHEMA)
        self._writer.write_table(table.slice(0, rows).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
        rest = table.slice(rows)
        self._pending, self._pending_rows = rest.to_batches(), rest.num_rows

    def close(self) -> dict:
        if self._pending_rows:
            self._flush(self._pending_rows)
        self._writer.close()
        data = self._sink.getvalue()
        write_atomic(self.path, data)
        return {"file": self.path.name, "rows": self.rows, "tokens": self.tokens, "sha256": hashlib.sha256(data).hexdigest()}


class ShardCutter:
    """Token batches in input order → shards ``first``, ``first + 1``, … of exactly
    ``rows_per_shard`` rows each, the last one fewer; with no rows at all, one empty shard."""

    def __init__(self, out_dir: Path, first: int = 0, rows_per_shard: int | None = None) -> None:
        self.out_dir = out_dir
        self.rows_per_shard = rows_per_shard or SHARD_SCENES
        self.shards: list[dict] = []  # the manifest's entries of the shards written
        self._next = first
        self._writer: ShardWriter | None = None

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        while batch.num_rows:
            if self._writer is None:
                self._writer = ShardWriter(self.out_dir / shard_name(self._next))
                self._next += 1
            take = min(batch.num_rows, self.rows_per_shard - self._writer.rows)
            self._writer.write(batch.slice(0, take))
            batch = batch.slice(take)
            if self._writer.rows == self.rows_per_shard:
                self._close_shard()

    def close(self) -> list[dict]:
        if self._writer is None and not self.shards:
            self._writer = ShardWriter(self.out_dir / shard_name(self._next))
        if self._writer is not None:
            self._close_shard()
        return self.shards

    def _close_shard(self) -> None:
        self.shards.append(self._writer.close())
        self._writer = None


def plan_shards(scene_counts: list[int], rows_per_shard: int) -> list[list[tuple[int, int, int]]]:
    """The cut ``ShardCutter`` makes, planned from the scenes of each input in order:
    per shard, the (input index, first scene, scenes) pieces it holds. Shard k holds
    global scenes [k * rows_per_shard, (k + 1) * rows_per_shard); an empty corpus
    still gets one (empty) shard."""
    plan: list[list[tuple[int, int, int]]] = [[]]
    room = rows_per_shard
    for index, count in enumerate(scene_counts):
        start = 0
        while start < count:
            if room == 0:
                plan.append([])
                room = rows_per_shard
            take = min(room, count - start)
            plan[-1].append((index, start, take))
            start += take
            room -= take
    return plan


# -- per-document tallies ----------------------------------------------------------------


def document_entry(source, sniffed) -> dict:
    """A document's manifest entry, its tallies at zero (``tally`` counts them)."""
    entry = {
        "path": source.name,
        "bytes": sniffed.size,
        "sha256": sniffed.sha256,
        "encoding": sniffed.encoding,
        "scenes": 0,
        "tokens": 0,
        "encoded_bytes": 0,
    }
    if source.name_encoding != UTF8:  # only then: outputs of UTF-8 names stay as they were
        entry["name_encoding"] = source.name_encoding
    return entry


def tally(documents: dict[str, dict], batch: pa.RecordBatch) -> int:
    """Count ``batch``'s token rows into their documents' entries; returns its bytes."""
    n_bytes = batch.column("n_bytes").to_pylist()
    n_ids = np.diff(batch.column("ids").offsets.to_numpy()).tolist()
    for name, size, ids in zip(batch.column("path").to_pylist(), n_bytes, n_ids):
        doc = documents[name]
        doc["scenes"] += 1
        doc["tokens"] += ids
        doc["encoded_bytes"] += size
    return sum(n_bytes)


# -- the output directory, in order ----------------------------------------------------------


# An output is built in a hidden staging folder inside OUT_DIR and its files are moved
# into place only when all are written: until then the previous output stays whole and
# usable, and a killed encode leaves nothing under a final name. Workers spool in there too.
# What encodes of earlier versions left when killed: temporaries beside the shards.
_OLD_LEFTOVERS = (".shard-*.parquet.*" + TEMP_SUFFIX, f".{MANIFEST}.*" + TEMP_SUFFIX, f".{CODEBOOK}.*" + TEMP_SUFFIX, SPOOL_PREFIX + "*")


def is_output(folder: Path) -> bool:
    """Whether ltmc wrote ``folder``: an ltmc manifest, what a killed encode left, or
    shards beside nothing but ltmc's names (an output whose manifest was lost or
    damaged, which encoding again must be able to replace)."""
    if any(folder.glob(STAGING_PREFIX + "*")):
        return True
    try:
        manifest = orjson.loads((folder / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return _only_shards(folder)
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT or _only_shards(folder)


def _only_shards(folder: Path) -> bool:
    """Whether ``folder`` holds ltmc shards and besides them at most a codebook and a manifest
    (which may be damaged: that is the case this is for)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    shards_there = [n for n in names if is_shard_name(n)]
    others = set(names) - set(shards_there)
    return (
        bool(shards_there)
        and others <= {MANIFEST, CODEBOOK}
        and all(_is_shard(folder / n) for n in shards_there)
        and (CODEBOOK not in others or codebook_file.is_codebook_file(folder / CODEBOOK))
    )


def _is_shard(path: Path) -> bool:
    try:
        return VERSION_KEY in (pq.read_schema(path).metadata or {})
    except (OSError, ValueError):
        return False


def claimed(out_dir: Path, inputs: Iterable[str | Path] = ()):
    """Hold ``out_dir`` for an encode (``files.claimed``): refused if ltmc did not write
    it, if it is inside an input (or holds one), or while another ltmc writes it; what
    a killed encode left in it is removed first."""
    return files.claimed(out_dir, is_output, inputs, _OLD_LEFTOVERS)


def write_output(out_dir: Path, codebook: Codebook, write_shards: Callable[[Path], tuple[list[dict], list[dict]]]) -> dict:
    """Write an output into a ``claimed`` ``out_dir``, in the one order every engine follows:
    the codebook, the shards (``write_shards(folder)`` writes them into ``folder`` and
    returns the document entries and shard list), the manifest, all in a staging folder;
    then the files move into place, the manifest last. ``documents`` may carry
    ``encoded_bytes`` (what the encoder read), which must be each document's sniffed
    size. Returns the totals recorded."""
    with files.staging(out_dir) as staged:
        codebook.save(staged / CODEBOOK)
        try:
            documents, shard_list = write_shards(staged)
        except OSError as err:  # the engines' own temporaries (spool, parts)
            raise files.os_error(err, out_dir) from None
        for doc in documents:
            if doc.pop("encoded_bytes", doc["bytes"]) != doc["bytes"]:
                raise LtmcError(f"{doc['path']}: file changed while it was read; run encode again", ExitCode.DATA)
        totals = {"documents": len(documents)} | {key: sum(d[key] for d in documents) for key in ("scenes", "tokens", "bytes")}
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "codebook": {"file": CODEBOOK, "fingerprint": codebook.fingerprint, "vocab_size": len(codebook)},
            "documents": documents,
            "shards": shard_list,
            "totals": totals,
        }
        write_atomic(staged / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        names = [s["file"] for s in shard_list]
        files.publish(staged, out_dir, [CODEBOOK, *names, MANIFEST], _shards_of(out_dir), first_gone=MANIFEST)
    return totals


def _shards_of(out_dir: Path) -> set[str]:
    """The shards of the output in ``out_dir`` now (of an interrupted one: all shard files)."""
    try:
        old = orjson.loads((out_dir / MANIFEST).read_bytes())
        return {s["file"] for s in old["shards"] if PurePosixPath(s["file"]).name == s["file"]}
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return {p.name for p in out_dir.glob("shard-*.parquet")}
