"""Run ArgoCD resource-customization Lua the way ArgoCD does: Lua 5.1 (ArgoCD embeds gopher-lua, a
Lua 5.1 implementation), the object in the global ``obj``, the script's top-level ``return`` as result,
and a sandbox without io/require/load and with only ``os.date``/``os.time``/``os.clock``."""

from __future__ import annotations

from typing import Any

from lupa import lua51

# ArgoCD health the TradingBot check must report for each phase once the operator observed the
# current generation (argocd/lua/health.lua).
PHASE_HEALTH = {
    "Pending": "Progressing",
    "Migrating": "Progressing",
    "Progressing": "Progressing",
    "Baking": "Progressing",
    "Verifying": "Progressing",
    "AwaitingPromotion": "Suspended",
    "Paused": "Suspended",
    "Stopped": "Suspended",
    "Healthy": "Healthy",
    "Degraded": "Degraded",
}

SANDBOX = """
local safe_os = {date = os.date, time = os.time, clock = os.clock}
local unsafe = {"io", "require", "dofile", "loadfile", "load", "loadstring", "debug", "package", "module"}
for _, name in ipairs(unsafe) do
  _G[name] = nil
end
os = safe_os
"""


def runtime() -> Any:
    """A fresh Lua 5.1 runtime with ArgoCD's restrictions applied."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=False, register_eval=False)
    lua.execute(SANDBOX)
    return lua


def to_lua(lua: Any, value: Any) -> Any:
    """``value`` (JSON-shaped Python) as Lua: dicts and lists become tables (lists 1-based), None is nil."""
    if isinstance(value, dict):
        table = lua.table()
        for key, item in value.items():
            if item is not None:
                table[key] = to_lua(lua, item)
        return table
    if isinstance(value, list):
        table = lua.table()
        for index, item in enumerate(value, start=1):
            table[index] = to_lua(lua, item)
        return table
    return value


def from_lua(value: Any) -> Any:
    """A Lua result as JSON-shaped Python: tables with keys 1..n become lists, other tables dicts."""
    if lua51.lua_type(value) != "table":
        return value
    items = dict(value.items())
    if items and all(isinstance(k, int) for k in items) and sorted(items) == list(range(1, len(items) + 1)):
        return [from_lua(items[i]) for i in range(1, len(items) + 1)]
    return {str(k): from_lua(v) for k, v in items.items()}


def run_script(script: str, obj: dict[str, Any]) -> Any:
    """Execute ``script`` with ``obj`` as the global ``obj``; returns its result as Python."""
    lua = runtime()
    lua.globals().obj = to_lua(lua, obj)
    return from_lua(lua.execute(script))
