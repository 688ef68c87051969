"""Glyph view: one private-use character per token, and back to the same shards."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from ltmc.cli import app
from ltmc.glyphs import GLYPH_BASE, MAX_ID, from_glyphs, to_glyphs
from ltmc.errors import LtmcError
from ltmc.pipeline import encode_corpus
from ltmc.restore import decode_corpus
from ltmc.shards import Output

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_every_id_has_one_character():
    ids = [0, 255, 256, 65_534, 65_535, 65_536, MAX_ID]
    text = to_glyphs(ids)
    assert len(text) == len(ids)
    assert text[0] == chr(GLYPH_BASE) and text[-1] == chr(0x10FFFF)
    assert from_glyphs(text) == ids
    assert from_glyphs(text.encode("utf-8").decode("utf-8")) == ids


def test_foreign_characters_are_refused():
    with pytest.raises(LtmcError, match="not a token glyph"):
        from_glyphs(to_glyphs([300]) + "a")
    with pytest.raises(LtmcError):
        to_glyphs([MAX_ID + 1])


def table_of(out: Path) -> pa.Table:
    return pa.Table.from_batches(list(Output.open(out).iter_batches()))


def test_glyph_file_round_trip(tmp_path, codebook):
    out = tmp_path / "out"
    encode_corpus([str(FIXTURES)], out, codebook, workers=1)
    runner = CliRunner()
    glyph_file = tmp_path / "corpus.glyphs"
    result = runner.invoke(app, ["glyphs", "to", str(out), "-o", str(glyph_file)])
    assert result.exit_code == 0, result.output

    lines = glyph_file.read_text(encoding="utf-8").splitlines()
    scene_lines = [line for line in lines if not line.startswith("#")]
    original = table_of(out)
    assert len(scene_lines) == original.num_rows
    # one character per token
    assert [len(line) for line in scene_lines] == original.column("ids").combine_chunks().value_lengths().to_pylist()

    rebuilt = tmp_path / "rebuilt"
    result = runner.invoke(app, ["glyphs", "from", str(glyph_file), "--codebook", str(out / "codebook.json"), "-o", str(rebuilt)])
    assert result.exit_code == 0, result.output
    assert table_of(rebuilt).equals(original)
    assert Output.open(rebuilt).documents == Output.open(out).documents
    check = decode_corpus(rebuilt, None, verify=True)
    assert not check.mismatches and check.documents == len(Output.open(out).documents)


def test_altered_glyphs_are_caught(tmp_path, codebook):
    out = tmp_path / "out"
    encode_corpus([str(FIXTURES / "ru_prose.txt")], out, codebook, workers=1)
    glyph_file = tmp_path / "g"
    CliRunner().invoke(app, ["glyphs", "to", str(out), "-o", str(glyph_file)])
    lines = glyph_file.read_text(encoding="utf-8").split("\n")
    lines[2] = lines[2][:-1]  # drop the last token of the first scene
    glyph_file.write_text("\n".join(lines), encoding="utf-8")
    result = CliRunner().invoke(app, ["glyphs", "from", str(glyph_file), "-c", str(out / "codebook.json"), "-o", str(tmp_path / "r")])
    assert result.exit_code == 3
    assert "sha256" in result.output
