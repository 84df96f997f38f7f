-- ArgoCD action "retry" on a TradingBot. Retry the revision that was rolled back or aborted, without changing the spec.
-- Sets annotation ploy.dev/retry to a new value (the current UTC time); the operator acts once per value
-- and records it in status.handledActions, so running the action again is a new request.
-- ArgoCD's Lua VM has no global `os`; it preloads a safe `os` module (date and time only).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["ploy.dev/retry"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
