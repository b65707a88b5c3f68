-- wrk script: POST the JSON body in $BENCH_BODY to /v1/messages with the
-- caller's x-api-key ($BENCH_KEY).
--
-- BENCH_SESSION=unique: every request is its own session — "@@SID@@" in the
-- body (inside the first user message) and an x-lore-session-id header get a
-- per-request id, so each request is a stored conversation turn of a fresh
-- session (session hash, all messages and the sealed credential written), and
-- no session or fingerprint lineage grows over the run.
local body_path = os.getenv("BENCH_BODY")
local f = assert(io.open(body_path, "rb"), "cannot open " .. tostring(body_path))
local body = f:read("*a")
f:close()

local base_headers = {
  ["content-type"] = "application/json",
  ["anthropic-version"] = "2023-06-01",
  ["x-api-key"] = os.getenv("BENCH_KEY") or "",
  ["user-agent"] = "lore-bench/1",
}
local unique = os.getenv("BENCH_SESSION") == "unique"
local run_id = os.getenv("BENCH_RUN") or tostring(os.time())

local thread_seq = 0
function setup(thread)
  thread_seq = thread_seq + 1
  thread:set("tid", thread_seq)
end

local fixed = nil
local n = 0
function request()
  if not unique then
    if fixed == nil then
      fixed = wrk.format("POST", "/v1/messages", base_headers, body)
    end
    return fixed
  end
  n = n + 1
  local sid = "bench-" .. run_id .. "-" .. tostring(tid) .. "-" .. tostring(n)
  local h = {}
  for k, v in pairs(base_headers) do h[k] = v end
  h["x-lore-session-id"] = sid
  local b = string.gsub(body, "@@SID@@", sid, 1)
  return wrk.format("POST", "/v1/messages", h, b)
end
