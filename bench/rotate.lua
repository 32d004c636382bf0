-- wrk script: each request GETs the next path of a list, so the run touches a whole
-- set of distinct files instead of one cached response.
-- Arguments after `--`: <file with one URL path per line> [<header name> <header value>]
-- Each thread starts at a different offset so threads do not ask for the same file at once.

local paths = {}
local next_index = 1

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function init(args)
  local list = args[1]
  if list == nil then
    error("rotate.lua: missing argument: the file that lists URL paths")
  end
  for line in io.lines(list) do
    if line ~= "" then
      paths[#paths + 1] = line
    end
  end
  if #paths == 0 then
    error("rotate.lua: " .. list .. " lists no URL path")
  end
  if args[2] ~= nil and args[3] ~= nil then
    wrk.headers[args[2]] = args[3]
  end
  local number = tonumber(thread_number) or 1
  next_index = ((number - 1) * 7919) % #paths + 1
end

function request()
  local path = paths[next_index]
  next_index = next_index % #paths + 1
  return wrk.format("GET", path)
end
