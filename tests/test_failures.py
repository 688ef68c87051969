"""Never lose a byte: bad input, interruptions and hostile shards (docs/failures.md).

Every case runs the real CLI (``ltmc.cli.app`` through CliRunner; a subprocess for
the SIGKILL test) and checks the exit code, the one-line message, that no traceback
was printed, and that nothing outside the output folder changed.

Running as root, ``chmod 000`` does not stop a read; the permission errors are
then simulated by monkeypatching the ``open``/``mkstemp`` that ltmc calls.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ltmc import inputs, shard_writer, shards, sources
from ltmc.cli import app
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode
from ltmc.files import STAGING_PREFIX
from ltmc.scenes import LIMIT

from conftest import SAMPLE_TEXTS

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# -- helpers ---------------------------------------------------------------------------


def snapshot(root: Path, *skip: Path) -> dict:
    """Every entry under ``root`` except the ``skip`` folders: kind, mode, size, content."""
    skipped = {p.resolve() for p in skip}
    state = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if Path(folder, d).resolve() not in skipped or Path(folder, d).is_symlink()]
        for name in dirs + files:
            path = Path(folder, name)
            st = os.lstat(path)
            if path.is_symlink():
                entry = ("link", os.readlink(path))
            elif path.is_dir():
                entry = ("dir", st.st_mode)
            elif not stat.S_ISREG(st.st_mode):  # a FIFO or device: reading it would block or never end
                entry = ("special", st.st_mode, st.st_rdev)
            else:
                try:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                except OSError:
                    digest = None
                entry = ("file", st.st_mode, st.st_size, st.st_mtime_ns, digest)
            state[path.relative_to(root).as_posix()] = entry
    return state


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def flat(text: str) -> str:
    """Rich wraps long non-error lines on an 80-column test console: compare words."""
    return " ".join(text.split())


def no_traceback(result) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def error_line(result, code: int, *needles: str) -> str:
    """Exactly one ``error:`` line, holding every needle, and exit ``code``."""
    no_traceback(result)
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def skipped_lines(result, *needles: str) -> list[str]:
    """The default keeps going: exit 1, a ``skipped:`` line per failure, a summary count."""
    no_traceback(result)
    assert result.exit_code == ExitCode.FAILURE, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("skipped: ")]
    for needle in needles:
        assert any(needle in line for line in lines), (needle, result.stderr)
    assert f"{len(lines)} input(s) failed; the rest were processed" in flat(result.stderr)
    return lines


class Cli:
    def __init__(self, tmp_path: Path, codebook_file: Path) -> None:
        self.tmp = tmp_path
        self.codebook = codebook_file
        self.runner = CliRunner()

    def __call__(self, *args):
        return self.runner.invoke(app, [str(a) for a in args])

    def encode(self, *inputs, out=None, extra=()):
        out = out or self.tmp / "out"
        return self(*["encode", *inputs, "-o", out, "-c", self.codebook, "-w", "1", *extra])


@pytest.fixture
def cli(tmp_path, codebook_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path, codebook_file)


@pytest.fixture
def books(tmp_path) -> Path:
    """Two good books in ``tmp_path/in``."""
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.txt").write_text(SAMPLE_TEXTS[0] * 20, encoding="utf-8")
    (root / "b.txt").write_text(SAMPLE_TEXTS[2] * 20, encoding="utf-8")
    return root


@pytest.fixture
def encoded(cli, books, tmp_path) -> Path:
    result = cli.encode(books)
    assert result.exit_code == 0, result.output
    return tmp_path / "out"


def restored_equal(cli, out: Path, books: Path, dest: Path) -> None:
    result = cli("decode", out, "-o", dest, "-w", "1")
    assert result.exit_code == 0, result.output
    assert files_of(dest) == files_of(books)


def rewrite_shard(out: Path, table: pa.Table | bytes, index: int = 0) -> None:
    """Replace a shard and give the manifest its new sha256 and rows: a shard that *looks* legitimate."""
    name = shards.shard_name(index)
    if isinstance(table, pa.Table):
        sink = io.BytesIO()
        pq.write_table(table, sink)
        data = sink.getvalue()
    else:
        data = table
    (out / name).write_bytes(data)
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    manifest["shards"][index]["sha256"] = hashlib.sha256(data).hexdigest()
    if isinstance(table, pa.Table):
        manifest["shards"][index]["rows"] = table.num_rows
    (out / shards.MANIFEST).write_bytes(orjson.dumps(manifest))


def edit_manifest(out: Path, change) -> None:
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    change(manifest)
    (out / shards.MANIFEST).write_bytes(orjson.dumps(manifest))


# -- bad input ---------------------------------------------------------------------------


def test_missing_path_is_skipped_by_default_and_stops_strict(cli, books, tmp_path):
    before = snapshot(tmp_path, tmp_path / "out")
    result = cli.encode(books, tmp_path / "nope.txt")
    skipped_lines(result, "nope.txt: no such file or directory; check the path")
    assert "encoded 2 files" in flat(result.stderr)
    restored_equal(cli, tmp_path / "out", books, tmp_path / "restored")
    assert snapshot(tmp_path, tmp_path / "out", tmp_path / "restored") == before

    strict = cli.encode(books, tmp_path / "nope.txt", out=tmp_path / "strict", extra=["--strict"])
    error_line(strict, ExitCode.USAGE, "nope.txt: no such file or directory")
    assert not (tmp_path / "strict").exists()


def test_a_file_name_with_markup_is_printed_as_is(cli, books, tmp_path):
    result = cli.encode(books, tmp_path / "[bold]book[1].txt")
    skipped_lines(result, "[bold]book[1].txt: no such file or directory")


def test_a_backslash_in_a_file_name_is_skipped_and_every_reader_takes_the_rest(cli, books, tmp_path):
    # Windows reads a backslash as a folder separator, so the readers refuse such a
    # document path; encode skips the file instead of writing an output nobody reads.
    odd = books / "notes\\2024.txt"
    odd.write_text("Текст.\n", encoding="utf-8")
    strict = cli.encode(books, out=tmp_path / "strict", extra=["--strict"])
    error_line(strict, ExitCode.USAGE, f"{odd}: its name holds a backslash, which Windows reads as a folder separator")
    assert not (tmp_path / "strict").exists()

    result = cli.encode(books)
    skipped_lines(result, f"{odd}: its name holds a backslash", "rename it or leave it out")
    assert "encoded 2 files" in flat(result.stderr)
    odd.unlink()
    restored_equal(cli, tmp_path / "out", books, tmp_path / "restored")
    for command in (["stats", tmp_path / "out"], ["export", tmp_path / "out", "-f", "hf", "-o", tmp_path / "hf"]):
        ran = cli(*command)
        assert ran.exit_code == 0, ran.output


def test_directory_with_no_readable_text(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    error_line(cli.encode(empty), ExitCode.USAGE, "empty: no readable text files")

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (junk / ".hidden.txt").write_text("hidden files are not inputs")
    before = snapshot(tmp_path, tmp_path / "out")
    line = error_line(cli.encode(junk), ExitCode.USAGE, "junk: no readable text files", "1 input(s) failed", "photo.png: looks binary")
    assert "leave it out" in line
    assert not (tmp_path / "out").exists()
    assert snapshot(tmp_path) == before


def _deny_reading(monkeypatch, target: Path) -> None:
    """Make ``target`` unreadable: chmod 000, or (as root, whom chmod does not stop) refuse the open."""
    if not IS_ROOT:
        target.chmod(0)
        return
    import ltmc.sources

    real_open = open

    def guarded_open(path, *args, **kwargs):
        if Path(path) == target:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(ltmc.sources, "open", guarded_open, raising=False)


def test_file_without_read_permission(cli, books, tmp_path, monkeypatch):
    secret = books / "secret.txt"
    secret.write_text(SAMPLE_TEXTS[1])
    _deny_reading(monkeypatch, secret)
    try:
        before = snapshot(tmp_path, tmp_path / "out", tmp_path / "strict")
        result = cli.encode(books)
        skipped_lines(result, "secret.txt: permission denied; make it readable or leave it out")
        manifest = orjson.loads((tmp_path / "out" / shards.MANIFEST).read_bytes())
        assert [d["path"] for d in manifest["documents"]] == ["a.txt", "b.txt"]
        strict = cli.encode(books, out=tmp_path / "strict", extra=["--strict"])
        error_line(strict, ExitCode.USAGE, "secret.txt: permission denied")
        assert snapshot(tmp_path, tmp_path / "out", tmp_path / "strict") == before
    finally:
        secret.chmod(0o644)


def test_directory_that_cannot_be_listed(cli, books, tmp_path, monkeypatch):
    locked = books / "locked"
    locked.mkdir()
    (locked / "c.txt").write_text(SAMPLE_TEXTS[3])
    if IS_ROOT:  # root lists anything: refuse the listing instead
        real_scandir = os.scandir

        def scandir(path="."):
            if isinstance(path, (str, os.PathLike)) and Path(path) == locked:  # rmtree scans by descriptor
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        locked.chmod(0)
    try:
        result = cli.encode(books)
        skipped_lines(result, "locked: cannot read directory (Permission denied); make it readable or leave it out")
        strict = cli.encode(books, out=tmp_path / "strict", extra=["--strict"])
        error_line(strict, ExitCode.USAGE, "locked: cannot read directory")
    finally:
        locked.chmod(0o755)


def test_symlink_loops(cli, books, tmp_path):
    (books / "loop.txt").symlink_to(books / "loop.txt")  # a file link to itself, inside a folder
    (books / "up").symlink_to(books)  # a folder link back to its parent: the walk must not follow it
    (books / "dangling.txt").symlink_to(books / "gone.txt")  # and a broken link, for contrast
    (tmp_path / "self").symlink_to(tmp_path / "self")  # a loop named on the command line
    before = snapshot(tmp_path, tmp_path / "out")
    result = cli.encode(books, tmp_path / "self")
    lines = skipped_lines(
        result,
        "loop.txt: a symbolic link loop; fix or remove the link",
        "self: a symbolic link loop",
        "dangling.txt: a broken symbolic link (No such file or directory); fix or remove the link",
    )
    assert len(lines) == 3
    manifest = orjson.loads((tmp_path / "out" / shards.MANIFEST).read_bytes())
    assert [d["path"] for d in manifest["documents"]] == ["a.txt", "b.txt"]
    assert snapshot(tmp_path, tmp_path / "out") == before


def test_binary_files_are_skipped(cli, books, tmp_path):
    (books / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(4096))
    with zipfile.ZipFile(books / "archive.zip", "w") as archive:
        archive.writestr("inner.txt", SAMPLE_TEXTS[0])
    before = snapshot(tmp_path, tmp_path / "out")
    result = cli.encode(books)
    lines = skipped_lines(result, "photo.png: looks binary (NUL bytes), not text; leave it out", "archive.zip: looks binary")
    assert len(lines) == 2
    assert snapshot(tmp_path, tmp_path / "out") == before
    strict = cli.encode(books, out=tmp_path / "strict", extra=["--strict"])
    error_line(strict, ExitCode.DATA, "archive.zip: looks binary")  # the first, in name order


def test_empty_file_round_trips(cli, books, tmp_path):
    (books / "empty.txt").write_bytes(b"")
    result = cli.encode(books)
    no_traceback(result)
    assert result.exit_code == 0 and "encoded 3 files" in flat(result.stderr)
    verify = cli("decode", tmp_path / "out", "--verify", "-w", "1")
    assert verify.exit_code == 0 and "ok  empty.txt" in verify.stderr
    restored_equal(cli, tmp_path / "out", books, tmp_path / "restored")
    assert (tmp_path / "restored" / "empty.txt").read_bytes() == b""


def test_long_file_without_newline(cli, tmp_path):
    """A file with no newline at all (here 4 MB: four read blocks) streams in blocks and is cut at LIMIT.

    By hand, a 200 MB one encodes and decodes the same way (docs/failures.md gives its peak memory).
    """
    rng = random.Random(7)
    words = ["слово", "дорога", "река", "ночь", "свет", "говорил", "было", "и", "в", "не"]
    text = " ".join(rng.choices(words, k=680_000))  # ~4 MB of UTF-8
    src = tmp_path / "in"
    src.mkdir()
    (src / "one-line.txt").write_text(text, encoding="utf-8")
    result = cli.encode(src)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    longest = max(max(pq.read_table(p, columns=["n_chars"]).column("n_chars").to_pylist()) for p in out.glob("shard-*.parquet"))
    assert longest <= LIMIT
    verify = cli("decode", out, "--verify", "-w", "1")
    assert verify.exit_code == 0 and "ok  one-line.txt" in verify.stderr


def _after_sniff(monkeypatch, target: Path, act) -> None:
    """Run ``act`` right after ltmc has sniffed ``target`` and before it reads it again."""
    real_sniff = inputs.sniff

    def sniff_then_act(source):
        sniffed = real_sniff(source)
        if Path(source.label) == target:
            act()
        return sniffed

    monkeypatch.setattr(inputs, "sniff", sniff_then_act)


def test_file_that_vanishes_while_it_is_read(cli, books, tmp_path, monkeypatch):
    gone = books / "c.txt"
    gone.write_text(SAMPLE_TEXTS[3] * 10)
    _after_sniff(monkeypatch, gone, gone.unlink)
    error_line(cli.encode(books), ExitCode.USAGE, "c.txt: vanished before it could be read", "run again")
    assert not (tmp_path / "out" / shards.MANIFEST).exists()  # nothing that looks complete
    monkeypatch.undo()
    assert cli.encode(books).exit_code == 0  # a rerun finishes the job
    restored_equal(cli, tmp_path / "out", books, tmp_path / "restored")


def test_file_that_changes_while_it_is_read(cli, books, tmp_path, monkeypatch):
    moving = books / "c.txt"
    moving.write_text(SAMPLE_TEXTS[3] * 10)
    data = moving.read_bytes()

    def same_size_other_bytes():  # only the sha256 of the second read can tell
        changed = data.replace("вошёл".encode(), "вышел".encode(), 1)
        assert changed != data and len(changed) == len(data)
        moving.write_bytes(changed)

    _after_sniff(monkeypatch, moving, same_size_other_bytes)
    before = snapshot(tmp_path, tmp_path / "out")
    error_line(cli.encode(books), ExitCode.DATA, "c.txt: changed while it was read", "run again")
    assert not (tmp_path / "out" / shards.MANIFEST).exists()
    after = snapshot(tmp_path, tmp_path / "out")
    assert after.pop("in/c.txt") != before.pop("in/c.txt")  # changed by the test, not by ltmc
    assert after == before
    monkeypatch.undo()
    assert cli.encode(books).exit_code == 0
    restored_equal(cli, tmp_path / "out", books, tmp_path / "restored")


# -- output that cannot be written ---------------------------------------------------------


def test_output_directory_cannot_be_written(cli, books, tmp_path, monkeypatch):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    error_line(cli.encode(books, out=tmp_path / "blocker" / "out"), ExitCode.IO, "blocker", "cannot write (Not a directory)")

    locked = tmp_path / "locked"
    locked.mkdir()
    if IS_ROOT:
        import ltmc.files

        def refuse(*args, dir=None, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))

        monkeypatch.setattr(ltmc.files.tempfile, "mkstemp", refuse)
    else:
        locked.chmod(0o500)
    try:
        before = snapshot(tmp_path)
        error_line(cli.encode(books, out=locked), ExitCode.IO, "locked: permission denied; choose a writable destination")
        assert snapshot(tmp_path) == before
    finally:
        locked.chmod(0o755)


def test_disk_full_while_writing_shards(cli, books, tmp_path, monkeypatch):
    import ltmc.files

    calls = []
    real_fsync = os.fsync

    def full_on_second(fd):  # the codebook is written, then the first shard hits a full disk
        calls.append(fd)
        if len(calls) >= 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(ltmc.files.os, "fsync", full_on_second)
    before = snapshot(tmp_path, tmp_path / "out")
    error_line(cli.encode(books), ExitCode.IO, "out/shard-00000.parquet: cannot write (No space left on device); free space")
    monkeypatch.undo()
    out = tmp_path / "out"
    assert list(out.iterdir()) == []  # no temp file, no shard, no manifest, no staging folder
    assert snapshot(tmp_path, out) == before
    assert cli.encode(books).exit_code == 0


def test_disk_full_while_decoding(cli, encoded, tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class FullFile(io.BufferedWriter):
        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def open_full(fd, mode="r", *args, **kwargs):  # how ltmc.files opens what it writes
        return FullFile(io.FileIO(fd, "w")) if "w" in mode else real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", open_full)
    dest = tmp_path / "restored"
    before = snapshot(tmp_path, dest)
    error_line(cli("decode", encoded, "-o", dest, "-w", "1"), ExitCode.IO, "cannot write (No space left on device)")
    assert files_of(dest) == {}  # no partial file left behind
    assert snapshot(tmp_path, dest) == before


# -- shards and manifests that are wrong, old, new or hostile ------------------------------


def test_decode_with_a_codebook_that_does_not_match(cli, encoded, tmp_path):
    other = tmp_path / "other.json"
    Codebook.from_entries([("word", "другой"), ("word", "словарь")]).save(other)
    before = snapshot(tmp_path, tmp_path / "restored")
    error_line(cli("decode", encoded, "-o", tmp_path / "restored", "-c", other), ExitCode.DATA, "other.json: codebook", "does not match the shards", "use the codebook.json written with them")
    assert not (tmp_path / "restored").exists()
    assert snapshot(tmp_path, tmp_path / "restored") == before


def test_truncated_shard(cli, encoded, tmp_path):
    shard = encoded / shards.shard_name(0)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    before = snapshot(tmp_path, tmp_path / "restored")
    error_line(cli("decode", encoded, "-o", tmp_path / "restored"), ExitCode.DATA, "shard-00000.parquet: shard does not match the manifest's checksum", "re-run `ltmc encode`")
    error_line(cli("decode", encoded, "--verify"), ExitCode.DATA, "shard-00000.parquet")
    assert files_of(tmp_path / "restored") == {}
    assert snapshot(tmp_path, tmp_path / "restored") == before


def test_corrupt_parquet_with_a_matching_checksum(cli, encoded, tmp_path):
    rewrite_shard(encoded, b"PAR1" + os.urandom(2000) + b"PAR1")
    error_line(cli("decode", encoded, "-o", tmp_path / "restored"), ExitCode.DATA, "shard-00000.parquet: corrupt Parquet shard")
    assert files_of(tmp_path / "restored") == {}


def test_shard_with_foreign_columns(cli, encoded, tmp_path):
    table = pq.read_table(encoded / shards.shard_name(0)).drop_columns(["ids"])
    rewrite_shard(encoded, table)
    error_line(cli("decode", encoded, "--verify"), ExitCode.DATA, "not an ltmc shard (column 'ids' missing")


def test_newer_format_versions(cli, encoded, tmp_path):
    table = pq.read_table(encoded / shards.shard_name(0))
    rewrite_shard(encoded, table.replace_schema_metadata({b"ltmc-shards-version": b"2"}))
    error_line(cli("decode", encoded, "--verify"), ExitCode.DATA, "shard-00000.parquet: shard format version 2 is newer than this ltmc reads (1); upgrade ltmc")

    edit_manifest(encoded, lambda m: m.update(version=2))
    error_line(cli("decode", encoded, "--verify"), ExitCode.DATA, "manifest.json: shard format version 2 is newer", "upgrade ltmc")


def _add_doc_without_rows(m):
    m["documents"].append({"path": "ghost.txt", "bytes": 10, "sha256": "0" * 64, "encoding": "utf-8", "scenes": 0, "tokens": 0})


def _add_doc_without_rows_consistently(m):
    m["documents"].append({"path": "ghost.txt", "bytes": 10, "sha256": "0" * 64, "encoding": "utf-8", "scenes": 1, "tokens": 0})
    m["documents"][0]["scenes"] -= 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_disk_full_while_joining_a_document_that_spans_row_groups(cli, tmp_path, monkeypatch, workers):
    monkeypatch.setattr(shard_writer, "ROW_GROUP_ROWS", 1)  # every scene a row group of its own
    books = tmp_path / "in"
    books.mkdir()
    (books / "long.txt").write_text("\n\n".join(SAMPLE_TEXTS * 3), encoding="utf-8")
    assert cli.encode(books).exit_code == 0
    assert orjson.loads((tmp_path / "out" / shards.MANIFEST).read_bytes())["documents"][0]["scenes"] > 1
    real_fdopen = os.fdopen
    written = []

    class FullAfterOneWrite(io.BufferedWriter):
        def write(self, data):
            if written:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written.append(len(data))
            return super().write(data)

    def open_full(fd, mode="r", *args, **kwargs):  # how ltmc.files opens what it writes
        return FullAfterOneWrite(io.FileIO(fd, "w")) if "w" in mode else real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", open_full)
    dest = tmp_path / "restored"
    error_line(cli("decode", tmp_path / "out", "-o", dest, "-w", workers), ExitCode.IO, "cannot write (No space left on device)")
    assert written  # the joiner had begun the file
    assert files_of(dest) == {}  # and removed it


@pytest.mark.parametrize(
    "change, needle",
    [
        (_add_doc_without_rows, "malformed manifest (document 'ghost.txt' has 10 bytes in 0 scenes)"),
        (_add_doc_without_rows_consistently, "the manifest lists 'ghost.txt' (10 bytes) but the shards hold no rows for it"),
        (lambda m: m["shards"][0].update(sha256="0" * 64), "shard does not match the manifest's checksum"),
        (lambda m: m["shards"][0].update(rows=m["shards"][0]["rows"] + 1), "malformed manifest (its documents' scenes do not add up"),
        (lambda m: m["documents"][0].update(path="renamed.txt"), "shard holds document 'a.txt' that the manifest does not list"),
        (lambda m: m.pop("shards"), "malformed manifest (no documents or shards list)"),
        (lambda m: m["codebook"].pop("fingerprint"), "malformed manifest (codebook has no valid 'fingerprint')"),
        (lambda m: m["shards"][0].update(file="../../etc/passwd"), "is not a file name in the output directory"),
    ],
    ids=["doc-without-rows", "doc-without-rows-totals-fixed", "shard-sha", "shard-rows", "renamed-doc", "no-shards", "no-fingerprint", "shard-escapes"],
)
def test_manifest_that_does_not_match_its_shards(cli, encoded, tmp_path, change, needle):
    edit_manifest(encoded, change)
    dest = tmp_path / "restored"
    before = snapshot(tmp_path, dest)
    error_line(cli("decode", encoded, "-o", dest, "-w", "1"), ExitCode.DATA, needle)
    error_line(cli("decode", encoded, "--verify", "-w", "1"), ExitCode.DATA, needle)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))
    assert snapshot(tmp_path, dest) == before


@pytest.mark.parametrize("hostile", ["../../x", "/tmp/ltmc-hostile-x", "a\0b", "sub/../../x"])
@pytest.mark.parametrize("listed", [True, False], ids=["listed", "unlisted"])
def test_hostile_document_paths_never_write_outside(cli, encoded, tmp_path, hostile, listed):
    table = pq.read_table(encoded / shards.shard_name(0))
    paths = [hostile if p == "a.txt" else p for p in table.column("path").to_pylist()]
    rewrite_shard(encoded, table.set_column(table.schema.get_field_index("path"), "path", pa.array(paths, pa.string())))
    if listed:  # the manifest was forged too
        edit_manifest(encoded, lambda m: m["documents"][0].update(path=hostile))
    dest = tmp_path / "deep" / "restored"
    before = snapshot(tmp_path, dest)
    line = error_line(cli("decode", encoded, "-o", dest, "-w", "1"), ExitCode.DATA)
    assert ("unsafe document path" in line) if listed else ("that the manifest does not list" in line)
    assert snapshot(tmp_path, dest) == before
    assert not Path("/tmp/ltmc-hostile-x").exists()
    assert files_of(dest) == {} if dest.exists() else True


def test_a_link_in_the_destination_cannot_lead_outside(cli, encoded, tmp_path):
    table = pq.read_table(encoded / shards.shard_name(0))
    paths = ["sub/a.txt" if p == "a.txt" else p for p in table.column("path").to_pylist()]
    rewrite_shard(encoded, table.set_column(table.schema.get_field_index("path"), "path", pa.array(paths, pa.string())))
    edit_manifest(encoded, lambda m: m["documents"][0].update(path="sub/a.txt"))
    dest, elsewhere = tmp_path / "restored", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "sub").symlink_to(elsewhere)
    before = snapshot(tmp_path, dest)
    error_line(cli("decode", encoded, "-o", dest, "-w", "1"), ExitCode.DATA, "a symbolic link in the destination leads outside it")
    assert list(elsewhere.iterdir()) == []
    assert snapshot(tmp_path, dest) == before


def test_mine_bonds_on_a_corpus_too_small_to_fill_the_vocabulary(cli, tmp_path):
    (tmp_path / "tiny.txt").write_text("Мама мыла раму. Мама мыла раму.\n")
    result = cli("mine-bonds", tmp_path / "tiny.txt", "-o", tmp_path / "cb.json", "--vocab-size", "4096")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert "note: the corpus is too small to fill 4096 ids" in flat(result.stderr)
    assert 257 < len(Codebook.load(tmp_path / "cb.json")) < 4096


# -- interruptions, reruns, verification --------------------------------------------------


def test_rerun_on_unchanged_input_does_nothing_and_changed_input_is_reencoded(cli, books, encoded, tmp_path):
    before = snapshot(tmp_path)
    result = cli.encode(books)
    no_traceback(result)
    assert result.exit_code == 0
    assert "is up to date: same inputs, same codebook; nothing to do" in flat(result.stderr)
    assert snapshot(tmp_path) == before  # not even a timestamp moved

    (books / "b.txt").write_text(SAMPLE_TEXTS[1] * 5)
    result = cli.encode(books)
    assert result.exit_code == 0 and "encoded 2 files" in flat(result.stderr)
    restored_equal(cli, encoded, books, tmp_path / "restored")


def test_rerun_after_a_damaged_shard_reencodes(cli, books, encoded, tmp_path):
    shard = encoded / shards.shard_name(0)
    good = shard.read_bytes()
    shard.write_bytes(good[:-10])
    result = cli.encode(books)
    assert result.exit_code == 0 and "encoded 2 files" in flat(result.stderr)
    assert shard.read_bytes() == good


def test_leftovers_of_a_killed_encode_are_cleaned_by_the_rerun(cli, books, encoded, tmp_path):
    clean = files_of(encoded)
    # What a kill -9 leaves: a staging folder with part of a new output ...
    staging = encoded / f"{STAGING_PREFIX}k3j4h5"
    (staging / ".spool-x1").mkdir(parents=True)
    (staging / ".spool-x1" / "rows.arrow").write_bytes(b"rows")
    (staging / ".shard-00001.parquet.k3j4h5.tmp").write_bytes(b"half a shard")
    # ... or, from an older ltmc, temporaries beside the shards and no manifest.
    (encoded / ".manifest.json.x8y9z0.tmp").write_bytes(b"{")
    (encoded / ".spool-abc").mkdir()
    (encoded / shards.MANIFEST).unlink()
    (encoded / shards.shard_name(7)).write_bytes(b"a shard of an older, bigger run")
    (encoded / "notes.txt").write_text("the user's own file")
    assert cli.encode(books).exit_code == 0
    assert files_of(encoded) == clean | {"notes.txt": b"the user's own file"}
    assert not any(p.name.startswith(".") for p in encoded.iterdir())


def test_verify_reports_per_file_writes_nothing_and_fails_loudly(cli, encoded, tmp_path):
    before = snapshot(tmp_path)
    result = cli("decode", encoded, "--verify", "-w", "1")
    assert result.exit_code == 0, result.output
    assert "ok  a.txt" in result.stderr and "ok  b.txt" in result.stderr
    assert "verified 2 files" in flat(result.stderr)
    assert snapshot(tmp_path) == before

    edit_manifest(encoded, lambda m: m["documents"][1].update(sha256="f" * 64))
    before = snapshot(tmp_path)
    result = cli("decode", encoded, "--verify", "-w", "1")
    error_line(result, ExitCode.FAILURE, "1 file(s) do not match the manifest's sha256: b.txt")
    assert "ok  a.txt" in result.stderr and "MISMATCH  b.txt" in result.stderr
    assert snapshot(tmp_path) == before


def test_decode_needs_a_destination_or_verify(cli, encoded):
    error_line(cli("decode", encoded), ExitCode.USAGE, "decode needs -o DIR")


def test_decode_of_an_unfinished_output(cli, encoded, tmp_path):
    (encoded / shards.MANIFEST).unlink()
    error_line(cli("decode", encoded, "--verify"), ExitCode.DATA, "no manifest.json", "encode did not finish")
    error_line(cli("decode", tmp_path / "nowhere", "--verify"), ExitCode.USAGE, "nowhere: no such output directory")


# -- kill -9 in the middle of an encode ------------------------------------------------------


def _synthetic_corpus(root: Path, megabytes: float) -> Path:
    """Russian-like text (syllable words, sentences, paragraphs) in four books, and a
    small fixed word codebook for it (``root/../words.json``) so encoding is quick."""
    rng = random.Random(20240611)
    syllables = "ка ма ро ва ни ло ст пр ед ть ся ый ой ая ое ми ре до ла по за не ко жи ще".split()
    words = sorted({"".join(rng.choices(syllables, k=rng.randint(1, 4))) for _ in range(3000)})
    root.mkdir()
    per_book = int(megabytes * 1_000_000) // 4
    for book in range(4):
        parts, size = [], 0
        while size < per_book:
            paragraph = " ".join(rng.choices(words, k=rng.randint(25, 40))).capitalize() + ".\n\n"
            parts.append(paragraph)
            size += len(paragraph.encode())
        (root / f"book-{book}.txt").write_text("".join(parts), encoding="utf-8")
    entries = [("word", w) for w in words] + [("word", w.capitalize()) for w in words]
    codebook = root.parent / "words.json"
    Codebook.from_entries(entries + [("space", " "), ("punct", "."), ("space", "\n\n")]).save(codebook)
    return codebook


# ``ltmc encode`` itself (the same entry point as the ``ltmc`` script), with shards of 1024
# scenes instead of 16 384 so that a few megabytes make several shards and the kill lands
# between them, with whole shards already written and more to come.
_LTMC_SMALL_SHARDS = (
    "import os, pathlib; from ltmc import program; program.leave_on_signals(); "
    # LTMC_TEST_READY names a file touched once ltmc's handlers are in place.
    "ready = os.environ.get('LTMC_TEST_READY'); ready and pathlib.Path(ready).touch(); "
    "import ltmc.shard_writer as w; w.SHARD_SCENES = 1024; from ltmc.cli import main; main()"
)


def test_sigkill_during_encode_then_rerun_matches_a_clean_run(tmp_path):
    corpus = tmp_path / "corpus"
    codebook = _synthetic_corpus(corpus, 5)
    ltmc = [sys.executable, "-c", _LTMC_SMALL_SHARDS]

    def encode(out: Path):
        return [*ltmc, "encode", str(corpus), "-o", str(out), "-c", str(codebook), "-w", "2"]

    killed = tmp_path / "killed"
    proc = subprocess.Popen(encode(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if killed.is_dir() and any(killed.glob(f"{STAGING_PREFIX}*/shard-*.parquet")):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "encode finished before it could be killed; make the corpus bigger"
    written = list(killed.glob(f"{STAGING_PREFIX}*/shard-*.parquet"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # What the kill left: nothing under a final name (so nothing looks complete); the
    # shards written so far are in the hidden staging folder.
    assert [p.name for p in killed.iterdir() if not p.name.startswith(STAGING_PREFIX)] == []
    assert written
    verify = subprocess.run([*ltmc, "decode", str(killed), "--verify"], capture_output=True, text=True)
    assert verify.returncode == ExitCode.DATA and "encode did not finish" in verify.stderr
    assert "Traceback" not in verify.stderr

    rerun = subprocess.run(encode(killed), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    clean = tmp_path / "clean"
    first = subprocess.run(encode(clean), capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert len(list(clean.glob("shard-*.parquet"))) > len(written)  # the kill came mid-run
    assert files_of(killed) == files_of(clean)  # same names, same bytes, no temporary files

    again = subprocess.run(encode(killed), capture_output=True, text=True)
    assert again.returncode == 0 and "is up to date" in flat(again.stderr)


# -- SIGINT and SIGTERM at many moments of a multi-worker encode -----------------------------


def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` now (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# (signal, to the whole process group as a terminal's Ctrl-C does, or to ltmc alone as `kill` does)
_STOPS = [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_sigint_and_sigterm_at_many_moments_end_the_whole_tree_and_keep_the_last_output(tmp_path):
    corpus = tmp_path / "corpus"
    codebook = _synthetic_corpus(corpus, 5)
    ltmc = [sys.executable, "-c", _LTMC_SMALL_SHARDS]
    out = tmp_path / "out"
    encode = [*ltmc, "encode", str(corpus), "-o", str(out), "-c", str(codebook), "-w", "3", "--force"]
    started = time.monotonic()
    first = subprocess.run(encode, capture_output=True, text=True)
    took = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    complete = files_of(out)
    temp_before = set(Path(tempfile.gettempdir()).glob("ltmc-stdin-*"))

    # Moments spread over the time a whole run took here, so that on a fast machine or a
    # slow one most runs are stopped mid-way: forking, encoding, writing. Counted from when
    # ltmc's handlers are in place: a signal that lands while the interpreter itself
    # starts gets Python's default handling, which no program can change, and on a
    # loaded machine that start can take longer than any fixed allowance.
    moments = [round(max(took, 0.5) * f, 2) for f in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75)]
    outcomes = []
    for i, delay in enumerate(moments):
        sig, group = _STOPS[i % len(_STOPS)]
        ready = tmp_path / f"ready-{i}"
        env = {**os.environ, "LTMC_TEST_READY": str(ready)}
        proc = subprocess.Popen(encode, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
        seen: set[int] = set()
        launched = time.monotonic()
        while not ready.exists() and proc.poll() is None and time.monotonic() < launched + 60:
            time.sleep(0.01)
        assert ready.exists() or proc.poll() is not None, "ltmc did not start within 60 s"
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= _descendants(proc.pid)
            time.sleep(0.02)
        if proc.poll() is not None:  # it finished first: a complete output, also fine
            outcomes.append("done")
            continue
        os.killpg(proc.pid, sig) if group else os.kill(proc.pid, sig)
        try:
            _, stderr = proc.communicate(timeout=30)  # "a couple of seconds", with room for a loaded CI machine
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"{sig.name} after {delay} s: ltmc did not end within 30 s")
        if proc.returncode == 0:  # the signal came after the work was done
            outcomes.append("done")
            assert files_of(out) == complete
            continue
        outcomes.append(f"{sig.name}{'-group' if group else ''}@{delay}")
        assert proc.returncode == 128 + sig, (sig, delay, proc.returncode, stderr)
        assert "Traceback" not in stderr, stderr
        assert len(stderr.splitlines()) == 1, stderr
        assert stderr.strip() == ("interrupted (SIGINT)" if sig == signal.SIGINT else "terminated (SIGTERM)")
        time.sleep(0.2)  # the kernel reaps what ltmc killed
        assert [pid for pid in seen if _alive(pid)] == [], "worker processes outlived ltmc"
        assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging folder, no temporaries
        assert files_of(out) == complete  # the previous complete output is still there, untouched
        verify = subprocess.run([*ltmc, "decode", str(out), "--verify"], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
    assert sum(o != "done" for o in outcomes) >= 4, outcomes  # most runs were stopped mid-way
    print("stopped:", outcomes)
    assert set(Path(tempfile.gettempdir()).glob("ltmc-stdin-*")) == temp_before

    rerun = subprocess.run(encode, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert files_of(out) == complete


# -- the output folder belongs to ltmc, or is left alone (issue 22, class 1) ------------------


def test_encode_refuses_a_folder_ltmc_did_not_write(cli, books, tmp_path):
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "codebook.json").write_text("the user's own notes, not a codebook")
    (user / shards.shard_name(7)).write_bytes(b"the user's own file")
    before = snapshot(tmp_path)
    error_line(cli.encode(books, out=user), ExitCode.USAGE, "userdir: holds files ltmc did not write (codebook.json, shard-00007.parquet)", "choose a new or empty folder")
    assert snapshot(tmp_path) == before


def test_encode_refuses_an_output_inside_its_input_or_around_it(cli, books, encoded, tmp_path):
    before = snapshot(tmp_path)
    error_line(cli.encode(books, out=books), ExitCode.USAGE, "inside the input folder")
    error_line(cli.encode(books, out=books / "out"), ExitCode.USAGE, "inside the input folder", "choose -o outside it")
    inner = encoded / "more-books"
    inner.mkdir()
    (inner / "c.txt").write_text(SAMPLE_TEXTS[1])
    error_line(cli.encode(inner, out=encoded), ExitCode.USAGE, "holds the input")
    inner.joinpath("c.txt").unlink()
    inner.rmdir()
    assert snapshot(tmp_path) == before


def test_export_and_decode_leave_folders_they_did_not_write_alone(cli, encoded, tmp_path):
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "train.bin").write_bytes(b"the user's own training data")
    before = snapshot(tmp_path)
    error_line(cli("export", encoded, "-f", "nanogpt", "-o", user), ExitCode.USAGE, "holds files ltmc did not write (train.bin)")
    (user / "a.txt").write_text("the user's own a.txt")
    error_line(cli("decode", encoded, "-o", user), ExitCode.USAGE, "a.txt: already there and not the file being restored")
    assert (user / "a.txt").read_text() == "the user's own a.txt"
    (user / "a.txt").unlink()
    assert snapshot(tmp_path) == before


def test_a_second_export_retires_only_the_files_of_the_first(cli, encoded, tmp_path):
    data = tmp_path / "data"
    assert cli("export", encoded, "-f", "nanogpt", "-o", data).exit_code == 0
    (data / "README.md").write_text("the user's notes beside the export")
    assert cli("export", encoded, "-f", "hf", "-o", data).exit_code == 0
    names = sorted(p.name for p in data.iterdir())
    assert "train.bin" not in names and "meta.pkl" not in names  # the nanogpt export's files went
    assert "README.md" in names and any(n.startswith("train-") for n in names)
    assert not any(n.startswith(".") for n in names)


def test_decode_into_its_own_earlier_restore_and_after_a_kill(cli, encoded, books, tmp_path):
    dest = tmp_path / "restored"
    assert cli("decode", encoded, "-o", dest).exit_code == 0
    (dest / ".a.txt.k3j4h5x9.tmp").write_bytes(b"half of a.txt, left by a kill -9")
    (dest / "mine.txt").write_text("the user's")
    assert cli("decode", encoded, "-o", dest).exit_code == 0  # its own files: fine
    assert files_of(dest) == files_of(books) | {"mine.txt": b"the user's"}


# -- special files are refused, never replaced (class 2) ----------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "link-to-fifo", "device"])
def test_special_files_are_refused_not_replaced(cli, encoded, books, tmp_path, kind):
    target = tmp_path / "special"
    if kind == "device":
        if not IS_ROOT:
            pytest.skip("making a device node needs root")
        os.mknod(target, 0o666 | 0o020000, os.makedev(1, 3))  # a character device, as /dev/null
    else:
        os.mkfifo(tmp_path / "fifo")
        target = tmp_path / "fifo" if kind == "fifo" else target
        if kind == "link-to-fifo":
            target.symlink_to(tmp_path / "fifo")
    before = snapshot(tmp_path)
    for args in (("glyphs", "to", encoded, "-o", target), ("mine-bonds", books, "-o", target, "-V", "600"), ("morph", books, "-o", target)):
        error_line(cli(*args), ExitCode.USAGE, "not a regular file", "refusing to replace it")
    assert snapshot(tmp_path) == before


def test_glyphs_to_dash_writes_stdout_not_a_file_named_dash(cli, encoded, tmp_path):
    result = cli("glyphs", "to", encoded, "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("#ltmc-glyphs ")
    assert not (tmp_path / "-").exists()


# -- input that never ends (class 3) ------------------------------------------------------------


@pytest.fixture
def own_tempdir(tmp_path, monkeypatch) -> Path:
    """A temporary folder of the test's own, so that what ltmc leaves there can be seen."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_endless_binary_stdin_is_refused_at_once(cli, tmp_path, own_tempdir):
    result = cli.runner.invoke(app, ["encode", "-", "-o", str(tmp_path / "out"), "-c", str(cli.codebook)], input=b"\0" * 65536)
    error_line(result, ExitCode.DATA, "<stdin>: looks binary (NUL bytes)")
    assert list(own_tempdir.iterdir()) == []
    assert not (tmp_path / "out").exists()


def test_stdin_beyond_the_limit_is_refused_and_its_copy_removed(cli, tmp_path, own_tempdir, monkeypatch):
    monkeypatch.setattr(sources, "STDIN_LIMIT", 1 << 20)
    text = ("Мороз и солнце; день чудесный!\n" * 40000).encode()  # 2.2 MB
    result = cli.runner.invoke(app, ["encode", "-", "-o", str(tmp_path / "out"), "-c", str(cli.codebook)], input=text)
    error_line(result, ExitCode.USAGE, "<stdin>: more than 0 GiB", "save it to a file")
    assert list(own_tempdir.iterdir()) == []


def test_show_reads_a_bounded_amount_of_stdin(cli, monkeypatch):
    import ltmc.cli_tokens

    monkeypatch.setattr(ltmc.cli_tokens, "SHOW_LIMIT", 1000)
    result = cli.runner.invoke(app, ["show", "-", "-c", str(cli.codebook)], input="слово " * 1000)
    error_line(result, ExitCode.USAGE, "<stdin>: more than 1,000 characters")


def test_a_killed_runs_stdin_copy_goes_with_the_next_run(cli, tmp_path, own_tempdir):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is now free: no process has it
    stale = own_tempdir / f"ltmc-stdin-{dead.pid}-abc"
    stale.mkdir()
    (stale / "stdin").write_bytes(b"gigabytes, once")
    alive = own_tempdir / f"ltmc-stdin-{os.getpid()}-def"  # a run still going (this one)
    alive.mkdir()
    result = cli.runner.invoke(app, ["encode", "-", "-o", str(tmp_path / "out"), "-c", str(cli.codebook)], input="Мороз и солнце.\n")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in own_tempdir.iterdir()) == [alive.name]


def test_dev_zero_on_stdin_ends_quickly_as_the_program(tmp_path):
    env = os.environ | {"TMPDIR": str(tmp_path)}
    ltmc = [sys.executable, "-m", "ltmc"]
    codebook = tmp_path / "cb.json"
    Codebook.from_entries([("word", "мама")]).save(codebook)
    with open("/dev/zero", "rb") as zero:
        encode = subprocess.run([*ltmc, "encode", "-", "-o", str(tmp_path / "out"), "-c", str(codebook)], stdin=zero, capture_output=True, text=True, timeout=120, env=env)
        show = subprocess.run([*ltmc, "show", "-", "-c", str(codebook)], stdin=zero, capture_output=True, text=True, timeout=120, env=env)
    assert encode.returncode == ExitCode.DATA and encode.stderr.startswith("error: <stdin>: looks binary"), encode.stderr
    assert show.returncode == ExitCode.USAGE and "more than" in show.stderr, show.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["cb.json"]


def test_sigterm_while_stdin_is_copied_removes_the_copy(tmp_path):
    import threading

    codebook = tmp_path / "cb.json"
    Codebook.from_entries([("word", "мама")]).save(codebook)
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ltmc", "encode", "-", "-o", str(tmp_path / "out"), "-c", str(codebook)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ | {"TMPDIR": str(spool_dir)},
    )

    def feed():
        try:
            while True:
                proc.stdin.write("мама мыла раму\n".encode() * 4096)
        except (BrokenPipeError, ValueError, OSError):
            pass

    threading.Thread(target=feed, daemon=True).start()
    deadline = time.monotonic() + 60
    while not any(spool_dir.glob("ltmc-stdin-*/stdin")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.terminate()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 143, stderr
    assert stderr.strip() == "terminated (SIGTERM)"
    assert list(spool_dir.iterdir()) == []


# -- names and encodings from real archives (class 5) -------------------------------------------

_RUSSIAN = "Мороз и солнце; день чудесный! Еще ты дремлешь, друг прелестный - пора, красавица, проснись.\n" * 30


@pytest.mark.parametrize("encoding, recorded", [("cp1251", "cp1251"), ("koi8-r", "koi8-r"), ("cp866", "cp866"), ("utf-16", "utf-16-le"), ("utf-16-be-bom", "utf-16-be")])
def test_cyrillic_code_pages_and_utf16_are_read_as_russian_and_round_trip(cli, tmp_path, encoding, recorded):
    folder = tmp_path / "in"
    folder.mkdir()
    data = codecs_bom_be(_RUSSIAN) if encoding == "utf-16-be-bom" else _RUSSIAN.encode(encoding)
    (folder / "book.txt").write_bytes(data)
    result = cli.encode(folder)
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr  # a whole paragraph: no doubt
    manifest = orjson.loads((tmp_path / "out" / shards.MANIFEST).read_bytes())
    assert manifest["documents"][0]["encoding"] == recorded
    (tmp_path / "utf8").mkdir()
    (tmp_path / "utf8" / "book.txt").write_text(_RUSSIAN, encoding="utf-8")
    assert cli.encode(tmp_path / "utf8", out=tmp_path / "out8").exit_code == 0
    as_utf8 = orjson.loads((tmp_path / "out8" / shards.MANIFEST).read_bytes())
    bom = 3 if recorded.startswith("utf-16") else 0  # U+FEFF, read as a character: three byte ids
    assert manifest["totals"]["tokens"] == as_utf8["totals"]["tokens"] + bom  # the same words, not mojibake
    assert cli("decode", tmp_path / "out", "-o", tmp_path / "restored").exit_code == 0
    assert (tmp_path / "restored" / "book.txt").read_bytes() == data


def codecs_bom_be(text: str) -> bytes:
    return b"\xfe\xff" + text.encode("utf-16-be")


def test_an_unsure_guess_is_noted(cli, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "short.txt").write_bytes("Привет".encode("koi8-r"))
    result = cli.encode(folder)
    assert result.exit_code == 0, result.output
    assert "note: " in result.stderr and "short.txt: read as koi8-r, a guess" in flat(result.stderr)


def test_a_cp1251_file_name_round_trips_through_encode_glyphs_and_decode(cli, tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    name = "Пушкин.txt".encode("cp1251")
    with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
        fh.write(_RUSSIAN.encode("utf-8"))
    result = cli.encode(folder)
    assert result.exit_code == 0, result.output
    manifest = orjson.loads((tmp_path / "out" / shards.MANIFEST).read_bytes())
    assert [(d["path"], d.get("name_encoding")) for d in manifest["documents"]] == [("Пушкин.txt", "cp1251")]
    assert cli("decode", tmp_path / "out", "-o", tmp_path / "restored").exit_code == 0
    assert os.listdir(os.fsencode(tmp_path / "restored")) == [name]
    glyph_file = tmp_path / "all.glyphs"
    assert cli("glyphs", "to", tmp_path / "out", "-o", glyph_file).exit_code == 0
    assert cli("glyphs", "from", glyph_file, "-c", tmp_path / "out" / "codebook.json", "-o", tmp_path / "again").exit_code == 0
    assert cli("decode", tmp_path / "again", "-o", tmp_path / "restored-again").exit_code == 0
    assert os.listdir(os.fsencode(tmp_path / "restored-again")) == [name]


# -- full disks, interruptions, leftovers (class 6) ---------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB file system (tmpfs), mounted for the test: needs root."""
    if not IS_ROOT:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_during_encode_decode_and_export(cli, tmp_path, tiny_disk):
    corpus = tmp_path / "corpus"
    codebook = _synthetic_corpus(corpus, 3)  # 3 MB of text: more than the disk holds, even as shards
    big = tmp_path / "big"
    assert cli("encode", corpus, "-o", big, "-c", codebook, "-w", "2").exit_code == 0
    before = snapshot(tmp_path, tiny_disk)

    out = tiny_disk / "out"
    error_line(cli("encode", corpus, "-o", out, "-c", codebook, "-w", "2"), ExitCode.IO, "cannot write (No space left on device)", "free space")
    assert list(out.iterdir()) == []  # nothing under a final name, no staging folder, no temporaries

    restored = tiny_disk / "restored"
    error_line(cli("decode", big, "-o", restored, "-w", "2"), ExitCode.IO, "cannot write (No space left on device)")
    originals = files_of(corpus)
    for path in restored.rglob("*"):
        assert not path.name.startswith("."), path  # no temporary left
        assert path.read_bytes() == originals[path.name]  # what is there is whole
    assert len(list(restored.iterdir())) < len(originals)

    exported = tiny_disk / "data"
    error_line(cli("export", big, "-f", "nanogpt", "-o", exported), ExitCode.IO, "cannot write (No space left on device)")
    assert list(exported.iterdir()) == []
    assert snapshot(tmp_path, tiny_disk) == before


# -- two runs at once (class 7) ----------------------------------------------------------------


def test_a_second_encode_into_a_locked_output_fails_clearly(cli, books, encoded, tmp_path):
    import fcntl

    clean = files_of(encoded)
    fd = os.open(encoded, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running encode holds it
    try:
        error_line(cli.encode(books, extra=["--force"]), ExitCode.IO, "another ltmc is writing there now", "wait for it to finish")
    finally:
        os.close(fd)
    assert files_of(encoded) == clean
    assert cli.encode(books, extra=["--force"]).exit_code == 0


def test_two_encodes_at_once_never_both_lose_output(tmp_path):
    corpus = tmp_path / "corpus"
    codebook = _synthetic_corpus(corpus, 2)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "ltmc", "encode", str(corpus), "-o", str(out), "-c", str(codebook), "-w", "1", "--force"]
    runs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert any(code == 0 for code, _ in results), results
    for code, stderr in results:
        assert code == 0 or (code == ExitCode.IO and "another ltmc is writing there now" in stderr), stderr
    verify = subprocess.run([sys.executable, "-m", "ltmc", "decode", str(out), "--verify"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr


# -- one line for every error a user can cause (class 8) ----------------------------------------


@pytest.mark.parametrize(
    "args, needle",
    [
        (["encode"], "Missing argument"),
        (["encode", "x", "-o", "y", "-w", "0"], "'--workers' / '-w': 0 is not in the range"),
        (["encode", "x", "-o", "y", "--jsn"], "No such option: --jsn"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["stats", "out", "--model"], "requires an argument"),
    ],
)
def test_usage_errors_are_one_line(cli, args, needle):
    result = cli(*args)
    line = error_line(result, ExitCode.USAGE, needle, "--help`")
    assert "╭" not in result.output and "Usage:" not in result.output, result.output
    assert line.endswith("--help`")


def _with_ids(out: Path, change) -> None:
    table = pq.read_table(out / shards.shard_name(0))
    ids = table.column("ids").to_pylist()
    change(ids)
    rewrite_shard(out, table.set_column(table.schema.get_field_index("ids"), "ids", pa.array(ids, pa.list_(pa.int32()))))


@pytest.mark.parametrize("bad_id", [10**6, -1])
def test_an_id_outside_the_codebook_is_one_line_everywhere(cli, encoded, tmp_path, bad_id):
    _with_ids(encoded, lambda ids: ids[0].__setitem__(0, bad_id))
    before = snapshot(tmp_path)
    for args in (("stats", encoded), ("export", encoded, "-f", "nanogpt", "-o", tmp_path / "data"), ("export", encoded, "-f", "hf", "--paired", "-o", tmp_path / "pairs"),
                 ("decode", encoded, "--verify"), ("glyphs", "to", encoded, "-o", tmp_path / "g.txt")):
        error_line(cli(*args), ExitCode.DATA, f"token id {bad_id} is outside the codebook's")
    assert snapshot(tmp_path, tmp_path / "data", tmp_path / "pairs") == before
    assert not (tmp_path / "g.txt").exists() and not any((tmp_path / "data").iterdir())


def test_an_unknown_codec_is_one_line(cli, encoded, tmp_path):
    table = pq.read_table(encoded / shards.shard_name(0))
    rewrite_shard(encoded, table.set_column(table.schema.get_field_index("encoding"), "encoding", pa.array(["klingon"] * table.num_rows, pa.string())))
    error_line(cli("decode", encoded, "--verify"), ExitCode.DATA, "rows name the encoding 'klingon', which ltmc does not write")
    edit_manifest(encoded, lambda m: m["documents"][0].update(encoding="klingon"))
    error_line(cli("stats", encoded), ExitCode.DATA, "names the encoding 'klingon'")
    edit_manifest(encoded, lambda m: m["documents"][0].update(encoding="utf-8", name_encoding="klingon"))
    error_line(cli("decode", encoded, "-o", tmp_path / "r"), ExitCode.DATA, "its name cannot be given back in 'klingon'")


# -- the smaller ones (class 9) -----------------------------------------------------------------


def test_include_exclude_and_what_was_left_out_is_said_once(cli, books, tmp_path):
    (books / "info.csv").write_text("name,year\nМороз,1829\n")
    (books / ".hidden.txt").write_text(SAMPLE_TEXTS[1])
    (books / ".git").mkdir()
    (books / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "d.txt").write_text(SAMPLE_TEXTS[3])
    result = cli.encode(books, extra=["--exclude", "info.csv"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "left out 2 hidden (dot) entries, 1 linked folder(s), 1 file(s) by --include/--exclude" in notes[0]
    names = [d["path"] for d in orjson.loads((tmp_path / "out" / shards.MANIFEST).read_bytes())["documents"]]
    assert names == ["a.txt", "b.txt"]
    result = cli.encode(books, out=tmp_path / "only-a", extra=["--include", "a.*"])
    assert [d["path"] for d in orjson.loads((tmp_path / "only-a" / shards.MANIFEST).read_bytes())["documents"]] == ["a.txt"]


def test_workers_are_capped_at_the_work(cli, books, monkeypatch):
    from ltmc.engines import local

    asked = []
    real = local.map_ordered
    monkeypatch.setattr(local, "map_ordered", lambda fn, items, workers, *a, **k: (asked.append(workers), real(fn, items, min(workers, 2), *a, **k))[1])
    assert cli("encode", books, "-o", cli.tmp / "out", "-c", cli.codebook, "-w", "1000").exit_code == 0
    assert asked and max(asked) <= 2  # two small books: two tasks at most, not a thousand processes


@pytest.mark.parametrize("command", [["mine-bonds", "{books}", "-o", "-", "--json"], ["decode", "{out}", "-o", "-", "--json"]])
def test_two_outputs_on_stdout_are_refused(cli, books, encoded, command):
    args = [a.format(books=books, out=encoded) for a in command]
    error_line(cli(*args), ExitCode.USAGE, "-o - and --json both write to stdout")


def test_status_lines_do_not_wrap_in_logs(cli, books, tmp_path):
    out = tmp_path / ("a-long-output-folder-name-" * 4)
    result = cli.encode(books, out=out)
    assert result.exit_code == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("encoded ")]
    assert len(lines) == 1 and lines[0].endswith(f"in {out}")


def test_kind_of_a_negative_id_is_an_error(codebook):
    with pytest.raises(IndexError):
        codebook.kind_of(-1)
    with pytest.raises(IndexError):
        codebook.piece_of(len(codebook))


# -- single files ltmc writes: a codebook, a morph table, a glyph file, a report ---------------


def test_a_single_file_output_never_replaces_a_file_of_the_users(cli, books, encoded, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("the user's own notes")
    before = snapshot(tmp_path)
    error_line(cli("morph", books, "-o", notes), ExitCode.USAGE, "notes.txt: exists and is not an ltmc morph table", "remove it or choose another path")
    error_line(cli("mine-bonds", books, "-o", notes, "-V", "512"), ExitCode.USAGE, "is not an ltmc codebook")
    error_line(cli("glyphs", "to", encoded, "-o", notes), ExitCode.USAGE, "is not an ltmc glyph file")
    error_line(cli("stats", encoded, "--report", notes), ExitCode.USAGE, "is not an ltmc report")
    assert snapshot(tmp_path) == before


def test_a_single_file_output_never_lands_on_an_input_or_in_an_output(cli, books, encoded, tmp_path):
    before = snapshot(tmp_path)
    error_line(cli("morph", books / "a.txt", "-o", books / "a.txt"), ExitCode.USAGE, "is one of the inputs")
    error_line(cli("mine-bonds", books, "-o", books / "codebook.json", "-V", "512"), ExitCode.USAGE, "inside the input folder", "the next run would read it as input")
    for args in (("mine-bonds", books, "-o", encoded / "codebook.json", "-V", "512"), ("stats", encoded, "--report", encoded / "manifest.json"), ("glyphs", "to", encoded, "-o", encoded / "manifest.json")):
        error_line(cli(*args), ExitCode.USAGE, "which ltmc writes whole")
    assert snapshot(tmp_path) == before


def test_running_a_command_again_replaces_its_own_file(cli, books, encoded, tmp_path):
    for args in (("morph", books, "-o", tmp_path / "forms.parquet"), ("mine-bonds", books, "-o", tmp_path / "cb.json", "-V", "512"), ("glyphs", "to", encoded, "-o", tmp_path / "all.glyphs")):
        for _ in range(2):
            result = cli(*args)
            assert result.exit_code == 0, result.output


def test_dash_is_stdout_or_refused_never_a_file_named_dash(cli, books, encoded, tmp_path):
    for args, needle in (
        (("morph", books, "-o", "-"), "-o -: this command writes a Parquet file"),
        (("encode", books, "-o", "-", "-c", cli.codebook), "writes a folder"),
        (("export", encoded, "-f", "nanogpt", "-o", "-"), "writes a folder"),
        (("stats", encoded, "--report", "-"), "--report -: this command writes an HTML file"),
    ):
        error_line(cli(*args), ExitCode.USAGE, needle)
    assert not (tmp_path / "-").exists()
    glyphs = cli("glyphs", "to", encoded, "-o", "-")
    assert glyphs.exit_code == 0, glyphs.output
    rebuilt = cli.runner.invoke(app, ["glyphs", "from", "-", "-c", str(encoded / "codebook.json"), "-o", str(tmp_path / "again")], input=glyphs.stdout_bytes)
    assert rebuilt.exit_code == 0, rebuilt.output
    restored_equal(cli, tmp_path / "again", books, tmp_path / "restored")


def test_mine_bonds_exits_1_when_an_input_failed(cli, books, tmp_path):
    result = cli("mine-bonds", books, tmp_path / "missing.txt", "-o", tmp_path / "cb.json", "-V", "512")
    no_traceback(result)
    assert result.exit_code == ExitCode.FAILURE, result.output
    assert (tmp_path / "cb.json").exists()  # the rest was mined


def test_options_that_would_be_ignored_are_refused(cli, books, encoded, tmp_path):
    error_line(cli("decode", encoded, "--verify", "-o", tmp_path / "r"), ExitCode.USAGE, "--verify checks the files without writing them")
    assert not (tmp_path / "r").exists()
    error_line(cli.encode(books, extra=("-V", "8192")), ExitCode.USAGE, "with --codebook leave it out")
    error_line(cli.encode(books, extra=("--scheduler", "tcp://127.0.0.1:1")), ExitCode.USAGE, "add --engine dask")
    error_line(cli("stats", encoded, "--model", "bogus"), ExitCode.USAGE, "--model")
    error_line(cli("morph", books, "-n", "-1"), ExitCode.USAGE, "--top")
    (tmp_path / "file.txt").write_text("x")
    error_line(cli("decode", encoded, "-o", tmp_path / "file.txt"), ExitCode.IO, "is a file, not a folder; give -o a folder")


def test_export_into_an_encode_output_says_so(cli, encoded):
    error_line(cli("export", encoded, "-f", "nanogpt", "-o", encoded), ExitCode.USAGE, "is an encode output; give the export a folder of its own")


@pytest.mark.parametrize("damage", ["truncate", "remove"])
def test_encode_again_replaces_an_output_whose_manifest_was_damaged(cli, books, encoded, tmp_path, damage):
    manifest = encoded / shards.MANIFEST
    manifest.write_bytes(manifest.read_bytes()[:100]) if damage == "truncate" else manifest.unlink()
    error_line(cli("decode", encoded, "-o", tmp_path / "r"), ExitCode.DATA)
    result = cli.encode(books)
    assert result.exit_code == 0, result.output
    restored_equal(cli, encoded, books, tmp_path / "restored")


def test_a_reader_that_leaves_early_gets_no_traceback(cli, tmp_path):
    """`ltmc glyphs to out -o - | head`: the pipe closes while ltmc still writes."""
    book = tmp_path / "long" / "book.txt"
    book.parent.mkdir()
    book.write_text(SAMPLE_TEXTS[0] * 3000, encoding="utf-8")  # glyphs well over a pipe's 64 KiB
    assert cli.encode(book.parent, out=tmp_path / "long-out").exit_code == 0
    command = f"{sys.executable} -m ltmc glyphs to {tmp_path / 'long-out'} -o - | head -c 1 >/dev/null"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
