// Config: defaults without a file, every key read, and clear file:line:column errors for bad input.
#include "presend/config.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

using namespace presend;
using presend::test::TempDir;

TEST_CASE("embedded defaults: dry-run, tempfail on error, loopback socket") {
    const Config config;
    CHECK(config.mode == Mode::dry_run);
    CHECK(config.on_error == Action::tempfail);
    CHECK(config.socket.rfind("inet:", 0) == 0);
    CHECK(config.socket.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("a config file sets every key; rules_dir is relative to the file") {
    TempDir dir;
    const auto file = dir.write("presend.yaml", R"(socket: unix:/run/presend/presend.sock
mode: enforce
rules_dir: rules
cache_dir: ""
decision_log: /var/log/presend/decisions.jsonl
on_error: accept
dry_run_tag: true
limits:
  max_message_bytes: 10M
  on_oversize: tempfail
log: {level: debug, target: syslog}
milter: {timeout: 60}
)");
    const auto config = load_config(file);
    CHECK(config.socket == "unix:/run/presend/presend.sock");
    CHECK(config.mode == Mode::enforce);
    CHECK(config.rules_dir == dir.path() / "rules");
    CHECK(config.cache_dir.empty());
    CHECK(config.on_error == Action::accept);
    CHECK(config.dry_run_tag);
    CHECK(config.limits.max_message_bytes == 10u << 20);
    CHECK(config.limits.on_oversize == Action::tempfail);
    CHECK(config.log_level == "debug");
    CHECK(config.log_target == "syslog");
    CHECK(config.milter_timeout_s == 60);
}

TEST_CASE("config errors name file, line and column") {
    TempDir dir;
    auto error_of = [&](const std::string& yaml) {
        const auto file = dir.write("presend.yaml", yaml);
        try {
            load_config(file);
        } catch (const ConfigError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK_THAT(error_of("mode: enforce\nmdoe: dry-run\n"),
               Catch::Contains("presend.yaml:2:1: unknown key 'mdoe' (did you mean 'mode'?)"));
    CHECK_THAT(error_of("mode: block\n"),
               Catch::Contains("presend.yaml:1:7: mode: expected enforce or dry-run"));
    CHECK_THAT(error_of("on_error: quarantine\n"),
               Catch::Contains("on_error: expected tempfail, accept or reject"));
    CHECK_THAT(error_of("limits:\n  max_message_bytes: lots\n"),
               Catch::Contains("presend.yaml:2:22: max_message_bytes"));
    CHECK_THAT(error_of("socket: 8891\n"), Catch::Contains("socket: expected"));
    CHECK_THAT(error_of("mode: [\n"), Catch::Contains("YAML syntax error"));
    CHECK_THAT(error_of("log: {level: loud}\n"), Catch::Contains("level: expected"));
}

TEST_CASE("a missing config file is a clear error") {
    CHECK_THROWS_WITH(load_config("/nonexistent/presend.yaml"), Catch::Contains("cannot read config file"));
}
