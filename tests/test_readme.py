"""README.md: its examples on the bundled fixtures are what the commands print."""

from __future__ import annotations

import re
import shlex
import shutil
from contextlib import chdir
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ltmc
from ltmc.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    """The README's commands, run as it shows them, in a folder holding fixtures/."""
    here = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "fixtures", here / "fixtures")
    cli = CliRunner()
    with chdir(here):
        mined = cli.invoke(app, ["mine-bonds", "fixtures", "-o", "codebook.json", "--vocab-size", "4096"])
        encoded = cli.invoke(app, ["encode", "fixtures", "-o", "out", "--codebook", "codebook.json"])
    return mined, encoded, ltmc.load_codebook(here / "out" / "codebook.json")


def test_the_mining_and_encoding_examples_match(walkthrough):
    mined, encoded, _ = walkthrough
    assert mined.exit_code == 0 and encoded.exit_code == 0
    wrote = next(line for line in mined.output.splitlines() if line.startswith("wrote "))
    assert wrote in README
    assert encoded.output.strip().splitlines()[0] in README


def test_the_python_api_example_matches(walkthrough):
    *_, book = walkthrough
    ids = book.encode("— Может, к обеду перестанет? — сказала она.")
    assert f"# {ids}" in README
    assert f"# {[book.piece_of(i) for i in ids]}" in README


def test_the_sentence_worked_by_hand_in_formats_md_runs():
    worked = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8").split("## A sentence worked by hand", 1)[1]
    code = worked.split("```python\n", 1)[1].split("```", 1)[0]
    assert "pairing.pair" in code
    exec(compile(code, "formats.md", "exec"), {})


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _python_blocks(text: str) -> list[str]:
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_the_ids_and_text_examples_match(walkthrough, tmp_path):
    *_, book = walkthrough
    book.save(tmp_path / "codebook.json")
    block = README.split("```console\n$ ltmc ids ", 1)[1].split("```", 1)[0]
    ids_command, ids_line, text_command, text_line = ("$ ltmc ids " + block).splitlines()
    with chdir(tmp_path):
        for command, shown in ((ids_command, ids_line + "\n"), (text_command, text_line)):
            result = CliRunner().invoke(app, shlex.split(command.removeprefix("$ ltmc ")))
            assert result.exit_code == 0 and result.stdout == shown


def test_the_python_api_and_streaming_examples_run(walkthrough, tmp_path, capsys):
    *_, book = walkthrough
    here = tmp_path
    (here / "out").mkdir()
    book.save(here / "out" / "codebook.json")
    scope: dict = {}
    with chdir(here):
        for block in _python_blocks(_section("Python API"))[:2]:
            exec(compile(block, "README.md", "exec"), scope)
    assert capsys.readouterr().out == book.decode(scope["ids"]) + "\n"
    assert book.decode(book.encode("Мороз") + book.encode(" и солнце")) == "Мороз и солнце"  # as the README says


def test_the_huggingface_path_runs(walkthrough, tmp_path, capsys):
    pytest.importorskip("transformers")
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    train = _section("Train a model on it")
    blocks = _python_blocks(train)
    assert "AutoTokenizer.from_pretrained" in blocks[0] and "Trainer(" in blocks[0] and "TextStreamer" in blocks[1]
    here = tmp_path
    shutil.copytree(ROOT / "fixtures", here / "fixtures")
    cli = CliRunner()
    with chdir(here):
        assert cli.invoke(app, ["encode", "fixtures", "-o", "out", "--vocab-size", "4096"]).exit_code == 0
        assert cli.invoke(app, ["export", "out", "--format", "hf", "-o", "hf_out"]).exit_code == 0
        scope: dict = {}
        for block in blocks:
            exec(compile(block, "README.md", "exec"), scope)
    assert scope["trainer"].state.global_step >= 1
    assert (here / "run" / "final" / "codebook.json").is_file() and (here / "run" / "final" / "tokenizer_config.json").is_file()
    assert "\nМороз и солнце" in capsys.readouterr().out  # the streamer shows the prompt, then what follows


def _exit_code_table(text: str) -> str:
    start = text.index("| code | meaning |")
    return text[start : text.index("\n\n", start)]


def test_the_exit_code_tables_agree_with_each_other_and_the_code():
    from ltmc.errors import ExitCode

    failures = (ROOT / "docs" / "failures.md").read_text(encoding="utf-8")
    table = _exit_code_table(README)
    assert table == _exit_code_table(failures)
    codes = {int(row.split("|")[1]) for row in table.splitlines()[2:]}
    assert codes == {value for name, value in vars(ExitCode).items() if name.isupper()} | {130}


def test_the_readme_links_only_to_docs_that_exist():
    links = set(re.findall(r"\]\((docs/[^)#]+)\)", README))
    assert links and all((ROOT / link).is_file() for link in links), links


def test_the_own_model_example_trains_and_samples(tmp_path):
    pytest.importorskip("torch")
    block = _python_blocks(_section("Train ltmc's own model, flat or paired"))[0]
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures")
    cli = CliRunner()
    scope: dict = {}
    with chdir(tmp_path):
        assert cli.invoke(app, ["encode", "fixtures", "-o", "out", "--vocab-size", "4096"]).exit_code == 0
        export_line = re.search(r"# ltmc (export [^\n]*)", block).group(1)  # the export the example reads
        assert cli.invoke(app, shlex.split(export_line)).exit_code == 0
        exec(compile(block, "README.md", "exec"), scope)
    assert scope["config"].paired and scope["config"].tails == 2 and scope["places"].shape[1] == 3
    assert "punct" in scope["meta"]["tail_kinds"] and scope["is_tail"][scope["book"].encode(",")].all()
    assert len(scope["losses"]) == 20
    assert all(loss == loss and loss > 0 for loss in scope["losses"])  # finite nats, no NaN
