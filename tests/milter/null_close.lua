-- A connection closed before conninfo, and one that stops mid-message without
-- a connect callback: the milter must survive both (NULL private pointer).
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = mt.connect("unix:" .. sock, 40, 0.25)
check(conn ~= nil, "connect")
mt.disconnect(conn)
conn = mt.connect("unix:" .. sock, 40, 0.25)
check(mt.mailfrom(conn, "jan@example.org") == nil, "mailfrom without conninfo")
check(mt.rcptto(conn, "enroll@ca.example.net") == nil, "rcpt without conninfo")
mt.disconnect(conn, false)
-- Still alive: a normal message goes through.
conn = open_conn()
envelope(conn, "jan@example.org", {"anna@example.org"})
check(mt.data(conn) == nil, "data")
expect(conn, SMFIR_ACCEPT, "fast path after NULL-context close")
mt.disconnect(conn)
