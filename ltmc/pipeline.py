"""The commands that read a corpus, as library calls: ``encode_corpus``, ``mine_corpus``
and ``morph_corpus``. Each opens its inputs (``ltmc.inputs``) and composes the stages
on an engine (``ltmc.engines``); decoding is ``ltmc.restore``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ltmc import shards
from ltmc.codebook import DEFAULT_SPECIALS, Codebook
from ltmc.engines.local import LocalEngine, few_collections
from ltmc.errors import ExitCode, LtmcError
from ltmc.inputs import Failure, Input, open_inputs
from ltmc.mining import MiningReport, mine
from ltmc.pretokenize import WORD_PATTERN
from ltmc.shard_writer import claimed, write_output
from ltmc.sources import STDIN, Selection
from ltmc.stages import MORPH_SCHEMA, analyse_all

Progress = Callable[[int], None]
ENGINES = ("local", "dask")
DEFAULT_VOCAB_SIZE = 32768  # ids of a codebook mined when none is given (encode, mine-bonds)


@dataclass
class EncodeResult:
    out_dir: Path
    documents: int = 0
    scenes: int = 0
    tokens: int = 0
    bytes: int = 0
    up_to_date: bool = False
    mining: MiningReport | None = None
    failures: list[Failure] = field(default_factory=list)

    def record(self, totals: dict) -> None:
        """Take the totals a manifest was written with."""
        self.documents, self.scenes, self.tokens, self.bytes = (totals[k] for k in ("documents", "scenes", "tokens", "bytes"))


def encode_corpus(
    arguments: list[str],
    out_dir: str | Path,
    codebook: Codebook | None = None,
    vocab_size: int | None = None,
    workers: int = 1,
    strict: bool = False,
    progress: Progress | None = None,
    force: bool = False,
    engine: str = "local",
    scheduler: str | None = None,
    selection: Selection = Selection(),
) -> EncodeResult:
    """Encode the files named by ``arguments`` into ``out_dir`` (shards, codebook,
    manifest) with ``codebook``, or one of ``vocab_size`` ids (default
    ``DEFAULT_VOCAB_SIZE``) mined from them; on
    ``engine`` "local" (``workers`` processes) or "dask" (a cluster at ``scheduler``,
    or a local one of ``workers`` processes). Nothing is written when the output is
    up to date, unless ``force``."""
    if engine not in ENGINES:
        raise LtmcError(f"--engine must be local or dask (got {engine!r})", ExitCode.USAGE)
    if scheduler and engine != "dask":
        raise LtmcError("--scheduler is the address of a Dask cluster; add --engine dask", ExitCode.USAGE)
    if codebook is not None and vocab_size is not None:
        raise LtmcError("--vocab-size sizes a codebook mined from the input; with --codebook leave it out (the codebook has its size)", ExitCode.USAGE)
    out_dir = Path(out_dir)
    result = EncodeResult(out_dir)
    with ExitStack() as stack:
        if engine == "dask":
            from ltmc.engines.dask import open_engine

            executor = open_engine(stack, arguments, workers, scheduler)
        else:
            executor = LocalEngine(workers)
        inputs = open_inputs(arguments, strict=strict, failures=result.failures, stack=stack, sniff_all=executor.sniff, selection=selection)
        if codebook is None:
            texts = (text for item in inputs for text in item.texts())
            codebook, result.mining = mine(texts, vocab_size or DEFAULT_VOCAB_SIZE, stage_map=LocalEngine(workers).map)
        with claimed(out_dir, [a for a in arguments if a != STDIN]):
            if not force and _is_up_to_date(out_dir, inputs, codebook):
                result.up_to_date = True
                return result
            result.record(write_output(out_dir, codebook, lambda staging: executor.write_shards(inputs, codebook, staging, progress)))
    return result


def _is_up_to_date(out_dir: Path, inputs: list[Input], codebook: Codebook) -> bool:
    try:
        output = shards.Output.open(out_dir)
    except LtmcError:
        return False
    recorded = [(d["path"], d["sha256"]) for d in output.documents]
    wanted = [(i.source.name, i.sniffed.sha256) for i in inputs]
    if recorded != wanted or output.codebook.fingerprint != codebook.fingerprint:
        return False
    return all(shards.shard_intact(out_dir, s) for s in output.manifest["shards"])


def mine_corpus(
    arguments: list[str],
    vocab_size: int,
    progress: Progress | None = None,
    strict: bool = False,
    paired: bool = False,
    special_tokens: Iterable[str] = (),
    selection: Selection = Selection(),
    bonds: bool = True,
    objective: str | None = None,
    workers: int = 1,
    count_power: float = 1.0,
):
    """Mine a codebook from the inputs (for paired positions with ``paired``; without
    hyperbonds unless ``bonds``; pruned by ``objective``, with forms weighed by their
    counts to ``count_power``: ``ltmc.mining``), with BOS,
    EOS, PAD and ``special_tokens``, the word forms analysed on ``workers`` processes;
    returns (codebook, report, failures)."""
    failures: list[Failure] = []
    with ExitStack() as stack:
        inputs = open_inputs(arguments, strict=strict, failures=failures, stack=stack, sniff_all=LocalEngine().sniff, selection=selection)
        texts = (text for item in inputs for text in item.texts())
        with few_collections():  # millions of n-gram tuples: 14 full collections, 4.3 s on ru/
            specials = [*DEFAULT_SPECIALS, *special_tokens]
            book, report = mine(texts, vocab_size, progress, paired, specials, bonds, objective, stage_map=LocalEngine(workers).map, count_power=count_power)
    return book, report, failures


def morph_corpus(arguments: list[str], progress: Progress | None = None, strict: bool = False, selection: Selection = Selection(), workers: int = 1):
    """Every distinct word form of the inputs with its analysis (on ``workers``
    processes), most frequent first; returns (table, failures)."""
    failures: list[Failure] = []
    counts: Counter[str] = Counter()
    with ExitStack() as stack:
        for item in open_inputs(arguments, strict=strict, failures=failures, stack=stack, sniff_all=LocalEngine().sniff, selection=selection):
            for text in item.texts():
                counts.update(WORD_PATTERN.findall(text))
            if progress:
                progress(item.size)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    batches = list(analyse_all(ranked, LocalEngine(workers).map))
    return pa.Table.from_batches(batches, schema=MORPH_SCHEMA), failures
