// attestation: consent attestation tokens: the grammar of docs/attestation.md, HMAC-SHA256 through
// OpenSSL's EVP_MAC, key files. See presend/attestation.hpp. Called from inspect() at EOM on every
// milter thread (no shared mutable state), from `presend attest`, and from the fuzzer, which builds
// this file alone: it depends on the standard library, POSIX and libcrypto only.
#include "presend/attestation.hpp"

#include "engine/ascii.hpp"
#include "engine/file_trust.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace presend {

namespace {

// Field lengths: the longest token is their sum plus the names and separators, 579 bytes.
constexpr std::size_t k_max_tenant = 64;
constexpr std::size_t k_max_list_id = 128;
constexpr std::size_t k_max_basis = 32;
constexpr std::size_t k_max_domain = 253; // RFC 1035
constexpr std::size_t k_max_label = 63;
constexpr std::size_t k_max_time_digits = 11; // 99999999999 is the year 5138
constexpr std::int64_t k_max_time = 99'999'999'999;
constexpr std::size_t k_sig_chars = 43;            // base64url of 32 bytes, unpadded
constexpr std::size_t k_max_key_file_bytes = 4096; // a key, not a document
constexpr std::size_t k_max_quoted = 40;           // values quoted in error messages are cut here

// The fields in the order a token carries them; d= is the only optional one.
enum Field : std::size_t { f_v, f_t, f_l, f_b, f_d, f_iat, f_exp, f_sig, f_count };
constexpr std::array<std::string_view, f_count> k_field_names = {"v", "t",   "l",   "b",
                                                                 "d", "iat", "exp", "sig"};

bool is_lower_digit(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Any bytes → printable ASCII for a log line, cut at k_max_quoted. Message data is hostile.
std::string printable(std::string_view text) {
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out = "'";
    for (std::size_t i = 0; i < text.size() && i < k_max_quoted; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += k_hex[c >> 4];
            out += k_hex[c & 0xf];
        }
    }
    if (text.size() > k_max_quoted) out += "...";
    return out + "'";
}

// "0" or digits without a leading zero, so each time has one spelling.
std::optional<std::int64_t> parse_token_time(std::string_view text) {
    if (text.empty() || text.size() > k_max_time_digits) return std::nullopt;
    if (text.size() > 1 && text.front() == '0') return std::nullopt;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < 0) return std::nullopt;
    return value;
}

// "2024-05-01T12:00:00Z"
std::string utc_time(std::int64_t unix_seconds) {
    const auto t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds);
    char buffer[32];
    const std::size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return n ? std::string(buffer, n) : std::to_string(unix_seconds);
}

// base64, both alphabets (RFC 4648 §4 and §5). Strict: the unused low bits of the last character must
// be zero and padding, where allowed, must be exactly what the length needs.
constexpr std::string_view k_b64_std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view k_b64_url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::optional<std::vector<unsigned char>> base64_decode(std::string_view text, std::string_view alphabet,
                                                        bool padded) {
    if (padded) {
        if (text.size() % 4 != 0) return std::nullopt;
        std::size_t pad = 0;
        while (pad < 2 && !text.empty() && text.back() == '=') {
            text.remove_suffix(1);
            ++pad;
        }
        if (pad != (4 - text.size() % 4) % 4) return std::nullopt;
    }
    if (text.size() % 4 == 1) return std::nullopt; // 6 bits cannot end a byte
    std::vector<unsigned char> out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t bits = 0;
    int nbits = 0;
    for (const char c : text) {
        const auto index = alphabet.find(c);
        if (index == std::string_view::npos) return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(index);
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out.push_back(static_cast<unsigned char>((bits >> nbits) & 0xff));
        }
    }
    if ((bits & ((1u << nbits) - 1)) != 0) return std::nullopt; // non-canonical last character
    return out;
}

std::optional<std::vector<unsigned char>> hex_decode(std::string_view text) {
    if (text.size() % 2 != 0) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        c = ascii::lower(c);
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    std::vector<unsigned char> out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int hi = nibble(text[i]);
        const int lo = nibble(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<unsigned char>(hi << 4 | lo));
    }
    return out;
}

// EVP_MAC_fetch searches the provider store; once per process is enough. Never freed: it must outlive
// every thread that might still verify at exit, and OpenSSL's own atexit cleanup runs after us.
EVP_MAC* hmac_algorithm() {
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    return mac;
}

using MacCtx = std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)>;

// Throws std::runtime_error only when OpenSSL fails, which is a fault of the host, not of the input.
std::array<unsigned char, k_attestation_sig_bytes> hmac_sha256(std::span<const unsigned char> key,
                                                               std::string_view data) {
    EVP_MAC* mac = hmac_algorithm();
    if (mac == nullptr) throw std::runtime_error("OpenSSL: HMAC is not available");
    MacCtx ctx{EVP_MAC_CTX_new(mac), &EVP_MAC_CTX_free};
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    std::array<unsigned char, k_attestation_sig_bytes> out{};
    std::size_t out_len = 0;
    if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1 ||
        EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
        EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1 || out_len != out.size())
        throw std::runtime_error("OpenSSL: HMAC-SHA256 failed");
    return out;
}

ParseError parse_error(ParseErrorCode code, std::string message) {
    return ParseError{code, std::move(message)};
}

std::string field_rule(Field field) {
    switch (field) {
    case f_t:
        return "1-64 of a-z 0-9 . _ - starting with a letter or digit";
    case f_l:
        return "1-128 of A-Z a-z 0-9 . _ : / + @ -";
    case f_b:
        return "1-32 of a-z 0-9 - starting with a letter";
    case f_d:
        return "a lowercase domain name of LDH labels, at most 253 characters";
    case f_iat:
    case f_exp:
        return "Unix seconds, 1-11 digits without a leading zero";
    default:
        return "";
    }
}

bool valid_field(Field field, std::string_view value) {
    switch (field) {
    case f_t:
        return valid_tenant_id(value);
    case f_l:
        return valid_list_id(value);
    case f_b:
        return valid_basis(value);
    case f_d:
        return valid_domain(value);
    case f_iat:
    case f_exp:
        return parse_token_time(value).has_value();
    default:
        return false;
    }
}

// Every field but the signature, checked as parse_attestation() checks them.
void require_valid(const Attestation& a) {
    auto fail = [](Field field, std::string_view value) {
        throw std::invalid_argument(std::string(k_field_names[field]) + "=" + printable(value) +
                                    ": must be " + field_rule(field));
    };
    if (a.version != 1)
        throw std::invalid_argument("v=" + std::to_string(a.version) + ": only version 1 exists");
    if (!valid_tenant_id(a.tenant)) fail(f_t, a.tenant);
    if (!valid_list_id(a.list_id)) fail(f_l, a.list_id);
    if (!valid_basis(a.basis)) fail(f_b, a.basis);
    if (!a.domain.empty() && !valid_domain(a.domain)) fail(f_d, a.domain);
    if (a.issued_at < 0 || a.issued_at > k_max_time) fail(f_iat, std::to_string(a.issued_at));
    if (a.expires_at < 0 || a.expires_at > k_max_time) fail(f_exp, std::to_string(a.expires_at));
    if (a.expires_at <= a.issued_at) throw std::invalid_argument("exp= must be after iat=");
}

} // namespace

bool valid_tenant_id(std::string_view tenant) {
    if (tenant.empty() || tenant.size() > k_max_tenant || !is_lower_digit(tenant.front())) return false;
    return std::all_of(tenant.begin(), tenant.end(),
                       [](char c) { return is_lower_digit(c) || c == '.' || c == '_' || c == '-'; });
}

bool valid_list_id(std::string_view list_id) {
    if (list_id.empty() || list_id.size() > k_max_list_id) return false;
    return std::all_of(list_id.begin(), list_id.end(), [](char c) {
        return ascii::is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '+' || c == '@' ||
               c == '-';
    });
}

bool valid_basis(std::string_view basis) {
    if (basis.empty() || basis.size() > k_max_basis || !(basis.front() >= 'a' && basis.front() <= 'z'))
        return false;
    return std::all_of(basis.begin(), basis.end(), [](char c) { return is_lower_digit(c) || c == '-'; });
}

bool valid_domain(std::string_view domain) {
    if (domain.empty() || domain.size() > k_max_domain) return false;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = domain.find('.', start);
        const std::string_view label =
            domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || label.size() > k_max_label || label.front() == '-' || label.back() == '-')
            return false;
        if (!std::all_of(label.begin(), label.end(), [](char c) { return is_lower_digit(c) || c == '-'; }))
            return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

std::string base64url_encode(std::span<const unsigned char> bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::uint32_t bits = 0;
    int nbits = 0;
    for (const unsigned char byte : bytes) {
        bits = (bits << 8) | byte;
        nbits += 8;
        while (nbits >= 6) {
            nbits -= 6;
            out += k_b64_url[(bits >> nbits) & 0x3f];
        }
    }
    if (nbits > 0) out += k_b64_url[(bits << (6 - nbits)) & 0x3f];
    return out;
}

std::optional<std::vector<unsigned char>> base64url_decode(std::string_view text) {
    return base64_decode(text, k_b64_url, false);
}

ParseResult parse_attestation(std::string_view header) {
    // Size and bytes first, before any other work on input of any length.
    if (header.size() > k_max_attestation_bytes)
        return parse_error(ParseErrorCode::too_long, "value is " + std::to_string(header.size()) +
                                                         " bytes, more than " +
                                                         std::to_string(k_max_attestation_bytes));
    for (std::size_t i = 0; i < header.size(); ++i) {
        const auto c = static_cast<unsigned char>(header[i]);
        if ((c < 0x20 && c != '\t') || c > 0x7e) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", c);
            return parse_error(ParseErrorCode::not_ascii, std::string("byte ") + hex + " at offset " +
                                                              std::to_string(i) + " is not printable ASCII");
        }
    }
    header = ascii::trim_wsp(header);
    if (header.empty()) return parse_error(ParseErrorCode::empty, "empty value");

    Attestation a;
    std::array<bool, f_count> seen{};
    std::size_t last = 0;
    bool any = false;
    std::size_t position = 0;
    while (true) {
        const std::size_t semi = header.find(';', position);
        const std::string_view item = ascii::trim_wsp(header.substr(
            position, semi == std::string_view::npos ? std::string_view::npos : semi - position));
        if (item.empty())
            return parse_error(ParseErrorCode::syntax, "empty field at offset " + std::to_string(position));
        const std::size_t eq = item.find('=');
        if (eq == std::string_view::npos)
            return parse_error(ParseErrorCode::syntax, "field " + printable(item) + " is not name=value");
        const std::string_view name = item.substr(0, eq);
        const std::string_view value = item.substr(eq + 1);
        const auto known = std::find(k_field_names.begin(), k_field_names.end(), name);
        if (known == k_field_names.end())
            return parse_error(ParseErrorCode::unknown_field, "unknown field " + printable(name));
        const auto field = static_cast<Field>(known - k_field_names.begin());
        const std::string label = std::string(name) + "=";
        if (seen[field]) return parse_error(ParseErrorCode::duplicate_field, "duplicate field " + label);
        if (any && field < last)
            return parse_error(ParseErrorCode::out_of_order,
                               "field " + label + " after " + std::string(k_field_names[last]) + "=");
        if (!any && field != f_v)
            return parse_error(ParseErrorCode::missing_field, "missing field v= (it comes first)");
        seen[field] = true;
        last = field;
        any = true;

        switch (field) {
        case f_v:
            if (value != "1") {
                const bool number = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
                    return c >= '0' && c <= '9';
                });
                return parse_error(number ? ParseErrorCode::unsupported_version : ParseErrorCode::bad_value,
                                   "version " + printable(value) + " is not supported (only v=1)");
            }
            break;
        case f_sig: {
            // The value is never quoted: a near-miss signature is not for logs.
            auto bytes = value.size() == k_sig_chars ? base64url_decode(value) : std::nullopt;
            if (!bytes || bytes->size() != k_attestation_sig_bytes)
                return parse_error(ParseErrorCode::bad_base64,
                                   "sig= is not unpadded base64url of 32 bytes (" +
                                       std::to_string(value.size()) + " characters)");
            std::copy(bytes->begin(), bytes->end(), a.signature.begin());
            break;
        }
        default:
            if (!valid_field(field, value))
                return parse_error(ParseErrorCode::bad_value,
                                   label + printable(value) + ": must be " + field_rule(field));
            if (field == f_t) a.tenant = value;
            if (field == f_l) a.list_id = value;
            if (field == f_b) a.basis = value;
            if (field == f_d) a.domain = value;
            if (field == f_iat) a.issued_at = *parse_token_time(value);
            if (field == f_exp) a.expires_at = *parse_token_time(value);
        }
        if (semi == std::string_view::npos) break;
        position = semi + 1;
    }
    for (std::size_t f = 0; f < f_count; ++f)
        if (!seen[f] && f != f_d)
            return parse_error(ParseErrorCode::missing_field,
                               "missing field " + std::string(k_field_names[f]) + "=");
    if (a.expires_at <= a.issued_at) return parse_error(ParseErrorCode::bad_times, "exp= is not after iat=");
    return a;
}

std::string canonical_attestation(const Attestation& a) {
    require_valid(a);
    std::string out = "v=1;t=" + a.tenant + ";l=" + a.list_id + ";b=" + a.basis;
    if (!a.domain.empty()) out += ";d=" + a.domain;
    out += ";iat=" + std::to_string(a.issued_at) + ";exp=" + std::to_string(a.expires_at);
    return out;
}

std::string sign_attestation(const Attestation& a, std::span<const unsigned char> key) {
    if (key.size() < k_min_attestation_key_bytes)
        throw std::invalid_argument("the key is " + std::to_string(key.size()) + " bytes; at least " +
                                    std::to_string(k_min_attestation_key_bytes) + " are needed");
    const std::string canonical = canonical_attestation(a);
    const auto sig = hmac_sha256(key, canonical);
    std::string out = "v=1; t=" + a.tenant + "; l=" + a.list_id + "; b=" + a.basis;
    if (!a.domain.empty()) out += "; d=" + a.domain;
    out += "; iat=" + std::to_string(a.issued_at) + "; exp=" + std::to_string(a.expires_at);
    out += "; sig=" + base64url_encode(sig);
    return out;
}

bool signatures_equal(std::span<const unsigned char> a, std::span<const unsigned char> b) {
    // The length of a signature is public; only its bytes must not leak through timing.
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view to_string(AttestationStatus status) {
    switch (status) {
    case AttestationStatus::ok:
        return "ok";
    case AttestationStatus::missing:
        return "missing";
    case AttestationStatus::malformed:
        return "malformed";
    case AttestationStatus::bad_signature:
        return "bad_signature";
    case AttestationStatus::expired:
        return "expired";
    case AttestationStatus::not_yet_valid:
        return "not_yet_valid";
    case AttestationStatus::tenant_mismatch:
        return "tenant_mismatch";
    case AttestationStatus::basis_not_allowed:
        return "basis_not_allowed";
    case AttestationStatus::domain_mismatch:
        return "domain_mismatch";
    }
    return "unknown";
}

std::string_view rule_id(AttestationStatus status) {
    switch (status) {
    case AttestationStatus::ok:
        return "";
    case AttestationStatus::missing:
        return "consent-missing";
    case AttestationStatus::malformed:
        return "consent-malformed";
    case AttestationStatus::bad_signature:
        return "consent-bad-signature";
    case AttestationStatus::expired:
    case AttestationStatus::not_yet_valid: // one rule: a token outside its validity window
        return "consent-expired";
    case AttestationStatus::tenant_mismatch:
        return "consent-tenant-mismatch";
    case AttestationStatus::basis_not_allowed:
        return "consent-basis-not-allowed";
    case AttestationStatus::domain_mismatch:
        return "consent-domain-mismatch";
    }
    return "consent-malformed";
}

AttestationResult verify_attestation(std::string_view header, const AttestationPolicy& policy) {
    AttestationResult result;
    auto fail = [&result](AttestationStatus status, std::string reason) {
        result.status = status;
        result.reason = std::move(reason);
        return result;
    };
    if (ascii::trim_wsp(header).empty()) return fail(AttestationStatus::missing, "no consent attestation");

    ParseResult parsed = parse_attestation(header);
    if (!parsed) return fail(AttestationStatus::malformed, parsed.error().message);
    const Attestation& a = *parsed;
    result.attestation = a;

    // The tenant is judged before the signature only because the message says more: under another
    // tenant's token the signature would fail anyway.
    if (a.tenant != policy.tenant)
        return fail(AttestationStatus::tenant_mismatch, "token is for tenant " + printable(a.tenant) +
                                                            ", the message is from tenant " +
                                                            printable(policy.tenant));

    const std::string canonical = canonical_attestation(a);
    bool verified = false;
    bool usable_key = false;
    for (const auto& key : policy.keys) {
        if (key.size() < k_min_attestation_key_bytes) continue; // load_key_file() refuses these
        usable_key = true;
        if (signatures_equal(hmac_sha256(key, canonical), a.signature)) verified = true;
    }
    if (!usable_key)
        return fail(AttestationStatus::bad_signature,
                    "no key of at least 32 bytes for tenant " + printable(policy.tenant));
    if (!verified)
        return fail(AttestationStatus::bad_signature,
                    "signature does not match the key(s) of tenant " + printable(policy.tenant));

    // Clamped so the differences below cannot overflow, whatever a caller passes.
    const std::int64_t now = std::clamp<std::int64_t>(
        policy.now ? *policy.now : static_cast<std::int64_t>(std::time(nullptr)), 0, 2 * k_max_time);
    const std::int64_t skew = std::clamp<std::int64_t>(policy.max_skew, 0, k_max_time);
    if (a.issued_at - now > skew)
        return fail(AttestationStatus::not_yet_valid,
                    "issued at " + utc_time(a.issued_at) + ", " + std::to_string(a.issued_at - now) +
                        " s in the future (allowed skew " + std::to_string(skew) + " s)");
    if (now >= a.expires_at)
        return fail(AttestationStatus::expired, "expired at " + utc_time(a.expires_at) + ", " +
                                                    std::to_string(now - a.expires_at) + " s ago");

    if (a.domain.empty() && policy.require_domain)
        return fail(AttestationStatus::domain_mismatch,
                    "token has no d= and tenant " + printable(policy.tenant) + " requires one");
    if (!a.domain.empty() && policy.sender_domain) {
        std::string from = *policy.sender_domain;
        std::transform(from.begin(), from.end(), from.begin(), ascii::lower);
        if (from != a.domain)
            return fail(AttestationStatus::domain_mismatch, "token is for d=" + a.domain +
                                                                ", the From domain is " +
                                                                printable(*policy.sender_domain));
    }

    if (std::find(policy.allowed_bases.begin(), policy.allowed_bases.end(), a.basis) ==
        policy.allowed_bases.end()) {
        std::string allowed;
        for (const auto& basis : policy.allowed_bases)
            allowed += (allowed.empty() ? "" : ", ") + basis;
        return fail(AttestationStatus::basis_not_allowed,
                    "basis " + printable(a.basis) + " is not allowed for tenant " + printable(policy.tenant) +
                        " (allowed: " + (allowed.empty() ? "none" : allowed) + ")");
    }

    result.status = AttestationStatus::ok;
    result.reason = "tenant " + a.tenant + ", list " + a.list_id + ", basis " + a.basis + ", expires " +
                    utc_time(a.expires_at);
    return result;
}

SecretKey& SecretKey::operator=(const SecretKey& other) {
    if (this != &other) {
        wipe();
        m_bytes = other.m_bytes;
    }
    return *this;
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
    if (this != &other) {
        wipe();
        m_bytes = std::move(other.m_bytes);
    }
    return *this;
}

SecretKey::~SecretKey() {
    wipe();
}

void SecretKey::wipe() noexcept {
    if (!m_bytes.empty()) OPENSSL_cleanse(m_bytes.data(), m_bytes.size());
    m_bytes.clear();
}

SecretKey load_key_file(const std::filesystem::path& path) {
    const std::string name = path.string();
    auto fail = [&name](const std::string& why) { return KeyFileError("key file " + name + ": " + why); };

    // O_NONBLOCK: a FIFO in place of the key must not hang the daemon's start; fstat() refuses it.
    int fd;
    do {
        fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) throw fail(std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};

    // Judged on the open descriptor, so the file checked is the file read.
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw fail(std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw fail("not a regular file");
    // A secret: unlike rules, nobody but its owner may even read it.
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    if (st.st_mode & (S_IROTH | S_IWOTH))
        throw fail(std::string("readable or writable by other users (mode ") + mode +
                   "); chmod 0600, or 0640 with a group only presend is in");
    if (const auto why = untrusted_reason(st, GroupWrite::refused); !why.empty()) throw fail(why);
    if (st.st_size > static_cast<off_t>(k_max_key_file_bytes))
        throw fail("larger than " + std::to_string(k_max_key_file_bytes) + " bytes; not a key");

    // One byte more than allowed, to see a file that grew after fstat(). Wiped whatever happens.
    std::vector<unsigned char> content(k_max_key_file_bytes + 1);
    struct Wiper {
        std::vector<unsigned char>& bytes;
        ~Wiper() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
    } wiper{content};
    unsigned char* const buffer = content.data();
    std::size_t size = 0;
    while (size < content.size()) {
        const ssize_t n = ::read(fd, buffer + size, content.size() - size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw fail(std::strerror(errno));
        if (n == 0) break;
        size += static_cast<std::size_t>(n);
    }
    if (size > k_max_key_file_bytes)
        throw fail("larger than " + std::to_string(k_max_key_file_bytes) + " bytes");

    std::string_view text(reinterpret_cast<const char*>(buffer), size);
    std::optional<std::vector<unsigned char>> decoded;
    auto trim_line = [](std::string_view t) {
        while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || ascii::is_wsp(t.back())))
            t.remove_suffix(1);
        return t;
    };
    if (text.starts_with("base64:")) {
        decoded = base64_decode(trim_line(text.substr(7)), k_b64_std, true);
        if (!decoded) throw fail("the text after base64: is not standard padded base64");
    } else if (text.starts_with("hex:")) {
        decoded = hex_decode(trim_line(text.substr(4)));
        if (!decoded) throw fail("the text after hex: is not an even number of hex digits");
    } else {
        decoded.emplace(buffer, buffer + size);
    }
    SecretKey key{std::move(*decoded)};
    if (key.size() < k_min_attestation_key_bytes)
        throw fail("the key is " + std::to_string(key.size()) + " bytes; at least " +
                   std::to_string(k_min_attestation_key_bytes) +
                   " are needed (presend attest keygen makes one)");
    return key;
}

} // namespace presend
