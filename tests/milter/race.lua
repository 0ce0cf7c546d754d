-- race.lua: one message over the milter socket, as one MTA session would
-- send it; prints the outcome at end of message: "accept", "discard",
-- "tempfail", or "reply" (a reply code: the milter's log says which).
-- Environment: CG_MSG (the message, LF line ends), CG_FROM, CG_RCPT, CG_IP.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = open_conn(os.getenv("CG_IP"))
envelope(conn, os.getenv("CG_FROM"), {os.getenv("CG_RCPT")})
check(mt.data(conn) == nil, "data")
send_file(conn, os.getenv("CG_MSG"))
check(mt.eom(conn) == nil, "eom")
local r = mt.getreply(conn)
local out = "other"
if r == SMFIR_ACCEPT then
	out = "accept"
elseif r == SMFIR_DISCARD then
	out = "discard"
elseif r == SMFIR_TEMPFAIL then
	out = "tempfail"
elseif r == SMFIR_REPLYCODE then
	out = "reply"
end
print("outcome: " .. out)
mt.disconnect(conn)
