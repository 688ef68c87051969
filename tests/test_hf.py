"""ltmc.hf: the codebook as a transformers tokenizer, with the real transformers
classes (collator, Trainer, TextStreamer). Nothing is downloaded: the model is a
tiny GPT-2 built from a config, the data the fixtures' export."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers loads: never the network

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

import pyarrow.parquet as pq  # noqa: E402
from transformers import AutoTokenizer, DataCollatorForLanguageModeling, GPT2Config, GPT2LMHeadModel, TextStreamer, Trainer, TrainingArguments  # noqa: E402

from ltmc.export import export  # noqa: E402
from ltmc.hf import LtmcTokenizer  # noqa: E402
from ltmc import encode_corpus  # noqa: E402

FIXTURES = Path(__file__).parents[1] / "fixtures"
TEXTS = ["Мороз и солнце; день чудесный!", "— Может, к обеду перестанет? — сказала она.", "привет", "Hello, world.\n"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, codebook) -> Path:
    root = tmp_path_factory.mktemp("hf")
    encode_corpus([str(FIXTURES)], root / "out", codebook, workers=1)
    export(root / "out", root / "hf", "hf", 0.3)
    return root / "hf"


@pytest.fixture(scope="module")
def tok(exported) -> LtmcTokenizer:
    return LtmcTokenizer.from_pretrained(exported)


def test_the_export_loads_as_the_tokenizer_the_shards_were_encoded_with(tok, codebook):
    assert tok.codebook.fingerprint == codebook.fingerprint
    assert len(tok) == tok.vocab_size == len(codebook)
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == tuple(codebook.special_ids.values())[:3]


def test_auto_tokenizer_finds_it_by_the_class_name_in_the_config(exported, tok):
    auto = AutoTokenizer.from_pretrained(exported)
    assert type(auto) is LtmcTokenizer
    assert auto(TEXTS[0])["input_ids"] == tok(TEXTS[0])["input_ids"]


def test_save_pretrained_and_from_pretrained_round_trip(tok, tmp_path):
    tok.save_pretrained(tmp_path / "saved")
    again = LtmcTokenizer.from_pretrained(tmp_path / "saved")
    assert again.codebook.fingerprint == tok.codebook.fingerprint
    assert again.all_special_tokens == tok.all_special_tokens
    assert again(TEXTS)["input_ids"] == tok(TEXTS)["input_ids"]


def test_bytes_that_are_not_utf8_decode_printably_or_byte_for_byte(tok, exported, tmp_path):
    # A sampled model may put byte ids together into no character: TextStreamer must
    # still print, so the default shows U+FFFD, as GPT-2's tokenizer does.
    ids = tok.codebook.encode(b"\xd0 ok".decode("utf-8", "surrogateescape"))
    assert tok.decode(ids) == "\ufffd ok"
    exact = LtmcTokenizer.from_pretrained(exported, errors="surrogateescape")
    assert exact.decode(ids).encode("utf-8", "surrogateescape") == b"\xd0 ok"
    exact.save_pretrained(tmp_path / "exact")
    assert LtmcTokenizer.from_pretrained(tmp_path / "exact").errors == "surrogateescape"


def test_ids_are_the_codebooks_and_specials_in_text_are_one_id(tok, codebook):
    assert tok(TEXTS[0])["input_ids"] == codebook.encode(TEXTS[0])
    ids = tok("<|bos|>" + TEXTS[1] + "<|eos|>")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.decode(ids) == "<|bos|>" + TEXTS[1] + "<|eos|>"
    assert tok.convert_ids_to_tokens(ids[:1]) == ["<|bos|>"]


def test_padding_and_truncation_give_ids_and_attention_mask(tok):
    batch = tok(TEXTS, padding=True, truncation=True, max_length=12)
    assert set(batch) == {"input_ids", "attention_mask"}
    natural = [len(tok(t)["input_ids"]) for t in TEXTS]
    assert min(natural) < 12 < max(natural)  # so both padding and truncation happen
    assert [len(ids) for ids in batch["input_ids"]] == [12] * len(TEXTS)
    assert batch["attention_mask"][natural.index(min(natural))].count(0) == 12 - min(natural)
    for ids, mask in zip(batch["input_ids"], batch["attention_mask"]):
        assert [i == tok.pad_token_id for i in ids] == [m == 0 for m in mask]
    full = tok(TEXTS, padding="longest")
    for text, ids in zip(TEXTS, full["input_ids"]):
        assert tok.decode(ids, skip_special_tokens=True) == text


@settings(max_examples=300)
@given(st.text(max_size=60), st.text(max_size=60))
def test_decode_skipping_specials_gives_the_text_back_and_texts_tokenized_apart_join(tok, a, b):
    ids_a, ids_b = tok(a)["input_ids"], tok(b)["input_ids"]
    specials = set(tok.all_special_tokens)
    if any(s in a + b for s in specials):
        return  # a special's text in the input is the special itself
    assert tok.decode(ids_a, skip_special_tokens=True) == a
    assert tok.decode(ids_a + [tok.eos_token_id] + ids_b, skip_special_tokens=True) == a + b
    assert tok.decode(ids_a + ids_b) == a + b


def test_the_collator_pads_and_masks_labels(tok):
    collator = DataCollatorForLanguageModeling(tok, mlm=False)
    batch = collator([tok(t) for t in TEXTS])
    assert batch["input_ids"].shape == batch["labels"].shape
    pads = batch["input_ids"] == tok.pad_token_id
    assert pads.any() and (batch["labels"][pads] == -100).all() and (batch["labels"][~pads] != -100).all()


def _tiny_model(tok) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return GPT2LMHeadModel(config)


def test_a_trainer_runs_two_steps_on_the_exported_shards(tok, exported, tmp_path):
    rows = pq.read_table(next(exported.glob("train-*.parquet")), columns=["input_ids"]).column("input_ids").to_pylist()
    dataset = [{"input_ids": ids[:64]} for ids in rows]
    args = TrainingArguments(output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=4, report_to=[], save_strategy="no", use_cpu=True, logging_steps=1)
    trainer = Trainer(model=_tiny_model(tok), args=args, train_dataset=dataset, data_collator=DataCollatorForLanguageModeling(tok, mlm=False))
    result = trainer.train()
    assert trainer.state.global_step == 2
    assert torch.isfinite(torch.tensor(result.training_loss))


class _Captured(TextStreamer):
    def __init__(self, tok, **kwargs) -> None:
        super().__init__(tok, **kwargs)
        self.shown: list[str] = []

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.shown.append(text)


def test_text_streamer_shows_the_text_token_by_token(tok):
    text = "— Может, к обеду перестанет? — сказала она.\nОн кивнул."
    streamer = _Captured(tok)
    for token_id in tok(text)["input_ids"]:
        streamer.put(torch.tensor([token_id]))
    streamer.end()
    assert "".join(streamer.shown) == text


def test_text_streamer_follows_generate(tok):
    model = _tiny_model(tok)
    prompt = tok("Мороз и солнце", return_tensors="pt")
    streamer = _Captured(tok, skip_prompt=True, skip_special_tokens=True)
    out = model.generate(**prompt, max_new_tokens=12, do_sample=False, streamer=streamer)
    new = out[0, prompt["input_ids"].shape[1] :].tolist()
    assert "".join(streamer.shown) == tok.decode(new, skip_special_tokens=True)


def test_auto_tokenizer_needs_ltmc_hf_imported_first(exported):
    # The README's claim: registration happens on `import ltmc.hf`, and nothing else finds the class.
    probe = (
        "import sys\nfrom transformers import AutoTokenizer\n"
        f"try:\n    AutoTokenizer.from_pretrained({str(exported)!r})\nexcept Exception:\n    print('refused')\n"
        f"import ltmc.hf\nprint(type(AutoTokenizer.from_pretrained({str(exported)!r})).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert done.stdout.split() == ["refused", "LtmcTokenizer"], done.stderr[-2000:]
