"""ltmc.codebook: the token model, encode/decode, save/load."""

from __future__ import annotations

import pickle

import orjson
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltmc import codebook as codebook_module
from ltmc import codebook_file, fastpath
from ltmc.codebook import FIRST_FREE_ID, N_BYTES, SEPARATOR_ID, VERSION, Codebook
from ltmc.rules import KINDS
from ltmc.vocab import FIXED_ENTRIES
from ltmc.errors import ExitCode, LtmcError
from ltmc.pretokenize import count_words

# -- layout -------------------------------------------------------------------------


def test_bytes_then_separator_then_mined_tokens(codebook):
    assert [t.kind for t in codebook.tokens[:N_BYTES]] == ["byte"] * N_BYTES
    assert codebook.tokens[SEPARATOR_ID].kind == "special"
    assert all(t.kind in KINDS for t in codebook.tokens)
    assert all(t.text for t in codebook.tokens[FIRST_FREE_ID:])
    mined = [(t.kind, t.text) for t in codebook.tokens[FIRST_FREE_ID:]]
    assert len(set(mined)) == len(mined)


def test_mined_codebook_respects_its_budget(codebook):
    assert len(codebook) <= 1024
    assert len(codebook) > FIRST_FREE_ID


def test_encoding_known_text_uses_mined_tokens(codebook, sample_texts):
    text = sample_texts[0]
    ids = codebook.encode(text)
    # The mined vocabulary must compress its own training text well below bytes.
    assert len(ids) < len(text.encode("utf-8")) / 3
    assert any(i >= FIRST_FREE_ID for i in ids)


def test_ids_are_in_range(codebook, sample_texts):
    for text in sample_texts:
        assert all(0 <= i < len(codebook) for i in codebook.encode(text))


def test_separator_decodes_to_nothing(codebook):
    assert codebook.decode([SEPARATOR_ID]) == ""
    ids = codebook.encode("раз")
    assert codebook.decode(ids + [SEPARATOR_ID] + ids) == "разраз"


def test_piece_of_shows_bytes_readably(codebook):
    assert codebook.piece_of(0x41) == "<0x41>"
    assert codebook.piece_of(FIRST_FREE_ID) == codebook.tokens[FIRST_FREE_ID].text


# -- round trips --------------------------------------------------------------------


@given(st.text())
def test_text_round_trip(codebook, text):
    assert codebook.decode(codebook.encode(text)) == text


_RUSSIANISH = st.text(
    alphabet=st.sampled_from(list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЁЯ .,;:!?—«»-\n\t\r0123456789")),
    max_size=300,
)


@given(_RUSSIANISH)
def test_text_round_trip_on_russian_like_text(codebook, text):
    assert codebook.decode(codebook.encode(text)) == text


@pytest.fixture(scope="module")
def version_1_codebook(codebook):
    return Codebook.from_entries([(t.kind, t.text) for t in codebook.tokens[FIRST_FREE_ID:] if t.kind != "special"], version=1)


@given(_RUSSIANISH)
def test_a_version_1_codebook_still_encodes_losslessly(version_1_codebook, text):
    assert version_1_codebook.decode(version_1_codebook.encode(text)) == text


@given(st.lists(st.sampled_from([" и", " не", ", что", " сказал", " реки", "\n", " ", "—", "над", " лесом"]), max_size=40))
def test_text_round_trip_through_bonds(codebook, parts):
    text = "".join(parts)
    assert codebook.decode(codebook.encode(text)) == text


# Words the codebook knows, in every capitalisation, joined by the spaces and
# punctuation around which spaces and capitals are implied or must be marked.
_WORDS = st.sampled_from(["рыбак", "сказал", "мальчик", "реки", "и", "не", "он", "Он", "ОН", "oн", "book", "x", "ё", "Ёж", "123"])
_CASED = _WORDS.flatmap(lambda w: st.sampled_from([w, w.lower(), w.upper(), w.capitalize(), w[:1].lower() + w[1:].upper()]))
_GAPS = st.sampled_from(["", " ", "  ", ". ", "! ", "? ", "… ", ", ", ",", "\n", "\r\n", "\n\n", " — ", "»", "« ", "(", ") ", "-", "'", "\t", "\u00a0", ".» ", "..."])


@given(st.lists(st.tuples(_GAPS, _CASED), max_size=25).map(lambda pairs: "".join(g + w for g, w in pairs)))
def test_text_round_trip_with_case_and_spacing(codebook, text):
    assert codebook.decode(codebook.encode(text)) == text


@given(st.lists(st.tuples(_GAPS, _CASED), min_size=1, max_size=10).map(lambda pairs: "".join(g + w for g, w in pairs)), st.integers(1, 3))
def test_scenes_joined_by_separators_decode_to_their_concatenation(codebook, scene, copies):
    ids = []
    for _ in range(copies):
        ids += codebook.encode(scene) + [SEPARATOR_ID]
    assert codebook.decode(ids) == scene * copies


@given(st.binary(max_size=400))
def test_bytes_round_trip(codebook, data):
    text = data.decode("utf-8", "surrogateescape")
    assert codebook.decode_bytes(codebook.encode(text)) == data


# Bytes biased towards UTF-8 fragments: lead bytes, continuation bytes, Cyrillic.
_FRAGMENTS = st.lists(
    st.one_of(
        st.sampled_from([b"\xd0", b"\xd1", b"\x80", b"\xbf", b"\xe2\x80", b"\xf0\x9f", b"\xed\xa0\x80", b"\xc0\xaf", b"\xff"]),
        st.text(max_size=5).map(lambda s: s.encode("utf-8")),
        st.sampled_from(["слово", " и", ", что", "\r\n"]).map(str.encode),
    ),
    max_size=30,
).map(b"".join)


@given(_FRAGMENTS)
def test_bytes_round_trip_on_broken_utf8(codebook, data):
    text = data.decode("utf-8", "surrogateescape")
    assert codebook.decode_bytes(codebook.encode(text)) == data


def test_round_trip_of_the_training_texts(codebook, sample_texts):
    for text in sample_texts:
        assert codebook.decode(codebook.encode(text)) == text


def test_encode_is_deterministic_and_cache_independent(codebook, sample_texts):
    text = "".join(sample_texts)
    first = codebook.encode(text)
    fresh = Codebook.from_json(codebook.to_json())
    assert fresh.encode(text) == first
    assert codebook.encode(text) == first


def test_long_piece_beyond_max_token_chars_round_trips(codebook):
    text = " " + "а" * 500 + "!" * 100 + "7" * 40
    assert codebook.decode(codebook.encode(text)) == text


# -- what is implied between tokens ----------------------------------------------

_RULE_ENTRIES = [("word", w) for w in ("он", "шёл", "по", "дороге", "куда", "спросил", "да", "нет")]
_RULE_ENTRIES += [("punct", p) for p in ("?", ".", " –", " -", ",")] + [("space", "\n")]


def _markers(book: Codebook, text: str) -> list[str]:
    """The tokens that say what the rules did not imply: FLIP, GLUE and a lone space."""
    ids = book.encode(text)
    assert book.decode(ids) == text
    return [book.piece_of(i) for i in ids if i in (fastpath.FLIP_ID, fastpath.GLUE_ID) or book.piece_of(i) == " "]


def test_a_wrapped_line_goes_on_in_lower_case_and_a_bare_line_break_capitalises():
    book = Codebook.from_entries(_RULE_ENTRIES + [("space", "\n  ")])
    assert _markers(book, "Он шёл\n  по дороге.") == []
    assert _markers(book, "Он шёл\nПо дороге.") == []
    assert _markers(book, "Он шёл.\n  По дороге.") == []


def test_a_dash_after_a_question_within_a_token_goes_on_in_lower_case():
    text = "Куда? – спросил он."
    assert _markers(Codebook.from_entries(_RULE_ENTRIES + [("bond", "? –")]), text) == []
    # As two tokens, the dash cannot see the question mark: the capital is implied.
    assert _markers(Codebook.from_entries(_RULE_ENTRIES), text) == ["<|flip|>"]


def test_a_spaced_hyphen_implies_the_space_after_it():
    assert _markers(Codebook.from_entries(_RULE_ENTRIES), "Да - нет.") == []


def test_a_token_that_ends_in_a_word_ends_the_sentence_start():
    book = Codebook.from_entries(_RULE_ENTRIES + [("bond", "\nОн")])
    assert _markers(book, "Да.\nОн шёл.") == []


def test_a_version_1_codebook_decodes_by_the_rules_it_was_written_with(tmp_path):
    entries = [("bond", "\nОн"), ("word", "шёл")]
    old, new = Codebook.from_entries(entries, version=1), Codebook.from_entries(entries)
    ids = [old.literal_ids["\nОн"], old.start_ids["шёл"]]
    assert old.decode(ids) == "\nОн Шёл"  # version 1: any line break in a token set a capital
    assert new.decode(ids) == "\nОн шёл"
    old.save(tmp_path / "old.json")
    loaded = Codebook.load(tmp_path / "old.json")
    assert (loaded.version, loaded.fingerprint) == (1, old.fingerprint)
    assert loaded.fingerprint != new.fingerprint
    assert loaded.decode(ids) == "\nОн Шёл"


# -- decoding bad ids ---------------------------------------------------------------


def test_id_past_the_end_is_refused(codebook):
    with pytest.raises(LtmcError) as info:
        codebook.decode([FIRST_FREE_ID, len(codebook)])
    assert info.value.exit_code == ExitCode.DATA
    assert str(len(codebook)) in str(info.value)


def test_negative_id_is_refused(codebook):
    # Python lists accept negative indexes; the decoder must not.
    with pytest.raises(LtmcError) as info:
        codebook.decode_bytes([FIRST_FREE_ID, -1])
    assert info.value.exit_code == ExitCode.DATA


def test_non_integer_id_is_refused(codebook):
    with pytest.raises(LtmcError):
        codebook.decode_bytes([FIRST_FREE_ID, "7"])


def test_codebook_pickles_as_its_json(codebook, sample_texts):
    # Spawned workers receive the codebook by pickle; it must encode the same there.
    copy = pickle.loads(pickle.dumps(codebook))
    assert copy.fingerprint == codebook.fingerprint
    assert copy.encode(sample_texts[0]) == codebook.encode(sample_texts[0])


@given(_FRAGMENTS)
def test_words_counted_while_encoding_match_count_words(codebook, data):
    text = data.decode("utf-8", "surrogateescape") + " кто-то, don't и ё\u0301лка"
    ids, words = codebook.encode_counting_words(text)
    assert words == count_words(text)
    assert ids == codebook.encode(text, joinable=False)


def test_a_full_piece_cache_turns_over_and_encoding_stays_the_same(codebook, sample_texts, monkeypatch):
    text = "".join(sample_texts)
    expected = Codebook.from_json(codebook.to_json()).encode(text)
    small = Codebook.from_json(codebook.to_json())
    monkeypatch.setattr("ltmc.codebook.CACHE_LIMIT", 50)
    assert small.encode(text) == expected
    assert small.encode(text) == expected  # again, partly from the old cache
    assert sum(map(len, small._tables.caches)) <= 50 and sum(map(len, small._tables.old_caches)) == 50


def test_encode_scenes_gives_each_scene_its_ids_and_words(codebook, sample_texts):
    texts = sample_texts + ["", "Он сказал: «да».", "\udcff"]
    column, words = codebook.encode_scenes(texts)
    assert column.type == pa.list_(pa.int32())
    assert column.to_pylist() == [codebook.encode(t, joinable=False) for t in texts]
    assert words == [count_words(t) for t in texts]


# -- joining: ids of separately encoded texts ----------------------------------------

# Pieces that stress what is implied at a join: cased words, the gaps around them,
# lone combining marks, the markers' and specials' texts. (Stray bytes join as
# bytes: two halves of a character are one character in ``decode``.)
_JOIN_PARTS = st.one_of(
    _CASED,
    _GAPS,
    st.text(max_size=8),
    st.sampled_from(["\u0301", "\u0300", "е\u0301", "<|scene|>", "<|glue|>", "<|flip|>", "<|bos|>", "<|eos|>", "Ё", "ё", ""]),
)
_FRAGMENT = st.lists(_JOIN_PARTS, max_size=6).map("".join)


def test_the_issues_examples_join(codebook):
    for a, b in [("Мороз", " и солнце"), ("привет", "мир"), ("Он сказал.", " Потом"), ("", "x"), ("а", "\u0301")]:
        assert codebook.decode(codebook.encode(a) + codebook.encode(b)) == a + b


@given(_FRAGMENT, _FRAGMENT)
def test_separately_encoded_texts_join(codebook, a, b):
    assert codebook.decode(codebook.encode(a) + codebook.encode(b)) == a + b


@given(st.lists(_FRAGMENT, max_size=6))
def test_any_number_of_fragments_join(codebook, parts):
    assert codebook.decode([i for part in parts for i in codebook.encode(part)]) == "".join(parts)


@given(st.binary(max_size=60), st.binary(max_size=60))
def test_separately_encoded_bytes_join(codebook, a, b):
    def ids(data: bytes) -> list[int]:
        return codebook.encode(data.decode("utf-8", "surrogateescape"))

    assert codebook.decode_bytes(ids(a) + ids(b)) == a + b


@given(_FRAGMENT)
def test_joinable_ids_are_the_scene_ids_with_at_most_the_separator_in_front(codebook, text):
    scene = codebook.encode(text, joinable=False)
    assert codebook.encode(text) in (scene, [SEPARATOR_ID, *scene])


def test_a_text_that_settles_its_own_start_needs_no_separator(codebook):
    assert codebook.encode("\nон")[0] != SEPARATOR_ID  # the line break implies the capital and no space
    assert codebook.encode("он")[0] == SEPARATOR_ID


# -- special tokens ------------------------------------------------------------------


def test_a_codebook_has_bos_eos_and_pad_at_its_end(codebook):
    ids = codebook.special_ids
    assert list(ids) == list(codebook_module.DEFAULT_SPECIALS)
    assert sorted(ids.values()) == list(range(len(codebook) - 3, len(codebook)))
    assert all(codebook.kind_of(i) == "special" for i in ids.values())


@given(st.lists(st.sampled_from(["<|bos|>", "<|eos|>", "<|pad|>", "<|", "|>", "bos", " ", "Он"]), max_size=12).map("".join))
def test_ordinary_text_never_encodes_to_a_special(codebook, text):
    ids = codebook.encode(text)
    assert not set(ids) & set(codebook.special_ids.values())
    assert codebook.decode(ids) == text


@given(_FRAGMENT, _FRAGMENT)
def test_allowed_specials_are_one_id_each_and_decode_as_their_text(codebook, a, b):
    text = f"<|bos|>{a}<|eos|>{b}<|pad|>"
    ids = codebook.encode(text, allowed_special="all")
    specials = [i for i in ids if i in codebook.special_ids.values()]
    assert len(specials) == 3 + sum(part.count(s) for part in (a, b) for s in codebook.special_ids)
    assert codebook.decode(ids) == text
    assert codebook.decode(ids + codebook.encode(b)) == text + b


def test_only_the_allowed_specials_become_ids(codebook):
    ids = codebook.encode("<|bos|>да<|eos|>", allowed_special=["<|eos|>"])
    assert codebook.special_ids["<|eos|>"] in ids and codebook.special_ids["<|bos|>"] not in ids
    with pytest.raises(LtmcError) as info:
        codebook.encode("x", allowed_special=["<|user|>"])
    assert info.value.exit_code == ExitCode.USAGE and "mine-bonds --special-token" in str(info.value)


def test_user_special_tokens_are_mined_into_the_budget(sample_texts, tmp_path):
    from ltmc.mining import mine

    book, _ = mine(sample_texts, 600, specials=[*codebook_module.DEFAULT_SPECIALS, "<|user|>", "<|assistant|>"])
    assert len(book) <= 600 and list(book.special_ids)[3:] == ["<|user|>", "<|assistant|>"]
    ids = book.encode("<|user|>Привет<|assistant|>Здравствуй", allowed_special="all")
    assert ids.count(book.special_ids["<|user|>"]) == 1
    book.save(tmp_path / "chat.json")
    assert Codebook.load(tmp_path / "chat.json").special_ids == book.special_ids


def test_new_codebooks_are_written_as_version_4_with_counts(codebook):
    doc = orjson.loads(codebook.to_json())
    assert VERSION == 4 and doc["version"] == 4
    assert len(doc["counts"]) == len(codebook) and sum(doc["counts"]) > 0


# -- ties between spellings of as few ids ------------------------------------------


def _tie_book(counts_of: dict[str, int] | None) -> Codebook:
    """A codebook in which «милой» is «ми» + «лой» or «мил» + «ой»: two ids either way."""
    book = Codebook.from_entries([("stem", "ми"), ("stem", "мил"), ("suffix", "лой"), ("suffix", "ой")], specials=())
    if counts_of is None:
        return book
    counts = [0] * len(book)
    for token_id in range(FIRST_FREE_ID, len(book)):
        counts[token_id] = counts_of[book.piece_of(token_id)]
    return book.with_counts(counts)


def test_without_counts_the_longest_last_token_wins_a_tie():
    book = _tie_book(None)
    assert [book.piece_of(i) for i in book.encode("Милой", joinable=False)] == ["ми", "лой"]


@pytest.mark.parametrize(
    "counts_of, spelling",
    [({"ми": 50, "мил": 40, "лой": 1, "ой": 900}, ["мил", "ой"]), ({"ми": 900, "мил": 1, "лой": 50, "ой": 60}, ["ми", "лой"])],
    ids=["common-ending", "common-start"],
)
def test_with_counts_the_likeliest_spelling_wins_a_tie(counts_of, spelling):
    # Worked by hand (add-one smoothing): 41 * 901 = 36,941 > 51 * 2 = 102, so
    # "мил" + "ой" in the first case; 901 * 51 > 2 * 61 in the second.
    book = _tie_book(counts_of)
    ids = book.encode("Милой", joinable=False)  # a scene start implies the capital
    assert [book.piece_of(i) for i in ids] == spelling
    assert book.decode(ids) == "Милой"


def test_counts_never_cost_an_id():
    # A likelier spelling with more ids loses: "мило" + "й" is 2, "ми" + "л" + "ой" 3.
    book = Codebook.from_entries([("stem", "мило"), ("suffix", "й"), ("stem", "ми"), ("suffix", "л"), ("suffix", "ой")], specials=())
    counts = [0] * len(book)
    for token_id in range(FIRST_FREE_ID, len(book)):
        counts[token_id] = 1000 if book.piece_of(token_id) in ("ми", "л", "ой") else 0
    ids = book.with_counts(counts).encode("Милой", joinable=False)
    assert [book.piece_of(i) for i in ids] == ["мило", "й"]


def test_with_counts_refuses_a_count_per_id_missing_or_an_old_version(codebook):
    with pytest.raises(ValueError):
        codebook.with_counts([1] * (len(codebook) - 1))
    old = Codebook.from_entries([("stem", "ми")], version=3)
    with pytest.raises(ValueError):
        old.with_counts([1] * len(old))


# -- the names tokenizers use --------------------------------------------------------


def test_batches_and_lists_encode_and_decode_like_single_texts(codebook, sample_texts):
    texts = [*sample_texts, "", "Мороз"]
    batch = codebook.encode_batch(texts)
    assert batch == [codebook.encode(t) for t in texts] == codebook.encode(texts)
    assert codebook.decode_batch(batch) == texts
