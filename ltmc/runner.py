"""The local runner: reads inputs, composes the stages, writes shards and manifest."""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa

from ltmc import shards
from ltmc.codebook import DEFAULT_SPECIALS, Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.mining import MiningReport, mine
from ltmc.pretokenize import WORD_PATTERN
from ltmc.scenes import iter_scenes
from ltmc.sources import Source, Sniffed, discover, encode_text, read_checked, sniff, text_blocks
from ltmc.stages import MORPH_SCHEMA, SCENE_SCHEMA, TOKEN_SCHEMA, analyse_forms, decode_tokens, encode_scenes

BATCH_SCENES = 256  # scenes per batch
SHARD_SCENES = 16_384  # scenes per shard
# An input up to this size is read, cut into scenes and encoded by one worker; a
# larger one is cut here and its batches spread over the workers, so that no
# worker holds a whole big file.
WHOLE_INPUT_BYTES = 4 << 20
# Small inputs go to the workers in groups of at least this many bytes: a task
# costs the parent about half a millisecond to send and collect, as much as
# sniffing or encoding 100 kB, so one task per small file would keep it busy.
TASK_BYTES = 1 << 20
# Tasks in flight per worker. Results come back in order, so a long task holds up
# the ones after it; a deep queue keeps the other workers busy meanwhile.
IN_FLIGHT_PER_WORKER = 8
# Young collections every 100k allocations, older ones 50 and 1000 times rarer
# (Python's default: 700, 10, 10).
GC_THRESHOLD = (100_000, 50, 1000)
Progress = Callable[[int], None]


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class Failure:
    label: str
    message: str


@dataclass
class EncodeResult:
    out_dir: Path
    documents: int = 0
    scenes: int = 0
    tokens: int = 0
    bytes: int = 0
    up_to_date: bool = False
    mining: MiningReport | None = None
    failures: list[Failure] = field(default_factory=list)

    def record(self, totals: dict) -> None:
        """Take the totals a manifest was written with."""
        self.documents, self.scenes, self.tokens, self.bytes = (totals[k] for k in ("documents", "scenes", "tokens", "bytes"))


@dataclass
class _Input:
    source: Source
    sniffed: Sniffed

    def texts(self) -> Iterator[str]:
        # read_checked fails with "changed while it was read" if the bytes are not the sniffed ones
        return text_blocks(read_checked(self.source, self.sniffed), self.sniffed.encoding)

    def scene_batches(self) -> Iterator[pa.RecordBatch]:
        return scene_batches(self.source.name, self.sniffed.encoding, self.texts())


def _spool_stdin(stack: ExitStack) -> Path:
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ltmc-stdin-"))
    path = Path(tmp, "stdin")
    with open(path, "wb") as fh:
        shutil.copyfileobj(sys.stdin.buffer, fh)
    return path


def _sniff_sources(sources: list[Source]) -> list[Sniffed | LtmcError]:
    return [_sniff_source(source) for source in sources]


def _sniff_source(source: Source) -> Sniffed | LtmcError:
    try:
        return sniff(source)
    except LtmcError as err:
        return err  # a value, so one bad file does not stop the others


def _stat_size(source: Source) -> int:
    try:
        return os.stat(source.path).st_size
    except OSError:
        return 0  # sniffing it reports why


def _grouped(items: Iterable, size: Callable[[object], int], limit: int) -> Iterator[list]:
    """Consecutive ``items`` in lists of at least ``limit`` in total ``size`` (the last may be less)."""
    group: list = []
    total = 0
    for item in items:
        group.append(item)
        total += size(item)
        if total >= limit:
            yield group
            group, total = [], 0
    if group:
        yield group


def _open_inputs(arguments: list[str], strict: bool, failures: list[Failure], stack: ExitStack, workers: int = 1) -> list[_Input]:
    """The inputs, each sniffed (size, sha256, encoding) on ``workers`` processes."""

    def skip(label: str, err: LtmcError) -> None:
        if strict:
            raise err
        failures.append(Failure(label, str(err)))

    sources = [Source(_spool_stdin(stack), s.name) if s.path is None else s for s in discover(arguments, skip)]
    groups = _grouped(sources, _stat_size, TASK_BYTES)
    sniffed_groups = map_ordered(_sniff_sources, groups, min(workers, len(sources)))
    inputs = []
    for source, sniffed in zip(sources, (sniffed for group in sniffed_groups for sniffed in group)):
        if isinstance(sniffed, LtmcError):
            skip(source.label, sniffed)
        else:
            inputs.append(_Input(source, sniffed))
    if not inputs:
        detail = f"; {len(failures)} input(s) failed, the first: {failures[0].message}" if failures else "; pass text files or folders that hold some"
        raise LtmcError(f"{' '.join(arguments)}: no readable text files{detail}", ExitCode.USAGE)
    return inputs


def mine_corpus(
    arguments: list[str], vocab_size: int, progress: Progress | None = None, strict: bool = False, paired: bool = False, special_tokens: Iterable[str] = ()
):
    """Mine a codebook from the inputs (for paired positions with ``paired``), with BOS,
    EOS, PAD and ``special_tokens``; returns (codebook, report, failures)."""
    failures: list[Failure] = []
    with ExitStack() as stack:
        inputs = _open_inputs(arguments, strict, failures, stack)
        texts = (text for item in inputs for text in item.texts())
        with _few_collections():  # millions of n-gram tuples: 14 full collections, 4.3 s on ru/
            book, report = mine(texts, vocab_size, progress, paired, [*DEFAULT_SPECIALS, *special_tokens])
    return book, report, failures


def scene_batches(name: str, encoding: str, texts: Iterable[str]) -> Iterator[pa.RecordBatch]:
    """The scenes of one document (its text in blocks), BATCH_SCENES rows a batch, as raw bytes."""
    rows: dict[str, list] = {"path": [], "scene": [], "encoding": [], "data": []}
    for index, scene in enumerate(iter_scenes(texts)):
        rows["path"].append(name)
        rows["scene"].append(index)
        rows["encoding"].append(encoding)
        rows["data"].append(encode_text(scene, encoding))
        if len(rows["data"]) == BATCH_SCENES:
            yield pa.RecordBatch.from_pydict(rows, schema=SCENE_SCHEMA)
            rows = {key: [] for key in rows}
    if rows["data"]:
        yield pa.RecordBatch.from_pydict(rows, schema=SCENE_SCHEMA)


_worker_codebook: Codebook | None = None
_worker_spool: str | None = None


def _init_worker(codebook: Codebook, spool: str | None = None) -> None:
    # Forked workers inherit the parent's codebook as it is: nothing to parse again.
    global _worker_codebook, _worker_spool
    _worker_codebook, _worker_spool = codebook, spool


def _encode_tasks(inputs: list[_Input]) -> Iterator[list[_Input] | pa.RecordBatch]:
    """What the workers get: small inputs whole, in groups (they read them), a big
    one's scenes batch by batch."""
    small: list[_Input] = []
    for item in inputs:
        if item.sniffed.size <= WHOLE_INPUT_BYTES:
            small.append(item)
            continue
        yield from _grouped(small, _input_size, TASK_BYTES)
        small = []
        yield from item.scene_batches()
    yield from _grouped(small, _input_size, TASK_BYTES)


def _input_size(item: _Input) -> int:
    return item.sniffed.size


def _encode_in_worker(task: list[_Input] | pa.RecordBatch) -> list[pa.RecordBatch] | str:
    batches = [task] if isinstance(task, pa.RecordBatch) else (batch for item in task for batch in item.scene_batches())
    encoded = [encode_scenes(batch, _worker_codebook) for batch in batches]
    return encoded if _worker_spool is None else _spool_batches(encoded, _worker_spool)


def _spool_batches(batches: list[pa.RecordBatch], spool: str) -> str:
    """Hand token rows to the parent as an Arrow file in ``spool``, which it maps
    instead of unpickling a copy from a pipe. A 2-worker encode of 407 MB took
    1.5 s less CPU and 4.5% less time (median of 3 runs each)."""
    fd, path = tempfile.mkstemp(dir=spool, suffix=".arrow")
    with os.fdopen(fd, "wb") as sink, pa.ipc.new_file(sink, TOKEN_SCHEMA) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return path


def _unspooled(result: list[pa.RecordBatch] | str) -> list[pa.RecordBatch]:
    if not isinstance(result, str):
        return result
    with pa.memory_map(result) as source:  # the batches keep the mapping alive
        reader = pa.ipc.open_file(source)
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
    os.unlink(result)
    return batches


def map_ordered(fn, items, workers: int, init=None, init_args=(), threads: bool = False) -> Iterator:
    """``map(fn, items)`` on a pool of processes, or of threads for work that
    releases the GIL, in order, with a bounded number in flight."""
    if workers <= 1 or threads:
        if init:
            init(*init_args)
    if workers <= 1:
        with _few_collections():
            yield from map(fn, items)
    elif threads:
        with ThreadPoolExecutor(workers) as pool:
            yield from _in_order((pool.submit(fn, item) for item in items), workers, lambda future: future.result())
    else:
        context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
        with context.Pool(workers, initializer=_start_worker, initargs=(init, init_args)) as pool:
            yield from _in_order((pool.apply_async(fn, (item,)) for item in items), workers, lambda task: task.get())


def _in_order(submitted: Iterator, workers: int, result) -> Iterator:
    """Results of tasks as ``submitted`` yields them (lazily), in that order."""
    pending: deque = deque()
    for task in submitted:
        pending.append(task)
        if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())


def _start_worker(init, init_args) -> None:
    _collect_rarely()  # for the worker's whole life
    if init:
        init(*init_args)


@contextmanager
def _few_collections():
    """Collect garbage rarely. The encoder's caches add millions of small objects and
    no reference cycles; at Python's default thresholds the collector keeps
    rescanning them (about 5% of encode time, and 10% more once the inner loop is
    in C, when only the young generation is made rarer)."""
    threshold = _collect_rarely()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _collect_rarely() -> tuple[int, int, int]:
    """Move what exists now out of the collector's sight and raise its thresholds;
    returns the thresholds it replaced."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    return threshold


def _is_up_to_date(out_dir: Path, inputs: list[_Input], codebook: Codebook) -> bool:
    try:
        output = shards.Output.open(out_dir)
    except LtmcError:
        return False
    recorded = [(d["path"], d["sha256"]) for d in output.documents]
    wanted = [(i.source.name, i.sniffed.sha256) for i in inputs]
    if recorded != wanted or output.codebook.fingerprint != codebook.fingerprint:
        return False
    return all(shards.shard_intact(out_dir, s) for s in output.manifest["shards"])


def encode_corpus(
    arguments: list[str],
    out_dir: str | Path,
    codebook: Codebook | None = None,
    vocab_size: int = 32768,
    workers: int = 1,
    strict: bool = False,
    progress: Progress | None = None,
    force: bool = False,
) -> EncodeResult:
    out_dir = Path(out_dir)
    result = EncodeResult(out_dir)
    with ExitStack() as stack:
        inputs = _open_inputs(arguments, strict, result.failures, stack, workers)
        return encode_inputs(
            result, inputs, codebook, vocab_size, force, lambda book: _write_shards(inputs, out_dir, book, workers, progress)
        )


def encode_inputs(
    result: EncodeResult,
    inputs: list[_Input],
    codebook: Codebook | None,
    vocab_size: int,
    force: bool,
    write_shards: Callable[[Codebook], tuple[list[dict], list[dict]]],
) -> EncodeResult:
    """What every engine does with its opened inputs: mine a codebook if none is
    given, stop if the output is up to date, else write it (``write_shards(codebook)``
    writes the shards) and record its totals in ``result``."""
    if codebook is None:
        codebook, result.mining = mine((t for i in inputs for t in i.texts()), vocab_size)
    if not force and _is_up_to_date(result.out_dir, inputs, codebook):
        result.up_to_date = True
        return result
    result.record(write_output(result.out_dir, codebook, lambda: write_shards(codebook)))
    return result


def write_output(out_dir: Path, codebook: Codebook, write_shards: Callable[[], tuple[list[dict], list[dict]]]) -> dict:
    """The order every engine follows: codebook, shards (``write_shards`` returns the
    document entries and shard list), then the manifest. Returns the manifest's totals."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # From here until the new manifest is written the output is incomplete:
        # without a manifest, decode refuses it and a rerun encodes it again.
        (out_dir / shards.MANIFEST).unlink(missing_ok=True)
        codebook.save(out_dir / shards.CODEBOOK)
        documents, shard_list = write_shards()
        for doc in documents:
            if doc.pop("encoded_bytes") != doc["bytes"]:
                raise LtmcError(f"{doc['path']}: file changed while it was read; run encode again", ExitCode.DATA)
        totals = shards.finish(out_dir, codebook, documents, shard_list)
        shards.remove_stale_temps(out_dir)  # left by an encode that was killed
        return totals
    except PermissionError as err:
        raise LtmcError(f"{err.filename or out_dir}: permission denied; choose a writable output directory", ExitCode.IO) from None
    except OSError as err:
        raise LtmcError(f"{err.filename or out_dir}: cannot write output ({err.strerror}); free space or choose another directory", ExitCode.IO) from None


def _write_shards(inputs, out_dir: Path, codebook: Codebook, workers: int, progress) -> tuple[list[dict], list[dict]]:
    """Encode on the pool and write shards of exactly SHARD_SCENES rows (the last one
    fewer), in input order: how the work was split never shows in the output."""
    documents = {i.source.name: _document_entry(i) for i in inputs}
    shard_list: list[dict] = []
    writer = None

    def close_shard() -> None:
        digest = writer.close()
        shard_list.append({"file": writer.path.name, "rows": writer.rows, "tokens": writer.tokens, "sha256": digest})

    codebook.prepare_encoder()
    with ExitStack() as stack:
        # Beside the shards, so that a killed encode's leftovers go with its other temporary files.
        spool = stack.enter_context(tempfile.TemporaryDirectory(prefix=shards.SPOOL_PREFIX, dir=out_dir)) if workers > 1 else None
        results = map_ordered(_encode_in_worker, _encode_tasks(inputs), workers, _init_worker, (codebook, spool))
        stack.callback(results.close)  # stop the pool before its spool goes, however this ends
        for batch in (batch for result in results for batch in _unspooled(result)):
            n_bytes = batch.column("n_bytes").to_pylist()
            for name, size, ids in zip(batch.column("path").to_pylist(), n_bytes, np.diff(batch.column("ids").offsets.to_numpy()).tolist()):
                doc = documents[name]
                doc["scenes"] += 1
                doc["tokens"] += ids
                doc["encoded_bytes"] += size
            if progress:
                progress(sum(n_bytes))
            while batch.num_rows:
                if writer is None:
                    writer = shards.ShardWriter(out_dir / shards.shard_name(len(shard_list)))
                take = min(batch.num_rows, SHARD_SCENES - writer.rows)
                writer.write(batch.slice(0, take))
                batch = batch.slice(take)
                if writer.rows == SHARD_SCENES:
                    close_shard()
                    writer = None
    if writer is not None or not shard_list:
        writer = writer or shards.ShardWriter(out_dir / shards.shard_name(0))
        close_shard()
    return list(documents.values()), shard_list


def _document_entry(item: _Input) -> dict:
    return {
        "path": item.source.name,
        "bytes": item.sniffed.size,
        "sha256": item.sniffed.sha256,
        "encoding": item.sniffed.encoding,
        "scenes": 0,
        "tokens": 0,
        "encoded_bytes": 0,
    }


@dataclass
class DecodeResult:
    documents: int = 0
    bytes: int = 0
    mismatches: list[str] = field(default_factory=list)
    checked: list[tuple[str, bool]] = field(default_factory=list)



# A document's bytes from one row group: (name, size, the bytes, their sha256). For a
# document wholly inside the row group the decoding thread hashes it itself, and
# writes its file when restoring to a directory (the bytes are then None).
Run = tuple[str, int, pa.Buffer | None, str | None]


def _decode_row_group(read: Callable[[], list[pa.RecordBatch]], restore: Callable[[list[tuple[str, pa.Buffer]]], list[Run]]) -> list[Run]:
    """A row group decoded into runs of one document each: the threads share out
    decoding, hashing and writing, and the main thread only joins the documents
    that span row groups."""
    return restore([run for batch in read() for run in _document_runs(decode_tokens(batch, _worker_codebook))])


def _document_runs(batch: pa.RecordBatch) -> Iterator[tuple[str, pa.Buffer]]:
    paths = batch.column("path").to_pylist()
    data = batch.column("data")
    # Rows of a binary array lie end to end in its values buffer: a run of rows is one slice of it.
    offsets = np.frombuffer(data.buffers()[1], np.int32)[data.offset : data.offset + len(data) + 1]
    values = data.buffers()[2]
    start = 0
    for end in range(1, len(paths) + 1):
        if end == len(paths) or paths[end] != paths[start]:
            yield paths[start], values.slice(int(offsets[start]), int(offsets[end] - offsets[start]))
            start = end


@dataclass
class _Restorer:
    """Where decoded documents go: files under ``destination``, or, with none,
    stdout (written in order by the main thread) or nowhere (verify)."""

    expected: dict[str, dict]
    destination: _Destination | None

    def restore(self, runs: list[tuple[str, pa.Buffer]]) -> list[Run]:
        """The whole documents among ``runs`` hashed (and written); a row group that
        names a document the manifest does not list is all left to the main thread,
        which reports it in order, and one with an unsafe name fails before writing."""
        if not all(name in self.expected for name, _ in runs):
            return [(name, data.size, data, None) for name, data in runs]
        relatives = [shards.safe_relative(name) for name, _ in runs] if self.destination else [None] * len(runs)
        return [self._whole(name, data, relative) or (name, data.size, data, None) for (name, data), relative in zip(runs, relatives)]

    def _whole(self, name: str, data: pa.Buffer, relative: PurePosixPath | None) -> Run | None:
        """Hash, and write, a run that is a whole document: it has the manifest's
        size (were it only a part, more rows would follow and fail the check)."""
        if data.size != self.expected[name]["bytes"] or data.size == 0:
            return None  # the main thread joins it to its other parts
        digest = hashlib.sha256(data).hexdigest()
        if self.destination is None:
            return name, data.size, data, digest
        target = self.destination.file(relative)
        tmp_path = _Destination.temporary(target)
        try:
            with open(tmp_path, "wb") as handle:
                handle.write(data)
            os.replace(tmp_path, target)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        return name, data.size, None, digest


def decode_corpus(
    out_dir: str | Path,
    dest: str | Path | None,
    codebook_path: str | Path | None = None,
    verify: bool = False,
    workers: int = 1,
    progress: Progress | None = None,
) -> DecodeResult:
    """Restore every document under ``dest`` ("-" for stdout), or only check them (verify)."""
    output = shards.Output.open(out_dir, codebook_path)
    expected = {d["path"]: d for d in output.documents}
    to_stdout = dest == "-"
    root = None if verify or to_stdout else Path(dest)
    destination = _Destination(root) if root is not None else None
    result = DecodeResult()
    current: str | None = None
    joined = False  # the joiner takes the current document's bytes
    whole_digest: str | None = None  # of the current document, when its thread hashed it
    digests: list[tuple[str, str | Future | None]] = []  # per document in order: its sha256, or the joiner's future of it
    seen: set[str] = set()
    joiner = _Joiner(sys.stdout.buffer if to_stdout else None)

    def finish() -> None:
        if current is not None:
            closed = joiner.close() if joined else None
            digests.append((current, whole_digest or closed))

    # Threads, not processes: reading shards, the C decoder, hashing and writing
    # all release the GIL, and nothing has to be pickled.
    output.codebook.prepare_decoder()
    decode = partial(_decode_row_group, restore=_Restorer(expected, destination).restore)
    groups = map_ordered(decode, output.iter_row_groups(), workers, _init_worker, (output.codebook,), threads=True)
    runs = (run for decoded in groups for run in decoded)
    try:
        for name, size, data, hexdigest in runs:
            if name != current:
                finish()
                if name not in expected:
                    raise LtmcError(f"{output.root}: shard holds document {name!r} that the manifest does not list; the manifest does not match its shards", ExitCode.DATA)
                if name in seen:
                    raise LtmcError(f"{output.root}: the rows of document {name!r} are not contiguous in the shards; the shards were altered, re-run `ltmc encode`", ExitCode.DATA)
                seen.add(name)
                current, whole_digest = name, hexdigest
                joined = hexdigest is None or to_stdout
                if joined:  # with files as the destination, only documents no thread finished
                    target = destination.file(shards.safe_relative(name)) if root is not None else None
                    joiner.open(target, hashing=hexdigest is None)
            elif whole_digest is not None and size:  # more bytes after a run its thread took for the whole document
                whole_digest = None
                joined = joined and to_stdout
            result.bytes += size
            if joined and data is not None:
                joiner.write(data)
            if progress:
                progress(size)
        finish()
        joiner.drain()
        for name, digest in digests:
            ok = (digest.result() if isinstance(digest, Future) else digest) == expected[name]["sha256"]
            result.checked.append((name, ok))
            result.documents += 1
            if not ok:
                result.mismatches.append(name)
        missing = set(expected) - seen
        for name in sorted(missing):
            if expected[name]["bytes"] != 0:  # only an empty file has no scenes
                raise LtmcError(f"{output.root}: the manifest lists {name!r} ({expected[name]['bytes']} bytes) but the shards hold no rows for it; the manifest does not match its shards, re-run `ltmc encode`", ExitCode.DATA)
            if root is not None:
                destination.file(shards.safe_relative(name)).write_bytes(b"")
            result.checked.append((name, expected[name]["sha256"] == hashlib.sha256(b"").hexdigest()))
            result.documents += 1
            if not result.checked[-1][1]:
                result.mismatches.append(name)
    except OSError as err:
        raise LtmcError(f"{err.filename or dest}: cannot write ({err.strerror}); choose a writable destination with free space", ExitCode.IO) from None
    finally:
        joiner.shutdown()
    return result


class _Joiner:
    """Joins, hashes and writes, in order and on a thread of its own, what the
    decoding threads cannot finish alone: the documents that span row groups, and
    for stdout every document. The main thread only hands it runs, so it never
    keeps the decoding threads waiting (when it wrote and hashed them itself, it
    was busy for most of a two-thread decode while the decoding threads idled)."""

    PENDING_BYTES = 64 << 20  # handed over and not yet written: bounds memory

    def __init__(self, stdout) -> None:
        self._thread = ThreadPoolExecutor(1)  # one thread: tasks run in the order given
        self._stdout = stdout
        self._pending: deque[tuple[Future, int]] = deque()
        self._pending_bytes = 0
        self._handle = None
        self._target: Path | None = None
        self._digest = None

    def open(self, target: Path | None, hashing: bool) -> None:
        self._submit(self._open, target, hashing)

    def write(self, data: pa.Buffer) -> None:
        self._submit(self._write, data, size=data.size)
        while self._pending_bytes > self.PENDING_BYTES:
            self._wait_oldest()

    def close(self) -> Future:
        """The document's sha256 (when hashed), once written and renamed into place."""
        return self._submit(self._close)

    def drain(self) -> None:
        """Wait for all handed over, raising what failed."""
        while self._pending:
            self._wait_oldest()

    def shutdown(self) -> None:
        """Stop, and leave no partial file behind after a failure."""
        self._thread.shutdown(wait=True, cancel_futures=True)
        if self._target is not None and self._handle is not None:
            self._handle.close()
            Path(self._handle.name).unlink(missing_ok=True)

    def _submit(self, fn, *args, size: int = 0) -> Future:
        future = self._thread.submit(fn, *args)
        self._pending.append((future, size))
        self._pending_bytes += size
        return future

    def _wait_oldest(self) -> None:
        future, size = self._pending.popleft()
        self._pending_bytes -= size
        future.result()

    # -- on the joiner's thread --------------------------------------------------

    def _open(self, target: Path | None, hashing: bool) -> None:
        self._digest = hashlib.sha256() if hashing else None
        self._target = target
        self._handle = open(_Destination.temporary(target), "wb") if target is not None else self._stdout

    def _write(self, data: pa.Buffer) -> None:
        if self._digest is not None:
            self._digest.update(data)
        if self._handle is not None:
            self._handle.write(data)

    def _close(self) -> str | None:
        if self._target is not None:
            self._handle.close()
            os.replace(self._handle.name, self._target)
        self._handle = self._target = None
        return self._digest.hexdigest() if self._digest is not None else None


class _Destination:
    """Files under ``root``, refused if an existing link inside ``root`` leads them
    elsewhere; each folder is resolved and made once, not once per file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = os.path.realpath(root)
        self._made: set[Path] = set()

    def file(self, relative) -> Path:
        target = self.root / relative
        if target.parent not in self._made:
            if os.path.commonpath([self._real_root, os.path.realpath(target.parent)]) != self._real_root:
                raise LtmcError(f"{target}: a symbolic link in the destination leads outside it; refusing to write there, pick an empty -o", ExitCode.DATA)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(target.parent)
        return target

    @staticmethod
    def temporary(target: Path) -> Path:
        """Where ``target`` is written before it is renamed into place: a name of the
        writing thread's own, since in altered shards two row groups may hold the
        same document."""
        return target.with_name(f"{target.name}.{threading.get_ident():x}.ltmc-tmp")


def morph_corpus(arguments: list[str], progress: Progress | None = None, strict: bool = False):
    """Every distinct word form of the inputs with its analysis, most frequent first."""
    failures: list[Failure] = []
    counts: Counter[str] = Counter()
    with ExitStack() as stack:
        for item in _open_inputs(arguments, strict, failures, stack):
            for text in item.texts():
                counts.update(WORD_PATTERN.findall(text))
            if progress:
                progress(item.sniffed.size)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    batches = [
        analyse_forms(pa.RecordBatch.from_pydict({"form": [f for f, _ in chunk], "count": [n for _, n in chunk]}))
        for chunk in (ranked[i : i + 4096] for i in range(0, len(ranked), 4096))
    ]
    return pa.Table.from_batches(batches, schema=MORPH_SCHEMA), failures
