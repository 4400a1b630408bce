// milter_chunks: see milter_chunks.hpp.
#include "cli/milter_chunks.hpp"

#include <algorithm>

namespace presend::cli {

MilterChunks to_milter_chunks(std::string_view raw) {
    MilterChunks out;
    std::size_t pos = 0;
    while (pos < raw.size()) {
        std::size_t eol = raw.find('\n', pos);
        if (eol == std::string_view::npos) eol = raw.size();
        std::string_view line = raw.substr(pos, eol - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = std::min(eol + 1, raw.size());
        if (line.empty()) break;
        if ((line.front() == ' ' || line.front() == '\t') && !out.headers.empty()) {
            out.headers.back().second += '\n';
            out.headers.back().second += line;
            continue;
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue; // the MTA would not pass it on as a header
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        out.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    std::string body;
    body.reserve(raw.size() - std::min(pos, raw.size()) + raw.size() / 40);
    for (std::size_t i = pos; i < raw.size(); ++i) {
        if (raw[i] == '\n' && (i == pos || raw[i - 1] != '\r')) body += '\r';
        body += raw[i];
    }
    for (std::size_t i = 0; i < body.size(); i += k_milter_chunk)
        out.body.push_back(body.substr(i, k_milter_chunk));
    return out;
}

void feed(daemon::MessageBuilder& builder, const MilterChunks& chunks, std::size_t max_bytes,
          std::size_t max_headers) {
    builder.reset(max_bytes, max_headers);
    for (const auto& [name, value] : chunks.headers)
        builder.add_header(name, value);
    builder.end_headers();
    for (const auto& chunk : chunks.body)
        builder.add_body(chunk);
}

} // namespace presend::cli
