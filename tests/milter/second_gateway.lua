-- Two different gateway addresses in one message: the second is deferred
-- (452 4.5.3) so that the client sends it separately.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = open_conn()
envelope(conn, "jan@example.org", {"enroll@ca.example.net"})
expect(conn, SMFIR_CONTINUE, "first gateway recipient")
check(mt.rcptto(conn, "<request@ca.example.net>") == nil, "rcptto")
expect(conn, SMFIR_REPLYCODE, "second gateway recipient")
check(mt.rcptto(conn, "Enroll@CA.example.net") == nil, "rcptto")
expect(conn, SMFIR_CONTINUE, "the same gateway address again")
mt.disconnect(conn)
