"""Glyph view: every token as one Unicode private-use character, and back.

Token id ``i`` is the character U+F0000 + i (supplementary private use areas,
planes 15 and 16), so every id up to 131,071 has its own character and a scene
of ``n`` tokens is a line of ``n`` characters: a text whose length *is* its token
count, for tools that count, diff, grep or window by characters. (Ids 65,534 and
65,535 land on U+FFFFE and U+FFFFF, noncharacters that UTF-8 still carries.)

A glyph file is UTF-8 text, one line per scene, with header lines that carry
what the shards need besides the ids, so ``from_glyphs`` rebuilds the shards
exactly::

    #ltmc-glyphs {"version": 1, "codebook": "sha256:…", "vocab_size": 32768}
    #doc {"path": "tolstoy/war.txt", "encoding": "utf-8", "bytes": 123, "sha256": "…"}
    󰄠󰇃󰃿…                     ← scene 0 of that document
    󰅀󰈁…                       ← scene 1
    #doc {"path": …}

A glyph line never starts with "#" (glyphs are ≥ U+F0000) and never holds a line
break (a newline inside the text is a token, so a glyph), which keeps the format
unambiguous.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
import pyarrow as pa

from ltmc import shards
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.pretokenize import count_words
from ltmc.sources import encode_text
from ltmc.stages import token_batch

GLYPH_BASE = 0xF0000
MAX_ID = 0x10FFFF - GLYPH_BASE  # 131,071
HEADER = "#ltmc-glyphs "
DOC = "#doc "
VERSION = 1
_SHARD_ROWS = 16_384


def to_glyphs(ids: Iterable[int]) -> str:
    """One character per id."""
    try:
        return "".join([chr(GLYPH_BASE + i) for i in ids])
    except (ValueError, OverflowError):
        bad = next(i for i in ids if not 0 <= i <= MAX_ID)
        raise LtmcError(f"token id {bad} has no glyph (ids 0 … {MAX_ID} do)", ExitCode.DATA) from None


def from_glyphs(text: str) -> list[int]:
    """The ids of a line of glyphs; anything else is refused with its position."""
    ids = [ord(c) - GLYPH_BASE for c in text]
    for pos, i in enumerate(ids):
        if i < 0:
            raise LtmcError(f"character {text[pos]!r} (U+{ord(text[pos]):04X}) at column {pos + 1} is not a token glyph", ExitCode.DATA)
    return ids


def glyph_lines(output: shards.Output) -> Iterator[str]:
    """The lines of the glyph file for an opened output directory (without line ends)."""
    book = output.codebook
    yield HEADER + orjson.dumps({"version": VERSION, "codebook": book.fingerprint, "vocab_size": len(book)}).decode()
    order = output.documents
    position = {d["path"]: i for i, d in enumerate(order)}
    next_doc = 0  # documents before this one in manifest order have their #doc line

    def doc_line(d: dict) -> str:
        return DOC + orjson.dumps({"path": d["path"], "encoding": d["encoding"], "bytes": d["bytes"], "sha256": d["sha256"]}).decode()

    current = None
    for batch in output.iter_batches(["path", "ids"]):
        for name, ids in zip(batch.column("path").to_pylist(), batch.column("ids").to_pylist()):
            if name != current:
                at = position.get(name)
                if at is None or at < next_doc:
                    raise LtmcError(f"{output.root}: shard holds document {name!r} out of the manifest's order", ExitCode.DATA)
                # documents without scenes (empty files) keep their place in manifest order
                for d in order[next_doc:at + 1]:
                    yield doc_line(d)
                next_doc, current = at + 1, name
            yield to_glyphs(ids)
    for d in order[next_doc:]:
        yield doc_line(d)


def write_glyphs(out_dir: str | Path, dest: str | Path) -> int:
    """Write the glyph file of ``out_dir`` to ``dest``; returns the number of scenes written."""
    output = shards.Output.open(out_dir)
    scenes = 0
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for line in glyph_lines(output):
                scenes += not line.startswith("#")
                fh.write(line)
                fh.write("\n")
        tmp.replace(dest)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise LtmcError(f"{err.filename or dest}: cannot write ({err.strerror})", ExitCode.IO) from None
    return scenes


def parse_glyph_file(lines: Iterable[str], source: str = "glyph file") -> tuple[dict, list[dict], Iterator[tuple[str, int, list[int]]]]:
    """(header, documents, rows) where rows yields (path, scene, ids) lazily."""
    lines = iter(lines)
    first = next(lines, "").rstrip("\n")
    if not first.startswith(HEADER):
        raise LtmcError(f"{source}: not an ltmc glyph file (no '{HEADER.strip()}' header); write one with `ltmc glyphs to`", ExitCode.DATA)
    try:
        header = orjson.loads(first[len(HEADER):])
    except orjson.JSONDecodeError as err:
        raise LtmcError(f"{source}: corrupt header ({err})", ExitCode.DATA) from None
    if header.get("version", 0) > VERSION:
        raise LtmcError(f"{source}: glyph format version {header.get('version')} is newer than this ltmc reads ({VERSION})", ExitCode.DATA)
    documents: list[dict] = []

    def rows() -> Iterator[tuple[str, int, list[int]]]:
        current = None
        scene = 0
        for number, line in enumerate(lines, start=2):
            line = line.rstrip("\n")
            if line.startswith(DOC):
                try:
                    doc = orjson.loads(line[len(DOC):])
                    current = doc["path"]
                    documents.append(doc)
                except (orjson.JSONDecodeError, KeyError, TypeError) as err:
                    raise LtmcError(f"{source}:{number}: corrupt document line ({err})", ExitCode.DATA) from None
                scene = 0
                continue
            if current is None:
                raise LtmcError(f"{source}:{number}: glyphs before any '#doc' line", ExitCode.DATA)
            try:
                ids = from_glyphs(line)
            except LtmcError as err:
                raise LtmcError(f"{source}:{number}: {err}", ExitCode.DATA) from None
            yield current, scene, ids
            scene += 1

    return header, documents, rows()


def token_rows(rows: list[tuple[str, int, list[int]]], encodings: dict[str, str], book: Codebook) -> pa.RecordBatch:
    """(path, scene, ids) rows → token rows (stages.TOKEN_SCHEMA), sizes measured by decoding."""
    texts = [book.decode(ids) for _, _, ids in rows]
    enc = [encodings[p] for p, _, _ in rows]
    return token_batch(
        pa.array([p for p, _, _ in rows], pa.string()),
        pa.array([s for _, s, _ in rows], pa.int32()),
        pa.array(enc, pa.string()),
        [encode_text(t, e) for t, e in zip(texts, enc)],
        texts,
        [count_words(t) for t in texts],
        pa.array([ids for _, _, ids in rows], pa.list_(pa.int32())),
    )


def read_glyphs(glyph_path: str | Path, codebook: Codebook, out_dir: str | Path) -> dict:
    """Rebuild an output directory (shards, codebook, manifest) from a glyph file."""
    glyph_path, out_dir = Path(glyph_path), Path(out_dir)
    try:
        fh = open(glyph_path, encoding="utf-8", newline="\n")
    except OSError as err:
        raise LtmcError(f"{glyph_path}: cannot read ({err.strerror})", ExitCode.USAGE) from None
    with fh:
        try:
            header, documents, rows = parse_glyph_file(fh, str(glyph_path))
            if header.get("codebook") not in (None, codebook.fingerprint):
                raise LtmcError(
                    f"{glyph_path}: written with codebook {header['codebook']}, not {codebook.fingerprint}; pass the codebook it was written with",
                    ExitCode.DATA,
                )
            out_dir.mkdir(parents=True, exist_ok=True)
            codebook.save(out_dir / shards.CODEBOOK)
            shard_list, pending = [], []
            digests: dict[str, hashlib._Hash] = {}
            encodings: dict[str, str] = {}
            counts: dict[str, dict] = {}

            def flush() -> None:
                name = shards.shard_name(len(shard_list))
                batch = token_rows(pending, encodings, codebook)
                digest = shards.write_shard(out_dir / name, pa.Table.from_batches([batch]))
                shard_list.append({"file": name, "rows": batch.num_rows, "tokens": len(batch.column("ids").values), "sha256": digest})
                pending.clear()

            for path, scene, ids in rows:
                if path not in encodings:
                    encodings[path] = documents[-1]["encoding"]
                    digests[path] = hashlib.sha256()
                    counts[path] = {"scenes": 0, "tokens": 0, "bytes": 0}
                data = encode_text(codebook.decode(ids), encodings[path])
                digests[path].update(data)
                c = counts[path]
                c["scenes"] += 1
                c["tokens"] += len(ids)
                c["bytes"] += len(data)
                pending.append((path, scene, ids))
                if len(pending) >= _SHARD_ROWS:
                    flush()
            if pending or not shard_list:
                flush()
        except UnicodeDecodeError as err:
            raise LtmcError(f"{glyph_path}: not UTF-8 ({err.reason} at byte {err.start})", ExitCode.DATA) from None
        except OSError as err:
            raise LtmcError(f"{err.filename or out_dir}: cannot write ({err.strerror})", ExitCode.IO) from None
    entries = []
    for doc in documents:
        path = doc["path"]
        c = counts.get(path, {"scenes": 0, "tokens": 0, "bytes": 0})
        sha = digests[path].hexdigest() if path in digests else hashlib.sha256(b"").hexdigest()
        if "sha256" in doc and doc["sha256"] != sha:
            raise LtmcError(f"{glyph_path}: document {path!r} does not decode to the sha256 its header records (glyphs altered?)", ExitCode.DATA)
        entries.append({"path": path, "bytes": c["bytes"], "sha256": sha, "encoding": doc.get("encoding", "utf-8"), "scenes": c["scenes"], "tokens": c["tokens"]})
    totals = shards.finish(out_dir, codebook, entries, shard_list)
    return totals


def token_pieces(book: Codebook, text: str) -> list[dict]:
    """The tokens of ``text`` as [{ids, kind, text}], ``text`` being what the token
    adds to the decoded output in its place (implied spaces and capitals included;
    empty for markers). A run of byte tokens that spells one character is one entry."""
    ids = book.encode(text, joinable=False)  # as a scene: what the shards hold
    out: list[dict] = []
    pending: list[int] = []
    pending_bytes = b""
    done = b""  # decoded output so far (the decoder reads left to right)

    def flush_bytes() -> None:
        nonlocal pending_bytes
        if pending:
            out.append({"ids": list(pending), "kind": "byte", "text": pending_bytes.decode("utf-8", "surrogateescape")})
            pending.clear()
            pending_bytes = b""

    for k, token_id in enumerate(ids):
        upto = book.decode_bytes(ids[: k + 1])
        added = upto[len(done):] if upto.startswith(done) else upto
        done = upto
        if token_id < 256:
            pending.append(token_id)
            pending_bytes += added
            try:  # a complete UTF-8 character ends the run
                pending_bytes.decode("utf-8")
                flush_bytes()
            except UnicodeDecodeError:
                if len(pending) >= 4:
                    flush_bytes()
            continue
        flush_bytes()
        kind = book.kind_of(token_id)
        shown = added.decode("utf-8", "surrogateescape") if added or kind != "special" else book.piece_of(token_id)
        out.append({"ids": [token_id], "kind": kind, "text": shown})
    flush_bytes()
    return out
