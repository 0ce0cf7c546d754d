-- Header fields past MaxMessageSize (32K here: forty of 1 KB) to a gateway
-- address. The milter answers no header field (the MTA sends them all
-- without waiting); the message is refused at the next step that answers,
-- its first body chunk. (Without a body it is its end: run.sh checks that
-- with certgate-milter -t, as miltertest sends a body of its own.)
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local value = " " .. string.rep("y", 1000)
local conn = open_conn()
check(mt.test_option(conn, SMFIP_NR_HDR), "header fields are negotiated as no-reply steps")
envelope(conn, "jan@example.org", {"enroll@ca.example.net"})
check(mt.data(conn) == nil, "data")
check(mt.header(conn, "From", " jan@example.org") == nil, "header From")
for i = 1, 40 do
	check(mt.header(conn, "X-Filler-" .. i, value) == nil, "header " .. i)
end
check(mt.eoh(conn) == nil, "eoh")
check(mt.bodystring(conn, "a small body\r\n") == nil, "body")
expect(conn, SMFIR_REPLYCODE, "the body after 40 KB of header fields over a 32K limit")
mt.disconnect(conn)
