-- ArgoCD action "promote" on a TradingBot. Promote the new color now: the operator switches the active Service and raises the epoch.
-- Sets annotation ploy.dev/promote to a new value (the current UTC time); the operator acts once per value
-- and records it in status.handledActions, so running the action again is a new request.
-- ArgoCD's Lua VM has no global `os`; it preloads a safe `os` module (date and time only).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["ploy.dev/promote"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
