"""Does ltmc's memory stay flat as the corpus grows? Peak RSS of whole `ltmc` processes.

    python bench/memory.py               # ru/ once and 25 times (~1 GB), and one 200 MB line
    python bench/memory.py --copies 5    # a quicker run

Jobs, each a whole `ltmc` process with its default worker count:

    mine-bonds -V 32768 on ru/                  (issue target: at most 60 s)
    encode -c CODEBOOK and decode -o DIR on       ru/ once, ru/ COPIES times (links, not copies),
                                                and one 200 MB file with no newline at all

Peak RSS as in bench/speed.py: "max proc" is the largest single process (exact, from
wait4), "tree" the largest sum over the process tree (sampled; needs psutil). The
issue's target: under 1 GB for the ~1 GB corpus and for the 200 MB line, and no
growth with corpus size. Progress to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_CORPUS, log, read_text, repeated_corpus, require_corpus  # noqa: E402
from speed import LTMC, run  # noqa: E402

LINE_MB = 200
TARGET_MB = 1000


def one_long_line(ru: Path, megabytes: int, dest: Path) -> int:
    """A single file of ``megabytes`` MB of Russian books with every line break made a
    space. Written book by book: this process must stay small, or the jobs it forks
    would report its memory as theirs (ru_maxrss counts what a child had before exec)."""
    books = sorted(ru.rglob("*.txt"))
    target = megabytes * 1_000_000
    written = 0
    with open(dest, "wb") as fh:
        while True:
            for book in books:
                whole = (read_text(book).replace("\r", " ").replace("\n", " ") + " ").encode("utf-8")
                data = whole[: target - written].decode("utf-8", "ignore").encode("utf-8")  # never end inside a character
                fh.write(data)
                written += len(data)
                if len(data) < len(whole):
                    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus root holding ru/ (default: ../shared/corpus)")
    parser.add_argument("--copies", type=int, default=25, help="how many times ru/ is linked for the big job (default 25, ~1 GB)")
    parser.add_argument("--line-mb", type=int, default=LINE_MB, help=f"size of the file with no newline (default {LINE_MB})")
    args = parser.parse_args()
    ru = require_corpus(args.corpus)
    rows = []

    def job(name: str, cmd: list[str], n_bytes: int) -> None:
        log(f"  {name} ...")
        seconds, max_proc, tree, _ = run(cmd)
        rows.append((name, n_bytes, seconds, max_proc, tree))
        log(f"    {seconds:7.1f} s  max proc {max_proc:6.0f} MB  tree {tree or 0:6.0f} MB")

    with tempfile.TemporaryDirectory(prefix="ltmc-memory-") as tmp:
        tmp = Path(tmp)
        codebook = tmp / "codebook.json"
        ru_bytes = sum(p.stat().st_size for p in ru.rglob("*.txt"))
        job("mine-bonds ru/", [*LTMC, "mine-bonds", str(ru), "-o", str(codebook), "-V", "32768"], ru_bytes)
        inputs = [
            ("ru/ x1", tmp / "once", repeated_corpus(ru, 1, tmp / "once")),
            (f"ru/ x{args.copies}", tmp / "many", repeated_corpus(ru, args.copies, tmp / "many")),
            (f"{args.line_mb} MB line", tmp / "line.txt", one_long_line(ru, args.line_mb, tmp / "line.txt")),
        ]
        for name, path, size in inputs:
            out = tmp / "out"
            job(f"encode {name}", [*LTMC, "encode", str(path), "-o", str(out), "-c", str(codebook), "--force"], size)
            job(f"decode {name}", [*LTMC, "decode", str(out), "-o", str(tmp / "restored")], size)
            shutil.rmtree(out)
            shutil.rmtree(tmp / "restored")

    print(f"{'job':<22}{'input MB':>10}{'seconds':>9}{'MB/s':>7}{'peak RSS MB: max proc':>23}{'tree':>7}")
    for name, n_bytes, seconds, max_proc, tree in rows:
        tree_cell = f"{tree:7.0f}" if tree else "      -"
        print(f"{name:<22}{n_bytes / 1e6:10.0f}{seconds:9.1f}{n_bytes / 1e6 / seconds:7.2f}{max_proc:23.0f}{tree_cell}")
    peaks = [r[4] or r[3] for r in rows if not r[0].startswith("mine")]
    verdict = "PASS" if max(peaks) < TARGET_MB else "FAIL"
    print(f"\n{verdict}  peak RSS of every encode/decode tree < {TARGET_MB} MB: {max(peaks):.0f} MB")


if __name__ == "__main__":
    main()
