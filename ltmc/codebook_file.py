"""The codebook file: JSON with a format name, a version, a fingerprint and the
tokens after the fixed ids, as (kind, text) pairs; from version 4 on, optionally,
``counts``: per id, how often the encoder spells the mining corpus's word forms
with it (the encoder's tie-break, ``Codebook``). A file is read only if its
fingerprint matches its tokens and counts, so an edited or truncated one is
refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from ltmc.errors import ExitCode, LtmcError
from ltmc.rules import RULES, STRING_KINDS
from ltmc.vocab import FIRST_FREE_ID, FIXED_ENTRIES, check_specials

FORMAT = "ltmc-codebook"
VERSION = 4
SPECIALS_SINCE = 3  # the first format version that stores special tokens
COUNTS_SINCE = 4  # the first that may store counts


def is_codebook_file(path: str | Path) -> bool:
    """Whether the file at ``path`` says it is an ltmc codebook (its content is checked on loading)."""
    try:
        with open(path, "rb") as fh:
            doc = orjson.loads(fh.read())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def fingerprint(entries: list, version: int, counts: list[int] | None = None) -> str:
    """Of every id's (kind, text), fixed ids included, the version and any counts."""
    body = orjson.dumps([version, entries] if counts is None else [version, entries, counts])  # pairs as tuples or lists: the same JSON
    return "sha256:" + hashlib.sha256(body).hexdigest()[:32]


def check_counts(counts, n_ids: int, version: int) -> None:
    """ValueError unless ``counts`` is one integer >= 0 per id of a codebook that may have them."""
    if version < COUNTS_SINCE:
        raise ValueError(f"counts in a version {version} codebook (they start with version {COUNTS_SINCE})")
    if not (type(counts) is list and len(counts) == n_ids and all(type(c) is int and c >= 0 for c in counts)):
        raise ValueError("counts are not one count (an integer >= 0) per id")


def dump(entries: list, version: int, recorded_fingerprint: str, counts: list[int] | None = None) -> bytes:
    doc = {"format": FORMAT, "version": version, "fingerprint": recorded_fingerprint, "vocab_size": len(entries), "tokens": entries[FIRST_FREE_ID:]}
    if counts is not None:
        doc["counts"] = counts
    return orjson.dumps(doc)


def parse(data: bytes, source: str) -> tuple[list, int, list[int] | None, str]:
    """Every id's entry (fixed ids first), the format version, the counts (or None)
    and the fingerprint of a codebook file, checked against each other; a one-line
    error naming ``source`` if it is not one."""
    try:
        doc = orjson.loads(data)
        if doc.get("format") != FORMAT:
            raise LtmcError(f"{source}: not an ltmc codebook; pass a file written by `ltmc mine-bonds`", ExitCode.DATA)
        version = doc["version"]
        if not isinstance(version, int) or version not in RULES:
            raise LtmcError(
                f"{source}: codebook format version {version!r} is not one this ltmc reads (1 to {VERSION}); a newer one needs a newer ltmc",
                ExitCode.DATA,
            )
        # Not unique_entries: ltmc wrote each (role, text) once, and anything edited
        # since shows in the fingerprint, so only kinds and texts are checked here
        # (unique_entries was half the time of loading 32768 ids).
        tokens = doc["tokens"]
        if not all(len(e) == 2 for e in tokens):
            raise ValueError("a token is not a (kind, text) pair")
        kinds = STRING_KINDS | {"special"} if version >= SPECIALS_SINCE else STRING_KINDS
        if not {kind for kind, _ in tokens} <= kinds or not all(type(text) is str and text for _, text in tokens):
            raise ValueError("a token of a bad kind, or not a non-empty string")
        check_specials(text for kind, text in tokens if kind == "special")
        entries = [*FIXED_ENTRIES, *tokens]
        counts = doc.get("counts")
        if counts is not None:
            check_counts(counts, len(entries), version)
        recorded = (doc["fingerprint"], doc["vocab_size"])
    except LtmcError as err:
        if err.exit_code == ExitCode.USAGE:  # a repeated special token
            raise LtmcError(f"{source}: corrupt codebook ({err}); mine a new one with `ltmc mine-bonds`", ExitCode.DATA) from None
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise LtmcError(f"{source}: corrupt codebook ({err!r}); mine a new one with `ltmc mine-bonds`", ExitCode.DATA) from None
    computed = fingerprint(entries, version, counts)
    if recorded != (computed, len(entries)):
        raise LtmcError(f"{source}: codebook fingerprint does not match its tokens; the file was altered", ExitCode.DATA)
    return entries, version, counts, computed
