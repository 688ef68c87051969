"""ltmc.engines.local: the ordered pool, its task grouping, and the shards it hands the writer."""

from __future__ import annotations

from pathlib import Path


import pytest

from ltmc import inputs, pipeline
from ltmc.engines import local
from ltmc.errors import ExitCode, LtmcError

from conftest import TREE



def test_workers_do_not_change_the_shards(corpus, tmp_path, codebook, small_shards, read_tree):
    pipeline.encode_corpus([str(corpus)], tmp_path / "serial", codebook, workers=1)
    pipeline.encode_corpus([str(corpus)], tmp_path / "parallel", codebook, workers=2)
    assert read_tree(tmp_path / "serial") == read_tree(tmp_path / "parallel")
    # the workers' spool folder is gone too (_files lists files only)
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == sorted(p.name for p in (tmp_path / "serial").iterdir())


@pytest.mark.parametrize("workers", [1, 2])
def test_big_inputs_cut_here_give_the_shards_of_whole_inputs_read_by_workers(corpus, tmp_path, codebook, small_shards, monkeypatch, workers, read_tree):
    pipeline.encode_corpus([str(corpus)], tmp_path / "whole", codebook, workers=workers)
    monkeypatch.setattr(local, "WHOLE_INPUT_BYTES", 64)  # most inputs are now cut by the parent
    assert sum(len(data) > 64 for data in TREE.values()) >= 2
    pipeline.encode_corpus([str(corpus)], tmp_path / "cut", codebook, workers=workers)
    assert read_tree(tmp_path / "whole") == read_tree(tmp_path / "cut")


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
