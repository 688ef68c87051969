"""Helpers shared by the benchmarks: the development corpus, the author split, o200k offline.

The corpus is not part of the project: it lives at ``../shared/corpus`` beside the project
root (see its README). The baselines need the bench extras (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"

# Unseen authors to score on: about 10 MB of prose, a quarter of the Russian corpus.
DEFAULT_EVAL_AUTHORS = ("Chekhov", "Turgenev", "Herzen", "Blok")
# A smaller mining part for quick runs: every mining author except the two largest.
QUICK_SKIP_AUTHORS = ("Tolstoy", "Bryusov")

LEGACY_ENCODING = "cp1251"


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the result."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def require_bench_extras() -> None:
    missing = []
    for module in ("tokenizers", "tiktoken", "bpe_openai"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        fail(f"missing bench extras ({', '.join(missing)}); install them with: pip install -e '.[bench]'")


def require_corpus(corpus: Path) -> Path:
    """The ``ru`` folder of the corpus, or exit saying where it was looked for."""
    ru = corpus / "ru"
    if not ru.is_dir():
        fail(
            f"development corpus not found at {corpus} (expected {ru}); it is not part of the project: "
            "place it at ../shared/corpus beside the project root or pass --corpus"
        )
    return ru


# -- the corpus and the author split --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Work:
    path: Path
    genre: str
    author: str

    @property
    def relative(self) -> str:
        """genre/Author/Title.txt: unique within the corpus."""
        return f"{self.genre}/{self.author}/{self.path.name}"


def list_works(ru: Path) -> list[Work]:
    """Every ``ru/<genre>/<Author>/<Title>.txt``, in a fixed order (info.csv left out)."""
    works = [Work(p, p.parent.parent.name, p.parent.name) for p in ru.glob("*/*/*.txt") if p.is_file()]
    return sorted(works, key=lambda w: w.relative)


def authors_of(works: Iterable[Work]) -> list[str]:
    return sorted({w.author for w in works})


def split_by_author(works: list[Work], eval_authors: Iterable[str]) -> tuple[list[Work], list[Work]]:
    """(mining, evaluation). The author name is the identity: an author who wrote in
    several genres goes wholly to one side."""
    wanted = set(eval_authors)
    known = set(authors_of(works))
    unknown = sorted(wanted - known)
    if unknown:
        fail(f"unknown author(s) {', '.join(unknown)}; the corpus has: {', '.join(sorted(known))}")
    mining = [w for w in works if w.author not in wanted]
    evaluation = [w for w in works if w.author in wanted]
    if not mining or not evaluation:
        fail("the split leaves one side empty; name some but not all authors for evaluation")
    assert not {w.author for w in mining} & {w.author for w in evaluation}
    return mining, evaluation


def describe(works: list[Work]) -> str:
    """'Author (genre, genre) N files X.X MB' per author, one a line."""
    lines = []
    for author in authors_of(works):
        mine = [w for w in works if w.author == author]
        genres = ", ".join(sorted({w.genre for w in mine}))
        size = sum(w.path.stat().st_size for w in mine)
        lines.append(f"  {author:<10} {genres:<18} {len(mine):>3} files {size / 1e6:6.2f} MB")
    total = sum(w.path.stat().st_size for w in works)
    lines.append(f"  {'total':<10} {'':<18} {len(works):>3} files {total / 1e6:6.2f} MB")
    return "\n".join(lines)


def read_text(path: Path) -> str:
    """A work as text: UTF-8, or the legacy Cyrillic code page for the one file that is not."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(LEGACY_ENCODING)


def link_tree(works: Iterable[Work], dest: Path) -> Path:
    """A folder of symbolic links ``dest/genre/Author/Title.txt`` to the works, so that
    ltmc reads exactly these files under names unique across genres."""
    for work in works:
        target = dest / work.genre / work.author / work.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(work.path.resolve())
    return dest


def repeated_corpus(ru: Path, copies: int, dest: Path) -> int:
    """``dest``/copy-NN/... → every file of ru/, ``copies`` times (links to files: ltmc
    does not follow links to folders); the total bytes behind them."""
    files = [p for p in sorted(ru.rglob("*")) if p.is_file()]
    for k in range(copies):
        for path in files:
            link = dest / f"copy-{k:02d}" / path.relative_to(ru)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
    return copies * sum(p.stat().st_size for p in files)


# -- o200k_base without the network ---------------------------------------------------


def load_o200k():
    """tiktoken's o200k_base, built offline from the copy inside the ``bpe-openai`` package."""
    from ltmc.baselines import load_o200k as load

    encoding = load()
    if encoding is None:
        fail("cannot load o200k_base from the bpe-openai package; pip install -e '.[bench]'")
    return encoding
