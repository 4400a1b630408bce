// fuzz_attestation: libFuzzer target for parse_attestation() and verify_attestation(), built and run
// by tests/fuzz/build.sh (clang, ASan + UBSan), never by the main build. Beyond "no crash, no
// sanitizer report, no exception" it checks properties: a value that parses signs back to the same
// fields and then verifies; verify and parse agree on what is malformed; base64url round-trips.
#include "presend/attestation.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

// The key of the seed corpus and of the unit tests' known answers: 00 01 ... 1f.
const std::vector<unsigned char>& fuzz_key() {
    static const std::vector<unsigned char> key = [] {
        std::vector<unsigned char> k(32);
        for (std::size_t i = 0; i < k.size(); ++i)
            k[i] = static_cast<unsigned char>(i);
        return k;
    }();
    return key;
}

void require(bool condition) {
    if (!condition) std::abort();
}

bool same_fields(const presend::Attestation& a, const presend::Attestation& b) {
    return a.version == b.version && a.tenant == b.tenant && a.list_id == b.list_id && a.basis == b.basis &&
           a.domain == b.domain && a.issued_at == b.issued_at && a.expires_at == b.expires_at;
}

bool blank(std::string_view text) {
    return text.find_first_not_of(" \t") == std::string_view::npos;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto parsed = presend::parse_attestation(input);

    presend::AttestationPolicy policy;
    policy.tenant = parsed ? parsed->tenant : "acme";
    policy.keys = {fuzz_key()};
    policy.now = parsed ? parsed->issued_at : 1714564800;
    if (parsed) policy.allowed_bases = {parsed->basis};
    policy.sender_domain = parsed ? parsed->domain : "acme.example";
    const auto result = presend::verify_attestation(input, policy);
    if (blank(input))
        require(result.status == presend::AttestationStatus::missing);
    else if (!parsed)
        require(result.status == presend::AttestationStatus::malformed &&
                result.reason == parsed.error().message);
    else
        require(result.status == presend::AttestationStatus::ok ||
                result.status == presend::AttestationStatus::bad_signature);

    if (parsed) {
        const std::string resigned = presend::sign_attestation(*parsed, fuzz_key());
        require(resigned.size() <= presend::k_max_attestation_bytes);
        const auto again = presend::parse_attestation(resigned);
        require(again && same_fields(*again, *parsed));
        require(presend::verify_attestation(resigned, policy).ok());
        policy.now = parsed->expires_at;
        require(presend::verify_attestation(resigned, policy).status == presend::AttestationStatus::expired);
        if (parsed->issued_at > policy.max_skew) {
            policy.now = parsed->issued_at - policy.max_skew - 1;
            require(presend::verify_attestation(resigned, policy).status ==
                    presend::AttestationStatus::not_yet_valid);
        }
    }

    const std::vector<unsigned char> bytes(data, data + size);
    const auto decoded = presend::base64url_decode(presend::base64url_encode(bytes));
    require(decoded && *decoded == bytes);
    if (const auto raw = presend::base64url_decode(input)) require(presend::base64url_encode(*raw) == input);
    return 0;
}
