"""ltmc.stats: numbers about an encoded output."""

from __future__ import annotations

import pytest

from ltmc import pipeline, stats
from ltmc.rules import KINDS
from ltmc.errors import ExitCode, LtmcError

FILES = {
    "a.txt": "Старый рыбак сидел у реки и чинил сеть.\n".encode() * 30,
    "b/c.txt": ("Ветер гонит облака\nнад широкими полями.\n\n" * 20).encode("cp1251"),
    "d.txt": "Смайлик 🙂 и 漢字.\r\n".encode(),
    "empty.txt": b"",
}


@pytest.fixture
def encoded(tmp_path, codebook, write_tree):
    corpus = write_tree(tmp_path / "corpus", FILES)
    out = tmp_path / "out"
    result = pipeline.encode_corpus([str(corpus)], out, codebook)
    return out, result


def test_required_keys(encoded):
    out, _ = encoded
    report = stats.collect(out)
    for key in ("bytes", "chars", "words", "scenes", "tokens", "vocab_size"):
        assert key in report
        assert isinstance(report[key], int)


def test_bytes_equals_total_input_size(encoded):
    out, result = encoded
    report = stats.collect(out)
    assert report["bytes"] == sum(len(b) for b in FILES.values()) == result.bytes


def test_counts_agree_with_the_encode_result(encoded, codebook):
    out, result = encoded
    report = stats.collect(out)
    assert report["tokens"] == result.tokens
    assert report["scenes"] == result.scenes
    assert report["documents"] == len(FILES)
    assert report["vocab_size"] == len(codebook)
    assert report["codebook"] == codebook.fingerprint


def test_chars_and_words(encoded):
    out, _ = encoded
    report = stats.collect(out)
    texts = [FILES["a.txt"].decode(), FILES["b/c.txt"].decode("cp1251"), FILES["d.txt"].decode()]
    assert report["chars"] == sum(len(t) for t in texts)
    assert report["words"] == 8 * 30 + 6 * 20 + 3
    assert report["chars_per_token"] == pytest.approx(report["chars"] / report["tokens"], abs=1e-3)
    assert report["tokens_per_word"] == pytest.approx(report["tokens"] / report["words"], abs=1e-3)


def test_shares_sum_to_one(encoded):
    out, _ = encoded
    shares = stats.collect(out)["share_by_kind"]
    assert set(KINDS) - {"special"} <= set(shares) <= set(KINDS)
    assert all(0 <= v <= 1 for v in shares.values())
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)


def test_top_lists_are_ranked_and_of_their_kind(encoded, codebook):
    out, _ = encoded
    report = stats.collect(out, top=3)
    for key, kind in (("top_bonds", "bond"), ("top_endings", "ending")):
        rows = report[key]
        assert len(rows) <= 3
        assert [r["count"] for r in rows] == sorted((r["count"] for r in rows), reverse=True)
        assert all(codebook.kind_of(r["id"]) == kind and r["text"] == codebook.piece_of(r["id"]) for r in rows)
    assert report["distinct_ids"] <= report["vocab_size"]


def test_empty_corpus_has_zero_ratios(tmp_path, codebook, write_tree):
    corpus = write_tree(tmp_path / "corpus", {"e.txt": b""})
    pipeline.encode_corpus([str(corpus)], tmp_path / "out", codebook)
    report = stats.collect(tmp_path / "out")
    assert (report["bytes"], report["tokens"], report["chars_per_token"]) == (0, 0, 0.0)
    assert (report["positions"], report["chars_per_position"]) == (0, 0.0)


def test_stats_of_a_missing_directory(tmp_path):
    with pytest.raises(LtmcError) as info:
        stats.collect(tmp_path / "absent")
    assert info.value.exit_code == ExitCode.USAGE
