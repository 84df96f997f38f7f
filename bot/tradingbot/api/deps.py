"""FastAPI dependencies: what a route may ask for, created in the app's lifespan (never at import)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from tradingbot.health import Check
from tradingbot.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The runtime the lifespan started (pool, feed, ledger, trader, role)."""
    return cast(Runtime, request.app.state.runtime)


def get_probes(request: Request) -> tuple[Check, Check]:
    """The app's shared (database, schema) probes, created in the lifespan."""
    return cast(tuple[Check, Check], request.app.state.probes)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ProbesDep = Annotated[tuple[Check, Check], Depends(get_probes)]
