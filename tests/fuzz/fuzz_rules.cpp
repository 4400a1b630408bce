// fuzz_rules: libFuzzer target for the rule loader, YAML bytes → lint → compile → one scan. Rule
// files are what compliance officers edit by hand, so any text must give diagnostics or a RuleSet,
// never a crash, a hang or an exception; a RuleSet that loads must scan a message.
#include "fuzz_support.hpp"
#include "presend/engine.hpp"
#include "presend/ruleset.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace {

using presend::fuzz::require;

// One private rules directory per process; the file is rewritten for every input.
const std::filesystem::path& rules_dir() {
    static const std::filesystem::path dir = [] {
        auto path = std::filesystem::temp_directory_path() / ("presend-fuzz-rules-" + std::to_string(getpid()));
        std::filesystem::create_directories(path);
        return path;
    }();
    return dir;
}

constexpr std::string_view k_message =
    "From: Shop <news@shop.example>\r\n"
    "To: someone@example.net\r\n"
    "Subject: FREE offer, click now!!!\r\n"
    "Message-ID: <1@shop.example>\r\n"
    "Date: Mon, 4 May 2026 10:00:00 +0000\r\n"
    "List-Unsubscribe: <https://shop.example/u/1>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Act now: <a href=\"http://192.0.2.1/x\">shop.example</a></p>\r\n";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    {
        std::ofstream out(rules_dir() / "fuzz.yaml", std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    const presend::LoadResult loaded = presend::load_rules(rules_dir());
    bool any_error = false;
    for (const auto& diagnostic : loaded.diagnostics) {
        require(!diagnostic.message.empty(), "a diagnostic says something");
        require(!diagnostic.str().empty(), "a diagnostic formats");
        any_error = any_error || !diagnostic.warning;
    }
    require(loaded.ok() != any_error, "rules load exactly when there is no error");
    if (!loaded.ok()) return 0;

    presend::Envelope envelope;
    envelope.mail_from = "news@shop.example";
    envelope.rcpts = {"someone@example.net"};
    const presend::Verdict verdict =
        presend::evaluate(*loaded.rules, envelope, k_message, presend::Mode::enforce);
    require(verdict.would_action == verdict.action, "enforce applies what it decides");
    return 0;
}
