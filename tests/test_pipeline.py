"""ltmc.pipeline: encode_corpus, mine_corpus and morph_corpus end to end (corpus: conftest.TREE)."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from ltmc import pipeline, restore, shards, stages
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError

from conftest import TREE






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


def test_two_encodes_are_byte_identical(corpus, tmp_path, codebook, small_shards, read_tree):
    pipeline.encode_corpus([str(corpus)], tmp_path / "one", codebook)
    pipeline.encode_corpus([str(corpus)], tmp_path / "two", codebook)
    first, second = read_tree(tmp_path / "one"), read_tree(tmp_path / "two")
    assert any(name.startswith("shard-") for name in first)
    assert first == second


def test_mined_codebook_is_deterministic(corpus, tmp_path, read_tree):
    pipeline.encode_corpus([str(corpus)], tmp_path / "one", vocab_size=800)
    pipeline.encode_corpus([str(corpus)], tmp_path / "two", vocab_size=800)
    assert read_tree(tmp_path / "one") == read_tree(tmp_path / "two")


def test_rerun_is_up_to_date(corpus, tmp_path, codebook, read_tree):
    out = tmp_path / "out"
    first = pipeline.encode_corpus([str(corpus)], out, codebook)
    assert not first.up_to_date
    before = read_tree(out)
    again = pipeline.encode_corpus([str(corpus)], out, codebook)
    assert again.up_to_date
    assert read_tree(out) == before


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


def test_morph_corpus_on_a_pool_gives_the_same_table(tmp_path, write_tree, monkeypatch):
    monkeypatch.setattr(stages, "FORMS_PER_BATCH", 4)
    corpus = write_tree(tmp_path / "corpus", TREE)
    alone, _ = pipeline.morph_corpus([str(corpus)])
    pooled, _ = pipeline.morph_corpus([str(corpus)], workers=2)
    assert alone.num_rows > 8 and pooled.equals(alone)


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
