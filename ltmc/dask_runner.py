"""``ltmc encode --engine dask``: the same stages on a Dask cluster, the same shards byte for byte.

The driver only plans; the workers read the inputs and write the shards, so no
text or token data goes through the driver (the inputs and the output directory
must be on a filesystem every worker sees). Three rounds of tasks:

1. sniff     one task per input: size, sha256, encoding (as the local runner does).
2. encode    one task per input: its scenes, in batches of ``runner.BATCH_SCENES``,
             through :func:`ltmc.stages.encode_scenes`, streamed to an Arrow file
             under ``OUT_DIR/.ltmc-parts/``; returns only counts.
3. shard     one task per shard: the rows of global scenes
             ``[k * R, (k + 1) * R)``, R = ``runner.SHARD_SCENES``, cut from
             those part files, through ``shards.write_shard``.

The local runner fills shard k with exactly those scenes, so the plan depends
only on the per-file scene counts, in input order: no hashing, no scheduling order.
The output directory is identical to the local runner's, whatever the number of
workers. Without ``--codebook``, the codebook is mined on the driver first.
"""

from __future__ import annotations

import logging
import shutil
from contextlib import ExitStack
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ltmc import runner, shards
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.sources import Selection, Source, discover, log, read_bytes_blocks, sniff, text_blocks
from ltmc.stages import TOKEN_SCHEMA, encode_scenes

PARTS_DIR = ".ltmc-parts"


@dataclass(frozen=True)
class _TaskError:
    """An LtmcError raised in a worker, carried back with its exit code (which pickling an exception loses)."""

    message: str
    exit_code: int


def _guard(fn, *args):
    try:
        return fn(*args)
    except LtmcError as err:
        return _TaskError(str(err), err.exit_code)


def _unwrap(value):
    if isinstance(value, _TaskError):
        raise LtmcError(value.message, value.exit_code)
    return value


# -- tasks (run on the workers) --------------------------------------------------------

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


def _sniff_task(source: Source):
    return _guard(lambda: sniff(source))


def _encode_task(source: Source, encoding: str, part: str, codebook_path: str, fingerprint: str):
    def work():
        book = _codebook(codebook_path, fingerprint)
        scenes = tokens = n_bytes = 0
        with pa.OSFile(part, "wb") as sink, pa.ipc.new_file(sink, TOKEN_SCHEMA) as writer:
            for scene_batch in runner.scene_batches(source.name, encoding, text_blocks(read_bytes_blocks(source), encoding)):
                batch = encode_scenes(scene_batch, book)
                scenes += batch.num_rows
                tokens += shards.count_tokens(batch)
                n_bytes += pc.sum(batch.column("n_bytes")).as_py() or 0
                writer.write_batch(batch)
        return {"scenes": scenes, "tokens": tokens, "encoded_bytes": n_bytes}

    return _guard(work)


def _shard_task(path: str, pieces: list[tuple[str, int, int]]):
    """Write one shard from (part file, first row, rows) pieces."""
    tables = []
    for part, start, length in pieces:
        # Memory-mapped and left open: the slices refer to the mapping until the shard is written.
        tables.append(pa.ipc.open_file(pa.memory_map(part)).read_all().slice(start, length))
    writer = shards.ShardWriter(Path(path))
    if tables:
        writer.write(pa.concat_tables(tables))
    digest = writer.close()
    return {"rows": writer.rows, "tokens": writer.tokens, "sha256": digest}


# -- the plan (pure) -------------------------------------------------------------------


def plan_shards(scene_counts: list[int], rows_per_shard: int) -> list[list[tuple[int, int, int]]]:
    """Per shard, the (input index, first scene, scenes) pieces it holds, in order.

    Shard k holds global scenes [k * rows_per_shard, (k + 1) * rows_per_shard); an
    empty corpus still gets one (empty) shard, as in the local runner.
    """
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


# -- the driver ------------------------------------------------------------------------


def _client(stack: ExitStack, workers: int, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise LtmcError("--engine dask needs the dask extra: pip install 'ltmc[dask]'", ExitCode.USAGE) from None
    if scheduler:
        try:
            return stack.enter_context(Client(scheduler, timeout="30s"))
        except (OSError, TimeoutError) as err:
            raise LtmcError(f"{scheduler}: cannot reach the Dask scheduler ({err}); check the address", ExitCode.USAGE) from None
    cluster = stack.enter_context(
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )
    )
    return stack.enter_context(Client(cluster))


def encode_corpus_dask(
    arguments: list[str],
    out_dir: str | Path,
    codebook: Codebook | None = None,
    vocab_size: int = 32768,
    workers: int = 1,
    strict: bool = False,
    progress: runner.Progress | None = None,
    force: bool = False,
    scheduler: str | None = None,
    selection: Selection = Selection(),
) -> runner.EncodeResult:
    """:func:`ltmc.runner.encode_corpus` on a Dask cluster (a local one of ``workers`` processes by default)."""
    out_dir = Path(out_dir).absolute()
    result = runner.EncodeResult(out_dir)
    sources = discover(arguments, selection=selection)
    if any(s.path is None for s in sources):
        raise LtmcError("--engine dask reads files on the workers; it cannot read stdin ('-'): save it to a file first", ExitCode.USAGE)
    sources = [dataclasses.replace(s, path=s.path.absolute()) for s in sources]
    with ExitStack() as stack:
        client = _client(stack, workers, scheduler)
        inputs = []
        for source, sniffed in zip(sources, client.gather(client.map(_sniff_task, sources, pure=False))):
            if isinstance(sniffed, _TaskError):
                if strict:
                    _unwrap(sniffed)
                result.failures.append(runner.Failure(source.label, sniffed.message))
            else:
                if sniffed.doubt:
                    log.warning(sniffed.doubt)
                inputs.append(runner._Input(source, sniffed))
        if not inputs:
            raise LtmcError(f"{' '.join(arguments)}: no readable text files to encode", ExitCode.USAGE)
        return runner.encode_inputs(
            result, inputs, codebook, vocab_size, force, lambda book, into: _write_shards(client, inputs, into, book, progress), arguments
        )


def _write_shards(client, inputs, out_dir: Path, codebook: Codebook, progress) -> tuple[list[dict], list[dict]]:
    from distributed import as_completed

    parts_dir = out_dir / PARTS_DIR
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir()
    try:
        parts = [str(parts_dir / f"part-{i:06d}.arrow") for i in range(len(inputs))]
        book_path = str(out_dir / shards.CODEBOOK)
        futures = [
            client.submit(_encode_task, item.source, item.sniffed.encoding, part, book_path, codebook.fingerprint, pure=False, priority=item.sniffed.size)
            for item, part in zip(inputs, parts)  # largest first: a shorter tail
        ]
        index_of = {f.key: i for i, f in enumerate(futures)}
        counts: list[dict | None] = [None] * len(inputs)
        for future in as_completed(futures):
            i = index_of[future.key]
            counts[i] = _unwrap(future.result())
            if progress:
                progress(inputs[i].sniffed.size)

        plan = plan_shards([c["scenes"] for c in counts], runner.SHARD_SCENES)
        names = [shards.shard_name(k) for k in range(len(plan))]
        written = client.gather(
            client.map(
                _shard_task,
                [str(out_dir / name) for name in names],
                [[(parts[i], start, n) for i, start, n in pieces] for pieces in plan],
                pure=False,
            )
        )
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)

    shard_list = [{"file": name, "rows": w["rows"], "tokens": w["tokens"], "sha256": w["sha256"]} for name, w in zip(names, written)]
    documents = []
    for item, count in zip(inputs, counts):
        doc = runner._document_entry(item)
        doc.update(count)  # scenes, tokens and encoded_bytes, checked by shards.write_output
        documents.append(doc)
    return documents, shard_list
