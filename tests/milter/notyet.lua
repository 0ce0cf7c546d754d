-- A well-formed mail to a gateway address whose handler is not built yet.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = open_conn()
envelope(conn, "jan@example.org", {"<enroll@ca.example.net>"})
check(mt.data(conn) == nil, "data")
send_file(conn, data .. "/mail/simple.eml")
check(mt.eom(conn) == nil, "eom")
check(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1",
	"certgate: enroll requests are not yet supported by this gateway"), "550 5.7.1")
mt.disconnect(conn)
