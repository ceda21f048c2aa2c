-- POST /api/v1/trading/orders: durable LIMIT orders that rest, round-robin over
-- the users whose dev tokens are in BENCH_TOKENS (comma-separated).
-- BENCH_ORDER overrides the JSON body.
local tokens = {}
for token in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = token
end
local body = os.getenv("BENCH_ORDER")
  or '{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"0.001","price":"1000"}'
local requests = {}
for i, token in ipairs(tokens) do
  requests[i] = wrk.format("POST", "/api/v1/trading/orders",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

local counter = 0
request = function()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end
