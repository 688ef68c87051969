"""Find input files and read them as text, remembering how to give the bytes back.

Text is decoded as UTF-8; bytes that are not UTF-8 become U+DC80–U+DCFF
(surrogateescape) and encode back to themselves. A file that is not UTF-8 but is
clean Windows-1251 (Cyrillic) is read as that, so its words are still words.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ltmc.errors import ExitCode, LtmcError

BLOCK = 1 << 20
STDIN = "-"
LEGACY_ENCODING = "cp1251"
_SNIFF = 8192


@dataclass(frozen=True, slots=True)
class Source:
    path: Path | None  # None for stdin
    name: str  # relative path recorded in the shards

    @property
    def label(self) -> str:
        return "<stdin>" if self.path is None else str(self.path)


OnError = Callable[[str, LtmcError], None]


def _raise(label: str, error: LtmcError) -> None:
    raise error


def discover(arguments: list[str], on_error: OnError = _raise) -> list[Source]:
    """Files named by ``arguments``: files as given, directories recursively.

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
            found.append(Source(root, root.name))
        elif root.is_dir():
            found.extend(_walk(root, on_error))
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


def _link_problem(path: Path) -> str:
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a symbolic link loop (the link points back to itself)"
        return f"a broken symbolic link ({err.strerror})"
    return "a symbolic link to something that is not a regular file"


def _walk(root: Path, on_error: OnError = _raise) -> list[Source]:
    sources = []

    def unreadable(err: OSError) -> None:
        label = err.filename or str(root)
        on_error(label, LtmcError(f"{label}: cannot read directory ({err.strerror}); make it readable or leave it out", ExitCode.USAGE))

    # followlinks=False: a link loop cannot trap the walk; linked files are still read
    # (a looping file link fails when it is opened, with its own message).
    for folder, dirs, files in os.walk(root, onerror=unreadable, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder, name)
            sources.append(Source(path, path.relative_to(root).as_posix()))
    return sorted(sources, key=lambda s: s.name)


@dataclass(slots=True)
class Sniffed:
    encoding: str  # "utf-8" or LEGACY_ENCODING
    size: int
    sha256: str


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
    UTF-8 file. A file that is not UTF-8 but decodes as Windows-1251 is read a
    second time, to count how many of its high bytes are Cyrillic letters."""
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    legacy = codecs.getincrementaldecoder(LEGACY_ENCODING)("strict")
    utf8_ok = legacy_ok = True
    size = 0
    for block in read_bytes_blocks(source):
        if size == 0 and b"\0" in block[:_SNIFF]:
            raise LtmcError(f"{source.label}: looks binary (NUL bytes), not text; leave it out of the corpus", ExitCode.DATA)
        size += len(block)
        digest.update(block)
        if utf8_ok:
            try:
                utf8.decode(block)
            except UnicodeDecodeError:
                utf8_ok = False
        if not utf8_ok and legacy_ok:
            try:
                legacy.decode(block)
            except UnicodeDecodeError:
                legacy_ok = False
    if utf8_ok:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_ok = False
    encoding = "utf-8"
    if not utf8_ok and legacy_ok:
        high = cyrillic = 0
        for block in read_bytes_blocks(source):
            high += len(block) - len(block.translate(None, _HIGH))
            cyrillic += len(block) - len(block.translate(None, _CYRILLIC_1251))
        # Most high bytes of Russian cp1251 text are letters (0xC0–0xFF).
        if cyrillic >= 0.8 * max(high, 1):
            encoding = LEGACY_ENCODING
    return Sniffed(encoding, size, digest.hexdigest())


_HIGH = bytes(range(0x80, 0x100))
_CYRILLIC_1251 = bytes(range(0xC0, 0x100)) + b"\xa8\xb8"


def text_blocks(blocks: Iterator[bytes], encoding: str) -> Iterator[str]:
    """Decoded text; the encoding and surrogateescape make this reversible."""
    decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")
    for block in blocks:
        if text := decoder.decode(block):
            yield text
    if tail := decoder.decode(b"", final=True):
        yield tail


def encode_text(text: str, encoding: str) -> bytes:
    return text.encode(encoding, "surrogateescape")
