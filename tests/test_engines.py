"""Both engines give the same result for every failure that can happen to either:
the same exit code, the same error and skipped lines, the same output files.

The cases are those of docs/failures.md that concern encode's inputs and output
directory (the decode side and stdin do not involve an engine; the Dask engine
refuses stdin). Each engine runs in a folder of its own holding the same files,
named by the same relative paths, so that their messages can be compared as they
are. The Dask cluster runs in this process (threads), so the monkeypatches that
act between sniffing and reading reach its tasks too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from typer.testing import CliRunner  # noqa: E402

from ltmc import inputs, shards  # noqa: E402
from ltmc.cli import app  # noqa: E402
from ltmc.errors import ExitCode  # noqa: E402

from conftest import SAMPLE_TEXTS  # noqa: E402


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster:
        yield cluster.scheduler_address


def _books(root: Path) -> None:
    (root / "in").mkdir(parents=True)
    (root / "in" / "a.txt").write_text(SAMPLE_TEXTS[0] * 20, encoding="utf-8")
    (root / "in" / "b.txt").write_text(SAMPLE_TEXTS[2] * 20, encoding="utf-8")


def _binary(root: Path, folder: str = "in") -> None:
    (root / folder).mkdir(exist_ok=True)
    (root / folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)


def _after_sniff(monkeypatch, name: str, act) -> None:
    """Run ``act(path)`` right after ``name`` is sniffed, before it is read again."""
    real_sniff = inputs.sniff

    def sniff_then_act(source):
        sniffed = real_sniff(source)
        if source.path is not None and source.path.name == name:
            act(source.path)
        return sniffed

    monkeypatch.setattr(inputs, "sniff", sniff_then_act)


def _duplicate_names(root: Path) -> None:
    for folder in ("x", "y"):
        (root / folder).mkdir()
        (root / folder / "one.txt").write_text(SAMPLE_TEXTS[1], encoding="utf-8")


# name: (set-up of one engine's folder, arguments, extra options, patch or None)
CASES = {
    "missing-path": (_books, ["in", "missing.txt"], [], None),
    "missing-path-strict": (_books, ["in", "missing.txt"], ["--strict"], None),
    "binary-file": (lambda r: (_books(r), _binary(r)), ["in"], [], None),
    "binary-file-strict": (lambda r: (_books(r), _binary(r)), ["in"], ["--strict"], None),
    "broken-link": (lambda r: (_books(r), (r / "in" / "dangling.txt").symlink_to("gone.txt")), ["in"], [], None),
    "link-loop": (lambda r: (_books(r), (r / "loop.txt").symlink_to("loop.txt")), ["in", "loop.txt"], [], None),
    "not-a-regular-file": (lambda r: (_books(r), os.mkfifo(r / "pipe")), ["in", "pipe"], [], None),
    "nothing-readable": (lambda r: _binary(r, "bin"), ["bin"], [], None),
    "duplicate-names": (_duplicate_names, ["x/one.txt", "y/one.txt"], [], None),
    "empty-file": (lambda r: (_books(r), (r / "in" / "empty.txt").write_bytes(b"")), ["in"], [], None),
    "changed-while-read": (_books, ["in"], [], lambda mp: _after_sniff(mp, "b.txt", lambda p: p.write_bytes(p.read_bytes()[::-1]))),
    "vanished-before-read": (_books, ["in"], [], lambda mp: _after_sniff(mp, "b.txt", os.unlink)),
    "output-is-a-file": (lambda r: (_books(r), (r / "out").write_text("not a folder")), ["in"], [], None),
}


def _run(root: Path, case: str, engine: list[str], codebook_file: Path, monkeypatch) -> tuple:
    setup, arguments, extra, patch = CASES[case]
    root.mkdir()
    setup(root)
    monkeypatch.chdir(root)
    with monkeypatch.context() as patched:
        if patch:
            patch(patched)
        result = CliRunner().invoke(app, ["encode", *arguments, "-o", "out", "-c", str(codebook_file), *extra, *engine])
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit)), result.output
    said = [line for line in result.stderr.splitlines() if line.startswith(("error: ", "skipped: "))]
    out = root / "out"
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())} if out.is_dir() else None
    return result.exit_code, said, files


@pytest.mark.parametrize("case", CASES)
def test_both_engines_fail_alike(case, tmp_path, codebook_file, scheduler, monkeypatch):
    local = _run(tmp_path / "local", case, ["-w", "1"], codebook_file, monkeypatch)
    dask = _run(tmp_path / "dask", case, ["--engine", "dask", "--scheduler", scheduler], codebook_file, monkeypatch)
    assert dask == local
    code, said, files = local
    assert code != ExitCode.OK or case == "empty-file"  # each case is a failure but the last
    assert said or case == "empty-file"
    if code in (ExitCode.OK, ExitCode.FAILURE):
        assert shards.MANIFEST in files  # the rest were processed
    elif files is not None:
        assert shards.MANIFEST not in files  # a failed encode marks nothing complete
