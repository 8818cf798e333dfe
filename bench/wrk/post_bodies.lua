-- wrk script: POST JSON bodies read from a file (one per line), cycling through them.
-- Usage: wrk ... -s post_bodies.lua URL -- BODIES_FILE
local bodies = {}
local next_body = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end
