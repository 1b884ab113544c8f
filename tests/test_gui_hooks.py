"""The GUI's hooks into the engine: capability probe, memory estimate, chat-template preview."""

from __future__ import annotations

from pathlib import Path

from gui import hooks

from .fake_openai_server import FakeServer
from .tiny_model import ensure_tiny_model


def test_probe_reports_the_endpoint_capabilities():
    with FakeServer() as server:
        result = hooks.probe_teacher(server.url, "fake-model", None)
        assert result.ok and result.value.chat_format
        assert "fake-model" in result.text and "latency" in result.text
    down = hooks.probe_teacher("http://127.0.0.1:9/v1", "fake-model", None)
    assert not down.ok and down.text


def test_memory_estimate_and_template_preview_on_a_real_model(models_home: Path):
    tiny = str(ensure_tiny_model(models_home))
    small = hooks.estimate_memory(tiny, "nf4", 16, 512, 4)
    big = hooks.estimate_memory(tiny, "none", 64, 4096, 16)
    assert small.ok and "estimated peak" in small.text
    assert big.value.total_bytes > small.value.total_bytes
    preview = hooks.template_preview(tiny, [{"role": "user", "content": "What is 2 plus 3?"},
                                            {"role": "assistant", "content": "It is 5."}])
    assert preview.ok
    trained = "".join(text for text, is_trained in preview.value if is_trained)
    masked = "".join(text for text, is_trained in preview.value if not is_trained)
    assert "It is 5." in trained and "What is 2 plus 3?" in masked
    assert "What is" not in trained


def test_hooks_explain_what_is_missing(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DISTILLAB_MODELS", str(tmp_path / "no-models-yet"))
    result = hooks.estimate_memory("embedded", "nf4", 16, 512, 4)  # not converted here
    assert not result.ok and "first run" in result.text
    bad = hooks.estimate_memory(str(tmp_path / "no-such-model"), "nf4", 16, 512, 4)
    assert not bad.ok and "config" in bad.text


def test_the_settings_price_table_reaches_the_engine(tmp_path: Path, monkeypatch):
    import json

    from engine.teacher.prices import load_prices
    from gui.settings import apply_price_table

    monkeypatch.delenv("DISTILLAB_PRICES", raising=False)
    table = tmp_path / "my-prices.json"
    table.write_text(json.dumps({"my-model": {"input": 1.5, "output": 6.0}}))
    apply_price_table(str(table))
    price = load_prices()["my-model"]
    assert (price.input_per_m, price.output_per_m) == (1.5, 6.0)
    apply_price_table("")
    assert "my-model" not in load_prices()
