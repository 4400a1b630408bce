// store: what the shared stores (the suppression list, the rate counters) have in common: the error a store
// that cannot answer throws, and the settings of a Redis server a fleet of MTAs shares. Read by
// suppression_config.cpp and rates_config.cpp (engine/redis_config.cpp), used by engine/redis_client.cpp.
// Standard library only.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace presend {

// The store could not answer (I/O error, database locked past its timeout, Redis down or slow). The daemon
// answers the recipient with the store's on_error; the CLI exits 2.
struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// `redis: {host, port, db, timeout_ms, password_file}` of a store section.
struct RedisSettings {
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    std::filesystem::path password_file; // first line is the AUTH password; empty: no AUTH
    int timeout_ms = 200; // connect and per-command timeout: a slow Redis costs a RCPT this, then fails

    // "redis://127.0.0.1:6379/0", for logs and messages (never the password).
    std::string describe() const {
        return "redis://" + host + ":" + std::to_string(port) + "/" + std::to_string(db);
    }
    bool operator==(const RedisSettings&) const = default;
};

} // namespace presend
