-- GET one URL ($PATH_AND_QUERY) with an optional bearer $TOKEN.
local path = os.getenv("PATH_AND_QUERY")
local token = os.getenv("TOKEN")
request = function()
  local headers = {}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", path, headers)
end
