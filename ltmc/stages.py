"""Stages: the only code that transforms data. Each takes a pyarrow RecordBatch (or,
for the reader stage ``scene_batches``, a document's text) and gives RecordBatches;
none reads or writes a file.

The engines (``ltmc.engines``) only move batches between these and the shard writer,
so the same functions run anywhere a batch can be shipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from ltmc.codebook import Codebook
from ltmc.morph import analyse_each, forget_lexemes
from ltmc.scenes import iter_scenes
from ltmc.sources import encode_text

BATCH_SCENES = 256  # scenes per batch
FORMS_PER_BATCH = 4096

SCENE_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("scene", pa.int32()),
        ("encoding", pa.string()),
        ("data", pa.binary()),  # the scene's bytes as read; text may not be valid UTF-8
    ]
)

TOKEN_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("scene", pa.int32()),
        ("encoding", pa.string()),
        ("n_bytes", pa.int64()),
        ("n_chars", pa.int64()),
        ("n_words", pa.int64()),
        ("ids", pa.list_(pa.int32())),
    ]
)

RESTORED_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("scene", pa.int32()),
        ("data", pa.binary()),
    ]
)


def scene_batches(name: str, encoding: str, texts: Iterable[str]) -> Iterator[pa.RecordBatch]:
    """The reader stage: the scenes of one document (its text in blocks), BATCH_SCENES
    rows a batch (SCENE_SCHEMA), as raw bytes."""
    rows: dict[str, list] = {"path": [], "scene": [], "encoding": [], "data": []}
    for index, scene in enumerate(iter_scenes(texts)):
        rows["path"].append(name)
        rows["scene"].append(index)
        rows["encoding"].append(encoding)
        rows["data"].append(encode_text(scene, encoding))
        if len(rows["data"]) == BATCH_SCENES:
            yield pa.RecordBatch.from_pydict(rows, schema=SCENE_SCHEMA)
            rows = {key: [] for key in rows}
    if rows["data"]:
        yield pa.RecordBatch.from_pydict(rows, schema=SCENE_SCHEMA)


def encode_scenes(batch: pa.RecordBatch, codebook: Codebook) -> pa.RecordBatch:
    """Scenes (path, scene, encoding, data) → token rows with ids and sizes."""
    raw = batch.column("data").to_pylist()
    encodings = batch.column("encoding").to_pylist()
    texts = [data.decode(encoding, "surrogateescape") for data, encoding in zip(raw, encodings)]
    ids, n_words = codebook.encode_scenes(texts)
    return token_batch(batch.column("path"), batch.column("scene"), batch.column("encoding"), raw, texts, n_words, ids)


def token_batch(
    path: pa.Array, scene: pa.Array, encoding: pa.Array, raw: list[bytes], texts: list[str], n_words: list[int], ids: pa.ListArray
) -> pa.RecordBatch:
    """Token rows (TOKEN_SCHEMA): the scene's ids and its sizes in bytes, characters and words."""
    return pa.RecordBatch.from_arrays(
        [
            path,
            scene,
            encoding,
            pa.array([len(data) for data in raw], pa.int64()),
            pa.array([len(t) for t in texts], pa.int64()),
            pa.array(n_words, pa.int64()),
            ids,
        ],
        schema=TOKEN_SCHEMA,
    )


def decode_tokens(batch: pa.RecordBatch, codebook: Codebook) -> pa.RecordBatch:
    """Token rows → the original bytes of each scene."""
    data = _as_binary(codebook.decode_scenes(batch.column("ids")))
    encodings = batch.column("encoding")
    if set(encodings.to_pylist()) != {"utf-8"}:  # not pyarrow.compute: see shards.count_tokens
        # Legacy encodings (cp1251) are re-encoded row by row: rare and small.
        rows = [
            raw if encoding == "utf-8" else encode_text(raw.decode("utf-8", "surrogateescape"), encoding)
            for raw, encoding in zip(data.to_pylist(), encodings.to_pylist())
        ]
        data = pa.array(rows, pa.binary())
    return pa.RecordBatch.from_arrays([batch.column("path"), batch.column("scene"), data], schema=RESTORED_SCHEMA)


def _as_binary(array: pa.LargeBinaryArray) -> pa.Array:
    """The same bytes with 32-bit offsets, as RESTORED_SCHEMA has them. Not ``cast``:
    that loads pyarrow.compute, ~45 ms of every decode's start."""
    _, offsets, data = array.buffers()
    ends = np.frombuffer(offsets, np.int64)[array.offset : array.offset + len(array) + 1]
    if ends.size and ends[-1] >= 2**31:
        return array.cast(pa.binary())  # raises: a batch this big does not fit the schema
    return pa.BinaryArray.from_buffers(pa.binary(), len(array), [None, pa.py_buffer(ends.astype(np.int32)), data])


# A form and how often it occurs; then with its analysis (``morph.analyse``).
FORMS_SCHEMA = pa.schema([("form", pa.string()), ("count", pa.int64())])
MORPH_SCHEMA = pa.schema([*FORMS_SCHEMA, *((field, pa.string()) for field in ("lemma", "pos", "stem", "ending"))])


# How a stage runs over batches: ``map`` here, or an engine's (``LocalEngine.map``).
StageMap = Callable[[Callable[[pa.RecordBatch], pa.RecordBatch], Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def analyse_all(counted: list[tuple[str, int]], stage_map: StageMap = map) -> Iterator[pa.RecordBatch]:
    """``analyse_forms`` over every (form, count) of ``counted``, run by ``stage_map``;
    the lexeme caches are emptied at the end (where ``map`` ran it; an engine's
    workers have ended)."""
    try:
        yield from stage_map(analyse_forms, form_batches(counted))
    finally:
        forget_lexemes()


def form_batches(counted: list[tuple[str, int]]) -> Iterator[pa.RecordBatch]:
    """Distinct forms with their counts, as ``analyse_forms`` takes them."""
    for start in range(0, len(counted), FORMS_PER_BATCH):
        chunk = counted[start : start + FORMS_PER_BATCH]
        yield pa.RecordBatch.from_pydict({"form": [form for form, _ in chunk], "count": [n for _, n in chunk]}, schema=FORMS_SCHEMA)


def analyse_forms(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Distinct forms with counts (form, count) → their lemma, part of speech, stem
    and ending. The lexemes stay cached for the next batch (``morph.forget_lexemes``)."""
    analyses = list(analyse_each(batch.column("form").to_pylist()))
    return pa.RecordBatch.from_arrays(
        [
            batch.column("form"),
            batch.column("count"),
            pa.array([a.lemma for a in analyses], pa.string()),
            pa.array([a.pos for a in analyses], pa.string()),
            pa.array([a.stem for a in analyses], pa.string()),
            pa.array([a.ending for a in analyses], pa.string()),
        ],
        schema=MORPH_SCHEMA,
    )
