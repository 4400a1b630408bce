// Config: defaults without a file, every key read, and clear file:line:column errors for bad input.
#include "presend/config.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

using namespace presend;
using presend::test::config_error;
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
    const auto error_of = [&](const std::string& yaml) { return config_error(dir, yaml); };
    CHECK_THAT(error_of("mode: enforce\nmdoe: dry-run\n"),
               Catch::Contains("presend.yaml:2:1: unknown key 'mdoe' (did you mean 'mode'?)"));
    CHECK_THAT(error_of("mode: block\n"),
               Catch::Contains("presend.yaml:1:7: mode: expected enforce or dry-run"));
    CHECK_THAT(error_of("on_error: quarantine\n"),
               Catch::Contains("on_error: expected tempfail, accept or reject"));
    // An unknown word gets the same three choices, not the rules' actions that on_error refuses.
    CHECK_THAT(error_of("on_error: x\n"),
               Catch::Contains("presend.yaml:1:11: on_error: expected tempfail, accept or reject"));
    CHECK_THAT(error_of("limits:\n  max_message_bytes: lots\n"),
               Catch::Contains("presend.yaml:2:22: max_message_bytes"));
    CHECK_THAT(error_of("socket: 8891\n"), Catch::Contains("socket: expected"));
    CHECK_THAT(error_of("mode: [\n"), Catch::Contains("YAML syntax error"));
    CHECK_THAT(error_of("log: {level: loud}\n"), Catch::Contains("level: expected"));
    CHECK_THAT(error_of("mode: dry-run\nmode: enforce\n"),
               Catch::Contains("presend.yaml:2:1: key 'mode' given twice (first at line 1)"));
}

TEST_CASE("a missing config file, or a directory in its place, is a clear error") {
    CHECK_THROWS_WITH(load_config("/nonexistent/presend.yaml"), Catch::Contains("cannot read config file"));
    TempDir dir;
    CHECK_THROWS_WITH(load_config(dir.path()), Catch::Contains("is a directory, not a config file"));
}

TEST_CASE("the suppression section is read into Config; without it there is no list") {
    TempDir dir;
    CHECK(load_config(dir.write("none.yaml", "mode: enforce\n")).suppression.backend == "none");
    const auto config = load_config(dir.write("presend.yaml", R"(mode: enforce
suppression:
  backend: redis
  redis: {host: 127.0.0.1, port: 6380, timeout_ms: 50}
  on_error: accept
)"));
    CHECK(config.suppression.backend == "redis");
    CHECK(config.suppression.redis.port == 6380);
    CHECK(config.suppression.redis.timeout_ms == 50);
    CHECK(config.suppression.on_store_error == Action::accept);

    const auto sqlite = load_config(dir.write("sqlite.yaml", "suppression:\n  path: lists/suppressed.db\n"));
    CHECK(sqlite.suppression.backend == "sqlite");
    CHECK(sqlite.suppression.path == dir.path() / "lists/suppressed.db");
    CHECK(sqlite.suppression.on_store_error == Action::tempfail);
    CHECK(sqlite.suppression != config.suppression);
    CHECK(sqlite.suppression == load_config(dir.path() / "sqlite.yaml").suppression);
}

TEST_CASE("errors in the suppression section name file, line and column") {
    TempDir dir;
    const auto error_of = [&](const std::string& yaml) { return config_error(dir, yaml); };
    CHECK_THAT(error_of("mode: enforce\nsuppression:\n  on_error: reject\n"),
               Catch::Contains("presend.yaml:3:13: on_error: expected tempfail or accept"));
    CHECK_THAT(error_of("suppression:\n  backend: sqlite\n  pth: x.db\n"),
               Catch::Contains("presend.yaml:3:3: unknown key 'pth' (did you mean 'path'?)"));
    CHECK_THAT(error_of("supression:\n  backend: sqlite\n"),
               Catch::Contains("presend.yaml:1:1: unknown key 'supression' (did you mean 'suppression'?)"));
    CHECK_THAT(error_of("suppression:\n  redis: {timeout_ms: 0}\n"),
               Catch::Contains("presend.yaml:2:23: timeout_ms: expected a whole number from 1 to 10000"));
}
