"""The rollout plan (pure): ``plan(spec, status, observed, now) -> Plan(actions, status, requeue_after)``.

Modules, in the order a pass runs them: ``context`` (the pass's working state, :class:`Plan`, the
reasons), ``analysis`` (the metric analysis gate: due queries, readings, verdict), ``events`` (the
typed transitions a pass commits, each reported as one Event),
``transitions`` (bookkeeping; a rollout up to its promotion), ``window`` (after the promotion: the
post-promotion window, rollback, the standby's scale-down), ``phase`` (phase, conditions, message),
``converge`` (child actions from the new status), ``timing`` (when each gate is due;
``requeue_after``). The rollout's stage is ``status.rollout.stage``
(:class:`~tradingbot_operator.model.RolloutStage`).

Inputs
  ``spec``      the parsed ``TradingBotSpec`` (``TradingBotSpec.model_validate(body["spec"])``).
  ``status``    the current ``TradingBotStatus``
                (``TradingBotStatus.model_validate(body.get("status") or {})``).
  ``observed``  an :class:`~tradingbot_operator.observed.Observed` snapshot of the TradingBot's
                metadata (generation, annotations, deleting) and its children.
  ``now``       timezone-aware UTC ``datetime``; the transitions and the status see it truncated to
                whole seconds, ``requeue_after`` counts from the exact value.

Output :class:`Plan`
  ``status``         the complete new status; write it (status subresource) when it differs from the
                     old one, BEFORE applying the actions. Promotion and rollback are one status write
                     (``activeColor`` and ``epoch`` together), and only then do the Service selectors
                     follow.
  ``actions``        :mod:`tradingbot_operator.actions` to apply in order after the status write; each
                     checks the live object before it writes. Events come first: they describe
                     transitions the status write has just committed.
  ``requeue_after``  seconds from the exact ``now`` until a time-based gate (bake end, progress
                     deadline, post-promotion window end, scale-down) needs another pass, or None when
                     only a change in the cluster can move things on.

Semantics (docs/ARCHITECTURE.md, "The gate and the switch").
A revision (``revision.revision``) covers image, trading config, pod template and
database reference; ``replicas``, ``paused`` and ``rollout`` are not part of it: a replica change scales
the running colors in place. A new revision goes to the idle color (blue for the very first rollout),
after its migration Job when enabled. Gate: all replicas Ready, then ``bakeSeconds`` without readiness
loss and with at most ``maxRestarts`` restarts, all within ``progressDeadlineSeconds`` (time spent
paused does not count). Promotion (``autoPromote`` or ``ploy.dev/promote``, which skips the remaining
bake but never promotes a color that is not Ready) sets ``activeColor`` and ``epoch + 1`` in one status
change. During ``postPromotionSeconds`` readiness loss or too many restarts of the new active color (or
``ploy.dev/abort``) roll back: ``activeColor`` back, ``epoch + 1``. The first rollout has no previous
color, hence no post-promotion window. The previous color stays warm until
``max(scaleDownDelaySeconds, postPromotionSeconds)`` after promotion, then it is scaled to 0 (its
Deployment stays). Failure before promotion (deadline, restarts > maxRestarts at once, readiness loss
after Ready, migration failure, ``ploy.dev/abort``) scales the new color to 0; the revision is then
not retried until ``metadata.generation`` changes or a new ``ploy.dev/retry`` value appears. A newer
revision during a rollout supersedes it (``lastRollout.result: Superseded``); during a post-promotion
window it ends the window early (the promoted revision counts as Promoted). ``spec.paused`` stops
progress (no start, supersede, promotion, window end, scale-down, deadline) but not the safety
rollbacks. Manual-action annotations are acted on once per value (``status.handledActions``); a
promote request waits until the new color is Ready. Deletion: when ``observed.deleting`` the plan
returns no actions and the status unchanged; ownerReferences let the garbage collector remove the
children.
"""

from __future__ import annotations

from datetime import datetime

from tradingbot_operator.bake import ceil_second
from tradingbot_operator.model import RolloutStage, TradingBotSpec, TradingBotStatus
from tradingbot_operator.observed import Observed
from tradingbot_operator.plan.analysis import REASON_ANALYSIS_FAILED
from tradingbot_operator.plan.context import (
    REASON_ABORTED,
    REASON_DEADLINE,
    REASON_MIGRATION_FAILED,
    REASON_PROMOTED,
    REASON_PROMOTED_FIRST,
    REASON_READINESS_LOST,
    REASON_RESTARTS,
    REASON_SUPERSEDED,
    REASON_WINDOW_CUT,
    Pass,
    Plan,
    whole_seconds,
)
from tradingbot_operator.plan.converge import converge
from tradingbot_operator.plan.events import RolledBack, RolloutEnded, Transition
from tradingbot_operator.plan.phase import summarise
from tradingbot_operator.plan.timing import requeue_after
from tradingbot_operator.plan.transitions import (
    maybe_start,
    pre_promotion,
    track_annotations,
    track_pause,
    track_stop,
    unapplicable_requests,
)
from tradingbot_operator.plan.window import post_promotion, scale_down_standby
from tradingbot_operator.revision import revision

__all__ = [
    "REASON_ABORTED",
    "REASON_ANALYSIS_FAILED",
    "REASON_DEADLINE",
    "REASON_MIGRATION_FAILED",
    "REASON_PROMOTED",
    "REASON_PROMOTED_FIRST",
    "REASON_READINESS_LOST",
    "REASON_RESTARTS",
    "REASON_SUPERSEDED",
    "REASON_WINDOW_CUT",
    "Plan",
    "RolledBack",
    "RolloutEnded",
    "Transition",
    "plan",
]


def plan(spec: TradingBotSpec, status: TradingBotStatus, observed: Observed, now: datetime) -> Plan:
    """Compute the next status and the actions that move the children towards it (see module docstring).

    Raises ValueError when ``now`` is not timezone-aware.
    """
    exact, now = now, whole_seconds(now)
    if observed.deleting:
        return Plan(actions=(), status=status, requeue_after=None)
    p = Pass(
        spec=spec,
        observed=observed,
        now=now,
        status=status,
        desired=revision(spec),
        now_up=ceil_second(exact),
    )
    track_annotations(p)
    track_pause(p)
    track_stop(p)
    if p.stage is RolloutStage.VERIFYING:
        post_promotion(p)
    elif p.stage is not None:
        pre_promotion(p)
    if p.stage is None:
        maybe_start(p)
        if p.stage is not None:
            pre_promotion(p)
    unapplicable_requests(p)
    scale_down_standby(p)
    summarise(p)
    return Plan(
        actions=(*(t.event() for t in p.transitions), *converge(p)),
        status=p.status,
        requeue_after=requeue_after(p, exact),
        transitions=tuple(p.transitions),
    )
