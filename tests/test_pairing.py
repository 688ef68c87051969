"""Paired positions: a head and the continuation after it in one position, and back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from ltmc import pairing, stats
from ltmc.cli import app
from ltmc.codebook import SEPARATOR_ID, Codebook
from ltmc.errors import ExitCode
from ltmc.export import export, read_meta
from ltmc.fastpath import FLIP_ID
from ltmc.pairing import EMPTY
from ltmc.pipeline import encode_corpus
from ltmc.shards import Output

FIXTURES = Path(__file__).parents[1] / "fixtures"

# A codebook small enough to spell a sentence by hand.
HAND = Codebook.from_entries(
    [("stem", "подня"), ("ending", "лась"), ("punct", ","), ("word", "и"), ("stem", "б"), ("suffix", "аз"), ("ending", "аров")]
)
ID = {HAND.piece_of(i): i for i in range(259, len(HAND))} | {"FLIP": FLIP_ID}
IS_TAIL = pairing.tail_mask(HAND)


def test_the_sentence_worked_out_by_hand():
    ids = [ID[t] for t in ("подня", "лась", ",", "и", "FLIP", "б", "аз", "аров")]
    assert HAND.decode(ids) == "Поднялась, и Базаров"
    # "," and "и" take no tail, nor does the marker; б takes аз, and аров, a second
    # continuation, has no head: 8 ids in 6 positions.
    want = [("подня", "лась"), (",", None), ("и", None), ("<|flip|>", None), ("б", "аз"), (None, "аров")]
    spelled = [tuple(None if i == EMPTY else HAND.piece_of(i) for i in p) for p in pairing.pair(np.array(ids), IS_TAIL)]
    assert spelled == want
    assert pairing.unpair(pairing.pair(np.array(ids), IS_TAIL)).tolist() == ids


def test_three_ids_a_place_by_hand():
    ids = [ID[t] for t in ("подня", "лась", ",", "и", "FLIP", "б", "аз", "аров")]
    # б|аз|аров now fits one place, with its two continuations: 8 ids in 5 places.
    want = [("подня", "лась", None), (",", None, None), ("и", None, None), ("<|flip|>", None, None), ("б", "аз", "аров")]
    places = pairing.pair(np.array(ids), IS_TAIL, width=3)
    assert [tuple(None if i == EMPTY else HAND.piece_of(i) for i in p) for p in places] == want
    assert pairing.unpair(places).tolist() == ids
    assert pairing.slots(np.array(ids), IS_TAIL, width=3)[1].tolist() == [0, 1, 0, 0, 0, 0, 1, 2]


def test_punctuation_joins_the_place_before_it_by_hand():
    is_tail = pairing.tail_mask(HAND, pairing.PUNCT_TAIL_KINDS)
    assert [HAND.piece_of(i) for i in np.flatnonzero(is_tail)] == ["лась", ",", "аз", "аров"]
    ids = [ID[t] for t in ("подня", "лась", ",", "и", "FLIP", "б", "аз", "аров", ",")]
    # The comma is подня|лась's second continuation; after б|аз|аров, a full place, a comma has no head.
    want = [("подня", "лась", ","), ("и", None, None), ("<|flip|>", None, None), ("б", "аз", "аров"), (None, ",", None)]
    places = pairing.pair(np.array(ids), is_tail, width=3)
    assert [tuple(None if i == EMPTY else HAND.piece_of(i) for i in p) for p in places] == want
    assert pairing.unpair(places).tolist() == ids


def test_a_place_needs_room_for_a_continuation():
    with pytest.raises(ValueError, match="width 1"):
        pairing.pair(np.array([ID["и"]]), IS_TAIL, width=1)


def test_tail_mask_marks_exactly_the_continuations():
    assert [HAND.piece_of(i) for i in np.flatnonzero(IS_TAIL)] == ["лась", "аз", "аров"]
    assert not IS_TAIL[:259].any()


scenes_of_ids = st.lists(st.lists(st.integers(0, len(HAND) - 1).filter(lambda i: i != SEPARATOR_ID), max_size=30), max_size=6)


@given(scenes_of_ids)
def test_positions_round_trip_and_cannot_be_merged(scenes):
    column = pa.array(scenes, pa.list_(pa.int32()))
    heads, tails = pairing.pair_scenes(column, IS_TAIL)
    assert pairing.count_positions(column, IS_TAIL) == len(heads.values)
    for ids, h, t in zip(scenes, heads.to_pylist(), tails.to_pylist()):
        pairs = np.array([h, t], dtype=np.int32).T.reshape(-1, 2)
        assert pairing.unpair(pairs).tolist() == ids
        for head, tail in zip(h, t):
            assert head == EMPTY or not IS_TAIL[head]
            assert tail == EMPTY or IS_TAIL[tail]
            assert (head, tail) != (EMPTY, EMPTY)
        # Greedy is tight: no head with an empty tail is followed by a lone tail.
        for (h1, t1), (h2, t2) in zip(zip(h, t), zip(h[1:], t[1:])):
            assert not (h1 != EMPTY and t1 == EMPTY and h2 == EMPTY)


@given(scenes_of_ids, st.integers(2, 4))
def test_wider_places_round_trip_and_are_full(scenes, width):
    column = pa.array(scenes, pa.list_(pa.int32()))
    columns = pairing.pair_scenes(column, IS_TAIL, width)
    assert len(columns) == width and pairing.count_positions(column, IS_TAIL, width) == len(columns[0].values)
    for k, ids in enumerate(scenes):
        places = np.array([c[k].as_py() for c in columns], dtype=np.int32).T.reshape(-1, width)
        assert pairing.unpair(places).tolist() == ids
        for place, after in zip(places, places[1:]):
            # a lone continuation starts a place only where the place before is full or headless
            if after[0] == EMPTY:
                assert place[0] == EMPTY or (place != EMPTY).all()
        # a narrower place never holds fewer ids
        assert len(places) <= len(pairing.pair(np.array(ids, dtype=np.int32), IS_TAIL, width=max(2, width - 1)))


@given(scenes_of_ids)
def test_a_flat_stream_with_separators_pairs_and_comes_back(scenes):
    stream = [i for ids in scenes for i in (SEPARATOR_ID, *ids)]
    pairs = pairing.pair(np.array(stream, dtype=np.int32), IS_TAIL)
    assert pairing.unpair(pairs).tolist() == stream
    assert sum(1 for h, t in pairs if h == t == SEPARATOR_ID) == len(scenes)


def test_a_sliced_column_pairs_as_its_rows():
    column = pa.array([[ID["б"], ID["аз"]], [ID["аров"]], [ID["и"], ID["лась"], ID["аров"]]], pa.list_(pa.int32()))
    heads, tails = pairing.pair_scenes(column.slice(1), IS_TAIL)
    assert heads.to_pylist() == [[EMPTY], [ID["и"], EMPTY]]
    assert tails.to_pylist() == [[ID["аров"]], [ID["лась"], ID["аров"]]]
    assert pairing.count_positions(column.slice(1), IS_TAIL) == 3


def test_an_id_outside_the_codebook_is_refused():
    with pytest.raises(ValueError, match="outside the codebook"):
        pairing.pair(np.array([len(HAND)]), IS_TAIL)


# -- where the pairs are used ---------------------------------------------------------


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, codebook) -> Path:
    out = tmp_path_factory.mktemp("pairs") / "out"
    encode_corpus([str(FIXTURES)], out, codebook, workers=1)
    return out


def all_scenes(out: Path) -> list[list[int]]:
    return [ids for batch in Output.open(out).iter_batches(["ids"]) for ids in batch.column("ids").to_pylist()]


def test_stats_count_fewer_positions_than_tokens(encoded, codebook):
    report = stats.collect(encoded)
    by_hand = 0
    is_tail = pairing.tail_mask(codebook)
    for ids in all_scenes(encoded):
        by_hand += sum(1 for k, i in enumerate(ids) if not (k and is_tail[i] and not is_tail[ids[k - 1]]))
    assert report["positions"] == by_hand
    assert 0.5 * report["tokens"] < report["positions"] < report["tokens"]


def test_paired_nanogpt_export_reads_back_as_positions(encoded, tmp_path, codebook):
    dest = tmp_path / "ng"
    result = export(encoded, dest, "nanogpt", 0.0, paired=True)
    assert not (dest / "train.bin").exists()  # nanoGPT's train.py reads train.bin: a paired stream is never one
    pairs = np.fromfile(dest / "train_pairs.bin", dtype="<u2").reshape(-1, 2)
    assert len(pairs) == result.positions["train"] + result.scenes["train"]
    stream = pairing.unpair(pairs)
    assert stream.tolist() == [i for ids in all_scenes(encoded) for i in (SEPARATOR_ID, *ids)]
    meta = read_meta(dest)
    assert meta["paired"] is True and meta["empty_id"] == EMPTY
    assert result.positions["train"] == stats.collect(encoded)["positions"]


def test_paired_hf_export_has_a_column_per_slot(encoded, tmp_path, codebook):
    export(encoded, tmp_path / "hf", "hf", 0.0, paired=True)
    table = pq.read_table(tmp_path / "hf" / "train-00000-of-00001.parquet")
    assert table.column_names == ["head_ids", "tail_ids", "path", "scene"]
    texts = []
    for h, t in zip(table.column("head_ids").to_pylist(), table.column("tail_ids").to_pylist()):
        texts.append(codebook.decode(pairing.unpair(np.array([h, t]).T).tolist()))
    assert texts == [codebook.decode(ids) for ids in all_scenes(encoded)]


def test_places_of_three_export_through_the_cli_and_read_back(encoded, tmp_path):
    result = CliRunner().invoke(app, ["export", str(encoded), "-f", "nanogpt", "--paired", "--place-width", "3", "--val-fraction", "0", "-o", str(tmp_path / "ng"), "--json"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.output)
    assert report["place_width"] == 3 and read_meta(tmp_path / "ng")["place_width"] == 3
    places = np.fromfile(tmp_path / "ng" / "train_places3.bin", dtype="<u2").reshape(-1, 3)
    assert len(places) == report["positions"]["train"] + report["scenes"]["train"]
    assert pairing.unpair(places).tolist() == [i for ids in all_scenes(encoded) for i in (SEPARATOR_ID, *ids)]
    # fewer places than pairs: a stem and two pieces now share one
    assert report["positions"]["train"] < stats.collect(encoded)["positions"]
    export(encoded, tmp_path / "hf", "hf", 0.0, paired=True, place_width=3)
    assert pq.read_table(tmp_path / "hf" / "train-00000-of-00001.parquet").column_names == ["head_ids", "tail_ids", "tail2_ids", "path", "scene"]


def test_punctuation_tails_export_through_the_cli_and_read_back(encoded, tmp_path, codebook):
    args = ["export", str(encoded), "-f", "nanogpt", "--paired", "--place-width", "3", "--val-fraction", "0", "--json"]
    plain = orjson.loads(CliRunner().invoke(app, [*args, "-o", str(tmp_path / "plain")]).output)
    result = CliRunner().invoke(app, [*args, "--punct-tails", "-o", str(tmp_path / "ng")])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.output)
    assert report["tail_kinds"] == sorted(pairing.PUNCT_TAIL_KINDS) and plain["tail_kinds"] == sorted(pairing.CONT_KINDS)
    meta = read_meta(tmp_path / "ng")
    assert meta["tail_kinds"] == report["tail_kinds"]
    places = np.fromfile(tmp_path / "ng" / "train_places3.bin", dtype="<u2").reshape(-1, 3)
    assert pairing.unpair(places).tolist() == [i for ids in all_scenes(encoded) for i in (SEPARATOR_ID, *ids)]
    # what meta.json names gives the reader the same split: every punctuation id in a place is a continuation
    is_tail = pairing.tail_mask(codebook, frozenset(meta["tail_kinds"]))
    comma = codebook.encode(",")[0]
    assert is_tail[comma] and comma in places[:, 1:] and comma not in places[:, 0]
    assert report["positions"]["train"] < plain["positions"]["train"]


@pytest.mark.parametrize(
    ("args", "message"), [(["--place-width", "3"], "add --paired"), (["--paired", "--place-width", "1"], "2 or more"), (["--punct-tails"], "add --paired")]
)
def test_cli_refuses_a_place_width_it_cannot_write(encoded, tmp_path, args, message):
    result = CliRunner().invoke(app, ["export", str(encoded), "-f", "nanogpt", *args, "-o", str(tmp_path / "ng")])
    assert result.exit_code == ExitCode.USAGE and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "ng").exists()


def test_cli_refuses_paired_llmc_in_one_line(encoded, tmp_path):
    result = CliRunner().invoke(app, ["export", str(encoded), "-f", "llmc", "--paired", "-o", str(tmp_path / "l")])
    assert result.exit_code == ExitCode.USAGE
    assert "llm.c" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_slots_say_where_pair_puts_each_id(codebook, sample_texts):
    is_tail = pairing.tail_mask(codebook)
    flat = np.asarray([SEPARATOR_ID, *codebook.encode(sample_texts[0])], dtype=np.int32)
    places = pairing.pair(flat, is_tail)
    for width in (2, 3):
        places = pairing.pair(flat, is_tail, width=width)
        position, slot = pairing.slots(flat, is_tail, width=width)
        assert (places[position, slot] == flat).all()
        assert len(np.unique(np.stack((position, slot)), axis=1).T) == len(flat)  # no two ids share a slot
