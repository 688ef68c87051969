"""ltmc.code_pages: telling Cyrillic code pages apart by letter statistics."""

from __future__ import annotations

import numpy as np
import pytest

from ltmc.code_pages import CYRILLIC_PAGES, guess_cyrillic

PROSE = "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный, пора, красавица, проснись. " * 4


def _counts(data: bytes) -> np.ndarray:
    return np.bincount(np.frombuffer(data, np.uint8), minlength=256)


@pytest.mark.parametrize("page", CYRILLIC_PAGES)
def test_russian_prose_is_read_in_its_own_page_without_doubt(page):
    guess = guess_cyrillic(_counts(PROSE.encode(page)))
    assert (guess.encoding, guess.doubt) == (page, None)


def test_a_few_letters_are_a_guess_with_a_doubt():
    guess = guess_cyrillic(_counts("Привет, мир".encode("cp1251")))
    assert guess.encoding == "cp1251" and "letters" in guess.doubt


def test_plain_ascii_and_high_bytes_that_are_no_letters_are_no_page():
    assert guess_cyrillic(_counts(b"plain ascii text")) is None
    assert guess_cyrillic(_counts(b"\x93quoted\x94 \x96 dash " * 40)) is None

