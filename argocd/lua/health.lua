-- ArgoCD health of a ploy.dev TradingBot (resource.customizations.health.ploy.dev_TradingBot).
-- Reads only what the operator writes: status.observedGeneration, status.phase, status.conditions
-- (Available, Progressing, Degraded, Paused), status.lastRollout and status.analysis (the last
-- measurement of each metric analysis query). Written for gopher-lua (Lua 5.1).
local hs = {}

local function condition(status, wanted)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

-- "analysis <name> <result> <value>; ..." of the last measurements, or "" without any.
local function analysis(status)
  if status.analysis == nil or status.analysis.measurements == nil then
    return ""
  end
  local parts = ""
  for _, m in ipairs(status.analysis.measurements) do
    local one = tostring(m.name) .. " " .. tostring(m.result)
    if m.value ~= nil then
      one = one .. " " .. tostring(m.value)
    end
    if parts == "" then
      parts = one
    else
      parts = parts .. ", " .. one
    end
  end
  if parts == "" then
    return ""
  end
  return " [analysis of " .. tostring(status.analysis.color) .. ": " .. parts .. "]"
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the TradingBot"
  return hs
end

-- Until the operator has acted on the current spec, nothing in status describes it.
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = status.phase
local degraded = condition(status, "Degraded")
local paused = condition(status, "Paused")
local available = condition(status, "Available")

if phase == "Degraded" or is_true(degraded) then
  hs.status = "Degraded"
  local message = text(degraded, status.message or "Degraded")
  if status.lastRollout ~= nil and status.lastRollout.result ~= nil and status.lastRollout.result ~= "Promoted" then
    message = message .. " (last rollout of revision " .. tostring(status.lastRollout.revision) .. ": "
      .. status.lastRollout.result .. ", " .. tostring(status.lastRollout.reason) .. ")"
  end
  if status.lastRollout ~= nil and status.lastRollout.reason == "AnalysisFailed" then
    message = message .. analysis(status)
  end
  hs.message = message
  return hs
end

-- spec.replicas 0: no pod runs and nobody trades, by the user's choice (not a failure).
if phase == "Stopped" then
  hs.status = "Suspended"
  hs.message = status.message or "Stopped: spec.replicas is 0"
  return hs
end

if phase == "Paused" or is_true(paused) or (obj.spec ~= nil and obj.spec.paused == true) then
  hs.status = "Suspended"
  hs.message = text(paused, status.message or "Paused: spec.paused is true")
  return hs
end

if phase == "AwaitingPromotion" then
  hs.status = "Suspended"
  hs.message = status.message or "Waiting for promotion: run the promote action or annotate ploy.dev/promote"
  return hs
end

if phase == "Pending" or phase == "Migrating" or phase == "Progressing" or phase == "Baking" or phase == "Verifying" then
  hs.status = "Progressing"
  hs.message = (status.message or phase) .. analysis(status)
  return hs
end

if phase == "Healthy" or (phase == nil and is_true(available)) then
  if available ~= nil and not is_true(available) then
    hs.status = "Degraded"
    hs.message = text(available, "The active color is not available")
    return hs
  end
  hs.status = "Healthy"
  local active = status.activeColor or "?"
  hs.message = status.message or ("Active color " .. active .. " serves revision " .. tostring(status.activeRevision))
  return hs
end

hs.status = "Progressing"
hs.message = status.message or ("Phase " .. tostring(phase))
return hs
