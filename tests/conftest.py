"""Shared fixtures for the ltmc test suite.

Hypothesis profiles
-------------------
The profile is picked by the environment variable ``HYPOTHESIS_PROFILE`` and is
"ci" when it is not set. "ci" runs the property tests with 2000 examples, which
keeps the whole suite to a few minutes on a small machine.

For a long fuzz of the lossless bytes round trip, run locally:

    HYPOTHESIS_PROFILE=fuzz pytest tests/test_codebook.py -k bytes

The "fuzz" profile runs 200 000 examples per property test and has no deadline;
expect it to take a while. "dev" (200 examples) is handy while editing tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ltmc import corpus_counts, shard_writer, stages
from ltmc.codebook import Codebook
from ltmc.engines import local
from ltmc.mining import mine

settings.register_profile(
    "ci",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "fuzz",
    max_examples=200_000,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PROJECT_ROOT = Path(__file__).parents[1]
CORPUS_DIR = PROJECT_ROOT.parent / "shared" / "corpus"

# Short texts written for these tests: prose, verse with stanzas, dialogue,
# numbers, punctuation and a little Latin script, so that the mined codebook
# holds every kind of token (characters, endings, stems, words, bonds).
SAMPLE_TEXTS = [
    (
        "Утром над рекой стоял густой туман, и лодки у берега казались серыми тенями. "
        "Старый рыбак сидел на перевёрнутом ведре и чинил сеть, не глядя на воду. "
        "Он знал, что рыба придёт позже, когда солнце поднимется над лесом.\n"
        "— Рано ещё, — сказал он мальчику, который принёс ему хлеб и молоко. — "
        "Садись рядом и смотри, как я вяжу узлы.\n"
        "Мальчик сел и стал смотреть. Узлы получались ровные, крепкие, один к одному.\n"
    ),
    (
        "В городе шёл дождь третий день подряд. По улицам бежали ручьи, а люди "
        "прятались под зонтами и спешили домой. В маленькой лавке на углу горела лампа, "
        "и хозяйка считала выручку: 125 рублей, 30 копеек, ещё 7 рублей за свечи.\n"
        "Она думала о сыне, который уехал учиться в столицу, и о письме, которое "
        "должно было прийти ещё на прошлой неделе. Письма всё не было.\n"
        "«Напишет, — говорила она себе. — Обязательно напишет, когда будет время».\n"
    ),
    (
        "Ветер гонит облака\n"
        "над широкими полями,\n"
        "и дорога далека,\n"
        "и темно уже за нами.\n"
        "\n"
        "Спит деревня у реки,\n"
        "спят усталые колёса,\n"
        "только светят огоньки\n"
        "за излучиной откоса.\n"
        "\n"
        "Я вернусь, когда весна\n"
        "разобьёт на речке льдины,\n"
        "и проснётся тишина\n"
        "в голубой моей долине.\n"
    ),
    (
        "Учитель вошёл в класс и положил на стол толстую книгу. Дети притихли. "
        "Он открыл книгу на середине и начал читать вслух о далёких странах, "
        "о морях и кораблях, о людях, которые не боялись бурь. Когда он закончил, "
        "никто не сказал ни слова: все думали о море.\n"
        "После уроков дети пошли к реке и долго смотрели на воду, как будто "
        "ждали, что из-за поворота выйдет большой корабль с белыми парусами.\n"
        "Book, ship and sea: so the English words read in the old dictionary.\n"
    ),
]


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    return list(SAMPLE_TEXTS)


@pytest.fixture(scope="session")
def codebook() -> Codebook:
    """A small codebook (budget 1024 ids) mined from the sample texts."""
    book, _report = mine(SAMPLE_TEXTS * 3, 1024)
    return book


@pytest.fixture(scope="session")
def codebook_file(codebook: Codebook, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("codebook") / "codebook.json"
    codebook.save(path)
    return path


@pytest.fixture
def corpus_dir() -> Path:
    """The shared corpus of real books (../shared/corpus), or a clean skip."""
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"real corpus not present at {CORPUS_DIR}")
    return CORPUS_DIR


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Create ``files`` (relative posix name → bytes) under ``root``."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative posix name → bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def write_tree():
    return _write_tree


@pytest.fixture
def read_tree():
    return _read_tree


# -- a small corpus of awkward files, and settings that make it span many batches and shards --

_VERSE = "Спит деревня у реки,\nспят усталые колёса,\nтолько светят огоньки\nза излучиной откоса.\n"
_PROSE = "Старый рыбак сидел на перевёрнутом ведре и чинил сеть, не глядя на воду. " * 12 + "\n"

# Everything here is valid in its encoding; stray bytes get their own tests below.
TREE = {
    "crlf.txt": ("Первая строка\r\nВторая строка\r\n\r\n" + _PROSE.replace("\n", "\r\n")).encode("utf-8"),
    "bom.txt": b"\xef\xbb\xbf" + "Текст с меткой порядка байтов.\n".encode("utf-8"),
    "nbsp_tabs.txt": "Цена:\u00a0125\u00a0руб.\n\tОтступ табом\t\tи ещё\u2009тонкий\u202fпробел\n".encode("utf-8"),
    "emoji_cjk.txt": "Смайлик 🙂👍🏽, флаг 🇷🇺, иероглифы 漢字かな, греческий αβγ, é (e\u0301)\n".encode("utf-8"),
    "empty.txt": b"",
    "cp1251.txt": (_VERSE * 3 + "Ёжик «в тумане» — №1\r\n").encode("cp1251"),
    "nested/deeper/book.txt": ((_VERSE + "\n") * 40 + _PROSE * 30).encode("utf-8"),
    "nested/no_newline_at_end.txt": "последняя строка без перевода".encode("utf-8"),
    "nested/only_spaces.txt": b" \n\n\t \r\n",
    "latin/ascii.txt": b"Plain ASCII, with numbers 1234567890 and symbols #$%&*().\n" * 50,
}


@pytest.fixture
def corpus(tmp_path, write_tree):
    return write_tree(tmp_path / "corpus", TREE)


@pytest.fixture
def small_shards(monkeypatch):
    """Small batches, shards and tasks, so a tiny corpus spans several of each."""
    monkeypatch.setattr(stages, "BATCH_SCENES", 2)
    monkeypatch.setattr(shard_writer, "SHARD_SCENES", 5)
    monkeypatch.setattr(local, "TASK_BYTES", 200)  # tasks of one file and of several


needs_c = pytest.mark.skipif(corpus_counts.native is None, reason="ltmc._fastpath was not built (no C compiler at install); .ci/run requires it")
