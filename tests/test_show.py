"""`ltmc show`: a sentence's tokens, coloured by kind."""

from __future__ import annotations

import orjson
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from ltmc import cli

from ltmc import pairing
from ltmc.cli import app
from ltmc.show import token_pieces

SENTENCE = "Старый рыбак сидел на берегу, и не глядя на воду, сказал: «Рано ещё»."


def test_pieces_rebuild_the_text_and_carry_kinds(codebook):
    pieces = token_pieces(codebook, SENTENCE)
    assert "".join(p["text"] for p in pieces) == SENTENCE
    assert sum(len(p["ids"]) for p in pieces) == len(codebook.encode(SENTENCE, joinable=False))
    kinds = {p["kind"] for p in pieces}
    assert "punct" in kinds
    assert kinds & {"word", "stem", "bond"}


def test_show_json(codebook_file, codebook):
    result = CliRunner().invoke(app, ["show", SENTENCE, "--codebook", str(codebook_file), "--json"])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    assert doc["tokens"] == len(codebook.encode(SENTENCE, joinable=False))
    assert doc["chars"] == len(SENTENCE)
    # Each continuation that follows a head shares its position.
    is_tail = pairing.tail_mask(codebook)
    ids = codebook.encode(SENTENCE, joinable=False)
    joined = sum(1 for a, b in zip(ids, ids[1:]) if is_tail[b] and not is_tail[a])
    assert doc["positions"] == doc["tokens"] - joined < doc["tokens"]
    assert "".join(p["text"] for p in doc["pieces"]) == SENTENCE


def test_show_prints_coloured_tokens(codebook_file, monkeypatch):
    monkeypatch.setattr(cli, "out", Console(force_terminal=True, color_system="truecolor", width=200))
    result = CliRunner().invoke(app, ["show", SENTENCE, "--codebook", str(codebook_file)])
    assert result.exit_code == 0, result.output
    assert "\x1b[" in result.stdout  # ANSI colours
    plain = Text.from_ansi(result.stdout).plain
    assert "Старый·рыбак·сидел" in plain  # spaces made visible
    assert "tokens" in plain and "chars/token" in plain and "punct" in plain


def test_show_reads_stdin_and_reports_a_bad_codebook(tmp_path, codebook_file):
    result = CliRunner().invoke(app, ["show", "-", "-c", str(codebook_file), "--json"], input="Мороз и солнце")
    assert result.exit_code == 0
    assert orjson.loads(result.stdout)["chars"] == len("Мороз и солнце")
    missing = CliRunner().invoke(app, ["show", "слово", "-c", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2
