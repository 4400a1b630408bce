// The metrics: section of presend.yaml: off by default, loopback only unless allow_remote, errors with
// file:line:column.
#include "presend/config.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

using namespace presend;
using presend::test::TempDir;

namespace {

std::string error_of(const TempDir& dir, const std::string& yaml) {
    try {
        load_config(dir.write("presend.yaml", yaml));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("metrics are off by default and when listen is empty") {
    TempDir dir;
    CHECK(Config{}.metrics.listen.empty());
    CHECK(load_config(dir.write("presend.yaml", "metrics: {listen: \"\"}\n")).metrics.listen.empty());
    CHECK(load_config(dir.write("presend.yaml", "metrics:\n")).metrics.listen.empty());
}

TEST_CASE("metrics listen on IPv4 and bracketed IPv6 loopback addresses") {
    TempDir dir;
    auto config = load_config(dir.write("presend.yaml", "metrics: {listen: \"127.0.0.1:9129\"}\n")).metrics;
    CHECK(config.host == "127.0.0.1");
    CHECK(config.port == 9129);
    CHECK(config.listen == "127.0.0.1:9129");
    config = load_config(dir.write("presend.yaml", "metrics: {listen: \"[::1]:9200\"}\n")).metrics;
    CHECK(config.host == "::1");
    CHECK(config.port == 9200);
    config = load_config(dir.write("presend.yaml", "metrics: {listen: \"localhost:9129\"}\n")).metrics;
    CHECK(config.host == "127.0.0.1");
}

TEST_CASE("a non-loopback metrics address needs allow_remote") {
    TempDir dir;
    CHECK(error_of(dir, "metrics:\n  listen: \"0.0.0.0:9129\"\n") ==
          (dir.path() / "presend.yaml").string() +
              ":2:11: listen: 0.0.0.0 is not a loopback address; set allow_remote: true to serve metrics "
              "beyond this host");
    const auto config =
        load_config(dir.write("presend.yaml", "metrics: {listen: \"0.0.0.0:9129\", allow_remote: true}\n"));
    CHECK(config.metrics.host == "0.0.0.0");
    CHECK(config.metrics.allow_remote);
}

TEST_CASE("bad metrics settings name file:line:column") {
    TempDir dir;
    const std::string file = (dir.path() / "presend.yaml").string();
    CHECK(error_of(dir, "metrics: {listen: \"127.0.0.1\"}\n") ==
          file + ":1:19: listen: expected IP:PORT or [IPv6]:PORT, e.g. \"127.0.0.1:9129\"");
    CHECK(error_of(dir, "metrics: {listen: \"127.0.0.1:99999\"}\n") ==
          file + ":1:19: listen: port must be a number from 1 to 65535");
    CHECK(
        error_of(dir, "metrics: {listen: \"metrics.example:9129\"}\n") ==
        file +
            ":1:19: listen: 'metrics.example' is not an IP address (IPv6 goes in brackets: \"[::1]:9129\")");
    CHECK(error_of(dir, "metrics: {listen: \"::1:9129\"}\n").find("IPv6 goes in brackets") !=
          std::string::npos);
    CHECK(error_of(dir, "metrics: {listne: \"127.0.0.1:9129\"}\n") ==
          file + ":1:11: unknown key 'listne' (did you mean 'listen'?)");
    CHECK(error_of(dir, "metrics: {allow_remote: maybe}\n") ==
          file + ":1:25: allow_remote: expected true or false");
    CHECK(error_of(dir, "metrics: 9129\n") == file + ":1:10: metrics: expected a mapping");
}
