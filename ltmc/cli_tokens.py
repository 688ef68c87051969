"""The command line's token views: `show`, `ids`, `text` and `glyphs`. Like the rest of
the CLI they parse options, call the library and print; ltmc.cli imports this module
to add them to its ``app``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from ltmc import cli
from ltmc.cli import AsJson, _one_stdout, _print_json, app, err, handle_errors
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.file_outputs import claim_file

_SHOW_STYLES = {
    "word": "bold blue",
    "stem": "bold green",
    "ending": "bold yellow",
    "bond": "bold magenta",
    "punct": "bold red",
    "space": "dim",
    "byte": "bold white on red",
    "special": "reverse",
}


SHOW_LIMIT = 1 << 20  # characters `show` reads from stdin


@app.command()
@handle_errors
def show(
    text: Annotated[str, typer.Argument(help="Text to tokenize; '-' reads stdin.")],
    codebook: Annotated[Path, typer.Option("--codebook", "-c", help="Codebook to encode with.")],
    as_json: AsJson = False,
):
    """Print a sentence's tokens coloured by kind: words, stems, endings, bonds, punctuation, spaces.

    [bold]Example:[/] ltmc show "Мороз и солнце; день чудесный!" --codebook out/codebook.json
    """
    from rich.text import Text

    from ltmc.show import describe

    if text == "-":
        text = sys.stdin.read(SHOW_LIMIT + 1)  # never more: stdin may not end
        if len(text) > SHOW_LIMIT:
            raise LtmcError(f"<stdin>: more than {SHOW_LIMIT:,} characters; show is for a passage, encode a whole text with `ltmc encode -`", ExitCode.USAGE)
    shown = describe(Codebook.load(codebook), text)
    if as_json:
        _print_json(shown)
        return
    tokens, n_ids, n_positions = shown["pieces"], shown["tokens"], shown["positions"]
    view = Text()
    for i, t in enumerate(tokens):
        visible = t["text"].replace(" ", "·").replace("\t", "→").replace("\r", "␍").replace("\n", "↵\n")
        shade = "grey23" if i % 2 else "grey15"  # alternate backgrounds mark the boundaries
        style = _SHOW_STYLES.get(t["kind"], "")
        view.append(visible, style=style if t["kind"] == "byte" else f"{style} on {shade}")
    cli.out.print(view, soft_wrap=True)
    legend = Text()
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t["kind"]] = counts.get(t["kind"], 0) + len(t["ids"])
    for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        legend.append(f" {kind} {n} ", style=_SHOW_STYLES.get(kind, ""))
        legend.append(" ")
    ratio = len(text) / n_ids if n_ids else 0.0
    legend.append(f"· {n_ids} tokens ({n_positions} paired positions), {len(text)} chars, {ratio:.2f} chars/token", style="dim")
    cli.out.print(legend)


def _read_stdin_text() -> str:
    return sys.stdin.buffer.read().decode("utf-8", "surrogateescape")  # stray bytes survive as byte ids


@app.command("ids")
@handle_errors
def text_to_ids(
    text: Annotated[str, typer.Argument(help="Text to turn into ids; '-' reads stdin.")],
    codebook: Annotated[Path, typer.Option("--codebook", "-c", help="Codebook to encode with.")],
    special: Annotated[bool, typer.Option("--special", help="Give the codebook's special tokens in the text (<|eos|> ...) one id each, instead of spelling them.")] = False,
    as_json: AsJson = False,
):
    """Turn text into token ids, space-separated (`ltmc text` turns them back).

    [bold]Examples:[/] ltmc ids "Мороз и солнце" -c codebook.json   ·   ltmc ids - -c codebook.json --json < story.txt
    """
    if text == "-":
        text = _read_stdin_text()
    token_ids = Codebook.load(codebook).encode(text, allowed_special="all" if special else ())
    if as_json:
        _print_json({"ids": token_ids, "tokens": len(token_ids)})
    else:
        print(" ".join(map(str, token_ids)))


def _parse_ids(words: list[str]) -> list[int]:
    """Ids from the command line or stdin: integers between spaces or commas, a JSON
    list, or `ltmc ids --json` output."""
    if words == ["-"]:
        data = sys.stdin.read()
        try:
            doc = orjson.loads(data)
            words = [str(i) for i in (doc["ids"] if isinstance(doc, dict) else doc)]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            words = [data]
    parts = [part for word in words for part in word.replace(",", " ").split()]
    bad = next((part for part in parts if not part.isdigit()), None)
    if bad is not None:
        raise LtmcError(f"{bad!r} is not a token id; give integers, such as: ltmc text 256 671 -c codebook.json", ExitCode.USAGE)
    return [int(part) for part in parts]


@app.command("text")
@handle_errors
def ids_to_text(
    token_ids: Annotated[list[str], typer.Argument(help="Token ids (spaces or commas between them); '-' reads them from stdin, also as JSON.")],
    codebook: Annotated[Path, typer.Option("--codebook", "-c", help="Codebook the ids were encoded with.")],
    as_json: AsJson = False,
):
    """Turn token ids back into text, exactly: the bytes, with no newline added.

    [bold]Examples:[/] ltmc text 256 671 260 -c codebook.json   ·   ltmc ids - -c codebook.json < a.txt | ltmc text - -c codebook.json
    """
    data = Codebook.load(codebook).decode_bytes(_parse_ids(token_ids))
    if as_json:
        text = data.decode("utf-8", "replace")
        _print_json({"text": text, "bytes": len(data), "utf8": text.encode() == data})
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


glyphs_app = typer.Typer(
    help="Glyph view: each token as one private-use character (U+F0000 + id), and back, exactly.",
    no_args_is_help=True,
)
app.add_typer(glyphs_app, name="glyphs")


@glyphs_app.command("to")
@handle_errors
def glyphs_to(
    out_dir: Annotated[Path, typer.Argument(help="An output directory written by `ltmc encode`.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Glyph file to write (UTF-8, one scene a line); '-' for stdout.")],
    as_json: AsJson = False,
):
    """Write every scene as a line of token glyphs.

    [bold]Example:[/] ltmc glyphs to out/ -o corpus.glyphs   ·   ltmc glyphs to out/ -o - | less
    """
    from ltmc import glyphs

    _one_stdout(output, as_json)
    claim_file(output, "glyphs", [out_dir])
    scenes = glyphs.write_glyphs(out_dir, dest=output)
    if as_json:
        _print_json({"glyph_file": output, "scenes": scenes})
    elif output != "-":
        err.print(f"wrote {scenes:,} scenes as glyphs to {output}")


@glyphs_app.command("from")
@handle_errors
def glyphs_from(
    glyph_file: Annotated[str, typer.Argument(help="A glyph file written by `ltmc glyphs to`; '-' reads stdin.")],
    codebook: Annotated[Path, typer.Option("--codebook", "-c", help="The codebook the glyphs were written with.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output directory to rebuild (shards, codebook, manifest).")],
    as_json: AsJson = False,
):
    """Rebuild an output directory from a glyph file, exactly.

    [bold]Examples:[/] ltmc glyphs from corpus.glyphs --codebook out/codebook.json -o out2/   ·   ltmc glyphs to out/ -o - | sed … | ltmc glyphs from - -c out/codebook.json -o out2/
    """
    from ltmc import glyphs

    totals = glyphs.read_glyphs(glyph_file, codebook=Codebook.load(codebook), out_dir=output)
    if as_json:
        _print_json(totals | {"out_dir": str(output)})
    else:
        err.print(f"rebuilt {output}: {totals['documents']} files, {totals['scenes']:,} scenes, {totals['tokens']:,} tokens")
