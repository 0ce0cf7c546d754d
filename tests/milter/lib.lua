-- lib.lua: helpers for certgate's miltertest scripts.
-- The milter under test listens on $CG_MILTER_SOCKET.
sock = os.getenv("CG_MILTER_SOCKET")
data = os.getenv("CG_TEST_DATA")

function check(cond, what)
	if not cond then
		error(what)
	end
end

function open_conn(ip)
	local conn = mt.connect("unix:" .. sock, 40, 0.25)
	check(conn ~= nil, "cannot connect to " .. sock)
	check(mt.conninfo(conn, "client.example.org", ip or "127.0.0.1") == nil, "conninfo")
	return conn
end

function envelope(conn, from, rcpts)
	check(mt.helo(conn, "mail.example.org") == nil, "helo")
	check(mt.mailfrom(conn, from) == nil, "mailfrom")
	for _, r in ipairs(rcpts) do
		check(mt.rcptto(conn, r) == nil, "rcptto " .. r)
	end
end

function expect(conn, reply, what)
	local got = mt.getreply(conn)
	if got ~= reply then
		error(what .. ": reply " .. tostring(got) .. ", expected " .. tostring(reply))
	end
end

-- Sends the headers and body of a message file (LF line ends).
function send_file(conn, path)
	local f = io.open(path, "r")
	check(f ~= nil, "cannot open " .. path)
	local text = f:read("a")
	f:close()
	local head, body = text:match("^(.-)\n\n(.*)$")
	local name, value
	for line in (head .. "\n"):gmatch("(.-)\n") do
		if line:match("^[ \t]") and name then
			value = value .. "\n" .. line
		else
			if name then
				check(mt.header(conn, name, value) == nil, "header " .. name)
			end
			name, value = line:match("^([^:]+):(.*)$")
		end
	end
	if name then
		check(mt.header(conn, name, value) == nil, "header " .. name)
	end
	check(mt.eoh(conn) == nil, "eoh")
	body = body:gsub("\r?\n", "\r\n")
	check(mt.bodystring(conn, body) == nil, "body")
end
