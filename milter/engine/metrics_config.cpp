// metrics_config: see metrics_config.hpp.
#include "engine/metrics_config.hpp"

#include "engine/yaml_util.hpp"

#include <arpa/inet.h>
#include <charconv>
#include <netinet/in.h>

namespace presend {

namespace {

using yaml::fail;

bool is_loopback(const std::string& host) {
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127; // 127.0.0.0/8
    in6_addr v6{};
    return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool is_ip(const std::string& host) {
    in_addr v4{};
    in6_addr v6{};
    return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

} // namespace

MetricsConfig parse_metrics_config(const YAML::Node& node, const std::string& file) {
    MetricsConfig config;
    if (node.IsNull()) return config;
    if (!node.IsMap()) fail(file, node, "metrics: expected a mapping");
    yaml::check_keys(node, {"listen", "allow_remote"},
                     [&](const YAML::Node& key, const std::string& message) { fail(file, key, message); });
    if (auto n = node["allow_remote"]) {
        auto value = yaml::as_bool(n);
        if (!value) fail(file, n, "allow_remote: expected true or false");
        config.allow_remote = *value;
    }
    const auto n = node["listen"];
    if (!n) return config;
    auto listen = yaml::as_string(n);
    if (!listen) fail(file, n, "listen: expected a string such as \"127.0.0.1:9129\"");
    if (listen->empty()) return config;

    // "[::1]:9129" or "127.0.0.1:9129": the port follows the last colon, after the bracket if any.
    const auto colon = listen->rfind(':');
    const bool bracketed = !listen->empty() && listen->front() == '[';
    const auto close = listen->find(']');
    if (colon == std::string::npos || colon == 0 ||
        (bracketed && (close == std::string::npos || close + 1 != colon)))
        fail(file, n, "listen: expected IP:PORT or [IPv6]:PORT, e.g. \"127.0.0.1:9129\"");
    std::string host = bracketed ? listen->substr(1, close - 1) : listen->substr(0, colon);
    if (host == "localhost") host = "127.0.0.1";
    const std::string port_text = listen->substr(colon + 1);
    int port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535)
        fail(file, n, "listen: port must be a number from 1 to 65535");
    if (!is_ip(host) || (!bracketed && host.find(':') != std::string::npos))
        fail(file, n, "listen: '" + host + "' is not an IP address (IPv6 goes in brackets: \"[::1]:9129\")");
    if (!is_loopback(host) && !config.allow_remote)
        fail(file, n,
             "listen: " + host +
                 " is not a loopback address; set allow_remote: true to serve metrics beyond this host");
    config.listen = *listen;
    config.host = host;
    config.port = port;
    return config;
}

} // namespace presend
