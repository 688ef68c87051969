"""ltmc: corpus compression for small language models.

    >>> import ltmc
    >>> book = ltmc.load_codebook("out/codebook.json")
    >>> ids = book.encode("Мороз и солнце; день чудесный!")
    >>> book.decode(ids)
    'Мороз и солнце; день чудесный!'
"""

from ltmc.codebook import Codebook
from ltmc.errors import LtmcError
from ltmc.mining import mine
from ltmc.morph import analyse
from ltmc.runner import decode_corpus, encode_corpus, mine_corpus

__version__ = "0.1.0"
__all__ = [
    "Codebook",
    "LtmcError",
    "analyse",
    "decode_corpus",
    "encode_corpus",
    "load_codebook",
    "mine",
    "mine_corpus",
]


def load_codebook(path) -> Codebook:
    return Codebook.load(path)
