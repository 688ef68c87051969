"""What each id is made of: the ids that spell it, for a model that shares rows.

A whole form and the stem and ending that spell it are three ids of one
codebook, and a model learns each row from that id's uses alone. A rare form
gets few updates, though its stem and ending get many. ``ltmc.nn.GPT`` can embed
(and predict) an id with its own row plus the mean of its parts' rows, so what
is learnt of ``мил`` and ``ой`` serves ``милой`` from the first step.

An id's parts are, where the codebook has them, a head and the continuation
after it, the continuation an ending if one fits, and of such cuts the longest
head (``мил`` + ``ой`` before ``ми`` + ``лой``); otherwise the fewest ids that
spell it without itself. A whole form whose lemma (pymorphy3's normal form) is
another id has that id as a part too, so the forms of one word share a row
that BPE's ids, which know nothing of lexemes, cannot. Bytes, characters,
markers, punctuation, whitespace and bonds have none:

    сказала → сказал + а + сказать   (head, ending, lemma)
    ившись  → ив + шись               (two continuations)
    о       → (none)
"""

from __future__ import annotations

import numpy as np

from ltmc.codebook import Codebook
from ltmc.morph import analyse
from ltmc.segmenting import Segmenter

NO_PART = -1
MAX_PARTS = 4  # a longer spelling is cut: its first parts say most of what it is


def token_parts(book: Codebook, max_parts: int = MAX_PARTS) -> np.ndarray:
    """(len(book), max_parts) int64: each id's parts, ``NO_PART`` padded."""
    out = np.full((len(book), max_parts), NO_PART, dtype=np.int64)
    segmenter = Segmenter(set(book.start_ids), set(book.cont_ids))
    for role_ids, from_cont in ((book.start_ids, False), (book.cont_ids, True)):
        for text, token_id in role_ids.items():
            if len(text) > 1:
                ids = _parts(book, segmenter, text, from_cont)
                lemma = book.start_ids.get(analyse(text).lemma) if book.kind_of(token_id) == "word" else None
                if lemma is not None and lemma != token_id:
                    ids = [*ids[: max_parts - 1], lemma]
                out[token_id, : len(ids[:max_parts])] = ids[:max_parts]
    return out


def _parts(book: Codebook, segmenter: Segmenter, text: str, from_cont: bool) -> list[int]:
    heads = book.cont_ids if from_cont else book.start_ids
    cuts = [cut for cut in range(len(text) - 1, 0, -1) if text[:cut] in heads and text[cut:] in book.cont_ids]
    if cuts:
        cut = min(cuts, key=lambda c: (book.kind_of(book.cont_ids[text[c:]]) != "ending", -c))
        return [heads[text[:cut]], book.cont_ids[text[cut:]]]
    units = segmenter.segment(text, without=text, from_cont=from_cont)
    ids = [(heads if k == 0 else book.cont_ids).get(unit, NO_PART) for k, unit in enumerate(units)]
    # A character no id spells (the segmenter would take its bytes), or a bond of
    # several pieces: no parts rather than a partial spelling.
    return [] if NO_PART in ids else ids
