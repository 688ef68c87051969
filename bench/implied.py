"""What running text does after each mark: the evidence for the codebook's implied
capitals and spaces (codebook.RULES).

For every word of ../shared/corpus/ru that is mostly written in lower case (its
lower-case spelling at least 3 times as common as its capitalised one, so names
are left out), this takes the run of punctuation and whitespace before it and
counts how often the word is capitalised there. Indentation after a line break
is shown as `~`, a space as `·`, a no-break space as `_`. A second table counts,
for the last character of the punctuation before a word, how often a space
separates the two, and flags the characters where the current rules imply the
rarer case.

    python bench/implied.py              # the 40 most common contexts
    python bench/implied.py --top 80
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_CORPUS, list_works, read_text, require_corpus  # noqa: E402
from ltmc.codebook import VERSION  # noqa: E402
from ltmc.rules import RULES  # noqa: E402
from ltmc.pretokenize import pieces  # noqa: E402


def core(piece: str) -> str:
    return piece[1:] if piece[:1] == " " else piece


def shown(gap: str) -> str:
    gap = re.sub(r"\n[ \t]+", "\n~", gap)
    return gap.replace("\xa0", "_").replace(" ", "·")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="How often a capital or a space follows each mark on ru/.")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--top", type=int, default=40, help="contexts to show (default 40)")
    args = parser.parse_args(argv)
    texts = [pieces(read_text(work.path)) for work in list_works(require_corpus(args.corpus))]

    forms: Counter[str] = Counter(core(p) for parts in texts for p in parts if core(p)[:1].isalpha())

    def mostly_lower(word: str) -> bool:
        lower = word[:1].lower() + word[1:]
        return forms[lower] >= 3 * forms[lower[:1].upper() + lower[1:]]

    capitals: dict[str, Counter] = defaultdict(Counter)
    spacing: Counter[tuple[str, bool]] = Counter()
    for parts in texts:
        gap: list[str] = []
        for piece in parts:
            word = core(piece)
            if not word[:1].isalpha():
                gap.append(piece)
                continue
            if gap and not gap[-1].isspace():
                spacing[(gap[-1][-1], piece[:1] == " ")] += 1
            if mostly_lower(word):
                capitals[shown("".join(gap))][word[:1].isupper()] += 1
            gap = []

    print(f"capitalised share of mostly-lower-case words after each context (top {args.top}):")
    print(f"{'context':<16} {'words':>9} {'capitalised':>12}")
    for context, seen in sorted(capitals.items(), key=lambda kv: -sum(kv[1].values()))[: args.top]:
        total = sum(seen.values())
        print(f"{context!r:<16} {total:>9,} {seen[True] / total:>12.3f}")

    space_after = RULES[VERSION].space_after
    print(f"\nlast mark before a word: spaced or glued; '!' where codebook version {VERSION} implies the rarer one:")
    print(f"{'mark':<8} {'spaced':>9} {'glued':>9}  implied")
    for mark in sorted({m for m, _ in spacing}, key=lambda m: -(spacing[(m, True)] + spacing[(m, False)])):
        spaced, glued = spacing[(mark, True)], spacing[(mark, False)]
        if spaced + glued < 20:
            continue
        implied = mark.isalnum() or mark in space_after
        flag = "!" if (spaced > glued) != implied else " "
        print(f"{mark!r:<8} {spaced:>9,} {glued:>9,}  {flag}{'space' if implied else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
