"""ltmc.codebook_file: what a codebook file holds, and which files are refused."""

from __future__ import annotations

import orjson
import pytest

from ltmc import codebook_file
from ltmc.codebook import Codebook
from ltmc.codebook_file import VERSION
from ltmc.errors import ExitCode, LtmcError
from ltmc.vocab import FIRST_FREE_ID, FIXED_ENTRIES


def test_save_load_round_trip_keeps_fingerprint(codebook, tmp_path):
    path = tmp_path / "sub" / "book.json"
    codebook.save(path)
    loaded = Codebook.load(path)
    assert loaded.fingerprint == codebook.fingerprint
    assert loaded.tokens == codebook.tokens
    assert len(loaded) == len(codebook)
    text = "Мальчик сел и стал смотреть на реку."
    assert loaded.encode(text) == codebook.encode(text)
    # Saving leaves no temporary files behind.
    assert sorted(p.name for p in path.parent.iterdir()) == ["book.json"]


def test_fingerprint_depends_on_tokens():
    a = Codebook.from_entries([("word", " да")])
    b = Codebook.from_entries([("word", " нет")])
    c = Codebook.from_entries([("punct", " да")])
    assert len({a.fingerprint, b.fingerprint, c.fingerprint}) == 3


def _doc(codebook) -> dict:
    return orjson.loads(codebook.to_json())


def _load_doc(doc: dict, tmp_path):
    path = tmp_path / "book.json"
    path.write_bytes(orjson.dumps(doc))
    return Codebook.load(path)


def _edit_text(doc):
    doc["tokens"][5][1] += "x"


def _edit_kind(doc):
    doc["tokens"][0][0] = "bond" if doc["tokens"][0][0] != "bond" else "word"


def _drop_last(doc):
    del doc["tokens"][-1], doc["counts"][-1]


def _bogus_kind(doc):
    doc["tokens"][0][0] = "bogus"  # reported as a corrupt codebook, not a ValueError


def _no_fingerprint(doc):
    del doc["fingerprint"]


def _edit_count(doc):
    doc["counts"][300] += 1  # counts steer the encoder, so the fingerprint covers them


def _drop_counts(doc):
    del doc["counts"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (_edit_text, "altered"),
        (_edit_kind, "altered"),
        (_drop_last, "altered"),
        (_bogus_kind, "corrupt codebook"),
        (_no_fingerprint, "corrupt codebook"),
        (_edit_count, "altered"),
        (_drop_counts, "altered"),
    ],
    ids=["text", "kind", "dropped", "unknown-kind", "no-fingerprint", "count", "no-counts"],
)
def test_an_edited_file_is_a_one_line_data_error(codebook, tmp_path, edit, message):
    doc = _doc(codebook)
    edit(doc)
    with pytest.raises(LtmcError) as info:
        _load_doc(doc, tmp_path)
    assert info.value.exit_code == ExitCode.DATA
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("token", [["word", ""], ["byte", "x"], ["special", "<|scene|>"], ["word", 7]], ids=["empty", "byte", "marker", "number"])
def test_a_bad_token_is_refused_even_with_a_matching_fingerprint(codebook, tmp_path, token):
    # Loading checks kinds and texts itself: the fingerprint only shows what changed.
    doc = _doc(codebook)
    doc["tokens"][3] = token
    doc["fingerprint"] = codebook_file.fingerprint([*FIXED_ENTRIES, *doc["tokens"]], VERSION)
    with pytest.raises(LtmcError) as info:
        _load_doc(doc, tmp_path)
    assert info.value.exit_code == ExitCode.DATA
    assert "corrupt codebook" in str(info.value)


def test_newer_version_is_refused(codebook, tmp_path):
    doc = _doc(codebook)
    doc["version"] = VERSION + 1
    with pytest.raises(LtmcError) as info:
        _load_doc(doc, tmp_path)
    assert info.value.exit_code == ExitCode.DATA
    assert "newer" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[1, 2, 3]", b'{"format": "something-else"}', b'{"format": "ltmc-codebook"}'],
    ids=["empty", "not-json", "list", "foreign", "no-version"],
)
def test_corrupt_or_foreign_files_are_data_errors(data, tmp_path):
    path = tmp_path / "book.json"
    path.write_bytes(data)
    with pytest.raises(LtmcError) as info:
        Codebook.load(path)
    assert info.value.exit_code == ExitCode.DATA
    assert "\n" not in str(info.value)


def test_missing_codebook_file_is_a_usage_error(tmp_path):
    with pytest.raises(LtmcError) as info:
        Codebook.load(tmp_path / "absent.json")
    assert info.value.exit_code == ExitCode.USAGE


def test_a_version_2_codebook_still_loads_without_specials(codebook, tmp_path):
    entries = [(t.kind, t.text) for t in codebook.tokens[FIRST_FREE_ID:] if t.kind != "special"]
    old = Codebook.from_entries(entries, version=2)
    old.save(tmp_path / "v2.json")
    assert orjson.loads((tmp_path / "v2.json").read_bytes())["version"] == 2
    loaded = Codebook.load(tmp_path / "v2.json")
    assert (loaded.version, loaded.fingerprint, loaded.special_ids) == (2, old.fingerprint, {})
    text = "Мороз и солнце; день чудесный!"
    assert loaded.encode(text, joinable=False) == codebook.encode(text, joinable=False)  # same ids, same rules
    assert loaded.decode(loaded.encode("Мороз") + loaded.encode(" и солнце")) == "Мороз и солнце"
    with pytest.raises(LtmcError):
        loaded.encode("<|bos|>", allowed_special="<|bos|>")


def test_a_special_in_a_version_2_codebook_is_corrupt(codebook, tmp_path):
    doc = _doc(codebook)
    doc["version"] = 2
    doc["fingerprint"] = codebook_file.fingerprint([*FIXED_ENTRIES, *doc["tokens"]], 2)
    with pytest.raises(LtmcError) as info:
        _load_doc(doc, tmp_path)
    assert info.value.exit_code == ExitCode.DATA


@pytest.mark.parametrize("counts", [[1, 2], "many", None], ids=["short", "not-a-list", "none-in-v3"])
def test_bad_counts_are_refused_even_with_a_matching_fingerprint(codebook, tmp_path, counts):
    doc = _doc(codebook)
    if counts is None:  # a version 3 file cannot carry counts
        doc["version"], counts = 3, doc["counts"]
    doc["counts"] = counts
    doc["fingerprint"] = codebook_file.fingerprint([*FIXED_ENTRIES, *doc["tokens"]], doc["version"], counts)
    with pytest.raises(LtmcError) as info:
        _load_doc(doc, tmp_path)
    assert info.value.exit_code == ExitCode.DATA
    assert "corrupt codebook" in str(info.value)


def test_counts_survive_save_and_load(codebook, tmp_path):
    codebook.save(tmp_path / "book.json")
    loaded = Codebook.load(tmp_path / "book.json")
    assert loaded.counts == codebook.counts and loaded.fingerprint == codebook.fingerprint
