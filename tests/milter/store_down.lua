-- The database cannot be opened: gateway mail is deferred (451 4.3.0),
-- other mail still flows.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = open_conn()
envelope(conn, "jan@example.org", {"anna@example.org"})
check(mt.data(conn) == nil, "data")
expect(conn, SMFIR_ACCEPT, "non-gateway mail while the store is down")
mt.disconnect(conn)
conn = open_conn()
envelope(conn, "jan@example.org", {"enroll@ca.example.net"})
check(mt.data(conn) == nil, "data")
send_file(conn, data .. "/mail/simple.eml")
check(mt.eom(conn) == nil, "eom")
check(mt.eom_check(conn, MT_SMTPREPLY, "451", "4.3.0",
	"certgate: temporary failure, please retry later (queue id unknown)"),
	"451 4.3.0 while the store is down")
mt.disconnect(conn)
