-- Argo CD health of a FleetRollout (hubs.2i2c.org): Healthy when Complete (or Superseded by a newer one),
-- Suspended while paused, Degraded when Halted (with the failed hubs), Progressing otherwise.
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil or obj.status.phase == nil then
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
local message = obj.status.phase
if ready ~= nil then
  message = ready.message
end
if obj.status.phase == "Complete" or obj.status.phase == "Superseded" then
  hs.status = "Healthy"
elseif obj.status.phase == "Paused" then
  hs.status = "Suspended"
elseif obj.status.phase == "Halted" then
  hs.status = "Degraded"
end
hs.message = message
return hs
