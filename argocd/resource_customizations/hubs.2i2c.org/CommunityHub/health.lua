-- Argo CD health of a CommunityHub (hubs.2i2c.org): Healthy when Ready, Progressing while it is being
-- delivered (or the operator has not seen the latest change yet), Degraded with the failed step's reason
-- and message, Suspended while it waits for a person or a date (an approval, a time-boxed hub's window) or
-- a guard keeps it scaled down (a contract that ended, a window that closed): meant, not broken.
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil then
  return hs
end
if obj.metadata ~= nil and obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "the operator has not acted on the latest change yet"
  return hs
end
local ready = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end
if ready == nil then
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
elseif ready.reason == "AwaitingApproval" or ready.reason == "WaitingForWindow" or ready.reason == "ScaledDown" then
  hs.status = "Suspended"
  hs.message = ready.message
elseif ready.status == "False" then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. ready.message
else
  hs.message = ready.message
end
return hs
