-- accept.lua: EML passes untouched: at end of message presend answers ACCEPT or CONTINUE, sets no SMTP
-- reply, adds no header.
dofile(LUA_DIR .. "/common.lua")

local conn = send_eml(EML)
local r = mt.getreply(conn)
if r ~= SMFIR_ACCEPT and r ~= SMFIR_CONTINUE then
	error("expected ACCEPT or CONTINUE at end of message, got " .. reply_name(r))
end
if mt.eom_check(conn, MT_HDRADD) or mt.eom_check(conn, MT_HDRINSERT) then
	error("an accepted message was given a header")
end
mt.echo("accept: " .. EML .. " -> " .. reply_name(r))
mt.disconnect(conn)
