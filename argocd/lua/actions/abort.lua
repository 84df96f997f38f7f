-- ArgoCD action "abort" on a TradingBot. Abort the running rollout: the operator scales the new color to 0 and keeps (or restores) the previous one.
-- Sets annotation ploy.dev/abort to a new value (the current UTC time); the operator acts once per value
-- and records it in status.handledActions, so running the action again is a new request.
-- ArgoCD's Lua VM has no global `os`; it preloads a safe `os` module (date and time only).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["ploy.dev/abort"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
