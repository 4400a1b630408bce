// logging: see logging.hpp.
#include "daemon/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include <syslog.h>

namespace presend::daemon {

void setup_logging(const std::string& target, const std::string& level) {
    std::shared_ptr<spdlog::logger> logger;
    if (target == "syslog") {
        // syslog stamps time and pid itself; LOG_PID is taken per message, so the worker shows its own.
        // One sink for the life of the process: a sink's destructor calls closelog(), which would drop the
        // ident of the sink that replaces it.
        static const auto sink =
            std::make_shared<spdlog::sinks::syslog_sink_mt>("presend", LOG_PID, LOG_MAIL, false);
        logger = std::make_shared<spdlog::logger>("presend", sink);
        logger->set_pattern("%v");
    } else {
        logger =
            std::make_shared<spdlog::logger>("presend", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z presend[%P] %l: %v");
    }
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

} // namespace presend::daemon
