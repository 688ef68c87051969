"""ltmc.sources: finding input files and reading them reversibly."""

from __future__ import annotations

import pytest

from ltmc import sources
from ltmc.errors import ExitCode, LtmcError
from ltmc.sources import Source, discover, encode_text, read_bytes_blocks, sniff, text_blocks

RUSSIAN = "Вечером над озером поднимался туман, и где-то далеко лаяли собаки.\n" * 20


def _sniff(path) -> sources.Sniffed:
    source = Source(path, path.name)
    return sniff(source)


def _read_back(path) -> bytes:
    source = Source(path, path.name)
    sniffed = _sniff(path)
    text = "".join(text_blocks(read_bytes_blocks(source), sniffed.encoding))
    return encode_text(text, sniffed.encoding)


# -- encoding detection -------------------------------------------------------------


def test_utf8_file_is_utf8(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(RUSSIAN.encode("utf-8"))
    sniffed = _sniff(path)
    assert sniffed.encoding == "utf-8"
    assert sniffed.size == len(RUSSIAN.encode("utf-8"))


def test_cp1251_file_is_detected(tmp_path):
    path = tmp_path / "legacy.txt"
    data = RUSSIAN.encode("cp1251")
    path.write_bytes(data)
    sniffed = _sniff(path)
    assert sniffed.encoding == "cp1251"
    text = "".join(text_blocks(read_bytes_blocks(Source(path, "legacy.txt")), sniffed.encoding))
    assert text == RUSSIAN
    assert _read_back(path) == data


@pytest.mark.parametrize("ascii_blocks", [0, 3])
def test_the_whole_file_decides_when_utf8_fails_late(tmp_path, monkeypatch, ascii_blocks):
    # UTF-8 can fail blocks into a file; the Cyrillic count must still cover all of it.
    monkeypatch.setattr(sources, "BLOCK", 64)
    head = b"a" * 64 * ascii_blocks
    russian, latin = tmp_path / "russian.txt", tmp_path / "latin.txt"
    russian.write_bytes(head + RUSSIAN.encode("cp1251"))
    latin.write_bytes(head + b"\x93quoted\x94 \x96 dash " * 40)  # cp1251 punctuation: high bytes, no letters
    assert _sniff(russian).encoding == "cp1251"
    assert _sniff(latin).encoding == "utf-8"
    assert _read_back(russian) == russian.read_bytes()
    assert _read_back(latin) == latin.read_bytes()
    # Mostly UTF-8 quotes (one byte in three counts as a letter), then a little cp1251:
    # the whole file says UTF-8, though the part after the failure alone would not.
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(head + "“”".encode("utf-8") * 200 + RUSSIAN[:80].encode("cp1251"))
    assert _sniff(mixed).encoding == "utf-8"
    assert _read_back(mixed) == mixed.read_bytes()


def test_sha256_is_of_the_raw_bytes(tmp_path):
    import hashlib

    path = tmp_path / "legacy.txt"
    data = RUSSIAN.encode("cp1251")
    path.write_bytes(data)
    assert _sniff(path).sha256 == hashlib.sha256(data).hexdigest()


def test_invalid_utf8_stays_utf8_with_surrogateescape(tmp_path):
    path = tmp_path / "broken.txt"
    data = RUSSIAN[:50].encode("utf-8") + b"\x98\xff" + "хвост".encode("utf-8")
    path.write_bytes(data)
    sniffed = _sniff(path)
    assert sniffed.encoding == "utf-8"
    text = "".join(text_blocks(read_bytes_blocks(Source(path, "broken.txt")), "utf-8"))
    assert "\udc98\udcff" in text
    assert _read_back(path) == data


def test_latin_text_with_stray_high_bytes_stays_utf8(tmp_path):
    # Valid cp1251, but the high bytes are not Cyrillic letters: not Russian.
    path = tmp_path / "latin.txt"
    data = b"plain text \x80\x85\x99 more plain text\n" * 10
    path.write_bytes(data)
    assert _sniff(path).encoding == "utf-8"
    assert _read_back(path) == data


def test_multibyte_char_across_block_boundary(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "BLOCK", 7)
    path = tmp_path / "small_blocks.txt"
    data = ("ёж " * 50).encode("utf-8")
    path.write_bytes(data)
    sniffed = _sniff(path)
    assert sniffed.encoding == "utf-8"
    assert _read_back(path) == data


def test_truncated_final_character_round_trips(tmp_path):
    path = tmp_path / "cut.txt"
    data = "конец".encode("utf-8")[:-1]
    path.write_bytes(data)
    assert _read_back(path) == data


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    sniffed = _sniff(path)
    assert (sniffed.encoding, sniffed.size) == ("utf-8", 0)
    assert list(text_blocks(read_bytes_blocks(Source(path, "empty.txt")), "utf-8")) == []


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "image.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(LtmcError) as info:
        _sniff(path)
    assert info.value.exit_code == ExitCode.DATA
    assert "binary" in str(info.value)


# -- discovery ----------------------------------------------------------------------


def test_missing_path_is_a_usage_error(tmp_path):
    with pytest.raises(LtmcError) as info:
        discover([str(tmp_path / "nope")])
    assert info.value.exit_code == ExitCode.USAGE == 2
    assert "nope" in str(info.value)


def test_broken_symlink_is_a_usage_error(tmp_path):
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "missing-target")
    with pytest.raises(LtmcError) as info:
        discover([str(link)])
    assert info.value.exit_code == ExitCode.USAGE


def test_discover_sorts_and_names_relative_to_the_root(tmp_path, write_tree):
    root = write_tree(
        tmp_path / "corpus",
        {"b.txt": b"b", "a.txt": b"a", "sub/z.txt": b"z", "sub/deeper/c.txt": b"c", "Z.txt": b"Z"},
    )
    found = discover([str(root)])
    names = [s.name for s in found]
    assert names == sorted(names)
    assert set(names) == {"b.txt", "a.txt", "sub/z.txt", "sub/deeper/c.txt", "Z.txt"}
    assert all(s.path == root / s.name for s in found)


def test_hidden_files_and_directories_are_skipped(tmp_path, write_tree):
    root = write_tree(
        tmp_path / "corpus",
        {"visible.txt": b"v", ".hidden.txt": b"h", ".git/config": b"g", "sub/.secret": b"s", "sub/ok.txt": b"o"},
    )
    assert [s.name for s in discover([str(root)])] == ["sub/ok.txt", "visible.txt"]


def test_a_file_argument_is_named_by_its_basename(tmp_path, write_tree):
    root = write_tree(tmp_path, {"deep/er/book.txt": b"x"})
    [source] = discover([str(root / "deep" / "er" / "book.txt")])
    assert source.name == "book.txt"


def test_arguments_keep_their_order(tmp_path, write_tree):
    root = write_tree(tmp_path, {"b.txt": b"b", "a.txt": b"a"})
    assert [s.name for s in discover([str(root / "b.txt"), str(root / "a.txt")])] == ["b.txt", "a.txt"]


def test_stdin_is_a_source():
    [source] = discover(["-"])
    assert source.path is None and source.name == "stdin" and source.label == "<stdin>"


def test_duplicate_names_are_refused(tmp_path, write_tree):
    write_tree(tmp_path, {"one/book.txt": b"1", "two/book.txt": b"2"})
    with pytest.raises(LtmcError) as info:
        discover([str(tmp_path / "one" / "book.txt"), str(tmp_path / "two" / "book.txt")])
    assert info.value.exit_code == ExitCode.USAGE


def test_a_name_decode_could_not_restore_everywhere_is_skipped(tmp_path, write_tree):
    # On POSIX a backslash is a plain character; on Windows a folder separator, where
    # "..\\x" would climb out of decode's destination. The readers refuse it, so encode must.
    root = write_tree(tmp_path / "corpus", {"notes\\2024.txt": b"n", "dir\\x/a.txt": b"a", "ok.txt": b"o"})
    failed = {}
    found = discover([str(root), str(root / "notes\\2024.txt")], lambda label, err: failed.setdefault(label, []).append(err))
    assert [s.name for s in found] == ["ok.txt"]
    assert sorted(failed) == [str(root / "dir\\x" / "a.txt"), str(root / "notes\\2024.txt")]
    assert len(failed[str(root / "notes\\2024.txt")]) == 2  # found in the folder, and named as an argument
    for label, errors in failed.items():
        for err in errors:
            assert err.exit_code == ExitCode.USAGE
            assert str(err).startswith(f"{label}: its name holds a backslash") and "rename it or leave it out" in str(err)

