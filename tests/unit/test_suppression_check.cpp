// test_suppression_check: the milter's RCPT TO answer from the suppression list, in enforce and dry-run, and
// when the store cannot answer (on_store_error). Against a temporary SQLite file; the integration test
// suppress_rcpt.sh drives the same through Postfix, with Redis too.
#include "daemon/suppression_check.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

using namespace presend;
using presend::daemon::RcptAnswer;
using presend::daemon::SuppressionCheck;
using presend::test::sqlite_config;
using presend::test::TempDir;

namespace {

constexpr std::int64_t k_may_first_2026 = 1777593600; // 2026-05-01T00:00:00Z

void seed(const SuppressionConfig& config) {
    auto store = open_suppression_store(config);
    SuppressionEntry gone;
    gone.address_or_domain = "gone@example.net";
    gone.reason = SuppressionReason::hard_bounce;
    gone.created = k_may_first_2026;
    gone.source = "postfix dsn=5.1.1 queue=16D4FA7235A";
    store->add(gone);
    SuppressionEntry closed;
    closed.address_or_domain = "closed.example";
    closed.reason = SuppressionReason::manual;
    closed.created = k_may_first_2026;
    closed.scope = "shop-42";
    store->add(closed);
}

} // namespace

TEST_CASE("enforce: a suppressed recipient gets 550 5.7.1 naming the reason and date, others pass") {
    TempDir dir;
    const auto config = sqlite_config(dir);
    seed(config);
    SuppressionCheck check(config);
    check.open();

    const RcptAnswer refused = check.check("Gone@Example.NET", "", Mode::enforce);
    REQUIRE(refused.verdict);
    CHECK(refused.verdict->action == Action::reject);
    CHECK(refused.verdict->would_action == Action::reject);
    CHECK(refused.verdict->entry == "gone@example.net");
    CHECK(refused.verdict->reason == "hard_bounce");
    CHECK(refused.verdict->since == k_may_first_2026);
    CHECK(std::string(refused.code) == "550");
    CHECK(std::string(refused.xcode) == "5.7.1");
    CHECK(refused.text == "<Gone@Example.NET>: recipient suppressed (hard-bounce since 2026-05-01)");

    CHECK_FALSE(check.check("kept@example.net", "", Mode::enforce).verdict);
    // A tenant's entry applies to that tenant only; the source never reaches the client.
    CHECK_FALSE(check.check("anyone@closed.example", "", Mode::enforce).verdict);
    const RcptAnswer tenant = check.check("anyone@closed.example", "shop-42", Mode::enforce);
    REQUIRE(tenant.verdict);
    CHECK(tenant.verdict->domain_entry);
    CHECK(tenant.verdict->scope == "shop-42");
    CHECK(tenant.text == "<anyone@closed.example>: recipient suppressed (manual since 2026-05-01)");
    CHECK(refused.text.find("16D4FA7235A") == std::string::npos);
}

TEST_CASE("dry-run: a suppressed recipient is accepted and recorded as would be refused") {
    TempDir dir;
    const auto config = sqlite_config(dir);
    seed(config);
    SuppressionCheck check(config);
    const RcptAnswer answer = check.check("<gone@example.net>", "", Mode::dry_run);
    REQUIRE(answer.verdict);
    CHECK(answer.verdict->action == Action::accept);
    CHECK(answer.verdict->would_action == Action::reject);
    CHECK(answer.text.empty());
}

TEST_CASE("a store that cannot be opened gives on_store_error, never an exception") {
    TempDir dir;
    auto config = sqlite_config(dir);
    config.path = dir.path() / "no-such-directory" / "suppression.db";
    SuppressionCheck check(config);
    check.open(); // logs, does not throw

    const RcptAnswer tempfail = check.check("gone@example.net", "", Mode::enforce);
    REQUIRE(tempfail.verdict);
    CHECK(tempfail.verdict->action == Action::tempfail);
    CHECK(std::string(tempfail.code) == "451");
    CHECK(std::string(tempfail.xcode) == "4.3.0");
    CHECK(tempfail.text == "<gone@example.net>: suppression list unavailable, try again later");
    CHECK_THAT(tempfail.verdict->store_error, Catch::Contains("no-such-directory"));

    // Dry-run never refuses for the list, so an unanswered lookup accepts; the record says what enforce does.
    const RcptAnswer dry = check.check("gone@example.net", "", Mode::dry_run);
    REQUIRE(dry.verdict);
    CHECK(dry.verdict->action == Action::accept);
    CHECK(dry.verdict->would_action == Action::tempfail);

    config.on_store_error = Action::accept;
    SuppressionCheck accepting(config);
    const RcptAnswer accepted = accepting.check("gone@example.net", "", Mode::enforce);
    REQUIRE(accepted.verdict);
    CHECK(accepted.verdict->action == Action::accept);
    CHECK_FALSE(accepted.verdict->store_error.empty());
}

TEST_CASE("a Redis that is down fails each lookup within its timeout") {
    SuppressionConfig config;
    config.backend = "redis";
    config.redis.host = "127.0.0.1";
    config.redis.port = 1; // nothing listens on tcpmux
    config.redis.timeout_ms = 100;
    SuppressionCheck check(config);
    check.open();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) {
        const RcptAnswer answer = check.check("user" + std::to_string(i) + "@example.net", "", Mode::enforce);
        REQUIRE(answer.verdict);
        CHECK(answer.verdict->action == Action::tempfail);
    }
    // The store drops its pool after a failure and fails fast for a while instead of waiting each time.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}
