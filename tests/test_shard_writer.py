"""ltmc.shard_writer: the one cut of ordered token rows into shards, and its plan."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ltmc import shard_writer
from ltmc.shard_writer import ShardCutter, plan_shards
from ltmc.stages import TOKEN_SCHEMA


def _rows(name: str, count: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "path": [name] * count,
            "scene": list(range(count)),
            "encoding": ["utf-8"] * count,
            "n_bytes": [3] * count,
            "n_chars": [3] * count,
            "n_words": [1] * count,
            "ids": [[i, i + 1] for i in range(count)],
        },
        schema=TOKEN_SCHEMA,
    )


def test_plan_cuts_global_scene_ranges():
    assert plan_shards([], 4) == [[]]
    assert plan_shards([0, 0], 4) == [[]]
    assert plan_shards([3, 0, 6, 2], 4) == [[(0, 0, 3), (2, 0, 1)], [(2, 1, 4)], [(2, 5, 1), (3, 0, 2)]]
    assert plan_shards([8], 4) == [[(0, 0, 4)], [(0, 4, 4)]]


@pytest.mark.parametrize("batch_rows", [1, 2, 5, 11])
def test_cut_depends_on_the_rows_not_on_their_batches(tmp_path, batch_rows):
    rows = pa.Table.from_batches([_rows("a", 3), _rows("b", 6), _rows("c", 2)])
    whole = ShardCutter(tmp_path / "whole", rows_per_shard=4)
    (tmp_path / "whole").mkdir()
    whole.write(rows)
    pieces = ShardCutter(tmp_path / "pieces", rows_per_shard=4)
    (tmp_path / "pieces").mkdir()
    for batch in rows.to_batches(max_chunksize=batch_rows):
        pieces.write(batch)
    assert whole.close() == pieces.close()
    assert [s["rows"] for s in whole.shards] == [4, 4, 3] == [sum(n for _, _, n in shard) for shard in plan_shards([3, 6, 2], 4)]
    assert [s["file"] for s in whole.shards] == ["shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    assert all((tmp_path / "whole" / s["file"]).read_bytes() == (tmp_path / "pieces" / s["file"]).read_bytes() for s in whole.shards)


def test_a_cutter_may_start_at_any_shard_and_an_empty_one_writes_one_empty_shard(tmp_path):
    later = ShardCutter(tmp_path, first=7, rows_per_shard=4)
    later.write(_rows("a", 4))
    assert [(s["file"], s["rows"], s["tokens"]) for s in later.close()] == [("shard-00007.parquet", 4, 8)]
    empty = ShardCutter(tmp_path)
    assert [(s["file"], s["rows"]) for s in empty.close()] == [("shard-00000.parquet", 0)]


def test_tally_counts_each_documents_rows():
    documents = {name: {"scenes": 0, "tokens": 0, "encoded_bytes": 0} for name in "ab"}
    batch = pa.Table.from_batches([_rows("a", 2), _rows("b", 3)]).combine_chunks().to_batches()[0]
    assert shard_writer.tally(documents, batch) == 15
    assert documents == {"a": {"scenes": 2, "tokens": 4, "encoded_bytes": 6}, "b": {"scenes": 3, "tokens": 6, "encoded_bytes": 9}}
