// attestation: consent attestation tokens (docs/attestation.md): parse, sign (HMAC-SHA256), verify.
// The sending platform signs one token per bulk message with the tenant's key; inspect() verifies the
// X-Consent-Attestation header against the tenant the message came from; `presend attest` signs and
// verifies offline. Pure functions over strings and key bytes: no message, no config, no logging.
// Limits: k_max_attestation_bytes per header value, field lengths in docs/attestation.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

// The longest header value we parse. The longest valid token is 579 bytes (docs/attestation.md); the
// rest is room for folding whitespace. Anything longer is not a token and is not worth scanning.
inline constexpr std::size_t k_max_attestation_bytes = 768;
inline constexpr std::size_t k_attestation_sig_bytes = 32;     // HMAC-SHA256
inline constexpr std::size_t k_min_attestation_key_bytes = 32; // as long as the hash: no weaker than it
inline constexpr std::int64_t k_default_attestation_skew_s = 300;
inline constexpr std::string_view k_attestation_header = "X-Consent-Attestation";

// The bases the format names; a tenant's allowed_bases may also name others of the same shape.
inline constexpr std::array<std::string_view, 4> k_known_bases = {"opt-in", "double-opt-in",
                                                                  "existing-customer", "verified"};

struct Attestation {
    int version = 1;
    std::string tenant;          // t=
    std::string list_id;         // l=
    std::string basis;           // b=
    std::string domain;          // d=, lowercase; empty when the token is not bound to a From domain
    std::int64_t issued_at = 0;  // iat=, Unix seconds
    std::int64_t expires_at = 0; // exp=, Unix seconds, first second at which the token is invalid
    std::array<unsigned char, k_attestation_sig_bytes> signature{}; // sig=, set by parse_attestation()
};

// Why a header value is not a token. The message of a ParseError names the field; it never
// repeats the signature and quotes other values only escaped and shortened.
enum class ParseErrorCode {
    empty,
    too_long,
    not_ascii, // bytes outside printable ASCII, SP and HTAB (CR, LF and NUL included)
    syntax,    // no "name=value", empty name
    unknown_field,
    duplicate_field,
    missing_field,
    out_of_order,
    bad_value, // a value outside its field's characters or length
    unsupported_version,
    bad_base64,
    bad_times, // exp not after iat
};

struct ParseError {
    ParseErrorCode code = ParseErrorCode::syntax;
    std::string message;
};

// An Attestation or the reason there is none.
class ParseResult {
  public:
    ParseResult(Attestation value) : m_value(std::move(value)) {}
    ParseResult(ParseError error) : m_error(std::move(error)) {}

    bool ok() const { return m_value.has_value(); }
    explicit operator bool() const { return ok(); }
    const Attestation& value() const { return m_value.value(); } // throws std::bad_optional_access on error
    const Attestation& operator*() const { return value(); }
    const Attestation* operator->() const { return &value(); }
    const ParseError& error() const { return m_error; }

  private:
    std::optional<Attestation> m_value;
    ParseError m_error;
};

// Parses one header value (unfolded: the caller removes CRLF, as ParsedMessage::raw_value does).
// Checks syntax, field characters and lengths, never the signature.
ParseResult parse_attestation(std::string_view header);

// The signed bytes: "v=1;t=..;l=..;b=..[;d=..];iat=..;exp=..". Throws std::invalid_argument when a
// field is invalid.
std::string canonical_attestation(const Attestation& attestation);

// The header value "v=1; t=..; ...; sig=<base64url>" for attestation signed with key (its signature
// member is ignored). Throws std::invalid_argument when a field is invalid or the key is short.
std::string sign_attestation(const Attestation& attestation, std::span<const unsigned char> key);

enum class AttestationStatus {
    ok,
    missing,
    malformed,
    bad_signature,
    expired,
    not_yet_valid,
    tenant_mismatch,
    basis_not_allowed,
    domain_mismatch, // d= is not the message's From domain, or the tenant requires d= and there is none
};

std::string_view to_string(AttestationStatus status); // "bad_signature"
std::string_view rule_id(AttestationStatus status);   // "consent-bad-signature"; "" for ok

struct AttestationPolicy {
    std::string tenant;
    // The tenant's keys, current first; a second one while a rotation is under way. Owned by the caller
    // (the pinned config); a token is valid under any of them.
    std::vector<std::span<const unsigned char>> keys;
    std::vector<std::string> allowed_bases{k_known_bases.begin(), k_known_bases.end()};
    std::optional<std::int64_t> now;                      // Unix seconds; unset: the system clock
    std::int64_t max_skew = k_default_attestation_skew_s; // how far iat may lie in the future
    // The message's From domain, compared with d= (case-insensitively). Unset: d= is not checked
    // (offline verification without a message); set but empty: a token with d= fails.
    std::optional<std::string> sender_domain;
    bool require_domain = false; // a token without d= fails with domain_mismatch
};

struct AttestationResult {
    AttestationStatus status = AttestationStatus::missing;
    std::string reason;                     // for the decision log and the CLI; never key or signature
    std::optional<Attestation> attestation; // the parsed token, whenever it parsed
    bool ok() const { return status == AttestationStatus::ok; }
};

// Verifies one header value. Empty or blank is missing: the caller passes "" when the header is
// absent, and treats a repeated header as malformed itself. Checks, in order: syntax (malformed),
// tenant, signature, iat and exp, d=, basis, so every claim after the tenant is judged only once the
// signature holds. The signature is compared in constant time. Throws (std::runtime_error) only when
// OpenSSL itself fails: a fault of the host, for on_error, never a verdict on the message.
AttestationResult verify_attestation(std::string_view header, const AttestationPolicy& policy);

// Constant-time equality of two signatures (CRYPTO_memcmp); false when the sizes differ.
bool signatures_equal(std::span<const unsigned char> a, std::span<const unsigned char> b);

// Key bytes, wiped (OPENSSL_cleanse) when destroyed. Deliberately not printable.
class SecretKey {
  public:
    SecretKey() = default;
    explicit SecretKey(std::vector<unsigned char> bytes) : m_bytes(std::move(bytes)) {}
    SecretKey(const SecretKey& other) = default;
    SecretKey(SecretKey&& other) noexcept = default;
    SecretKey& operator=(const SecretKey& other);
    SecretKey& operator=(SecretKey&& other) noexcept;
    ~SecretKey();

    std::span<const unsigned char> bytes() const { return m_bytes; }
    std::size_t size() const { return m_bytes.size(); }

  private:
    void wipe() noexcept;
    std::vector<unsigned char> m_bytes;
};

struct KeyFileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Reads a key file: the raw bytes, or one line "base64:<standard base64>" or "hex:<hex digits>".
// Refuses (KeyFileError, naming the file and the fix) a file that is not a regular file, is readable by
// others, writable by group or others, owned by anyone but root or the effective user, over 4 KiB, or
// holding a key shorter than k_min_attestation_key_bytes.
SecretKey load_key_file(const std::filesystem::path& path);

// Field checks of the format, for config validation too.
bool valid_tenant_id(std::string_view tenant); // [a-z0-9][a-z0-9._-]{0,63}
bool valid_list_id(std::string_view list_id);  // [A-Za-z0-9._:/+@-]{1,128}
bool valid_basis(std::string_view basis);      // [a-z][a-z0-9-]{0,31}
bool valid_domain(std::string_view domain);    // lowercase LDH labels, dot-separated, at most 253

// base64url without padding (RFC 4648 §5). Decoding is strict: no padding, no whitespace, and the
// unused low bits of the last character must be zero, so each byte string has one spelling.
std::string base64url_encode(std::span<const unsigned char> bytes);
std::optional<std::vector<unsigned char>> base64url_decode(std::string_view text);

} // namespace presend
