"""Every file of the shared corpus of real books comes back byte for byte.

The corpus lives outside the project (../shared/corpus); the test skips cleanly
when it is absent. The codebook is mined from a small part of it (a few files),
so most of the corpus is encoded with a vocabulary that has never seen it.
"""

from __future__ import annotations

import hashlib

import orjson

from ltmc import pipeline, restore, shards
from ltmc.sources import LEGACY_ENCODING

EXPECTED_TXT_FILES = 298
MINING_SAMPLE = ["ru/poems/Lermontov", "ru/prose/Chekhov/Агафья.txt"]


def _all_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def test_every_corpus_file_round_trips(corpus_dir, tmp_path):
    sample = [str(corpus_dir / name) for name in MINING_SAMPLE if (corpus_dir / name).exists()]
    book, _report, failures = pipeline.mine_corpus(sample, 4096)
    assert not failures
    assert len(book) <= 4096

    out = tmp_path / "out"
    encoded = pipeline.encode_corpus([str(corpus_dir)], out, book, workers=2)
    assert encoded.failures == []

    originals = _all_files(corpus_dir)
    assert encoded.documents == len(originals)
    assert encoded.bytes == sum(p.stat().st_size for p in originals)

    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    encodings = {d["path"]: d["encoding"] for d in manifest["documents"]}
    assert LEGACY_ENCODING in encodings.values()  # the one cp1251 book is read as Cyrillic

    restored = tmp_path / "restored"
    decoded = restore.decode_corpus(out, restored, workers=2)
    assert decoded.mismatches == []
    assert decoded.documents == len(originals)

    mismatched = []
    for original in originals:
        name = original.relative_to(corpus_dir).as_posix()
        copy = restored / name
        if not copy.is_file() or copy.read_bytes() != original.read_bytes():
            mismatched.append(name)
    assert mismatched == []

    restored_files = [p for p in restored.rglob("*") if p.is_file()]
    assert len(restored_files) == len(originals)
    assert sum(1 for p in restored_files if p.suffix == ".txt") == EXPECTED_TXT_FILES
    assert not [p for p in restored_files if p.name.endswith(".tmp")]


def test_corpus_manifest_checksums_match_the_files(corpus_dir, tmp_path, codebook):
    # A cheap second check with the small test codebook: only the manifest and
    # verify mode, on one author's folder.
    folder = corpus_dir / "ru" / "poems" / "Pushkin"
    out = tmp_path / "out"
    pipeline.encode_corpus([str(folder)], out, codebook, workers=2)
    manifest = orjson.loads((out / shards.MANIFEST).read_bytes())
    for doc in manifest["documents"]:
        assert doc["sha256"] == hashlib.sha256((folder / doc["path"]).read_bytes()).hexdigest()
    verified = restore.decode_corpus(out, None, verify=True, workers=2)
    assert verified.mismatches == []
    assert verified.documents == len(manifest["documents"])
