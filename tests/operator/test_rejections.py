"""Which API refusals the reconciler retries: a namespace being deleted is not retried."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from kubernetes.aio.client import ApiClient
from kubernetes.aio.client.exceptions import ApiException

from tests.support.cluster import ClusterHandle
from tradingbot_operator.children.meta import MERGE_PATCH
from tradingbot_operator.kube import Kube
from tradingbot_operator.rejections import is_namespace_terminating


def refusal(status: int, body: Any) -> ApiException:
    exc = ApiException(status=status, reason="Forbidden")
    exc.body = body if isinstance(body, str) else json.dumps(body)
    return exc


TERMINATING = {
    "kind": "Status",
    "status": "Failure",
    "message": 'configmaps "x" is forbidden: unable to create new content in namespace t because it is being '
    "terminated",
    "reason": "Forbidden",
    "details": {"causes": [{"reason": "NamespaceTerminating", "message": "namespace t is being terminated"}]},
    "code": 403,
}


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (refusal(403, TERMINATING), True),
        (refusal(403, {**TERMINATING, "details": {}}), False),  # RBAC or another admission plugin
        (refusal(409, TERMINATING), False),
        (refusal(403, "not json"), False),
        (refusal(403, ["a", "list"]), False),
        (ValueError("not an API answer"), False),
    ],
)
def test_is_namespace_terminating(exc: BaseException, expected: bool) -> None:
    assert is_namespace_terminating(exc) is expected


@pytest.mark.cluster
async def test_the_api_servers_refusal_in_a_terminating_namespace_is_recognised(
    cluster: ClusterHandle, k8s_api: ApiClient
) -> None:
    # A ConfigMap with a finalizer holds the namespace in Terminating while the test writes into it.
    kube = Kube(k8s_api)
    namespace = f"t-terminating-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    held = f"/api/v1/namespaces/{namespace}/configmaps/held"
    body = {"metadata": {"name": "held", "finalizers": ["ploy.dev/test-hold"]}}
    await kube.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body=body)
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")
    try:
        with pytest.raises(ApiException) as raised:
            await kube.request(
                "POST", f"/api/v1/namespaces/{namespace}/configmaps", body={"metadata": {"name": "x"}}
            )
        assert is_namespace_terminating(raised.value)
    finally:
        await kube.request("PATCH", held, body={"metadata": {"finalizers": None}}, content_type=MERGE_PATCH)
