-- common.lua: loaded by the other scripts here. Sends one .eml over the milter protocol the way Postfix
-- does (connect, MAIL, RCPT, headers, EOH, body, EOM) with the macros Postfix is told to send presend.
-- Globals set by miltertest -D: SOCKET (inet:PORT@127.0.0.1), EML (file), SUBJECT (optional override).

local QUEUE_ID = "4XyZ1A2B3C" -- what Postfix would send as {i}

local reply_names = {
	[SMFIR_ACCEPT] = "ACCEPT", [SMFIR_CONTINUE] = "CONTINUE", [SMFIR_REJECT] = "REJECT",
	[SMFIR_TEMPFAIL] = "TEMPFAIL", [SMFIR_DISCARD] = "DISCARD", [SMFIR_REPLYCODE] = "REPLYCODE",
	[SMFIR_SKIP] = "SKIP",
}

function reply_name(r)
	return reply_names[r] or ("'" .. string.char(r) .. "'")
end

local function check(step, err)
	if err ~= nil then
		error(step .. " failed: " .. err)
	end
end

-- Header fields (name, value with folding kept) and the body with CRLF line ends, as cleanup sends them.
local function read_eml(path)
	local f = assert(io.open(path, "rb"))
	local raw = f:read("a"):gsub("\r\n", "\n")
	f:close()
	local head, body = raw:match("^(.-)\n\n(.*)$")
	if head == nil then
		head, body = raw, ""
	end
	local headers = {}
	for line in (head .. "\n"):gmatch("(.-)\n") do
		if line:match("^[ \t]") and #headers > 0 then
			headers[#headers].value = headers[#headers].value .. "\n" .. line
		else
			local name, value = line:match("^([^:]+):(.*)$")
			if name then
				if SUBJECT ~= nil and name:lower() == "subject" then
					value = " " .. SUBJECT
				end
				table.insert(headers, { name = name, value = value })
			end
		end
	end
	return headers, (body:gsub("\n", "\r\n"))
end

-- send_eml(path): a whole transaction up to and including EOM; returns the connection for the checks.
function send_eml(path)
	local headers, body = read_eml(path)
	local conn = mt.connect(SOCKET, 40, 0.25)
	if conn == nil then
		error("cannot connect to " .. SOCKET)
	end
	mt.macro(conn, SMFIC_CONNECT, "{client_addr}", "127.0.0.1")
	check("conninfo", mt.conninfo(conn, "localhost", "127.0.0.1"))
	mt.macro(conn, SMFIC_MAIL, "{mail_addr}", "bounce@example.com", "{auth_authen}", "newsletter")
	check("mailfrom", mt.mailfrom(conn, "<bounce@example.com>"))
	mt.macro(conn, SMFIC_RCPT, "i", QUEUE_ID, "{rcpt_addr}", "rcpt@example.net")
	check("rcptto", mt.rcptto(conn, "<rcpt@example.net>"))
	-- Postfix keeps the space after the colon only when the milter asks for it (SMFIP_HDR_LEADSPC).
	local keep_space = mt.test_option(conn, SMFIP_HDR_LEADSPC)
	for _, h in ipairs(headers) do
		local value = h.value
		if not keep_space then
			value = value:gsub("^[ \t]+", "")
		end
		check("header " .. h.name, mt.header(conn, h.name, value))
	end
	-- mt.macro() takes any stage letter; these two have no SMFIC_* name in miltertest.
	mt.macro(conn, string.byte("N"), "i", QUEUE_ID) -- SMFIC_EOH
	check("eoh", mt.eoh(conn))
	local k_chunk = 65535 -- MILTER_CHUNK_SIZE: the most body one SMFIC_BODY may carry
	-- presend answers no body chunk (SMFIP_NR_BODY), so there is no SKIP to stop at.
	for i = 1, #body, k_chunk do
		check("body", mt.bodystring(conn, body:sub(i, i + k_chunk - 1)))
	end
	mt.macro(conn, string.byte("E"), "i", QUEUE_ID) -- SMFIC_BODYEOB
	check("eom", mt.eom(conn))
	return conn
end
