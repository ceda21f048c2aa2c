-- GET /api/v1/account/wallet round-robin over the users in BENCH_TOKENS.
local tokens = {}
for token in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = token
end
local requests = {}
for i, token in ipairs(tokens) do
  requests[i] = wrk.format("GET", "/api/v1/account/wallet", {["Authorization"] = "Bearer " .. token})
end
local counter = 0
request = function()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end
