-- wrk script: POST Check requests (Connect protocol, JSON) for random
-- accounts and actions. The token comes from HOLDFAST_TOKEN.
local token = os.getenv("HOLDFAST_TOKEN")
local actions = {"trade", "api_access", "withdraw", "login", "create_api_key"}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  local body = string.format('{"account":"acct-%d","action":"%s"}', math.random(0, 999), actions[math.random(1, #actions)])
  return wrk.format(nil, "/holdfast.v1.DecisionService/Check", nil, body)
end
