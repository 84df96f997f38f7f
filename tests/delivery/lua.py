"""Run ArgoCD resource-customization Lua the way ArgoCD does, in a real Lua 5.1 interpreter (lupa).

ArgoCD embeds gopher-lua (a Lua 5.1 implementation) and, for health checks and actions without
``useOpenLibs``, opens only three libraries (``util/lua/lua.go``, ``runLuaWithResourceActionParameters``
in argo-cd v3.1-v3.6; gopher-lua v1.1.2):

- the package library (``package``, ``require``, ``module``) and gopher-lua's base library;
- the table library (``getn concat insert maxn remove sort``);
- a "safe os" (``OpenSafeOs``) that leaves **no global ``os``** behind; ``require("os")`` returns a fresh
  table with only ``date`` and ``time`` (``PreloadModule("os", SafeOsLoader)``);
- no ``string``/``math``/``io``/``debug``/``coroutine`` libraries, hence no string methods (``s:sub``).

The globals ``obj`` (the resource) and ``actionParams`` (action parameters, empty here) are set, and the
script's top-level ``return`` is the result. ``tests/delivery/test_argocd_lua_real.py`` checks this
sandbox against the real ArgoCD binary (the same probe and the same fixtures through
``argocd admin settings resource-overrides``)."""

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

# Globals of ArgoCD's VM before ``obj``/``actionParams`` are set (gopher-lua v1.1.2 OpenPackage,
# OpenBase, OpenTable; ``_printregs`` and ``_GOPHER_LUA_VERSION`` are gopher-lua's own).
ARGOCD_GLOBALS = [
    "_G",
    "_VERSION",
    "_GOPHER_LUA_VERSION",
    "_printregs",
    "assert",
    "collectgarbage",
    "dofile",
    "error",
    "getfenv",
    "getmetatable",
    "ipairs",
    "load",
    "loadfile",
    "loadstring",
    "module",
    "newproxy",
    "next",
    "package",
    "pairs",
    "pcall",
    "print",
    "rawequal",
    "rawget",
    "rawset",
    "require",
    "select",
    "setfenv",
    "setmetatable",
    "table",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "xpcall",
]

SANDBOX = """
local keep = {}
for name in string.gmatch(KEEP, "%S+") do keep[name] = true end
local date, time = os.date, os.time
-- gopher-lua without the string library: strings have no metatable (no ("x"):sub()).
debug.setmetatable("", nil)
-- gopher-lua's table library lacks Lua 5.1's foreach/foreachi/setn.
table.foreach, table.foreachi, table.setn = nil, nil, nil
-- gopher-lua's package: loaders preload + Lua files, no C modules; loaded holds _G, package, table.
package.cpath = ""
package.loaders[4], package.loaders[3] = nil, nil
for name in pairs(package.loaded) do
  if name ~= "_G" and name ~= "package" and name ~= "table" then package.loaded[name] = nil end
end
package.preload = {os = function() return {date = date, time = time} end}
_GOPHER_LUA_VERSION = "GopherLua 0.1"
_printregs = function() end
for name in pairs(_G) do
  if not keep[name] then _G[name] = nil end
end
"""


def runtime() -> Any:
    """A fresh Lua 5.1 runtime restricted to what ArgoCD's VM offers (see the module docstring)."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=False, register_eval=False)
    lua.globals().KEEP = " ".join(ARGOCD_GLOBALS)
    lua.execute(SANDBOX)
    lua.globals().actionParams = lua.table()
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
    """Execute ``script`` with ``obj`` as the global ``obj``; returns its result as Python.

    Raises ``lupa.LuaError`` when the script fails (as ArgoCD reports a Lua error)."""
    lua = runtime()
    lua.globals().obj = to_lua(lua, obj)
    return from_lua(lua.execute(script))


# A health script reporting the VM's environment in its message: the sorted global names (without
# obj/actionParams), what require("os") returns, which of date/time/foreach/setn `table` has, and
# whether strings have methods. Run by the sandbox and by the real ArgoCD binary; both must agree.
PROBE = """
local names = {}
for name in pairs(_G) do
  if name ~= "obj" and name ~= "actionParams" then table.insert(names, name) end
end
table.sort(names)
local osmod = {}
for name in pairs(require("os")) do table.insert(osmod, name) end
table.sort(osmod)
local extra = {}
for _, name in ipairs({"date", "time", "foreach", "setn"}) do
  if table[name] ~= nil then table.insert(extra, name) end
end
local hs = {}
hs.status = "Healthy"
hs.message = "globals=" .. table.concat(names, ",") .. ";os=" .. table.concat(osmod, ",")
  .. ";table+=" .. table.concat(extra, ",") .. ";stringmeta=" .. tostring(getmetatable("") ~= nil)
  .. ";utc=" .. require("os").date("!%Y")
return hs
"""
