"""Every file ltmc writes goes through here, and every OSError a user sees is worded here.

A file is written under a temporary name beside its target, flushed to disk and
renamed over the target: a reader sees the old file or the whole new one, never
half of one, and a failed or interrupted write leaves the target as it was.

    write_atomic(path, data)                 whole bytes
    with atomic_file(path) as fh: ...        streamed (Parquet shards, decoded files)

``durable=False`` skips the flush to disk (the rename stays atomic for readers, but
after a power cut the file may be empty): for outputs that can be made again from
others, where flushing each one costs more than it protects (``decode``'s files).

Only a regular file (or nothing) is replaced: a folder, a device, a pipe or a
socket, or a link to one, is refused with a one-line error. ``-`` means stdout
where the caller says it may (``allow_stdout=True``); elsewhere it is a file name.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ltmc.errors import ExitCode, LtmcError

STDOUT = "-"
TEMP_SUFFIX = ".tmp"  # temporaries are ".NAME.<random>.tmp" beside their target

_UMASK = os.umask(0)
os.umask(_UMASK)

# Advice for the errors a user can do something about; anything else gets the last word.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM}


def os_error(err: OSError, path: str | Path | None = None, *, reading: bool = False) -> LtmcError:
    """The user's error for ``err``: the path it concerns, what failed, what to do.

    ``path`` names the file or folder the command was working on; the OSError's own
    file name is preferred unless it is one of our temporaries."""
    where = err.filename if err.filename and not _is_temporary(err.filename) else path or err.filename or "output"
    reason = err.strerror or str(err)
    if reading:
        return LtmcError(f"{where}: cannot read ({reason}); check the path and its permissions", ExitCode.USAGE)
    if err.errno in _NOT_ALLOWED:
        return LtmcError(f"{where}: permission denied; choose a writable destination", ExitCode.IO)
    if err.errno in _NO_ROOM:
        return LtmcError(f"{where}: cannot write ({reason}); free space or choose another destination", ExitCode.IO)
    return LtmcError(f"{where}: cannot write ({reason}); choose another destination", ExitCode.IO)


def _is_temporary(name) -> bool:
    base = os.path.basename(os.fsdecode(name))
    return base.startswith(".") and base.endswith(TEMP_SUFFIX)


def check_replaceable(path: Path) -> None:
    """Refuse ``path`` if something other than a regular file stands there (links followed,
    so that a link to a device is refused too; a dangling link is simply replaced)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise os_error(err, path) from None
    if stat.S_ISDIR(mode):
        raise LtmcError(f"{path}: is a folder; give the path of a file to write", ExitCode.USAGE)
    if not stat.S_ISREG(mode):
        raise LtmcError(f"{path}: not a regular file (a device, pipe or socket); refusing to replace it, give another path", ExitCode.USAGE)


class AtomicFile:
    """A file being written under a temporary name; ``commit`` puts it in place, ``discard``
    drops it. For writers whose open and close happen in different calls (the decode
    joiner); everything else uses :func:`atomic_file`."""

    def __init__(self, path: str | Path, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        check_replaceable(self.path)
        try:
            fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=TEMP_SUFFIX, dir=self.path.parent)
        except OSError as err:
            raise os_error(err, self.path) from None
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
        self.file: BinaryIO = os.fdopen(fd, "wb")

    def commit(self) -> None:
        try:
            self.file.flush()
            if self.durable:
                os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self._tmp, self.path)
        except OSError as err:
            self.discard()
            raise os_error(err, self.path) from None

    def discard(self) -> None:
        self.file.close()
        Path(self._tmp).unlink(missing_ok=True)


@contextmanager
def atomic_file(path: str | Path, *, allow_stdout: bool = False, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through; in place once the block ends without error.
    An OSError of the write becomes the user's error (:func:`os_error`)."""
    if allow_stdout and str(path) == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = AtomicFile(path, durable)
    try:
        yield target.file
    except OSError as err:
        target.discard()
        if err.filename is None or _is_temporary(err.filename) or os.fsdecode(err.filename) == str(path):
            raise os_error(err, path) from None
        raise
    except BaseException:
        target.discard()
        raise
    target.commit()


def write_atomic(path: str | Path, data: bytes, *, allow_stdout: bool = False, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see the module doc)."""
    with atomic_file(path, allow_stdout=allow_stdout, durable=durable) as fh:
        fh.write(data)


def write_parquet(path: str | Path, table, **options) -> None:
    """Write a pyarrow ``table`` as a Parquet file, atomically (``options`` go to pyarrow)."""
    import pyarrow.parquet as pq  # here, not at the top: most writers need no pyarrow

    with atomic_file(path) as fh:
        pq.write_table(table, fh, **options)
