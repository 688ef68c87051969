"""ltmc.rules: roles and implied effects, for one text and for all ids at once."""

from __future__ import annotations

import pytest

from ltmc import rules
from ltmc.codebook import FIRST_FREE_ID, Codebook
from ltmc.fastpath import CLEAR, CONT, KEEP, LITERAL, MARKER, SET, START


@pytest.mark.parametrize("version", sorted(rules.RULES))
def test_each_id_gets_the_role_and_effects_its_text_has(version):
    # Codebook.__init__ takes them for all ids at once (roles, effects); each must agree with the one-text rule.
    texts = ["дом", "Дом", "дом,", "а.", "«", "»", "\n", "\n  ", "?\u00a0–", "!", "12", "x2", ", что", ".\n–\u00a0", "…»", " ", "-"]
    entries = [(kind, text) for text in texts for kind in ("word", "stem", "suffix", "ending", "bond", "punct", "space")]
    book = Codebook.from_entries(entries, version, specials=())  # a special's effects are a reset's, not its text's
    version_rules, tables = rules.RULES[version], book._tables
    for token_id in range(FIRST_FREE_ID, len(book)):
        token = book.tokens[token_id]
        assert tables.role[token_id] == rules.role_of(token.kind, token.text), token
        assert (tables.space_after[token_id], tables.cap_effect[token_id]) == rules._effects(token.text, version_rules), token


def test_roles_by_kind_and_first_character():
    entries = [("byte", ""), ("special", "<|glue|>"), ("ending", "ому"), ("suffix", "ств"), ("word", "дом"), ("bond", ", что"), ("punct", ","), ("space", " ")]
    assert rules.roles(entries) == [LITERAL, MARKER, CONT, CONT, START, LITERAL, LITERAL, LITERAL]


@pytest.mark.parametrize(
    "text, version_2, version_1",
    [
        ("дом", (True, CLEAR), (True, CLEAR)),
        ("а.", (True, SET), (True, SET)),
        ("\n  ", (False, KEEP), (False, SET)),  # an indented line break decides nothing since version 2
        ("«", (False, KEEP), (False, KEEP)),
        ("? –", (True, CLEAR), (True, KEEP)),  # "– Куда? – спросил он": the speaker goes on (version 1: no effect)
    ],
)
def test_effects_follow_each_versions_rules(text, version_2, version_1):
    assert rules.effects([text], rules.RULES[2]) == [version_2]
    assert rules.effects([text], rules.RULES[1]) == [version_1]
