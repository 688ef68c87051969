"""The command line: parses options, calls the library, prints. Nothing else.

Its length (about 440 lines) is the corpus commands' options, each with its help
text; the token views are in ``cli_tokens``."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

# numpy, which pyarrow loads, starts OpenBLAS threads that ltmc never uses. Their
# spinning took 0.5-1.3 s of CPU from the workers of a 2-worker encode of 122 MB
# (median of 3 runs each). It must be set before the import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import orjson  # noqa: E402
import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

try:  # newer typer carries its own copy of click
    from typer._click import exceptions as click_errors  # noqa: E402
except ImportError:  # pragma: no cover - typer that uses click itself
    from click import exceptions as click_errors  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402

from ltmc import pipeline, program, restore  # noqa: E402
from ltmc.codebook import Codebook  # noqa: E402
from ltmc.costmodel import ModelShape, parse_model  # noqa: E402
from ltmc.engines.local import default_workers  # noqa: E402
from ltmc.errors import ExitCode, LtmcError  # noqa: E402
from ltmc.file_outputs import claim_file  # noqa: E402
from ltmc.files import write_atomic, write_parquet  # noqa: E402
from ltmc.inputs import total_size  # noqa: E402
from ltmc.sources import Selection  # noqa: E402

err = Console(stderr=True, soft_wrap=True)  # one line per message, however wide the log


def _usage_line(error: click_errors.ClickException) -> str:
    """A usage error as the one line every other error is: what is wrong, where to look."""
    message = " ".join(error.format_message().split()).rstrip(".")
    context = getattr(error, "ctx", None)
    return f"{message}; see `{context.command_path if context else 'ltmc'} --help`"


class _Notes(logging.Handler):
    """What the library tells the user on the way (inputs left out, an encoding only
    guessed) as ``note:`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[yellow]note:[/] {escape(record.getMessage())}", highlight=False)


_notes = logging.getLogger("ltmc")
_notes.addHandler(_Notes())
_notes.setLevel(logging.INFO)
_notes.propagate = False


class OneLineErrors(TyperGroup):
    """Usage errors (a missing argument, an unknown option, a value out of range) become
    one ``error:`` line and exit 2, as every other error does, not click's boxed panel."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        with program.stopped_by_exception():
            try:
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            except click_errors.NoArgsIsHelpError:
                code = ExitCode.USAGE  # the help was printed as the error was made
            except click_errors.ClickException as error:
                err.print(f"[bold red]error:[/] {escape(_usage_line(error))}", highlight=False)
                code = error.exit_code
            except (typer.Abort, KeyboardInterrupt):
                code = ExitCode.INTERRUPTED
            if program.received is not None:  # typer made the interruption exit 130, whichever signal it was
                err.print(program.MESSAGES[program.received], highlight=False)
                code = program.EXIT_CODES[program.received]
            elif code == ExitCode.INTERRUPTED:
                err.print(program.MESSAGES[signal.SIGINT], highlight=False)
        if not isinstance(code, int):
            code = ExitCode.OK  # a command's return value is not an exit code
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name="ltmc",
    cls=OneLineErrors,
    help="Compress a corpus of books into short, lossless token streams for small language models.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
out = Console()


def _print_version(value: bool) -> None:
    if value:
        from ltmc import __version__

        print(f"ltmc {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print ltmc's version and exit.")] = False,
) -> None:
    pass


Workers = Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes (default: all available cores).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
Strict = Annotated[bool, typer.Option("--strict", help="Stop at the first input that fails instead of skipping it.")]
Include = Annotated[Optional[list[str]], typer.Option("--include", help="In folders, only files matching this glob (path below the folder or file name; repeatable).")]
Exclude = Annotated[Optional[list[str]], typer.Option("--exclude", help="In folders, leave out files matching this glob, e.g. --exclude info.csv (repeatable).")]


def _selection(include: list[str] | None, exclude: list[str] | None) -> Selection:
    return Selection(tuple(include or ()), tuple(exclude or ()))


def _one_stdout(output: str | None, as_json: bool) -> None:
    if output == "-" and as_json:
        raise LtmcError("-o - and --json both write to stdout; write the output to a file, or leave out --json", ExitCode.USAGE)


def _not_stdout(path: str | Path, option: str, writes: str) -> None:
    """Refuse '-' where the output is not a stream: a shell user means stdout by it, not a file named '-'."""
    if str(path) == "-":
        raise LtmcError(f"{option} -: this command writes {writes}, which cannot go to stdout; give a path", ExitCode.USAGE)


def handle_errors(command):
    """The one place where a domain error becomes a message and an exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except LtmcError as error:
            err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
            raise typer.Exit(error.exit_code) from None

    return wrapper


@contextmanager
def progress_bar(description: str, total: int | None):
    """A byte-progress bar on stderr when it is a terminal; the callback advances it.
    Elsewhere there is no callback, and rich's progress module is not even loaded:
    commands in pipelines and Makefiles start sooner."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)




def _print_json(obj) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def _report_failures(failures) -> None:
    for failure in failures:
        err.print(f"[yellow]skipped:[/] {escape(failure.message)}", highlight=False, soft_wrap=True)
    if failures:
        err.print(f"{len(failures)} input(s) failed; the rest were processed (use --strict to stop at the first)", soft_wrap=True)


@app.command()
@handle_errors
def morph(
    paths: Annotated[list[str], typer.Argument(help="Files or directories of text; '-' reads stdin.")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the full table as Parquet.")] = None,
    top: Annotated[int, typer.Option("--top", "-n", min=0, help="Rows shown on the terminal or in --json.")] = 30,
    workers: Workers = default_workers(),
    as_json: AsJson = False,
    strict: Strict = False,
    include: Include = None,
    exclude: Exclude = None,
):
    """Analyse every distinct word form: count, lemma, part of speech, stem and ending.

    [bold]Example:[/] ltmc morph corpus/ -o forms.parquet
    """
    if output:
        _not_stdout(output, "-o", "a Parquet file (--json prints the top rows)")
        claim_file(output, "morph", paths)
    with progress_bar("analysing", total_size(paths, _selection(include, exclude))) as advance:
        table, failures = pipeline.morph_corpus(paths, progress=advance, strict=strict, selection=_selection(include, exclude), workers=workers)
    _report_failures(failures)
    if output:
        write_parquet(output, table)
        err.print(f"wrote {table.num_rows} forms to {output}")
    rows = table.slice(0, top).to_pylist()
    if as_json:
        _print_json({"forms": table.num_rows, "top": rows})
    elif not output:
        from rich.table import Table

        view = Table("form", "count", "lemma", "pos", "stem | ending", title=f"{table.num_rows} distinct forms")
        for row in rows:
            view.add_row(row["form"], str(row["count"]), row["lemma"], row["pos"], f"{row['stem']}[dim]|[/]{row['ending']}")
        out.print(view)
    if failures:
        raise typer.Exit(ExitCode.FAILURE)


@app.command("mine-bonds")
@handle_errors
def mine_bonds(
    paths: Annotated[list[str], typer.Argument(help="Files or directories of text; '-' reads stdin.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Codebook file to write; '-' for stdout.")],
    vocab_size: Annotated[int, typer.Option("--vocab-size", "-V", min=512, help="Total number of ids, bytes included.")] = pipeline.DEFAULT_VOCAB_SIZE,
    paired: Annotated[bool, typer.Option("--paired", help="Choose the ids for the fewest paired positions (ltmc export --paired), not the fewest ids.")] = False,
    special_tokens: Annotated[list[str], typer.Option("--special-token", help="A special token of your own, such as a chat role (repeatable); BOS, EOS and PAD are always there.")] = [],  # noqa: B006
    bonds: Annotated[bool, typer.Option("--bonds/--no-bonds", help="Let runs of pieces (', что') take ids. --no-bonds gave a model fewer bits per byte (docs/benchmarks.md).")] = True,
    objective: Annotated[
        Optional[str],
        typer.Option("--objective", help="Prune by 'likelihood' (a unigram model of the ids; the default for ids) or by 'tokens' saved (fewest ids; the only one with --paired)."),
    ] = None,
    count_power: Annotated[
        float,
        typer.Option("--count-power", min=0.01, max=1.0, help="Weigh each word form by its count to this power: below 1, ids go from common whole forms to the stems and pieces of rarer words. 0.7 gave fewer bits per byte once a model trains on more text (docs/benchmarks.md)."),
    ] = 1.0,
    workers: Workers = default_workers(),
    as_json: AsJson = False,
    strict: Strict = False,
    include: Include = None,
    exclude: Exclude = None,
):
    """Learn a codebook (bytes, characters, endings, stems, word forms, hyperbonds) from a corpus.

    [bold]Examples:[/] ltmc mine-bonds corpus/ -o codebook.json --vocab-size 32768   ·   ltmc mine-bonds corpus/ -o pairs.json --paired   ·   ltmc mine-bonds corpus/ -o chat.json --special-token '<|user|>' --special-token '<|assistant|>'
    """
    _one_stdout(output, as_json)
    claim_file(output, "codebook", paths)
    selection = _selection(include, exclude)
    with progress_bar("mining", total_size(paths, selection)) as advance:
        book, report, failures = pipeline.mine_corpus(
            paths, vocab_size=vocab_size, progress=advance, strict=strict, paired=paired, special_tokens=special_tokens, selection=selection, bonds=bonds, objective=objective, workers=workers, count_power=count_power
        )
    _report_failures(failures)
    write_atomic(output, book.to_json(), allow_stdout=True)
    summary = {
        "codebook": output,
        "fingerprint": book.fingerprint,
        "vocab_size": len(book),
        "budget": vocab_size,
        "paired": paired,
        "bonds": bonds,
        "objective": report.objective,
        "count_power": count_power,
        "special_tokens": book.special_ids,
        "kinds": dict(report.kinds),
    }
    if not report.filled:
        err.print(f"note: the corpus is too small to fill {vocab_size} ids; the codebook has {len(book)}")
    if as_json:
        _print_json(summary)
    elif output != "-":
        err.print(f"wrote {output}: {len(book)} ids, {book.fingerprint}")
    if failures:
        raise typer.Exit(ExitCode.FAILURE)


@app.command()
@handle_errors
def encode(
    paths: Annotated[list[str], typer.Argument(help="Files or directories (read recursively); '-' reads stdin.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output directory for shards, codebook and manifest.")],
    codebook: Annotated[Optional[Path], typer.Option("--codebook", "-c", help="Codebook to use; without it one is mined from the input.")] = None,
    vocab_size: Annotated[Optional[int], typer.Option("--vocab-size", "-V", min=512, help=f"Ids of the codebook mined when none is given (default {pipeline.DEFAULT_VOCAB_SIZE}).")] = None,
    workers: Workers = default_workers(),
    force: Annotated[bool, typer.Option("--force", help="Encode even if the output is up to date.")] = False,
    as_json: AsJson = False,
    strict: Strict = False,
    engine: Annotated[str, typer.Option("--engine", help="local: a process pool; dask: a Dask cluster (pip install 'ltmc\\[dask]'). Same output.")] = "local",
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="With --engine dask: scheduler address (tcp://HOST:8786); default: a local cluster of --workers.")] = None,
    include: Include = None,
    exclude: Exclude = None,
):
    """Encode books into Parquet shards of scene tokens.

    [bold]Examples:[/] ltmc encode corpus/ -o out/ --codebook codebook.json   ·   ltmc encode corpus/ -o out/ --exclude info.csv
    """
    _not_stdout(output, "-o", "a folder (shards, codebook, manifest)")
    book = Codebook.load(codebook) if codebook else None
    with progress_bar("encoding", total_size(paths, _selection(include, exclude))) as advance:
        result = pipeline.encode_corpus(
            paths, out_dir=output, codebook=book, vocab_size=vocab_size, workers=workers, strict=strict, progress=advance, force=force, engine=engine, scheduler=scheduler, selection=_selection(include, exclude)
        )
    _report_failures(result.failures)
    summary = {
        "out_dir": str(output),
        "up_to_date": result.up_to_date,
        "documents": result.documents,
        "scenes": result.scenes,
        "tokens": result.tokens,
        "bytes": result.bytes,
        "failed": len(result.failures),
    }
    if as_json:
        _print_json(summary)
    elif result.up_to_date:
        err.print(f"{output} is up to date: same inputs, same codebook; nothing to do (--force re-encodes)")
    else:
        err.print(f"encoded {result.documents} files, {result.bytes:,} bytes → {result.scenes:,} scenes, {result.tokens:,} tokens in {output}")
    if result.failures:
        raise typer.Exit(ExitCode.FAILURE)


@app.command()
@handle_errors
def decode(
    out_dir: Annotated[Path, typer.Argument(help="An output directory written by `ltmc encode`.")],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Directory to restore into; '-' concatenates to stdout.")] = None,
    codebook: Annotated[Optional[Path], typer.Option("--codebook", "-c", help="Codebook to decode with (default: the one in OUT_DIR).")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Check every restored file against the manifest's sha256; write nothing.")] = False,
    workers: Workers = default_workers(),
    as_json: AsJson = False,
):
    """Restore every input file, byte for byte.

    [bold]Example:[/] ltmc decode out/ -o restored/   ·   ltmc decode out/ --verify
    """
    if output is None and not verify:
        raise LtmcError("decode needs -o DIR (or -o - for stdout), or --verify", ExitCode.USAGE)
    if output is not None and verify:
        raise LtmcError("--verify checks the files without writing them; leave out -o, or leave out --verify to restore", ExitCode.USAGE)
    _one_stdout(output, as_json)
    with progress_bar("decoding", None) as advance:
        result = restore.decode_corpus(out_dir, dest=output, codebook_path=codebook, verify=verify, workers=workers, progress=advance)
    if as_json:
        _print_json({"documents": result.documents, "bytes": result.bytes, "mismatches": result.mismatches})
    elif verify:
        for name, ok in result.checked:
            err.print(f"{'[green]ok[/]' if ok else '[bold red]MISMATCH[/]'}  {escape(name)}", highlight=False, soft_wrap=True)
    if result.mismatches:
        raise LtmcError(f"{len(result.mismatches)} file(s) do not match the manifest's sha256: {', '.join(result.mismatches[:5])}", ExitCode.FAILURE)
    if output != "-" and not as_json:
        err.print(f"{'verified' if verify else 'restored'} {result.documents} files, {result.bytes:,} bytes")


@app.command()
@handle_errors
def stats(
    out_dir: Annotated[Path, typer.Argument(help="An output directory written by `ltmc encode`.")],
    as_json: AsJson = False,
    report_file: Annotated[Optional[Path], typer.Option("--report", help="Also write a self-contained HTML report (charts, baselines, cost model).")] = None,
    model: Annotated[str, typer.Option("--model", help="Model shape for the report's cost model (n_head optional).")] = "d_model=256,n_layer=6,n_ctx=1024",
):
    """Report sizes, chars/token, tokens/word, paired positions and where the tokens go.

    [bold]Example:[/] ltmc stats out/ --json   ·   ltmc stats out/ --report report.html
    """
    from rich.table import Table

    from ltmc import stats as stats_mod

    shape = parse_model(model)  # checked even without --report: a mistyped option is not ignored
    if report_file:
        _not_stdout(report_file, "--report", "an HTML file")
        claim_file(report_file, "report", [out_dir])
        _write_report(out_dir, report_file, shape)
    report = stats_mod.collect(out_dir)
    if as_json:
        _print_json(report)
        return
    table = Table("measure", "value", title=f"ltmc stats: {out_dir}")
    for key in ("documents", "bytes", "chars", "words", "scenes", "tokens", "chars_per_token", "tokens_per_word", "positions", "chars_per_position", "distinct_ids", "vocab_size"):
        value = report[key]
        table.add_row(key, f"{value:,}" if isinstance(value, int) else f"{value:.3f}")
    out.print(table)
    kinds = Table("kind", "share of tokens", title="tokens by kind")
    for kind, share in sorted(report["share_by_kind"].items(), key=lambda kv: -kv[1]):
        kinds.add_row(kind, f"{share:.1%}")
    out.print(kinds)
    for title, key in (("top hyperbonds", "top_bonds"), ("top endings", "top_endings")):
        view = Table("token", "count", title=title)
        for row in report[key]:
            view.add_row(repr(row["text"]), f"{row['count']:,}")
        out.print(view)


# -- export, report, show, glyphs ---------------------------------------------------------


def _write_report(out_dir: Path, dest: Path, shape: ModelShape) -> None:
    from ltmc import report as report_mod

    with err.status("writing the report (training the BPE baseline when the bench extras are installed)"):
        page, data = report_mod.build(out_dir, model=shape)
    report_mod.write(page, dest=dest)
    if not data["baselines_available"]:
        err.print("note: baselines left out of the report; install the bench extras: pip install -e '.[bench]'")
    err.print(f"wrote {dest}")


@app.command()
@handle_errors
def export(
    out_dir: Annotated[Path, typer.Argument(help="An output directory written by `ltmc encode`.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="nanogpt (train.bin/val.bin), llmc (llm.c .bin with header) or hf (Parquet input_ids).")],
    dest: Annotated[Path, typer.Option("-o", "--output", help="Folder to write the files into.")],
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Share of scenes for validation (by a hash of path and scene; at least one scene; 0 writes no validation files).")] = 0.1,
    paired: Annotated[bool, typer.Option("--paired", help="Positions of two ids (a stem or other head, and the ending that follows it; --place-width for more) instead of single ids; nanogpt and hf.")] = False,
    place_width: Annotated[int, typer.Option("--place-width", help="With --paired: ids a position holds, a head and up to N−1 continuations (3: a stem and two pieces in one position).")] = 2,
    punct_tails: Annotated[bool, typer.Option("--punct-tails", help="With --paired: punctuation continues a position too, so a comma shares the position of the word before it.")] = False,
    as_json: AsJson = False,
):
    """Write the token stream in a format trainers read (nanoGPT, llm.c, HuggingFace).

    [bold]Examples:[/] ltmc export out/ --format nanogpt -o data/books/   ·   ltmc export out/ -f hf --paired -o data/pairs/   ·   ltmc export out/ -f nanogpt --paired --place-width 3 --punct-tails -o data/places3/
    """
    from ltmc import export as export_mod

    _not_stdout(dest, "-o", "a folder of files")
    result = export_mod.export(out_dir, dest, fmt=fmt.lower(), val_fraction=val_fraction, paired=paired, place_width=place_width, punct_tails=punct_tails)
    if as_json:
        _print_json(result.to_dict())
        return
    err.print(
        f"wrote {fmt} to {dest}: {', '.join(result.files)} ({result.dtype}; train {result.scenes['train']:,} scenes, "
        f"{result.tokens['train']:,} tokens; val {result.scenes['val']:,} scenes, {result.tokens['val']:,} tokens)"
        + (f"; paired: train {result.positions['train']:,} positions, val {result.positions['val']:,}" if paired else "")
    )


# The token views (show, ids, text, glyphs) live in ltmc/cli_tokens.py; importing it adds
# them to ``app``. It comes last because it builds on everything above.
from ltmc import cli_tokens  # noqa: E402,F401


def main() -> None:
    """The ``ltmc`` program. It leaves without tearing the interpreter down: after a
    big encode that means freeing millions of cached pieces one by one (about
    0.4 s for 29 MB), and every output is written, closed and flushed by then."""
    try:
        app()
        code = ExitCode.OK
    except SystemExit as stop:
        code = stop.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = ExitCode.FAILURE
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # the reader left early (`| head`): what it did not read is not an error
    os._exit(code or ExitCode.OK)
