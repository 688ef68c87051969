"""ltmc.scenes: cutting a text stream into scenes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ltmc.scenes import LIMIT, MIN_STANZA, TARGET, iter_scenes, split_scenes

# Long texts are built from a few kinds of chunk, so that blank lines, single
# line breaks, long unbroken lines and runs without any space all occur.
_CHUNKS = st.sampled_from(
    [
        "слово ",
        "длинное предложение без переноса строки, " * 3,
        "\n",
        "\n\n",
        "\n  \n",
        "\r\n",
        "\r\n\r\n",
        "я" * 997,
        " ",
        "\t",
        "«Да», — сказал он.",
    ]
)
_LONG_TEXT = st.lists(_CHUNKS, max_size=120).map("".join)
_ANY_TEXT = st.one_of(_LONG_TEXT, st.text(max_size=500))


def _blocks(text: str, sizes: list[int]) -> list[str]:
    out, i = [], 0
    for size in sizes:
        out.append(text[i : i + size])
        i += size
    out.append(text[i:])
    return out


@given(_ANY_TEXT)
def test_scenes_partition_the_text(text):
    scenes = split_scenes(text)
    assert "".join(scenes) == text
    assert all(scenes)


@given(_ANY_TEXT)
def test_no_scene_is_longer_than_limit(text):
    assert all(len(s) <= LIMIT for s in split_scenes(text))


@given(_LONG_TEXT, st.lists(st.integers(min_value=0, max_value=3 * LIMIT), max_size=20))
def test_streaming_in_random_blocks_gives_the_same_scenes(text, sizes):
    assert list(iter_scenes(_blocks(text, sizes))) == split_scenes(text)


@given(_LONG_TEXT)
def test_streaming_one_character_at_a_time_gives_the_same_scenes(text):
    assert list(iter_scenes(iter(text))) == split_scenes(text)


def test_empty_text_has_no_scenes():
    assert split_scenes("") == []
    assert list(iter_scenes(["", "", ""])) == []


def test_short_text_is_one_scene():
    text = "Короткий текст.\n\nИ ещё строка.\n"
    assert len(text) <= MIN_STANZA
    assert split_scenes(text) == [text]


def _stanza(seed: str) -> str:
    line = f"{seed} строка стиха, в которой ровно столько слов, сколько нужно\n"
    return line * 5


def test_blank_line_splits_stanzas():
    first, second, third = _stanza("первая"), _stanza("вторая"), _stanza("третья")
    assert all(MIN_STANZA <= len(s) < TARGET for s in (first, second, third))
    text = first + "\n" + second + "\n" + third
    assert split_scenes(text) == [first + "\n", second + "\n", third]


def test_blank_line_with_spaces_splits_stanzas():
    first, second = _stanza("первая"), _stanza("вторая")
    text = first + "   \n" + second
    assert split_scenes(text) == [first + "   \n", second]


def test_blank_line_with_crlf_splits_stanzas():
    first, second = _stanza("первая").replace("\n", "\r\n"), _stanza("вторая").replace("\n", "\r\n")
    scenes = split_scenes(first + "\r\n" + second)
    assert scenes == [first + "\r\n", second]


def test_early_blank_line_does_not_make_a_tiny_scene():
    head = "Заголовок\n\n"
    body = _stanza("тело")
    scenes = split_scenes(head + body)
    assert len(scenes) == 1


def test_long_paragraphs_cut_at_line_breaks_past_target():
    line = "Абзац прозы без пустых строк, довольно длинный, чтобы набрать объём. " * 4 + "\n"
    text = line * 200
    scenes = split_scenes(text)
    assert len(scenes) > 1
    assert all(s.endswith("\n") for s in scenes)
    assert all(len(s) >= TARGET for s in scenes[:-1])
    assert all(len(s) <= LIMIT for s in scenes)


def test_text_without_breaks_cuts_after_a_space():
    text = "слово " * 5000
    scenes = split_scenes(text)
    assert "".join(scenes) == text
    assert all(s.endswith(" ") for s in scenes)
    assert all(len(s) <= LIMIT for s in scenes)


def test_text_without_any_space_is_cut_hard_at_limit():
    text = "ж" * (3 * LIMIT + 5)
    assert [len(s) for s in split_scenes(text)] == [LIMIT, LIMIT, LIMIT, 5]
