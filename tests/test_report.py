"""`ltmc stats --report`: one self-contained HTML page holding the numbers of `stats --json`."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ltmc import costmodel, report, report_html
from ltmc.cli import app
from ltmc.errors import LtmcError
from ltmc.pipeline import encode_corpus

FIXTURES = Path(__file__).parents[1] / "fixtures"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, codebook) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    encode_corpus([str(FIXTURES)], out, codebook, workers=1)
    return out


def test_report_holds_the_stats_and_fetches_nothing(encoded, tmp_path):
    runner = CliRunner()
    page_path = tmp_path / "report.html"
    result = runner.invoke(app, ["stats", str(encoded), "--report", str(page_path), "--model", "d_model=128,n_layer=4,n_ctx=512"])
    assert result.exit_code == 0, result.output
    stats = orjson.loads(runner.invoke(app, ["stats", str(encoded), "--json"]).stdout)

    parser = Page()
    parser.feed(page_path.read_text(encoding="utf-8"))
    parser.close()
    text = " ".join(parser.text)
    for key in ("documents", "bytes", "chars", "words", "scenes", "tokens", "positions", "vocab_size", "distinct_ids"):
        assert f"{stats[key]:,}" in text, key
    assert str(stats["chars_per_token"]) in text and str(stats["chars_per_position"]) in text
    assert str(stats["tokens_per_word"]) in text
    for kind, share in stats["share_by_kind"].items():
        if share:
            assert kind in text and f"{share:.1%}" in text
    for row in stats["top_bonds"] + stats["top_endings"]:
        assert report_html._token_text(row["text"]) in text and f"{row['count']:,}" in text
    assert "d_model=128, n_layer=4, n_ctx=512" in text
    assert "6·N·D" in text and "12·L·d²" in text  # the formulas are stated

    tags = [t for t, _ in parser.tags]
    assert tags.count("svg") >= 2  # kind shares and the scene-length histogram
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    for _, attrs in parser.tags:
        for name in ("src", "href"):
            assert name not in attrs, attrs
    assert "http://" not in page_path.read_text() and "https://" not in page_path.read_text()


def test_cost_model_numbers():
    shape = costmodel.parse_model("d_model=256,n_layer=6,n_ctx=1024")
    assert shape.n_head == 4
    c = costmodel.cost(shape, vocab_size=32_768, tokens=1_000, chars=4_000, words=800)
    assert c["embedding_params"] == 32_768 * 256
    assert c["layer_params"] == 12 * 6 * 256 * 256
    assert c["train_flops_per_epoch"] == (6 * (c["layer_params"] + c["embedding_params"]) + 6 * 6 * 1024 * 256) * 1_000
    assert c["kv_bytes_per_window"] == 2 * 6 * 1024 * 256 * 2
    assert c["attention_bytes_per_window"] == 6 * 4 * 1024 * 1024 * 2
    assert c["chars_per_window"] == 4 * 1024
    assert c["tokens_per_1m_chars"] == 250_000


@pytest.mark.parametrize("spec", ["d_model=0", "width=3", "d_model", "n_ctx=abc"])
def test_bad_model_spec(spec):
    with pytest.raises(LtmcError):
        costmodel.parse_model(spec)


def test_report_without_baselines(encoded):
    page, data = report.build(encoded, with_baselines=False)
    assert not data["baselines_available"]
    assert "bench extras" in page
    assert len(data["costs"]) == 1
