"""The failure rows of ``bench/argo_rollouts_side_by_side.py``: both controllers, interleaved runs.

Each run is a fresh object in its own namespace (1 replica, Healthy first), progress deadline
``deadline`` seconds and the previous version kept warm ``warm`` seconds in both controllers (Ploy:
``postPromotionSeconds`` = ``scaleDownDelaySeconds`` = ``warm``). The new version's pods get the kwok
fault label of ``ploy_localcluster/stages.yaml`` (``ploy.dev/fault``), so the control plane's fake
kubelet decides their readiness the same way for both:

* **deadline → old version serving alone** (``never-ready``: Running, never Ready): from the due time
  (the spec change PATCH sent + ``deadline``; each controller starts its clock a little later, when it
  sees the change) to the first poll where the active Service selects the previous version and the
  new version's workload asks for 0 replicas; negative when the controller acted before. Also from
  the controller's own due time (its recorded start, whole seconds, + ``deadline``; Ploy's
  ``status.rollout.startedAt``, Argo's Progressing condition's ``lastUpdateTime``), on the wall
  clock, both to the old version serving alone and to the first poll showing the controller gave up
  (Ploy's phase Degraded, Argo's ``status.abort``). Argo Rollouts needs ``progressDeadlineAbort:
  true`` to abort at all, and scales the aborted ReplicaSet down ``abortScaleDownDelaySeconds`` later
  (1 s, its shortest; the deadline annotation it writes has whole seconds).
* **new pods NotReady after promotion → Service back on old** (``ready-then-fail``, NotReady
  ``fail_after`` after becoming Ready): from the first poll after the switch that sees a new pod not
  Ready to the first poll where the active Service selects the previous version again; ``None``
  ("never") when that has not happened ``never_after`` seconds later, with the object's state then.
  Argo Rollouts without an AnalysisTemplate does not roll back a promoted version.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from benchsupport import summary
from sidebyside_controllers import Controller, create, new_not_ready

JSON = dict[str, Any]
NEVER_READY = {"labels": {"ploy.dev/fault": "never-ready"}}


def ready_then_fail(fail_after: float) -> JSON:
    """Pod metadata for kwok's ``ready-then-fail`` stage: NotReady ``fail_after`` s after Ready."""
    return {
        "labels": {"ploy.dev/fault": "ready-then-fail"},
        "annotations": {"ploy.dev/fail-after": f"{fail_after:g}s"},
    }


async def _until(check: Callable[[], Awaitable[bool]], poll: float, limit: float) -> float | None:
    """Poll ``check`` every ``poll`` s; the monotonic time of the first True, None after ``limit`` s."""
    deadline = time.monotonic() + limit
    while True:
        now = time.monotonic()
        if await check():
            return now
        if now > deadline:
            return None
        await asyncio.sleep(poll)


def _gave_up(state: JSON) -> bool:
    """The controller has given up on the new version: Ploy's phase Degraded (after its rollback),
    Argo's ``status.abort``."""
    return bool(state.get("abort")) or state.get("phase") == "Degraded"


def _required(at: float | None, controller: Controller, namespace: str, what: str) -> float:
    if at is None:
        raise TimeoutError(f"{controller.name} {namespace}: {what}")
    return at


async def deadline_run(controller: Controller, namespace: str, deadline: int, poll: float) -> JSON:
    """Roll out never-Ready pods; seconds from the due time until the old version serves alone."""
    await create(controller, namespace)
    await asyncio.sleep(1.0)  # let the passes of the first version's tail settle
    sent = time.monotonic()
    await controller.change(namespace, "registry.example/app:2", NEVER_READY)
    due = sent + deadline

    async def new_scaled_up() -> bool:
        return bool(await controller.new_replicas(namespace))

    _required(await _until(new_scaled_up, 0.05, 60), controller, namespace, "new version not scaled up")
    # The controller's own start, read halfway to the due time (before either acts on the deadline).
    await asyncio.sleep(max(0.0, sent + deadline / 2 - time.monotonic()))
    started = (await controller.describe(namespace)).get("started")
    switched, gave_up = False, None

    async def old_alone() -> bool:
        nonlocal switched, gave_up
        polled = time.monotonic()  # the poll's start, as ``_until`` stamps the old version alone
        switched = switched or await controller.switched(namespace)
        if gave_up is None and _gave_up(await controller.describe(namespace)):
            gave_up = polled
        return await controller.old_selected(namespace) and await controller.new_replicas(namespace) == 0

    # Coarse polls until shortly before the due time (Ploy's can fall up to 1 s early), then fine ones.
    early = await _until(old_alone, 0.1, max(0.0, due - 1.5 - time.monotonic()))
    done = early or await _until(old_alone, poll, 60)
    at = _required(done, controller, namespace, "old version not serving alone 60 s after the deadline")
    offset = time.time() - time.monotonic()  # monotonic -> wall clock, to compare with the timestamps
    own_due = datetime.fromisoformat(started).timestamp() + deadline if started else None
    state = await controller.describe(namespace)
    await controller.delete(namespace)
    return {
        "deadline_to_old_alone": at - due,
        "own_due_to_old_alone": None if own_due is None else at + offset - own_due,
        "own_due_to_gave_up": None if own_due is None or gave_up is None else gave_up + offset - own_due,
        "change_to_old_alone": at - sent,
        "switched_to_failed_version": switched,
        "state": state,
    }


async def not_ready_run(
    controller: Controller, namespace: str, fail_after: float, never_after: float, poll: float
) -> JSON:
    """Roll out pods that fail ``fail_after`` s after Ready; seconds from the first poll that sees
    them NotReady after the switch until the Service selects the old version (None: not within
    ``never_after`` s)."""
    await create(controller, namespace)
    await asyncio.sleep(1.0)
    await controller.change(namespace, "registry.example/app:2", ready_then_fail(fail_after))

    async def switched() -> bool:
        return await controller.switched(namespace)

    async def not_ready() -> bool:
        return await new_not_ready(controller, namespace)

    async def back() -> bool:
        return await controller.old_selected(namespace)

    _required(await _until(switched, poll, 60), controller, namespace, "not promoted")
    failed = _required(await _until(not_ready, poll, fail_after + 30), controller, namespace, "no fail")
    back_at = await _until(back, poll, never_after)
    state = await controller.describe(namespace)
    # Nothing warm to switch back to any more: a later rollback would have to start pods first.
    state["previous_scaled_down"] = await controller.old_scaled_down(namespace)
    await controller.delete(namespace)
    return {"not_ready_to_old": None if back_at is None else back_at - failed, "state": state}


def _figure(values: list[float | None], never_after: float) -> JSON:
    """Summary of the measured runs, plus how many never got there within ``never_after`` s."""
    measured = [v for v in values if v is not None]
    out: JSON = summary(measured) if measured else {"n": 0}
    out["never"] = len(values) - len(measured)
    if not measured:
        out["result"] = f"never (not within {never_after:g} s, {len(values)} of {len(values)} runs)"
    return out


async def failure_rows(
    controllers: dict[str, Controller],
    runs: int,
    deadline: int,
    fail_after: float,
    never_after: float,
    poll: float,
    log: Callable[[str], None],
) -> JSON:
    """Both rows, ``runs`` each per controller, interleaved (Ploy, Argo, Argo, Ploy, ...)."""
    raw: dict[str, dict[str, list[JSON]]] = {name: {"deadline": [], "not_ready": []} for name in controllers}
    for index in range(runs):
        order = list(controllers) if index % 2 == 0 else list(reversed(controllers))
        for name in order:
            result = await deadline_run(controllers[name], f"{name}-deadline-{index}", deadline, poll)
            raw[name]["deadline"].append(result)
            log(f"deadline run {index} {name}: {result}")
        for name in order:
            namespace = f"{name}-notready-{index}"
            result = await not_ready_run(controllers[name], namespace, fail_after, never_after, poll)
            raw[name]["not_ready"].append(result)
            log(f"not-ready run {index} {name}: {result}")
    out: JSON = {
        "runs_each": runs,
        "progress_deadline_seconds": deadline,
        "fail_after_seconds": fail_after,
        "never_after_seconds": never_after,
    }
    for name, rows in raw.items():
        out[name] = {
            **{
                key: _figure([r[key] for r in rows["deadline"]], 60)
                for key in (
                    "deadline_to_old_alone",
                    "own_due_to_old_alone",
                    "own_due_to_gave_up",
                    "change_to_old_alone",
                )
            },
            "switched_to_failed_version": sum(r["switched_to_failed_version"] for r in rows["deadline"]),
            "not_ready_to_old": _figure([r["not_ready_to_old"] for r in rows["not_ready"]], never_after),
            "state_after_not_ready": rows["not_ready"][-1]["state"],
            "state_after_deadline": rows["deadline"][-1]["state"],
        }
        if stuck := [r["state"] for r in rows["not_ready"] if r["not_ready_to_old"] is None]:
            out[name]["not_ready_observed"] = _observed(stuck[-1], never_after)
    return out


def _observed(state: JSON, never_after: float) -> str:
    """What a run that never switched back ended with, in words (from ``Controller.describe``)."""
    failed = state["service_selects"] != state["previous_version"]
    return (
        f"{never_after:g} s after the new pods went NotReady the active Service still selected "
        f"{'the promoted, NotReady version' if failed else 'the previous version'} "
        f"({state['service_selects']}); phase {state.get('phase')}, abort {state.get('abort')}, "
        f"message {state.get('message')!r}; previous version scaled to 0: {state['previous_scaled_down']}"
    )


def failure_ratios(ploy: JSON, argo: JSON) -> JSON:
    """Ploy / Argo Rollouts for the failure rows (p50, p99); None where either never got there or
    acted before the due time."""
    out: JSON = {}
    keys = ("deadline_to_old_alone", "own_due_to_old_alone", "own_due_to_gave_up", "change_to_old_alone")
    for key in (*keys, "not_ready_to_old"):
        for q in ("p50_seconds", "p99_seconds"):
            a, b = ploy[key].get(q), argo[key].get(q)
            # A negative figure (acted before the due time) has no meaningful ratio.
            usable = a is not None and b is not None and a >= 0 and b > 0
            out[f"{key}.{q.removesuffix('_seconds')}"] = round(a / b, 2) if usable else None
    return out


def table(failures: JSON) -> list[str]:
    """The failure rows as text lines: figure, Ploy p50 / p99, Argo Rollouts p50 / p99, ratios."""
    ploy, argo, ratio = failures["ploy"], failures["argo_rollouts"], failures["ratio_ploy_over_argo"]

    def cell(figure: JSON) -> str:
        if not figure["n"]:
            return str(figure.get("result", "never"))
        never = f" (+{figure['never']} never)" if figure["never"] else ""
        return f"{figure['p50_seconds']:.3f} / {figure['p99_seconds']:.3f} s{never}"

    lines = [
        f"failure rows, {failures['runs_each']} runs each, progress deadline "
        f"{failures['progress_deadline_seconds']} s (indicative: 2 shared cores)",
        "figure | Ploy p50 / p99 | Argo Rollouts p50 / p99 | Ploy / Argo (p50 / p99)",
    ]
    for key, label in (
        ("deadline_to_old_alone", "spec change + deadline -> old version serving alone"),
        ("own_due_to_old_alone", "own due time (recorded start + deadline) -> old version alone"),
        ("own_due_to_gave_up", "own due time -> gave up (Ploy Degraded, Argo abort)"),
        ("change_to_old_alone", "spec change -> old version serving alone"),
        ("not_ready_to_old", "new pods NotReady after promotion -> Service back on old"),
    ):
        ratios = f"{ratio[key + '.p50']} / {ratio[key + '.p99']}"
        lines.append(f"{label} | {cell(ploy[key])} | {cell(argo[key])} | {ratios}")
    for name, figures in (("ploy", ploy), ("argo_rollouts", argo)):
        if "not_ready_observed" in figures:
            lines.append(f"{name}: {figures['not_ready_observed']}")
    return lines
