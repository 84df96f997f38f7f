"""The migration Job ``<name>-migrate-<revision>`` (pure): name, build, parse; immutable once created."""

from __future__ import annotations

from tradingbot_operator.actions import PodInputs
from tradingbot_operator.children.meta import (
    JSON,
    LABEL_COMPONENT,
    ChildKind,
    Owner,
    bot_labels,
    condition_of,
    labels_of,
    metadata,
)
from tradingbot_operator.children.pod import pod_spec
from tradingbot_operator.names import LABEL_REVISION
from tradingbot_operator.observed import JobFacts, JobState

MIGRATION_COMPONENT = "migration"

KIND = ChildKind(kind="Job", api="/apis/batch/v1", plural="jobs")
"""A Job's template is immutable; its result is what the plan reads."""


def migration_job_name(bot: str, revision: str) -> str:
    """``<bot>-migrate-<revision>``."""
    return f"{bot}-migrate-{revision}"


def migration_job(owner: Owner, revision: str, args: tuple[str, ...], pod: PodInputs) -> JSON:
    """The Job ``<name>-migrate-<revision>``: ``ploy-bot <args>`` with the revision's image and config.

    No retries (``backoffLimit: 0``): a failed migration fails the rollout, and ``ploy.dev/retry``
    starts it again. Its pods carry the revision label but no color, so no Service selects them.
    """
    labels = {**bot_labels(owner.name), LABEL_REVISION: revision, LABEL_COMPONENT: MIGRATION_COMPONENT}
    pod_labels = {**pod.pod_template.labels, **labels}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(owner, migration_job_name(owner.name, revision), labels),
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": pod_labels, "annotations": dict(pod.pod_template.annotations)},
                "spec": pod_spec(owner, None, pod, args=list(args), probes=False, restart_policy="Never"),
            },
        },
    }


def job_facts(job: JSON) -> JobFacts | None:
    """State of a migration Job from its ``Complete``/``Failed`` conditions; None without a revision."""
    revision = labels_of(job).get(LABEL_REVISION)
    if revision is None:
        return None
    complete = condition_of(job, "Complete")
    failed = condition_of(job, "Failed")
    if failed is not None and failed.get("status") == "True":
        message = str(failed.get("message") or failed.get("reason") or "")
        return JobFacts(revision=revision, state=JobState.FAILED, message=message)
    if complete is not None and complete.get("status") == "True":
        return JobFacts(revision=revision, state=JobState.SUCCEEDED)
    return JobFacts(revision=revision, state=JobState.RUNNING)
