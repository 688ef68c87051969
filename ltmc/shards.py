"""The output directory: Parquet shards of token rows, the codebook, a manifest;
its names and format, and reading it back, checked (writing it: ``ltmc.shard_writer``).

    OUT_DIR/
      manifest.json          format, version, codebook fingerprint, inputs, shards
      codebook.json          the codebook the ids refer to
      shard-00000.parquet    token rows (stages.TOKEN_SCHEMA), in input order
"""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.sources import ENCODINGS, NAME_ENCODINGS, file_system_name, unsafe_path
from ltmc.stages import TOKEN_SCHEMA

FORMAT = "ltmc-shards"
VERSION = 1
MANIFEST = "manifest.json"
CODEBOOK = "codebook.json"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def is_shard_name(name: str) -> bool:
    """Whether ``name`` is one ``shard_name`` gives."""
    return re.fullmatch(r"shard-\d{5,}\.parquet", name) is not None


VERSION_KEY = b"ltmc-shards-version"
READ_BATCH_ROWS = 256  # scenes per batch read back: bounds the memory of decode and stats


def count_tokens(rows: pa.RecordBatch | pa.Table) -> int:
    # Not len(ids.values): a sliced list array's values are its parent's, while its
    # offsets are its own. No pyarrow.compute: importing it costs every command ~45 ms.
    column = rows.column("ids")
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return sum(chunk.offsets[-1].as_py() - chunk.offsets[0].as_py() for chunk in chunks)


def shard_intact(root: Path, shard: dict) -> bool:
    """Whether the shard file is there with the checksum the manifest gives it."""
    try:
        return hashlib.sha256((root / shard["file"]).read_bytes()).hexdigest() == shard["sha256"]
    except OSError:
        return False


@dataclass
class Output:
    """An encoded output directory, opened for reading and checked."""

    root: Path
    manifest: dict
    codebook: Codebook

    @classmethod
    def open(cls, root: str | Path, codebook_path: str | Path | None = None) -> "Output":
        root = Path(root)
        if not root.is_dir():
            raise LtmcError(f"{root}: no such output directory; run `ltmc encode` first", ExitCode.USAGE)
        try:
            manifest = orjson.loads((root / MANIFEST).read_bytes())
        except FileNotFoundError:
            raise LtmcError(f"{root}: no {MANIFEST}; this is not an ltmc output directory (or encode did not finish)", ExitCode.DATA) from None
        except orjson.JSONDecodeError as err:
            raise LtmcError(f"{root / MANIFEST}: corrupt manifest ({err}); re-run `ltmc encode`", ExitCode.DATA) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise LtmcError(f"{root / MANIFEST}: not an ltmc manifest", ExitCode.DATA)
        if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
            raise LtmcError(
                f"{root / MANIFEST}: shard format version {manifest.get('version')} is newer than this ltmc reads ({VERSION}); upgrade ltmc",
                ExitCode.DATA,
            )
        _check_manifest(manifest, root / MANIFEST)
        codebook = Codebook.load(codebook_path or root / CODEBOOK)
        if codebook.fingerprint != manifest["codebook"]["fingerprint"]:
            raise LtmcError(
                f"{codebook_path or root / CODEBOOK}: codebook {codebook.fingerprint} does not match the shards "
                f"({manifest['codebook']['fingerprint']}); use the codebook.json written with them",
                ExitCode.DATA,
            )
        return cls(root, manifest, codebook)

    @property
    def documents(self) -> list[dict]:
        return self.manifest["documents"]

    def iter_batches(self, columns: list[str] | None = None):
        """Token batches of every shard, in order, checking each shard first."""
        for shard in self.manifest["shards"]:
            # The bytes checked are the ones parsed, row group by row group:
            # memory holds one compressed shard and one batch, whatever the shard's size.
            path, _, parquet = self._checked(shard, columns)
            with _reading(path):
                for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
                    yield _checked_rows(batch, len(self.codebook), path)

    def iter_row_groups(self, columns: list[str] | None = None):
        """For every row group of every shard, in order, a function that reads it as
        batches of READ_BATCH_ROWS rows; each shard is checked before its first. The
        functions may run on other threads, and hold the shard's checked bytes."""
        for shard in self.manifest["shards"]:
            path, data, parquet = self._checked(shard, columns)
            for group in range(parquet.num_row_groups):
                yield partial(_read_row_group, path, data, group, columns, len(self.codebook))

    def _checked(self, shard: dict, columns: list[str] | None) -> tuple[Path, bytes, pq.ParquetFile]:
        """The shard's bytes, checked against the manifest's sha256, opened as Parquet."""
        path = self.root / shard["file"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise LtmcError(f"{path}: shard listed in the manifest is missing; re-run `ltmc encode`", ExitCode.DATA) from None
        if hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise LtmcError(f"{path}: shard does not match the manifest's checksum (truncated or altered); re-run `ltmc encode`", ExitCode.DATA)
        with _reading(path):
            parquet = pq.ParquetFile(pa.BufferReader(data))
        _check_shard(parquet.schema_arrow, parquet.metadata.num_rows, shard, columns, path)
        return path, data, parquet


def _read_row_group(path: Path, data: bytes, group: int, columns: list[str] | None, vocab_size: int) -> list[pa.RecordBatch]:
    # A reader of its own: one ParquetFile is not to be shared between threads.
    with _reading(path):
        table = pq.ParquetFile(pa.BufferReader(data)).read_row_group(group, columns=columns)
        return [_checked_rows(batch, vocab_size, path) for batch in table.to_batches(max_chunksize=READ_BATCH_ROWS)]


def _checked_rows(batch: pa.RecordBatch, vocab_size: int, path: Path) -> pa.RecordBatch:
    """Refuse rows that every reader (decode, stats, export, glyphs) would trip over:
    an id outside the codebook, an encoding ltmc does not write."""
    if "ids" in batch.schema.names:
        column = batch.column("ids")  # not flatten(): it loads pyarrow.compute (see count_tokens)
        bounds = column.offsets.to_numpy()
        ids = column.values.to_numpy()[bounds[0] : bounds[-1]]  # the rows' ids only, even of a slice
        if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
            bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
            raise LtmcError(f"{path}: token id {bad} is outside the codebook's {vocab_size} ids; the shard does not belong to this codebook, re-run `ltmc encode`", ExitCode.DATA)
    if "encoding" in batch.schema.names:
        unknown = set(batch.column("encoding").to_pylist()) - ENCODINGS
        if unknown:
            raise LtmcError(f"{path}: rows name the encoding {sorted(map(str, unknown))[0]!r}, which ltmc does not write; the shard was altered, re-run `ltmc encode`", ExitCode.DATA)
    return batch


@contextmanager
def _reading(path: Path):
    try:
        yield
    except (pa.ArrowException, OSError) as err:
        raise LtmcError(f"{path}: corrupt Parquet shard ({err}); re-run `ltmc encode`", ExitCode.DATA) from None


def _check_manifest(manifest: dict, where: Path) -> None:
    """Refuse a manifest whose fields are missing, of the wrong type, or inconsistent."""
    def bad(why: str) -> LtmcError:
        return LtmcError(f"{where}: malformed manifest ({why}); re-run `ltmc encode`", ExitCode.DATA)

    def fields(entry, spec: dict, what: str) -> None:
        if not isinstance(entry, dict):
            raise bad(f"{what} is not an object")
        for key, kind in spec.items():
            if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
                raise bad(f"{what} has no valid {key!r}")

    fields(manifest.get("codebook"), {"fingerprint": str}, "codebook")
    documents, shard_list = manifest.get("documents"), manifest.get("shards")
    if not isinstance(documents, list) or not isinstance(shard_list, list):
        raise bad("no documents or shards list")
    names = set()
    for doc in documents:
        fields(doc, {"path": str, "bytes": int, "sha256": str}, "a document")
        if doc.get("encoding", "utf-8") not in ENCODINGS:
            raise bad(f"document {doc['path']!r} names the encoding {doc['encoding']!r}, which ltmc does not write")
        try:
            restored_relative(doc)
        except LtmcError as err:  # say where: the user may hold many outputs
            raise LtmcError(f"{where}: {err}", err.exit_code) from None
        if doc["path"] in names:
            raise bad(f"document {doc['path']!r} is listed twice")
        names.add(doc["path"])
        if isinstance(doc.get("scenes"), int) and (doc["bytes"] == 0) != (doc["scenes"] == 0):
            raise bad(f"document {doc['path']!r} has {doc['bytes']} bytes in {doc['scenes']} scenes")
    for shard in shard_list:
        fields(shard, {"file": str, "sha256": str, "rows": int}, "a shard")
        if PurePosixPath(shard["file"]).name != shard["file"] or not shard["file"].endswith(".parquet"):
            raise bad(f"shard file {shard['file']!r} is not a file name in the output directory")
    counted = all(isinstance(d.get("scenes"), int) for d in documents)
    if counted and sum(d["scenes"] for d in documents) != sum(s["rows"] for s in shard_list):
        raise bad("its documents' scenes do not add up to its shards' rows")


def _check_shard(schema: pa.Schema, num_rows: int, shard: dict, columns: list[str] | None, path: Path) -> None:
    """Refuse a shard of a newer format, with other columns, or other rows than the manifest says."""
    version = (schema.metadata or {}).get(VERSION_KEY, b"1")
    if not version.isdigit() or int(version) > VERSION:
        raise LtmcError(f"{path}: shard format version {version.decode(errors='replace')} is newer than this ltmc reads ({VERSION}); upgrade ltmc", ExitCode.DATA)
    for name in columns or TOKEN_SCHEMA.names:
        if schema.get_field_index(name) < 0 or not schema.field(name).type.equals(TOKEN_SCHEMA.field(name).type):
            raise LtmcError(f"{path}: not an ltmc shard (column {name!r} missing or of another type); re-run `ltmc encode`", ExitCode.DATA)
    if num_rows != shard["rows"]:
        raise LtmcError(f"{path}: shard has {num_rows} rows, the manifest says {shard['rows']}; re-run `ltmc encode`", ExitCode.DATA)


def restored_relative(doc: dict) -> PurePosixPath:
    """Where a manifest's document is restored below the destination: its path, in
    the bytes the file system gave when the name was not UTF-8."""
    encoding = doc.get("name_encoding", "utf-8")
    try:
        if encoding not in NAME_ENCODINGS:
            raise LookupError(encoding)
        return safe_relative(file_system_name(doc["path"], encoding))
    except (LookupError, UnicodeEncodeError):
        raise LtmcError(f"document {doc['path']!r}: its name cannot be given back in {encoding!r}; the manifest was altered, re-run `ltmc encode`", ExitCode.DATA) from None


def safe_relative(name: str) -> PurePosixPath:
    """A document path from a shard, refused if it could escape the output folder
    (``unsafe_path``, the rule encode's inputs pass too)."""
    why = unsafe_path(name)
    if why is not None:
        raise LtmcError(f"unsafe document path {name!r} (it {why}); refusing to write outside the output folder, re-run `ltmc encode`", ExitCode.DATA)
    return PurePosixPath(name)
