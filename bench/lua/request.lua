-- POST adminAdd requests, each for a new (package, user) pair from gen.py's $K requestable
-- packages and $U bench users, so every one is delivered (never a duplicate assignment).
local token = os.getenv("TOKEN")
local path = os.getenv("PATH_AND_QUERY")
local k = tonumber(os.getenv("K"))
local u = tonumber(os.getenv("U"))
-- Each run starts where the last stopped ($OFFSET), so no pair is requested twice.
local n = tonumber(os.getenv("OFFSET") or "0")
request = function()
  local p = n % k
  local user = math.floor(n / k) % u
  n = n + 1
  local headers = {["Content-Type"] = "application/json"}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  local body = string.format(
    '{"requestType":"adminAdd","assignment":{"accessPackageId":"b7000000-0000-4000-8000-%012x","assignmentPolicyId":"b9000000-0000-4000-8000-%012x","targetId":"b2000000-0000-4000-8000-%012x"}}',
    p, p, user)
  return wrk.format("POST", path, headers, body)
end
