"""ltmc.stages: pure RecordBatch → RecordBatch functions."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ltmc.stages import (
    MORPH_SCHEMA,
    RESTORED_SCHEMA,
    SCENE_SCHEMA,
    TOKEN_SCHEMA,
    analyse_forms,
    decode_tokens,
    encode_scenes,
)

SCENES = [
    ("a.txt", 0, "utf-8", "Старый рыбак сидел у реки.\n"),
    ("a.txt", 1, "utf-8", "— Рано ещё, — сказал он. 125 рублей!\r\n"),
    ("b.txt", 0, "cp1251", "Спит деревня у реки,\nспят усталые колёса.\n"),
    ("c.txt", 0, "utf-8", "emoji 🙂 и 漢字, tab\tnbsp\u00a0end"),
    ("d.txt", 0, "cp1251", "Ёлки: «ёж» — №5, ‰ и €.\r\n"),
    ("e.txt", 0, "utf-8", "сломанные байты: \udc98\udcff\udcd0 конец"),
]


def _raw(text: str, encoding: str) -> bytes:
    return text.encode(encoding, "surrogateescape")


def _scene_batch(rows=SCENES) -> pa.RecordBatch:
    """Scene rows as the runner ships them: the scene's bytes as read, and their encoding."""
    return pa.RecordBatch.from_pydict(
        {
            "path": [r[0] for r in rows],
            "scene": [r[1] for r in rows],
            "encoding": [r[2] for r in rows],
            "data": [_raw(r[3], r[2]) for r in rows],
        },
        schema=SCENE_SCHEMA,
    )


def test_scene_schema_carries_bytes():
    # Scenes may hold stray bytes (surrogateescape), which a string column cannot.
    assert SCENE_SCHEMA.field("data").type == pa.binary()
    # The sample texts are what reading their bytes gives (a sanity check of the data).
    for _, _, encoding, text in SCENES:
        assert _raw(text, encoding).decode(encoding, "surrogateescape") == text


def test_encode_scenes_schema(codebook):
    out = encode_scenes(_scene_batch(), codebook)
    assert out.schema.equals(TOKEN_SCHEMA)
    assert out.num_rows == len(SCENES)
    assert out.column("path").to_pylist() == [r[0] for r in SCENES]
    assert out.column("scene").to_pylist() == [r[1] for r in SCENES]
    assert out.column("encoding").to_pylist() == [r[2] for r in SCENES]


def test_encode_scenes_is_pure(codebook):
    batch = _scene_batch()
    before = batch.to_pydict()
    first = encode_scenes(batch, codebook)
    second = encode_scenes(batch, codebook)
    assert first.equals(second)
    assert batch.to_pydict() == before


def test_encode_scenes_sizes(codebook):
    out = encode_scenes(_scene_batch(), codebook).to_pydict()
    for (_, _, encoding, text), n_bytes, n_chars in zip(SCENES, out["n_bytes"], out["n_chars"]):
        assert n_bytes == len(_raw(text, encoding))
        assert n_chars == len(text)


def test_encode_scenes_word_counts(codebook):
    out = encode_scenes(_scene_batch(), codebook).to_pydict()
    # "Старый рыбак сидел у реки." has five words; "кто-то" counts as one.
    assert out["n_words"][0] == 5
    single = encode_scenes(_scene_batch([("x", 0, "utf-8", "кто-то пришёл, 42")]), codebook)
    assert single.column("n_words").to_pylist() == [2]


def test_encode_scenes_ids_match_the_codebook(codebook):
    out = encode_scenes(_scene_batch(), codebook)
    assert out.column("ids").to_pylist() == [codebook.encode(r[3], joinable=False) for r in SCENES]


def test_decode_tokens_schema_and_purity(codebook):
    tokens = encode_scenes(_scene_batch(), codebook)
    first = decode_tokens(tokens, codebook)
    second = decode_tokens(tokens, codebook)
    assert first.schema.equals(RESTORED_SCHEMA)
    assert first.equals(second)


def test_decode_tokens_gives_back_the_original_bytes(codebook):
    restored = decode_tokens(encode_scenes(_scene_batch(), codebook), codebook)
    assert restored.column("data").to_pylist() == [_raw(t, e) for _, _, e, t in SCENES]
    assert restored.column("path").to_pylist() == [r[0] for r in SCENES]


def test_n_bytes_equals_restored_length(codebook):
    tokens = encode_scenes(_scene_batch(), codebook)
    restored = decode_tokens(tokens, codebook)
    assert tokens.column("n_bytes").to_pylist() == [len(d) for d in restored.column("data").to_pylist()]


def test_empty_batch(codebook):
    empty = SCENE_SCHEMA.empty_table().to_batches()
    batch = empty[0] if empty else pa.RecordBatch.from_pylist([], schema=SCENE_SCHEMA)
    out = encode_scenes(batch, codebook)
    assert out.num_rows == 0 and out.schema.equals(TOKEN_SCHEMA)
    assert decode_tokens(out, codebook).num_rows == 0


def test_decode_tokens_with_foreign_ids_is_a_data_error(codebook):
    from ltmc.errors import ExitCode, LtmcError

    batch = pa.RecordBatch.from_pydict(
        {"path": ["x"], "scene": [0], "encoding": ["utf-8"], "n_bytes": [1], "n_chars": [1], "n_words": [0], "ids": [[len(codebook) + 5]]},
        schema=TOKEN_SCHEMA,
    )
    with pytest.raises(LtmcError) as info:
        decode_tokens(batch, codebook)
    assert info.value.exit_code == ExitCode.DATA


def test_analyse_forms_schema_and_purity():
    batch = pa.RecordBatch.from_pydict({"form": ["бежали", "слово", "Moscow"], "count": [3, 2, 1]})
    first = analyse_forms(batch)
    assert first.schema.equals(MORPH_SCHEMA)
    assert first.equals(analyse_forms(batch))
    rows = first.to_pylist()
    assert [r["form"] for r in rows] == ["бежали", "слово", "Moscow"]
    assert [r["count"] for r in rows] == [3, 2, 1]
    for row in rows:
        assert row["stem"] + row["ending"] == row["form"]
    assert rows[2]["pos"] == "LATN" and rows[2]["ending"] == ""
