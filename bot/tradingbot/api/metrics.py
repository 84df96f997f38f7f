"""``/metrics``: the Prometheus exposition of this process's registry."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tradingbot.api.deps import RuntimeDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def metrics(rt: RuntimeDep) -> Response:
    """Prometheus text exposition format of every metric this process registered."""
    return Response(generate_latest(rt.registry), media_type=CONTENT_TYPE_LATEST)
