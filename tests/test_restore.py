"""ltmc.restore: decode_corpus restores every file, checks it, and refuses altered outputs."""

from __future__ import annotations

import hashlib
import io

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ltmc import pipeline, restore, shard_writer, shards
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError

from conftest import TREE



def test_decode_on_threads_restores_the_sameread_tree(corpus, tmp_path, codebook, small_shards, read_tree):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    for workers in (1, 2, 3):
        result = restore.decode_corpus(out, tmp_path / f"restored-{workers}", workers=workers)
        assert result.mismatches == [] and result.documents == len(TREE)
        assert read_tree(tmp_path / f"restored-{workers}") == TREE
        checked = restore.decode_corpus(out, None, verify=True, workers=workers)
        assert checked.checked == result.checked


def test_decode_to_stdout(corpus, tmp_path, codebook, capsysbinary):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    result = restore.decode_corpus(out, "-")
    assert result.mismatches == []
    captured = capsysbinary.readouterr().out
    assert captured == b"".join(TREE[name] for name in sorted(TREE))


def test_verify_writes_nothing_and_checks_everything(corpus, tmp_path, codebook, monkeypatch, read_tree):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    before = read_tree(out)
    monkeypatch.chdir(tmp_path)
    result = restore.decode_corpus(out, None, verify=True)
    assert result.mismatches == []
    assert sorted(name for name, ok in result.checked if ok) == sorted(TREE)
    assert read_tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "out"]


@pytest.mark.parametrize("workers", [1, 2])
def test_documents_that_span_row_groups_are_joined_in_order(corpus, tmp_path, codebook, monkeypatch, capsysbinary, workers, read_tree):
    # One scene a row group: every document of several scenes is joined by the
    # joiner's thread, between documents that the decoding threads finish alone.
    monkeypatch.setattr(shard_writer, "ROW_GROUP_ROWS", 1)
    (corpus / "long.txt").write_text("\n\n".join(f"Абзац {i}: " + "слово " * 60 for i in range(6)), encoding="utf-8")
    expected = {**TREE, "long.txt": (corpus / "long.txt").read_bytes()}
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    assert max(d["scenes"] for d in manifest["documents"]) > 2  # the test needs documents that span row groups

    restored = restore.decode_corpus(out, tmp_path / "restored", workers=workers)
    assert restored.mismatches == [] and read_tree(tmp_path / "restored") == expected
    assert [name for name, _ in restored.checked] == [d["path"] for d in manifest["documents"] if d["scenes"]] + [d["path"] for d in manifest["documents"] if not d["scenes"]]
    capsysbinary.readouterr()
    assert restore.decode_corpus(out, "-", workers=workers).mismatches == []
    assert capsysbinary.readouterr().out == b"".join(expected[name] for name in sorted(expected))
    verified = restore.decode_corpus(out, None, verify=True, workers=workers)
    assert verified.checked == restored.checked and all(ok for _, ok in verified.checked)


@pytest.mark.parametrize("verify", [False, True], ids=["to-files", "verify"])
def test_rows_after_a_whole_document_in_the_next_row_group_are_a_mismatch(corpus, tmp_path, codebook, verify):
    # A decoding thread takes a run of the manifest's size for the whole document;
    # a copy of its row in the next row group must still fail the document's check.
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    table = pq.read_table(out / shards.shard_name(0))
    paths = table.column("path").to_pylist()
    row = paths.index("bom.txt")
    assert paths.count("bom.txt") == 1
    table = pa.concat_tables([table.slice(0, row + 1), table.slice(row, 1), table.slice(row + 1)])
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=1)  # the copy lands in a row group of its own
    (out / shards.shard_name(0)).write_bytes(sink.getvalue())
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    manifest["shards"][0].update(sha256=hashlib.sha256(sink.getvalue()).hexdigest(), rows=table.num_rows)
    next(d for d in manifest["documents"] if d["path"] == "bom.txt")["scenes"] += 1
    (out / shards.MANIFEST).write_bytes(orjson.dumps(manifest))
    result = restore.decode_corpus(out, None if verify else tmp_path / "restored", verify=verify, workers=2)
    assert result.mismatches == ["bom.txt"]
    assert sorted(name for name, ok in result.checked if ok) == sorted(set(TREE) - {"bom.txt"})


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, verify",
    [
        (lambda out: _flip_a_byte(out / shards.shard_name(0)), False),  # a tampered shard
        (lambda out: (out / shards.shard_name(0)).unlink(), True),  # a missing shard
        (lambda out: (out / shards.MANIFEST).unlink(), False),  # a missing manifest
    ],
    ids=["tampered-shard", "missing-shard", "missing-manifest"],
)
def test_a_damaged_output_is_a_data_error(corpus, tmp_path, codebook, damage, verify):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    damage(out)
    with pytest.raises(LtmcError) as info:
        restore.decode_corpus(out, None if verify else tmp_path / "restored", verify=verify)
    assert info.value.exit_code == ExitCode.DATA


def test_newer_manifest_is_a_data_error(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    manifest["version"] = shards.VERSION + 1
    (out / shards.MANIFEST).write_bytes(orjson.dumps(manifest))
    with pytest.raises(LtmcError) as info:
        restore.decode_corpus(out, tmp_path / "restored")
    assert info.value.exit_code == ExitCode.DATA
    assert "newer" in str(info.value)


def test_wrong_codebook_is_a_data_error(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    other = tmp_path / "other.json"
    Codebook.from_entries([("word", " другой")]).save(other)
    with pytest.raises(LtmcError) as info:
        restore.decode_corpus(out, tmp_path / "restored", codebook_path=other)
    assert info.value.exit_code == ExitCode.DATA


def test_decode_of_a_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(LtmcError) as info:
        restore.decode_corpus(tmp_path / "nothing", tmp_path / "restored")
    assert info.value.exit_code == ExitCode.USAGE


def test_unsafe_document_path_is_refused():
    for name in ("../escape.txt", "/etc/passwd", "a/../../b", "", "a\\b"):
        with pytest.raises(LtmcError) as info:
            shards.safe_relative(name)
        assert info.value.exit_code == ExitCode.DATA
    assert str(shards.safe_relative("ru/poems/стих.txt")) == "ru/poems/стих.txt"


def test_an_unsafe_document_path_is_refused_naming_the_manifest(corpus, tmp_path, codebook):
    # What ltmc once wrote for a file named notes\2024.txt; encode skips such names now.
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    manifest["documents"][0]["path"] = "notes\\2024.txt"
    (out / shards.MANIFEST).write_bytes(orjson.dumps(manifest))
    with pytest.raises(LtmcError) as info:
        restore.decode_corpus(out, tmp_path / "restored")
    assert info.value.exit_code == ExitCode.DATA
    assert str(info.value).startswith(f"{out / shards.MANIFEST}: unsafe document path 'notes\\\\2024.txt' (it holds a backslash")
    assert not (tmp_path / "restored").exists()
