"""adjust_config: the operator's generated Prometheus configuration made to run outside a pod (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ploy_localcluster.prometheus import adjust_config

GENERATED: dict[str, Any] = {
    "global": {"external_labels": {"prometheus": "monitoring/ploy", "prometheus_replica": "$(POD_NAME)"}},
    "rule_files": ["/etc/prometheus/rules/prometheus-ploy-rulefiles-0/*.yaml", "/elsewhere/x.yaml"],
    "scrape_configs": [
        {
            "job_name": "serviceMonitor/bots/arb/0",
            "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": ["bots"]}}],
            "relabel_configs": [
                {"action": "keep", "regex": "(arb);true"},
                {"action": "keep", "regex": "$(SHARD);|.+;.+"},
            ],
        },
        {"job_name": "static", "static_configs": [{"targets": ["127.0.0.1:1"]}]},
    ],
}


def test_only_what_differs_outside_a_pod_changes() -> None:
    out = adjust_config(GENERATED, "https://127.0.0.1:6443", Path("/pki"), Path("/w/rules"))
    sd = out["scrape_configs"][0]["kubernetes_sd_configs"][0]
    assert sd == {
        "role": "endpoints",
        "namespaces": {"names": ["bots"]},
        "api_server": "https://127.0.0.1:6443",
        "tls_config": {"ca_file": "/pki/ca.crt", "cert_file": "/pki/admin.crt", "key_file": "/pki/admin.key"},
    }
    assert out["rule_files"] == ["/w/rules/prometheus-ploy-rulefiles-0/*.yaml", "/elsewhere/x.yaml"]
    assert out["global"]["external_labels"]["prometheus_replica"] == "local"
    assert out["scrape_configs"][0]["relabel_configs"] == [
        {"action": "keep", "regex": "(arb);true"},
        {"action": "keep", "regex": "0;|.+;.+"},
    ]
    assert out["scrape_configs"][1] == GENERATED["scrape_configs"][1]
    assert "api_server" not in GENERATED["scrape_configs"][0]["kubernetes_sd_configs"][0]  # input untouched
