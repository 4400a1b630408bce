// fuzz_milter: libFuzzer target for what the milter callbacks do with the MTA's data: header and body
// chunks of any shape → MessageBuilder (under a small cap) → the engine. The input is read as a
// sequence of operations, so the fuzzer explores orderings the MTA could send (body before headers,
// headers after the body, empty names, bare CR/LF, chunks across the cap).
//
// Input format: repeated [op byte][length byte][length bytes]; op % 4 = 0: header name (the value
// is the next operation's payload), 1: end of headers, 2: body chunk, 3: reset with a new cap.
#include "daemon/message_builder.hpp"
#include "fuzz_support.hpp"
#include "presend/engine.hpp"
#include "presend/ruleset.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace {

using presend::fuzz::require;
using presend::fuzz::shipped_rules;

class Reader {
  public:
    Reader(const std::uint8_t* data, std::size_t size) : m_data(data), m_size(size) {}
    bool done() const { return m_pos >= m_size; }
    std::uint8_t byte() { return done() ? 0 : m_data[m_pos++]; }
    std::string_view chunk() {
        const std::size_t want = byte();
        const std::size_t take = want < m_size - m_pos ? want : m_size - m_pos;
        const std::string_view out(reinterpret_cast<const char*>(m_data + m_pos), take);
        m_pos += take;
        return out;
    }

  private:
    const std::uint8_t* m_data;
    std::size_t m_size;
    std::size_t m_pos = 0;
};

void judge(presend::daemon::MessageBuilder& builder) {
    const std::string_view raw = builder.oversize() ? builder.headers_only() : builder.message();
    require(raw.size() <= builder.max_bytes() + 2, "the builder stays under its cap");
    presend::Envelope envelope;
    envelope.mail_from = "news@bounce.example.com";
    envelope.rcpts = {"someone@example.net"};
    (void)presend::evaluate(shipped_rules(), envelope, raw, presend::Mode::enforce);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Reader in(data, size);
    const bool leading_space = (in.byte() & 1) != 0;
    presend::daemon::MessageBuilder builder(512, leading_space);
    while (!in.done()) {
        switch (in.byte() % 4) {
        case 0: {
            const std::string_view name = in.chunk();
            builder.add_header(name, in.chunk());
            break;
        }
        case 1:
            builder.end_headers();
            break;
        case 2:
            builder.add_body(in.chunk());
            break;
        default:
            judge(builder);
            builder.reset(64 + 16 * static_cast<std::size_t>(in.byte()));
            break;
        }
    }
    judge(builder);
    return 0;
}
