-- No gateway recipient: accepted at DATA, before any header or body.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = open_conn()
envelope(conn, "jan@example.org", {"anna@example.org", "<bob@example.com>"})
check(mt.data(conn) == nil, "data")
expect(conn, SMFIR_ACCEPT, "non-gateway message at DATA")
-- A second message on the same connection, with a gateway recipient: not
-- accepted at DATA.
envelope(conn, "jan@example.org", {"anna@example.org", "enroll@ca.example.net"})
check(mt.data(conn) == nil, "data")
expect(conn, SMFIR_CONTINUE, "gateway message at DATA")
mt.disconnect(conn)
