"""scripts/helm-docs.py: the charts' READMEs are current, every value is documented, and the parser
finds undocumented values and documents subtrees the way the helm-docs convention does."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.delivery.tools import BOT_CHART, OPERATOR_CHART, ROOT, run

SCRIPT = ROOT / "scripts" / "helm-docs.py"


def _helm_docs(*args: str, check: bool = True) -> tuple[int, str, str]:
    result = run(sys.executable, str(SCRIPT), *args, check=check)
    return result.returncode, result.stdout, result.stderr


def test_chart_readmes_are_current_and_every_value_is_documented() -> None:
    code, _, err = _helm_docs("--check", str(OPERATOR_CHART), str(BOT_CHART), check=False)
    assert code == 0, err


def test_readme_lists_every_tradingbot_spec_value() -> None:
    readme = (BOT_CHART / "README.md").read_text()
    for key in (
        "rollout.bakeSeconds",
        "rollout.migration.args",
        "trading.risk.killSwitch",
        "podTemplate.labels",
    ):
        assert f"| `{key}` |" in readme


def _chart(tmp_path: Path, values: str) -> Path:
    chart = tmp_path / "demo"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\ndescription: A demo.\n")
    (chart / "values.yaml").write_text(values)
    return chart


def test_undocumented_leaf_fails_and_documented_subtree_passes(tmp_path: Path) -> None:
    chart = _chart(
        tmp_path,
        "# -- Documented as a whole.\nresources:\n  limits:\n    cpu: 1\n"
        "image:\n  # -- The tag.\n  tag: v1\n  pullPolicy: Always\n",
    )
    code, _, err = _helm_docs("--check", str(chart), check=False)
    assert code == 1
    assert "`image.pullPolicy` has no `# --` comment" in err
    assert "resources" not in err and "image.tag" not in err


def test_generated_table_and_check_round_trip(tmp_path: Path) -> None:
    chart = _chart(
        tmp_path, "# -- How many.\n# continued here.\nreplicas: 2\n# -- Items | piped.\nitems: [a]\n"
    )
    assert _helm_docs(str(chart))[0] == 0
    readme = (chart / "README.md").read_text()
    assert "| `replicas` | int | `2` | How many. continued here. |" in readme
    assert '| `items` | list | `["a"]` | Items \\| piped. |' in readme
    assert _helm_docs("--check", str(chart))[0] == 0
    (chart / "values.yaml").write_text("# -- How many.\nreplicas: 3\n")
    code, _, err = _helm_docs("--check", str(chart), check=False)
    assert code == 1 and "out of date" in err
