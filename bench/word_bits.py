"""Word by word: where an ltmc arm's bits on the unseen authors go, against BPE's.

bench/train.py keeps the nats of every prediction of each scored run
(``nats-<key>.npy`` in its cache). This lays two kept runs, an ltmc arm's and
BPE's of the same setting, size, vocabulary and seed, on the words of the text
they scored, and groups the words by class and by how many places the ltmc arm
spells each with. A class's bits per byte hide where ltmc wins and where it
loses; this shows it: at 8192 ids ltmc wins on the words it spells in one or two
ids and loses on those it needs three or more for (docs/benchmarks.md).

    python bench/word_bits.py --arms flat-nobonds --seeds 0 --lr 0.006
    python bench/word_bits.py --arms paired-nobonds --sizes base --lr 0.006 --bpe-lr 0.003

The options are bench/train.py's (one arm, size, vocabulary size, setting and
seed); ``--lr`` is the ltmc run's rate and ``--bpe-lr`` BPE's (default the same).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fail  # noqa: E402
from lm_data import CLASSES, Tokenizers, byte_nats, common_forms, separator_id, separator_places, stream, word_spans  # noqa: E402
from train import kept_nats_path, parse_args, run_key, texts  # noqa: E402

MOST_PLACES = 4  # words of this many places or more are one group


def word_bits(place_nats: np.ndarray, place_bytes: np.ndarray, is_separator: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bits, places) of each word [start, end) of the text the places spell: the
    bits ``byte_nats`` lays on its bytes, and the places those bits come from: the
    ones that spell its bytes, the markers among them, and the markers right
    before them whose bits fall on its first byte (FLIP, GLUE)."""
    per_byte, _ = byte_nats(place_nats, place_bytes, is_separator)
    before = np.concatenate(([0.0], np.cumsum(per_byte[:-1])))
    bits = (before[ends] - before[starts]) / np.log(2)
    first_byte = np.concatenate(([0], np.cumsum(place_bytes)[:-1]))
    place_of_byte = np.repeat(np.arange(len(place_bytes)), place_bytes)  # places spell the bytes in order
    first, last = place_of_byte[starts], place_of_byte[ends - 1]
    # Markers right before a place: how many zero-byte places (not separators) end at it.
    index = np.arange(len(place_bytes))
    marker = (place_bytes == 0) & ~is_separator
    last_other = np.maximum.accumulate(np.where(marker, -1, index))
    markers_before = np.concatenate(([0], index[:-1] - last_other[:-1]))
    leading = np.where(first_byte[first] == starts, markers_before[first], 0)
    return bits, last - first + 1 + leading


def compare(ltmc: tuple, bpe: tuple, spans: np.ndarray) -> list[dict]:
    """One row per (class, ltmc places) group: each arm's places per word and bits per
    byte, and the bits ltmc spends there beyond BPE's, as a share of all of BPE's."""
    starts, ends, classes = spans.reshape(-1, 3).T
    ltmc_bits, ltmc_places = word_bits(*ltmc, starts, ends)
    bpe_bits, bpe_places = word_bits(*bpe, starts, ends)
    bpe_total = float(bpe[0].sum() / np.log(2))
    group = np.minimum(ltmc_places, MOST_PLACES)
    rows = []
    for klass, name in enumerate(CLASSES):
        for places in range(1, MOST_PLACES + 1):
            mask = (classes == klass) & (group == places)
            if not mask.any():
                continue
            n_bytes = int((ends - starts)[mask].sum())
            rows.append({
                "class": name,
                "ltmc places": f"{places}+" if places == MOST_PLACES else str(places),
                "words": int(mask.sum()),
                "bytes": n_bytes,
                "bpe places/word": float(bpe_places[mask].mean()),
                "ltmc places/word": float(ltmc_places[mask].mean()),
                "bpe bits": float(bpe_bits[mask].sum()),
                "ltmc bits": float(ltmc_bits[mask].sum()),
                "extra share": float((ltmc_bits[mask].sum() - bpe_bits[mask].sum()) / bpe_total),
            })
    return rows


def render(rows: list[dict], arm: str) -> str:
    lines = [
        f"| class | {arm} places | words | bytes | places/word, BPE → ltmc | BPE bits/byte | ltmc bits/byte | change | of BPE's bits |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['class']} | {r['ltmc places']} | {r['words']:,} | {r['bytes']:,} | {r['bpe places/word']:.2f} → {r['ltmc places/word']:.2f} "
            f"| {r['bpe bits'] / r['bytes']:.3f} | {r['ltmc bits'] / r['bytes']:.3f} | {100 * (r['ltmc bits'] / r['bpe bits'] - 1):+.1f} % | {100 * r['extra share']:+.2f} % |"
        )
    return "\n".join(lines)


def laid_runs(args, arm: str, bpe_lr: float) -> tuple[tuple, tuple, np.ndarray]:
    """(the ltmc run, the BPE run, the words): each run as ``word_bits`` takes it
    (nats, bytes per place, separators), the words as (start, end, class) rows."""
    split = texts(args)
    tokenizers = Tokenizers(split["mining"], args.vocab_sizes[0], args.cache)
    laid = {}
    for name, lr in ((arm, args.lr), ("bpe", bpe_lr)):
        target = stream(tokenizers, name, split["eval"], "eval")
        places, place_bytes = target.places[1:], target.place_bytes[1:]  # the first place is given, not predicted
        key = run_key(args.settings[0], args.sizes[0], args.vocab_sizes[0], name, args.seeds[0], lr, args, "eval")
        path = kept_nats_path(args, key)
        if not path.exists():
            fail(f"no kept nats for {key} in {args.cache}: run bench/train.py with the same options first")
        nats = np.load(path).astype(np.float64)
        if nats.size != places.size:
            fail(f"{path} holds {nats.size:,} predictions and the stream {places.size:,}: it was scored on other ids")
        laid[name] = (nats, place_bytes, separator_places(places, separator_id(tokenizers.get(name))))
    spans = np.array(list(word_spans(split["eval"], common_forms(split["train"]))), dtype=np.int64)
    return laid[arm], laid["bpe"], spans


def main(argv: list[str] | None = None) -> int:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--bpe-lr", type=float, default=None)
    mine, rest = own.parse_known_args(argv)
    args = parse_args(rest)
    ltmc_arms = [a for a in args.arms if a != "bpe"]
    if len(ltmc_arms) != 1 or args.lr is None or any(len(v) != 1 for v in (args.sizes, args.vocab_sizes, args.settings, args.seeds)):
        fail("compare one ltmc arm with BPE: give one --arms, --sizes, --vocab-sizes, --settings and --seeds, and the --lr it was trained at")
    print(render(compare(*laid_runs(args, ltmc_arms[0], mine.bpe_lr or args.lr)), ltmc_arms[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
