"""manifests/ is generated from the charts by scripts/gen-manifests.sh and must match them."""

from __future__ import annotations

import os
import subprocess

from tests.delivery.tools import ROOT, by_kind, documents, tool


def test_generated_manifests_are_current() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen-manifests.sh"), "--check"],
        env={**os.environ, "HELM": tool("helm")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_install_manifests_split_crds_from_their_objects() -> None:
    crds = documents((ROOT / "manifests" / "kopf-peering-crds.yaml").read_text())
    assert {d["metadata"]["name"] for d in crds} == {"clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
    install = documents((ROOT / "manifests" / "install.yaml").read_text())
    assert not by_kind(install, "CustomResourceDefinition")
    assert by_kind(install, "Namespace")[0]["metadata"]["name"] == "ploy-system"
    assert not [d for d in install if d.get("metadata", {}).get("annotations", {}).get("helm.sh/hook")]
    assert (ROOT / "manifests" / "crds" / "tradingbots.ploy.dev.yaml").is_file()


def test_example_holds_one_tradingbot_and_no_secret() -> None:
    docs = documents((ROOT / "manifests" / "examples" / "tradingbot.yaml").read_text())
    (bot,) = by_kind(docs, "TradingBot")
    assert bot["metadata"] == bot["metadata"] | {"name": "arb", "namespace": "bots"}
    assert bot["spec"]["database"]["secretRef"] == {"name": "arb-db", "key": "url"}
    assert not by_kind(docs, "Secret")
