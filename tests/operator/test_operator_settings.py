"""How the operator sets up kopf and its API client: what it needs, decided once at start-up."""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest
import yaml
from kubernetes.aio.client import ApiClient, Configuration
from prometheus_client import CollectorRegistry

from tradingbot_operator.child_cache import ChildCache
from tradingbot_operator.handlers import NoDiffBase, build_registry, configure_settings
from tradingbot_operator.kube import Kube
from tradingbot_operator.main import environment_proxy, load_configuration
from tradingbot_operator.metrics import OperatorMetrics
from tradingbot_operator.reconciler import Reconciler

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({}, "https://10.0.0.1:6443", None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://10.0.0.1:6443", "http://proxy:3128"),
        ({"https_proxy": "http://proxy:3128"}, "https://api.example:6443", "http://proxy:3128"),
        ({"HTTP_PROXY": "http://plain:3128"}, "https://10.0.0.1:6443", None),
        ({"HTTP_PROXY": "http://plain:3128"}, "http://127.0.0.1:8080", "http://plain:3128"),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "10.0.0.1"}, "https://10.0.0.1:6443", None),
        ({"HTTPS_PROXY": "http://proxy:3128", "no_proxy": ".example"}, "https://api.example:6443", None),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "other"},
            "https://api.example:6443",
            "http://proxy:3128",
        ),
    ],
)
def test_environment_proxy_follows_the_proxy_variables(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], url: str, expected: str | None
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert environment_proxy(url) == expected


async def test_the_client_reads_the_proxy_once_and_not_per_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    configuration = await load_configuration(str(kubeconfig))
    assert configuration.proxy == "http://proxy:3128"
    assert configuration.client_session_kwargs == {"trust_env": False}
    api = ApiClient(configuration)
    try:
        session = api.rest_client._create_pool_manager()
        assert session.trust_env is False
        await session.close()
    finally:
        await api.close()


async def test_the_operator_registers_watch_handlers_only_so_it_needs_no_diff_base() -> None:
    # NoDiffBase is only right while nothing reads a diff: no on.create/update/delete, no daemons.
    api = ApiClient(Configuration())
    try:
        reconciler = Reconciler(Kube(api, cache=ChildCache()), OperatorMetrics(CollectorRegistry()))
        registry = build_registry(reconciler, Configuration())
        assert registry._changing.get_all_handlers() == []
        assert registry._spawning.get_all_handlers() == []
        assert len(registry._watching.get_all_handlers()) == 6
    finally:
        await api.close()
    settings = kopf.OperatorSettings()
    configure_settings(settings)
    assert isinstance(settings.persistence.diffbase_storage, NoDiffBase)
    body = kopf.Body({"metadata": {"name": "a", "annotations": {"x": "y"}}, "spec": {"a": 1}, "status": {}})
    assert settings.persistence.diffbase_storage.build(body=body) == {}
    assert settings.persistence.diffbase_storage.fetch(body=body) is None
