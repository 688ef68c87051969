"""Restoring (``ltmc decode``): token shards back to the input files, byte for byte,
each checked against the manifest's sha256.

Threads share out the row groups: each decodes its rows (``stages.decode_tokens``)
into runs of one document each, and hashes, and writes, the documents it holds whole.
The main thread takes the runs in order (``_InOrder``); a ``_Joiner`` thread joins,
hashes and writes what no decoding thread could finish alone: documents that span row
groups, and with stdout as the destination, every document.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa

from ltmc import shards
from ltmc.codebook import Codebook
from ltmc.engines.local import map_ordered
from ltmc.errors import ExitCode, LtmcError
from ltmc.files import STDOUT, TEMP_SUFFIX, AtomicFile, not_a_folder, os_error, write_atomic
from ltmc.stages import decode_tokens

Progress = Callable[[int], None]
# Restored files are not flushed to disk one by one: they can be restored again from
# the shards, and an fsync per file made a decode of ru/ (309 files) 40% slower.
DURABLE = False
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# A document's bytes from one row group: (name, size, the bytes, their sha256). For a
# document wholly inside the row group the decoding thread hashes it itself, and
# writes its file when restoring to a directory (the bytes are then None).
Run = tuple[str, int, pa.Buffer | None, str | None]


@dataclass
class DecodeResult:
    documents: int = 0
    bytes: int = 0
    mismatches: list[str] = field(default_factory=list)
    checked: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, name: str, ok: bool) -> None:
        self.checked.append((name, ok))
        self.documents += 1
        if not ok:
            self.mismatches.append(name)


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
    to_stdout = not verify and str(dest) == STDOUT
    destination = None if verify or to_stdout else _Destination(Path(dest))
    if destination is not None:
        if destination.root.is_file():
            raise not_a_folder(destination.root)
        destination.check(output.documents)
    result = DecodeResult()
    # Threads, not processes: reading shards, the C decoder, hashing and writing
    # all release the GIL, and nothing has to be pickled.
    output.codebook.prepare_decoder()
    decode = partial(_decode_row_group, codebook=output.codebook, restore=_Restorer(expected, destination).restore)
    groups = map_ordered(decode, output.iter_row_groups(), workers, threads=True)
    joiner = _Joiner(sys.stdout.buffer if to_stdout else None)
    in_order = _InOrder(output.root, expected, destination, joiner, to_stdout)
    try:
        for name, size, data, hexdigest in (run for decoded in groups for run in decoded):
            in_order.take(name, size, data, hexdigest)
            result.bytes += size
            if progress:
                progress(size)
        for name, digest in in_order.digests():
            result.check(name, digest == expected[name]["sha256"])
        for name in sorted(set(expected) - in_order.seen):
            _restore_empty(output.root, expected[name], destination)
            result.check(name, expected[name]["sha256"] == EMPTY_SHA256)
    except OSError as err:
        raise os_error(err, dest) from None
    finally:
        joiner.shutdown()
    return result


def _restore_empty(root: Path, document: dict, destination: _Destination | None) -> None:
    """A listed document no shard row holds: only an empty file has no scenes."""
    if document["bytes"] != 0:
        raise LtmcError(
            f"{root}: the manifest lists {document['path']!r} ({document['bytes']} bytes) but the shards hold no rows for it; "
            "the manifest does not match its shards, re-run `ltmc encode`",
            ExitCode.DATA,
        )
    if destination is not None:
        write_atomic(destination.file(shards.restored_relative(document)), b"", durable=DURABLE)


class _InOrder:
    """The runs in shard order, document by document: checks that each document is
    listed and its rows contiguous, and hands the joiner what no thread finished.
    ``digests`` then gives each document's sha256 (None: its bytes were not whole)."""

    def __init__(self, root: Path, expected: dict, destination: _Destination | None, joiner: _Joiner, to_stdout: bool) -> None:
        self.root, self.expected, self.destination = root, expected, destination
        self.joiner, self.to_stdout = joiner, to_stdout
        self.seen: set[str] = set()
        self._digests: list[tuple[str, str | Future | None]] = []  # per document: its sha256, or the joiner's future of it
        self._current: str | None = None
        self._joined = False  # the joiner takes the current document's bytes
        self._whole_digest: str | None = None  # of the current document, when its thread hashed it

    def take(self, name: str, size: int, data: pa.Buffer | None, hexdigest: str | None) -> None:
        if name != self._current:
            self._finish_document()
            self._start_document(name, hexdigest)
        elif self._whole_digest is not None and size:  # more bytes after a run its thread took for the whole document
            self._whole_digest = None
            self._joined = self._joined and self.to_stdout
        if self._joined and data is not None:
            self.joiner.write(data)

    def _start_document(self, name: str, hexdigest: str | None) -> None:
        if name not in self.expected:
            raise LtmcError(f"{self.root}: shard holds document {name!r} that the manifest does not list; the manifest does not match its shards", ExitCode.DATA)
        if name in self.seen:
            raise LtmcError(f"{self.root}: the rows of document {name!r} are not contiguous in the shards; the shards were altered, re-run `ltmc encode`", ExitCode.DATA)
        self.seen.add(name)
        self._current, self._whole_digest = name, hexdigest
        self._joined = hexdigest is None or self.to_stdout
        if self._joined:  # with files as the destination, only documents no thread finished
            target = self.destination.file(shards.restored_relative(self.expected[name])) if self.destination is not None else None
            self.joiner.open(target, hashing=hexdigest is None)

    def _finish_document(self) -> None:
        if self._current is not None:
            closed = self.joiner.close() if self._joined else None
            self._digests.append((self._current, self._whole_digest or closed))

    def digests(self) -> Iterator[tuple[str, str | None]]:
        """Each document's sha256, in order, once everything handed over is written."""
        self._finish_document()
        self._current = None
        self.joiner.drain()
        for name, digest in self._digests:
            yield name, digest.result() if isinstance(digest, Future) else digest


# -- on the decoding threads -------------------------------------------------------------------


def _decode_row_group(read: Callable[[], list[pa.RecordBatch]], codebook: Codebook, restore: Callable[[list[tuple[str, pa.Buffer]]], list[Run]]) -> list[Run]:
    """A row group decoded into runs of one document each: the threads share out
    decoding, hashing and writing, and the main thread only joins the documents
    that span row groups."""
    return restore([run for batch in read() for run in _document_runs(decode_tokens(batch, codebook))])


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
        relatives = [shards.restored_relative(self.expected[name]) for name, _ in runs] if self.destination else [None] * len(runs)
        return [self._whole(name, data, relative) or (name, data.size, data, None) for (name, data), relative in zip(runs, relatives)]

    def _whole(self, name: str, data: pa.Buffer, relative: PurePosixPath | None) -> Run | None:
        """Hash, and write, a run that is a whole document: it has the manifest's
        size (were it only a part, more rows would follow and fail the check)."""
        if data.size != self.expected[name]["bytes"] or data.size == 0:
            return None  # the main thread joins it to its other parts
        digest = hashlib.sha256(data).hexdigest()
        if self.destination is None:
            return name, data.size, data, digest
        write_atomic(self.destination.file(relative), data, durable=DURABLE)
        return name, data.size, None, digest


# -- the joiner's thread and the destination ------------------------------------------------------


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
        self._file: AtomicFile | None = None
        self._digest = None
        self._failure: BaseException | None = None  # of a task; the tasks after it do nothing

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
        if self._file is not None:
            self._file.discard()

    def _submit(self, fn, *args, size: int = 0) -> Future:
        future = self._thread.submit(self._unless_failed, fn, *args)
        self._pending.append((future, size))
        self._pending_bytes += size
        return future

    def _unless_failed(self, fn, *args):
        """Run a task, unless one before it failed: after a write that failed (a full
        disk), closing the file would put a truncated file under its final name."""
        if self._failure is not None:
            raise self._failure
        try:
            return fn(*args)
        except BaseException as failure:
            self._failure = failure
            raise

    def _wait_oldest(self) -> None:
        future, size = self._pending.popleft()
        self._pending_bytes -= size
        future.result()

    # -- on the joiner's thread --------------------------------------------------

    def _open(self, target: Path | None, hashing: bool) -> None:
        self._digest = hashlib.sha256() if hashing else None
        self._file = AtomicFile(target, DURABLE) if target is not None else None
        self._handle = self._file.file if self._file is not None else self._stdout

    def _write(self, data: pa.Buffer) -> None:
        if self._digest is not None:
            self._digest.update(data)
        if self._handle is not None:
            self._handle.write(data)

    def _close(self) -> str | None:
        if self._file is not None:
            self._file.commit()
        self._handle = self._file = None
        return self._digest.hexdigest() if self._digest is not None else None


def _holds(path: Path, doc: dict) -> bool:
    """Whether ``path`` is a regular file with the document's bytes."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or os.path.getsize(path) != doc["bytes"]:
            return False
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    except OSError:
        return False
    return digest.hexdigest() == doc["sha256"]


class _Destination:
    """Files under ``root``, refused if an existing link inside ``root`` leads them
    elsewhere; each folder is resolved and made once, not once per file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = os.path.realpath(root)
        self._made: set[Path] = set()

    def check(self, documents: list[dict]) -> None:
        """Refuse before writing anything if a file in the way is not the document that
        would be restored there (a rerun into the same folder finds its own files and
        goes on); remove the temporaries a killed decode left beside them."""
        in_the_way = []
        names: dict[Path, set[str]] = {}
        for doc in documents:
            target = self.root / shards.restored_relative(doc)
            names.setdefault(target.parent, set()).add(target.name)
            if os.path.lexists(target) and not _holds(target, doc):
                in_the_way.append(str(target))
        if in_the_way:
            more = f" and {len(in_the_way) - 1} more" if len(in_the_way) > 1 else ""
            raise LtmcError(f"{in_the_way[0]}{more}: already there and not the file being restored; refusing to replace it, choose an empty -o", ExitCode.USAGE)
        for folder, wanted in names.items():
            try:
                entries = os.listdir(folder)
            except OSError:
                continue  # not there yet, or it fails with its own message when written
            for entry in entries:  # .NAME.XXXXXXXX.tmp, as ltmc.files names them
                if entry.startswith(".") and entry.endswith(TEMP_SUFFIX) and entry[1 : -len(TEMP_SUFFIX)].rpartition(".")[0] in wanted:
                    (folder / entry).unlink(missing_ok=True)

    def file(self, relative) -> Path:
        target = self.root / relative
        if target.parent not in self._made:
            if os.path.commonpath([self._real_root, os.path.realpath(target.parent)]) != self._real_root:
                raise LtmcError(f"{target}: a symbolic link in the destination leads outside it; refusing to write there, pick an empty -o", ExitCode.DATA)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(target.parent)
        return target
