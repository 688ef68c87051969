"""ltmc as a HuggingFace tokenizer: ``LtmcTokenizer``, a ``transformers`` slow
(Python) tokenizer over a codebook, for collators, pipelines, streamers and
``save_pretrained`` beside a model.

Needs the hf extra (``pip install 'ltmc[hf]'``); nothing else in ltmc imports
this module. Importing it registers the class with ``AutoTokenizer``, which then
finds it by the ``tokenizer_class`` that ``tokenizer_config.json`` names.

There is no ``tokenizer.json`` for the Rust ``tokenizers`` library: what a token
spells depends on the tokens before it (implied spaces and capitals), which none
of its decoders can express.
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer, PretrainedConfig, PreTrainedTokenizer

from ltmc.codebook import Codebook
from ltmc.errors import ExitCode, LtmcError
from ltmc.files import write_atomic
from ltmc.shards import CODEBOOK
from ltmc.vocab import BOS, EOS, PAD, SEPARATOR_ID


class LtmcTokenizer(PreTrainedTokenizer):
    """``codebook.encode`` and ``codebook.decode`` behind the ``transformers`` API.

    Token names are ``Codebook.get_vocab``'s. Each text between special tokens is
    encoded joinable, so ids of texts tokenized apart may be concatenated;
    ``decode(ids, skip_special_tokens=True)`` gives the text back exactly. Like
    GPT-2's, it adds no BOS or EOS of its own (``special_tokens_pattern="bos_eos"``
    when loading asks for them), and ``errors`` says how bytes that are not UTF-8
    decode: "replace" (U+FFFD, printable: a model's samples may hold such bytes),
    or "surrogateescape" to keep them byte for byte, as ``Codebook.decode`` does."""

    vocab_files_names = {"codebook_file": CODEBOOK}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, codebook_file: str, bos_token=BOS, eos_token=EOS, pad_token=PAD, errors: str = "replace", **kwargs) -> None:
        self.codebook = Codebook.load(codebook_file)
        self.errors = errors
        named = [t for t in (bos_token, eos_token, pad_token) if t is not None]
        absent = [t for t in named if str(t) not in self.codebook.special_ids]
        if absent:
            raise LtmcError(
                f"{codebook_file}: the codebook has no {str(absent[0])!r} token (format version {self.codebook.version}); "
                "mine a new one with `ltmc mine-bonds`, or pass bos_token=None, eos_token=None, pad_token=None",
                ExitCode.DATA,
            )
        kwargs.setdefault("extra_special_tokens", [t for t in self.codebook.special_ids if t not in map(str, named)])
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(bos_token=bos_token, eos_token=eos_token, pad_token=pad_token, errors=errors, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.codebook)

    def get_vocab(self) -> dict[str, int]:
        return self.codebook.get_vocab()

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return [self.codebook.id_to_token(i) for i in self.codebook.encode(text)]

    def _convert_token_to_id(self, token: str) -> int | None:
        return self.codebook.token_to_id(token)

    def _convert_id_to_token(self, index: int) -> str | None:
        return self.codebook.id_to_token(index)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self.codebook.decode([self.codebook.token_to_id(t) for t in tokens])

    def _decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else list(token_ids)
        if skip_special_tokens:
            # A skipped special is still a reset: the separator resets and spells nothing.
            special = set(self.all_special_ids)
            ids = [SEPARATOR_ID if i in special else i for i in ids]
        return self.codebook.decode_bytes(ids).decode("utf-8", self.errors)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        path = Path(save_directory) / (f"{filename_prefix}-{CODEBOOK}" if filename_prefix else CODEBOOK)
        write_atomic(path, self.codebook.to_json())
        return (str(path),)


class LtmcConfig(PretrainedConfig):
    """No model: ``AutoTokenizer.register`` files a tokenizer under a config class."""

    model_type = "ltmc"


AutoTokenizer.register(LtmcConfig, LtmcTokenizer, exist_ok=True)
