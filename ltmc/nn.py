"""Small GPTs on ltmc's streams, flat or paired (``pip install 'ltmc[torch]'``).

The core never imports this module: it needs torch.

A flat stream is one id per place, as ``ltmc export`` writes it. A paired stream
(``ltmc export --paired``, ``ltmc.pairing``) has two ids per place, a head and the
continuation after it (``EMPTY`` where a slot is empty); ``--place-width 3`` places
hold up to two continuations (``GPTConfig.tails=2``). The paired model:

- embeds a place as the sum of its ids' rows of one table of
  ``len(codebook)`` rows, so the table is no bigger than the flat model's;
- predicts the head with a softmax over the head ids, then each tail *given the
  ids before it* with a softmax over the tail ids, through a small block that
  reads the place's state and those ids' rows: an ending agrees with its stem.
  Head and one tail softmax together are as wide as one over the codebook (plus
  the empty slot).

Either output can be factored by class (``classes``: ``frequency_classes``, or
``kind_classes`` for the codebook's kinds; paired, the head and the tail softmax
each): the model predicts an id's class, then the id among its class's, so a
prediction is scored against a few rows instead of the whole codebook
(``ClassSoftmax``; ``FullSoftmax`` scores every row).

Both share the transformer body and tie the output to the input table. Given
each id's parts (``ltmc.parts``), an id is embedded and predicted with its own
row plus the mean of its parts' rows, so a rare form learns from its stem's and
ending's uses. A model's loss is summed nats; ``bits_per_byte`` turns that
into the measure that compares tokenizers: bits per UTF-8 byte of the text the
ids stand for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ltmc.codebook import Codebook
from ltmc.vocab import SEPARATOR_ID

EMPTY = SEPARATOR_ID  # the empty slot of a paired place; (EMPTY, EMPTY) is the separator


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    n_ctx: int = 256
    d_model: int = 128
    n_layer: int = 3
    n_head: int = 4
    paired: bool = False
    # Output rows a prediction is scored against, on average (None: the whole codebook,
    # plus the empty slot when paired). A class-factored output (``GPT(classes=...)``)
    # scores against its class softmax and the target's class only: ``output_width``.
    output_width: float | None = None
    # Hidden width of the paired tail block's MLP, in d_models: the tail is one choice
    # among a few hundred continuations given the head, which a narrow block predicts as
    # well as a 4× one (bench: 1× gained 0.8 % at equal FLOPs, the 4× block's steps going
    # to the body instead).
    tail_hidden: int = 1
    # Continuations a paired place holds after its head, each predicted by a tail block
    # of its own: 1 (``ltmc export --paired``), 2 for places of three ids
    # (``ltmc.pairing.pair(width=3)``).
    tails: int = 1

    def body_params(self) -> int:
        """Weights besides the embedding tables (and biases and norms, which are few)."""
        tail_blocks = self.tails * 2 * self.tail_hidden * self.d_model**2 if self.paired else 0
        return 12 * self.d_model**2 * self.n_layer + tail_blocks

    def flops_per_place(self) -> int:
        """Training FLOPs for one place (forward and backward, 3 × forward), counting
        every matrix product: the body, attention over the window, the output
        layer (both softmaxes when paired: together one codebook wide, plus the
        empty slot; a place of more continuations scores more rows, which
        ``output_width`` must then give) and the paired tail blocks."""
        d = self.d_model
        forward = 2 * 12 * d * d * self.n_layer  # qkv, projection, 4× MLP
        forward += 2 * 2 * self.n_ctx * d * self.n_layer  # q·k and attention·v over the window
        if self.paired and self.tails > 1 and self.output_width is None:
            raise ValueError("a place of more than one tail scores a tail softmax per tail: give output_width (GPT.output_width)")
        width = self.vocab_size + (1 if self.paired else 0) if self.output_width is None else self.output_width
        forward += 2 * d * width
        if self.paired:
            forward += self.tails * 2 * 2 * self.tail_hidden * d * d  # the tail blocks' MLPs
        return 3 * forward


KIND_CLASSES = {"word": 0, "stem": 1, "ending": 2, "suffix": 2, "punct": 3, "space": 3}  # any other kind: 4


def kind_classes(book: Codebook, vocab_size: int | None = None) -> np.ndarray:
    """A class per id for ``GPT(classes=...)``: a whole form, a stem, a continuation,
    punctuation or spacing, anything else. ``vocab_size``: the model's, where the
    codebook fell short of its budget (the ids past it are "anything else")."""
    out = np.full(vocab_size or len(book), max(KIND_CLASSES.values()) + 1, dtype=np.int64)
    for i in range(len(book)):
        out[i] = KIND_CLASSES.get(book.kind_of(i), out[i])
    return out


def frequency_classes(places: np.ndarray, vocab_size: int, n_classes: int = 5, within: np.ndarray | None = None, is_tail: np.ndarray | None = None) -> np.ndarray:
    """A class per id for ``GPT(classes=...)`` by how often ``places`` (the training
    stream) predicts it: the ids by count, cut into ``n_classes`` bins of equal mass,
    as a class-based softmax is usually built. ``within``: a class per id
    (``kind_classes``, say) whose classes are each cut into ``n_classes`` bins of
    their own mass instead. Paired places need ``is_tail`` (``tail_mask``): heads are
    cut by the heads' counts and tails by the tails', and the empty slot, which both
    softmaxes hold and most tails are, is a class of its own."""
    groups = np.zeros(vocab_size, dtype=np.int64) if within is None else np.asarray(within, dtype=np.int64)
    if len(groups) != vocab_size:
        raise ValueError(f"within must give one class per id: {len(groups)} for {vocab_size} ids")
    if places.ndim == 2:
        if is_tail is None or len(is_tail) != vocab_size:
            raise ValueError("paired places need is_tail, one flag per id of the codebook")
        tail_side = np.asarray(is_tail, dtype=bool)
        heads = np.bincount(places[:, 0], minlength=vocab_size)[:vocab_size]
        tails = np.bincount(places[:, 1:].ravel(), minlength=vocab_size)[:vocab_size]
        counts = np.where(tail_side, tails, heads)
        groups = groups * 2 + tail_side
        groups[EMPTY] = groups.max() + 1
    else:
        counts = np.bincount(places, minlength=vocab_size)[:vocab_size]
    out = np.empty(vocab_size, dtype=np.int64)
    for group in np.unique(groups):
        ids = np.flatnonzero(groups == group)
        order = ids[np.argsort(-counts[ids], kind="stable")]
        mass_before = np.cumsum(counts[order]) - counts[order]
        out[order] = group * n_classes + np.minimum(mass_before * n_classes // max(1, counts[order].sum()), n_classes - 1)
    return out


def tail_mask(book: Codebook, kinds: Iterable[str] | None = None) -> np.ndarray:
    """Per id, whether it is a continuation (the only ids a tail slot holds): its kind
    is one of ``kinds``, an export's ``meta["tail_kinds"]`` (default: endings and suffix pieces)."""
    from ltmc.pairing import CONT_KINDS
    from ltmc.pairing import tail_mask as mask

    return mask(book, CONT_KINDS if kinds is None else frozenset(kinds))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_head = config.n_head
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, t, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        h = h + self.proj(a)
        return h + self.mlp(self.norm2(h))


class FullSoftmax(nn.Module):
    """A softmax over every one of ``ids``: each prediction is scored against all their
    rows. It has no weights of its own (the rows are the tied table's) and
    ``ClassSoftmax``'s interface, so an output slot is one or the other."""

    def __init__(self, ids: np.ndarray, vocab_size: int) -> None:
        super().__init__()
        ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
        row = torch.full((vocab_size,), -1, dtype=torch.long)
        row[ids] = torch.arange(len(ids))
        self.register_buffer("ids", ids)
        self.register_buffer("row", row)

    def logits(self, z: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return z @ table[self.ids].T

    def width(self, targets: np.ndarray) -> int:
        """Rows scored per prediction: every id's."""
        return len(self.ids)

    def nats(self, z: torch.Tensor, target: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Nats of each of ``target`` (…) given states ``z`` (…, d)."""
        return F.cross_entropy(self.logits(z, table).flatten(0, -2), self.row[target].flatten(), reduction="none").view(target.shape)

    def sample(self, z: torch.Tensor, table: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
        """One id for each row of ``z`` (b, d)."""
        return self.ids[_draw(self.logits(z, table), temperature, generator)]


class ClassSoftmax(nn.Module):
    """A softmax over ``ids`` factored by class: p(id) = p(class) · p(id | class).

    It can give any distribution a full softmax gives, yet a prediction is scored
    against the class softmax and its own class's rows only, so at equal FLOPs a model
    takes more steps when its ids fall into narrow classes (for ltmc, the token kinds)."""

    def __init__(self, d_model: int, ids: np.ndarray, classes: np.ndarray, vocab_size: int) -> None:
        super().__init__()
        ids, classes = np.asarray(ids, dtype=np.int64), np.asarray(classes, dtype=np.int64)
        _, classes = np.unique(classes, return_inverse=True)  # classes with no id here drop out
        order = np.argsort(classes, kind="stable")
        self.n_classes = int(classes.max()) + 1 if len(classes) else 0
        bounds = np.searchsorted(classes[order], np.arange(self.n_classes + 1))
        self.bounds = [int(b) for b in bounds]
        self.register_buffer("ids", torch.as_tensor(ids[order]))  # class by class
        class_of = np.full(vocab_size, -1, dtype=np.int64)
        class_of[ids[order]] = classes[order]
        row_in_class = np.full(vocab_size, -1, dtype=np.int64)
        row_in_class[ids[order]] = np.arange(len(ids)) - bounds[classes[order]]
        self.register_buffer("class_of", torch.as_tensor(class_of))
        self.register_buffer("row_in_class", torch.as_tensor(row_in_class))
        self.class_logits = nn.Linear(d_model, self.n_classes, bias=False)

    def width(self, targets: np.ndarray) -> float:
        """Mean rows scored per prediction of ``targets``: the classes, then the target's class."""
        sizes = np.diff(self.bounds)
        return self.n_classes + float(sizes[self.class_of.cpu().numpy()[np.asarray(targets)]].mean())

    def nats(self, z: torch.Tensor, target: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Nats of each of ``target`` (…) given states ``z`` (…, d)."""
        shape, z, target = target.shape, z.flatten(0, -2), target.flatten()
        cls = self.class_of[target]
        out = F.cross_entropy(self.class_logits(z), cls, reduction="none")
        within = torch.zeros_like(out)
        for k in range(self.n_classes):
            rows = torch.nonzero(cls == k).squeeze(1)
            if len(rows):
                logits = z[rows] @ table[self.ids[self.bounds[k] : self.bounds[k + 1]]].T
                within = within.index_put((rows,), F.cross_entropy(logits, self.row_in_class[target[rows]], reduction="none"))
        return (out + within).view(shape)

    def sample(self, z: torch.Tensor, table: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
        """One id for each row of ``z`` (b, d): a class, then an id of it."""
        cls = _draw(self.class_logits(z), temperature, generator)
        out = []
        for row, k in zip(z, cls.tolist()):
            members = self.ids[self.bounds[k] : self.bounds[k + 1]]
            out.append(members[_draw((row @ table[members].T).unsqueeze(0), temperature, generator)])
        return torch.cat(out)


class TailBlock(nn.Module):
    """The state a continuation is predicted from: the place's, with the ids before it
    in the place read in (an ending agrees with its stem)."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden * d_model), nn.GELU(), nn.Linear(hidden * d_model, d_model))
        self.out_norm = nn.LayerNorm(d_model)

    def forward(self, z: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
        h = self.norm(z + before)
        return self.out_norm(h + self.mlp(h))


class PairedOutput(nn.Module):
    """The head softmax, then each continuation's given the ids before it in the place,
    over one tied table; each softmax full or, given ``classes``, factored by class."""

    def __init__(self, d_model: int, is_tail: np.ndarray, classes: np.ndarray | None = None, tail_hidden: int = 1, tails: int = 1) -> None:
        super().__init__()
        is_tail = np.asarray(is_tail, dtype=bool)
        head_ids = np.flatnonzero(~is_tail)
        # The empty slot stands in both sets: a place with no tail predicts EMPTY there.
        tail_ids = np.concatenate(([EMPTY], np.flatnonzero(is_tail)))
        self.head, self.tail = (
            FullSoftmax(ids, len(is_tail)) if classes is None else ClassSoftmax(d_model, ids, np.asarray(classes)[ids], len(is_tail))
            for ids in (head_ids, tail_ids)
        )
        self.blocks = nn.ModuleList(TailBlock(d_model, tail_hidden) for _ in range(tails))
        self.register_buffer("is_tail", torch.from_numpy(is_tail.copy()), persistent=False)

    def width(self, places: np.ndarray) -> float:
        """Mean rows scored per prediction of ``places`` (n, 1 + tails): the head's and each tail's."""
        return self.head.width(places[:, 0]) + sum(self.tail.width(places[:, k]) for k in range(1, places.shape[1]))

    def nats(self, z: torch.Tensor, target: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Nats of each slot of ``target`` (…, 1 + tails) given states ``z`` (…, d): the
        head's, then each tail's given the true ids before it."""
        out = [self.head.nats(z, target[..., 0], table)]
        before = F.embedding(target[..., 0], table)
        for k, block in enumerate(self.blocks, start=1):
            out.append(self.tail.nats(block(z, before), target[..., k], table))
            before = before + F.embedding(target[..., k], table)
        return torch.stack(out, dim=-1)

    def sample(self, z: torch.Tensor, table: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
        """One place (head, tails…) for each row of ``z`` (b, d)."""
        out = [self.head.sample(z, table, temperature, generator)]
        before = F.embedding(out[0], table)
        for block in self.blocks:
            out.append(self.tail.sample(block(z, before), table, temperature, generator))
            before = before + F.embedding(out[-1], table)
        return torch.stack(out, dim=-1)


def _draw(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(dim=-1)
    return torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=generator).squeeze(-1)


class GPT(nn.Module):
    """A small pre-norm GPT whose output is tied to its input table; paired when
    ``config.paired`` (then ``is_tail`` says which ids are continuations)."""

    def __init__(self, config: GPTConfig, is_tail: np.ndarray | None = None, parts: np.ndarray | None = None, classes: np.ndarray | None = None) -> None:
        """``parts``: (vocab_size, k) ids each id is made of, -1 padded (``ltmc.parts.token_parts``);
        ``classes``: a class per id, to predict the class and then the id (``ClassSoftmax``;
        each slot's when paired)."""
        super().__init__()
        if config.paired and (is_tail is None or len(is_tail) != config.vocab_size):
            raise ValueError("a paired model needs is_tail, one flag per id of the codebook")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.pos = nn.Embedding(config.n_ctx, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = nn.LayerNorm(config.d_model)
        if classes is not None and len(classes) != config.vocab_size:
            raise ValueError(f"classes must give one class per id: {len(classes)} for {config.vocab_size} ids")
        every_id = np.arange(config.vocab_size)
        self.output = (
            PairedOutput(config.d_model, is_tail, classes, config.tail_hidden, config.tails) if config.paired
            else FullSoftmax(every_id, config.vocab_size) if classes is None
            else ClassSoftmax(config.d_model, every_id, classes, config.vocab_size)
        )
        for table in (self.embed, self.pos):  # small, so the tied output starts near uniform
            nn.init.normal_(table.weight, std=0.02)
        self.register_buffer("parts", None)
        self.register_buffer("part_weights", None)
        if parts is not None:
            parts = torch.as_tensor(np.asarray(parts, dtype=np.int64))
            if parts.dim() != 2 or len(parts) != config.vocab_size:
                raise ValueError(f"parts must be (vocab_size, k), one row per id; got {tuple(parts.shape)}")
            given = (parts >= 0).float()
            self.parts = parts.clamp(min=0)
            self.part_weights = given / given.sum(dim=1, keepdim=True).clamp(min=1)

    def table(self) -> torch.Tensor:
        """The rows ids are embedded and predicted with: each id's own, plus the mean of its parts'."""
        if self.parts is None:
            return self.embed.weight
        return self.embed.weight + torch.einsum("vkd,vk->vd", self.embed.weight[self.parts], self.part_weights)

    def table_flops(self) -> int:
        """Training FLOPs per step of composing the table (forward and backward)."""
        return 0 if self.parts is None else 3 * 2 * int(self.parts.numel()) * self.config.d_model

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The final states for places ``x``: (b, t) ids, or (b, t, 1 + tails) when paired."""
        return self._hidden(x, self.table())

    def _hidden(self, x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        inputs = F.embedding(x, table)
        h = (inputs.sum(dim=2) if self.config.paired else inputs) + self.pos.weight[: x.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.norm(h)

    def place_nats(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Nats of predicting each of ``y`` (the next place of every place in ``x``);
        (b, t), or (b, t, 1 + tails) when paired: the head's and each tail's."""
        if self.config.paired and (x.dim() != 3 or x.shape[-1] != 1 + self.config.tails or y.shape[-1] != x.shape[-1]):
            raise ValueError(f"a model of {1 + self.config.tails} ids a place got places of {x.shape[-1] if x.dim() == 3 else 1}: set GPTConfig.tails to the export's place_width − 1")
        table = self.table()
        return self.output.nats(self._hidden(x, table), y, table)

    def output_width(self, places: np.ndarray) -> float:
        """Output rows a prediction of ``places`` is scored against, on average:
        ``GPTConfig.output_width`` for this model (the whole codebook, plus the empty
        slot when paired, unless the output is factored by class)."""
        return self.output.width(np.asarray(places))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean nats per place (the training loss; a paired place's slots summed)."""
        nats = self.place_nats(x, y)
        return nats.sum() / (y.shape[0] * y.shape[1])

    @torch.no_grad()
    def generate(self, places: torch.Tensor, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """``places`` (t,) or (t, 1 + tails) followed by ``n`` sampled places."""
        out = places
        table = self.table()  # no training here: composed once
        for _ in range(n):
            z = self._hidden(out[-self.config.n_ctx :].unsqueeze(0), table)[0, -1:]
            out = torch.cat((out, self.output.sample(z, table, temperature, generator)))
        return out


def fit(
    model: GPT,
    places: np.ndarray,
    steps: int,
    batch: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    windows: np.ndarray | None = None,
    device: str = "cpu",
    log=None,
) -> list[float]:
    """Train ``model`` on ``places`` (a flat or paired stream) with AdamW and a warm-up
    then cosine schedule down to a tenth of ``lr``; the loss of every step, in nats per place.

    Each sample is a window of ``n_ctx + 1`` places; ``windows`` gives their starts in
    units of ``n_ctx``, ``batch`` per step (default: random, seeded windows)."""
    n_ctx = model.config.n_ctx
    if len(places) <= n_ctx:
        raise ValueError(f"{len(places)} places are too few for one window of {n_ctx} + 1")
    rng = np.random.default_rng(seed)
    if windows is None:
        windows = rng.integers(0, (len(places) - 1) // n_ctx, size=steps * batch)
    torch.manual_seed(seed)
    decay = [p for p in model.parameters() if p.dim() >= 2]  # matrices decay; norms and biases do not
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
    warmup = max(1, steps // 10)

    def rate(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(step, steps) / steps)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    data = torch.from_numpy(np.asarray(places, dtype=np.int64))
    model.train()
    losses = []
    for step in range(steps):
        starts = windows[step * batch : (step + 1) * batch] * n_ctx
        sample = torch.stack([data[s : s + n_ctx + 1] for s in starts]).to(device)
        with _autocast(device):
            loss = model(sample[:, :-1], sample[:, 1:])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if log and (step % max(1, steps // 6) == 0 or step == steps - 1):
            log(f"step {step:>5}/{steps}: {losses[-1]:.3f} nats per place")
    model.eval()
    return losses


@torch.no_grad()
def score(model: GPT, places: np.ndarray, batch: int = 32, device: str = "cpu") -> np.ndarray:
    """Nats of every prediction in ``places`` (each place after the first), in windows of
    ``n_ctx``: (n - 1,) for a flat stream, (n - 1, 1 + tails) for a paired one."""
    model.eval()
    n_ctx = model.config.n_ctx
    data = torch.from_numpy(np.asarray(places, dtype=np.int64))
    starts = list(range(0, len(places) - 1, n_ctx))
    out = []
    for k in range(0, len(starts), batch):
        group = [data[s : s + n_ctx + 1] for s in starts[k : k + batch]]
        full = [w for w in group if len(w) == n_ctx + 1]
        rest = [w.unsqueeze(0) for w in group[len(full) :]]  # the stream's last, shorter window
        for sample in ([torch.stack(full)] if full else []) + rest:
            sample = sample.to(device)
            with _autocast(device):
                out.extend(model.place_nats(sample[:, :-1], sample[:, 1:]).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _autocast(device: str):
    """bfloat16 matrix products on a GPU; full precision on the CPU."""
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=str(device).startswith("cuda"))


def bits_per_byte(nats: float, n_bytes: int) -> float:
    """Summed nats over the ids of some text → bits per UTF-8 byte of that text."""
    return nats / math.log(2) / n_bytes


def generate_text(model: GPT, book: Codebook, prompt: str = "", n: int = 64, temperature: float = 1.0, seed: int = 0) -> str:
    """Sample ``n`` places after ``prompt`` (a new scene starts) and decode the whole as text."""
    from ltmc.pairing import pair, unpair

    ids = np.array([SEPARATOR_ID, *book.encode(prompt)], dtype=np.int64)
    places = pair(ids, model.output.is_tail.cpu().numpy(), width=1 + model.config.tails) if model.config.paired else ids
    generator = torch.Generator().manual_seed(seed)
    out = model.generate(torch.as_tensor(places, dtype=torch.long), n, temperature, generator).numpy()
    flat = unpair(out) if model.config.paired else out
    # The separator starts a scene afresh: text after a sampled one is a new scene.
    return book.decode([int(i) for i in flat[1:]])


def load_export(folder: str | Path, split: str = "train") -> tuple[np.ndarray, dict]:
    """A nanogpt export's ``split`` stream as places ((n,), or (n, place_width) when
    paired), and its meta.json."""
    from ltmc.export import META, stream_file_name

    folder = Path(folder)
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    width = meta.get("place_width", 2) if meta.get("paired") else 1
    data = np.fromfile(folder / stream_file_name(split, place_width=width), dtype=np.dtype(meta["dtype"]).newbyteorder("<"))
    return (data.reshape(-1, width) if width > 1 else data).astype(np.int64), meta
