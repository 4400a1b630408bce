// suppression: recipients that must never be mailed again (hard bounces, complaints, unsubscribes, manual
// blocks). The milter asks find() at RCPT TO; `presend suppress` manages the list. Two stores behind one
// interface: SQLite (one host, engine/suppression_sqlite.cpp) and Redis (a fleet,
// engine/suppression_redis.cpp). Every call is thread-safe and bounded in time; a store that cannot answer
// throws StoreError, never hangs. Standard library only. See docs/suppression.md.
#pragma once

#include "presend/store.hpp"
#include "presend/verdict.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace presend {

// Why a recipient is suppressed. The order carries no precedence: a newer entry replaces an older one.
enum class SuppressionReason { hard_bounce, complaint, unsubscribe, manual };

std::string_view to_string(SuppressionReason reason);
// "hard_bounce" or "hard-bounce", "complaint", "unsubscribe", "manual"; case-insensitive.
std::optional<SuppressionReason> parse_suppression_reason(std::string_view text);

struct SuppressionEntry {
    using Reason = SuppressionReason;

    std::string address_or_domain; // normalised: "user@example.com", or a whole domain "example.com"
    bool is_domain = false;        // set by the store from the key: a key without '@' is a whole domain
    Reason reason = Reason::manual;
    std::string source;       // free text: who or what added it ("postfix dsn=5.1.1 queue=...", "cli")
    std::int64_t created = 0; // unix seconds; 0 on add means now. An update keeps the first value.
    std::string scope;        // "" = global (every tenant), else one tenant's id
    std::optional<std::int64_t> expires; // unix seconds; none = never. An expired entry never matches.
};

bool operator==(const SuppressionEntry& a, const SuppressionEntry& b);

// Normalisation, applied to every key stored and every recipient looked up: trim blanks, strip one pair of
// angle brackets, drop a trailing dot of the domain, then lower-case the whole address (ASCII letters only;
// UTF-8 bytes are kept as they are). RFC 5321 lets a receiving host treat local parts case-sensitively, but
// no mailbox provider does, and a bounce recorded for "John@x" must block "john@x": a case-sensitive list
// lets suppressed recipients through, which is the failure that costs reputation. Sub-addresses ("user+tag")
// and Gmail dots are kept: whether they reach the same mailbox is the provider's business.
//
// Returns "user@example.com", or nullopt when text is not an address (no '@', an empty part, control
// characters, longer than k_max_address_length).
std::optional<std::string> normalize_address(std::string_view text);

// An address or a whole domain ("example.com" or "@example.com"): the key and whether it is a domain.
struct SuppressionKey {
    std::string key;
    bool is_domain = false;
};
std::optional<SuppressionKey> normalize_suppression_key(std::string_view text);

// Tenant ids: 1 to 128 of A-Z a-z 0-9 . _ - @ + = /. ("" is the global scope and always valid.)
bool valid_suppression_scope(std::string_view scope);

constexpr std::size_t k_max_address_length = 320; // 64 + '@' + 255: the RFC 5321 maxima; longer is not mail

// Why, in one line for people and logs:
// "hard_bounce (address entry, global, since 2024-11-27T06:30:07Z, expires never, source \"cli\")".
std::string explain(const SuppressionEntry& entry);

// "2024-11-27T06:30:07Z"
std::string format_utc(std::int64_t unix_seconds);

std::int64_t unix_now();

enum class AddOutcome { added, updated, unchanged };

// What add_batch did. An existing live entry with the same reason, source and expiry is unchanged (so a
// re-import adds nothing); one that differs is updated (its created time is kept). Within one batch only the
// last entry for a key counts; the earlier ones are duplicates.
struct BatchResult {
    std::size_t added = 0;
    std::size_t updated = 0;
    std::size_t unchanged = 0;
    std::size_t duplicates = 0;
};

// Called now and then during add_batch with the number of entries written so far.
using BatchProgress = std::function<void(std::size_t done)>;

class SuppressionStore {
  public:
    virtual ~SuppressionStore() = default;
    SuppressionStore() = default;
    SuppressionStore(const SuppressionStore&) = delete;
    SuppressionStore& operator=(const SuppressionStore&) = delete;

    // The RCPT TO lookup: the exact address, then its whole domain; global entries before the tenant's own.
    // tenant "" checks global entries only. A recipient that is not an address (e.g. "<>") is never
    // suppressed. Throws StoreError; never blocks longer than the store's timeout (see docs/suppression.md).
    std::optional<SuppressionEntry> find(std::string_view recipient, std::string_view tenant) const;
    // find() as of time now (unix seconds): entries with expires <= now do not match.
    std::optional<SuppressionEntry> find_at(std::string_view recipient, std::string_view tenant,
                                            std::int64_t now) const;

    // Insert or replace one entry (key normalised here). Throws std::invalid_argument for a key that is not
    // an address or domain, a bad scope, or an expiry already past; StoreError on I/O.
    AddOutcome add(const SuppressionEntry& entry);
    // Many entries in one transaction (SQLite) or pipelined (Redis); validated like add() before any write.
    BatchResult add_batch(std::vector<SuppressionEntry> entries, const BatchProgress& progress = {});
    // Removes the entry for exactly this key and scope; false when there was none.
    bool remove(std::string_view address_or_domain, std::string_view scope);
    // Live entries, ordered by scope then key. scope nullopt: every scope; "" the global ones. limit 0: all.
    std::vector<SuppressionEntry> list(const std::optional<std::string>& scope, std::size_t limit) const;
    // Live entries in every scope.
    std::size_t count() const;

    // "sqlite:/var/lib/presend/suppression.db" or "redis://127.0.0.1:6379/0", for logs and messages.
    virtual std::string describe() const = 0;

  protected:
    // Keys to try, already normalised; in the order find() prefers them.
    struct Probe {
        std::string address;
        std::string domain;
        std::string tenant;
    };
    virtual std::optional<SuppressionEntry> do_find(const Probe& probe, std::int64_t now) const = 0;
    virtual AddOutcome do_add(const SuppressionEntry& entry, std::int64_t now) = 0;
    // entries: checked, one per key and scope, sorted by key then scope.
    virtual BatchResult do_add_batch(const std::vector<SuppressionEntry>& entries, std::int64_t now,
                                     const BatchProgress& progress) = 0;
    virtual bool do_remove(const std::string& key, const std::string& scope) = 0;
    virtual std::vector<SuppressionEntry> do_list(const std::optional<std::string>& scope, std::size_t limit,
                                                  std::int64_t now) const = 0;
    virtual std::size_t do_count(std::int64_t now) const = 0;
};

struct SuppressionConfig {
    std::string backend = "none"; // "sqlite" | "redis" | "none" (no lookups); a `suppression:` section
                                  // without a backend key means sqlite
    // sqlite: the file; its directory must be writable (WAL keeps -wal and -shm files beside it)
    std::filesystem::path path = "/var/lib/presend/suppression.db";
    RedisSettings redis; // backend redis: the server and its timeout
    // When the store cannot answer: tempfail (the client retries) or accept (mail flows unchecked).
    Action on_store_error = Action::tempfail;

    // The daemon reopens its store on reload only when this changed.
    bool operator==(const SuppressionConfig&) const = default;
};

// Opens the configured store; nullptr for backend "none". SQLite: creates the file and schema, throws
// StoreError when it cannot (bad path, not a presend database). Redis: connects lazily, so a Redis that is
// down at start makes lookups fail (on_store_error), not the start. No connection is held after open, so a
// store opened before fork() may be used in the child; never in both.
std::unique_ptr<SuppressionStore> open_suppression_store(const SuppressionConfig& config);

// "sqlite:PATH" or "redis://HOST[:PORT][/DB]" → a config for that store (the rest default). Throws
// std::invalid_argument naming what is wrong.
SuppressionConfig parse_store_spec(std::string_view spec);

} // namespace presend
