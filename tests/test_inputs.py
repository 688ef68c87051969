"""ltmc.inputs: one policy for the inputs of every command and engine."""

from __future__ import annotations

import io
from contextlib import ExitStack

import pytest

from ltmc.errors import ExitCode, LtmcError
from ltmc.inputs import open_inputs
from ltmc.sources import sniff


def _open(arguments, strict=False, sniff_all=None):
    failures = []
    with ExitStack() as stack:
        kwargs = {"sniff_all": sniff_all} if sniff_all else {}
        found = open_inputs(arguments, strict=strict, failures=failures, stack=stack, **kwargs)
        return [(i.source.name, i.size, i.sniffed.encoding, "".join(i.texts())) for i in found], failures


def test_skips_what_cannot_be_used_and_keeps_the_rest(tmp_path, write_tree):
    write_tree(tmp_path / "in", {"a.txt": "один".encode(), "b.bin": b"\0\1", "c.txt": "два".encode("cp1251")})
    found, failures = _open([str(tmp_path / "in"), str(tmp_path / "nope")])
    assert found == [("a.txt", 8, "utf-8", "один"), ("c.txt", 3, "cp1251", "два")]
    assert [f.message.split(": ", 1)[1] for f in failures] == [
        "no such file or directory; check the path",
        "looks binary (NUL bytes), not text; leave it out of the corpus",
    ]


def test_strict_stops_at_the_first_failure_with_its_exit_code(tmp_path, write_tree):
    write_tree(tmp_path / "in", {"a.txt": b"text", "b.bin": b"\0"})
    with pytest.raises(LtmcError) as info:
        _open([str(tmp_path / "in")], strict=True)
    assert info.value.exit_code == ExitCode.DATA and "looks binary" in str(info.value)


def test_nothing_usable_is_a_usage_error_quoting_the_first_failure(tmp_path):
    with pytest.raises(LtmcError) as info:
        _open([str(tmp_path / "nope")])
    assert info.value.exit_code == ExitCode.USAGE
    assert str(info.value) == f"{tmp_path / 'nope'}: no readable text files; 1 input(s) failed, the first: {tmp_path / 'nope'}: no such file or directory; check the path"


def test_stdin_is_spooled_and_read_like_a_file(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("из потока\n".encode())))
    found, failures = _open(["-"])
    assert found == [("stdin", len("из потока\n".encode()), "utf-8", "из потока\n")] and failures == []


def test_an_engine_sniffs_in_its_own_way_under_the_same_policy(tmp_path, write_tree):
    write_tree(tmp_path / "in", {"a.txt": b"one", "b.txt": b"two"})
    seen = []

    def sniff_all(sources):
        seen.extend(s.name for s in sources)
        return [LtmcError(f"{s.label}: refused by the engine", ExitCode.USAGE) if s.name == "b.txt" else sniff(s) for s in sources]

    found, failures = _open([str(tmp_path / "in")], sniff_all=sniff_all)
    assert seen == ["a.txt", "b.txt"]
    assert [name for name, *_ in found] == ["a.txt"]
    assert [f.message for f in failures] == [f"{tmp_path / 'in' / 'b.txt'}: refused by the engine"]
