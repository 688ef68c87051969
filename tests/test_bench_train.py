"""bench/train.py end to end on a tiny corpus written here: every arm trains, is scored in
bits per byte of the unseen authors' text, and its bits are laid on that text exactly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tokenizers")

BENCH = Path(__file__).parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import lm_data  # noqa: E402
import train  # noqa: E402

from conftest import SAMPLE_TEXTS  # noqa: E402

AUTHORS = ("Chekhov", "Turgenev", "Herzen", "Blok", "Gogol", "Pushkin")


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for k, author in enumerate(AUTHORS):
        folder = root / "ru" / "prose" / author
        folder.mkdir(parents=True)
        # Each author's own text, long enough for a few windows of 16 places.
        text = "\n\n".join(SAMPLE_TEXTS[(k + j) % len(SAMPLE_TEXTS)] for j in range(4)) * 3
        (folder / "Книга.txt").write_text(text, encoding="utf-8")
    return root


def test_every_arm_trains_and_its_bits_cover_the_text(tiny_corpus, tmp_path, capsys):
    args = ["--corpus", str(tiny_corpus), "--cache", str(tmp_path / "cache"), "--results", str(tmp_path / "results")]
    args += ["--vocab-sizes", "600", "--steps", "10", "--batch", "2", "--ctx", "16", "--seeds", "0", "1", "--sizes", "tiny"]
    args += ["--val-mb", "0.002", "--dev-mb", "0.001", "--repeat-mb", "0.001", "--arms", *lm_data.ARMS, "--json"]
    assert train.main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = {row["arm"]: row for row in summary["rows"]}
    assert set(rows) == set(lm_data.ARMS) and all(row["seeds"] == 2 for row in rows.values())
    flat_flops = rows["flat"]["flops"]
    for row in rows.values():
        assert 0 < row["bits_per_byte"] < 20
        # equal compute: the paired arms take fewer steps, to within one step the flat arms' FLOPs
        assert abs(row["flops"] - flat_flops) <= row["flops_per_step"] / 2
    # a paired step costs more (the tail block, two softmaxes), so equal compute is fewer steps
    assert rows["paired"]["flops_per_step"] > rows["flat"]["flops_per_step"]
    for run in summary["runs"]:
        by_class = run["bits_by_class"]
        total = sum(c["bits"] for c in by_class.values())
        # every bit counted once: the classes add up to the run's bits per byte
        assert total / run["scored_bytes"] == pytest.approx(run["bits_per_byte"], rel=1e-4)
        # the scenes' separators are predicted too, and their bits are no word's
        assert by_class["separator"]["bits"] > 0
        if run["arm"] != "bpe":
            kinds = run["bits_by_kind"]
            assert sum(k["bits"] for k in kinds.values()) == pytest.approx(total, rel=1e-4)
            assert sum(k["bytes"] for k in kinds.values()) == run["scored_bytes"]
            assert ("empty tail" in kinds) == lm_data.is_paired(run["arm"])
    # kept: a second call reads the results instead of training again
    kept = sorted((tmp_path / "results").glob("eval-*.json"))
    assert len(kept) == 2 * len(lm_data.ARMS)
    before = [p.stat().st_mtime_ns for p in kept]
    assert train.main(args) == 0
    assert [p.stat().st_mtime_ns for p in kept] == before


def test_a_result_kept_from_other_ids_is_refused_not_reused(tiny_corpus, tmp_path, capsys):
    args = ["--corpus", str(tiny_corpus), "--cache", str(tmp_path / "cache"), "--results", str(tmp_path / "results")]
    args += ["--vocab-sizes", "600", "--steps", "4", "--batch", "2", "--ctx", "16", "--seeds", "0", "--sizes", "tiny"]
    args += ["--val-mb", "0.002", "--dev-mb", "0.001", "--repeat-mb", "0.001", "--arms", "bpe", "flat-nobonds", "--lr", "0.003"]
    assert train.main(args) == 0
    kept = next((tmp_path / "results").glob("eval-*flat-nobonds*.json"))
    result = json.loads(kept.read_text(encoding="utf-8"))
    assert result["made_by"].startswith("sha256:")
    # as if mining had changed since: the kept bits are of other ids
    kept.write_text(json.dumps({**result, "made_by": "sha256:" + "0" * 32}), encoding="utf-8")
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        train.main(args)
    assert stopped.value.code == 1
    assert "move the kept results aside, or --force" in capsys.readouterr().err


@pytest.mark.parametrize(("classes", "label"), [(["kinds"], " + classes"), (["frequency"], " + frequency classes"), (["kinds", "--class-bins", "2"], " + classes by 2 frequency bins"), (["frequency", "--class-bins", "10"], " + 10 frequency classes")])
def test_a_class_output_takes_more_steps_for_the_same_flops(tiny_corpus, tmp_path, capsys, classes, label):
    args = ["--corpus", str(tiny_corpus), "--cache", str(tmp_path / "cache"), "--results", str(tmp_path / "results")]
    args += ["--vocab-sizes", "600", "--steps", "10", "--batch", "2", "--ctx", "16", "--seeds", "0", "--sizes", "tiny"]
    args += ["--val-mb", "0.002", "--dev-mb", "0.001", "--repeat-mb", "0.001", "--arms", "bpe", "flat-nobonds", "paired-nobonds", "--lr", "0.003", "--json"]
    rows = {}
    for extra in ([], ["--classes", *classes]):
        assert train.main([*args, *extra]) == 0
        rows.update({(row["arm"], row["variant"]): row for row in json.loads(capsys.readouterr().out)["rows"]})
    plain_flops = rows["flat-nobonds", ""]["flops"]
    for arm in ("bpe", "flat-nobonds", "paired-nobonds"):
        row = rows[arm, label]
        assert row["steps"] > rows[arm, ""]["steps"]  # the output is narrower, so the same FLOPs buy more steps
        assert abs(row["flops"] - plain_flops) <= row["flops_per_step"] / 2
        assert 0 < row["bits_per_byte"] < 20
    # compared with BPE given the same kind of output, not with the plain model
    flat = rows["flat-nobonds", label]
    assert flat["vs_bpe"] == pytest.approx(flat["bits_per_byte"] / rows["bpe", label]["bits_per_byte"] - 1)


def test_class_bins_need_a_class_output(capsys):
    with pytest.raises(SystemExit) as stopped:
        train.parse_args(["--class-bins", "2"])
    assert stopped.value.code == 2
    assert "--class-bins needs --classes" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one bin of frequency is the plain softmax and a class row
        train.parse_args(["--classes", "frequency", "--class-bins", "1"])


def test_bits_by_class_spreads_each_place_over_its_bytes():
    # places: separator, "ab" (2 bytes), a marker (0 bytes), "c" (1 byte)
    nats = np.log(2) * np.array([1.0, 4.0, 2.0, 3.0])
    place_bytes = np.array([0, 2, 0, 1])
    classes = np.array([0, 1, 2])  # a name, a sentence start, a common word
    out = lm_data.bits_by_class(nats, place_bytes, classes, np.array([True, False, False, False]))
    assert out["separator"]["bits"] == pytest.approx(1.0)
    assert out["name"] == {"bits": pytest.approx(2.0), "bytes": 1}
    assert out["sentence start"] == {"bits": pytest.approx(2.0), "bytes": 1}
    assert out["common word"] == {"bits": pytest.approx(5.0), "bytes": 1}  # the marker's 2 go to the byte after it


def test_the_table_keeps_runs_of_other_lengths_and_arms_apart():
    def run(arm: str, steps: int, seed: int, bits: float) -> dict:
        return {"setting": "fresh", "size": "small", "vocab": 8192, "arm": arm, "lr": 0.006, "steps": steps, "seed": seed, "bits_per_byte": bits,
                "bytes_per_place": 6.0, "flops_per_step": 1, "flops": steps, "body_params": 10**6, "train_s": 1.0}

    rows = train.summarize([run("bpe", 400, 0, 1.6), run("bpe", 400, 1, 1.4), run("bpe", 1200, 0, 1.3), run("scratch-arm", 400, 0, 1.2), run("flat", 400, 0, 1.2)])
    assert [(r["arm"], r["steps"], r["seeds"]) for r in rows] == [("bpe", 400, 2), ("bpe", 1200, 1), ("flat", 400, 1), ("scratch-arm", 400, 1)]
    assert rows[0]["bits_per_byte"] == pytest.approx(1.5)
    assert rows[2]["vs_bpe"] == pytest.approx(1.2 / 1.5 - 1)  # against BPE at the same compute, not the longer run
    assert "scratch-arm" in train.render(rows)  # an arm kept from a scratch branch is shown, last


def test_a_sweep_trains_only_the_rates_given_and_chooses_among_those_kept(tiny_corpus, tmp_path, capsys):
    args = ["--corpus", str(tiny_corpus), "--cache", str(tmp_path / "cache"), "--results", str(tmp_path / "results")]
    args += ["--vocab-sizes", "600", "--steps", "4", "--batch", "2", "--ctx", "16", "--seeds", "0", "--sizes", "tiny"]
    args += ["--val-mb", "0.002", "--dev-mb", "0.001", "--repeat-mb", "0.001", "--arms", "bpe", "--json"]

    def swept() -> list[float]:
        return sorted(json.loads(p.read_text(encoding="utf-8"))["lr"] for p in (tmp_path / "results").glob("dev-*.json"))

    assert train.main([*args, "--sweep", "0.003"]) == 0
    assert swept() == [0.003]
    capsys.readouterr()
    assert train.main([*args, "--sweep", "1e-9"]) == 0  # a rate that cannot learn: the kept 0.003 is chosen
    assert swept() == [1e-9, 0.003]
    assert [run["lr"] for run in json.loads(capsys.readouterr().out)["runs"]] == [0.003]


def test_a_seed_0_model_is_scored_on_the_dev_set_and_the_unseen_authors_from_one_training(tiny_corpus, tmp_path, capsys):
    args = ["--corpus", str(tiny_corpus), "--cache", str(tmp_path / "cache"), "--results", str(tmp_path / "results")]
    args += ["--vocab-sizes", "600", "--steps", "4", "--batch", "2", "--ctx", "16", "--sizes", "tiny"]
    args += ["--val-mb", "0.002", "--dev-mb", "0.001", "--repeat-mb", "0.001", "--arms", "bpe", "--sweep", "0.003"]

    def kept(stage: str) -> list[int]:
        return sorted(json.loads(p.read_text(encoding="utf-8"))["seed"] for p in (tmp_path / "results").glob(f"{stage}-*.json"))

    assert train.main([*args, "--seeds", "0", "1"]) == 0
    assert capsys.readouterr().err.count("bpe seed 0 lr 0.003:") == 1  # the sweep's model is the kept rate's seed 0
    assert kept("dev") == [0]  # a rate is chosen on seed 0 only
    assert kept("eval") == [0, 1]
    dev, evaluation = (json.loads(next((tmp_path / "results").glob(f"{stage}-*seed0*.json")).read_text(encoding="utf-8")) for stage in ("dev", "eval"))
    assert dev["bits_per_byte"] != evaluation["bits_per_byte"] and dev["scored_bytes"] < evaluation["scored_bytes"]


def test_word_bits_lays_each_place_on_the_words_it_spells():
    import word_bits

    # places: separator, "ab", " ", a marker, "c", a marker, "d"; the words "ab" and "cd"
    nats = np.log(2) * np.array([1.0, 4.0, 1.0, 2.0, 3.0, 1.0, 5.0])
    place_bytes = np.array([0, 2, 1, 0, 1, 0, 1])
    is_separator = np.array([True, False, False, False, False, False, False])
    bits, places = word_bits.word_bits(nats, place_bytes, is_separator, np.array([0, 3]), np.array([2, 5]))
    # a marker's bits fall on the byte after it, so both markers are "cd"'s, and counted with it;
    # the separator before "ab" is neither
    assert bits == pytest.approx([4.0, 11.0])
    assert places.tolist() == [1, 4]


def test_word_bits_compares_an_ltmc_run_with_bpe_word_by_word(tiny_corpus, tmp_path, capsys):
    import word_bits

    args = ["--corpus", str(tiny_corpus), "--cache", str(tmp_path / "cache"), "--results", str(tmp_path / "results")]
    args += ["--vocab-sizes", "600", "--steps", "4", "--batch", "2", "--ctx", "16", "--seeds", "0", "--sizes", "tiny"]
    args += ["--val-mb", "0.002", "--dev-mb", "0.001", "--repeat-mb", "0.001", "--lr", "0.003"]
    assert train.main([*args, "--arms", "bpe", "flat-nobonds", "paired-nobonds", "--json"]) == 0
    runs = {run["arm"]: run for run in json.loads(capsys.readouterr().out)["runs"]}
    bpe_bits = runs["bpe"]["bits_per_byte"] * runs["bpe"]["scored_bytes"]
    for arm in ("flat-nobonds", "paired-nobonds"):
        parsed = train.parse_args([*args, "--arms", arm])
        rows = word_bits.compare(*word_bits.laid_runs(parsed, arm, 0.003))
        n_words = sum(len(lm_data.WORD.findall(scene)) for scene in train.texts(parsed)["eval"])
        assert sum(r["words"] for r in rows) == n_words  # every word in one row
        # the words' bits are a part of each run's, the rest being spaces, punctuation and separators
        assert 0 < sum(r["bpe bits"] for r in rows) < bpe_bits
        assert 0 < sum(r["ltmc bits"] for r in rows) < runs[arm]["bits_per_byte"] * runs[arm]["scored_bytes"]
        assert sum(r["extra share"] for r in rows) == pytest.approx(sum(r["ltmc bits"] - r["bpe bits"] for r in rows) / bpe_bits)
    assert word_bits.main([*args, "--arms", "paired-nobonds"]) == 0
    assert capsys.readouterr().out.startswith("| class | paired-nobonds places |")


def test_paired_rows_name_their_tail_block():
    def run(seed: int, **tail) -> dict:
        return {"setting": "fresh", "size": "small", "vocab": 8192, "arm": "paired-rare", "lr": 0.006, "steps": 400, "seed": seed, "bits_per_byte": 1.3,
                "bytes_per_place": 7.0, "flops_per_step": 1, "flops": 400, "body_params": 10**6, "train_s": 1.0, **tail}

    # a kept run without the field trained the 4× block the tail had before it was a setting
    rows = train.summarize([run(0), run(1, tail_hidden=4), run(0, tail_hidden=1)])
    assert [(r["label"], r["seeds"]) for r in rows] == [("paired-rare, tail 1×", 1), ("paired-rare, tail 4×", 2)]
    assert "| paired-rare, tail 1× |" in train.render(rows)
