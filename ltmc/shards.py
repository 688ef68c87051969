"""The output directory: Parquet shards of token rows, the codebook, a manifest.

    OUT_DIR/
      manifest.json          format, version, codebook fingerprint, inputs, shards
      codebook.json          the codebook the ids refer to
      shard-00000.parquet    token rows (stages.TOKEN_SCHEMA), in input order
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ltmc.codebook import Codebook, write_atomic
from ltmc.errors import ExitCode, LtmcError
from ltmc.stages import TOKEN_SCHEMA

FORMAT = "ltmc-shards"
VERSION = 1
MANIFEST = "manifest.json"
CODEBOOK = "codebook.json"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def write_shard(path: Path, batches: list[pa.RecordBatch]) -> str:
    """Write one shard atomically; return its sha256."""
    sink = io.BytesIO()
    table = pa.Table.from_batches(batches, schema=TOKEN_SCHEMA)
    pq.write_table(table, sink, compression="zstd", row_group_size=1024)
    data = sink.getvalue()
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def write_manifest(out_dir: Path, manifest: dict) -> None:
    write_atomic(out_dir / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


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
            path = self.root / shard["file"]
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise LtmcError(f"{path}: shard listed in the manifest is missing; re-run `ltmc encode`", ExitCode.DATA) from None
            if hashlib.sha256(data).hexdigest() != shard["sha256"]:
                raise LtmcError(f"{path}: shard does not match the manifest's checksum (truncated or altered); re-run `ltmc encode`", ExitCode.DATA)
            try:
                table = pq.read_table(pa.BufferReader(data), columns=columns)
            except (pa.ArrowException, OSError) as err:
                raise LtmcError(f"{path}: corrupt Parquet shard ({err}); re-run `ltmc encode`", ExitCode.DATA) from None
            yield from table.to_batches(max_chunksize=1024)


def safe_relative(name: str) -> PurePosixPath:
    """A document path from a shard, refused if it could escape the output folder."""
    path = PurePosixPath(name)
    if not name or "\0" in name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise LtmcError(f"shard holds an unsafe document path {name!r}; refusing to write outside the output folder", ExitCode.DATA)
    return path
