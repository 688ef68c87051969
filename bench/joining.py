"""What joinable ids and special tokens cost, on the unseen authors of bench/compression.py.

Two numbers, at each vocabulary size:

- the shards: a codebook mined with BOS, EOS and PAD (format 3) has 3 ids fewer for
  text than one mined without them at the same size, so the evaluation part, cut
  into scenes as ``ltmc encode`` cuts it, takes this many more ids;
- joining: ``encode(text)`` puts the separator in front of ids that depend on
  starting a sentence, so that texts encoded apart join; the shards' scenes
  (``encode_scenes``, ``joinable=False``) never pay it. Counted for each scene and
  for each line encoded as a text of its own (prompt-sized pieces).

    python bench/joining.py                   # 32768 ids
    python bench/joining.py --sizes 8192 32768
    python bench/joining.py --quick --json    # 8192, smaller mining part

Progress goes to stderr, the table (or JSON) to stdout. Needs the corpus only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_CORPUS, DEFAULT_EVAL_AUTHORS, describe, log, read_text  # noqa: E402
from compression import choose_works  # noqa: E402  (the same split)

from ltmc.mining import mine  # noqa: E402
from ltmc.scenes import iter_scenes  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The ids joinable encoding and special tokens cost on unseen authors.")
    parser.add_argument("--sizes", type=int, nargs="+", metavar="N", default=None, help="vocabulary sizes (default 32768; --quick 8192)")
    parser.add_argument("--eval-authors", nargs="+", metavar="AUTHOR", default=list(DEFAULT_EVAL_AUTHORS))
    parser.add_argument("--mine-authors", nargs="+", metavar="AUTHOR")
    parser.add_argument("--quick", action="store_true", help="size 8192, and the smaller mining part of compression.py --quick")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or ([8192] if args.quick else [32768])
    return args


def measure(size: int, mining_texts: list[str], scenes: list[str]) -> dict:
    start = time.perf_counter()
    plain, _ = mine(mining_texts, size, specials=())
    book, _ = mine(mining_texts, size)
    log(f"[{size}] mined with and without specials in {time.perf_counter() - start:.0f} s ({len(plain)} and {len(book)} ids)")
    column, _ = plain.encode_scenes(scenes)
    before = len(column.values)
    column, _ = book.encode_scenes(scenes)
    shards = len(column.values)
    joined_scenes = sum(len(book.encode(scene)) for scene in scenes)
    lines = [line for scene in scenes for line in scene.splitlines(keepends=True)]
    lines_alone = sum(len(book.encode(line, joinable=False)) for line in lines)
    lines_joined = sum(len(book.encode(line)) for line in lines)
    for ids_of in (book.encode,):  # the claim itself, on the real text: the lines' ids joined decode to the scenes
        joined = [i for line in lines for i in ids_of(line)]
        if book.decode(joined) != "".join(scenes):
            raise SystemExit("joined ids do not decode to the text")
    return {
        "ids": size,
        "scenes": len(scenes),
        "shard_ids_without_specials": before,
        "shard_ids": shards,
        "shard_change": shards - before,
        "scene_joinable_ids": joined_scenes,
        "scene_join_cost": joined_scenes - shards,
        "lines": len(lines),
        "line_ids": lines_alone,
        "line_join_cost": lines_joined - lines_alone,
    }


def render(rows: list[dict]) -> str:
    out = []
    for r in rows:
        out += [
            f"{r['ids']} ids, {r['scenes']:,} scenes, {r['lines']:,} lines of unseen authors:",
            f"  shards: {r['shard_ids']:,} ids with BOS/EOS/PAD in the budget, {r['shard_ids_without_specials']:,} without "
            f"({r['shard_change']:+,}, {r['shard_change'] / r['shard_ids_without_specials']:+.4%})",
            f"  joinable scenes: {r['scene_joinable_ids']:,} ids, {r['scene_join_cost']:+,} over the shards "
            f"({r['scene_join_cost'] / r['shard_ids']:+.3%}; {r['scene_join_cost'] / r['scenes']:.2f} per scene)",
            f"  joinable lines: {r['line_ids'] + r['line_join_cost']:,} ids, {r['line_join_cost']:+,} over the lines encoded as scenes "
            f"({r['line_join_cost'] / r['line_ids']:+.3%}; {r['line_join_cost'] / r['lines']:.2f} per line)",
        ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mining, evaluation = choose_works(args)
    log("mining part:\n" + describe(mining))
    log("evaluation part:\n" + describe(evaluation))
    mining_texts = [read_text(w.path) for w in mining]
    scenes = [scene for w in evaluation for scene in iter_scenes([read_text(w.path)])]
    rows = [measure(size, mining_texts, scenes) for size in args.sizes]
    print(json.dumps(rows, indent=2) if args.json else render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
