"""Numbers about an encoded output: sizes, ratios, and where the tokens go."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.compute as pc

from ltmc import pairing
from ltmc.rules import KINDS
from ltmc.shards import Output

TOP = 15


def collect(out_dir: str | Path, top: int = TOP) -> dict:
    output = Output.open(out_dir)
    book = output.codebook
    is_tail = pairing.tail_mask(book)
    totals = Counter()
    usage: Counter[int] = Counter()
    for batch in output.iter_batches():
        totals["scenes"] += batch.num_rows
        for column in ("n_bytes", "n_chars", "n_words"):
            totals[column] += pc.sum(batch.column(column)).as_py() or 0
        flat = batch.column("ids").values
        totals["tokens"] += len(flat)
        totals["positions"] += pairing.count_positions(batch.column("ids"), is_tail)
        counts = pc.value_counts(flat)
        usage.update(dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))
    tokens = totals["tokens"]
    by_kind = Counter()
    for token_id, n in usage.items():
        by_kind[book.kind_of(token_id)] += n

    def top_of(kind: str) -> list[dict]:
        ranked = sorted(((n, i) for i, n in usage.items() if book.kind_of(i) == kind), reverse=True)[:top]
        return [{"id": i, "text": book.piece_of(i), "count": n} for n, i in ranked]

    return {
        "documents": len(output.documents),
        "bytes": totals["n_bytes"],
        "chars": totals["n_chars"],
        "words": totals["n_words"],
        "scenes": totals["scenes"],
        "tokens": tokens,
        "chars_per_token": round(totals["n_chars"] / tokens, 4) if tokens else 0.0,
        "tokens_per_word": round(tokens / totals["n_words"], 4) if totals["n_words"] else 0.0,
        "positions": totals["positions"],  # paired: a head and the ending after it share one (ltmc.pairing)
        "chars_per_position": round(totals["n_chars"] / totals["positions"], 4) if totals["positions"] else 0.0,
        "distinct_ids": len(usage),
        "vocab_size": len(book),
        "codebook": book.fingerprint,
        "share_by_kind": {k: round(by_kind[k] / tokens, 4) if tokens else 0.0 for k in KINDS},
        "top_bonds": top_of("bond"),
        "top_endings": top_of("ending"),
    }
