// test_decision_line: the decision line written field by field is, byte for byte, the line nlohmann::json
// dumped from a json object before (the reference below is that code), for every kind of verdict and for
// strings with quotes, backslashes, control bytes, UTF-8 and invalid UTF-8.
#include "engine/json_out.hpp"
#include "presend/decision_log.hpp"
#include "presend/suppression.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <vector>

using presend::Action;
using presend::Mode;
using presend::Verdict;

namespace {

std::string dumped(const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string hex(std::string_view bytes) {
    std::string out;
    for (char c : bytes) {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%02x ", static_cast<unsigned char>(c));
        out += buf;
    }
    return out;
}

// --- the reference: the record as a json object, as the log was written until the line was written directly

double reference_score(double score) {
    return std::round(score * 1000.0) / 1000.0;
}

std::string reference_result(Mode mode, Action action, Action would_action) {
    if (mode == Mode::enforce || action != Action::accept) return std::string(to_string(action));
    if (would_action == Action::accept) return "accept";
    return "would_" + std::string(to_string(would_action));
}

std::string reference_time(std::chrono::system_clock::time_point when) {
    using namespace std::chrono;
    const auto ms = duration_cast<milliseconds>(when.time_since_epoch());
    const std::time_t seconds = static_cast<std::time_t>(floor<std::chrono::seconds>(ms).count());
    const int millis = static_cast<int>(ms.count() - static_cast<long long>(seconds) * 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    return buf;
}

nlohmann::json reference_json(std::chrono::system_clock::time_point time, const presend::Envelope& envelope,
                              const std::string& message_id, const Verdict& verdict,
                              std::chrono::microseconds latency, std::string_view rules_version,
                              std::optional<std::chrono::microseconds> total) {
    auto hits = nlohmann::json::array();
    for (const auto& hit : verdict.hits)
        hits.push_back({{"rule", hit.rule},
                        {"target", hit.target},
                        {"detail", hit.detail},
                        {"score", reference_score(hit.score)},
                        {"monitor", hit.monitor}});
    nlohmann::json entry = {
        {"time", reference_time(time)},
        {"queue_id", envelope.queue_id},
        {"client_addr", envelope.client_addr},
        {"auth_user", envelope.auth_user},
        {"mail_from", envelope.mail_from},
        {"rcpt_count", envelope.rcpts.size()},
        {"message_id", message_id},
        {"hits", std::move(hits)},
        {"score", reference_score(verdict.score)},
        {"action", to_string(verdict.action)},
        {"would_action", to_string(verdict.would_action)},
        {"result", reference_result(verdict.mode, verdict.action, verdict.would_action)},
        {"mode", verdict.mode == Mode::enforce ? "enforce" : "dry-run"},
        {"notes", verdict.notes},
        {"rules_version", rules_version},
        {"latency_us", latency.count()},
    };
    if (total) entry["total_us"] = total->count();
    if (!verdict.tenant.empty()) entry["tenant"] = verdict.tenant;
    if (verdict.message_class) entry["class"] = to_string(*verdict.message_class);
    if (verdict.consent)
        entry["attestation"] = {{"tenant", verdict.consent->tenant},
                                {"list", verdict.consent->list},
                                {"basis", verdict.consent->basis}};
    auto suppressed = nlohmann::json::array();
    auto errors = nlohmann::json::array();
    auto rate_limited = nlohmann::json::array();
    auto rate_errors = nlohmann::json::array();
    for (const auto& r : verdict.rcpts) {
        const std::string result = reference_result(verdict.mode, r.action, r.would_action);
        const bool rates = r.check == presend::RcptVerdict::Check::rates;
        if (!r.store_error.empty())
            (rates ? rate_errors : errors)
                .push_back({{"rcpt", r.rcpt}, {"error", r.store_error}, {"result", result}});
        else if (rates)
            rate_limited.push_back({{"rcpt", r.rcpt},
                                    {"tenant", r.rate_tenant},
                                    {"group", r.rate_group},
                                    {"limit", r.rate_limit},
                                    {"scope", r.rate_scope},
                                    {"rate", r.rate},
                                    {"result", result}});
        else
            suppressed.push_back({{"rcpt", r.rcpt},
                                  {"entry", r.entry},
                                  {"domain_entry", r.domain_entry},
                                  {"reason", r.reason},
                                  {"scope", r.scope},
                                  {"since", presend::format_utc(r.since)},
                                  {"result", result}});
    }
    if (!suppressed.empty()) entry["suppressed"] = std::move(suppressed);
    if (!errors.empty()) entry["suppression_errors"] = std::move(errors);
    if (!rate_limited.empty()) entry["rate_limited"] = std::move(rate_limited);
    if (!rate_errors.empty()) entry["rate_errors"] = std::move(rate_errors);
    return entry;
}

// --- generated input

class Generator {
  public:
    explicit Generator(std::uint32_t seed) : m_random(seed) {}

    std::size_t below(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(m_random);
    }
    bool coin() { return below(2) == 0; }

    // Mostly text, with the bytes that need care mixed in: escapes, control bytes, DEL, UTF-8 of every
    // length and its edges, and each way UTF-8 can be ill-formed, at the end of the string too.
    std::string text() {
        static const std::vector<std::string> k_pieces = {"plain",
                                                          " ",
                                                          "a",
                                                          "\"",
                                                          "\\",
                                                          "\\\"",
                                                          "/",
                                                          std::string(1, '\0'),
                                                          "\x01",
                                                          "\x08",
                                                          "\t",
                                                          "\n",
                                                          "\x0b",
                                                          "\x0c",
                                                          "\r",
                                                          "\x1b",
                                                          "\x1f",
                                                          "\x7f",
                                                          "caf\xc3\xa9",
                                                          "\xe2\x82\xac",
                                                          "\xf0\x9d\x84\x9e",
                                                          "\xef\xbf\xbf",
                                                          "\xf4\x8f\xbf\xbf",
                                                          "\xed\x9f\xbf",
                                                          "\xee\x80\x80",
                                                          "\xc2\x80",
                                                          "\xdf\xbf",
                                                          "\x80",
                                                          "\xbf",
                                                          "\xc0\x80",
                                                          "\xc1\xbf",
                                                          "\xe0\x80\x80",
                                                          "\xe0\x9f\xbf",
                                                          "\xed\xa0\x80",
                                                          "\xf0\x80\x80\x80",
                                                          "\xf0\x8f\xbf\xbf",
                                                          "\xf4\x90\x80\x80",
                                                          "\xf5\x80\x80\x80",
                                                          "\xfe",
                                                          "\xff",
                                                          "\xc3",
                                                          "\xe2\x82",
                                                          "\xf0\x9f\x98",
                                                          "\xe2\x28\xa1",
                                                          "\xf0\x28\x8c\xbc",
                                                          "\xc3\x28",
                                                          "<id@example.com>",
                                                          "List-Unsubscribe",
                                                          "\xef\xbb\xbf"};
        std::string out;
        const std::size_t pieces = below(8);
        for (std::size_t i = 0; i < pieces; ++i) {
            if (below(6) == 0) {
                out += static_cast<char>(below(256)); // any byte at all
            } else {
                out += k_pieces[below(k_pieces.size())];
            }
        }
        return out;
    }

    double score() {
        switch (below(6)) {
        case 0:
            return 0.0;
        case 1:
            return static_cast<double>(below(200)) / 10.0 - 5.0; // what rules add up to
        case 2:
            return 0.1 + 0.2 + static_cast<double>(below(20));
        case 3:
            return std::uniform_real_distribution<double>(-1e6, 1e6)(m_random);
        case 4:
            return std::ldexp(std::uniform_real_distribution<double>(0.5, 1.0)(m_random),
                              static_cast<int>(below(120)) - 60);
        default:
            return static_cast<double>(below(100000)) / 1000.0;
        }
    }

    Action action() { return static_cast<Action>(below(6)); }

    presend::RcptVerdict rcpt_verdict() {
        presend::RcptVerdict r;
        r.check = coin() ? presend::RcptVerdict::Check::rates : presend::RcptVerdict::Check::suppression;
        r.rcpt = text();
        r.action = action();
        r.would_action = action();
        r.entry = text();
        r.domain_entry = coin();
        r.reason = text();
        r.scope = text();
        r.since = static_cast<std::int64_t>(below(2000000000));
        if (below(3) == 0) r.store_error = text() + "x";
        r.rate_tenant = text();
        r.rate_group = text();
        r.rate_limit = text();
        r.rate_scope = text();
        r.rate = text();
        return r;
    }

    Verdict verdict() {
        Verdict v;
        v.mode = coin() ? Mode::enforce : Mode::dry_run;
        v.action = action();
        v.would_action = action();
        v.score = score();
        for (std::size_t i = below(4); i > 0; --i) {
            presend::Hit hit;
            hit.rule = text();
            hit.target = text();
            hit.detail = text();
            hit.score = score();
            hit.monitor = coin();
            v.hits.push_back(hit);
        }
        for (std::size_t i = below(3); i > 0; --i)
            v.notes.push_back(text());
        for (std::size_t i = below(4); i > 0; --i)
            v.rcpts.push_back(rcpt_verdict());
        if (coin()) v.tenant = text();
        if (coin())
            v.message_class = coin() ? presend::MessageClass::bulk : presend::MessageClass::transactional;
        if (below(3) == 0) v.consent = presend::ConsentRecord{text(), text(), text()};
        return v;
    }

    presend::Envelope envelope() {
        presend::Envelope e;
        e.queue_id = text();
        e.client_addr = text();
        e.auth_user = text();
        e.mail_from = text();
        for (std::size_t i = below(5); i > 0; --i)
            e.rcpts.push_back(text());
        return e;
    }

  private:
    std::mt19937 m_random;
};

} // namespace

TEST_CASE("json strings are escaped exactly as nlohmann's dump escapes them, invalid UTF-8 included") {
    const std::string sample("a\"b\\c\x01\x1f\x7f\n", 9);
    std::string written;
    presend::json_out::append_string(written, sample);
    CHECK(written == "\"a\\\"b\\\\c\\u0001\\u001f\x7f\\n\"");
    CHECK(written == dumped(sample));
    Generator generate(20261127);
    for (int i = 0; i < 20000; ++i) {
        const std::string text = generate.text();
        std::string out;
        presend::json_out::append_string(out, text);
        INFO("input bytes: " << hex(text));
        REQUIRE(out == dumped(text));
    }
    for (unsigned a = 0; a < 256; ++a) // every pair of bytes: each lead byte before each follower
        for (unsigned b = 0; b < 256; ++b) {
            const std::string text = {static_cast<char>(a), static_cast<char>(b)};
            std::string out;
            presend::json_out::append_string(out, text);
            REQUIRE(out == dumped(text));
        }
}

TEST_CASE("json numbers are written with nlohmann's digits") {
    Generator generate(7);
    std::vector<double> values = {0.0,  -0.0, 1.0,   7.3,    0.1 + 0.2, 1e-4,  1e-5,     123456789012345.0,
                                  1e15, 1e16, 1e300, 5e-324, -2.5,      0.375, 1.0 / 3.0};
    for (int i = 0; i < 20000; ++i)
        values.push_back(generate.score());
    for (double value : values) {
        std::string out;
        presend::json_out::append_number(out, value);
        REQUIRE(out == dumped(value));
    }
    for (double value : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
        std::string out;
        presend::json_out::append_number(out, value);
        CHECK(out == "null");
        CHECK(dumped(value) == "null");
    }
    for (std::int64_t value : {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::min(),
                               std::numeric_limits<std::int64_t>::max()}) {
        std::string out;
        presend::json_out::append_number(out, value);
        CHECK(out == dumped(value));
    }
    std::string out;
    presend::json_out::append_number(out, std::numeric_limits<std::uint64_t>::max());
    CHECK(out == dumped(std::numeric_limits<std::uint64_t>::max()));
}

TEST_CASE("the decision line is the line nlohmann dumped, for every kind of verdict") {
    Generator generate(42);
    using namespace std::chrono;
    for (int i = 0; i < 3000; ++i) {
        const auto envelope = generate.envelope();
        const auto verdict = generate.verdict();
        const std::string message_id = generate.text();
        const std::string version = generate.text();
        const system_clock::time_point time{milliseconds{1700000000000LL + static_cast<long long>(i) * 7919}};
        const microseconds latency{static_cast<long long>(generate.below(5000000))};
        const std::optional<microseconds> total =
            generate.coin() ? std::optional(microseconds{static_cast<long long>(generate.below(9000000))})
                            : std::nullopt;
        std::string line = "earlier content stays\n";
        presend::append_decision_line(line, time, envelope, message_id, verdict, latency, version, total);
        const std::string expected =
            "earlier content stays\n" +
            dumped(reference_json(time, envelope, message_id, verdict, latency, version, total)) + "\n";
        REQUIRE(line == expected);
    }
}

TEST_CASE("decision_json is the line parsed back") {
    Verdict verdict;
    verdict.score = 0.1 + 0.2;
    verdict.hits.push_back({"r", "body", "bad \xff byte", 2.5, std::nullopt, "", false});
    const auto entry = presend::decision_json({}, "<m@x>", verdict, std::chrono::microseconds{3}, "v");
    CHECK(entry.at("score") == 0.3);
    CHECK(entry.at("hits")[0].at("detail") == "bad \xef\xbf\xbd byte");
    CHECK(entry.at("message_id") == "<m@x>");
}

TEST_CASE("times are written as gmtime_r and snprintf wrote them, before 1970 and to the clock's ends") {
    using namespace std::chrono;
    Generator generate(1970);
    // system_clock counts nanoseconds in 64 bits: about 1677 to 2262, which the cases stay within.
    std::vector<system_clock::time_point> times = {
        system_clock::time_point{},
        system_clock::time_point{milliseconds{-1}},
        system_clock::time_point{microseconds{-1500}},
        system_clock::time_point{seconds{951782400}},   // 2000-02-29
        system_clock::time_point{seconds{9183110400}},  // 2261-01-01
        system_clock::time_point{seconds{-9214560000}}, // 1678-01-01
        system_clock::time_point::max(),
        system_clock::time_point::min()};
    for (int i = 0; i < 20000; ++i) // within about 139 years of 1970 either way
        times.push_back(system_clock::time_point{milliseconds{
            static_cast<long long>(generate.below(std::size_t{1} << 43)) - (std::int64_t{1} << 42)}});
    for (const auto& when : times) {
        INFO(duration_cast<milliseconds>(when.time_since_epoch()).count());
        REQUIRE(presend::rfc3339_utc_ms(when) == reference_time(when));
    }
}
