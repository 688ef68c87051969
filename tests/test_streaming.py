"""ltmc.streaming: decoding one id at a time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ltmc.fastpath import FLIP_ID, GLUE_ID


def _stream_pieces(book, ids) -> tuple[list[str], str]:
    stream = book.decode_stream()
    pieces = [stream.step(i) for i in ids]
    return pieces, stream.finish()


_TEXT = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda data: data.decode("utf-8", "surrogateescape")),
    st.lists(st.sampled_from(["Он", " сказал", ".", " «Да»", "\n", "ё\u0301", "\u0301", " и", "мир", "<|eos|>", "\udcd0", "Ж"]), max_size=20).map("".join),
)


@given(_TEXT, st.data())
def test_pieces_joined_are_decode_of_every_prefix(codebook, text, data):
    ids = codebook.encode(text, allowed_special="all")
    pieces, rest = _stream_pieces(codebook, ids)
    assert "".join(pieces) + rest == codebook.decode(ids)
    for k in range(len(ids) + 1):
        # Final means final: each prefix's text begins with what was shown, and only a
        # character whose bytes are still arriving (at most 3 of them) is held back.
        shown, full = "".join(pieces[:k]), codebook.decode(ids[:k])
        assert full.startswith(shown) and len(full) - len(shown) <= 3
        if codebook.decode_bytes(ids[:k]).decode("utf-8", "ignore") == codebook.decode_bytes(ids[:k]).decode("utf-8", "surrogateescape"):
            assert shown == full  # nothing held when the prefix ends on a whole character
    cut = data.draw(st.integers(0, len(ids)))
    head, rest = _stream_pieces(codebook, ids[:cut])
    assert "".join(head) + rest == codebook.decode(ids[:cut])


@settings(max_examples=500)
@given(st.data())
def test_any_ids_stream_to_their_decode(codebook, data):
    # Ids no encoder writes too: markers before literals, resets after markers, bytes alone.
    ids = data.draw(st.lists(st.one_of(st.integers(0, len(codebook) - 1), st.sampled_from([GLUE_ID, FLIP_ID, 256])), max_size=40))
    pieces, rest = _stream_pieces(codebook, ids)
    assert "".join(pieces) + rest == codebook.decode(ids)


def test_token_by_token_text_is_readable(codebook):
    text = "— Может, к обеду перестанет? — сказала она."
    pieces, rest = _stream_pieces(codebook, codebook.encode(text))
    assert "".join(pieces) == text and rest == ""
    assert "".join(codebook.decode([i]) for i in codebook.encode(text)) != text  # what the issue saw without a stream
