// envelope: what the MTA tells us about a message besides its content (SMTP envelope and macros).
// Filled by the milter session callbacks, or by `presend check` from the command line.
#pragma once

#include <string>
#include <vector>

namespace presend {

struct Envelope {
    std::string queue_id;    // Postfix macro {i}; known from MAIL FROM on
    std::string client_addr; // {client_addr}; empty for non_smtpd (sendmail command) submissions
    std::string auth_user;   // {auth_authen}; empty when the client did not authenticate
    std::string mail_from;   // envelope sender without angle brackets; empty for the null sender
    std::vector<std::string> rcpts;
};

} // namespace presend
