"""Each export format read back (numpy memmap or pyarrow) and decoded to the original text."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ltmc.cli import app
from ltmc.codebook import SEPARATOR_ID, Codebook
from ltmc import export as export_mod
from ltmc.export import LLMC_MAGIC, export, is_val, read_meta, stream_bytes, token_dtype
from ltmc.pipeline import encode_corpus
from ltmc.shards import Output

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, codebook) -> Path:
    out = tmp_path_factory.mktemp("export") / "out"
    encode_corpus([str(FIXTURES)], out, codebook, workers=1)
    return out


def scenes_of(out: Path) -> list[tuple[str, int, str]]:
    output = Output.open(out)
    rows = []
    for batch in output.iter_batches(["path", "scene", "ids"]):
        for p, s, ids in zip(*(batch.column(c).to_pylist() for c in ("path", "scene", "ids"))):
            rows.append((p, s, output.codebook.decode(ids)))
    return rows


def expected_split(out: Path, val_fraction: float) -> tuple[list[str], list[str]]:
    train, val = [], []
    for p, s, text in scenes_of(out):
        (val if is_val(p, s, val_fraction) else train).append(text)
    return train, val


def decode_stream(stream: np.ndarray, book: Codebook) -> list[str]:
    """A flat stream (separator before each scene) → the scene texts."""
    assert len(stream) == 0 or stream[0] == SEPARATOR_ID
    cuts = np.flatnonzero(stream == SEPARATOR_ID).tolist() + [len(stream)]
    return [book.decode(stream[a + 1 : b].tolist()) for a, b in zip(cuts, cuts[1:])]


def test_token_dtype_boundary():
    assert token_dtype(65_536) == "uint16"
    assert token_dtype(65_537) == "uint32"


def test_split_is_deterministic_and_roughly_sized():
    picks = [is_val("book.txt", s, 0.2) for s in range(2000)]
    assert picks == [is_val("book.txt", s, 0.2) for s in range(2000)]
    assert 300 < sum(picks) < 500
    assert not any(is_val("book.txt", s, 0.0) for s in range(100))


@pytest.mark.parametrize("val_fraction", [0.5])
def test_nanogpt_round_trip(encoded, tmp_path, codebook, val_fraction):
    dest = tmp_path / "nanogpt"
    result = export(encoded, dest, "nanogpt", val_fraction)
    train, val = expected_split(encoded, val_fraction)
    assert train and val, "fixture corpus should give both splits at 0.5"
    book = Codebook.load(dest / "codebook.json")
    assert book.fingerprint == codebook.fingerprint
    assert result.dtype == "uint16"
    for name, want in (("train", train), ("val", val)):
        stream = np.memmap(dest / f"{name}.bin", dtype=np.uint16, mode="r")
        assert decode_stream(np.asarray(stream), book) == want
        assert result.tokens[name] + len(want) == len(stream)
    meta = pickle.loads((dest / "meta.pkl").read_bytes())
    assert meta["vocab_size"] == len(codebook)
    assert read_meta(dest)["separator_id"] == SEPARATOR_ID
    # The whole corpus comes back when the splits are merged in scene order.
    joined = {(p, s): t for p, s, t in scenes_of(encoded)}
    assert sorted(train + val) == sorted(joined.values())


def test_llmc_round_trip(encoded, tmp_path):
    dest = tmp_path / "llmc"
    export(encoded, dest, "llmc", 0.5)
    train, val = expected_split(encoded, 0.5)
    book = Codebook.load(dest / "codebook.json")
    for name, want in (("train", train), ("val", val)):
        path = dest / f"{name}_000000.bin"
        header = np.fromfile(path, dtype="<i4", count=256)
        assert header[0] == LLMC_MAGIC and header[1] == 1
        tokens = np.memmap(path, dtype="<u2", mode="r", offset=256 * 4)
        assert header[2] == len(tokens)
        assert decode_stream(np.asarray(tokens), book) == want


def test_hf_round_trip(encoded, tmp_path):
    dest = tmp_path / "hf"
    export(encoded, dest, "hf", 0.5)
    train, val = expected_split(encoded, 0.5)
    book = Codebook.load(dest / "codebook.json")
    assert sorted(p.name for p in dest.glob("*.parquet")) == [
        "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet",
    ]
    for prefix, want in (("train", train), ("validation", val)):
        table = pq.read_table(list(dest.glob(f"{prefix}-*.parquet"))[0])
        assert "input_ids" in table.column_names
        assert [book.decode(ids) for ids in table.column("input_ids").to_pylist()] == want


def test_stream_bytes_keeps_ids_above_16_bits():
    batch = pa.RecordBatch.from_pydict(
        {"ids": [[70_000, 5], [131_071]]}, schema=pa.schema([("ids", pa.list_(pa.int32()))])
    )
    stream = np.frombuffer(stream_bytes(batch, "uint32"), dtype="<u4")
    assert stream.tolist() == [SEPARATOR_ID, 70_000, 5, SEPARATOR_ID, 131_071]
    with pytest.raises(pa.ArrowInvalid):
        stream_bytes(batch, "uint16")  # never truncated silently


def test_uint32_files_round_trip(encoded, tmp_path, monkeypatch):
    # A real >65,536-id codebook takes seconds to load; the writers only see the dtype.
    monkeypatch.setattr(export_mod, "token_dtype", lambda vocab_size: "uint32")
    train, _ = expected_split(encoded, 0.0)
    book = Codebook.load(encoded / "codebook.json")

    assert export(encoded, tmp_path / "ng", "nanogpt", 0.0).dtype == "uint32"
    stream = np.memmap(tmp_path / "ng" / "train.bin", dtype=np.uint32, mode="r")
    assert decode_stream(np.asarray(stream), book) == train

    export(encoded, tmp_path / "lc", "llmc", 0.0)
    path = tmp_path / "lc" / "train_000000.bin"
    header = np.fromfile(path, dtype="<i4", count=256)
    assert header[0] == LLMC_MAGIC and header[1] == 2
    tokens = np.memmap(path, dtype="<u4", mode="r", offset=1024)
    assert header[2] == len(tokens)
    assert decode_stream(np.asarray(tokens), book) == train


def test_cli_export_and_bad_format(encoded, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(encoded), "--format", "hf", "-o", str(tmp_path / "h"), "--json"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "h" / "train-00000-of-00001.parquet").is_file()
    bad = runner.invoke(app, ["export", str(encoded), "--format", "gguf", "-o", str(tmp_path / "g")])
    assert bad.exit_code == 2
    assert "unknown export format" in bad.output


def test_paired_files_are_named_so_and_replace_a_flat_export(encoded, tmp_path):
    dest = tmp_path / "ng"
    export(encoded, dest, "nanogpt", 0.5)
    assert (dest / "train.bin").is_file()
    result = export(encoded, dest, "nanogpt", 0.5, paired=True)
    assert sorted(result.files) == ["meta.pkl", "train_pairs.bin", "val_pairs.bin"]
    assert not (dest / "train.bin").exists() and not (dest / "val.bin").exists()  # the earlier flat files go
    assert pickle.loads((dest / "meta.pkl").read_bytes())["paired"] is True


def test_val_fraction_0_writes_no_validation_files(encoded, tmp_path):
    for fmt, train_file in (("nanogpt", "train.bin"), ("llmc", "train_000000.bin"), ("hf", "train-00000-of-00001.parquet")):
        result = export(encoded, tmp_path / fmt, fmt, 0.0)
        assert train_file in result.files and not any(name.startswith("val") for name in result.files), result.files
        assert result.scenes["val"] == 0


def _tiny_output(tmp_path, codebook, texts: dict[str, str]) -> Path:
    books = tmp_path / "books"
    books.mkdir()
    for name, text in texts.items():
        (books / name).write_text(text, encoding="utf-8")
    encode_corpus([str(books)], tmp_path / "out", codebook, workers=1)
    return tmp_path / "out"


@pytest.mark.parametrize("fmt", ["nanogpt", "llmc", "hf"])
def test_a_tiny_corpus_gets_one_validation_scene_never_an_empty_file(tmp_path, codebook, fmt):
    out = _tiny_output(tmp_path, codebook, {"a.txt": "Мороз и солнце.\n", "b.txt": "День чудесный!\n"})
    scenes = [(p, s) for p, s, _ in scenes_of(out)]
    assert not any(is_val(p, s, 0.001) for p, s in scenes)  # no scene falls below the fraction
    result = export(out, tmp_path / fmt, fmt, 0.001)
    assert result.scenes == {"train": 1, "val": 1}
    lowest = min(scenes, key=lambda key: export_mod.scene_hash(*key))
    assert export_mod.fallback_val_scene(Output.open(out).documents, 0.001) == lowest
    assert all((tmp_path / fmt / name).stat().st_size > 0 for name in result.files)


def test_one_scene_cannot_be_split_and_says_what_to_do(tmp_path, codebook):
    out = _tiny_output(tmp_path, codebook, {"a.txt": "Мороз и солнце.\n"})
    result = CliRunner().invoke(app, ["export", str(out), "-f", "nanogpt", "-o", str(tmp_path / "ng")])
    assert result.exit_code == 2
    assert "1 scene" in result.output and "--val-fraction 0" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ng" / "val.bin").exists()
    assert export(out, tmp_path / "ng", "nanogpt", 0.0).scenes == {"train": 1, "val": 0}


def test_hf_export_writes_the_tokenizer_config(encoded, tmp_path, codebook):
    result = export(encoded, tmp_path / "hf", "hf", 0.5)
    config = orjson.loads((tmp_path / "hf" / "tokenizer_config.json").read_bytes())
    assert "tokenizer_config.json" in result.files
    assert config["tokenizer_class"] == "LtmcTokenizer"
    assert (config["bos_token"], config["eos_token"], config["pad_token"]) == ("<|bos|>", "<|eos|>", "<|pad|>")


def _dtype_in_files(dest: Path, fmt: str, result) -> str:
    """The id type the train files of an export hold, read from the files themselves."""
    if fmt == "hf":
        schema = pq.read_schema(dest / "train-00000-of-00001.parquet")
        columns = ["head_ids", "tail_ids"] if result.paired else ["input_ids"]
        [stored] = {str(schema.field(name).type.value_type) for name in columns}
        return stored
    if fmt == "llmc":
        header = np.fromfile(dest / "train_000000.bin", dtype="<i4", count=256)
        return {1: "uint16", 2: "uint32"}[int(header[1])]
    ids = result.tokens["train"] + result.scenes["train"]  # a separator before each scene
    return {2: "uint16", 4: "uint32"}[(dest / "train.bin").stat().st_size // ids]


@pytest.mark.parametrize("fmt, paired", [("nanogpt", False), ("llmc", False), ("hf", False), ("hf", True)])
def test_the_dtype_reported_is_the_one_stored(encoded, tmp_path, fmt, paired):
    dest = tmp_path / fmt
    result = export(encoded, dest, fmt, 0.0, paired=paired)
    assert result.dtype == read_meta(dest)["dtype"] == _dtype_in_files(dest, fmt, result)
