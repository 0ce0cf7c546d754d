-- A malformed gateway mail is rejected with 554 5.6.0 and says why.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = open_conn()
envelope(conn, "jan@example.org", {"enroll@ca.example.net"})
check(mt.data(conn) == nil, "data")
send_file(conn, data .. "/mail/truncated.eml")
check(mt.eom(conn) == nil, "eom")
check(mt.eom_check(conn, MT_SMTPREPLY, "554", "5.6.0",
	"certgate: MIME: the message is truncated (a multipart has no closing boundary)"),
	"554 5.6.0 for truncated MIME")
mt.disconnect(conn)
conn = open_conn()
envelope(conn, "jan@example.org", {"enroll@ca.example.net"})
check(mt.data(conn) == nil, "data")
send_file(conn, data .. "/mail/two-from-addresses.eml")
check(mt.eom(conn) == nil, "eom")
check(mt.eom_check(conn, MT_SMTPREPLY, "554", "5.6.0",
	"certgate: From: must hold exactly one mailbox"), "554 5.6.0 for two From addresses")
mt.disconnect(conn)
