-- A 40 KB body to a gateway address: with MaxMessageSize 64K it reaches the
-- handler; with 32K it is refused (552) at the body chunk that crosses the
-- limit. CG_EXPECT_OVERSIZE=yes selects the second expectation.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local oversize = os.getenv("CG_EXPECT_OVERSIZE") == "yes"
local conn = open_conn()
envelope(conn, "jan@example.org", {"enroll@ca.example.net"})
check(mt.data(conn) == nil, "data")
check(mt.header(conn, "From", " jan@example.org") == nil, "header")
check(mt.header(conn, "Subject", " big") == nil, "header")
check(mt.eoh(conn) == nil, "eoh")
local line = string.rep("x", 78) .. "\r\n"
check(mt.bodystring(conn, string.rep(line, 256)) == nil, "body 1") -- 20 KB
expect(conn, SMFIR_CONTINUE, "first 20 KB")
check(mt.bodystring(conn, string.rep(line, 256)) == nil, "body 2") -- 40 KB
if oversize then
	expect(conn, SMFIR_REPLYCODE, "second 20 KB over a 32K limit")
else
	expect(conn, SMFIR_CONTINUE, "second 20 KB under a 64K limit")
	check(mt.eom(conn) == nil, "eom")
	check(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1",
		"certgate: jan@example.org is not an active admin of any organisation"),
		"reaches the handler")
end
mt.disconnect(conn)
