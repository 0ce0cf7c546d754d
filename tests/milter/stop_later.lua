-- stop_later.lua: an MTA session opened before the milter stops, whose next
-- message comes once it stops (when the file $CG_GO exists); prints its
-- outcome at RCPT: "deferred 451" when the milter defers it as it should.
-- Environment: CG_GO, CG_FROM, CG_RCPT.
dofile(os.getenv("CG_SRC") .. "/tests/milter/lib.lua")
local conn = open_conn()
print("connected")
io.stdout:flush()
local go = os.getenv("CG_GO")
local waited = 0
while io.open(go, "r") == nil do
	check(waited < 600, "no " .. go .. " in 60 s")
	mt.sleep(0.1)
	waited = waited + 1
end
check(mt.helo(conn, "mail.example.org") == nil, "helo")
check(mt.mailfrom(conn, os.getenv("CG_FROM")) == nil, "mailfrom")
check(mt.rcptto(conn, os.getenv("CG_RCPT")) == nil, "rcptto")
local r = mt.getreply(conn)
if r == SMFIR_REPLYCODE then
	print("outcome: deferred 451")
elseif r == SMFIR_TEMPFAIL then
	print("outcome: tempfail")
else
	print("outcome: " .. tostring(r))
end
mt.disconnect(conn)
