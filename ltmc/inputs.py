"""What every command reads: the inputs named on its command line, found, sniffed and
opened under one policy, whichever engine then works on them.

``open_inputs`` finds the files (``sources.discover``), spools stdin to a file (it is
read more than once), sniffs each (size, sha256, encoding) and applies the policy: an
input that cannot be used is skipped and reported, or with ``strict`` stops the
command; with none left the command fails. Reading an input again for encoding checks
it still has the sniffed bytes (``Input.texts``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ltmc.errors import ExitCode, LtmcError
from ltmc.sources import Sniffed, Source, discover, read_checked, sniff, text_blocks
from ltmc.stages import scene_batches

# Sniffs sources, in order, each into its Sniffed or the LtmcError that stopped it.
SniffAll = Callable[[list[Source]], Iterable["Sniffed | LtmcError"]]


@dataclass
class Failure:
    label: str
    message: str


@dataclass
class Input:
    source: Source
    sniffed: Sniffed

    @property
    def size(self) -> int:
        return self.sniffed.size

    def texts(self) -> Iterator[str]:
        # read_checked fails with "changed while it was read" if the bytes are not the sniffed ones
        return text_blocks(read_checked(self.source, self.sniffed), self.sniffed.encoding)

    def scene_batches(self) -> Iterator[pa.RecordBatch]:
        return scene_batches(self.source.name, self.sniffed.encoding, self.texts())


def sniff_each(sources: list[Source]) -> list[Sniffed | LtmcError]:
    """Sniff ``sources`` one after the other (the default ``SniffAll``)."""
    return [_sniff_source(source) for source in sources]


def _sniff_source(source: Source) -> Sniffed | LtmcError:
    try:
        return sniff(source)
    except LtmcError as err:
        return err  # a value, so one bad file does not stop the others


def open_inputs(
    arguments: list[str], *, strict: bool, failures: list[Failure], stack: ExitStack, sniff_all: SniffAll = sniff_each
) -> list[Input]:
    """The usable inputs named by ``arguments``; the others go to ``failures`` (or,
    ``strict``, raise). ``stack`` holds stdin's spool file until the command ends."""

    def skip(label: str, err: LtmcError) -> None:
        if strict:
            raise err
        failures.append(Failure(label, str(err)))

    sources = [Source(_spool_stdin(stack), s.name) if s.path is None else s for s in discover(arguments, skip)]
    inputs = []
    for source, sniffed in zip(sources, sniff_all(sources)):
        if isinstance(sniffed, LtmcError):
            skip(source.label, sniffed)
        else:
            inputs.append(Input(source, sniffed))
    if not inputs:
        detail = f"; {len(failures)} input(s) failed, the first: {failures[0].message}" if failures else "; pass text files or folders that hold some"
        raise LtmcError(f"{' '.join(arguments)}: no readable text files{detail}", ExitCode.USAGE)
    return inputs


def total_size(arguments: list[str]) -> int | None:
    """The bytes of the files ``open_inputs`` would find, for a progress bar; None
    with stdin (its size is unknown) or when finding them fails (the command says why)."""
    try:
        sources = discover(arguments, lambda label, err: None)
    except LtmcError:
        return None
    if any(s.path is None for s in sources):
        return None
    return sum(map(stat_size, sources))


def stat_size(source: Source) -> int:
    """The size of a file found, before it is read (0 if it cannot be stat'ed: sniffing it reports why)."""
    try:
        return os.stat(source.path).st_size
    except OSError:
        return 0


def _spool_stdin(stack: ExitStack) -> Path:
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ltmc-stdin-"))
    path = Path(tmp, "stdin")
    with open(path, "wb") as fh:
        shutil.copyfileobj(sys.stdin.buffer, fh)
    return path
