"""The Dask engine (``ltmc encode --engine dask``): the same stages on a Dask cluster,
the same output byte for byte.

The driver only plans; the workers read the inputs and write the shards, so no text
or token data goes through the driver (the inputs and the output directory must be
on a filesystem every worker sees). Three rounds of tasks:

1. sniff     one task per input: size, sha256, encoding (``inputs.open_inputs``
             applies the same skip-or-strict policy as with the local engine).
2. encode    one task per input: its scenes (read and checked against the sniffed
             sha256, as locally) through ``stages.encode_scenes``, streamed to an
             Arrow file under ``OUT_DIR/.ltmc-parts/``; returns only its tallies.
3. shard     one task per shard of ``shard_writer.plan_shards``: the rows of that
             shard, cut from the part files, through a ``shard_writer.ShardCutter``.

The plan depends only on the per-input scene counts, in input order, so shard k
holds the rows the local engine puts there, whatever the number of workers.
"""

from __future__ import annotations

import logging
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ltmc import shard_writer
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.inputs import Input, sniff_each
from ltmc.shard_writer import ShardCutter, document_entry, plan_shards, tally
from ltmc.shards import CODEBOOK
from ltmc.sources import STDIN, Sniffed, Source
from ltmc.stages import TOKEN_SCHEMA, encode_scenes

PARTS_DIR = ".ltmc-parts"


def open_engine(stack: ExitStack, arguments: list[str], workers: int, scheduler: str | None) -> "DaskEngine":
    """A Dask engine on the scheduler at ``scheduler``, or on a local cluster of
    ``workers`` processes; ``stack`` closes it."""
    if STDIN in arguments:
        raise LtmcError("--engine dask reads files on the workers; it cannot read stdin ('-'): save it to a file first", ExitCode.USAGE)
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise LtmcError("--engine dask needs the dask extra: pip install 'ltmc[dask]'", ExitCode.USAGE) from None
    if scheduler:
        try:
            return DaskEngine(stack.enter_context(Client(scheduler, timeout="30s")))
        except (OSError, TimeoutError) as err:
            raise LtmcError(f"{scheduler}: cannot reach the Dask scheduler ({err}); check the address", ExitCode.USAGE) from None
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR
    )
    stack.enter_context(cluster)
    return DaskEngine(stack.enter_context(Client(cluster)))


class DaskEngine:
    def __init__(self, client) -> None:
        self.client = client

    def sniff(self, sources: list[Source]) -> list[Sniffed | LtmcError]:
        """One task per input, sniffed as the local engine does (an error is a value)."""
        results = self.client.gather(self.client.map(sniff_each, [[_absolute(s)] for s in sources], pure=False))
        return [_as_given(sniffed, source) for (sniffed,), source in zip(results, sources)]

    def write_shards(self, inputs: list[Input], codebook: Codebook, out_dir: Path, progress) -> tuple[list[dict], list[dict]]:
        out_dir = out_dir.absolute()
        parts_dir = out_dir / PARTS_DIR
        shutil.rmtree(parts_dir, ignore_errors=True)
        parts_dir.mkdir()
        try:
            parts = [str(parts_dir / f"part-{i:06d}.arrow") for i in range(len(inputs))]
            counts = self._encode(inputs, parts, str(out_dir / CODEBOOK), codebook.fingerprint, progress)
            rows_per_shard = shard_writer.SHARD_SCENES  # read here: the workers may not share this process's settings
            plan = plan_shards([c["scenes"] for c in counts], rows_per_shard)
            pieces = [[(parts[i], start, n) for i, start, n in shard] for shard in plan]
            written = self.client.gather(
                self.client.map(_shard_task, [str(out_dir)] * len(plan), list(range(len(plan))), [rows_per_shard] * len(plan), pieces, pure=False)
            )
        finally:
            shutil.rmtree(parts_dir, ignore_errors=True)
        documents = [document_entry(item.source.name, item.sniffed) | count for item, count in zip(inputs, counts)]
        return documents, [entry for shard in written for entry in shard]

    def _encode(self, inputs: list[Input], parts: list[str], codebook_path: str, fingerprint: str, progress) -> list[dict]:
        """Encode every input into its part file; returns the tallies of each, in input order."""
        from distributed import as_completed

        futures = [
            self.client.submit(
                _guarded, _encode_task, Input(_absolute(item.source), item.sniffed), part, codebook_path, fingerprint, pure=False, priority=item.size
            )
            for item, part in zip(inputs, parts)  # largest first: a shorter tail
        ]
        index_of = {f.key: i for i, f in enumerate(futures)}
        counts: list[dict] = [{}] * len(inputs)
        for future in as_completed(futures):
            i = index_of[future.key]
            result = _as_given(future.result(), inputs[i].source)
            if isinstance(result, LtmcError):
                raise result
            counts[i] = result
            if progress:
                progress(inputs[i].size)
        return counts


def _absolute(source: Source) -> Source:
    """The source as a worker finds it, whatever its working folder."""
    return Source(source.path.absolute(), source.name)


def _as_given(result, source: Source):
    """A task's result; an error naming the input as the user named it, as the local
    engine's do, not by the absolute path the worker was given."""
    if isinstance(result, _TaskError):
        result = LtmcError(result.message, result.exit_code)
    if isinstance(result, LtmcError):
        return LtmcError(str(result).replace(_absolute(source).label, source.label), result.exit_code)
    return result


# -- tasks (run on the workers) --------------------------------------------------------------


@dataclass(frozen=True)
class _TaskError:
    """An LtmcError raised in a worker, carried back as a value with its exit code
    (so that one failed input does not fail the whole gather)."""

    message: str
    exit_code: int


def _guarded(fn, *args):
    try:
        return fn(*args)
    except LtmcError as err:
        return _TaskError(str(err), err.exit_code)


_codebooks: dict[tuple[str, str], Codebook] = {}


def _codebook(path: str, fingerprint: str) -> Codebook:
    """The codebook, read once per worker process from the output directory."""
    key = (path, fingerprint)
    if key not in _codebooks:
        book = Codebook.load(path)
        if book.fingerprint != fingerprint:
            raise LtmcError(f"{path}: codebook changed during the run; run encode again", ExitCode.DATA)
        _codebooks.clear()
        _codebooks[key] = book
    return _codebooks[key]


def _encode_task(item: Input, part: str, codebook_path: str, fingerprint: str) -> dict:
    book = _codebook(codebook_path, fingerprint)
    counts = {"scenes": 0, "tokens": 0, "encoded_bytes": 0}
    with pa.OSFile(part, "wb") as sink, pa.ipc.new_file(sink, TOKEN_SCHEMA) as writer:
        for scene_batch in item.scene_batches():
            batch = encode_scenes(scene_batch, book)
            tally({item.source.name: counts}, batch)
            writer.write_batch(batch)
    return counts


def _shard_task(out_dir: str, index: int, rows_per_shard: int, pieces: list[tuple[str, int, int]]) -> list[dict]:
    """Write shard ``index`` from (part file, first row, rows) pieces."""
    cutter = ShardCutter(Path(out_dir), index, rows_per_shard)
    for part, start, length in pieces:
        # Memory-mapped and left open: the slices refer to the mapping until the shard is written.
        cutter.write(pa.ipc.open_file(pa.memory_map(part)).read_all().slice(start, length))
    return cutter.close()
