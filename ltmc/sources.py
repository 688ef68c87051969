"""Find input files and read them as text, remembering how to give the bytes back.

Text is decoded as UTF-8; bytes that are not UTF-8 become U+DC80–U+DCFF
(surrogateescape) and encode back to themselves. A file that is not UTF-8 but reads
as Russian in one of the Cyrillic code pages (Windows-1251, KOI8-R, DOS 866) is read
in that page, and a file that starts with a UTF-16 byte order mark as UTF-16, so that
its words are still words. A file name that is not UTF-8 is recorded the same way.
"""

from __future__ import annotations

import codecs
import errno
import fnmatch
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ltmc.code_pages import CYRILLIC_PAGES, guess_cyrillic
from ltmc.errors import ExitCode, LtmcError
from ltmc.files import os_error

BLOCK = 1 << 20
STDIN = "-"
UTF8 = "utf-8"
_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
# Every encoding a document may be recorded with; a shard naming another is refused.
ENCODINGS = frozenset((UTF8, *CYRILLIC_PAGES, *_UTF16_BOMS.values()))
# A file name that is neither UTF-8 nor Cyrillic is recorded as Latin-1: every byte is
# one character, so the name still comes back byte for byte.
NAME_ENCODINGS = ENCODINGS | {"latin-1"}
_SNIFF = 8192
log = logging.getLogger("ltmc")  # notes for the user (the CLI prints them as "note: ...")


@dataclass(frozen=True, slots=True)
class Source:
    path: Path | None  # None for stdin
    name: str  # relative path recorded in the shards: always valid UTF-8
    name_encoding: str = UTF8  # how ``name`` gives back the file system's bytes

    @classmethod
    def found(cls, path: Path, relative: str) -> "Source":
        """The source at ``path``, recorded under ``relative`` (as the file system gave it)."""
        name, encoding = recorded_name(relative)
        return cls(path, name, encoding)

    @property
    def label(self) -> str:
        return "<stdin>" if self.path is None else str(self.path)


def recorded_name(relative: str) -> tuple[str, str]:
    """A file system name (undecodable bytes as surrogates) as readable, valid UTF-8 text,
    and the encoding that turns it back into the same bytes: an old Russian archive's
    ``Пушкин.txt`` in Windows-1251 is recorded as ``Пушкин.txt``, "cp1251"."""
    raw = os.fsencode(relative)
    try:
        return raw.decode(UTF8), UTF8
    except UnicodeDecodeError:
        pass
    guess = guess_cyrillic(np.bincount(np.frombuffer(raw, np.uint8), minlength=256))
    encoding = guess.encoding if guess else "latin-1"
    return raw.decode(encoding), encoding


def file_system_name(name: str, encoding: str) -> str:
    """The inverse of :func:`recorded_name`."""
    return name if encoding == UTF8 else os.fsdecode(name.encode(encoding))


def unsafe_path(name: str) -> str | None:
    """Why a document's path (as the file system names it) could lead ``decode`` outside
    its destination, or None when it cannot. The one rule of both sides: ``discover``
    skips an input it refuses, so that encode never writes an output that the readers
    (``shards.safe_relative``) then refuse whole. A backslash is refused because Windows
    reads it as a folder separator: ``..\\..\\x``, a plain file name on POSIX, would
    climb out of the destination there."""
    path = PurePosixPath(name)
    if not name:
        return "is empty"
    if "\0" in name:
        return "holds a NUL"
    if path.is_absolute():
        return "is absolute"
    if ".." in path.parts:
        return "climbs out with '..'"
    if "\\" in name:
        return "holds a backslash, which Windows reads as a folder separator"
    return None


OnError = Callable[[str, LtmcError], None]


def _raise(label: str, error: LtmcError) -> None:
    raise error


@dataclass(frozen=True)
class Selection:
    """Which files of a folder are inputs: ``--include``/``--exclude`` globs, matched
    against the path below the folder and against the file name alone (``*`` also
    crosses ``/``). Files named on the command line are always inputs."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def wants(self, relative: str) -> bool:
        def matches(patterns) -> bool:
            base = relative.rsplit("/", 1)[-1]
            return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(base, p) for p in patterns)

        return (not self.include or matches(self.include)) and not matches(self.exclude)


def discover(arguments: list[str], on_error: OnError = _raise, selection: Selection = Selection(), notes: bool = True) -> list[Source]:
    """Files named by ``arguments``: files as given, directories recursively; with
    ``notes``, what a folder's walk left out is noted (once per command: the second
    look at the inputs, for a progress bar's total, is quiet).

    A path that cannot be used goes to ``on_error(label, error)``, which raises
    (the default) or records it so that the other inputs are still found.
    """
    found: list[Source] = []
    for argument in arguments:
        if argument == STDIN:
            found.append(Source(None, "stdin"))
            continue
        root = Path(argument)
        if root.is_file():
            found.extend(_usable(root, root.name, on_error))
        elif root.is_dir():
            found.extend(_walk(root, on_error, selection, notes))
        elif root.is_symlink():
            on_error(argument, LtmcError(f"{argument}: {_link_problem(root)}; fix or remove the link", ExitCode.USAGE))
        elif root.exists():
            on_error(argument, LtmcError(f"{argument}: not a regular file or directory; pass text files or folders", ExitCode.USAGE))
        else:
            on_error(argument, LtmcError(f"{argument}: no such file or directory; check the path", ExitCode.USAGE))
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise LtmcError(f"two inputs share the name {dup!r}; pass their parent directory instead", ExitCode.USAGE)
    return found


def _usable(path: Path, relative: str, on_error: OnError) -> list[Source]:
    """The source at ``path`` recorded under ``relative``; none, and ``on_error``, when
    decode could not restore that name safely on every system (``unsafe_path``)."""
    why = unsafe_path(relative)
    if why is None:
        return [Source.found(path, relative)]
    on_error(str(path), LtmcError(f"{path}: its name {why}, so decode could not restore it safely everywhere; rename it or leave it out", ExitCode.USAGE))
    return []


def _link_problem(path: Path) -> str:
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a symbolic link loop (the link points back to itself)"
        return f"a broken symbolic link ({err.strerror})"
    return "a symbolic link to something that is not a regular file"


def _walk(root: Path, on_error: OnError = _raise, selection: Selection = Selection(), notes: bool = True) -> list[Source]:
    sources = []
    hidden = linked = unselected = 0

    def unreadable(err: OSError) -> None:
        label = err.filename or str(root)
        on_error(label, LtmcError(f"{label}: cannot read directory ({err.strerror}); make it readable or leave it out", ExitCode.USAGE))

    # followlinks=False: a link loop cannot trap the walk; linked files are still read
    # (a looping file link fails when it is opened, with its own message).
    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=False):
        hidden += sum(name.startswith(".") for name in dirs + files)
        kept = [d for d in dirs if not d.startswith(".")]
        # os.walk lists a link to a folder among the folders and does not enter it.
        linked += sum(os.path.islink(os.path.join(folder, d)) for d in kept)
        dirs[:] = sorted(d for d in kept if not os.path.islink(os.path.join(folder, d)))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder, name)
            relative = path.relative_to(root).as_posix()
            if selection.wants(relative):
                sources.extend(_usable(path, relative, on_error))
            else:
                unselected += 1
    left_out = [f"{n} {what}" for n, what in ((hidden, "hidden (dot) entries"), (linked, "linked folder(s)"), (unselected, "file(s) by --include/--exclude")) if n]
    if left_out and notes:
        log.info("%s: left out %s%s", root, ", ".join(left_out), "; name hidden files or linked folders on the command line to read them" if hidden or linked else "")
    return sorted(sources, key=lambda s: s.name)


@dataclass(slots=True)
class Sniffed:
    encoding: str  # one of ENCODINGS
    size: int
    sha256: str
    doubt: str | None = None  # why the encoding is only a guess, for the user


def _open(source: Source):
    if source.path is None:
        return sys.stdin.buffer
    try:
        return open(source.path, "rb")
    except PermissionError:
        raise LtmcError(f"{source.label}: permission denied; make it readable or leave it out", ExitCode.USAGE) from None
    except FileNotFoundError:
        if source.path.is_symlink():
            raise LtmcError(f"{source.label}: {_link_problem(source.path)}; fix or remove the link", ExitCode.USAGE) from None
        raise LtmcError(f"{source.label}: vanished before it could be read (deleted or moved); check it and run again", ExitCode.USAGE) from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise LtmcError(f"{source.label}: a symbolic link loop; fix or remove the link", ExitCode.USAGE) from None
        raise LtmcError(f"{source.label}: cannot open ({err.strerror}); leave it out or fix it", ExitCode.USAGE) from None


# stdin is read twice (sniffed, then encoded), so it is first copied to a temporary
# file; more than this is refused rather than let an endless pipe fill the disk.
STDIN_LIMIT = 4 << 30
_STDIN_PREFIX = "ltmc-stdin-"


def spool_stdin(stack: ExitStack) -> Path:
    """Copy stdin to a temporary file that ``stack`` removes; refuse binary (a NUL in the
    first 8 KiB, as :func:`sniff` would) or endless input before it costs disk."""
    _remove_stale_spools()
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{_STDIN_PREFIX}{os.getpid()}-"))
    path = Path(folder, "stdin")
    size = 0
    try:
        with open(path, "wb") as fh:
            while block := sys.stdin.buffer.read(BLOCK):
                if size == 0 and b"\0" in block[:_SNIFF] and not _UTF16_BOMS.get(block[:2]):
                    raise LtmcError("<stdin>: looks binary (NUL bytes), not text; pipe text into ltmc", ExitCode.DATA)
                size += len(block)
                if size > STDIN_LIMIT:
                    raise LtmcError(f"<stdin>: more than {STDIN_LIMIT >> 30} GiB; save it to a file and pass the file instead", ExitCode.USAGE)
                fh.write(block)
    except OSError as err:
        raise os_error(err, f"{folder} (stdin's temporary copy)") from None
    return path


def _remove_stale_spools() -> None:
    """Remove the stdin copies of ltmc processes that were killed (kill -9 runs no cleanup)."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{_STDIN_PREFIX}*-*"):
        pid = folder.name[len(_STDIN_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and folder.stat().st_uid == os.geteuid():
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's
    return True


def read_bytes_blocks(source: Source) -> Iterator[bytes]:
    with _open(source) as fh:
        while True:
            try:
                block = fh.read(BLOCK)
            except OSError as err:
                raise LtmcError(f"{source.label}: read error ({err.strerror}); check the file or leave it out", ExitCode.USAGE) from None
            if not block:
                return
            yield block


def read_checked(source: Source, sniffed: "Sniffed") -> Iterator[bytes]:
    """The blocks of ``source`` again, failing at the end if they are not the sniffed ones."""
    digest = hashlib.sha256()
    size = 0
    for block in read_bytes_blocks(source):  # a file gone by now fails here, "vanished"
        size += len(block)
        digest.update(block)
        yield block
    if size != sniffed.size or digest.hexdigest() != sniffed.sha256:
        raise LtmcError(f"{source.label}: changed while it was read; let it settle and run again", ExitCode.DATA)


def sniff(source: Source) -> Sniffed:
    """Size, sha256, and which decoding gives the bytes back, in one pass over a
    UTF-8 (or UTF-16) file. Any other file is read a second time, to count its bytes
    and tell whether it is Russian in a Cyrillic code page."""
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder(UTF8)("strict")
    utf16 = None  # a decoder when the file starts with a UTF-16 byte order mark
    binary = False  # NUL bytes near the start
    size = 0
    for block in read_bytes_blocks(source):
        if size == 0:
            if bom := _UTF16_BOMS.get(block[:2]):
                utf16 = (bom, codecs.getincrementaldecoder(bom)("strict"))
            binary = b"\0" in block[:_SNIFF]
            if binary and utf16 is None:
                raise LtmcError(f"{source.label}: looks binary (NUL bytes), not text; leave it out of the corpus", ExitCode.DATA)
        size += len(block)
        digest.update(block)
        utf8 = utf8 and _fed(utf8, block)
        utf16 = utf16 and (_fed(utf16[1], block) and utf16)
    sha256 = digest.hexdigest()
    if utf8 and _fed(utf8, b"", final=True):
        return Sniffed(UTF8, size, sha256)
    if utf16 and _fed(utf16[1], b"", final=True):
        return Sniffed(utf16[0], size, sha256)
    if binary:  # a byte order mark, then no valid UTF-16 (an odd length, a lone surrogate)
        raise LtmcError(f"{source.label}: looks binary (NUL bytes), not text; leave it out of the corpus", ExitCode.DATA)
    counts = np.zeros(256, np.int64)
    as_utf8 = codecs.getincrementaldecoder(UTF8)("surrogateescape")
    not_utf8 = 0  # bytes outside valid UTF-8 sequences
    for block in read_bytes_blocks(source):
        counts += np.bincount(np.frombuffer(block, np.uint8), minlength=256)
        not_utf8 += len(_ESCAPED.findall(as_utf8.decode(block)))
    not_utf8 += len(_ESCAPED.findall(as_utf8.decode(b"", final=True)))
    # UTF-8 with a few stray bytes stays UTF-8: its high bytes would read as nonsense letters.
    guess = guess_cyrillic(counts) if not_utf8 >= 0.5 * counts[0x80:].sum() else None
    if guess is None:
        return Sniffed(UTF8, size, sha256)  # bytes that are not UTF-8 are kept as they are
    doubt = None
    if guess.doubt:
        doubt = f"{source.label}: read as {guess.encoding}, a guess ({guess.doubt}); if that is wrong only its statistics are, decode stays exact"
    return Sniffed(guess.encoding, size, sha256, doubt)


_ESCAPED = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape reads it


def _fed(decoder, block: bytes, final: bool = False):
    """The decoder, or None if ``block`` is not what it decodes."""
    try:
        decoder.decode(block, final)
    except UnicodeDecodeError:
        return None
    return decoder


def text_blocks(blocks: Iterator[bytes], encoding: str) -> Iterator[str]:
    """Decoded text; the encoding and surrogateescape make this reversible."""
    decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")
    for block in blocks:
        if text := decoder.decode(block):
            yield text
    if tail := decoder.decode(b"", final=True):
        yield tail


def encode_text(text: str, encoding: str) -> bytes:
    # A UTF-16 file's byte order mark is read as U+FEFF, the first character of its text,
    # and written back as it was: the "-le"/"-be" codecs add none of their own.
    return text.encode(encoding, "surrogateescape")
