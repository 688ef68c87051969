"""Baseline tokenizers to compare ltmc with, when the bench extras are installed.

- ``bpe``: byte-level BPE (HuggingFace ``tokenizers``) trained on the same text at
  the same vocabulary size as the ltmc codebook;
- ``o200k_base``: GPT-4o's tokenizer, built offline by tiktoken from the copy that
  the ``bpe-openai`` package ships (``bpe_openai/data/o200k_base.tiktoken.gz``).

Imports are lazy: each loader returns None when its packages are missing, so the
runtime does not depend on the extras. (bench/common.py carries the same o200k
constants for the benchmarks, which run outside the installed package.)
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

O200K_FILE = "o200k_base.tiktoken.gz"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"  # of the unpacked file
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

Counter = Callable[[list[str]], int]  # texts → total number of tokens


def load_o200k():
    """tiktoken's o200k_base Encoding, or None when tiktoken or bpe-openai is missing."""
    try:
        import importlib.resources

        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        packed = importlib.resources.files("bpe_openai").joinpath("data", O200K_FILE).read_bytes()
    except (ImportError, FileNotFoundError, OSError):
        return None
    saved = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # never write a cache copy
    try:
        with tempfile.TemporaryDirectory(prefix="ltmc-o200k-") as tmp:
            plain = Path(tmp, "o200k_base.tiktoken")
            plain.write_bytes(gzip.decompress(packed))
            ranks = load_tiktoken_bpe(str(plain), expected_hash=O200K_SHA256)
    finally:
        if saved is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = saved
    return tiktoken.Encoding(name="o200k_base", pat_str=O200K_PATTERN, mergeable_ranks=ranks, special_tokens=O200K_SPECIAL)


def train_bpe(texts: Iterable[str], vocab_size: int, special_tokens: tuple[str, ...] = ()):
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts``, or None without the
    package; ``special_tokens`` take ids within ``vocab_size``."""
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    except ImportError:
        return None
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(special_tokens),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def compare(texts: list[str], vocab_size: int) -> list[dict]:
    """Token counts of the baselines on ``texts``: [{name, vocab_size, tokens, note}], [] without extras."""
    results = []
    bpe = train_bpe(texts, vocab_size)
    if bpe is not None:
        tokens = sum(len(e.ids) for e in bpe.encode_batch(texts))
        results.append(
            {"name": "byte-level BPE", "vocab_size": bpe.get_vocab_size(), "tokens": tokens, "note": "HF tokenizers, trained on this corpus at ltmc's vocabulary size"}
        )
    o200k = load_o200k()
    if o200k is not None:
        tokens = sum(len(ids) for ids in o200k.encode_ordinary_batch(texts))
        results.append({"name": "o200k_base", "vocab_size": o200k.n_vocab, "tokens": tokens, "note": "GPT-4o's tokenizer (tiktoken, offline copy from bpe-openai)"})
    return results
