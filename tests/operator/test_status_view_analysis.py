"""``ploy status`` shows the metric analysis gate's last measurements (T0, from a fixture status)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from tradingbot_operator.model import TradingBotStatus
from tradingbot_operator.status_view import render

FIXTURE = Path(__file__).resolve().parents[1] / "delivery/data/status/degraded-analysis-failed.json"


def test_status_shows_the_last_measurement_with_its_value() -> None:
    bot = json.loads(FIXTURE.read_text())["object"]
    TradingBotStatus.model_validate(bot["status"])
    console = Console(width=200, record=True)
    console.print(render([bot]))
    text = console.export_text()
    assert "arb: analysis of blue (a41f8e02) market-data-age Failed measured 42, not <= 5" in text, text
    assert "AnalysisFailed" in text
