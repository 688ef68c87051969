"""One self-contained HTML page on an encoded corpus: does ltmc pay off here?

``build(out_dir, model)`` gathers the numbers (``stats.collect``, a scene-length
histogram, the baselines when the bench extras are installed, the cost model) and
``render`` turns them into a page with inline CSS and inline SVG charts drawn
here: no scripts, no fonts, no images, nothing fetched.

The cost model is ``ltmc.costmodel``; the page is drawn by ``ltmc.report_html``.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from ltmc import baselines as baselines_mod
from ltmc import stats as stats_mod
from ltmc.costmodel import ModelShape, cost
from ltmc.files import write_atomic
from ltmc.report_html import render
from ltmc.shards import Output

HIST_BINS = 24


def scene_lengths(output: Output) -> list[int]:
    lengths: list[int] = []
    for batch in output.iter_batches(["ids"]):
        lengths.extend(batch.column("ids").value_lengths().to_pylist())
    return lengths


def corpus_texts(output: Output) -> list[str]:
    """Every scene as text (stray bytes replaced, which baselines cannot take)."""
    decode = output.codebook.decode_bytes
    texts = []
    for batch in output.iter_batches(["ids"]):
        texts.extend(decode(ids).decode("utf-8", "replace") for ids in batch.column("ids").to_pylist())
    return texts


def histogram(values: list[int], bins: int = HIST_BINS) -> list[tuple[int, int, int]]:
    """[(low, high, count)] over equal-width bins covering 0 … max(values)."""
    if not values:
        return []
    top = max(values) + 1
    width = max(1, math.ceil(top / bins))
    counts = [0] * math.ceil(top / width)
    for v in values:
        counts[v // width] += 1
    return [(i * width, (i + 1) * width - 1, n) for i, n in enumerate(counts)]


def build(out_dir: str | Path, model: ModelShape | None = None, with_baselines: bool = True) -> tuple[str, dict]:
    """(html page, the data behind it) for ``out_dir``."""
    model = model or ModelShape()
    output = Output.open(out_dir)
    data = {"stats": stats_mod.collect(out_dir), "model": asdict(model), "out_dir": str(out_dir)}
    s = data["stats"]
    lengths = scene_lengths(output)
    data["scene_lengths"] = {"histogram": histogram(lengths), "mean": sum(lengths) / len(lengths) if lengths else 0, "max": max(lengths, default=0)}
    data["baselines"] = baselines_mod.compare(corpus_texts(output), s["vocab_size"]) if with_baselines else []
    data["baselines_available"] = bool(data["baselines"])
    rows = [{"name": "ltmc", "vocab_size": s["vocab_size"], "tokens": s["tokens"], "note": "this codebook"}] + data["baselines"]
    data["costs"] = [r | cost(model, r["vocab_size"], r["tokens"], s["chars"], s["words"]) for r in rows]
    return render(data), data


def write(html_text: str, dest: str | Path) -> None:
    write_atomic(dest, html_text.encode("utf-8"))
