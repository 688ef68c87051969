"""README.md: its examples on the bundled fixtures are what the commands print."""

from __future__ import annotations

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
    import re

    links = set(re.findall(r"\]\((docs/[^)#]+)\)", README))
    assert links and all((ROOT / link).is_file() for link in links), links
