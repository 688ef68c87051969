"""ltmc.runner: encode_corpus / decode_corpus / mine_corpus / morph_corpus end to end."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ltmc import inputs, pipeline, restore, shard_writer, shards, stages
from ltmc.engines import local
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError

_VERSE = "Спит деревня у реки,\nспят усталые колёса,\nтолько светят огоньки\nза излучиной откоса.\n"
_PROSE = "Старый рыбак сидел на перевёрнутом ведре и чинил сеть, не глядя на воду. " * 12 + "\n"

# Everything here is valid in its encoding; stray bytes get their own tests below.
TREE = {
    "crlf.txt": ("Первая строка\r\nВторая строка\r\n\r\n" + _PROSE.replace("\n", "\r\n")).encode("utf-8"),
    "bom.txt": b"\xef\xbb\xbf" + "Текст с меткой порядка байтов.\n".encode("utf-8"),
    "nbsp_tabs.txt": "Цена:\u00a0125\u00a0руб.\n\tОтступ табом\t\tи ещё\u2009тонкий\u202fпробел\n".encode("utf-8"),
    "emoji_cjk.txt": "Смайлик 🙂👍🏽, флаг 🇷🇺, иероглифы 漢字かな, греческий αβγ, é (e\u0301)\n".encode("utf-8"),
    "empty.txt": b"",
    "cp1251.txt": (_VERSE * 3 + "Ёжик «в тумане» — №1\r\n").encode("cp1251"),
    "nested/deeper/book.txt": ((_VERSE + "\n") * 40 + _PROSE * 30).encode("utf-8"),
    "nested/no_newline_at_end.txt": "последняя строка без перевода".encode("utf-8"),
    "nested/only_spaces.txt": b" \n\n\t \r\n",
    "latin/ascii.txt": b"Plain ASCII, with numbers 1234567890 and symbols #$%&*().\n" * 50,
}


@pytest.fixture
def corpus(tmp_path, write_tree):
    return write_tree(tmp_path / "corpus", TREE)


@pytest.fixture
def small_shards(monkeypatch):
    """Small batches, shards and tasks, so a tiny corpus spans several of each."""
    monkeypatch.setattr(stages, "BATCH_SCENES", 2)
    monkeypatch.setattr(shard_writer, "SHARD_SCENES", 5)
    monkeypatch.setattr(local, "TASK_BYTES", 200)  # tasks of one file and of several


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- round trips --------------------------------------------------------------------


def test_encode_decode_round_trip(corpus, tmp_path, codebook, read_tree):
    out = tmp_path / "out"
    result = pipeline.encode_corpus([str(corpus)], out, codebook)
    assert not result.failures
    assert result.documents == len(TREE)
    assert result.bytes == sum(len(b) for b in TREE.values())
    restored = tmp_path / "restored"
    decoded = restore.decode_corpus(out, restored)
    assert decoded.mismatches == []
    assert decoded.documents == len(TREE)
    assert decoded.bytes == result.bytes
    assert read_tree(restored) == TREE


def test_round_trip_with_a_codebook_mined_from_the_input(corpus, tmp_path, read_tree):
    out = tmp_path / "out"
    result = pipeline.encode_corpus([str(corpus)], out, vocab_size=1024)
    assert result.mining is not None and result.mining.vocab_size <= 1024
    restore.decode_corpus(out, tmp_path / "restored")
    assert read_tree(tmp_path / "restored") == TREE


def test_round_trip_across_many_shards(corpus, tmp_path, codebook, read_tree, small_shards):
    out = tmp_path / "out"
    result = pipeline.encode_corpus([str(corpus)], out, codebook)
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    assert len(manifest["shards"]) > 2
    assert sum(s["rows"] for s in manifest["shards"]) == result.scenes
    restore.decode_corpus(out, tmp_path / "restored", workers=2)
    assert read_tree(tmp_path / "restored") == TREE


def test_manifest_describes_the_inputs(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    result = pipeline.encode_corpus([str(corpus)], out, codebook)
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    assert manifest["format"] == shards.FORMAT
    assert manifest["codebook"]["fingerprint"] == codebook.fingerprint
    docs = {d["path"]: d for d in manifest["documents"]}
    assert set(docs) == set(TREE)
    for name, data in TREE.items():
        assert docs[name]["bytes"] == len(data)
        assert docs[name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert docs["cp1251.txt"]["encoding"] == "cp1251"
    assert docs["bom.txt"]["encoding"] == "utf-8"
    assert docs["empty.txt"]["scenes"] == 0
    assert manifest["totals"] == {"documents": len(TREE), "scenes": result.scenes, "tokens": result.tokens, "bytes": result.bytes}
    assert Codebook.load(out / shards.CODEBOOK).fingerprint == codebook.fingerprint


def test_invalid_utf8_bytes_round_trip(tmp_path, codebook, write_tree, read_tree):
    files = {
        "broken.txt": "начало ".encode("utf-8") + b"\x98\xff\xfe" + " середина ".encode("utf-8") + "ё".encode("utf-8")[:1],
        "truncated_euro.txt": b"price \xe2\x82 and \xc0\xaf overlong\n",
    }
    corpus = write_tree(tmp_path / "corpus", files)
    pipeline.encode_corpus([str(corpus)], tmp_path / "out", codebook)
    decoded = restore.decode_corpus(tmp_path / "out", tmp_path / "restored")
    assert decoded.mismatches == []
    assert read_tree(tmp_path / "restored") == files


def test_mining_survives_repeated_stray_bytes(tmp_path, write_tree):
    # The same invalid byte pair many times: a frequent "piece" of surrogates.
    data = ("слово ".encode("utf-8") + b"\x98\x98 ") * 50
    corpus = write_tree(tmp_path / "corpus", {"stray.txt": data})
    book, _report, failures = pipeline.mine_corpus([str(corpus)], 600)
    assert not failures
    assert book.decode_bytes(book.encode(data.decode("utf-8", "surrogateescape"))) == data


def test_empty_inputs_only(tmp_path, codebook, write_tree, read_tree):
    corpus = write_tree(tmp_path / "corpus", {"a.txt": b"", "b/c.txt": b""})
    result = pipeline.encode_corpus([str(corpus)], tmp_path / "out", codebook)
    assert (result.documents, result.scenes, result.tokens) == (2, 0, 0)
    restore.decode_corpus(tmp_path / "out", tmp_path / "restored")
    assert read_tree(tmp_path / "restored") == {"a.txt": b"", "b/c.txt": b""}


def test_files_named_one_by_one(tmp_path, codebook, write_tree, read_tree):
    corpus = write_tree(tmp_path / "corpus", {"x/one.txt": "один".encode(), "y/two.txt": "два".encode()})
    pipeline.encode_corpus([str(corpus / "x" / "one.txt"), str(corpus / "y" / "two.txt")], tmp_path / "out", codebook)
    restore.decode_corpus(tmp_path / "out", tmp_path / "restored")
    assert read_tree(tmp_path / "restored") == {"one.txt": "один".encode(), "two.txt": "два".encode()}


# -- determinism ---------------------------------------------------------------------


def test_two_encodes_are_byte_identical(corpus, tmp_path, codebook, small_shards):
    pipeline.encode_corpus([str(corpus)], tmp_path / "one", codebook)
    pipeline.encode_corpus([str(corpus)], tmp_path / "two", codebook)
    first, second = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert any(name.startswith("shard-") for name in first)
    assert first == second


def test_workers_do_not_change_the_shards(corpus, tmp_path, codebook, small_shards):
    pipeline.encode_corpus([str(corpus)], tmp_path / "serial", codebook, workers=1)
    pipeline.encode_corpus([str(corpus)], tmp_path / "parallel", codebook, workers=2)
    assert _files(tmp_path / "serial") == _files(tmp_path / "parallel")
    # the workers' spool folder is gone too (_files lists files only)
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == sorted(p.name for p in (tmp_path / "serial").iterdir())


@pytest.mark.parametrize("workers", [1, 2])
def test_big_inputs_cut_here_give_the_shards_of_whole_inputs_read_by_workers(corpus, tmp_path, codebook, small_shards, monkeypatch, workers):
    pipeline.encode_corpus([str(corpus)], tmp_path / "whole", codebook, workers=workers)
    monkeypatch.setattr(local, "WHOLE_INPUT_BYTES", 64)  # most inputs are now cut by the parent
    assert sum(len(data) > 64 for data in TREE.values()) >= 2
    pipeline.encode_corpus([str(corpus)], tmp_path / "cut", codebook, workers=workers)
    assert _files(tmp_path / "whole") == _files(tmp_path / "cut")


def test_tasks_group_consecutive_small_inputs_up_to_a_size():
    groups = list(local.grouped([5, 1, 2, 9, 1, 1], lambda n: n, 6))
    assert groups == [[5, 1], [2, 9], [1, 1]]
    assert list(local.grouped([], lambda n: n, 6)) == []


def _collector_settings(_item) -> tuple:
    import gc

    return gc.get_threshold()


def test_pool_workers_keep_rare_collections_for_their_whole_life():
    # Set once when a worker starts, they must still hold when its tasks run.
    thresholds = set(local.map_ordered(_collector_settings, range(8), workers=2))
    assert thresholds == {local.GC_THRESHOLD}


def test_an_error_in_a_worker_keeps_its_exit_code(corpus, tmp_path, codebook, monkeypatch):
    target = next(p for p in sorted(corpus.rglob("*")) if p.is_file() and p.stat().st_size > 0)
    real_sniff = inputs.sniff

    def sniff_then_change(source):
        sniffed = real_sniff(source)
        if Path(source.label) == target:
            target.write_bytes(target.read_bytes()[::-1])  # same size, other bytes
        return sniffed

    monkeypatch.setattr(inputs, "sniff", sniff_then_change)
    with pytest.raises(LtmcError) as info:
        pipeline.encode_corpus([str(corpus)], tmp_path / "out", codebook, workers=2)
    assert info.value.exit_code == ExitCode.DATA
    assert "changed while it was read" in str(info.value)


def test_decode_on_threads_restores_the_same_files(corpus, tmp_path, codebook, small_shards, read_tree):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    for workers in (1, 2, 3):
        result = restore.decode_corpus(out, tmp_path / f"restored-{workers}", workers=workers)
        assert result.mismatches == [] and result.documents == len(TREE)
        assert read_tree(tmp_path / f"restored-{workers}") == TREE
        checked = restore.decode_corpus(out, None, verify=True, workers=workers)
        assert checked.checked == result.checked


def test_mined_codebook_is_deterministic(corpus, tmp_path):
    pipeline.encode_corpus([str(corpus)], tmp_path / "one", vocab_size=800)
    pipeline.encode_corpus([str(corpus)], tmp_path / "two", vocab_size=800)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


# -- incremental runs ----------------------------------------------------------------


def test_rerun_is_up_to_date(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    first = pipeline.encode_corpus([str(corpus)], out, codebook)
    assert not first.up_to_date
    before = _files(out)
    again = pipeline.encode_corpus([str(corpus)], out, codebook)
    assert again.up_to_date
    assert _files(out) == before


def test_force_re_encodes(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    forced = pipeline.encode_corpus([str(corpus)], out, codebook, force=True)
    assert not forced.up_to_date
    assert forced.documents == len(TREE)


def test_changed_input_re_encodes(corpus, tmp_path, codebook, read_tree):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    (corpus / "latin" / "ascii.txt").write_bytes("изменённый файл\n".encode())
    result = pipeline.encode_corpus([str(corpus)], out, codebook)
    assert not result.up_to_date
    restore.decode_corpus(out, tmp_path / "restored")
    assert read_tree(tmp_path / "restored") == read_tree(corpus)


def test_added_file_re_encodes(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    (corpus / "new.txt").write_bytes("новый файл\n".encode())
    result = pipeline.encode_corpus([str(corpus)], out, codebook)
    assert not result.up_to_date
    assert result.documents == len(TREE) + 1


def test_other_codebook_re_encodes(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    other = Codebook.from_entries([("word", " другой")])
    assert not pipeline.encode_corpus([str(corpus)], out, other).up_to_date
    assert Codebook.load(out / shards.CODEBOOK).fingerprint == other.fingerprint


def test_smaller_rerun_removes_stale_shards(corpus, tmp_path, codebook, small_shards):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    many = sorted(p.name for p in out.glob("shard-*.parquet"))
    assert len(many) > 1
    pipeline.encode_corpus([str(corpus / "bom.txt")], out, codebook)
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    assert sorted(p.name for p in out.glob("shard-*.parquet")) == [s["file"] for s in manifest["shards"]]
    assert not list(out.glob(".*tmp"))


# -- decoding -----------------------------------------------------------------------


def test_decode_to_stdout(corpus, tmp_path, codebook, capsysbinary):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    result = restore.decode_corpus(out, "-")
    assert result.mismatches == []
    captured = capsysbinary.readouterr().out
    assert captured == b"".join(TREE[name] for name in sorted(TREE))


def test_verify_writes_nothing_and_checks_everything(corpus, tmp_path, codebook, monkeypatch):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    before = _files(out)
    monkeypatch.chdir(tmp_path)
    result = restore.decode_corpus(out, None, verify=True)
    assert result.mismatches == []
    assert sorted(name for name, ok in result.checked if ok) == sorted(TREE)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "out"]


@pytest.mark.parametrize("workers", [1, 2])
def test_documents_that_span_row_groups_are_joined_in_order(corpus, tmp_path, codebook, monkeypatch, capsysbinary, workers):
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
    assert restored.mismatches == [] and _files(tmp_path / "restored") == expected
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


def test_tampered_shard_is_a_data_error(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    shard = out / shards.shard_name(0)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(LtmcError) as info:
        restore.decode_corpus(out, tmp_path / "restored")
    assert info.value.exit_code == ExitCode.DATA


def test_missing_shard_is_a_data_error(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    (out / shards.shard_name(0)).unlink()
    with pytest.raises(LtmcError) as info:
        restore.decode_corpus(out, None, verify=True)
    assert info.value.exit_code == ExitCode.DATA


def test_missing_manifest_is_a_data_error(corpus, tmp_path, codebook):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    (out / shards.MANIFEST).unlink()
    with pytest.raises(LtmcError) as info:
        restore.decode_corpus(out, tmp_path / "restored")
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


# -- failures in the inputs ----------------------------------------------------------


def test_binary_input_is_skipped_unless_strict(tmp_path, codebook, write_tree, read_tree):
    corpus = write_tree(tmp_path / "corpus", {"good.txt": "хорошо".encode(), "bad.bin": b"\x00\x01\x02"})
    result = pipeline.encode_corpus([str(corpus)], tmp_path / "out", codebook)
    assert [f.label for f in result.failures] == [str(corpus / "bad.bin")]
    assert result.documents == 1
    restore.decode_corpus(tmp_path / "out", tmp_path / "restored")
    assert read_tree(tmp_path / "restored") == {"good.txt": "хорошо".encode()}
    with pytest.raises(LtmcError) as info:
        pipeline.encode_corpus([str(corpus)], tmp_path / "strict", codebook, strict=True)
    assert info.value.exit_code == ExitCode.DATA


def test_no_readable_input_is_a_usage_error(tmp_path, codebook, write_tree):
    corpus = write_tree(tmp_path / "corpus", {"bad.bin": b"\x00"})
    with pytest.raises(LtmcError) as info:
        pipeline.encode_corpus([str(corpus)], tmp_path / "out", codebook)
    assert info.value.exit_code == ExitCode.USAGE


def test_output_that_is_a_file_is_an_io_error(corpus, tmp_path, codebook):
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    with pytest.raises(LtmcError) as info:
        pipeline.encode_corpus([str(corpus)], blocker, codebook)
    assert info.value.exit_code == ExitCode.IO


def test_progress_reports_every_input_byte(corpus, tmp_path, codebook):
    seen = []
    pipeline.encode_corpus([str(corpus)], tmp_path / "out", codebook, progress=seen.append)
    assert sum(seen) == sum(len(b) for b in TREE.values())


# -- mining and morphology -----------------------------------------------------------


def test_mine_corpus_respects_the_budget(corpus):
    book, report, failures = pipeline.mine_corpus([str(corpus)], 700)
    assert not failures
    assert len(book) <= 700 and report.vocab_size == len(book) and report.budget == 700
    assert sum(report.kinds.values()) == len(book)


def test_morph_corpus_counts_forms(tmp_path, write_tree):
    corpus = write_tree(tmp_path / "corpus", {"a.txt": "кот кот кот собака собака дом\n".encode()})
    table, failures = pipeline.morph_corpus([str(corpus)])
    assert not failures
    rows = table.to_pylist()
    assert [(r["form"], r["count"]) for r in rows] == [("кот", 3), ("собака", 2), ("дом", 1)]
    assert all(r["stem"] + r["ending"] == r["form"] for r in rows)


def test_rerun_repairs_a_damaged_shard(corpus, tmp_path, codebook, read_tree):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    shard = out / shards.shard_name(0)
    shard.write_bytes(shard.read_bytes()[:-10])
    again = pipeline.encode_corpus([str(corpus)], out, codebook)
    assert not again.up_to_date
    restore.decode_corpus(out, tmp_path / "restored")
    assert read_tree(tmp_path / "restored") == TREE


def test_rerun_repairs_a_missing_codebook(corpus, tmp_path, codebook, read_tree):
    out = tmp_path / "out"
    pipeline.encode_corpus([str(corpus)], out, codebook)
    (out / shards.CODEBOOK).unlink()
    assert not pipeline.encode_corpus([str(corpus)], out, codebook).up_to_date
    restore.decode_corpus(out, tmp_path / "restored")
    assert read_tree(tmp_path / "restored") == TREE
