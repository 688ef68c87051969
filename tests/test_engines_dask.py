"""The Dask engine (``ltmc encode --engine dask``) writes exactly what the local engine writes.

Needs the dask extra (``pip install -e '.[dask]'``); skipped cleanly without it.
Every cluster here is local and bound to 127.0.0.1.
"""

from __future__ import annotations

import logging

import pytest

distributed = pytest.importorskip("distributed")

from typer.testing import CliRunner  # noqa: E402

from ltmc import pipeline, restore, shard_writer, stages  # noqa: E402
from ltmc.cli import app  # noqa: E402
from ltmc.engines.dask import PARTS_DIR  # noqa: E402
from ltmc.errors import ExitCode, LtmcError  # noqa: E402


def encode_corpus_dask(*args, **kwargs):
    return pipeline.encode_corpus(*args, engine="dask", **kwargs)


@pytest.fixture(scope="module")
def scheduler():
    """One two-worker local cluster shared by the tests that pass --scheduler."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def small_shards(monkeypatch):
    """Batches of 3 scenes and shards of 8: shards and batches cross file boundaries."""
    monkeypatch.setattr(stages, "BATCH_SCENES", 3)
    monkeypatch.setattr(shard_writer, "SHARD_SCENES", 8)


@pytest.fixture
def corpus(tmp_path, sample_texts, write_tree):
    """Files of 0 to 13 scenes, UTF-8, Windows-1251 and an empty one, in nested folders."""
    files = {}
    for n in range(8):
        body = "\n\n".join(sample_texts[(n + i) % len(sample_texts)] for i in range(n * 2 - 1 if n else 0))
        files[f"{'ab'[n % 2]}/book-{n}.txt"] = body.encode("utf-8")
    files["c/legacy.txt"] = "\n\n".join(sample_texts).encode("cp1251")
    return write_tree(tmp_path / "corpus", files)


@pytest.mark.parametrize("local_workers", [1, 2])
def test_output_identical_to_local_runner(tmp_path, corpus, codebook, read_tree, small_shards, scheduler, local_workers):
    local = pipeline.encode_corpus([str(corpus)], tmp_path / "local", codebook, workers=local_workers)
    dask = encode_corpus_dask([str(corpus)], tmp_path / "dask", codebook, scheduler=scheduler)
    assert len(list((tmp_path / "local").glob("shard-*.parquet"))) >= 3
    assert read_tree(tmp_path / "dask") == read_tree(tmp_path / "local")
    assert (dask.documents, dask.scenes, dask.tokens, dask.bytes) == (local.documents, local.scenes, local.tokens, local.bytes)
    assert not (tmp_path / "dask" / PARTS_DIR).exists()


def test_default_shard_size_and_own_local_cluster(tmp_path, corpus, codebook, read_tree):
    """No --scheduler: the engine starts its own local cluster of ``workers`` processes."""
    pipeline.encode_corpus([str(corpus)], tmp_path / "local", codebook, workers=1)
    encode_corpus_dask([str(corpus)], tmp_path / "dask", codebook, workers=2)
    assert read_tree(tmp_path / "dask") == read_tree(tmp_path / "local")


def test_round_trip_and_up_to_date(tmp_path, corpus, codebook, read_tree, small_shards, scheduler):
    out = tmp_path / "out"
    encode_corpus_dask([str(corpus)], out, codebook, scheduler=scheduler)
    restored = tmp_path / "restored"
    decoded = restore.decode_corpus(out, restored)
    assert not decoded.mismatches
    assert read_tree(restored) == read_tree(corpus)
    again = encode_corpus_dask([str(corpus)], out, codebook, scheduler=scheduler)
    assert again.up_to_date


def test_mines_a_codebook_when_none_is_given(tmp_path, corpus, read_tree, scheduler):
    pipeline.encode_corpus([str(corpus)], tmp_path / "local", None, vocab_size=600)
    encode_corpus_dask([str(corpus)], tmp_path / "dask", None, vocab_size=600, scheduler=scheduler)
    assert read_tree(tmp_path / "dask") == read_tree(tmp_path / "local")


def test_unreadable_input_is_skipped_or_stops(tmp_path, corpus, codebook, read_tree, scheduler):
    (corpus / "binary.txt").write_bytes(b"\0\1\2 not text")
    local = pipeline.encode_corpus([str(corpus)], tmp_path / "local", codebook)
    dask = encode_corpus_dask([str(corpus)], tmp_path / "dask", codebook, scheduler=scheduler)
    assert [f.message for f in dask.failures] == [f.message for f in local.failures] and dask.failures
    assert read_tree(tmp_path / "dask") == read_tree(tmp_path / "local")
    with pytest.raises(LtmcError) as err:
        encode_corpus_dask([str(corpus)], tmp_path / "strict", codebook, strict=True, scheduler=scheduler)
    assert err.value.exit_code == ExitCode.DATA


def test_stdin_is_refused(tmp_path, codebook):
    with pytest.raises(LtmcError) as err:
        encode_corpus_dask(["-"], tmp_path / "out", codebook, scheduler="tcp://127.0.0.1:1")
    assert err.value.exit_code == ExitCode.USAGE and "stdin" in str(err.value)


def test_cli_engine_option(tmp_path, corpus, codebook_file, read_tree, scheduler):
    cli = CliRunner()
    local = cli.invoke(app, ["encode", str(corpus), "-o", str(tmp_path / "local"), "-c", str(codebook_file), "-w", "1"])
    assert local.exit_code == 0, local.output
    dask = cli.invoke(
        app,
        ["encode", str(corpus), "-o", str(tmp_path / "dask"), "-c", str(codebook_file), "--engine", "dask", "--scheduler", scheduler],
    )
    assert dask.exit_code == 0, dask.output
    assert read_tree(tmp_path / "dask") == read_tree(tmp_path / "local")
    wrong = cli.invoke(app, ["encode", str(corpus), "-o", str(tmp_path / "x"), "-c", str(codebook_file), "--engine", "spark"])
    assert wrong.exit_code == ExitCode.USAGE
    lonely = cli.invoke(app, ["encode", str(corpus), "-o", str(tmp_path / "y"), "-c", str(codebook_file), "--scheduler", scheduler])
    assert lonely.exit_code == ExitCode.USAGE
