"""The report page (``ltmc.report``) as HTML: inline CSS and inline SVG charts drawn
here, no scripts, no fonts, no images, nothing fetched."""

from __future__ import annotations

import html

from ltmc.costmodel import BYTES_PER_VALUE, CHARS_PER_PAGE, ModelShape

KIND_COLOURS = {
    "word": "#4e79a7",
    "stem": "#59a14f",
    "ending": "#f28e2b",
    "suffix": "#edc948",
    "bond": "#e15759",
    "punct": "#b07aa1",
    "space": "#bab0ac",
    "byte": "#9c755f",
    "special": "#76b7b2",
}


# -- formatting -----------------------------------------------------------------------


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _int(n) -> str:
    return f"{int(round(n)):,}"


def _si(n: float, unit: str = "") -> str:
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.3g} {prefix}{unit}"
    return f"{n:.3g} {unit}".rstrip()


def _bytes(n: float) -> str:
    for factor, prefix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= factor:
            return f"{n / factor:.3g} {prefix}"
    return f"{n:.0f} B"


def _token_text(text: str) -> str:
    return text.replace("\n", "↵").replace("\t", "⇥").replace(" ", "␣").replace("\u00a0", "⍽")


# -- charts (inline SVG) -------------------------------------------------------------


def _hbar_chart(rows: list[tuple[str, float, str, str]], width: int = 560, label_w: int = 150, row_h: int = 26) -> str:
    """Horizontal bars: (label, value, value text, colour)."""
    if not rows:
        return ""
    top = max(v for _, v, _, _ in rows) or 1
    bar_w = width - label_w - 90
    height = row_h * len(rows) + 8
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    for i, (label, value, text, colour) in enumerate(rows):
        y = 4 + i * row_h
        w = max(1.0, bar_w * value / top)
        parts.append(f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end">{_e(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" rx="3" fill="{colour}"><title>{_e(label)}: {_e(text)}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + row_h / 2 + 4:.1f}" class="value">{_e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _histogram_chart(bins: list[tuple[int, int, int]], width: int = 720, height: int = 260) -> str:
    if not bins:
        return "<p>No scenes.</p>"
    left, bottom, top_pad, right = 56, 44, 12, 28
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    most = max(n for _, _, n in bins) or 1
    bar = plot_w / len(bins)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    for frac in (0, 0.25, 0.5, 0.75, 1):
        y = top_pad + plot_h * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{_int(most * frac)}</text>')
    for i, (low, high, n) in enumerate(bins):
        h = plot_h * n / most
        x = left + i * bar
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{top_pad + plot_h - h:.1f}" width="{max(1, bar - 2):.1f}" height="{h:.1f}" fill="#4e79a7">'
            f"<title>{low:,}–{high:,} tokens: {n:,} scenes</title></rect>"
        )
    step = max(1, len(bins) // 6)
    for i in range(0, len(bins) + 1, step):
        x = left + i * bar
        value = bins[0][0] + i * (bins[0][1] - bins[0][0] + 1)
        parts.append(f'<text x="{x:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" class="axis">{value:,}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" class="axis">tokens per scene</text>')
    parts.append(f'<text x="14" y="{top_pad + plot_h / 2:.1f}" text-anchor="middle" class="axis" transform="rotate(-90 14 {top_pad + plot_h / 2:.1f})">scenes</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the page -----------------------------------------------------------------------------

TITLE_PREFIX = "<title>ltmc report: "  # also how a report is told from a file of the user's (file_outputs)

_CSS = """
:root { --ink:#1f2430; --muted:#5d6575; --line:#e3e6ec; --accent:#e15759; --bg:#fafbfc; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 28px 32px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
p.lead, .muted { color: var(--muted); }
.cards { display:grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin-top: 14px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .num { font-size:22px; font-weight:600; font-variant-numeric: tabular-nums; }
.card.key { border-color: var(--accent); }
table { border-collapse: collapse; background:#fff; border:1px solid var(--line); border-radius:6px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: right; }
th { background:#f2f4f7; font-weight:600; }
td:first-child, th:first-child { text-align: left; white-space: nowrap; }
td.note, th.note { text-align: left; color: var(--muted); }
td.tok { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; text-align:left; white-space: pre; }
.two { display:grid; grid-template-columns: 1fr 1fr; gap: 24px; align-items:start; }
svg.chart { background:#fff; border:1px solid var(--line); border-radius:6px; max-width:100%; height:auto; }
svg text { font: 12px -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
svg text.value, svg text.axis { fill: var(--muted); }
svg line.grid { stroke: var(--line); }
.formulas { background:#fff; border:1px solid var(--line); border-radius:6px; padding: 8px 18px; }
.formulas li { margin: 4px 0; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 13px; background:#f2f4f7; padding:1px 4px; border-radius:3px; }
.verdict { background:#fff; border-left: 4px solid var(--accent); padding: 10px 16px; margin-top: 16px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def _table(header: list[str], rows: list[list[str]], raw_cols: set[int] = frozenset(), tok_cols: set[int] = frozenset(), note_cols: set[int] = frozenset()) -> str:
    note = ' class="note"'
    head = "".join(f"<th{note if i in note_cols else ''}>{_e(h)}</th>" for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="tok"' if i in tok_cols else ' class="note"' if i in note_cols else ""
            cells.append(f"<td{cls}>{cell if i in raw_cols else _e(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(label: str, value: str, key: bool = False) -> str:
    return f'<div class="card{" key" if key else ""}"><div class="label">{_e(label)}</div><div class="num">{_e(value)}</div></div>'


def render(data: dict) -> str:
    """The report page: one self-contained HTML document."""
    s = data["stats"]
    model = ModelShape(**data["model"])
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"{TITLE_PREFIX}{_e(data['out_dir'])}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>Does ltmc pay off on this corpus?</h1>",
        f'<p class="lead">Output <code>{_e(data["out_dir"])}</code> · codebook <code>{_e(s["codebook"])}</code> · '
        f"model shape for the cost model: <code>{_e(model.describe())}</code></p>",
    ]
    out.append(_verdict(data))
    out += _numbers_section(data)
    out += _kinds_section(s)
    out += _top_section(s)
    out += _scene_section(data)
    out += _baselines_section(data)
    out += _cost_section(model, data["costs"])
    out.append(
        f'<footer>Written by <code>ltmc stats --report</code>. Self-contained: no scripts, no fonts, no network fetches. '
        f"Numbers match <code>ltmc stats {_e(data['out_dir'])} --json</code>.</footer>"
    )
    out.append("</main></body></html>")
    return "\n".join(out)


def _numbers_section(data: dict) -> list[str]:
    s = data["stats"]
    out = []
    out.append("<h2>The corpus in numbers</h2><div class=\"cards\">")
    out += [
        _card("documents", _int(s["documents"])),
        _card("bytes", _int(s["bytes"])),
        _card("characters", _int(s["chars"])),
        _card("words", _int(s["words"])),
        _card("scenes", _int(s["scenes"])),
        _card("tokens", _int(s["tokens"])),
        _card("chars / token", f"{s['chars_per_token']}", key=True),
        _card("tokens / word", f"{s['tokens_per_word']}", key=True),
        _card("paired positions", _int(s["positions"])),
        _card("chars / position", f"{s['chars_per_position']}", key=True),
        _card("vocabulary size", _int(s["vocab_size"])),
        _card("ids in use", _int(s["distinct_ids"])),
        _card("mean scene", f"{data['scene_lengths']['mean']:,.0f} tokens"),
        _card("longest scene", f"{data['scene_lengths']['max']:,} tokens"),
    ]
    out.append("</div>")

    return out


def _kinds_section(s: dict) -> list[str]:
    out = []
    shares = sorted(s["share_by_kind"].items(), key=lambda kv: -kv[1])
    chart = _hbar_chart([(k, v, f"{v:.1%}", KIND_COLOURS.get(k, "#888")) for k, v in shares], width=480, label_w=80)
    out.append("<h2>Where the tokens go</h2>")
    out.append('<p class="muted">Share of all tokens by kind: whole word forms, stems with their endings and suffix pieces (a rare form costs a few tokens, not a spelling), '
               "hyperbonds (a frequent run of two to four pieces as one token), punctuation, whitespace, and raw bytes (text the codebook cannot spell).</p>")
    out.append(f'<div class="two"><div>{chart}</div><div>')
    out.append(_table(["kind", "share of tokens", "tokens"], [[k, f"{v:.1%}", _int(v * s["tokens"])] for k, v in shares]))
    out.append("</div></div>")

    return out


def _top_section(s: dict) -> list[str]:
    out = []
    out.append("<h2>Top hyperbonds and endings</h2><div class=\"two\">")
    for title, key in (("hyperbonds", "top_bonds"), ("endings", "top_endings")):
        rows = [[str(i + 1), _token_text(r["text"]), f"{r['count']:,}"] for i, r in enumerate(s[key])]
        body = _table(["#", title[:-1], "count"], rows, tok_cols={1}) if rows else f'<p class="muted">No {title} in use.</p>'
        out.append(f"<div><h3>{_e(title)}</h3>{body}</div>")
    out.append("</div><p class=\"muted\">␣ marks a space, ⍽ a no-break space, ↵ a line break.</p>")

    return out


def _scene_section(data: dict) -> list[str]:
    out = []
    out.append("<h2>Scene lengths</h2>")
    out.append('<p class="muted">A scene is a stanza or a group of paragraphs (up to 8,000 characters); each row of the shards is one scene. '
               "A context window holds whole scenes when they are shorter than it.</p>")
    out.append(_histogram_chart(data["scene_lengths"]["histogram"]))

    return out


def _baselines_section(data: dict) -> list[str]:
    costs = data["costs"]
    ltmc = costs[0]
    out = []
    out.append("<h2>ltmc against baselines on the same text</h2>")
    if data["baselines_available"]:
        bars = [(c["name"], c["chars_per_token"], f"{c['chars_per_token']:.3f}", "#e15759" if i == 0 else "#4e79a7") for i, c in enumerate(costs)]
        out.append('<p class="muted">Characters per token (higher is better: the same text in fewer tokens).</p>')
        out.append(_hbar_chart(bars, width=620))
        rows = [
            [c["name"], _int(c["vocab_size"]), _int(c["tokens"]), f"{c['chars_per_token']:.3f}", f"{c['tokens_per_word']:.3f}",
             f"{c['tokens'] / ltmc['tokens']:.2f}×" if ltmc["tokens"] else "–", c["note"]]
            for c in costs
        ]
        out.append(_table(["tokenizer", "vocabulary", "tokens", "chars/token", "tokens/word", "tokens vs ltmc", "what it is"], rows, note_cols={6}))
    else:
        out.append('<p class="muted">The baselines need the bench extras (<code>pip install -e \'.[bench]\'</code>: tokenizers, tiktoken, bpe-openai); '
                   "they are not installed, so only ltmc is shown below.</p>")

    return out


def _cost_section(model: ModelShape, costs: list[dict]) -> list[str]:
    out = []
    out.append(f"<h2>What it costs to train on: <code>{_e(model.describe())}</code></h2>")
    header = ["per tokenizer"] + [c["name"] for c in costs]

    def row(label: str, fn) -> list[str]:
        return [label] + [fn(c) for c in costs]

    rows = [
        row("vocabulary V", lambda c: _int(c["vocab_size"])),
        row("embedding parameters V·d", lambda c: _int(c["embedding_params"])),
        row("non-embedding parameters 12·L·d²", lambda c: _int(c["layer_params"])),
        row("embedding share of all parameters", lambda c: f"{c['embedding_params'] / c['total_params']:.0%}"),
        row("tokens per epoch D", lambda c: _int(c["tokens"])),
        row("training FLOPs per token", lambda c: _si(c["flops_per_token"], "FLOP")),
        row("  of which attention 6·L·T·d", lambda c: _si(c["attention_flops_per_token"], "FLOP")),
        row("training FLOPs per epoch", lambda c: _si(c["train_flops_per_epoch"], "FLOP")),
        row("attention matrix per window", lambda c: _bytes(c["attention_bytes_per_window"])),
        row("KV cache per window", lambda c: _bytes(c["kv_bytes_per_window"])),
        row("tokens per 1M characters", lambda c: _int(c["tokens_per_1m_chars"])),
        row("attention matrices per 1M characters", lambda c: _bytes(c["attention_bytes_per_1m_chars"])),
        row("KV cache per 1M characters", lambda c: _bytes(c["kv_bytes_per_1m_chars"])),
        row("characters per context window", lambda c: _int(c["chars_per_window"])),
        row("words per context window", lambda c: _int(c["words_per_window"])),
        row(f"book pages per window (~{CHARS_PER_PAGE:,} chars)", lambda c: f"{c['chars_per_window'] / CHARS_PER_PAGE:.1f}"),
    ]
    out.append(_table(header, rows))
    out.append(_formulas(model))
    return out


def _verdict(data: dict) -> str:
    costs = data["costs"]
    ltmc = costs[0]
    lines = [
        f"ltmc spells this corpus in <b>{_int(ltmc['tokens'])}</b> tokens: <b>{ltmc['chars_per_token']:.2f}</b> characters per token, "
        f"so one {data['model']['n_ctx']:,}-token window holds about <b>{_int(ltmc['chars_per_window'])}</b> characters "
        f"(~{ltmc['chars_per_window'] / CHARS_PER_PAGE:.1f} pages)."
    ]
    for c in costs[1:]:
        if c["tokens"]:
            ratio = ltmc["tokens"] / c["tokens"]
            word = "fewer" if ratio < 1 else "more"
            lines.append(
                f"Against {_e(c['name'])} (V = {_int(c['vocab_size'])}): {abs(1 - ratio):.0%} {word} tokens, "
                f"training FLOPs per epoch {ltmc['train_flops_per_epoch'] / c['train_flops_per_epoch']:.2f}× theirs, "
                f"embedding parameters {_int(ltmc['embedding_params'])} against {_int(c['embedding_params'])}."
            )
    return '<div class="verdict">' + "<br>".join(lines) + "</div>"


def _formulas(model: ModelShape) -> str:
    d, L, T, H = model.d_model, model.n_layer, model.n_ctx, model.n_head
    items = [
        f"d = d_model = {d}, L = n_layer = {L}, T = n_ctx = {T}, H = n_head = {H}; V = vocabulary size; D = tokens of the corpus (one epoch).",
        "Embedding parameters = V·d (one matrix, tied between input and output).",
        "Non-embedding parameters N<sub>L</sub> = 12·L·d² (per layer: attention 4d², MLP 8d²; biases and norms left out).",
        "Training FLOPs per epoch = 6·N·D + 6·L·T·d·D, where N = N<sub>L</sub> + V·d: the output projection onto V logits counts "
        "(the input lookup costs no FLOPs), and 6·L·T·d per token is the attention term (QKᵀ and A·V, forward and backward, full window).",
        f"Attention matrix per window = L·H·T² scores × {BYTES_PER_VALUE} bytes (fp16, one sequence, as materialised by plain attention; fused kernels do not keep it).",
        f"KV cache per window = 2·L·T·d values × {BYTES_PER_VALUE} bytes (fp16, one sequence).",
        "Per 1M characters: D<sub>1M</sub> = 10⁶ / (chars per token) tokens in D<sub>1M</sub>/T windows; attention = (D<sub>1M</sub>/T) × per-window; "
        f"KV cache = D<sub>1M</sub>·2·L·d·{BYTES_PER_VALUE} bytes (to cache the whole text at once).",
        "Characters per context window = T × chars per token.",
    ]
    return '<h3>Formulas</h3><ul class="formulas">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
