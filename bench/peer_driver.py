"""The peers' side of ``bench/speed.py``: files on disk → ids on disk → files, as one process per step.

    python bench/peer_driver.py encode tiktoken INPUT_DIR IDS_DIR [--threads N]
    python bench/peer_driver.py decode tiktoken IDS_DIR RESTORED_DIR [--threads N]
    python bench/peer_driver.py encode hf:TOKENIZER.json INPUT_DIR IDS_DIR [--threads N]
    python bench/peer_driver.py train-hf INPUT_DIR TOKENIZER.json [--vocab-size V]

tiktoken is o200k_base, loaded offline (``common.load_o200k``); ``hf:`` is a
HuggingFace ``tokenizers`` byte-level BPE (``train-hf`` makes one). Every input
file becomes ``IDS_DIR/<relative path>.ids`` (uint32, native order); decode
writes each back as UTF-8 text. One JSON line on stdout: bytes and the seconds
spent inside the tokenizer calls, so in-process and whole-process speeds can be
told apart. Threads: a thread pool over files for tiktoken (it releases the GIL),
``encode_batch`` with RAYON_NUM_THREADS for tokenizers (set by the caller).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import read_text  # noqa: E402


def _files(root: Path, suffix: str = "") -> list[Path]:
    return sorted(p for p in root.rglob("*" + suffix) if p.is_file())


class _Tiktoken:
    def __init__(self) -> None:
        from common import load_o200k

        self.enc = load_o200k()

    def encode_all(self, texts: list[str], threads: int) -> list[list[int]]:
        if threads <= 1:
            return [self.enc.encode_ordinary(t) for t in texts]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(self.enc.encode_ordinary, texts))

    def decode_all(self, ids: list[np.ndarray], threads: int) -> list[bytes]:
        def one(a: np.ndarray) -> bytes:
            return self.enc.decode_bytes(a.tolist())

        if threads <= 1:
            return [one(a) for a in ids]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, ids))


class _HF:
    def __init__(self, path: str) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(path)

    def encode_all(self, texts: list[str], threads: int) -> list[list[int]]:
        if threads <= 1:
            return [self.tok.encode(t, add_special_tokens=False).ids for t in texts]
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def decode_all(self, ids: list[np.ndarray], threads: int) -> list[bytes]:
        lists = [a.tolist() for a in ids]
        if threads <= 1:
            texts = [self.tok.decode(x, skip_special_tokens=False) for x in lists]
        else:
            texts = self.tok.decode_batch(lists, skip_special_tokens=False)
        return [t.encode("utf-8", "surrogatepass") for t in texts]


def _tokenizer(name: str):
    if name == "tiktoken":
        return _Tiktoken()
    if name.startswith("hf:"):
        return _HF(name[3:])
    raise SystemExit(f"unknown tokenizer {name!r}: tiktoken or hf:PATH")


def encode(name: str, src: Path, dst: Path, threads: int) -> dict:
    tok = _tokenizer(name)
    files = _files(src)
    texts = [read_text(p) for p in files]
    start = time.perf_counter()
    ids = tok.encode_all(texts, threads)
    inproc = time.perf_counter() - start
    n_ids = 0
    for path, row in zip(files, ids):
        out = dst / (path.relative_to(src).as_posix() + ".ids")
        out.parent.mkdir(parents=True, exist_ok=True)
        np.asarray(row, dtype=np.uint32).tofile(out)
        n_ids += len(row)
    return {"bytes": sum(len(t.encode("utf-8")) for t in texts), "ids": n_ids, "inproc_s": inproc}


def decode(name: str, src: Path, dst: Path, threads: int) -> dict:
    tok = _tokenizer(name)
    files = _files(src, ".ids")
    ids = [np.fromfile(p, dtype=np.uint32) for p in files]
    start = time.perf_counter()
    data = tok.decode_all(ids, threads)
    inproc = time.perf_counter() - start
    for path, raw in zip(files, data):
        out = dst / path.relative_to(src).as_posix().removesuffix(".ids")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(raw)
    return {"bytes": sum(len(d) for d in data), "inproc_s": inproc}


def train_hf(src: Path, dst: Path, vocab_size: int) -> dict:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    texts = [read_text(p) for p in _files(src)]
    start = time.perf_counter()
    tok.train_from_iterator(texts, trainer)
    inproc = time.perf_counter() - start
    tok.save(str(dst))
    return {"bytes": sum(len(t.encode("utf-8")) for t in texts), "vocab_size": tok.get_vocab_size(), "inproc_s": inproc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("encode", "decode"):
        p = sub.add_parser(command)
        p.add_argument("tokenizer", help="tiktoken or hf:TOKENIZER.json")
        p.add_argument("src", type=Path)
        p.add_argument("dst", type=Path)
        p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("train-hf")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--vocab-size", type=int, default=32768)
    args = parser.parse_args()
    if args.command == "train-hf":
        result = train_hf(args.src, args.dst, args.vocab_size)
    else:
        result = (encode if args.command == "encode" else decode)(args.tokenizer, args.src, args.dst, args.threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
