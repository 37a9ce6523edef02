-- A steady mix for the soak test: reads of every kind, and packages created then deleted, so
-- the stored state stays the same size and any growth in memory is a leak.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local token = os.getenv("TOKEN")
local em = "/v1.0/identityGovernance/entitlementManagement"
local pending = {}
local n = 0
math.randomseed(7)

local function headers(json)
  local h = {["Authorization"] = "Bearer " .. token}
  if json then h["Content-Type"] = "application/json" end
  return h
end

request = function()
  n = n + 1
  if #pending > 0 then
    return wrk.format("DELETE", em .. "/accessPackages/" .. table.remove(pending), headers(false))
  end
  local pick = n % 10
  if pick < 6 then
    return wrk.format("GET", em .. "/accessPackages/" .. ids[math.random(#ids)], headers(false))
  elseif pick == 6 then
    return wrk.format("GET", em .. "/accessPackages?$top=100", headers(false))
  elseif pick == 7 then
    return wrk.format("GET", em .. "/accessPackages?$filter=displayName%20eq%20%27Access%20package%20000042%27", headers(false))
  elseif pick == 8 then
    return wrk.format("GET", em .. "/accessPackages/nope-" .. n, headers(false))
  end
  local body = string.format('{"displayName":"Soak %d","catalog":{"id":"50000000-0000-4000-8000-000000000001"}}', n)
  return wrk.format("POST", em .. "/accessPackages", headers(true), body)
end

response = function(status, _, body)
  if status == 201 then
    local id = body:match('"id":"([%x%-]+)"')
    if id then pending[#pending + 1] = id end
  end
end
