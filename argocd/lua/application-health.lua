-- ArgoCD health of an Application inside the app-of-apps root (resource.customizations.health.argoproj.io_Application).
-- ArgoCD stopped assessing child Applications by default; without this the root's sync waves do not
-- wait for the operator's Application to be Healthy before the bots' Applications sync.
local hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
