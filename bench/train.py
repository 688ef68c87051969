"""Does a small model learn as well from paired positions as from single ids?

One codebook is mined for pairs (``mine-bonds --paired``; ``--mined-for ids``: for
the fewest ids) on the mining part of ../shared/corpus/ru. The same small GPT is then trained twice, with the same seed,
steps, batch and context of T positions: once on the flat ids, once on the paired
positions (ltmc.pairing), where a position's input is the sum of its two ids'
embeddings and its output two softmaxes over the same table's rows, one over the
head ids and one over the tail ids. The tail is predicted given the true head (as
teacher forcing), through one small block of its own; both output layers together
are as wide as the codebook (+1 for the empty slot), so a step costs a little more
than a flat one (that block). Reported: validation bits per character on unseen authors (the
nats of every id or position, over the characters they spell), and the time.

    python bench/train.py                       # 8192 ids, 1200 steps each (~25 min on 2 cores)
    python bench/train.py --steps 400 --train-mb 1
    python bench/train.py --mined-for ids --streams flat   # the flat model on the codebook for ids
    python bench/train.py --json > train.json

Needs torch (CPU is enough: pip install torch --index-url https://download.pytorch.org/whl/cpu).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_CORPUS, DEFAULT_EVAL_AUTHORS, fail, list_works, log, read_text, require_corpus, split_by_author  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The same small GPT on flat ids and on paired positions.")
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--ctx", type=int, default=256, help="positions per window (ids for the flat model)")
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--train-mb", type=float, default=4.0, help="training text, MB of characters' UTF-8, sampled by scene")
    parser.add_argument("--val-mb", type=float, default=0.5, help="validation text from the unseen authors")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--streams", nargs="+", choices=("flat", "paired"), default=["flat", "paired"])
    parser.add_argument("--mined-for", choices=("pairs", "ids"), default="pairs", help="what the codebook is mined for (mine-bonds --paired or not)")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def sample_scenes(texts: list[str], megabytes: float) -> list[str]:
    """Scenes chosen by a hash of their text, up to ``megabytes``: the same on every run."""
    from ltmc.scenes import split_scenes

    scenes = sorted((zlib.crc32(s.encode("utf-8", "surrogateescape")), s) for t in texts for s in split_scenes(t))
    chosen, size = [], 0
    for _, scene in scenes:
        if size >= megabytes * 1e6:
            break
        chosen.append(scene)
        size += len(scene.encode("utf-8", "surrogateescape"))
    return chosen


def flat_stream(book, scenes: list[str]) -> np.ndarray:
    """The separator 256 before every scene, then its ids: the stream `ltmc export` writes."""
    import pyarrow as pa

    from ltmc.export import stream_bytes

    ids, _ = book.encode_scenes(scenes)
    return np.frombuffer(stream_bytes(pa.RecordBatch.from_arrays([ids], names=["ids"]), "uint32"), dtype="<u4").astype(np.int64)


def build_model(torch, vocab: int, args, head_ids=None, tail_ids=None):
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(args.d_model), nn.LayerNorm(args.d_model)
            self.qkv = nn.Linear(args.d_model, 3 * args.d_model)
            self.proj = nn.Linear(args.d_model, args.d_model)
            self.mlp = nn.Sequential(nn.Linear(args.d_model, 4 * args.d_model), nn.GELU(), nn.Linear(4 * args.d_model, args.d_model))

        def forward(self, h):
            b, t, d = h.shape
            q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, args.heads, d // args.heads).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
            h = h + self.proj(a)
            return h + self.mlp(self.norm2(h))

    class GPT(nn.Module):
        """Tied input and output table; paired when given the head and tail id sets."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(vocab, args.d_model)
            self.pos = nn.Embedding(args.ctx, args.d_model)
            self.blocks = nn.ModuleList(Block() for _ in range(args.layers))
            self.norm = nn.LayerNorm(args.d_model)
            for table in (self.embed, self.pos):  # small, so the tied output starts near uniform
                nn.init.normal_(table.weight, std=0.02)
            self.paired = head_ids is not None
            if self.paired:
                # The ending agrees with its stem and its context: a block of its own reads both.
                self.tail_norm = nn.LayerNorm(args.d_model)
                self.tail_mlp = nn.Sequential(nn.Linear(args.d_model, 4 * args.d_model), nn.GELU(), nn.Linear(4 * args.d_model, args.d_model))
                self.tail_out = nn.LayerNorm(args.d_model)
                self.register_buffer("head_ids", torch.as_tensor(head_ids))
                self.register_buffer("tail_ids", torch.as_tensor(tail_ids))
                # id → its row among the head (or tail) ids; -1 where it cannot stand
                for name, ids in (("head_row", head_ids), ("tail_row", tail_ids)):
                    row = torch.full((vocab,), -1, dtype=torch.long)
                    row[torch.as_tensor(ids)] = torch.arange(len(ids))
                    self.register_buffer(name, row)

        def forward(self, x, y):
            """Summed nats of predicting ``y`` (the next id or position) at every place."""
            inputs = self.embed(x).sum(dim=2) if self.paired else self.embed(x)
            h = inputs + self.pos.weight[: x.shape[1]]
            for block in self.blocks:
                h = block(h)
            z = self.norm(h)
            if not self.paired:
                return F.cross_entropy((z @ self.embed.weight.T).flatten(0, 1), y.flatten(), reduction="sum")
            head, tail = y[..., 0], y[..., 1]
            head_logits = z @ self.embed.weight[self.head_ids].T
            given_head = self.tail_norm(z + self.embed(head))
            given_head = self.tail_out(given_head + self.tail_mlp(given_head))
            tail_logits = given_head @ self.embed.weight[self.tail_ids].T
            return F.cross_entropy(head_logits.flatten(0, 1), self.head_row[head].flatten(), reduction="sum") + F.cross_entropy(
                tail_logits.flatten(0, 1), self.tail_row[tail].flatten(), reduction="sum"
            )

    return GPT()


def train_and_score(torch, stream: np.ndarray, val: np.ndarray, val_chars: int, vocab: int, args, head_ids=None, tail_ids=None) -> dict:
    torch.manual_seed(args.seed)
    model = build_model(torch, vocab, args, head_ids, tail_ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    warmup = max(1, args.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))
    )
    data = torch.from_numpy(stream)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    model.train()
    for step in range(args.steps):
        offsets = rng.integers(0, len(stream) - args.ctx - 1, size=args.batch)
        window = torch.stack([data[o : o + args.ctx + 1] for o in offsets])
        loss = model(window[:, :-1], window[:, 1:]) / (args.batch * args.ctx)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % max(1, args.steps // 8) == 0 or step == args.steps - 1:
            log(f"    step {step:>5}: {loss.item():.3f} nats per place")
    train_s = time.perf_counter() - start
    model.eval()
    nats = 0.0
    values = torch.from_numpy(val)
    with torch.no_grad():
        for begin in range(0, len(val) - 1, args.ctx):
            window = values[begin : begin + args.ctx + 1].unsqueeze(0)
            if window.shape[1] > 1:
                nats += model(window[:, :-1], window[:, 1:]).item()
    return {
        "bits_per_char": nats / math.log(2) / val_chars,
        "train_s": round(train_s, 1),
        "places_per_window": args.ctx,
        "train_places": args.steps * args.batch * args.ctx,
        "val_places": len(val),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        fail("torch is not installed; pip install torch --index-url https://download.pytorch.org/whl/cpu")
    from ltmc import pairing
    from ltmc.mining import mine

    mining, evaluation = split_by_author(list_works(require_corpus(args.corpus)), DEFAULT_EVAL_AUTHORS)
    mining_texts = [read_text(w.path) for w in mining]
    log(f"mining {args.vocab_size} ids for {args.mined_for} on {sum(map(len, mining_texts)):,} chars")
    book, _ = mine(mining_texts, args.vocab_size, paired=args.mined_for == "pairs")
    train_scenes = sample_scenes(mining_texts, args.train_mb)
    val_scenes = sample_scenes([read_text(w.path) for w in evaluation], args.val_mb)
    val_chars = sum(map(len, val_scenes))
    is_tail = pairing.tail_mask(book)
    flat, val_flat = flat_stream(book, train_scenes), flat_stream(book, val_scenes)
    paired, val_paired = (pairing.pair(s, is_tail).astype(np.int64) for s in (flat, val_flat))
    # The empty slot (256) can stand in both, so the two sets share that one row.
    head_ids = np.flatnonzero(~is_tail)
    tail_ids = np.concatenate(([pairing.EMPTY], np.flatnonzero(is_tail)))
    log(f"train: {len(train_scenes):,} scenes, {len(flat):,} ids, {len(paired):,} positions; val: {val_chars:,} chars, {len(val_flat):,} ids, {len(val_paired):,} positions")

    result = {"vocab_size": len(book), "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "val_chars": val_chars, "runs": {}}
    streams = {"flat": ("flat ids", flat, val_flat, (None, None)), "paired": ("paired positions", paired, val_paired, (head_ids, tail_ids))}
    for name, stream, val, sets in (streams[s] for s in args.streams):
        log(f"  {name}: {args.steps} steps of {args.batch} × {args.ctx}")
        run = train_and_score(torch, stream, val, val_chars, len(book), args, *sets)
        run["chars_per_place"] = val_chars / len(val)
        result["runs"][name] = run
        log(f"  {name}: {run['bits_per_char']:.4f} bits/char on unseen authors, trained in {run['train_s']} s")

    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"codebook: {len(book)} ids mined for {args.mined_for}; validation: {val_chars:,} chars of {', '.join(DEFAULT_EVAL_AUTHORS)}")
        print(f"model: d_model {args.d_model}, {args.layers} layers, {args.heads} heads, {args.steps} steps of {args.batch} windows of {args.ctx}")
        print()
        print("| stream | chars per place | train chars seen (approx.) | train s | val bits/char |")
        print("|---|---:|---:|---:|---:|")
        for name, run in result["runs"].items():
            print(f"| {name} | {run['chars_per_place']:.2f} | {run['train_places'] * run['chars_per_place']:,.0f} | {run['train_s']} | {run['bits_per_char']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
