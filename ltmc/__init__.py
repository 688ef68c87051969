"""ltmc: corpus compression for small language models.

    >>> import ltmc
    >>> book = ltmc.load_codebook("out/codebook.json")
    >>> ids = book.encode("Мороз и солнце; день чудесный!")
    >>> book.decode(ids)
    'Мороз и солнце; день чудесный!'
"""

from importlib import import_module

__version__ = "0.1.0"

# Imported on first use, so that `import ltmc.cli` runs the CLI's own set-up before
# numpy and pyarrow load (see cli.py).
_HOMES = {
    "Codebook": "ltmc.codebook",
    "LtmcError": "ltmc.errors",
    "analyse": "ltmc.morph",
    "decode_corpus": "ltmc.restore",
    "encode_corpus": "ltmc.pipeline",
    "mine": "ltmc.mining",
    "mine_corpus": "ltmc.pipeline",
}
__all__ = [*_HOMES, "load_codebook"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'ltmc' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)


def load_codebook(path):
    """The codebook saved at ``path`` (a ``codebook.json``)."""
    return import_module("ltmc.codebook").Codebook.load(path)
