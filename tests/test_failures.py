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
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ltmc import inputs, shard_writer, shards
from ltmc.cli import app
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode
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
            if Path(path) == locked:
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
    assert sorted(p.name for p in out.iterdir()) == ["codebook.json"]  # no temp file, no shard, no manifest
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
    (encoded / shards.MANIFEST).unlink()  # as after a kill: the manifest goes first
    (encoded / ".shard-00001.parquet.k3j4h5.tmp").write_bytes(b"half a shard")
    (encoded / ".manifest.json.x8y9z0.tmp").write_bytes(b"{")
    (encoded / shards.shard_name(7)).write_bytes(b"a shard of an older, bigger run")
    assert cli.encode(books).exit_code == 0
    assert files_of(encoded) == clean


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
_LTMC_SMALL_SHARDS = "import ltmc.shard_writer as w; w.SHARD_SCENES = 1024; from ltmc.cli import main; main()"


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
        if killed.is_dir() and any(killed.glob("shard-*.parquet")):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "encode finished before it could be killed; make the corpus bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # What the kill left: no manifest (so nothing looks complete), only whole shards under
    # their final names; anything half-written is a hidden temporary file.
    assert not (killed / shards.MANIFEST).exists()
    written = sorted(killed.glob("shard-*.parquet"))
    assert written
    for shard in written:
        assert pq.read_metadata(shard).num_rows > 0
    leftovers = [p.name for p in killed.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".tmp") or name.startswith(shard_writer.SPOOL_PREFIX) for name in leftovers)
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
