"""ltmc.files: the one atomic writer and the one wording of OSError."""

import errno
import os
import signal
from pathlib import Path

import pytest

from ltmc.errors import ExitCode, LtmcError
from ltmc import files
from ltmc.files import atomic_file, os_error, write_atomic


def test_write_atomic_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_failed_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as fh:
            fh.write(b"half")
            raise RuntimeError("stop")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_oserror_in_block_becomes_one_line_error_naming_the_target(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(LtmcError) as info:
        with atomic_file(target):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert info.value.exit_code == ExitCode.IO
    assert str(info.value) == f"{target}: cannot write (No space left on device); free space or choose another destination"
    assert not target.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_refuses_to_replace_a_device_or_a_link_to_one(tmp_path):
    link = tmp_path / "null-link"
    link.symlink_to("/dev/null")
    for path in ("/dev/null", link):
        with pytest.raises(LtmcError, match="not a regular file") as info:
            write_atomic(path, b"x")
        assert info.value.exit_code == ExitCode.USAGE
    assert link.is_symlink()


def test_refuses_a_folder(tmp_path):
    with pytest.raises(LtmcError, match="is a folder"):
        write_atomic(tmp_path, b"x")


def test_dash_is_stdout_only_when_allowed(tmp_path, capfdbinary, monkeypatch):
    write_atomic("-", b"to stdout", allow_stdout=True)
    assert capfdbinary.readouterr().out == b"to stdout"
    monkeypatch.chdir(tmp_path)
    write_atomic("-", b"a file named dash")
    assert (tmp_path / "-").read_bytes() == b"a file named dash"


def test_os_error_wording():
    denied = os_error(PermissionError(errno.EACCES, "Permission denied", "/x/locked"))
    assert str(denied) == "/x/locked: permission denied; choose a writable destination"
    other = os_error(OSError(errno.ENOTDIR, "Not a directory"), "/x/out")
    assert str(other) == "/x/out: cannot write (Not a directory); choose another destination"
    read = os_error(OSError(errno.EIO, "Input/output error", "/x/in"), reading=True)
    assert (str(read), read.exit_code) == ("/x/in: cannot read (Input/output error); check the path and its permissions", ExitCode.USAGE)
    # a temporary's name is never shown: the target is
    assert str(os_error(OSError(errno.ENOSPC, "No space left on device", "/x/.out.ab12.tmp"), "/x/out")).startswith("/x/out: ")


def test_durable_writes_are_flushed_and_others_not(tmp_path, monkeypatch):
    import ltmc.files

    flushed = []
    monkeypatch.setattr(ltmc.files.os, "fsync", flushed.append)
    write_atomic(tmp_path / "kept", b"x")
    write_atomic(tmp_path / "again", b"y", durable=False)
    assert len(flushed) == 1
    assert (tmp_path / "kept").read_bytes() == b"x" and (tmp_path / "again").read_bytes() == b"y"


def test_a_signal_during_publish_is_held_until_the_output_is_complete(tmp_path, monkeypatch):
    # SIGINT lands after the first move; the handler (an exception, as ltmc.program's)
    # runs only once every file is in place, so no output is left without its manifest.
    staged, folder = tmp_path / "staged", tmp_path / "out"
    staged.mkdir()
    folder.mkdir()
    for name in ("a", "b", "manifest.json"):
        (staged / name).write_text(f"new {name}")
    (folder / "manifest.json").write_text("old manifest")
    (folder / "old-shard").write_text("old")
    real_replace = os.replace

    def replace_then_signal(source, target):
        real_replace(source, target)
        if Path(target).name == "a":
            os.kill(os.getpid(), signal.SIGINT)

    def stop(signum, frame):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", replace_then_signal)
    previous = signal.signal(signal.SIGINT, stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            files.publish(staged, folder, ["a", "b", "manifest.json"], retired=["old-shard"], first_gone="manifest.json")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"a": "new a", "b": "new b", "manifest.json": "new manifest.json"}
