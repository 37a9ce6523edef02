-- POST a $batch of 20 GETs of access packages by id.
local token = os.getenv("TOKEN")
local path = os.getenv("PATH_AND_QUERY")
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local items = {}
for i = 1, 20 do
  items[#items + 1] = string.format(
    '{"id":"%d","method":"GET","url":"/identityGovernance/entitlementManagement/accessPackages/%s"}', i, ids[i * 7])
end
local body = '{"requests":[' .. table.concat(items, ",") .. ']}'
request = function()
  local headers = {["Content-Type"] = "application/json"}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", path, headers, body)
end
