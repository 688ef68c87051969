"""Bits per byte at equal compute: a small GPT on BPE, on ltmc's ids and on ltmc's positions.

The question ltmc exists to answer: does a model trained on its tokens predict text
by authors it never saw better than the same model trained on byte-level BPE, for
the same training FLOPs?

- Split: ../shared/corpus/ru by author (bench/common.py). Every tokenizer is trained
  on the mining part at the same vocabulary size, specials included
  (bench/lm_data.py: the arms ``bpe``, ``flat``, ``paired``).
- Model: ``ltmc.nn.GPT``, the same code for every arm; paired adds the tail block.
- Compute: the flat arms take ``--steps`` steps of ``--batch`` windows of ``--ctx``
  places; the paired arm's steps are cut so its training FLOPs (tail block and
  both softmaxes counted, ``GPTConfig.flops_per_place``) are the same.
- Setting ``fresh``: windows are taken without replacement from the mining part's
  scenes (no text is seen twice; the run stops with an error if there is too little).
  Setting ``repeated``: a ``--repeat-mb`` sample of it, seen many times.
- Score: bits per UTF-8 byte of ``--val-mb`` of scenes from all the unseen authors'
  books, every prediction counted (separators and markers included); mean and
  spread over the seeds. The learning rate is chosen per arm on a dev set of the
  mining part (``--sweep``), never on the unseen authors.
- Breakdown: the bits laid on the text they predict, per word class (both) and per
  token kind (ltmc).

Each run's result is a JSON file in ``--results`` (kept: a rerun reads it instead of
training again; ``--force`` retrains), so results accumulate. A seed-0 model is scored on
the dev set and on the unseen authors, so the sweep's run at the kept rate is its first seed.

    python bench/train.py                       # quick: small model, 8192 ids, 3 seeds, 3 arms (under 1 h on 2 cores)
    python bench/train.py --full                # + LR sweep, base model, 32768 ids, repeated setting (hours)
    python bench/train.py --table               # the table of every result kept, nothing trained
    python bench/train.py --device cuda         # where a GPU is lent: base and large, 8192 and 32768 ids

Needs torch (``pip install torch==2.13.0`` is the CPU build on the dev machine) and
the bench extras (``pip install -e '.[bench,torch]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lm_data import ARMS, is_paired, place_width, save_arrays, save_json  # noqa: E402
from common import DEFAULT_CORPUS, DEFAULT_EVAL_AUTHORS, PROJECT_ROOT, fail, list_works, log, read_text, require_corpus, split_by_author  # noqa: E402

SIZES = {  # about 1M, 5M and 19M parameters besides the embeddings; tiny is for smoke runs
    "tiny": {"d_model": 32, "n_layer": 2, "n_head": 2},
    "small": {"d_model": 128, "n_layer": 5, "n_head": 4},
    "base": {"d_model": 256, "n_layer": 6, "n_head": 8},
    "large": {"d_model": 512, "n_layer": 6, "n_head": 8},
}
SWEEP = (1.5e-3, 3e-3, 6e-3, 1.2e-2)
DEFAULT_LR = 3e-3
# The class outputs of --classes: how the table names them (run keys write them with
# dashes) and into how many bins of equal mass each class is cut unless --class-bins says.
CLASS_OUTPUTS = {"kinds": ("classes", 1), "frequency": ("frequency classes", 5)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--arms", nargs="+", default=["bpe", "flat-nobonds", "paired-nobonds"], choices=ARMS, help="default: bpe flat-nobonds paired-nobonds (ltmc's best ids, flat and paired)")
    parser.add_argument("--vocab-sizes", nargs="+", type=int, default=None, help="default 8192 (--full: 8192 32768)")
    parser.add_argument("--sizes", nargs="+", default=None, choices=tuple(SIZES), help="default small (--full: small base)")
    parser.add_argument("--settings", nargs="+", default=None, choices=("fresh", "repeated"), help="default fresh (--full: both)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="steps of the flat arms, 400 (cuda: 12000); the paired arms get the same FLOPs")
    parser.add_argument("--batch", type=int, default=None, help="windows per step, 8 (cuda: 32)")
    parser.add_argument("--ctx", type=int, default=256, help="places per window")
    parser.add_argument("--lr", type=float, default=None, help=f"fixed learning rate (default: the sweep's best if kept, else {DEFAULT_LR})")
    parser.add_argument("--sweep", nargs="*", type=float, default=None, metavar="LR", help=f"choose each arm's learning rate on seed 0, scored on the dev set, among the rates given (none given: {SWEEP}) and any kept")
    parser.add_argument("--repeat-mb", type=float, default=None, help="training text of the repeated setting, 1 MB (cuda: all of the mining part)")
    parser.add_argument("--val-mb", type=float, default=2.0, help="text of the unseen authors to score on")
    parser.add_argument("--dev-mb", type=float, default=0.5, help="mining-part text held out to choose learning rates")
    parser.add_argument("--full", action="store_true", help="the sweep, both sizes, both vocabulary sizes, both settings")
    parser.add_argument("--device", default="cpu", help="cuda: larger defaults (base and large models, 100M places, repeated over the whole mining part)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--cache", type=Path, default=PROJECT_ROOT / "bench" / ".cache" / "train")
    parser.add_argument("--results", type=Path, default=PROJECT_ROOT / "bench" / "results" / "train")
    parser.add_argument("--parts", action="store_true", help="every arm's model embeds and predicts an id with its row plus the mean of its parts' rows (ltmc.parts; BPE: its merge)")
    parser.add_argument("--classes", choices=tuple(CLASS_OUTPUTS), default=None, help="every arm's model predicts an id's class, then the id among its class, and takes as many steps as the narrower output allows at the same FLOPs. kinds: what the tokenizer marks (ltmc: its kind; BPE: word start, continuation, other); frequency: five bins of equal mass in the training text")
    parser.add_argument("--class-bins", type=int, default=None, metavar="N", help="cut each class into N bins of equal mass in the training text (default: kinds 1, frequency 5); --classes kinds --class-bins 2 gives ltmc ten classes")
    parser.add_argument("--force", action="store_true", help="train again even where a result is kept")
    parser.add_argument("--table", action="store_true", help="only print the table of the results kept")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if args.class_bins is not None and (args.classes is None or args.class_bins < (2 if args.classes == "frequency" else 1)):
        parser.error("--class-bins needs --classes, and 2 or more bins with --classes frequency")
    if args.classes and args.class_bins is None:
        args.class_bins = CLASS_OUTPUTS[args.classes][1]
    # A GPU trains on 100M+ places, more than the 30 MB mining part holds: it repeats all of it.
    gpu = args.device.startswith("cuda")
    args.steps = args.steps or (12000 if gpu else 400)
    args.batch = args.batch or (32 if gpu else 8)
    args.repeat_mb = args.repeat_mb or (1e9 if gpu else 1.0)
    args.vocab_sizes = args.vocab_sizes or ([8192, 32768] if args.full or gpu else [8192])
    args.sizes = args.sizes or (["base", "large"] if gpu else ["small", "base"] if args.full else ["small"])
    args.settings = args.settings or (["repeated"] if gpu else ["fresh", "repeated"] if args.full else ["fresh"])
    if args.sweep == [] or (args.sweep is None and args.full):
        args.sweep = list(SWEEP)
    return args


# -- one run ------------------------------------------------------------------------------


def window_order(n_places: int, ctx: int, needed: int, seed: int, repeated: bool) -> np.ndarray:
    """Window starts (in units of ``ctx``): each window once, in a seeded order; when
    ``repeated``, pass after pass in a new order each time."""
    n_windows = (n_places - 1) // ctx
    rng = np.random.default_rng(seed)
    if not repeated:
        if needed > n_windows:
            fail(f"the fresh setting needs {needed:,} windows and the training text has {n_windows:,}; lower --steps or --batch")
        return rng.permutation(n_windows)[:needed]
    passes = -(-needed // n_windows)
    return np.concatenate([rng.permutation(n_windows) for _ in range(passes)])[:needed]


def model_variant(result: dict) -> str:
    """What the run's model adds to the plain GPT: " + parts", " + classes" (of kinds),
    " + frequency classes", " + 10 frequency classes", " + classes by 2 frequency bins",
    or several."""
    extras = ["parts"] if result.get("parts") else []
    if result.get("classes"):
        name, default_bins = CLASS_OUTPUTS[result["classes"]]
        bins = result.get("class_bins") or default_bins
        extras.append(name if bins == default_bins else f"{bins} {name}" if result["classes"] == "frequency" else f"{name} by {bins} frequency bins")
    return "".join(f" + {extra}" for extra in extras)


def run_key(setting: str, size: str, vocab: int, arm: str, seed: int, lr: float, args, stage: str) -> str:
    paired = is_paired(arm)
    arm += model_variant({"parts": args.parts, "classes": args.classes, "class_bins": args.class_bins}).replace(" + ", "+").replace(" ", "-")
    if paired:  # keys from before the tail block's width was a setting (4×) have no mark
        from ltmc.nn import GPTConfig

        arm += f"+tail{GPTConfig.tail_hidden}"
    return f"{stage}-{setting}-{size}-v{vocab}-{arm}-seed{seed}-lr{lr:g}-steps{args.steps}-b{args.batch}-t{args.ctx}-val{args.val_mb:g}"


def result_path(job: dict, seed: int, lr: float, args, stage: str) -> Path:
    return args.results / f"{run_key(job['setting'], job['size'], job['vocab'], job['arm'], seed, lr, args, stage)}.json"


def kept_nats_path(args, key: str) -> Path:
    """Where a scored run's nats per prediction are kept, so its breakdown can be redone."""
    return args.cache / f"nats-{key}.npy"


def one_run(torch, job: dict, arm_data: dict, lr: float, seed: int, stage: str, args) -> dict:
    """Train one arm (or read its kept result) and score it on the dev set or the unseen authors.
    A sweep trains seed 0, and so does the kept rate's first seed: a seed-0 model is scored
    on both sets, so neither is trained twice."""
    path = result_path(job, seed, lr, args, stage)
    if path.exists() and not args.force:
        return kept_result(path, job, arm_data, stage, args)
    trained = train(torch, job, arm_data, lr, seed, args)
    result = scored_result(trained, job, arm_data, lr, seed, stage, args)
    other = "eval" if stage == "dev" else "dev"
    if seed == 0 and (args.force or not result_path(job, seed, lr, args, other).exists()):
        scored_result(trained, job, arm_data, lr, seed, other, args)
    return result


def kept_result(path: Path, job: dict, arm_data: dict, stage: str, args) -> dict:
    result = json.loads(path.read_text(encoding="utf-8"))
    if result.get("made_by", arm_data["made_by"]) != arm_data["made_by"]:
        fail(f"{path} was trained on {job['arm']} ids of {result['made_by']}, and they are now {arm_data['made_by']}: move the kept results aside, or --force", 1)
    kept = kept_nats_path(args, result["key"])
    if stage == "eval" and kept.exists():  # the breakdown as the code now computes it
        redone = breakdown(job["arm"], arm_data, np.load(kept).astype(np.float64))
        if any(result.get(k) != v for k, v in redone.items()):
            result.update(redone)
            save_json(path, result)
    return result


def train(torch, job: dict, arm_data: dict, lr: float, seed: int, args) -> dict:
    """One arm's model, trained for the FLOPs of ``--steps`` flat steps."""
    from ltmc.nn import GPT, GPTConfig, fit

    config = GPTConfig(vocab_size=job["vocab"], n_ctx=args.ctx, paired=is_paired(job["arm"]), tails=max(1, place_width(job["arm"]) - 1), **SIZES[job["size"]])
    train_stream = arm_data["repeat" if job["setting"] == "repeated" else "train"]
    torch.manual_seed(seed)
    model = GPT(config, train_stream.is_tail, arm_data["parts"], arm_data["output_classes"]).to(args.device)
    # A class output's FLOPs follow how the training text's targets fall into its classes.
    config = dataclasses.replace(config, output_width=model.output_width(train_stream.places))
    reference = GPTConfig(vocab_size=job["vocab"], n_ctx=args.ctx, **SIZES[job["size"]])
    steps = round(args.steps * reference.flops_per_place() / config.flops_per_place())
    log(f"    {job['arm']} seed {seed} lr {lr:g}: {steps} steps")
    windows = window_order(len(train_stream.places), args.ctx, steps * args.batch, seed, job["setting"] == "repeated")
    start = time.perf_counter()
    fit(model, train_stream.places, steps, args.batch, lr, seed, windows, args.device, log=lambda m: log(f"      {m}"))
    return {
        "model": model, "config": config, "steps": steps, "train_stream": train_stream,
        "train_s": time.perf_counter() - start, "flops_per_step": config.flops_per_place() * args.batch * args.ctx + model.table_flops(),
    }


def scored_result(trained: dict, job: dict, arm_data: dict, lr: float, seed: int, stage: str, args) -> dict:
    """A trained model's bits per byte on the dev set or the unseen authors, kept as JSON."""
    from ltmc.nn import bits_per_byte, score

    path = result_path(job, seed, lr, args, stage)
    target = arm_data["dev" if stage == "dev" else "eval"]
    config, steps, train_stream = trained["config"], trained["steps"], trained["train_stream"]
    nats = score(trained["model"], target.places, device=args.device)
    if stage == "eval":  # kept, so the breakdown can be redone without training again
        save_arrays(kept_nats_path(args, path.stem), nats.astype(np.float32))
    result = {
        "key": path.stem,
        "stage": stage,
        **{k: job[k] for k in ("setting", "size", "vocab", "arm")},
        "made_by": arm_data["made_by"],
        "seed": seed,
        "lr": lr,
        "steps": steps,
        "batch": args.batch,
        "ctx": args.ctx,
        "body_params": config.body_params(),
        **({"tail_hidden": config.tail_hidden} if config.paired else {}),
        "parts": bool(args.parts),
        "classes": args.classes,
        "class_bins": args.class_bins,
        "flops_per_step": trained["flops_per_step"],
        "flops": trained["flops_per_step"] * steps,
        "train_s": round(trained["train_s"], 1),
        "train_bytes_seen": int(np.mean(train_stream.place_bytes) * steps * args.batch * args.ctx),
        "train_text_bytes": train_stream.n_bytes,
        "bytes_per_place": target.n_bytes / (len(target.places) - 1),
        "scored_bytes": target.n_bytes,
        "scored_places": len(target.places) - 1,
        "bits_per_byte": bits_per_byte(float(nats.sum()), target.n_bytes),
    }
    if stage == "eval":
        result.update(breakdown(job["arm"], arm_data, nats))
    save_json(path, result)
    log(f"    {path.stem}: {result['bits_per_byte']:.4f} bits/byte ({trained['train_s']:.0f} s)")
    return result


def breakdown(arm: str, arm_data: dict, nats: np.ndarray) -> dict:
    """Where the bits on the unseen authors go: per word class, and per token kind (ltmc)."""
    from lm_data import bits_by_class, bits_by_kind, separator_places

    target = arm_data["eval"]
    places, slot_bytes = target.places[1:], target.slot_bytes[1:]
    is_separator = separator_places(places, arm_data["separator"])
    out = {"bits_by_class": bits_by_class(nats, slot_bytes.reshape(len(places), -1).sum(axis=1), arm_data["classes"], is_separator)}
    if arm != "bpe":
        out["bits_by_kind"] = bits_by_kind(arm_data["book"], places, nats.reshape(places.shape), slot_bytes)
    return out


# -- the whole bench ------------------------------------------------------------------------


def texts(args) -> dict[str, list]:
    """The mining part's texts, and the scenes of each split: train, repeat, dev, eval."""
    from lm_data import scene_order, take_mb, utf8_len

    mining, evaluation = split_by_author(list_works(require_corpus(args.corpus)), DEFAULT_EVAL_AUTHORS)
    mining_texts = [read_text(w.path) for w in mining]
    scenes = scene_order(mining_texts)
    dev = take_mb(scenes[::-1], args.dev_mb)
    train_scenes = scenes[: len(scenes) - len(dev)]
    repeat = take_mb(train_scenes, args.repeat_mb)
    eval_scenes = take_mb(scene_order([read_text(w.path) for w in evaluation]), args.val_mb)
    log(f"text: train {utf8_len(train_scenes):,} bytes, dev {utf8_len(dev):,}, repeated {utf8_len(repeat):,}, unseen authors {utf8_len(eval_scenes):,} ({len(eval_scenes):,} scenes of {len(evaluation)} books)")
    return {"mining": mining_texts, "train": train_scenes, "repeat": repeat, "dev": dev, "eval": eval_scenes}


def prepare(args) -> dict:
    """Per vocabulary size and arm: the tokenizer and its train, repeat, dev and eval streams."""
    from lm_data import Tokenizers, byte_classes, common_forms, made_by, separator_id, stream, token_classes, token_parts
    from ltmc.nn import frequency_classes

    split = texts(args)
    classes = byte_classes(split["eval"], common_forms(split["train"]))
    data = {}
    for vocab in args.vocab_sizes:
        tokenizers = Tokenizers(split["mining"], vocab, args.cache)
        for arm in args.arms:
            log(f"  streams of {arm} at {vocab} ids")
            tokenizer = tokenizers.get(arm)
            data[vocab, arm] = {
                "parts": token_parts(tokenizer, arm) if args.parts else None,
                "book": tokenizer if arm != "bpe" else None,
                "made_by": made_by(tokenizer),
                "separator": separator_id(tokenizer),
                "classes": classes,
                **{label: stream(tokenizers, arm, split[label], label) for label in ("train", "repeat", "dev", "eval")},
            }
            if args.classes:
                kinds = token_classes(tokenizer, arm, vocab) if args.classes == "kinds" else None
                train = data[vocab, arm]["train"]
                data[vocab, arm]["output_classes"] = frequency_classes(train.places, vocab, args.class_bins, within=kinds, is_tail=train.is_tail)
            else:
                data[vocab, arm]["output_classes"] = None
    return data


def best_lr(torch, job: dict, arm_data: dict, args) -> float:
    if args.lr is not None:
        return args.lr
    tried = {}
    for lr in sorted({*SWEEP, *(args.sweep or ())}):
        path = result_path(job, 0, lr, args, "dev")
        if lr in (args.sweep or ()) or path.exists():
            tried[lr] = one_run(torch, job, arm_data, lr, 0, "dev", args)["bits_per_byte"]
    return min(tried, key=tried.get) if tried else DEFAULT_LR


def arm_order(arm: str) -> tuple[int, str]:
    """Arms in ``ARMS``'s order; one this bench does not have (a scratch branch's,
    kept under ``tried-*``) after them."""
    return (ARMS.index(arm), arm) if arm in ARMS else (len(ARMS), arm)


def arm_label(result: dict) -> str:
    """The arm as the table names it: a paired arm with its tail block's width (runs
    kept from before the width was a setting trained a 4× block)."""
    return f"{result['arm']}, tail {result.get('tail_hidden', 4)}×" if is_paired(result["arm"]) else result["arm"]


def summarize(results: list[dict]) -> list[dict]:
    """One row per (setting, model, vocab, arm, learning rate, steps), the model being its
    size and variant (``model_variant``): mean and spread over seeds, and the change against the
    best BPE row of the same setting, model, vocabulary and training FLOPs."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["setting"], r["size"], model_variant(r), r["vocab"], arm_order(r["arm"]), arm_label(r), r["lr"], r["steps"]), []).append(r)
    rows = []
    for (setting, size, variant, vocab, *_), runs in sorted(groups.items()):
        arm = runs[0]["arm"]
        values = [r["bits_per_byte"] for r in runs]
        rows.append(
            {
                "setting": setting, "size": size, "variant": variant, "vocab": vocab, "arm": arm, "label": arm_label(runs[0]), "seeds": len(runs), "lr": runs[0]["lr"],
                "bits_per_byte": statistics.mean(values), "spread": statistics.stdev(values) if len(values) > 1 else 0.0,
                "bytes_per_place": runs[0]["bytes_per_place"], "steps": runs[0]["steps"], "flops_per_step": runs[0]["flops_per_step"],
                "flops": runs[0]["flops"], "body_params": runs[0]["body_params"], "train_s": statistics.mean(r["train_s"] for r in runs),
            }
        )
    for row in rows:
        bpe = [
            r["bits_per_byte"]
            for r in rows
            if r["arm"] == "bpe" and all(r[k] == row[k] for k in ("setting", "size", "variant", "vocab")) and abs(r["flops"] / row["flops"] - 1) < 0.05  # a paired arm's steps are cut to BPE's FLOPs
        ]
        row["vs_bpe"] = row["bits_per_byte"] / min(bpe) - 1 if bpe else None
    return rows


def render(rows: list[dict]) -> str:
    lines = [
        "| setting | model | ids | arm | lr | seeds | bits/byte (mean ± sd) | vs BPE | bytes/place | steps | GFLOPs/step | PFLOPs total | train s |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        vs = "–" if r["arm"] == "bpe" or r["vs_bpe"] is None else f"{100 * r['vs_bpe']:+.1f} %"
        lines.append(
            f"| {r['setting']} | {r['size']} ({r['body_params'] / 1e6:.1f}M){r['variant']} | {r['vocab']} | {r['label']} | {r['lr']:g} | {r['seeds']} | "
            f"{r['bits_per_byte']:.4f} ± {r['spread']:.4f} | {vs} | {r['bytes_per_place']:.2f} | {r['steps']} | "
            f"{r['flops_per_step'] / 1e9:.2f} | {r['flops'] / 1e15:.4f} | {r['train_s']:.0f} |"
        )
    return "\n".join(lines)


def render_breakdown(results: list[dict]) -> str:
    """Bits per byte of each word class and (ltmc) bits per kind, averaged over the seeds."""
    lines = []
    best_lr = {(r["setting"], r["size"], r["variant"], r["vocab"], r["label"]): r["lr"] for r in sorted(summarize(results), key=lambda r: -r["bits_per_byte"])}
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        model = r["setting"], r["size"], model_variant(r), r["vocab"]
        if r["lr"] == best_lr[(*model, arm_label(r))]:  # each arm at its best learning rate
            groups.setdefault(model, []).append(r)
    for (setting, size, variant, vocab), runs in sorted(groups.items()):
        size += variant
        arm_of = {arm_label(r): r["arm"] for r in runs}
        arms = sorted(arm_of, key=lambda label: (arm_order(arm_of[label]), label))
        classes = list(runs[0]["bits_by_class"])
        lines.append(f"\n{setting}, {size}, {vocab} ids: bits per byte of each class of text (share of all bits)\n")
        lines.append("| class | bytes | " + " | ".join(arms) + " |")
        lines.append("|---|---:|" + "---:|" * len(arms))
        for name in classes:
            cells = []
            for arm in arms:
                mine = [r for r in runs if arm_label(r) == arm]
                bits = statistics.mean(r["bits_by_class"][name]["bits"] for r in mine)
                total = statistics.mean(sum(c["bits"] for c in r["bits_by_class"].values()) for r in mine)
                n = mine[0]["bits_by_class"][name]["bytes"]
                cells.append(f"{bits / n:.3f} ({100 * bits / total:.1f} %)" if n else f"– ({100 * bits / total:.1f} %)")
            lines.append(f"| {name} | {runs[0]['bits_by_class'][name]['bytes']:,} | " + " | ".join(cells) + " |")
        for arm in (a for a in arms if a != "bpe"):
            mine = [r for r in runs if arm_label(r) == arm and isinstance(next(iter(r["bits_by_kind"].values())), dict)]
            if not mine:
                continue
            kinds = sorted(mine[0]["bits_by_kind"], key=lambda k: -mine[0]["bits_by_kind"][k]["bits"])
            total = statistics.mean(sum(v["bits"] for v in r["bits_by_kind"].values()) for r in mine)
            lines.append(f"\n{arm}, by token kind: share of all bits, and bits per byte the kind spells\n")
            lines.append("| kind | share of bits | bytes | bits/byte |")
            lines.append("|---|---:|---:|---:|")
            for k in kinds:
                bits = statistics.mean(r["bits_by_kind"].get(k, {"bits": 0.0})["bits"] for r in mine)
                n = mine[0]["bits_by_kind"][k]["bytes"]
                lines.append(f"| {k} | {100 * bits / total:.1f} % | {n:,} | {bits / n:.3f} |" if n else f"| {k} | {100 * bits / total:.1f} % | 0 | – |")
    return "\n".join(lines)


def kept_results(args) -> list[dict]:
    paths = sorted(args.results.glob("eval-*.json")) if args.results.is_dir() else []
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.table:
        results = kept_results(args)
        if not results:
            fail(f"no results kept in {args.results}")
        print(render(summarize(results)) + "\n" + render_breakdown(results))
        return 0
    try:
        import torch
    except ImportError:
        fail("torch is not installed: pip install torch==2.13.0 (the CPU build), or pip install -e '.[torch]'")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = prepare(args)
    jobs = [
        {"setting": setting, "size": size, "vocab": vocab, "arm": arm}
        for setting in args.settings for size in args.sizes for vocab in args.vocab_sizes for arm in args.arms
    ]
    rates = [best_lr(torch, job, data[job["vocab"], job["arm"]], args) for job in jobs]
    results = []
    for seed in args.seeds:  # seed by seed, so that every arm has a result early
        for job, lr in zip(jobs, rates):
            results.append(one_run(torch, job, data[job["vocab"], job["arm"]], lr, seed, "eval", args))
    rows = summarize(results)
    if args.json:
        print(json.dumps({"rows": rows, "runs": results}, indent=1, ensure_ascii=False))
    else:
        print(render(rows) + "\n" + render_breakdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
