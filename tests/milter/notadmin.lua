-- A well-formed mail to the enrolment address from someone who is not an
-- admin: refused by the daemon with the enrolment handler's own reply.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = open_conn()
envelope(conn, "jan@example.org", {"<enroll@ca.example.net>"})
check(mt.data(conn) == nil, "data")
send_file(conn, data .. "/mail/simple.eml")
check(mt.eom(conn) == nil, "eom")
check(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1",
	"certgate: Jan.Kowalski@example.org is not an active admin of any organisation"), "550 5.7.1")
mt.disconnect(conn)
