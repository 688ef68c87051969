"""Compression benchmark: ltmc against byte-level BPE and o200k_base on unseen authors.

The Russian part of the development corpus (../shared/corpus/ru) is split by author: an
author's works all go either to the mining part or to the evaluation part, whatever genre
they are filed under. For each vocabulary size N, an ltmc codebook is mined and a byte-level
BPE of N ids is trained on the mining part; both then tokenize the evaluation part, which
o200k_base (GPT-4o, loaded offline from the bpe-openai package) tokenizes too. The ltmc
shards are decoded and checked byte for byte against the originals.

A second codebook of N ids is mined for paired positions (``mine-bonds --paired``), and
its shards are counted in positions: a head id and the continuation id after it share one
(``ltmc.pairing``), so the sequence is shorter while the embedding table stays N rows.

    python bench/compression.py                  # sizes 8192 16384 32768 65536
    python bench/compression.py --quick          # 8192 only, smaller mining part
    python bench/compression.py --sizes 32768 --eval-authors Chekhov Gogol
    python bench/compression.py --json > result.json
    python bench/compression.py --oracle         # also the ceiling: both mined on the evaluation part

Progress goes to stderr; the table (or JSON) to stdout. Needs the bench extras:
pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ltmc.baselines import train_bpe  # noqa: E402
from common import (  # noqa: E402
    DEFAULT_CORPUS,
    DEFAULT_EVAL_AUTHORS,
    QUICK_SKIP_AUTHORS,
    describe,
    fail,
    link_tree,
    list_works,
    load_o200k,
    log,
    read_text,
    require_bench_extras,
    require_corpus,
    split_by_author,
)

DEFAULT_SIZES = (8192, 16384, 32768, 65536)
QUICK_SIZES = (8192,)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Tokens on unseen authors: ltmc vs byte-level BPE vs o200k_base.",
    )
    parser.add_argument("--sizes", type=int, nargs="+", metavar="N", help=f"vocabulary sizes (default {' '.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--eval-authors", nargs="+", metavar="AUTHOR", default=list(DEFAULT_EVAL_AUTHORS), help=f"authors held out for evaluation (default {' '.join(DEFAULT_EVAL_AUTHORS)})")
    parser.add_argument("--mine-authors", nargs="+", metavar="AUTHOR", help="mine only on these authors (default: every author not held out)")
    parser.add_argument("--quick", action="store_true", help=f"size 8192 only, and mining without {' and '.join(QUICK_SKIP_AUTHORS)} (about 8 MB)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the development corpus (default ../shared/corpus from the project root)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="ltmc mining, encode and decode processes (default: all CPUs)")
    parser.add_argument("--oracle", action="store_true", help="also mine ltmc and train BPE on the evaluation part itself: the ceiling when no author is unseen")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if any(n < 512 for n in args.sizes):
        parser.error("every size must be at least 512")
    return args


def choose_works(args: argparse.Namespace):
    ru = require_corpus(args.corpus)
    works = list_works(ru)
    if not works:
        fail(f"no works under {ru}")
    mining, evaluation = split_by_author(works, args.eval_authors)
    if args.mine_authors:
        unknown = sorted(set(args.mine_authors) - {w.author for w in mining})
        if unknown:
            fail(f"--mine-authors: {', '.join(unknown)} not in the mining part (held out, or not in the corpus)")
        mining = [w for w in mining if w.author in set(args.mine_authors)]
    elif args.quick:
        mining = [w for w in mining if w.author not in QUICK_SKIP_AUTHORS] or mining
    return mining, evaluation




def count_bpe(tokenizer, texts: list[str]) -> int:
    """Tokens over whole files, checking that they decode back to the text."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    ids = [e.ids for e in encodings]
    if tokenizer.decode_batch(ids, skip_special_tokens=False) != texts:
        fail("the BPE baseline does not decode back to its input; the comparison would be unfair", 1)
    return sum(map(len, ids))


def run_ltmc(size: int, mining_dir: Path, eval_dir: Path, n_eval: int, workers: int, scratch: Path, label: str = "ltmc", paired: bool = False) -> dict:
    """Mine (for paired positions with ``paired``), encode the evaluation part, check it decodes back."""
    from ltmc import stats
    from ltmc.pipeline import encode_corpus, mine_corpus
    from ltmc.restore import decode_corpus

    start = time.perf_counter()
    book, report, failures = mine_corpus([str(mining_dir)], size, paired=paired, workers=workers)
    mined_s = time.perf_counter() - start
    if failures:
        fail(f"mining skipped inputs: {'; '.join(f'{f.label}: {f.message}' for f in failures)}")
    kinds = ", ".join(f"{kind} {n}" for kind, n in report.kinds.most_common())
    log(f"  ltmc  mined {len(book)} ids{' for pairs' if paired else ''} in {mined_s:.1f} s ({'filled' if report.filled else 'NOT filled'}; {kinds})")

    out = scratch / f"{label}-{size}{'-paired' if paired else ''}"
    start = time.perf_counter()
    encoded = encode_corpus([str(eval_dir)], out, codebook=book, workers=workers, strict=True, force=True)
    encode_s = time.perf_counter() - start
    if encoded.failures or encoded.documents != n_eval:
        fail(f"ltmc encoded {encoded.documents} of {n_eval} evaluation files; failures: {encoded.failures}")
    start = time.perf_counter()
    decoded = decode_corpus(out, None, verify=True, workers=workers)
    verify_s = time.perf_counter() - start
    if decoded.mismatches or decoded.documents != n_eval:
        fail(f"ltmc is not lossless at {size}: {len(decoded.mismatches)} of {n_eval} files differ after decoding, e.g. {decoded.mismatches[:3]}", 1)
    positions = stats.collect(out)["positions"]
    log(f"  ltmc  {encoded.tokens:,} tokens, {positions:,} paired positions; encoded in {encode_s:.1f} s, decoded and verified {decoded.documents} files in {verify_s:.1f} s")
    return {
        "ltmc_tokens": encoded.tokens,
        "ltmc_positions": positions,
        "ltmc_ids": len(book),
        "ltmc_filled": report.filled,
        "ltmc_kinds": dict(report.kinds),
        "mining_s": round(mined_s, 2),
        "encode_s": round(encode_s, 2),
        "verify_s": round(verify_s, 2),
        "lossless": True,
    }


def render_table(result: dict) -> str:
    header = ["ids", "ltmc tokens", "BPE tokens", "o200k tokens", "ltmc/BPE", "ltmc positions", "positions/BPE", "ltmc chars/tok", "chars/position", "BPE chars/tok", "o200k chars/tok"]
    rows = [
        [
            f"{r['ids']}",
            f"{r['ltmc_tokens']:,}",
            f"{r['bpe_tokens']:,}",
            f"{r['o200k_tokens']:,}",
            f"{r['ratio_ltmc_bpe']:.3f}",
            f"{r['ltmc_positions']:,}",
            f"{r['ratio_positions_bpe']:.3f}",
            f"{r['ltmc_chars_per_token']:.2f}",
            f"{r['ltmc_chars_per_position']:.2f}",
            f"{r['bpe_chars_per_token']:.2f}",
            f"{r['o200k_chars_per_token']:.2f}",
        ]
        for r in result["rows"]
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    split = result["split"]
    lines = [
        f"eval: {', '.join(split['eval_authors'])} — {split['eval_files']} files, {split['eval_bytes']:,} bytes, {result['eval_chars']:,} chars",
        f"mining: {', '.join(split['mining_authors'])} — {split['mining_files']} files, {split['mining_bytes']:,} bytes",
        "",
        line(header),
        "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|",
        *(line(row) for row in rows),
        "",
        "seconds:",
        *(
            f"  {r['ids']:>6}: ltmc mining {r['mining_s']:.1f} (for pairs {r['paired_mining_s']:.1f}), encode {r['encode_s']:.1f}, decode+verify {r['verify_s']:.1f}; BPE training {r['bpe_train_s']:.1f}"
            for r in result["rows"]
        ),
        "ltmc is decoded and verified byte for byte at every size (lossless).",
        "positions: a codebook of the same size mined for pairs (mine-bonds --paired), its ids paired: a head and the",
        "continuation after it share one position (ltmc.pairing); the embedding table is as large as the codebook.",
        *(
            f"  {r['ids']:>6}: the codebook above, paired: {r['tokens_codebook_positions']:,} positions; the paired one, unpaired: {r['paired_codebook_tokens']:,} tokens"
            for r in result["rows"]
        ),
    ]
    if any("oracle_ltmc_tokens" in r for r in result["rows"]):
        lines += [
            "",
            "oracle (both mined on the evaluation part itself: the ceiling when no author is unseen):",
            *(
                f"  {r['ids']:>6}: ltmc {r['oracle_ltmc_tokens']:,} ({r['oracle_ltmc_tokens'] / r['bpe_tokens']:.3f} of the BPE above; "
                f"{r['oracle_ltmc_positions']:,} positions, {r['oracle_ltmc_positions'] / r['bpe_tokens']:.3f}), "
                f"BPE {r['oracle_bpe_tokens']:,}; ltmc/BPE both on the evaluation part {r['oracle_ltmc_tokens'] / r['oracle_bpe_tokens']:.3f}"
                for r in result["rows"]
            ),
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_bench_extras()
    try:
        import ltmc.pipeline  # noqa: F401
    except ImportError as err:
        fail(f"cannot import ltmc ({err}); install the project: pip install -e '.[bench]'")
    mining, evaluation = choose_works(args)
    log("mining part:\n" + describe(mining))
    log("evaluation part:\n" + describe(evaluation))

    started = time.perf_counter()
    mining_texts = [read_text(w.path) for w in mining]
    eval_texts = [read_text(w.path) for w in evaluation]
    eval_chars = sum(map(len, eval_texts))

    log("o200k_base: loading from the bpe-openai package")
    o200k = load_o200k()
    o200k_tokens = sum(map(len, o200k.encode_ordinary_batch(eval_texts, num_threads=args.workers)))
    log(f"  o200k {o200k_tokens:,} tokens on {eval_chars:,} eval chars ({eval_chars / o200k_tokens:.2f} chars/token)")

    result = {
        "corpus": str(args.corpus),
        "split": {
            "eval_authors": sorted({w.author for w in evaluation}),
            "mining_authors": sorted({w.author for w in mining}),
            "eval_files": len(evaluation),
            "mining_files": len(mining),
            "eval_bytes": sum(w.path.stat().st_size for w in evaluation),
            "mining_bytes": sum(w.path.stat().st_size for w in mining),
        },
        "eval_chars": eval_chars,
        "o200k_tokens": o200k_tokens,
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="ltmc-bench-") as tmp:
        scratch = Path(tmp)
        mining_dir = link_tree(mining, scratch / "mining")
        eval_dir = link_tree(evaluation, scratch / "eval")
        for size in args.sizes:
            log(f"[{size}] mining an ltmc codebook on {result['split']['mining_bytes'] / 1e6:.1f} MB")
            row = {"ids": size, **run_ltmc(size, mining_dir, eval_dir, len(evaluation), args.workers, scratch)}
            row["tokens_codebook_positions"] = row.pop("ltmc_positions")
            paired = run_ltmc(size, mining_dir, eval_dir, len(evaluation), args.workers, scratch, paired=True)
            row["ltmc_positions"] = paired["ltmc_positions"]
            row["paired_codebook_tokens"] = paired["ltmc_tokens"]
            row["paired_mining_s"] = paired["mining_s"]
            start = time.perf_counter()
            bpe = train_bpe(mining_texts, size)  # ltmc.baselines: the same baseline as the report
            row["bpe_train_s"] = round(time.perf_counter() - start, 2)
            row["bpe_ids"] = bpe.get_vocab_size()
            row["bpe_tokens"] = count_bpe(bpe, eval_texts)
            log(f"  BPE   trained {row['bpe_ids']} ids in {row['bpe_train_s']:.1f} s; {row['bpe_tokens']:,} tokens (round trip checked)")
            if args.oracle:
                log(f"[{size}] oracle: ltmc mined and BPE trained on the evaluation part itself")
                oracle = run_ltmc(size, eval_dir, eval_dir, len(evaluation), args.workers, scratch, label="oracle")
                row["oracle_ltmc_tokens"] = oracle["ltmc_tokens"]
                row["oracle_ltmc_positions"] = run_ltmc(size, eval_dir, eval_dir, len(evaluation), args.workers, scratch, label="oracle", paired=True)["ltmc_positions"]
                row["oracle_bpe_tokens"] = count_bpe(train_bpe(eval_texts, size), eval_texts)
                log(f"  BPE   on the evaluation part: {row['oracle_bpe_tokens']:,} tokens")
            row["o200k_tokens"] = o200k_tokens
            row["ratio_ltmc_bpe"] = row["ltmc_tokens"] / row["bpe_tokens"]
            row["ratio_positions_bpe"] = row["ltmc_positions"] / row["bpe_tokens"]
            row["ltmc_chars_per_token"] = eval_chars / row["ltmc_tokens"]
            row["ltmc_chars_per_position"] = eval_chars / row["ltmc_positions"]
            row["bpe_chars_per_token"] = eval_chars / row["bpe_tokens"]
            row["o200k_chars_per_token"] = eval_chars / o200k_tokens
            result["rows"].append(row)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    log(f"done in {result['elapsed_s']:.0f} s")

    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(render_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
