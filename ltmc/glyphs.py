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
import io
import sys
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import islice
from pathlib import Path

import orjson
import pyarrow as pa

from ltmc import shards
from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.files import atomic_file
from ltmc.shard_writer import ShardCutter, claimed, write_output
from ltmc.pretokenize import count_words
from ltmc.sources import STDIN, encode_text
from ltmc.stages import BATCH_SCENES, token_batch

GLYPH_BASE = 0xF0000
MAX_ID = 0x10FFFF - GLYPH_BASE  # 131,071
HEADER = "#ltmc-glyphs "
DOC = "#doc "
VERSION = 1


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
        line = {"path": d["path"], "encoding": d["encoding"], "bytes": d["bytes"], "sha256": d["sha256"]}
        if "name_encoding" in d:  # a file name that was not UTF-8 (see sources.recorded_name)
            line["name_encoding"] = d["name_encoding"]
        return DOC + orjson.dumps(line).decode()

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
    """Write the glyph file of ``out_dir`` to ``dest`` ("-": stdout); returns the number of scenes written."""
    output = shards.Output.open(out_dir)
    scenes = 0
    with atomic_file(dest, allow_stdout=True) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="\n")
        for line in glyph_lines(output):
            scenes += not line.startswith("#")
            text.write(line)
            text.write("\n")
        text.flush()
        text.detach()  # the atomic writer closes the file itself
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


def token_rows(rows: list[tuple[str, int, list[int], str]], book: Codebook) -> tuple[pa.RecordBatch, list[bytes]]:
    """(path, scene, ids, encoding) rows → token rows (stages.TOKEN_SCHEMA), sizes
    measured by decoding, and each scene's decoded bytes."""
    texts = [book.decode(ids) for _, _, ids, _ in rows]
    raw = [encode_text(text, encoding) for text, (_, _, _, encoding) in zip(texts, rows)]
    batch = token_batch(
        pa.array([p for p, _, _, _ in rows], pa.string()),
        pa.array([s for _, s, _, _ in rows], pa.int32()),
        pa.array([e for _, _, _, e in rows], pa.string()),
        raw,
        texts,
        [count_words(t) for t in texts],
        pa.array([ids for _, _, ids, _ in rows], pa.list_(pa.int32())),
    )
    return batch, raw


def read_glyphs(glyph_path: str | Path, codebook: Codebook, out_dir: str | Path) -> dict:
    """Rebuild an output directory (shards, codebook, manifest) from a glyph file
    ("-": stdin); returns the manifest's totals."""
    out_dir = Path(out_dir)
    if str(glyph_path) == STDIN:
        source, inputs = "<stdin>", []
        fh = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="\n")
    else:
        source, inputs = str(glyph_path), [glyph_path]
        try:
            fh = open(glyph_path, encoding="utf-8", newline="\n")
        except OSError as err:
            raise LtmcError(f"{glyph_path}: cannot read ({err.strerror})", ExitCode.USAGE) from None
    with fh, claimed(out_dir, inputs):
        try:
            header, documents, rows = parse_glyph_file(fh, source)
            if header.get("codebook") not in (None, codebook.fingerprint):
                raise LtmcError(
                    f"{source}: written with codebook {header['codebook']}, not {codebook.fingerprint}; pass the codebook it was written with",
                    ExitCode.DATA,
                )
            return write_output(out_dir, codebook, partial(_write_shards, source, codebook, documents, rows))
        except UnicodeDecodeError as err:
            raise LtmcError(f"{source}: not UTF-8 ({err.reason} at byte {err.start})", ExitCode.DATA) from None


def _write_shards(source: str, codebook: Codebook, documents: list[dict], rows, into: Path) -> tuple[list[dict], list[dict]]:
    """The glyph file's rows as shards in ``into``; the documents' manifest entries and the shard list."""
    cutter = ShardCutter(into)
    counts = _write_rows(_with_encodings(rows, documents), codebook, cutter)
    shard_list = cutter.close()
    return [_document_entry(doc, counts.get(doc["path"]), source) for doc in documents], shard_list


def _with_encodings(rows: Iterator[tuple[str, int, list[int]]], documents: list[dict]) -> Iterator[tuple[str, int, list[int], str]]:
    """Each row with its document's encoding: that of the document line read last
    when the document's first row is (the parser reads lazily)."""
    encodings: dict[str, str] = {}
    for path, scene, ids in rows:
        if path not in encodings:
            encodings[path] = documents[-1]["encoding"]
        yield path, scene, ids, encodings[path]


def _write_rows(rows: Iterator[tuple[str, int, list[int], str]], codebook: Codebook, cutter: ShardCutter) -> dict[str, dict]:
    """Hand the rows, as token batches, to ``cutter``; returns per document its
    scenes, tokens, bytes and the running sha256 of its bytes."""
    counts: dict[str, dict] = {}
    for chunk in iter(lambda: list(islice(rows, BATCH_SCENES)), []):
        batch, raw = token_rows(chunk, codebook)
        for (path, _, ids, _), data in zip(chunk, raw):
            c = counts.setdefault(path, {"scenes": 0, "tokens": 0, "bytes": 0, "sha256": hashlib.sha256()})
            c["scenes"] += 1
            c["tokens"] += len(ids)
            c["bytes"] += len(data)
            c["sha256"].update(data)
        cutter.write(batch)
    return counts


def _document_entry(doc: dict, counted: dict | None, source: str) -> dict:
    """The manifest entry of a document of the glyph file, checked against the sha256 its header records."""
    counted = counted or {"scenes": 0, "tokens": 0, "bytes": 0, "sha256": hashlib.sha256()}
    sha = counted["sha256"].hexdigest()
    if "sha256" in doc and doc["sha256"] != sha:
        raise LtmcError(f"{source}: document {doc['path']!r} does not decode to the sha256 its header records (glyphs altered?)", ExitCode.DATA)
    entry = {"path": doc["path"], "encoding": doc.get("encoding", "utf-8"), **counted, "sha256": sha}
    if "name_encoding" in doc:  # a file name that was not UTF-8 (see sources.recorded_name)
        entry["name_encoding"] = doc["name_encoding"]
    return entry

