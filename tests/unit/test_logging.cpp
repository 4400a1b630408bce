// The daemon's logger: stderr or syslog, the level applied, and a syslog logger that works (and keeps
// working when it is set up again, as a restarted worker does) even where no syslog daemon listens.
#include "daemon/logging.hpp"

#include <catch2/catch.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

using presend::daemon::setup_logging;

namespace {

// Puts back the test binary's own default logger.
struct RestoreLogger {
    std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();
    ~RestoreLogger() { spdlog::set_default_logger(saved); }
};

} // namespace

TEST_CASE("log target syslog installs a syslog sink at the configured level") {
    RestoreLogger restore;
    setup_logging("syslog", "warn");
    auto logger = spdlog::default_logger();
    REQUIRE(logger->sinks().size() == 1);
    CHECK(std::dynamic_pointer_cast<spdlog::sinks::syslog_sink_mt>(logger->sinks()[0]));
    CHECK(logger->level() == spdlog::level::warn);
    spdlog::warn("presend unit test: syslog logger works"); // no daemon needed: syslog(3) drops it quietly
    setup_logging("syslog", "debug");                       // a restarted worker sets it up again
    CHECK(spdlog::default_logger()->sinks()[0] == logger->sinks()[0]);
    CHECK(spdlog::default_logger()->level() == spdlog::level::debug);
    spdlog::debug("presend unit test: syslog logger set up twice");
}

TEST_CASE("log target stderr installs a stderr sink") {
    RestoreLogger restore;
    setup_logging("stderr", "error");
    auto logger = spdlog::default_logger();
    REQUIRE(logger->sinks().size() == 1);
    CHECK(std::dynamic_pointer_cast<spdlog::sinks::stderr_sink_mt>(logger->sinks()[0]));
    CHECK(logger->level() == spdlog::level::err);
}
