"""FastAPI dependencies: what a route may ask for, created in the app's lifespan (never at import)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from tradingbot.health import Check
from tradingbot.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The runtime the lifespan started (pool, feed, ledger, trader, role)."""
    return cast(Runtime, request.app.state.runtime)


def probes_of(request: Request) -> tuple[Check, Check]:
    """The app's shared (database, schema) probes, created in the lifespan."""
    return cast(tuple[Check, Check], request.app.state.probes)


# The dependencies are ``async def`` although they only read app state: FastAPI runs a plain ``def``
# dependency in the thread pool, two thread hand-offs per request, which were a third of the bot's CPU
# per ``/health/ready`` request (bench/health_ready.py, py-spy).


async def get_runtime(request: Request) -> Runtime:
    """``runtime_of`` as a FastAPI dependency."""
    return runtime_of(request)


async def get_probes(request: Request) -> tuple[Check, Check]:
    """``probes_of`` as a FastAPI dependency."""
    return probes_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ProbesDep = Annotated[tuple[Check, Check], Depends(get_probes)]
