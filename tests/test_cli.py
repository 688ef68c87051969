"""ltmc.cli: every subcommand through typer's CliRunner, plus one real subprocess."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ltmc.cli import app
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode

TEXT = (
    "Утром над рекой стоял туман, и лодки у берега казались тенями.\n"
    "— Рано ещё, — сказал рыбак мальчику. — Садись рядом и смотри.\n"
    "Мальчик сел и стал смотреть, как рыбак вяжет узлы на сети.\n"
) * 8
FILES = {
    "prose.txt": TEXT.encode("utf-8"),
    "verse/one.txt": "Спит деревня у реки,\r\nспят усталые колёса.\r\n".encode("utf-8"),
    "legacy.txt": "Ветер гонит облака над широкими полями.\n".encode("cp1251") * 5,
    "empty.txt": b"",
}


@pytest.fixture
def cli():
    return CliRunner()


@pytest.fixture
def books(tmp_path, write_tree):
    return write_tree(tmp_path / "books", FILES)


@pytest.fixture
def encoded(cli, books, tmp_path, codebook_file):
    out = tmp_path / "out"
    result = cli.invoke(app, ["encode", str(books), "-o", str(out), "-c", str(codebook_file), "-w", "1"])
    assert result.exit_code == 0, result.output
    return out


def assert_user_error(result, code: int | None = None) -> None:
    """A mistake: non-zero exit, a message, no traceback and no stray exception."""
    assert result.exit_code != 0
    if code is not None:
        assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def assert_one_line_error(result, code: int) -> None:
    assert_user_error(result, code)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")


def _json(result) -> dict:
    return orjson.loads(result.stdout)


# -- help ---------------------------------------------------------------------------


def test_help_lists_the_commands(cli):
    result = cli.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("morph", "mine-bonds", "encode", "decode", "stats"):
        assert command in result.output


def test_help_keeps_square_brackets_that_are_not_markup(cli):
    result = cli.invoke(app, ["encode", "--help"], env={"COLUMNS": "300"})
    assert "pip install 'ltmc[dask]'" in result.output


def test_no_arguments_shows_help(cli):
    result = cli.invoke(app, [])
    assert "Usage" in result.output
    assert "Traceback" not in result.output


# -- morph --------------------------------------------------------------------------


def test_morph_json(cli, books):
    result = cli.invoke(app, ["morph", str(books / "prose.txt"), "--json", "--top", "5"])
    assert result.exit_code == 0, result.output
    report = _json(result)
    assert report["forms"] > 5
    assert len(report["top"]) == 5
    counts = [row["count"] for row in report["top"]]
    assert counts == sorted(counts, reverse=True)
    for row in report["top"]:
        assert row["stem"] + row["ending"] == row["form"]
        assert set(row) == {"form", "count", "lemma", "pos", "stem", "ending"}


def test_morph_table_on_terminal(cli, books):
    result = cli.invoke(app, ["morph", str(books / "prose.txt"), "-n", "3"])
    assert result.exit_code == 0, result.output
    assert "distinct forms" in result.stdout
    assert "рыбак" in result.stdout


def test_morph_parquet_output(cli, books, tmp_path):
    dest = tmp_path / "forms.parquet"
    result = cli.invoke(app, ["morph", str(books), "-o", str(dest)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(dest)
    assert table.column_names == ["form", "count", "lemma", "pos", "stem", "ending"]
    forms = dict(zip(table.column("form").to_pylist(), table.column("count").to_pylist()))
    assert forms["рыбак"] == 16
    assert forms["Ветер"] == 5  # from the cp1251 file, read as Cyrillic


def test_morph_reads_stdin(cli):
    result = cli.invoke(app, ["morph", "-", "--json"], input="кот кот пёс\n".encode())
    assert result.exit_code == 0, result.output
    top = _json(result)["top"]
    assert [(r["form"], r["count"]) for r in top] == [("кот", 2), ("пёс", 1)]


def test_morph_parquet_into_a_missing_folder_is_a_user_error(cli, books, tmp_path):
    result = cli.invoke(app, ["morph", str(books), "-o", str(tmp_path / "no" / "such" / "forms.parquet")])
    assert_user_error(result)


def test_morph_missing_input(cli, tmp_path):
    assert_one_line_error(cli.invoke(app, ["morph", str(tmp_path / "absent")]), ExitCode.USAGE)


# -- mine-bonds ---------------------------------------------------------------------


def test_mine_bonds_to_file(cli, books, tmp_path):
    dest = tmp_path / "book.json"
    result = cli.invoke(app, ["mine-bonds", str(books), "-o", str(dest), "-V", "600", "--json"])
    assert result.exit_code == 0, result.output
    summary = _json(result)
    book = Codebook.load(dest)
    assert summary["fingerprint"] == book.fingerprint
    assert summary["vocab_size"] == len(book) <= 600
    assert summary["budget"] == 600
    assert sum(summary["kinds"].values()) == len(book)


def test_mine_bonds_for_pairs(cli, books, tmp_path):
    flat = _json(cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "flat.json"), "-V", "600", "--json"]))
    result = cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "pairs.json"), "-V", "600", "--paired", "--json"])
    assert result.exit_code == 0, result.output
    summary = _json(result)
    assert summary["paired"] is True and flat["paired"] is False
    assert summary["fingerprint"] != flat["fingerprint"]
    assert summary["kinds"].get("word", 0) < flat["kinds"].get("word", 0)


def test_mine_bonds_objective(cli, books, tmp_path):
    likely = _json(cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "likely.json"), "-V", "600", "--json"]))
    result = cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "fewest.json"), "-V", "600", "--objective", "tokens", "--json"])
    assert result.exit_code == 0, result.output
    fewest = _json(result)
    assert (likely["objective"], fewest["objective"]) == ("likelihood", "tokens")
    assert fewest["fingerprint"] != likely["fingerprint"]
    pairs = cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "pairs.json"), "-V", "600", "--paired", "--objective", "likelihood"])
    assert_user_error(pairs, 2)
    assert "--objective tokens" in pairs.output and not (tmp_path / "pairs.json").exists()
    assert_user_error(cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "x.json"), "--objective", "shortest"]), 2)


def test_mine_bonds_count_power(cli, books, tmp_path):
    plain = _json(cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "plain.json"), "-V", "600", "--json"]))
    result = cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "rare.json"), "-V", "600", "--count-power", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    rare = _json(result)
    assert (plain["count_power"], rare["count_power"]) == (1.0, 0.5)
    assert rare["fingerprint"] != plain["fingerprint"]
    assert_user_error(cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "x.json"), "--count-power", "1.5"]), 2)


def test_mine_bonds_to_stdout(cli, books):
    result = cli.invoke(app, ["mine-bonds", str(books), "-o", "-", "-V", "600"])
    assert result.exit_code == 0, result.output
    book = Codebook.from_json(result.stdout_bytes)
    assert 0 < len(book) <= 600
    text = "Мальчик сел и стал смотреть."
    assert book.decode(book.encode(text)) == text


def test_mine_bonds_too_small_vocab_is_a_usage_error(cli, books, tmp_path):
    result = cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "b.json"), "-V", "10"])
    assert_user_error(result, 2)
    assert not (tmp_path / "b.json").exists()


def test_mine_bonds_into_a_directory_is_a_user_error(cli, books, tmp_path):
    (tmp_path / "taken").mkdir()
    result = cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "taken"), "-V", "600"])
    assert_user_error(result)


def test_mine_bonds_without_output_option(cli, books):
    assert_user_error(cli.invoke(app, ["mine-bonds", str(books)]), 2)


# -- encode -------------------------------------------------------------------------


def test_encode_json_summary(cli, books, tmp_path, codebook_file):
    out = tmp_path / "out"
    result = cli.invoke(app, ["encode", str(books), "-o", str(out), "-c", str(codebook_file), "-w", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = _json(result)
    assert summary["documents"] == len(FILES)
    assert summary["bytes"] == sum(len(b) for b in FILES.values())
    assert summary["up_to_date"] is False and summary["failed"] == 0
    again = _json(cli.invoke(app, ["encode", str(books), "-o", str(out), "-c", str(codebook_file), "--json"]))
    assert again["up_to_date"] is True


def test_encode_mines_a_codebook_when_none_is_given(cli, books, tmp_path):
    out = tmp_path / "out"
    result = cli.invoke(app, ["encode", str(books), "-o", str(out), "-V", "700", "-w", "1"])
    assert result.exit_code == 0, result.output
    assert len(Codebook.load(out / "codebook.json")) <= 700


def test_encode_stdin(cli, tmp_path, codebook_file):
    out = tmp_path / "out"
    data = TEXT.encode("utf-8") + "конец без перевода строки".encode("utf-8")
    result = cli.invoke(app, ["encode", "-", "-o", str(out), "-c", str(codebook_file), "-w", "1"], input=data)
    assert result.exit_code == 0, result.output
    restored = cli.invoke(app, ["decode", str(out), "-o", "-", "-w", "1"])
    assert restored.exit_code == 0, restored.output
    assert restored.stdout_bytes == data


def test_encode_missing_input(cli, tmp_path, codebook_file):
    result = cli.invoke(app, ["encode", str(tmp_path / "absent"), "-o", str(tmp_path / "out"), "-c", str(codebook_file)])
    assert_one_line_error(result, ExitCode.USAGE)
    assert not (tmp_path / "out").exists()


def test_encode_missing_codebook(cli, books, tmp_path):
    result = cli.invoke(app, ["encode", str(books), "-o", str(tmp_path / "out"), "-c", str(tmp_path / "nope.json")])
    assert_one_line_error(result, ExitCode.USAGE)


def test_encode_corrupt_codebook(cli, books, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    result = cli.invoke(app, ["encode", str(books), "-o", str(tmp_path / "out"), "-c", str(bad)])
    assert_one_line_error(result, ExitCode.DATA)


def test_encode_output_is_a_file(cli, books, tmp_path, codebook_file):
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    result = cli.invoke(app, ["encode", str(books), "-o", str(blocker), "-c", str(codebook_file), "-w", "1"])
    assert_one_line_error(result, ExitCode.IO)


def test_encode_skips_a_binary_file_and_exits_nonzero(cli, books, tmp_path, codebook_file):
    (books / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    result = cli.invoke(app, ["encode", str(books), "-o", str(tmp_path / "out"), "-c", str(codebook_file), "-w", "1"])
    assert_user_error(result, ExitCode.FAILURE)
    assert "picture.png" in result.stderr
    strict = cli.invoke(app, ["encode", str(books), "-o", str(tmp_path / "strict"), "-c", str(codebook_file), "--strict"])
    assert_one_line_error(strict, ExitCode.DATA)


def test_encode_zero_workers_is_a_usage_error(cli, books, tmp_path, codebook_file):
    result = cli.invoke(app, ["encode", str(books), "-o", str(tmp_path / "out"), "-c", str(codebook_file), "-w", "0"])
    assert_user_error(result, 2)


# -- decode -------------------------------------------------------------------------


def test_decode_to_folder(cli, encoded, tmp_path, read_tree):
    dest = tmp_path / "restored"
    result = cli.invoke(app, ["decode", str(encoded), "-o", str(dest), "-w", "2"])
    assert result.exit_code == 0, result.output
    assert read_tree(dest) == FILES
    assert f"restored {len(FILES)} files" in result.stderr


def test_decode_to_stdout(cli, encoded):
    result = cli.invoke(app, ["decode", str(encoded), "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b"".join(FILES[name] for name in sorted(FILES))


def test_decode_verify(cli, encoded):
    result = cli.invoke(app, ["decode", str(encoded), "--verify"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("ok  ") == len(FILES)
    as_json = _json(cli.invoke(app, ["decode", str(encoded), "--verify", "--json"]))
    assert as_json == {"documents": len(FILES), "bytes": sum(len(b) for b in FILES.values()), "mismatches": []}


def test_decode_verify_finds_a_tampered_manifest(cli, encoded):
    manifest_path = encoded / "manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes())
    doc = next(d for d in manifest["documents"] if d["path"] == "prose.txt")
    doc["sha256"] = "0" * 64
    manifest_path.write_bytes(orjson.dumps(manifest))
    result = cli.invoke(app, ["decode", str(encoded), "--verify"])
    assert_user_error(result, ExitCode.FAILURE)
    assert "MISMATCH  prose.txt" in result.stderr


def test_decode_needs_an_output_or_verify(cli, encoded):
    assert_one_line_error(cli.invoke(app, ["decode", str(encoded)]), ExitCode.USAGE)


def test_decode_missing_directory(cli, tmp_path):
    assert_one_line_error(cli.invoke(app, ["decode", str(tmp_path / "absent"), "--verify"]), ExitCode.USAGE)


def test_decode_not_an_output_directory(cli, books, tmp_path):
    result = cli.invoke(app, ["decode", str(books), "-o", str(tmp_path / "restored")])
    assert_one_line_error(result, ExitCode.DATA)


def test_decode_with_a_foreign_codebook(cli, encoded, tmp_path):
    other = tmp_path / "other.json"
    Codebook.from_entries([("word", " другой")]).save(other)
    result = cli.invoke(app, ["decode", str(encoded), "--verify", "-c", str(other)])
    assert_one_line_error(result, ExitCode.DATA)


def test_decode_truncated_shard(cli, encoded, tmp_path):
    shard = next(encoded.glob("shard-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:100])
    result = cli.invoke(app, ["decode", str(encoded), "-o", str(tmp_path / "restored")])
    assert_one_line_error(result, ExitCode.DATA)


# -- stats --------------------------------------------------------------------------


def test_stats_json(cli, encoded):
    result = cli.invoke(app, ["stats", str(encoded), "--json"])
    assert result.exit_code == 0, result.output
    report = _json(result)
    for key in ("bytes", "chars", "words", "scenes", "tokens", "vocab_size"):
        assert key in report
    assert report["bytes"] == sum(len(b) for b in FILES.values())
    assert report["documents"] == len(FILES)


def test_stats_table(cli, encoded):
    result = cli.invoke(app, ["stats", str(encoded)])
    assert result.exit_code == 0, result.output
    assert "chars_per_token" in result.stdout
    assert "tokens by kind" in result.stdout


def test_stats_missing_directory(cli, tmp_path):
    assert_one_line_error(cli.invoke(app, ["stats", str(tmp_path / "absent"), "--json"]), ExitCode.USAGE)


def test_stats_corrupt_manifest(cli, encoded):
    (encoded / "manifest.json").write_bytes(b"{")
    assert_one_line_error(cli.invoke(app, ["stats", str(encoded)]), ExitCode.DATA)


def test_unknown_option_is_a_usage_error(cli, encoded):
    assert_user_error(cli.invoke(app, ["stats", str(encoded), "--no-such-option"]), 2)


# -- the installed program ----------------------------------------------------------


def test_python_dash_m_ltmc_is_available():
    # `python -m ltmc` needs ltmc/__main__.py.
    assert importlib.util.find_spec("ltmc.__main__") is not None


def test_the_cli_asks_for_one_blas_thread_unless_the_user_chose():
    probe = "import sys, os; import ltmc.cli; import numpy; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout.strip() == "1"
    # a user's own setting wins
    chosen = subprocess.run([sys.executable, "-c", probe], env=env | {"OPENBLAS_NUM_THREADS": "3"}, capture_output=True, text=True)
    assert chosen.stdout.strip() == "3"


def test_importing_ltmc_loads_nothing_heavy_until_used():
    probe = "import sys, ltmc; before = 'numpy' in sys.modules; ltmc.Codebook; print(before, 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.split() == ["False", "True"]


def test_a_command_parses_its_options_without_pydantic(tmp_path):
    # typer 0.29 builds a pydantic adapter per option: ~0.1 s of every command's
    # start-up, which no number of workers shares (pyproject.toml keeps typer below it).
    probe = (
        "import sys; from typer.testing import CliRunner; from ltmc.cli import app; "
        f"r = CliRunner().invoke(app, ['decode', {str(tmp_path / 'missing')!r}, '--verify', '-w', '1']); "
        "print(r.exit_code, 'pydantic' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.split() == [str(int(ExitCode.USAGE)), "False"]


def test_encode_and_decode_run_without_the_modules_they_do_not_need(tmp_path, books, codebook_file, read_tree):
    # pyarrow.compute (~45 ms to import), and rich's progress bar and tables when
    # stderr is no terminal, are start-up that no number of workers shares.
    out, restored = tmp_path / "out", tmp_path / "restored"
    probe = (
        "import sys; from typer.testing import CliRunner; from ltmc.cli import app; "
        f"e = CliRunner().invoke(app, ['encode', {str(books)!r}, '-o', {str(out)!r}, '-c', {str(codebook_file)!r}, '-w', '1']); "
        f"d = CliRunner().invoke(app, ['decode', {str(out)!r}, '-o', {str(restored)!r}, '-w', '2']); "
        "print(e.exit_code, d.exit_code, *(m for m in ('pyarrow.compute', 'rich.progress', 'rich.table') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["0", "0"], done.stderr
    assert read_tree(restored) == FILES


def test_installed_ltmc_end_to_end(tmp_path, books, codebook_file, read_tree):
    exe = shutil.which("ltmc")
    command = [exe] if exe else [sys.executable, "-m", "ltmc"]
    out, restored = tmp_path / "out", tmp_path / "restored"
    encode = subprocess.run(
        [*command, "encode", str(books), "-o", str(out), "-c", str(codebook_file), "-w", "2", "--json"],
        capture_output=True,
        timeout=300,
    )
    assert encode.returncode == 0, encode.stderr.decode(errors="replace")
    assert orjson.loads(encode.stdout)["documents"] == len(FILES)
    decode = subprocess.run([*command, "decode", str(out), "-o", str(restored)], capture_output=True, timeout=300)
    assert decode.returncode == 0, decode.stderr.decode(errors="replace")
    assert b"Traceback" not in encode.stderr + decode.stderr
    assert read_tree(restored) == FILES
    # The program leaves with os._exit: what it printed must all be there, and in a pipe.
    piped = subprocess.run([*command, "decode", str(out), "-o", "-"], capture_output=True, timeout=300)
    listed = orjson.loads((out / "manifest.json").read_bytes())["documents"]
    assert piped.returncode == 0
    assert piped.stdout == b"".join(FILES[d["path"]] for d in listed)
    failing = subprocess.run([*command, "decode", str(tmp_path / "absent"), "--verify"], capture_output=True, timeout=300)
    assert failing.returncode == ExitCode.USAGE
    assert b"Traceback" not in failing.stderr
    assert failing.stderr.decode().strip().startswith("error:")


# -- version, ids and text ---------------------------------------------------------------


def test_version(cli):
    import ltmc

    result = cli.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"ltmc {ltmc.__version__}\n"


def test_mine_bonds_with_special_tokens(cli, books, tmp_path):
    dest = tmp_path / "chat.json"
    result = cli.invoke(app, ["mine-bonds", str(books), "-o", str(dest), "-V", "600", "--special-token", "<|user|>", "--special-token", "<|assistant|>", "--json"])
    assert result.exit_code == 0, result.output
    book = Codebook.load(dest)
    assert list(_json(result)["special_tokens"]) == ["<|bos|>", "<|eos|>", "<|pad|>", "<|user|>", "<|assistant|>"] == list(book.special_ids)
    twice = cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "x.json"), "-V", "600", "--special-token", "<|eos|>"])
    assert_one_line_error(twice, ExitCode.USAGE)
    many = [arg for k in range(300) for arg in ("--special-token", f"<|role {k}|>")]
    too_many = cli.invoke(app, ["mine-bonds", str(books), "-o", str(tmp_path / "x.json"), "-V", "512", *many])
    assert_one_line_error(too_many, ExitCode.USAGE)
    assert "303 special tokens take 562 ids" in too_many.stderr
    assert not (tmp_path / "x.json").exists()


def test_ids_and_text_are_inverses(cli, codebook_file, codebook):
    text = "Мороз и солнце; день чудесный!"
    ids = cli.invoke(app, ["ids", text, "-c", str(codebook_file)])
    assert ids.exit_code == 0 and ids.stdout == " ".join(map(str, codebook.encode(text))) + "\n"
    back = cli.invoke(app, ["text", *ids.stdout.split(), "-c", str(codebook_file)])
    assert back.exit_code == 0 and back.stdout_bytes == text.encode()
    commas = cli.invoke(app, ["text", ",".join(ids.stdout.split()), "-c", str(codebook_file)])
    assert commas.stdout_bytes == text.encode()


def test_ids_and_text_read_stdin_and_speak_json(cli, codebook_file, codebook):
    data = "Он сказал: «Да».\n".encode() + b"\xff"  # a stray byte survives both ways
    ids = cli.invoke(app, ["ids", "-", "-c", str(codebook_file), "--json"], input=data)
    doc = _json(ids)
    assert doc["ids"] == codebook.encode(data.decode("utf-8", "surrogateescape")) and doc["tokens"] == len(doc["ids"])
    back = cli.invoke(app, ["text", "-", "-c", str(codebook_file)], input=ids.stdout)
    assert back.stdout_bytes == data
    shown = _json(cli.invoke(app, ["text", "-", "-c", str(codebook_file), "--json"], input=orjson.dumps(doc["ids"])))
    assert shown == {"text": data.decode("utf-8", "replace"), "bytes": len(data), "utf8": False}


def test_ids_gives_specials_one_id_only_when_asked(cli, codebook_file, codebook):
    eos = codebook.special_ids["<|eos|>"]
    plain = _json(cli.invoke(app, ["ids", "да<|eos|>", "-c", str(codebook_file), "--json"]))["ids"]
    special = _json(cli.invoke(app, ["ids", "да<|eos|>", "-c", str(codebook_file), "--json", "--special"]))["ids"]
    assert eos not in plain and special[-1] == eos


@pytest.mark.parametrize("args, code", [(["text", "12", "x7"], ExitCode.USAGE), (["text", "999999"], ExitCode.DATA)], ids=["not-a-number", "outside"])
def test_text_refuses_bad_ids_in_one_line(cli, codebook_file, args, code):
    assert_one_line_error(cli.invoke(app, [*args, "-c", str(codebook_file)]), code)


def test_ids_piped_into_text_in_real_processes(tmp_path, codebook_file):
    ltmc = [sys.executable, "-m", "ltmc"]
    text = "— Может, к обеду перестанет? — сказала она.\n"
    ids = subprocess.run([*ltmc, "ids", "-", "-c", str(codebook_file)], input=text.encode(), capture_output=True, timeout=120, check=True)
    back = subprocess.run([*ltmc, "text", "-", "-c", str(codebook_file)], input=ids.stdout, capture_output=True, timeout=120, check=True)
    assert back.stdout == text.encode()
    version = subprocess.run([*ltmc, "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("ltmc ")


def test_mine_bonds_without_bonds(tmp_path):
    fixtures = Path(__file__).parents[1] / "fixtures"
    result = CliRunner().invoke(app, ["mine-bonds", str(fixtures), "-o", str(tmp_path / "cb.json"), "--vocab-size", "4096", "--no-bonds", "--json"])
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["bonds"] is False and "bond" not in summary["kinds"] and summary["kinds"]["word"] > 0
