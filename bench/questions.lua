-- wrk script for bench/compare.sh: replays the questions of QUESTIONS
-- (questions.txt, "account action" per line, written by TestServersPrepare)
-- as POST bodies, each thread from its own random start, to
--   TARGET=holdfast  POST /holdfast.v1.DecisionService/Check (Connect, JSON),
--                    bearer token from HOLDFAST_TOKEN;
--   TARGET=opa       POST /v1/data/holdfast/effect, {"input": {...}}.
-- done() prints one line that compare.sh reads:
--   WRK <requests/s> <p50 µs> <p99 µs> <failed requests>
local bodies = {}
local i = 0

function init(args)
  local target = os.getenv("TARGET")
  local path = target == "opa" and "/v1/data/holdfast/effect" or "/holdfast.v1.DecisionService/Check"
  local headers = {["Content-Type"] = "application/json"}
  if target ~= "opa" then
    headers["Authorization"] = "Bearer " .. os.getenv("HOLDFAST_TOKEN")
  end
  for line in io.lines(os.getenv("QUESTIONS")) do
    local account, action = line:match("^(%S+) (%S+)$")
    local body = string.format('{"account":"%s","action":"%s"}', account, action)
    if target == "opa" then
      body = '{"input":' .. body .. '}'
    end
    bodies[#bodies + 1] = wrk.format("POST", path, headers, body)
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16))
  i = math.random(1, #bodies)
end

function request()
  i = i % #bodies + 1
  return bodies[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  local failed = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("WRK %.1f %d %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), failed))
end
