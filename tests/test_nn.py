"""ltmc.nn: the flat and paired models on streams of the sample texts (needs the torch extra)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ltmc import pairing  # noqa: E402
from ltmc.codebook import SEPARATOR_ID  # noqa: E402
from ltmc.nn import EMPTY, GPT, ClassSoftmax, GPTConfig, bits_per_byte, fit, frequency_classes, generate_text, kind_classes, load_export, score, tail_mask  # noqa: E402
from ltmc.parts import token_parts  # noqa: E402
from torch.nn import functional as F  # noqa: E402

TINY = {"n_ctx": 32, "d_model": 32, "n_layer": 2, "n_head": 2}


@pytest.fixture(scope="module")
def flat_stream(codebook, sample_texts) -> np.ndarray:
    ids = []
    for text in sample_texts:
        ids += [SEPARATOR_ID, *codebook.encode(text)]
    return np.asarray(ids, dtype=np.int64)


def make(codebook, width: int, parts: bool = False, classes: bool = False) -> GPT:
    """A tiny model on places of ``width`` ids: 1 flat, 2 paired, 3 a head and two tails."""
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=len(codebook), paired=width > 1, tails=max(1, width - 1), **TINY)
    return GPT(config, tail_mask(codebook) if width > 1 else None, token_parts(codebook) if parts else None, kind_classes(codebook) if classes else None)


def places_of(flat_stream, codebook, width: int) -> np.ndarray:
    return pairing.pair(flat_stream, tail_mask(codebook), width=width).astype(np.int64) if width > 1 else flat_stream


def test_flops_per_place_by_hand():
    # d=4, 1 layer, window 8, 10 ids: 2·12·16 + 2·2·8·4 + 2·4·10 = 384 + 128 + 80 = 592 forward; ×3
    assert GPTConfig(vocab_size=10, n_ctx=8, d_model=4, n_layer=1, n_head=1).flops_per_place() == 3 * 592
    # paired: the empty slot's row in the tail softmax (+2·4) and the tail block's MLP,
    # 4 → 4 → 4 by default (+2·2·16), 4 → 16 → 4 at tail_hidden=4 (+2·2·4·16)
    paired = GPTConfig(vocab_size=10, n_ctx=8, d_model=4, n_layer=1, n_head=1, paired=True)
    assert paired.flops_per_place() == 3 * (592 + 8 + 64)
    assert dataclasses.replace(paired, tail_hidden=4).flops_per_place() == 3 * (592 + 8 + 256)
    # three ids a place: a second tail block (+2·2·16); its softmax's rows come from output_width
    assert dataclasses.replace(paired, tails=2, output_width=10 + 1).flops_per_place() == 3 * (592 + 8 + 2 * 64)


@pytest.mark.parametrize("width", [1, 4])
def test_the_tail_block_is_as_wide_as_counted(codebook, width):
    config = GPTConfig(vocab_size=len(codebook), paired=True, tail_hidden=width, **TINY)
    model = GPT(config, tail_mask(codebook))
    weights = sum(p.numel() for p in model.output.blocks[0].mlp.parameters() if p.dim() == 2)
    d = config.d_model
    assert weights == 2 * width * d * d == config.body_params() - 12 * d * d * config.n_layer


def test_class_output_width_by_hand():
    # Ids 0–5 in classes 0, 0, 1, 1, 1, 2: a prediction of id 0 is scored against the
    # 3 classes and its class's 2 ids, of id 3 against 3 + 3; on average 3 + 2.5.
    out = ClassSoftmax(4, np.arange(6), np.array([0, 0, 1, 1, 1, 2]), 6)
    assert out.width(np.array([0, 3])) == 5.5
    # The output layer's FLOPs follow: 2·4·5.5 forward instead of 2·4·6.
    config = GPTConfig(vocab_size=6, n_ctx=8, d_model=4, n_layer=1, n_head=1)
    with_classes = dataclasses.replace(config, output_width=5.5)
    assert config.flops_per_place() - with_classes.flops_per_place() == 3 * 2 * 4 * 0.5


@pytest.mark.parametrize("classes", [False, True])
@pytest.mark.parametrize("paired", [False, True])
def test_each_output_slot_is_a_distribution(codebook, paired, classes):
    """P(id) over every id a slot can hold sums to one, whole or by class (P(class) · P(id | class))."""
    model = make(codebook, 2 if paired else 1, classes=classes)
    table = model.table()
    z = model.hidden(torch.as_tensor([[[SEPARATOR_ID, EMPTY]]] if paired else [[SEPARATOR_ID]]))[0, -1:]
    if paired:  # the head's softmax, and the tail's given a head (the last one, a stem, say)
        head = torch.as_tensor(np.flatnonzero(~tail_mask(codebook))[-1:])
        with torch.no_grad():
            given_head = model.output.blocks[0](z, F.embedding(head, table))
        # an empty tail, the commonest, is its own kind
        slots = [(model.output.head, z, model.output.head.ids), (model.output.tail, given_head, torch.tensor([EMPTY]))]
    else:
        slots = [(model.output, z, torch.arange(len(codebook)))]
    for out, state, targets in slots:
        with torch.no_grad():
            nats = torch.cat([out.nats(state.expand(len(chunk), -1), chunk, table) for chunk in out.ids.split(512)])
        assert torch.exp(-nats).sum().item() == pytest.approx(1.0, abs=1e-4)
        # the model's FLOPs count every row, or only the class softmax and the target's class
        if classes:
            assert out.n_classes + 1 <= out.width(targets.numpy()) < len(out.ids)
        else:
            assert out.width(targets.numpy()) == len(out.ids)


def test_the_whole_codebook_softmax_is_the_tied_tables(codebook, flat_stream):
    """Without classes a flat model's output is the plain softmax over its tied table."""
    model = make(codebook, 1)
    x = torch.as_tensor(flat_stream[None, :33])
    with torch.no_grad():
        z, table = model.hidden(x[:, :-1]), model.table()
        expected = F.cross_entropy((z @ table.T)[0], x[0, 1:], reduction="none")
        assert torch.equal(model.place_nats(x[:, :-1], x[:, 1:])[0], expected)
        assert torch.equal(model.output.sample(z[0], table, 0.0, None), (z[0] @ table.T).argmax(-1))
    assert model.output_width(flat_stream) == len(codebook)


def test_frequency_classes_cut_equal_mass_by_hand():
    # Id 0 predicted 6 times, 1 three, 2 twice, 3 once, 4 never: by count, the mass before
    # each is 0, 6, 9, 11 and 12 of 12; two bins cut it at half.
    places = np.array([0] * 6 + [1] * 3 + [2] * 2 + [3])
    assert frequency_classes(places, 5, n_classes=2).tolist() == [0, 1, 1, 1, 1]
    assert frequency_classes(places, 5, n_classes=4).tolist() == [0, 2, 3, 3, 3]
    # paired: heads by the heads' counts, tails by the tails'; the empty slot (EMPTY, 256)
    # is its own class. Ids 257–259 are tails (259 never seen), the rest heads: heads 0, 1,
    # 2 are cut at half of 11 as above, tails 257 and 258 at half of 6; after the heads'
    # classes 0–1 come the tails' 2–3 and the empty slot's 4.
    heads = np.array([0] * 6 + [1] * 3 + [2] * 2 + [EMPTY])
    tails = np.array([257] * 4 + [258] * 2 + [EMPTY] * 6)
    is_tail = np.isin(np.arange(261), [257, 258, 259])
    paired = frequency_classes(np.stack([heads, tails], 1), 261, n_classes=2, is_tail=is_tail)
    assert paired[[0, 1, 2, 255, 260]].tolist() == [0, 1, 1, 1, 1]
    assert paired[[257, 258, 259, EMPTY]].tolist() == [2, 3, 3, 4]
    with pytest.raises(ValueError, match="need is_tail"):
        frequency_classes(np.stack([heads, tails], 1), 261)
    # within kinds: ids 0 and 3 are one kind (mass 7: id 0 alone reaches half), 1, 2 and 4
    # another (mass 5: id 1 is the first 3 of it); each kind is cut into two bins of its own
    assert frequency_classes(places, 5, n_classes=2, within=np.array([0, 1, 1, 0, 1])).tolist() == [0, 2, 3, 1, 3]
    with pytest.raises(ValueError, match="one class per id"):
        frequency_classes(places, 6, within=np.array([0, 1, 1, 0, 1]))


def test_bits_per_byte():
    assert bits_per_byte(math.log(2) * 10, 5) == pytest.approx(2.0)


@pytest.mark.parametrize("width", [1, 2, 3])
def test_shapes(codebook, flat_stream, width):
    model = make(codebook, width)
    places = places_of(flat_stream, codebook, width)
    x = torch.as_tensor(places[None, :33])
    with torch.no_grad():
        nats = model.place_nats(x[:, :-1], x[:, 1:])
    assert nats.shape == ((1, 32, width) if width > 1 else (1, 32))
    assert (nats >= 0).all()
    # An untrained model is near uniform: about ln(ids it chooses among) per slot.
    if width > 1:
        is_tail = tail_mask(codebook)
        expected = math.log((~is_tail).sum()) + (width - 1) * math.log(is_tail.sum() + 1)
    else:
        expected = math.log(len(codebook))
    assert float(nats.sum(-1).mean() if width > 1 else nats.mean()) == pytest.approx(expected, rel=0.1)


def test_paired_probabilities_sum_to_one(codebook):
    """P(head) · P(tail | head) over every (head, tail) a place can hold is a distribution."""
    model = make(codebook, 2)
    out = model.output
    z = model.hidden(torch.as_tensor([[[SEPARATOR_ID, EMPTY]]]))[0, -1:]
    table = model.embed.weight
    with torch.no_grad():
        head_logp = torch.log_softmax(out.head.logits(z, table), -1)[0]
        total = 0.0
        for k in range(0, len(out.head.ids), 256):
            heads = out.head.ids[k : k + 256]
            tail_logp = torch.log_softmax(out.tail.logits(out.blocks[0](z.expand(len(heads), -1), F.embedding(heads, table)), table), -1)
            total += torch.exp(head_logp[k : k + 256, None] + tail_logp).sum().item()
    assert total == pytest.approx(1.0, abs=1e-4)


def test_parts_share_rows_by_hand():
    # Id 3 is made of ids 1 and 2: its row is its own plus their mean; the rest are their own.
    config = GPTConfig(vocab_size=4, n_ctx=4, d_model=2, n_layer=1, n_head=1)
    model = GPT(config, parts=np.array([[-1, -1], [-1, -1], [-1, -1], [1, 2]]))
    with torch.no_grad():
        model.embed.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [10.0, 10.0]]))
    assert model.table().tolist() == [[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [10.5, 11.5]]
    assert model.table_flops() == 3 * 2 * 8 * 2
    # A prediction of id 3 trains the rows of 1 and 2 as well.
    model.place_nats(torch.tensor([[0]]), torch.tensor([[3]])).sum().backward()
    assert (model.embed.weight.grad[1:3] != 0).all()
    with pytest.raises(ValueError, match="one row per id"):
        GPT(config, parts=np.zeros((3, 2), dtype=np.int64))


@pytest.mark.parametrize("width", [1, 2, 3])
@pytest.mark.parametrize(("parts", "classes"), [(False, False), (True, False), (False, True)])
def test_loss_falls(codebook, flat_stream, width, parts, classes):
    model = make(codebook, width, parts, classes)
    places = places_of(flat_stream, codebook, width)
    before = score(model, places).sum()
    losses = fit(model, places, steps=30, batch=8, lr=1e-2)
    after = score(model, places).sum()
    assert after < 0.8 * before
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


@pytest.mark.parametrize("width", [1, 2, 3])
def test_score_counts_every_prediction(codebook, flat_stream, width):
    model = make(codebook, width)
    places = places_of(flat_stream, codebook, width)
    nats = score(model, places)
    assert len(nats) == len(places) - 1  # the last window is shorter than n_ctx, and still scored


@pytest.mark.parametrize("width", [1, 2, 3])
@pytest.mark.parametrize(("parts", "classes"), [(False, False), (True, False), (False, True)])
def test_generation_gives_text_through_the_codebook(codebook, flat_stream, width, parts, classes):
    model = make(codebook, width, parts, classes)
    places = places_of(flat_stream, codebook, width)
    fit(model, places, steps=20, batch=8, lr=1e-2)
    text = generate_text(model, codebook, "Когда", n=20, temperature=0.8, seed=1)
    assert isinstance(text, str) and text.startswith("Когда") and len(text) > len("Когда")
    assert generate_text(model, codebook, "Когда", n=20, temperature=0.8, seed=1) == text  # seeded
    out = model.generate(torch.as_tensor(places[:5]), 10, temperature=1.0, generator=torch.Generator().manual_seed(0))
    if width > 1:  # each slot holds only what it can: heads never continue, tails always do (or are empty)
        is_tail = tail_mask(codebook)
        new = out[5:].numpy()
        assert new.shape == (10, width) and not is_tail[new[:, 0]].any()
        assert all(is_tail[t] or t == EMPTY for t in new[:, 1:].ravel())


def test_a_model_with_punctuation_tails_pairs_its_prompt_as_it_was_trained(codebook, flat_stream, monkeypatch):
    is_tail = tail_mask(codebook, pairing.PUNCT_TAIL_KINDS)
    assert is_tail[codebook.encode(",")].all() and not tail_mask(codebook)[codebook.encode(",")].any()
    model = GPT(GPTConfig(vocab_size=len(codebook), paired=True, tails=2, **TINY), is_tail)
    fit(model, pairing.pair(flat_stream, is_tail, width=3).astype(np.int64), steps=5, batch=4, lr=1e-2)
    # "Когда," is one place under this model's tails and two under the default ones
    read = []
    generate = model.generate
    monkeypatch.setattr(model, "generate", lambda places, *args, **kwargs: read.append(places.tolist()) or generate(places, *args, **kwargs))
    assert generate_text(model, codebook, "Когда, бывало", n=4, seed=0).startswith("Когда, бывало")
    prompt = np.array([SEPARATOR_ID, *codebook.encode("Когда, бывало")])
    assert read == [pairing.pair(prompt, is_tail, width=3).tolist()]
    out = model.generate(torch.as_tensor(pairing.pair(flat_stream[:40], is_tail, width=3).astype(np.int64)), 10, generator=torch.Generator().manual_seed(0))
    assert all(is_tail[t] or t == EMPTY for t in out[-10:, 1:].numpy().ravel()) and not is_tail[out[-10:, 0].numpy()].any()


def test_trains_on_a_paired_export(tmp_path, codebook, codebook_file):
    """From the fixture books through `ltmc encode` and `ltmc export --paired` to a model."""
    from typer.testing import CliRunner

    from ltmc.cli import app

    fixtures = Path(__file__).parents[1] / "fixtures"
    runner = CliRunner()
    for command in (["encode", str(fixtures), "-o", str(tmp_path / "out"), "-c", str(codebook_file)], ["export", str(tmp_path / "out"), "--format", "nanogpt", "--paired", "-o", str(tmp_path / "nano")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    places, meta = load_export(tmp_path / "nano")
    assert meta["paired"] and places.ndim == 2 and places.shape[1] == 2
    model = GPT(GPTConfig(vocab_size=meta["vocab_size"], paired=True, **TINY), tail_mask(codebook))
    losses = fit(model, places, steps=5, batch=4)
    assert all(math.isfinite(v) for v in losses)
    # places of three ids: their own files, read back as such, and a model with two tail blocks
    result = runner.invoke(app, ["export", str(tmp_path / "out"), "--format", "nanogpt", "--paired", "--place-width", "3", "-o", str(tmp_path / "nano3")])
    assert result.exit_code == 0, result.output
    places3, meta = load_export(tmp_path / "nano3")
    assert meta["place_width"] == 3 and places3.shape[1] == 3 and len(places3) < len(places)
    model = GPT(GPTConfig(vocab_size=meta["vocab_size"], paired=True, tails=2, **TINY), tail_mask(codebook))
    assert all(math.isfinite(v) for v in fit(model, places3, steps=5, batch=4))


def test_the_core_never_imports_torch(tmp_path, codebook_file):
    """encode, decode and a paired export run without loading torch: it is an extra."""
    import subprocess
    import sys

    fixtures = Path(__file__).parents[1] / "fixtures"
    out, nano = tmp_path / "out", tmp_path / "nano"
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom ltmc.cli import app\n"
        f"codes = [CliRunner().invoke(app, args).exit_code for args in ({['encode', str(fixtures), '-o', str(out), '-c', str(codebook_file)]!r}, "
        f"{['decode', str(out), '--verify']!r}, {['export', str(out), '--format', 'nanogpt', '--paired', '-o', str(nano)]!r})]\n"
        "print(codes, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["[0,", "0,", "0]", "False"]


def test_a_model_refuses_places_of_another_width(codebook, flat_stream):
    """A tails=1 model given places of three would score two slots of three and report too few bits."""
    x = torch.as_tensor(places_of(flat_stream, codebook, 3)[None, :9])
    with pytest.raises(ValueError, match="place_width"):
        make(codebook, 2).place_nats(x[:, :-1], x[:, 1:])
    with pytest.raises(ValueError, match="output_width"):  # a second tail softmax the default width does not count
        GPTConfig(vocab_size=10, paired=True, tails=2).flops_per_place()
