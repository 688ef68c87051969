"""The cost of training a model on a corpus, by the tokenizer that cut it into tokens.

For a decoder-only transformer of width d, depth L, context T
and H heads, with a tokenizer of V ids that turns the corpus into D tokens:

- embedding parameters: V·d (tied input/output embedding);
- non-embedding parameters: N_L = 12·L·d² (attention 4d², MLP 8d² per layer);
- training FLOPs per epoch: 6·N·D + 6·L·T·d·D, with N = N_L + V·d (the output
  projection to V logits is a real matrix product; the input lookup is not) and
  6·L·T·d per token the attention term (QKᵀ and AV, forward and backward);
- attention matrix per context window: L·H·T² scores × 2 bytes (fp16, as a
  materialised softmax; fused kernels do not keep it);
- KV cache per context window: 2·L·T·d values × 2 bytes (fp16);
- per 1M characters: the text is D₁ₘ = 10⁶ / (chars per token) tokens, i.e.
  D₁ₘ / T windows: attention = windows × per-window, KV cache = D₁ₘ·2·L·d·2 bytes;
- characters per context window: T × chars per token.
"""

from __future__ import annotations

from dataclasses import dataclass

from ltmc.errors import ExitCode, LtmcError

BYTES_PER_VALUE = 2  # fp16 / bf16 activations
CHARS_PER_PAGE = 1_800  # a printed page of Russian prose, roughly


@dataclass(frozen=True)
class ModelShape:
    d_model: int = 256
    n_layer: int = 6
    n_ctx: int = 1024
    n_head: int = 4

    def describe(self) -> str:
        return f"d_model={self.d_model}, n_layer={self.n_layer}, n_ctx={self.n_ctx}, n_head={self.n_head}"


def parse_model(spec: str) -> ModelShape:
    """'d_model=256,n_layer=6,n_ctx=1024[,n_head=4]' → ModelShape (n_head defaults to d_model/64)."""
    allowed = {"d_model", "n_layer", "n_ctx", "n_head"}
    values: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            raise LtmcError(f"--model: bad item {part!r}; write e.g. d_model=256,n_layer=6,n_ctx=1024 (n_head optional)", ExitCode.USAGE)
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number <= 0:
            raise LtmcError(f"--model: {key} must be a positive integer, not {value!r}", ExitCode.USAGE)
        values[key] = number
    shape = ModelShape(**{k: v for k, v in values.items() if k != "n_head"})
    return ModelShape(shape.d_model, shape.n_layer, shape.n_ctx, values.get("n_head", max(1, shape.d_model // 64)))


def cost(shape: ModelShape, vocab_size: int, tokens: int, chars: int, words: int) -> dict:
    """The cost model (see the module doc) for one tokenizer on this corpus."""
    d, L, T, H = shape.d_model, shape.n_layer, shape.n_ctx, shape.n_head
    cpt = chars / tokens if tokens else 0.0
    embedding = vocab_size * d
    layers = 12 * L * d * d
    attention_flops_per_token = 6 * L * T * d
    flops_per_token = 6 * (layers + embedding) + attention_flops_per_token
    attn_window = L * H * T * T * BYTES_PER_VALUE
    kv_window = 2 * L * T * d * BYTES_PER_VALUE
    tokens_1m = 1e6 / cpt if cpt else 0.0
    return {
        "vocab_size": vocab_size,
        "tokens": tokens,
        "chars_per_token": cpt,
        "tokens_per_word": tokens / words if words else 0.0,
        "embedding_params": embedding,
        "layer_params": layers,
        "total_params": embedding + layers,
        "flops_per_token": flops_per_token,
        "attention_flops_per_token": attention_flops_per_token,
        "train_flops_per_epoch": flops_per_token * tokens,
        "attention_bytes_per_window": attn_window,
        "kv_bytes_per_window": kv_window,
        "tokens_per_1m_chars": tokens_1m,
        "attention_bytes_per_1m_chars": tokens_1m / T * attn_window,
        "kv_bytes_per_1m_chars": tokens_1m * 2 * L * d * BYTES_PER_VALUE,
        "chars_per_window": T * cpt,
        "words_per_window": T * words / tokens if tokens else 0.0,
    }
