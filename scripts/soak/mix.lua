-- wrk script for the soak: 80% GET /auth/user/me, 10% GET /auth/user/sessions,
-- 5% POST /auth/login, 5% POST /auth/register. Every one of them should succeed (200, or 201
-- for a registration); any other status counts as unexpected. (Responses of one wrk thread
-- arrive across its connections out of order, so they are not matched to their requests.)
local token = os.getenv("SOAK_TOKEN")
-- Logins go to other accounts, so their sessions never push out the one being read; ten of
-- them, because attempts are counted before the password is checked and more than
-- LOGIN_MAX_ATTEMPTS logins at once for one account would rightly meet the lock-out.
local login_prefix = os.getenv("SOAK_LOGIN_PREFIX")
local password = os.getenv("SOAK_PASSWORD")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  unexpected = 0
  math.randomseed(id * 7919)
end

function request()
  local r = math.random(100)
  local headers = { ["Cookie"] = "session_token=" .. token, ["Content-Type"] = "application/json" }
  if r <= 80 then
    return wrk.format("GET", "/auth/user/me", headers)
  elseif r <= 90 then
    return wrk.format("GET", "/auth/user/sessions", headers)
  elseif r <= 95 then
    local email = string.format("%s%d@example.com", login_prefix, math.random(10))
    local body = string.format('{"email":"%s","password":"%s"}', email, password)
    return wrk.format("POST", "/auth/login", { ["Content-Type"] = "application/json" }, body)
  else
    counter = counter + 1
    local name = string.format("soak%d_%d_%d", id, counter, math.random(1000000000))
    local body = string.format(
      '{"email":"%s@example.com","username":"%s","password":"a soak passphrase","full_name":"Soak"}', name, name)
    return wrk.format("POST", "/auth/register", { ["Content-Type"] = "application/json" }, body)
  end
end

function response(status, headers, body)
  if status ~= 200 and status ~= 201 then
    unexpected = unexpected + 1
    if unexpected <= 3 then io.stderr:write("unexpected " .. status .. ": " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("unexpected") end
  io.write(string.format("soak: %d requests, %d unexpected statuses, %d socket errors\n",
    summary.requests, total, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("soak: p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
