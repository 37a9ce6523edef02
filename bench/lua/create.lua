-- POST a new access package to General, each with its own name.
local token = os.getenv("TOKEN")
local path = os.getenv("PATH_AND_QUERY")
local n = 0
request = function()
  n = n + 1
  local headers = {["Content-Type"] = "application/json"}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  local body = string.format(
    '{"displayName":"Created %d","description":"by the benchmark","catalog":{"id":"50000000-0000-4000-8000-000000000001"}}', n)
  return wrk.format("POST", path, headers, body)
end
