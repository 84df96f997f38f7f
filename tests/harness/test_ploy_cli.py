"""The ``ploy`` console script: the TradingBot commands and ``ploy cluster`` come from two packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLOY = Path(sys.executable).parent / "ploy"


def test_ploy_has_the_tradingbot_and_the_cluster_commands() -> None:
    out = subprocess.run([PLOY, "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    for command in ("status", "promote", "abort", "retry", "cluster"):
        assert command in out


def test_ploy_cluster_down_without_a_cluster_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [PLOY, "cluster", "down", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "no control plane running" in done.stdout
