"""The Deployment ``<name>-<color>`` of each color (pure): name, build, differs, patch, parse."""

from __future__ import annotations

from collections.abc import Iterable

from tradingbot_operator.actions import PodInputs
from tradingbot_operator.children.meta import JSON, JSON_PATCH, ChildKind, Owner, Patch, metadata, spec_hash
from tradingbot_operator.children.pod import pod_facts, pod_spec
from tradingbot_operator.model import Color
from tradingbot_operator.names import LABEL_COLOR, LABEL_REVISION, LABEL_TRADINGBOT, child_labels
from tradingbot_operator.observed import DeploymentFacts

# Deployments get this annotation with a hash of everything the operator put into their spec, so a
# later pass can tell "already as desired" from "needs an update" without a field-by-field compare.
ANNOTATION_SPEC_HASH = "ploy.dev/spec-hash"


def deployment_name(bot: str, color: Color) -> str:
    """``<bot>-<color>``."""
    return f"{bot}-{color.value}"


def deployment(owner: Owner, color: Color, revision: str, replicas: int, pod: PodInputs) -> JSON:
    """The Deployment ``<name>-<color>`` running ``revision`` with ``replicas`` pods.

    Labels per :func:`~tradingbot_operator.names.child_labels` on the Deployment and its pods (plus
    ``spec.podTemplate.labels``/``annotations`` on the pods); the selector is color-only because a
    Deployment selector is immutable while the color's revision changes. Strategy ``Recreate``: a
    color never runs two pods of a singleton bot at once. The annotation ``ploy.dev/spec-hash`` on
    the Deployment hashes its desired ``spec`` (see :func:`deployment_needs_update`).
    """
    labels = child_labels(owner.name, color, revision)
    pod_labels = {**pod.pod_template.labels, **labels}
    spec: JSON = {
        "replicas": replicas,
        "revisionHistoryLimit": 2,
        "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": {LABEL_TRADINGBOT: owner.name, LABEL_COLOR: color.value}},
        "template": {
            "metadata": {"labels": pod_labels, "annotations": dict(pod.pod_template.annotations)},
            "spec": pod_spec(owner, color, pod, args=["run"], probes=True, restart_policy="Always"),
        },
    }
    meta = metadata(owner, deployment_name(owner.name, color), labels)
    meta["annotations"] = {ANNOTATION_SPEC_HASH: spec_hash(spec)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def deployment_needs_update(live: JSON, desired: JSON) -> bool:
    """True when the live Deployment differs from ``desired`` in what the operator owns.

    Compared: the spec hash annotation (template, selector, strategy), ``spec.replicas`` and the labels.
    """
    live_meta = live.get("metadata", {})
    desired_meta = desired["metadata"]
    live_labels = live_meta.get("labels") or {}
    return bool(
        (live_meta.get("annotations") or {}).get(ANNOTATION_SPEC_HASH)
        != desired_meta["annotations"][ANNOTATION_SPEC_HASH]
        or live.get("spec", {}).get("replicas") != desired["spec"]["replicas"]
        or {k: live_labels.get(k) for k in desired_meta["labels"]} != desired_meta["labels"]
    )


def deployment_update_patch(live: JSON, desired: JSON) -> list[JSON]:
    """A JSON patch (RFC 6902) giving ``live`` the operator's spec, labels, annotations and owner.

    ``spec`` is replaced whole (no stale template keys survive, as they would in a merge patch);
    labels and annotations others wrote (e.g. ``deployment.kubernetes.io/revision``) are kept. No
    resourceVersion precondition: the Deployment controller updates the status all the time, and the
    operator is the only writer of the spec.
    """
    meta = live.get("metadata", {})
    return [
        {"op": "replace", "path": "/spec", "value": desired["spec"]},
        {
            "op": "add",
            "path": "/metadata/labels",
            "value": {**(meta.get("labels") or {}), **desired["metadata"]["labels"]},
        },
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": {**(meta.get("annotations") or {}), **desired["metadata"]["annotations"]},
        },
        {"op": "add", "path": "/metadata/ownerReferences", "value": desired["metadata"]["ownerReferences"]},
    ]


def deployment_patch(live: JSON, desired: JSON) -> Patch:
    """:func:`deployment_update_patch` as a JSON patch."""
    return deployment_update_patch(live, desired), JSON_PATCH


KIND = ChildKind(
    kind="Deployment",
    api="/apis/apps/v1",
    plural="deployments",
    differs=deployment_needs_update,
    patch=deployment_patch,
)


def deployment_facts(deployment: JSON, pods: Iterable[JSON]) -> DeploymentFacts:
    """Facts of one color's live Deployment (wire JSON) and the live pods of that color."""
    meta = deployment["metadata"]
    spec = deployment.get("spec", {})
    status = deployment.get("status", {})
    template_labels = spec.get("template", {}).get("metadata", {}).get("labels") or {}
    return DeploymentFacts(
        revision=template_labels.get(LABEL_REVISION),
        replicas=int(spec.get("replicas", 1)),
        ready_replicas=int(status.get("readyReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        rolled_out=int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0),
        pods=tuple(pod_facts(p) for p in pods),
    )
