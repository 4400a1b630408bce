// Privileges: the config keys for the worker's user and its socket, who the worker becomes, and the
// refusal of rules that someone other than root or presend's user could rewrite.
#include "daemon/privileges.hpp"
#include "presend/config.hpp"
#include "presend/ruleset.hpp"
#include "rules_fixture.hpp"

#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace presend;
using presend::test::all_diagnostics;
using presend::test::TempDir;

namespace {

const char* k_rule = R"(rules:
  - id: no-unsubscribe
    description: bulk mail needs List-Unsubscribe
    header_absent: List-Unsubscribe
    action: reject
)";

} // namespace

TEST_CASE("socket_mode, socket_group, user and group are read from the config") {
    TempDir dir;
    auto config = load_config(dir.write("presend.yaml", "socket: unix:/run/presend/presend.sock\n"
                                                        "socket_mode: 0660\nsocket_group: postfix\n"
                                                        "user: presend\ngroup: mail\n"));
    CHECK(config.socket_mode == 0660);
    CHECK(config.socket_group == "postfix");
    CHECK(config.user == "presend");
    CHECK(config.group == "mail");
    // Quoted or without the leading zero, the mode is still octal.
    CHECK(load_config(dir.write("q.yaml", "socket_mode: \"0640\"\n")).socket_mode == 0640);
    CHECK(load_config(dir.write("d.yaml", "socket_mode: 600\n")).socket_mode == 0600);
    const Config defaults;
    CHECK(defaults.user.empty());
    CHECK(defaults.socket_mode == 0);
}

TEST_CASE("bad socket modes and names are refused with file:line:column") {
    TempDir dir;
    const std::pair<const char*, const char*> cases[] = {
        {"mode: dry-run\nsocket_mode: 0999\n", "presend.yaml:2:14: socket_mode: expected an octal mode"},
        {"socket_mode: 0066\n", "presend must keep read and write"},
        {"socket_mode: 01777\n", "socket_mode: expected an octal mode"},
        {"user: \"pre send\"\n", "presend.yaml:1:7: user: expected a user"},
        {"socket_group: \"\"\n", "socket_group: expected a user or group name"},
        {"usr: presend\n", "unknown key 'usr' (did you mean 'user'?)"},
    };
    for (const auto& [yaml, message] : cases) {
        INFO(yaml);
        CHECK_THROWS_WITH(load_config(dir.write("presend.yaml", yaml)), Catch::Contains(message));
    }
}

TEST_CASE("the worker's identity: nothing to change, an unknown user, or a switch only root may make") {
    Config config;
    CHECK_FALSE(daemon::resolve_run_as(config).has_value());

    config.user = "presend-no-such-user";
    CHECK_THROWS_WITH(daemon::resolve_run_as(config),
                      Catch::Contains("user presend-no-such-user: no such user"));

    config.user.clear();
    config.group = "nogroup";
    CHECK_THROWS_WITH(daemon::resolve_run_as(config), Catch::Contains("group nogroup: set user as well"));

    // Already running as the configured user (systemd's User=presend with user: presend): nothing to do.
    const passwd* me = getpwuid(geteuid());
    REQUIRE(me != nullptr);
    config.group.clear();
    config.user = me->pw_name;
    if (getegid() == me->pw_gid) CHECK_FALSE(daemon::resolve_run_as(config).has_value());

    config.user = "nobody";
    if (geteuid() == 0) {
        const auto who = daemon::resolve_run_as(config);
        REQUIRE(who.has_value());
        CHECK(who->uid == getpwnam("nobody")->pw_uid);
        config.group = "presend-no-such-group";
        CHECK_THROWS_WITH(daemon::resolve_run_as(config),
                          Catch::Contains("group presend-no-such-group: no such group"));
    } else if (geteuid() != getpwnam("nobody")->pw_uid) {
        CHECK_THROWS_WITH(daemon::resolve_run_as(config), Catch::Contains("only root can switch"));
    }
}

TEST_CASE("a rules directory or rule file others can write is refused; a group may write") {
    TempDir dir;
    const auto rules = dir.path() / "rules";
    const auto file = dir.write("rules/rules.yaml", k_rule);
    chmod(rules.c_str(), 0755);
    chmod(file.c_str(), 0644);
    REQUIRE(load_rules(rules).ok());

    chmod(rules.c_str(), 0775); // officers editing together
    chmod(file.c_str(), 0664);
    CHECK(load_rules(rules).ok());

    chmod(rules.c_str(), 0777);
    auto result = load_rules(rules);
    CHECK_FALSE(result.ok());
    CHECK_THAT(all_diagnostics(result),
               Catch::Contains(rules.string() + ": refused: writable by other users (mode 0777); chmod o-w"));

    chmod(rules.c_str(), 0755);
    chmod(file.c_str(), 0666);
    result = load_rules(rules);
    CHECK_FALSE(result.ok());
    CHECK_THAT(all_diagnostics(result),
               Catch::Contains(file.string() + ": refused: writable by other users (mode 0666)"));
}

TEST_CASE("a phrases file others can write is refused at the rule that names it") {
    TempDir dir;
    const auto rules = dir.path() / "rules";
    dir.write("rules/content.yaml", R"(rules:
  - id: spam-words
    description: phrases the officers maintain in a list
    phrases_file: phrases.txt
    target: body
    score: 3
)");
    const auto phrases = dir.write("rules/phrases.txt", "act now\n");
    chmod(rules.c_str(), 0755);
    chmod(phrases.c_str(), 0646);
    const auto result = load_rules(rules);
    CHECK_FALSE(result.ok());
    CHECK_THAT(all_diagnostics(result),
               Catch::Contains("content.yaml:4:19: rule 'spam-words': phrases_file phrases.txt: refused: "
                               "writable by other users (mode 0646)"));
}

TEST_CASE("a rule file owned by another ordinary user is refused") {
    if (geteuid() != 0) return; // only root can give a file away
    TempDir dir;
    const auto rules = dir.path() / "rules";
    const auto file = dir.write("rules/rules.yaml", k_rule);
    chmod(rules.c_str(), 0755);
    chmod(file.c_str(), 0644);
    REQUIRE(chown(file.c_str(), getpwnam("nobody")->pw_uid, static_cast<gid_t>(-1)) == 0);
    const auto result = load_rules(rules);
    CHECK_FALSE(result.ok());
    CHECK_THAT(all_diagnostics(result),
               Catch::Contains("refused: owned by uid " + std::to_string(getpwnam("nobody")->pw_uid) +
                               "; it must belong to root or to uid 0, which presend runs as"));
}

TEST_CASE("a binary in the build tree uses the source tree's rules, whatever is installed") {
    CHECK(default_rules_dir() == std::filesystem::path(PRESEND_RULES_DIR));
}
