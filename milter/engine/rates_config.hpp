// rates_config: the `rates:` section of presend.yaml → RatesConfig. load_config() (engine/config.cpp) calls
// parse_rates_config() after the tenants, so a limit naming a tenant that does not exist is an error; `presend
// rates --config` reads the whole file with load_config(). Errors are ConfigError "file:line:column: message".
#pragma once

#include "presend/rates.hpp"
#include "presend/tenant.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <vector>

namespace presend {

// node is the value of the `rates:` key:
//   rates:
//     backend: memory             # memory | redis | none; default memory when the section is present
//     redis: {host: 127.0.0.1, port: 6379, db: 0, timeout_ms: 200, password_file: ...}
//     on_error: tempfail          # tempfail | accept: what a recipient gets when the store cannot answer
//     state_file: /var/lib/presend/rates.state
//     max_buckets: 262144
//     default_groups: true        # the shipped microsoft, google, yahoo, apple groups
//     groups:                     # a list of domains, or {domains: [...], mx: [host suffixes]}
//       corp: [example.com, "*.example.net"]
//       acme: {domains: [acme.example], mx: [mx.acme.example]}
//     limits:
//       - {tenant: "*", group: microsoft, rate: 60, per: minute, burst: 120}
//     warmup:
//       - {tenant: newco, start: 2026-11-20, days: [50, 100, 200], factor: 1.5, max: 20000}
//       - {sending_ip: 192.0.2.10, start: 2026-11-01, first: 1000, factor: 2, max: 200000}
// Unknown keys are errors, with a suggestion; so are tenants not in tenants and groups no mapping names.
RatesConfig parse_rates_config(const YAML::Node& node, const std::string& file, const std::vector<Tenant>& tenants);

// The destination groups of a `rates:` node (default_groups and groups only; the rest is not checked here):
// also what the feedback module classifies its log lines by, with or without counting.
DestinationGroups parse_destination_groups(const YAML::Node& node, const std::string& file);
// The groups of a whole presend.yaml's `rates:` section (the shipped ones without it): `presend feedback replay`.
DestinationGroups load_destination_groups(const std::filesystem::path& file);

// "minute", "hour", "day", "second" or a count with a unit: "10s", "5m", "2h", "1d". nullopt otherwise.
std::optional<std::chrono::milliseconds> parse_rate_window(std::string_view text);

} // namespace presend
