"""The single files ltmc writes (a codebook, a morph table, a glyph file, a report):
what each looks like, and where one may be written without losing anything of the user's.

Running a command again replaces its own earlier file, as ``make`` expects; anything
else standing at the path is the user's and is refused, as are the paths that would
quietly break something: an input, a file inside an input folder (the next run reads
it as input), and a file inside a folder that ``encode`` or ``export`` writes whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow.parquet as pq

from ltmc import codebook_file
from ltmc.errors import ExitCode, LtmcError
from ltmc.files import STDOUT, inside_input_folder
from ltmc.shard_writer import is_output
from ltmc.stages import MORPH_SCHEMA


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _is_morph_table(path: Path) -> bool:
    return pq.read_schema(path).equals(MORPH_SCHEMA)


# glyphs and report_html are imported where a file is checked: every command
# imports this module, and only these checks need them.
def _is_glyph_file(path: Path) -> bool:
    from ltmc.glyphs import HEADER

    return _head(path).startswith(HEADER.encode())


def _is_report(path: Path) -> bool:
    from ltmc.report_html import TITLE_PREFIX

    return TITLE_PREFIX.encode() in _head(path)


# kind: (what the refusal calls it, whether a file is one ltmc wrote)
KINDS: dict[str, tuple[str, Callable[[Path], bool]]] = {
    "codebook": ("an ltmc codebook", codebook_file.is_codebook_file),
    "morph": ("an ltmc morph table", _is_morph_table),
    "glyphs": ("an ltmc glyph file", _is_glyph_file),
    "report": ("an ltmc report", _is_report),
}


def claim_file(path: str | Path, kind: str, inputs: Iterable[str | Path] = ()) -> None:
    """Refuse to write the ``kind`` file ``path`` where that would lose something of the
    user's (see the module doc); ``inputs``: what the command reads."""
    if str(path) == STDOUT:
        return
    from ltmc.export import is_export  # here: it loads pyarrow.compute, which most commands never need

    what, looks_ours = KINDS[kind]
    real = os.path.realpath(path)
    folder = Path(real).parent
    if is_output(folder) or is_export(folder):
        raise LtmcError(f"{path}: inside {folder}, which ltmc writes whole (an encode output or an export); choose a path outside it", ExitCode.USAGE)
    for given in inputs:
        if real == os.path.realpath(given):
            raise LtmcError(f"{path}: is one of the inputs; refusing to write over it, choose another path", ExitCode.USAGE)
        if inside_input_folder(real, given):
            raise LtmcError(f"{path}: inside the input folder {given}; the next run would read it as input, choose a path outside it", ExitCode.USAGE)
    if not os.path.isfile(real):
        return  # nothing there, or what files.check_replaceable refuses when the file is written
    try:
        ours = looks_ours(Path(real))
    except (OSError, ValueError):  # unreadable, not JSON, not Parquet: not ours either way
        ours = False
    if not ours:
        raise LtmcError(f"{path}: exists and is not {what}; refusing to replace it, remove it or choose another path", ExitCode.USAGE)
