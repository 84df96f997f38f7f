"""``ploy status``: the table fits the terminal without ever cutting a name, ``-o wide|json|yaml``, and the
status is read through the operator's own model."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from tests.operator.plan_world import spec_dict
from tests.support.cluster import ClusterHandle
from tradingbot_operator.crd import CRD_NAME
from tradingbot_operator.crd import render as render_crd
from tradingbot_operator.ctl import app
from tradingbot_operator.model import GROUP, KIND, VERSION
from tradingbot_operator.status_view import COLUMNS, MIN_MESSAGE_WIDTH, BotRow, Output, dump, render

LONG_NAME = "a-tradingbot-name-of-forty-characters-xx"
STARTED = "2026-01-01T00:00:00Z"
MESSAGE = "rolling out revision 0123456789 on green: waiting for 1 Ready replica of 1, then the bake"


def bot(name: str, **status: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": {"name": name}, "status": status}


BOTS = [
    bot(
        LONG_NAME,
        phase="Progressing",
        activeColor="blue",
        epoch=7,
        activeRevision="abcdef0123",
        previewRevision="0123456789",
        message=MESSAGE,
        rollout={
            "revision": "0123456789",
            "color": "green",
            "generation": 2,
            "startedAt": "2026-01-01T00:00:00Z",
        },
    ),
    bot(
        "short",
        phase="Healthy",
        activeColor="green",
        epoch=2,
        activeRevision="abcdef0123",
        message="all good",
    ),
]


def shown(bots: list[dict[str, Any]], width: int, wide: bool = False) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(render(bots, wide=wide))
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [50, 60, 80, 100, 120, 200])
def test_names_are_never_cut_and_lines_fit(width: int) -> None:
    lines = shown(BOTS, width)
    if width >= 80:  # the default columns fit an 80-column terminal with a 40-character name
        row = next(line for line in lines if line.startswith(LONG_NAME))
        assert row.split()[:5] == [LONG_NAME, "Progressing", "blue", "7", "abcdef0123"]
    rows = [line for line in lines if line.startswith((LONG_NAME + " ", "short "))]
    assert len(rows) == 2, lines
    assert all(len(line) <= width for line in lines)


def test_the_message_gives_way_first_then_goes_under_the_table() -> None:
    wide_terminal = shown(BOTS, 200)
    assert any(MESSAGE in line for line in wide_terminal)
    narrow = shown(BOTS, 80)
    header = next(line for line in narrow if line.startswith("NAME"))
    assert "MESSAGE" not in header  # 40-character name: too little room left for a message column
    assert any(line.startswith(f"{LONG_NAME}: rolling out") for line in narrow)
    assert any(line == "short: all good" for line in narrow)
    middle = shown(BOTS, 120)
    assert "MESSAGE" in next(line for line in middle if line.startswith("NAME"))
    assert any("…" in line for line in middle)  # cut with an ellipsis, not folded, in the table view
    assert MIN_MESSAGE_WIDTH > 0


def test_wide_shows_every_column_and_folds_the_message() -> None:
    headers = [column.header for column in COLUMNS]
    default = next(line for line in shown(BOTS, 250) if line.startswith("NAME"))
    wide = next(line for line in shown(BOTS, 250, wide=True) if line.startswith("NAME"))
    assert all(header in wide for header in headers)
    assert "STABLE REV" not in default and "LAST ROLLOUT" not in default
    folded = shown(BOTS, 180, wide=True)
    assert " ".join(" ".join(folded).split()).count("then the bake") == 1


def test_an_unreadable_status_still_shows_the_name() -> None:
    row = BotRow.of(bot("odd", phase="Sideways"))
    assert (
        row.name == "odd" and row.problem is not None and row.problem.startswith("status unreadable: phase")
    )
    assert any(
        line.startswith("odd ") and " ? " in line for line in shown([bot("odd", phase="Sideways")], 200)
    )


def test_json_and_yaml_print_the_objects_like_kubectl() -> None:
    assert json.loads(dump(BOTS[:1], Output.JSON, single=True)) == BOTS[0]
    listed = yaml.safe_load(dump(BOTS, Output.YAML, single=False))
    assert listed == {"apiVersion": "v1", "kind": "List", "items": BOTS}


@pytest.mark.cluster
def test_ploy_status_reads_a_real_tradingbot(cluster: ClusterHandle, namespace: str) -> None:
    applied = cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=render_crd())
    assert applied.returncode == 0, applied.stderr
    cluster.wait_crd_established(CRD_NAME)
    obj = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": LONG_NAME},
        "spec": spec_dict(),
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))
    status = {"status": {"phase": "Healthy", "activeColor": "blue", "epoch": 3, "message": "serving"}}
    cluster.kubectl(
        "patch",
        "tradingbot",
        LONG_NAME,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    base = ["status", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig)]
    runner = CliRunner()
    as_json = runner.invoke(app, [*base, LONG_NAME, "-o", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["status"]["epoch"] == 3
    table = runner.invoke(app, base, env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if line.startswith(LONG_NAME))
    assert row.split()[1:4] == ["Healthy", "blue", "3"], table.stdout
    wide = runner.invoke(app, [*base, "-o", "wide"], env={"COLUMNS": "200"})
    assert "STABLE REV" in wide.stdout and LONG_NAME in wide.stdout
