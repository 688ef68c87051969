"""nanoGPT on an ltmc export: the lines docs/export.md tells a user to change in its
sample.py, run here on ltmc's meta.pkl; and, when NANOGPT_DIR names a checkout of
karpathy/nanoGPT, its own train.py and the changed sample.py run on an export."""

from __future__ import annotations

import math
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ltmc import encode_corpus
from ltmc.codebook import Codebook
from ltmc.export import export

ROOT = Path(__file__).parents[1]
EXPORT_DOC = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")


def _sample_py_change() -> tuple[str, str]:
    """The (old, new) lines for sample.py, as docs/export.md gives them."""
    section = EXPORT_DOC.split("Replace these three lines of it:", 1)[1]
    old, new = (block.split("```", 1)[0] for block in section.split("```python\n")[1:3])
    return old, new


@pytest.fixture(scope="module")
def books_dir(tmp_path_factory, codebook) -> Path:
    root = tmp_path_factory.mktemp("nanogpt")
    encode_corpus([str(ROOT / "fixtures")], root / "out", codebook, workers=1)
    export(root / "out", root / "data" / "books", "nanogpt", 0.3)
    return root / "data" / "books"


def test_the_documented_sample_py_lines_decode_with_the_exported_codebook(books_dir):
    old, new = _sample_py_change()
    meta_path = str(books_dir / "meta.pkl")
    with open(meta_path, "rb") as f:
        meta = pickle.load(f)
    with pytest.raises(KeyError):
        exec(textwrap.dedent(old), {"meta": meta})  # what sample.py does unchanged: KeyError 'stoi'
    scope = {"os": os, "meta": meta, "meta_path": meta_path}
    exec(textwrap.dedent(new), scope)
    text = "Мороз и солнце; день чудесный!"
    assert scope["decode"](scope["encode"](text)) == text
    assert meta["vocab_size"] == scope["book"].vocab_size  # what train.py reads


def test_no_documented_nanogpt_option_is_one_nanogpt_lacks():
    assert "--vocab_size" not in EXPORT_DOC  # vocab_size comes from meta.pkl; train.py has no such key to set


@pytest.mark.skipif(not os.environ.get("NANOGPT_DIR"), reason="set NANOGPT_DIR to a checkout of karpathy/nanoGPT")
def test_nanogpt_trains_and_samples_on_the_export(books_dir, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("tiktoken")  # sample.py imports it
    source = Path(os.environ["NANOGPT_DIR"])
    work = tmp_path / "nanoGPT"
    work.mkdir()
    for name in ("train.py", "model.py", "configurator.py"):
        shutil.copy(source / name, work / name)
    old, new = _sample_py_change()
    sample = (source / "sample.py").read_text(encoding="utf-8")
    assert old in sample, "nanoGPT's sample.py no longer holds the lines docs/export.md replaces"
    (work / "sample.py").write_text(sample.replace(old, new), encoding="utf-8")
    shutil.copytree(books_dir, work / "data" / "books")
    tiny = ["--dataset=books", "--device=cpu", "--compile=False", "--dtype=float32", "--out_dir=out"]
    train = [*tiny, "--eval_iters=1", "--eval_interval=2", "--log_interval=1", "--block_size=8", "--batch_size=2",
             "--n_layer=1", "--n_head=1", "--n_embd=16", "--max_iters=2", "--lr_decay_iters=2", "--dropout=0.0", "--always_save_checkpoint=True"]
    env = os.environ | {"PYTHONIOENCODING": "utf-8:surrogateescape"}
    trained = subprocess.run([sys.executable, "train.py", *train], cwd=work, capture_output=True, text=True, timeout=600, env=env)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "found vocab_size" in trained.stdout
    sampled = subprocess.run(  # an untrained model may end on half a character: stray bytes print as they are
        [sys.executable, "sample.py", "--out_dir=out", "--device=cpu", "--num_samples=1", "--max_new_tokens=10", "--start=Мороз"],
        cwd=work, capture_output=True, encoding="utf-8", errors="surrogateescape", timeout=600, env=env,
    )
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    assert "Loading meta from" in sampled.stdout and "\nМороз" in sampled.stdout


def _paired_patch() -> str:
    """The patch docs/export.md gives for training nanoGPT on paired positions."""
    return EXPORT_DOC.split("### nanoGPT on paired positions", 1)[1].split("```diff\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(not os.environ.get("NANOGPT_DIR"), reason="set NANOGPT_DIR to a checkout of karpathy/nanoGPT")
@pytest.mark.parametrize(("place_width", "punct_tails"), [(2, False), (3, False), (3, True)])
def test_the_documented_patch_trains_nanogpt_on_paired_positions(books_dir, tmp_path, place_width, punct_tails):
    pytest.importorskip("torch")
    work = tmp_path / "nanoGPT"
    work.mkdir()
    for name in ("train.py", "model.py", "configurator.py"):
        shutil.copy(Path(os.environ["NANOGPT_DIR"]) / name, work / name)
    applied = subprocess.run(["patch", "-p1"], input=_paired_patch(), cwd=work, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    export(books_dir.parents[1] / "out", work / "data" / "books", "nanogpt", 0.3, paired=True, place_width=place_width, punct_tails=punct_tails)
    train = ["--dataset=books", "--device=cpu", "--compile=False", "--dtype=float32", "--out_dir=out", "--eval_iters=1", "--eval_interval=2",
             "--log_interval=1", "--block_size=8", "--batch_size=2", "--n_layer=1", "--n_head=1", "--n_embd=16", "--max_iters=2", "--lr_decay_iters=2"]
    trained = subprocess.run([sys.executable, "train.py", *train], cwd=work, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    # An untrained model guesses uniformly: its first loss is about ln(heads) plus ln(tails + empty)
    # per continuation when the paired output trains, and ln(vocab) when a flat softmax does.
    from ltmc.nn import tail_mask  # after the importorskip: ltmc.nn needs torch

    meta = pickle.loads((work / "data" / "books" / "meta.pkl").read_bytes())
    is_tail = tail_mask(Codebook.load(work / "data" / "books" / "codebook.json"), meta["tail_kinds"])
    uniform = math.log((~is_tail).sum()) + (place_width - 1) * math.log(is_tail.sum() + 1)
    losses = [float(line.split("loss ")[1].split(",")[0]) for line in trained.stdout.splitlines() if line.startswith("iter ")]
    assert losses and abs(losses[0] - uniform) < 0.1 * uniform, (losses, uniform, math.log(len(is_tail)))
