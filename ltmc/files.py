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
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ltmc.errors import ExitCode, LtmcError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, the rest still holds
    fcntl = None

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
    where = _STAGED.sub("", os.fsdecode(where))  # the name the file will have, not its staging folder's
    reason = err.strerror or str(err)
    if reading:
        return LtmcError(f"{where}: cannot read ({reason}); check the path and its permissions", ExitCode.USAGE)
    if err.errno in _NOT_ALLOWED:
        return LtmcError(f"{where}: permission denied; choose a writable destination", ExitCode.IO)
    if err.errno in _NO_ROOM:
        return LtmcError(f"{where}: cannot write ({reason}); free space or choose another destination", ExitCode.IO)
    return LtmcError(f"{where}: cannot write ({reason}); choose another destination", ExitCode.IO)


# An output built in a staging folder inside its folder (see ``staging``): errors name the
# final paths, which the user knows.
STAGING_PREFIX = ".ltmc-staging-"
_STAGED = re.compile(re.escape(os.sep + STAGING_PREFIX) + r"[^" + re.escape(os.sep) + r"]*")


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
        try:
            self.file.close()
        except OSError:
            pass  # flushing the rest failed (a full disk): it goes with the file
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


# -- folders ltmc writes into ---------------------------------------------------------------


def claim_folder(folder: Path, owned: Callable[[Path], bool], inputs: Iterable[str | Path] = ()) -> None:
    """Refuse to write into ``folder`` unless it is new, empty, or ``owned(folder)`` says
    ltmc wrote it (an earlier output of the same command): a folder of the user's own is
    never altered. Refuse too an output inside one of ``inputs`` or holding one, where a
    rerun would read the output as input or write over the input."""
    real = os.path.realpath(folder)
    for given in inputs:
        if inside_input_folder(real, given):
            raise LtmcError(f"{folder}: inside the input folder {given}; the next run would read the output as input, choose -o outside it", ExitCode.USAGE)
        if _within(os.path.realpath(given), real):
            raise LtmcError(f"{folder}: holds the input {given}; choose -o outside the inputs", ExitCode.USAGE)
    try:
        entries = sorted(os.listdir(folder))
    except FileNotFoundError:
        return
    except NotADirectoryError as err:
        if os.path.isfile(folder):
            raise not_a_folder(folder) from None
        raise os_error(err, folder) from None  # a file where a folder above it should be
    except OSError as err:
        raise os_error(err, folder) from None
    if entries and not owned(folder):
        shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
        raise LtmcError(
            f"{folder}: holds files ltmc did not write ({shown}); refusing to change it, choose a new or empty folder", ExitCode.USAGE
        )


def not_a_folder(folder: Path) -> LtmcError:
    """The error for a file given where ltmc writes a folder."""
    return LtmcError(f"{folder}: is a file, not a folder; give -o a folder", ExitCode.IO)


def inside_input_folder(real: str, given: str | Path) -> bool:
    """Whether the real path ``real`` is the input folder ``given`` or lies below it,
    where the next run would read what is written there as input."""
    source = os.path.realpath(given)
    return os.path.isdir(source) and _within(real, source)


def _within(path: str, folder: str) -> bool:
    """Whether the real path ``path`` is ``folder`` or below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@contextmanager
def claimed(folder: Path, owned: Callable[[Path], bool], inputs: Iterable[str | Path] = (), leftovers: Iterable[str] = ()) -> Iterator[None]:
    """Hold ``folder`` for a command that writes it (see :func:`claim_folder`): made if
    new, locked against another ltmc writing it at the same time, and cleared of what a
    killed run left (staging folders, and names matching the ``leftovers`` globs)."""
    claim_folder(folder, owned, inputs)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise os_error(err, folder) from None
    with _locked(folder, f"{folder}: another ltmc is writing there now; wait for it to finish, or choose another -o"):
        try:
            for pattern in (STAGING_PREFIX + "*", *leftovers):
                for stale in folder.glob(pattern):
                    shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink(missing_ok=True)
        except OSError as err:
            raise os_error(err, folder) from None
        yield


@contextmanager
def _locked(folder: Path, busy: str) -> Iterator[None]:
    """An advisory lock on the folder itself, released however the process ends, even
    by kill -9; ``busy`` is the error when another process holds it."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        raise os_error(err, folder) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LtmcError(busy, ExitCode.IO) from None
        yield
    finally:
        os.close(fd)


@contextmanager
def staging(folder: Path) -> Iterator[Path]:
    """A hidden folder inside a ``claimed`` ``folder`` to write a whole output into before
    it is moved into place (:func:`publish`); removed however the block ends."""
    try:
        with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=folder) as inside:
            yield Path(inside)
    except OSError as err:
        raise os_error(err, folder) from None


def publish(staged: Path, folder: Path, names: list[str], retired: Iterable[str] = (), first_gone: str | None = None) -> None:
    """Move ``names`` from ``staged`` into ``folder`` in that order (the file that marks the
    output complete last), then remove the ``retired`` names: the previous output's
    files the new one does not have. ``first_gone`` is removed before anything moves, so
    that a kill -9 during the moves leaves no marker of a complete output; SIGINT and
    SIGTERM wait until the moves are done, so they leave a complete output, the new one."""
    with _signals_held(), _as_user_error(folder):
        if first_gone:
            (folder / first_gone).unlink(missing_ok=True)
        for name in names:
            os.replace(staged / name, folder / name)
        fsync_folder(folder)
        for name in set(retired) - set(names):
            (folder / name).unlink(missing_ok=True)


@contextmanager
def _as_user_error(folder: Path) -> Iterator[None]:
    try:
        yield
    except OSError as err:
        raise os_error(err, folder) from None


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM received in the block are raised again when it ends, to the
    handlers there were (``ltmc.program`` turns them into an exception). Handlers can
    only be set in the main thread; elsewhere the block is not held."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])


def fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a power loss keeps the new names)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
