-- Which TradingBot actions ArgoCD offers (resource.customizations.actions.ploy.dev_TradingBot).
-- promote: a rollout is running and not yet promoted; abort: a rollout is running;
-- retry: no rollout is running and the last one was rolled back or aborted.
local actions = {}
local status = obj.status or {}
local rollout = status.rollout
local running = rollout ~= nil
local promoted = running and rollout.promotedAt ~= nil
local last = status.lastRollout
local failed = last ~= nil and (last.result == "RolledBack" or last.result == "Aborted")

actions["promote"] = {["disabled"] = not (running and not promoted)}
actions["abort"] = {["disabled"] = not running}
actions["retry"] = {["disabled"] = running or not failed}
return actions
