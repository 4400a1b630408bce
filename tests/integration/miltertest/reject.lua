-- reject.lua: EML is refused at end of message with an SMTP reply (SMFIR_REPLYCODE). With -D REPLY=text the
-- reply must be exactly "550 5.7.1 text".
dofile(LUA_DIR .. "/common.lua")

local conn = send_eml(EML)
local r = mt.getreply(conn)
if r ~= SMFIR_REPLYCODE then
	error("expected REPLYCODE at end of message, got " .. reply_name(r))
end
if REPLY ~= nil and not mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", REPLY) then
	error("reply is not '550 5.7.1 " .. REPLY .. "'")
end
mt.echo("reject: " .. EML .. " -> " .. reply_name(r))
mt.disconnect(conn)
