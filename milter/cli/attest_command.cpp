// attest_command: `presend attest sign|verify|keygen`: consent attestation tokens offline, for the
// sending platform's integration, for support ("why was this message refused?") and for provisioning
// a tenant's key. The format and the key files are in docs/attestation.md.
// Exit codes: 0 ok, 1 the token does not verify, 2 usage, key or I/O error. Keys are never printed.
#include "cli/commands.hpp"

#include "presend/attestation.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <iostream>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace presend::cli {

namespace {

constexpr std::int64_t k_max_ttl_s = 3650LL * 86400; // ten years: longer is a mistake, not a policy
constexpr std::size_t k_max_stdin_bytes = 64 * 1024; // a header, pasted with some context at most
constexpr std::size_t k_new_key_bytes = 32;
constexpr const char* k_key_file_env = "PRESEND_ATTEST_KEY_FILE";

struct SignOptions {
    std::string tenant;
    std::string list;
    std::string basis;
    std::string ttl = "30d";
    std::string key_file;
    std::string sender_domain;
    std::int64_t now = -1; // -1: the clock
    bool header = false;
};

struct VerifyOptions {
    std::string tenant;
    std::string key_file;
    std::vector<std::string> allowed_bases{k_known_bases.begin(), k_known_bases.end()};
    std::int64_t now = -1;
    std::int64_t skew = k_default_attestation_skew_s;
    std::string sender_domain;
    bool require_domain = false;
    std::string value;
};

struct KeygenOptions {
    std::string out;
    std::string format = "base64";
};

std::string lowercase(std::string text) {
    for (char& c : text)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return text;
}

// "30d", "12h", "90m", "3600s" or "3600" → seconds.
std::int64_t parse_ttl(const std::string& text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
        ++digits;
    const std::string unit = text.substr(digits);
    std::int64_t scale = 0;
    if (unit.empty() || unit == "s") scale = 1;
    if (unit == "m") scale = 60;
    if (unit == "h") scale = 3600;
    if (unit == "d") scale = 86400;
    if (digits == 0 || digits > 9 || scale == 0)
        throw std::invalid_argument("--ttl " + text + ": expected a number with s, m, h or d, like 30d");
    const std::int64_t seconds = std::stoll(text.substr(0, digits)) * scale;
    if (seconds <= 0 || seconds > k_max_ttl_s)
        throw std::invalid_argument("--ttl " + text + ": must be between 1s and 3650d");
    return seconds;
}

std::int64_t now_or_clock(std::int64_t now) {
    return now >= 0 ? now : static_cast<std::int64_t>(std::time(nullptr));
}

std::string key_file_or_env(const std::string& key_file) {
    if (!key_file.empty()) return key_file;
    if (const char* env = std::getenv(k_key_file_env); env != nullptr && *env != '\0') return env;
    throw std::invalid_argument(std::string("no key: give --key-file or set ") + k_key_file_env);
}

// The value as given or read from stdin ("-"): unfolded, trailing newline and a leading
// "X-Consent-Attestation:" removed, so a header can be pasted as it appears in a message.
std::string header_value(const std::string& value) {
    std::string text = value;
    if (value == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        if (text.size() > k_max_stdin_bytes)
            throw std::invalid_argument("stdin: more than 64 KiB; not a header");
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    std::string unfolded;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const std::size_t eol = text.compare(i, 2, "\r\n") == 0 ? 2 : text[i] == '\n' ? 1 : 0;
        if (eol != 0 && i + eol < text.size() && (text[i + eol] == ' ' || text[i + eol] == '\t')) {
            i += eol - 1;
            continue;
        }
        unfolded += text[i];
    }
    const std::string prefix = lowercase(std::string(k_attestation_header)) + ":";
    if (lowercase(unfolded.substr(0, prefix.size())) == prefix) unfolded.erase(0, prefix.size());
    return unfolded;
}

void run_sign(const SignOptions& opts) {
    const SecretKey key = load_key_file(key_file_or_env(opts.key_file));
    Attestation attestation;
    attestation.tenant = opts.tenant;
    attestation.list_id = opts.list;
    attestation.basis = opts.basis;
    attestation.domain = lowercase(opts.sender_domain);
    attestation.issued_at = now_or_clock(opts.now);
    attestation.expires_at = attestation.issued_at + parse_ttl(opts.ttl);
    const std::string value = sign_attestation(attestation, key.bytes());
    if (std::find(k_known_bases.begin(), k_known_bases.end(), opts.basis) == k_known_bases.end())
        std::cerr << "presend attest sign: note: basis '" << opts.basis
                  << "' is not a standard one; the tenant's allowed_bases must name it\n";
    if (opts.header) std::cout << k_attestation_header << ": ";
    std::cout << value << "\n";
}

int run_verify(const VerifyOptions& opts) {
    const SecretKey key = load_key_file(key_file_or_env(opts.key_file));
    AttestationPolicy policy;
    policy.tenant = opts.tenant;
    policy.keys = {key.bytes()};
    policy.allowed_bases = opts.allowed_bases;
    policy.now = now_or_clock(opts.now);
    policy.max_skew = opts.skew;
    if (!opts.sender_domain.empty()) policy.sender_domain = opts.sender_domain;
    policy.require_domain = opts.require_domain;
    const AttestationResult result = verify_attestation(header_value(opts.value), policy);
    if (!result.ok()) {
        std::cout << to_string(result.status) << ": " << result.reason << "\n";
        return 1;
    }
    std::cout << "ok: " << result.reason;
    if (result.attestation && !result.attestation->domain.empty() && !policy.sender_domain)
        std::cout << " (d=" << result.attestation->domain << " not checked: no --sender-domain)";
    std::cout << "\n";
    return 0;
}

// O_EXCL: a key is never overwritten by accident; the tokens signed with it would all fail.
void run_keygen(const KeygenOptions& opts) {
    unsigned char key[k_new_key_bytes];
    if (RAND_bytes(key, sizeof key) != 1) throw std::runtime_error("OpenSSL: RAND_bytes failed");
    std::string content;
    if (opts.format == "raw") {
        content.assign(reinterpret_cast<const char*>(key), sizeof key);
    } else {
        unsigned char encoded[4 * ((k_new_key_bytes + 2) / 3) + 1];
        const int n = EVP_EncodeBlock(encoded, key, sizeof key);
        content =
            "base64:" + std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(n)) +
            "\n";
        OPENSSL_cleanse(encoded, sizeof encoded);
    }
    OPENSSL_cleanse(key, sizeof key);

    const int fd = ::open(opts.out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    std::string error;
    if (fd < 0) {
        error =
            errno == EEXIST ? "exists; a key is never overwritten (remove it first)" : std::strerror(errno);
    } else {
        std::size_t done = 0;
        while (done < content.size() && error.empty()) {
            const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0)
                error = std::strerror(errno);
            else
                done += static_cast<std::size_t>(n);
        }
        // 0600 whatever the umask; fsync so a crash cannot leave an empty key behind.
        if (error.empty() && (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0)) error = std::strerror(errno);
        if (::close(fd) != 0 && error.empty()) error = std::strerror(errno);
        if (!error.empty()) ::unlink(opts.out.c_str());
    }
    OPENSSL_cleanse(content.data(), content.size());
    if (!error.empty()) throw std::runtime_error(opts.out + ": " + error);
    std::cout << "wrote a new " << k_new_key_bytes << "-byte key to " << opts.out << " (mode 0600, "
              << opts.format << "); give the sending platform a copy by a secure channel\n";
}

// Errors of the key, the input or OpenSSL: named on stderr, exit code 2.
template <typename Fn> void guarded(const char* name, int* exit_code, Fn&& fn) {
    try {
        *exit_code = fn();
    } catch (const std::exception& e) {
        std::cerr << "presend attest " << name << ": " << e.what() << "\n";
        *exit_code = 2;
    }
}

} // namespace

void add_attest_command(CLI::App& app, int* exit_code) {
    auto* attest = app.add_subcommand("attest", "Sign, verify and make keys for consent attestation tokens");
    attest->require_subcommand(1);

    auto sign_opts = std::make_shared<SignOptions>();
    auto* sign = attest->add_subcommand("sign", "Print a signed X-Consent-Attestation value");
    sign->add_option("--tenant", sign_opts->tenant, "Tenant id")->required();
    sign->add_option("--list", sign_opts->list, "List id")->required();
    sign->add_option("--basis", sign_opts->basis,
                     "Consent basis: opt-in, double-opt-in, existing-customer, verified")
        ->required();
    sign->add_option("--ttl", sign_opts->ttl, "Lifetime: 3600, 90m, 12h, 30d")->capture_default_str();
    sign->add_option("--key-file", sign_opts->key_file,
                     std::string("Tenant key file (default: $") + k_key_file_env + ")");
    sign->add_option("--sender-domain", sign_opts->sender_domain, "Bind the token to this From domain (d=)");
    sign->add_option("--now", sign_opts->now, "Issue time, Unix seconds (default: now)")
        ->check(CLI::NonNegativeNumber);
    sign->add_flag("--header", sign_opts->header, "Print the whole header line");
    sign->callback([sign_opts, exit_code] {
        guarded("sign", exit_code, [&] {
            run_sign(*sign_opts);
            return 0;
        });
    });

    auto verify_opts = std::make_shared<VerifyOptions>();
    auto* verify =
        attest->add_subcommand("verify", "Verify a value; print ok or why not (exit 0 ok, 1 invalid)");
    verify->add_option("--tenant", verify_opts->tenant, "The tenant the message comes from")->required();
    verify->add_option("--key-file", verify_opts->key_file,
                       std::string("Tenant key file (default: $") + k_key_file_env + ")");
    verify
        ->add_option("--allowed-bases", verify_opts->allowed_bases,
                     "Comma-separated bases (default: the four standard ones)")
        ->delimiter(',');
    verify->add_option("--now", verify_opts->now, "Verification time, Unix seconds (default: now)")
        ->check(CLI::NonNegativeNumber);
    verify->add_option("--skew", verify_opts->skew, "Seconds iat may lie in the future")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    verify->add_option("--sender-domain", verify_opts->sender_domain,
                       "The message's From domain, checked against d=");
    verify->add_flag("--require-domain", verify_opts->require_domain, "Fail a token without d=");
    verify
        ->add_option("value", verify_opts->value,
                     "The header value (or the whole header line), or - for stdin")
        ->required();
    verify->callback(
        [verify_opts, exit_code] { guarded("verify", exit_code, [&] { return run_verify(*verify_opts); }); });

    auto keygen_opts = std::make_shared<KeygenOptions>();
    auto* keygen = attest->add_subcommand("keygen", "Write a new random 32-byte tenant key (mode 0600)");
    keygen->add_option("--out", keygen_opts->out, "Key file to create (never overwritten)")->required();
    keygen->add_option("--format", keygen_opts->format, "base64 (a text line \"base64:...\") or raw bytes")
        ->check(CLI::IsMember({"base64", "raw"}))
        ->capture_default_str();
    keygen->callback([keygen_opts, exit_code] {
        guarded("keygen", exit_code, [&] {
            run_keygen(*keygen_opts);
            return 0;
        });
    });
}

} // namespace presend::cli
