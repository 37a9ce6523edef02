-- GET an access package by a random id from $IDS, with $PREFIX and an optional bearer $TOKEN.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local prefix = os.getenv("PREFIX")
local token = os.getenv("TOKEN")
math.randomseed(42)
request = function()
  local headers = {}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", prefix .. ids[math.random(#ids)], headers)
end
