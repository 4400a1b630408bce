-- tag.lua: EML is accepted and given X-Presend-Verdict and X-Presend-Hits; with -D RULE=id the hits header
-- must name that rule.
dofile(LUA_DIR .. "/common.lua")

local conn = send_eml(EML)
local r = mt.getreply(conn)
if r ~= SMFIR_ACCEPT and r ~= SMFIR_CONTINUE then
	error("expected ACCEPT or CONTINUE at end of message, got " .. reply_name(r))
end
for _, name in ipairs({ "X-Presend-Verdict", "X-Presend-Hits" }) do
	if not (mt.eom_check(conn, MT_HDRADD, name) or mt.eom_check(conn, MT_HDRINSERT, name)) then
		error("no " .. name .. " header added")
	end
end
local hits = mt.getheader(conn, "X-Presend-Hits", 0) or ""
if RULE ~= nil and not hits:find(RULE, 1, true) then
	error("X-Presend-Hits '" .. hits .. "' does not name " .. RULE)
end
mt.echo("tag: " .. EML .. " -> X-Presend-Hits:" .. hits)
mt.disconnect(conn)
