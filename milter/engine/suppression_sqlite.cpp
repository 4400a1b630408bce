// suppression_sqlite: the embedded SuppressionStore, one SQLite file in WAL mode, so the daemon's lookups
// never wait for `presend suppress import` and the other way round. A small pool of connections, each used
// by one thread at a time (SQLITE_OPEN_NOMUTEX: the pool is the lock), each with its prepared lookups.
// find() is one statement of at most four primary-key probes, stopping at the first live entry.
// The file is the one at the path now: a list rebuilt elsewhere and renamed over it, or a file removed and
// made again by `presend suppress add`, is read within k_file_check_interval, and while no file is there the
// lookups fail (on_store_error) instead of answering from the unlinked one the pooled connections still hold.
#include "engine/suppression_backends.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

namespace presend::detail {

namespace {

constexpr int k_schema_version = 1;
constexpr int k_application_id = 0x70727364; // "prsd": tells a presend database from any other SQLite file

// A lookup runs at RCPT TO, so it waits at most this long for a lock. WAL readers almost never wait at all
// (only while another connection recovers the WAL after a crash).
constexpr int k_lookup_busy_ms = 200;
// Edits and imports wait this long for the daemon's checkpoint or another writer, rather than fail.
constexpr int k_write_busy_ms = 10000;
// Idle connections kept for the next caller (libmilter runs one thread per MTA connection); more concurrent
// callers than this open and close their own. Each costs its statements and a small page cache.
constexpr std::size_t k_max_idle_connections = 32;
// Lookups read pages through a memory map of the file (shared by every connection, no copy per read). A
// million entries take about 150 MB, so this covers some seven million; pages past it are read with pread().
constexpr sqlite3_int64 k_mmap_bytes = 1ll << 30;
// A connection's lookups share one read transaction for up to this long, then start a fresh one: beginning a
// WAL read costs two fcntl() locks, a third of a lookup. So lookups see a change made by another process (the
// CLI) at most this late; a change made through the same store ends every snapshot at once (m_writes).
constexpr auto k_snapshot_max_age = std::chrono::milliseconds(100);
// A batch reports progress after this many entries.
constexpr std::size_t k_progress_every = 10000;
// How often a lease asks which file the path names (one stat(): nothing beside a lookup). Pooled connections
// keep the file they opened even once it is unlinked, and would answer from a stale list for ever.
constexpr auto k_file_check_interval = std::chrono::seconds(1);

using DbPtr = std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

constexpr const char* k_schema = R"sql(
CREATE TABLE IF NOT EXISTS suppression (
    key     TEXT NOT NULL,             -- normalised address, or a whole domain (no '@')
    scope   TEXT NOT NULL DEFAULT '',  -- '' global, else a tenant id
    reason  TEXT NOT NULL,             -- hard_bounce | complaint | unsubscribe | manual
    source  TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL,          -- unix seconds
    expires INTEGER,                   -- unix seconds; NULL: never
    PRIMARY KEY (key, scope)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS suppression_by_scope ON suppression (scope, key);
)sql";

// Address before domain, global before tenant; LIMIT 1 stops at the first live entry.
constexpr const char* k_find_global = R"sql(
SELECT key, scope, reason, source, created, expires FROM suppression
 WHERE key = ?1 AND scope = '' AND (expires IS NULL OR expires > ?4)
UNION ALL
SELECT key, scope, reason, source, created, expires FROM suppression
 WHERE key = ?2 AND scope = '' AND (expires IS NULL OR expires > ?4)
LIMIT 1
)sql";

constexpr const char* k_find_tenant = R"sql(
SELECT key, scope, reason, source, created, expires FROM suppression
 WHERE key = ?1 AND scope = '' AND (expires IS NULL OR expires > ?4)
UNION ALL
SELECT key, scope, reason, source, created, expires FROM suppression
 WHERE key = ?1 AND scope = ?3 AND (expires IS NULL OR expires > ?4)
UNION ALL
SELECT key, scope, reason, source, created, expires FROM suppression
 WHERE key = ?2 AND scope = '' AND (expires IS NULL OR expires > ?4)
UNION ALL
SELECT key, scope, reason, source, created, expires FROM suppression
 WHERE key = ?2 AND scope = ?3 AND (expires IS NULL OR expires > ?4)
LIMIT 1
)sql";

struct Connection {
    DbPtr db{nullptr, sqlite3_close_v2};
    StmtPtr find_global{nullptr, sqlite3_finalize};
    StmtPtr find_tenant{nullptr, sqlite3_finalize};
    StmtPtr get{nullptr, sqlite3_finalize};
    StmtPtr insert{nullptr, sqlite3_finalize};
    StmtPtr update{nullptr, sqlite3_finalize};
    StmtPtr begin{nullptr, sqlite3_finalize};
    StmtPtr commit{nullptr, sqlite3_finalize};
    // Statements are finalized before the connection closes (members are destroyed in reverse order).
    std::uint64_t file_generation = 0; // the store's m_file_generation when this connection was opened
    bool in_snapshot = false;          // a read transaction is open for the lookups (see k_snapshot_max_age)
    std::chrono::steady_clock::time_point snapshot_started;
    std::uint64_t snapshot_writes = 0; // the store's m_writes when the snapshot began
};

std::string text_column(sqlite3_stmt* stmt, int column) {
    const auto* text = sqlite3_column_text(stmt, column);
    return text ? std::string(reinterpret_cast<const char*>(text),
                              static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)))
                : std::string();
}

// Columns: key, scope, reason, source, created, expires.
SuppressionEntry entry_from_row(sqlite3_stmt* stmt) {
    SuppressionEntry entry;
    entry.address_or_domain = text_column(stmt, 0);
    entry.is_domain = entry.address_or_domain.find('@') == std::string::npos;
    entry.scope = text_column(stmt, 1);
    entry.reason = parse_suppression_reason(text_column(stmt, 2)).value_or(SuppressionReason::manual);
    entry.source = text_column(stmt, 3);
    entry.created = sqlite3_column_int64(stmt, 4);
    if (sqlite3_column_type(stmt, 5) != SQLITE_NULL) entry.expires = sqlite3_column_int64(stmt, 5);
    return entry;
}

void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
    sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

void bind_expires(sqlite3_stmt* stmt, int index, const std::optional<std::int64_t>& expires) {
    if (expires)
        sqlite3_bind_int64(stmt, index, *expires);
    else
        sqlite3_bind_null(stmt, index);
}

// Resets a prepared statement however the scope is left: a statement left mid-step would pin its read.
struct StmtUse {
    sqlite3_stmt* stmt;
    explicit StmtUse(sqlite3_stmt* s) : stmt(s) {}
    ~StmtUse() {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    StmtUse(const StmtUse&) = delete;
    StmtUse& operator=(const StmtUse&) = delete;
};

class SqliteStore final : public SuppressionStore {
  public:
    explicit SqliteStore(std::string path) : m_path(std::move(path)) {
        // The schema is made once here, by a connection closed right after: no connection is held after open,
        // so a store made before fork() stays usable in the child. Only this one may create the file.
        auto connection = connect(SQLITE_OPEN_CREATE);
        exec(*connection, "PRAGMA journal_mode=WAL");
        const int version = pragma_int(*connection, "PRAGMA user_version");
        const int app = pragma_int(*connection, "PRAGMA application_id");
        if (app != 0 && app != k_application_id)
            throw StoreError(prefix() + "not a presend suppression database (application_id " +
                             std::to_string(app) + ")");
        if (version > k_schema_version)
            throw StoreError(prefix() + "schema version " + std::to_string(version) +
                             " is newer than this presend (" + std::to_string(k_schema_version) + ")");
        sqlite3_busy_timeout(connection->db.get(), k_write_busy_ms);
        exec(*connection, "BEGIN IMMEDIATE");
        try {
            exec(*connection, k_schema);
            exec(*connection, "PRAGMA user_version=" + std::to_string(k_schema_version));
            exec(*connection, "PRAGMA application_id=" + std::to_string(k_application_id));
            exec(*connection, "COMMIT");
        } catch (...) {
            sqlite3_exec(connection->db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
        if (struct stat st{}; ::stat(m_path.c_str(), &st) == 0) m_file = FileId{st.st_dev, st.st_ino};
    }

    std::string describe() const override { return "sqlite:" + m_path; }

  protected:
    std::optional<SuppressionEntry> do_find(const Probe& probe, std::int64_t now) const override {
        Lease lease(*this, false);
        lease.snapshot();
        sqlite3_stmt* stmt = probe.tenant.empty() ? lease->find_global.get() : lease->find_tenant.get();
        StmtUse use(stmt);
        bind_text(stmt, 1, probe.address);
        bind_text(stmt, 2, probe.domain);
        if (!probe.tenant.empty()) bind_text(stmt, 3, probe.tenant);
        sqlite3_bind_int64(stmt, 4, now);
        const int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE) return std::nullopt;
        if (rc != SQLITE_ROW) lease.fail("lookup");
        return entry_from_row(stmt);
    }

    AddOutcome do_add(const SuppressionEntry& entry, std::int64_t now) override {
        Lease lease(*this, true);
        lease.fresh();
        Transaction transaction(lease);
        const auto outcome = upsert(lease, entry, now);
        transaction.commit();
        m_writes.fetch_add(1, std::memory_order_release);
        return outcome;
    }

    BatchResult do_add_batch(const std::vector<SuppressionEntry>& entries, std::int64_t now,
                             const BatchProgress& progress) override {
        // The entries come sorted by key and scope (add_batch), so the B-tree is written front to back.
        Lease lease(*this, true);
        lease.fresh();
        Transaction transaction(lease);
        BatchResult result;
        for (std::size_t i = 0; i < entries.size(); ++i) {
            switch (upsert(lease, entries[i], now)) {
            case AddOutcome::added:
                ++result.added;
                break;
            case AddOutcome::updated:
                ++result.updated;
                break;
            case AddOutcome::unchanged:
                ++result.unchanged;
                break;
            }
            if (progress && (i + 1) % k_progress_every == 0) progress(i + 1);
        }
        transaction.commit();
        m_writes.fetch_add(1, std::memory_order_release);
        if (progress) progress(entries.size());
        return result;
    }

    bool do_remove(const std::string& key, const std::string& scope) override {
        Lease lease(*this, true);
        lease.fresh();
        auto stmt = lease.prepare("DELETE FROM suppression WHERE key = ?1 AND scope = ?2");
        bind_text(stmt.get(), 1, key);
        bind_text(stmt.get(), 2, scope);
        if (sqlite3_step(stmt.get()) != SQLITE_DONE) lease.fail("remove");
        m_writes.fetch_add(1, std::memory_order_release);
        return sqlite3_changes(lease->db.get()) > 0;
    }

    std::vector<SuppressionEntry> do_list(const std::optional<std::string>& scope, std::size_t limit,
                                          std::int64_t now) const override {
        Lease lease(*this, false);
        lease.fresh();
        auto stmt =
            lease.prepare(scope ? "SELECT key, scope, reason, source, created, expires FROM suppression "
                                  "WHERE scope = ?3 AND (expires IS NULL OR expires > ?1) "
                                  "ORDER BY scope, key LIMIT ?2"
                                : "SELECT key, scope, reason, source, created, expires FROM suppression "
                                  "WHERE expires IS NULL OR expires > ?1 ORDER BY scope, key LIMIT ?2");
        sqlite3_bind_int64(stmt.get(), 1, now);
        sqlite3_bind_int64(stmt.get(), 2, limit == 0 ? -1 : static_cast<sqlite3_int64>(limit));
        if (scope) bind_text(stmt.get(), 3, *scope);
        std::vector<SuppressionEntry> out;
        int rc;
        while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW)
            out.push_back(entry_from_row(stmt.get()));
        if (rc != SQLITE_DONE) lease.fail("list");
        return out;
    }

    std::size_t do_count(std::int64_t now) const override {
        Lease lease(*this, false);
        lease.fresh();
        auto stmt = lease.prepare("SELECT count(*) FROM suppression WHERE expires IS NULL OR expires > ?1");
        sqlite3_bind_int64(stmt.get(), 1, now);
        if (sqlite3_step(stmt.get()) != SQLITE_ROW) lease.fail("count");
        return static_cast<std::size_t>(sqlite3_column_int64(stmt.get(), 0));
    }

  private:
    std::string prefix() const { return "sqlite " + m_path + ": "; }

    [[noreturn]] void fail(const Connection& connection, const std::string& what) const {
        throw StoreError(prefix() + what + ": " + sqlite3_errmsg(connection.db.get()));
    }

    void exec(const Connection& connection, const std::string& sql) const {
        char* error = nullptr;
        if (sqlite3_exec(connection.db.get(), sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
            std::string message = error ? error : sqlite3_errmsg(connection.db.get());
            sqlite3_free(error);
            throw StoreError(prefix() + message);
        }
    }

    int pragma_int(const Connection& connection, const char* sql) const {
        auto stmt = prepare(connection, sql, 0);
        if (sqlite3_step(stmt.get()) != SQLITE_ROW) fail(connection, sql);
        return sqlite3_column_int(stmt.get(), 0);
    }

    StmtPtr prepare(const Connection& connection, const char* sql, unsigned flags) const {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v3(connection.db.get(), sql, -1, flags, &stmt, nullptr) != SQLITE_OK)
            fail(connection, "prepare");
        return StmtPtr(stmt, sqlite3_finalize);
    }

    // create: SQLITE_OPEN_CREATE or 0. A lease never creates: a file removed under the daemon must not come
    // back empty, without its schema, by a lookup.
    std::unique_ptr<Connection> connect(int create = 0) const {
        auto connection = std::make_unique<Connection>();
        {
            // Read before the open: a file renamed over the path in between makes this connection stale,
            // never the other way round.
            std::lock_guard lock(m_mutex);
            connection->file_generation = m_file_generation;
        }
        sqlite3* db = nullptr;
        const int rc = sqlite3_open_v2(m_path.c_str(), &db,
                                       SQLITE_OPEN_READWRITE | create | SQLITE_OPEN_NOMUTEX, nullptr);
        connection->db.reset(db); // closed even when the open failed
        if (rc != SQLITE_OK) {
            throw StoreError(prefix() + "cannot open: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
        }
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, k_lookup_busy_ms);
        // WAL + NORMAL: durable across a crash of presend; a power cut may lose the last transactions (an
        // import is re-run, a lost single add is re-added).
        exec(*connection, "PRAGMA synchronous=NORMAL");
        exec(*connection, "PRAGMA mmap_size=" + std::to_string(k_mmap_bytes));
        return connection;
    }

    // The lookups are prepared on first use: the schema must exist first, which the constructor sees to.
    void prepare_lookups(Connection& connection) const {
        if (connection.find_global) return;
        connection.find_global = prepare(connection, k_find_global, SQLITE_PREPARE_PERSISTENT);
        connection.find_tenant = prepare(connection, k_find_tenant, SQLITE_PREPARE_PERSISTENT);
        connection.get = prepare(connection,
                                 "SELECT reason, source, created, expires FROM suppression "
                                 "WHERE key = ?1 AND scope = ?2",
                                 SQLITE_PREPARE_PERSISTENT);
        connection.insert =
            prepare(connection,
                    "INSERT OR REPLACE INTO suppression (key, scope, reason, source, created, expires) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    SQLITE_PREPARE_PERSISTENT);
        connection.update = prepare(connection,
                                    "UPDATE suppression SET reason = ?3, source = ?4, expires = ?5 "
                                    "WHERE key = ?1 AND scope = ?2",
                                    SQLITE_PREPARE_PERSISTENT);
        connection.begin = prepare(connection, "BEGIN", SQLITE_PREPARE_PERSISTENT);
        connection.commit = prepare(connection, "COMMIT", SQLITE_PREPARE_PERSISTENT);
    }

    // Ends the lookups' read transaction, so the connection sees the latest data and may write.
    void end_snapshot(Connection& connection) const {
        if (!connection.in_snapshot) return;
        connection.in_snapshot = false;
        StmtUse use(connection.commit.get());
        if (sqlite3_step(connection.commit.get()) != SQLITE_DONE) fail(connection, "end of read transaction");
    }

    // One pooled connection for one call. A connection that failed is closed rather than pooled again.
    class Lease {
      public:
        Lease(const SqliteStore& store, bool write) : m_store(store), m_write(write) {
            store.check_file();
            {
                std::lock_guard lock(store.m_mutex);
                if (!store.m_idle.empty()) {
                    m_connection = std::move(store.m_idle.back());
                    store.m_idle.pop_back();
                }
            }
            if (!m_connection) m_connection = store.connect();
            store.prepare_lookups(*m_connection);
        }
        ~Lease() {
            if (m_broken) return; // m_connection closes with its statements
            if (m_write) sqlite3_busy_timeout(m_connection->db.get(), k_lookup_busy_ms);
            std::lock_guard lock(m_store.m_mutex);
            // A connection to a file that has been replaced since is closed, not pooled again.
            if (m_store.m_idle.size() < k_max_idle_connections &&
                m_connection->file_generation == m_store.m_file_generation)
                m_store.m_idle.push_back(std::move(m_connection));
        }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;

        // For lookups: the connection's read transaction, renewed when older than k_snapshot_max_age.
        void snapshot() {
            auto& c = *m_connection;
            const auto now = std::chrono::steady_clock::now();
            // Read before BEGIN, so a write that lands in between makes the next lookup renew once more.
            const auto writes = m_store.m_writes.load(std::memory_order_acquire);
            if (c.in_snapshot && now - c.snapshot_started < k_snapshot_max_age && c.snapshot_writes == writes)
                return;
            m_broken = true; // until the snapshot is in place: a failure here closes the connection
            m_store.end_snapshot(c);
            StmtUse use(c.begin.get());
            if (sqlite3_step(c.begin.get()) != SQLITE_DONE) m_store.fail(c, "begin read transaction");
            c.in_snapshot = true;
            c.snapshot_started = now;
            c.snapshot_writes = writes;
            m_broken = false;
        }

        // For everything but lookups: no read transaction left open, and the write wait when writing.
        void fresh() {
            m_broken = true;
            m_store.end_snapshot(*m_connection);
            m_broken = false;
            if (m_write) sqlite3_busy_timeout(m_connection->db.get(), k_write_busy_ms);
        }

        Connection* operator->() const { return m_connection.get(); }
        Connection& connection() const { return *m_connection; }
        StmtPtr prepare(const char* sql) const { return m_store.prepare(*m_connection, sql, 0); }
        void exec(const char* sql) const { m_store.exec(*m_connection, sql); }

        // Throws StoreError; the connection is closed when the lease ends (after the statements and the
        // transaction that use it are reset), not pooled again.
        [[noreturn]] void fail(const std::string& what) {
            m_broken = true;
            throw StoreError(m_store.prefix() + what + ": " + sqlite3_errmsg(m_connection->db.get()));
        }

      private:
        const SqliteStore& m_store;
        bool m_write;
        bool m_broken = false;
        std::unique_ptr<Connection> m_connection;
    };

    class Transaction {
      public:
        explicit Transaction(Lease& lease) : m_lease(lease) { lease.exec("BEGIN IMMEDIATE"); }
        ~Transaction() {
            if (!m_done) sqlite3_exec(m_lease->db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
        }
        Transaction(const Transaction&) = delete;
        Transaction& operator=(const Transaction&) = delete;
        void commit() {
            m_lease.exec("COMMIT");
            m_done = true;
        }

      private:
        Lease& m_lease;
        bool m_done = false;
    };

    AddOutcome upsert(Lease& lease, const SuppressionEntry& entry, std::int64_t now) {
        bool present = false, same = false;
        {
            sqlite3_stmt* get = lease->get.get();
            StmtUse use(get);
            bind_text(get, 1, entry.address_or_domain);
            bind_text(get, 2, entry.scope);
            const int rc = sqlite3_step(get);
            if (rc == SQLITE_ROW) {
                std::optional<std::int64_t> expires;
                if (sqlite3_column_type(get, 3) != SQLITE_NULL) expires = sqlite3_column_int64(get, 3);
                present = !expires || *expires > now; // an expired entry is gone: re-adding it is an add
                same = text_column(get, 0) == to_string(entry.reason) &&
                       text_column(get, 1) == entry.source && expires == entry.expires;
            } else if (rc != SQLITE_DONE) {
                lease.fail("read before write");
            }
        }
        if (present && same) return AddOutcome::unchanged;
        sqlite3_stmt* stmt = present ? lease->update.get() : lease->insert.get();
        StmtUse use(stmt);
        const std::string reason(to_string(entry.reason));
        bind_text(stmt, 1, entry.address_or_domain);
        bind_text(stmt, 2, entry.scope);
        bind_text(stmt, 3, reason);
        bind_text(stmt, 4, entry.source);
        if (present) {
            bind_expires(stmt, 5, entry.expires);
        } else {
            sqlite3_bind_int64(stmt, 5, entry.created);
            bind_expires(stmt, 6, entry.expires);
        }
        if (sqlite3_step(stmt) != SQLITE_DONE) lease.fail("write");
        return present ? AddOutcome::updated : AddOutcome::added;
    }

    // Which file the path names, at most every k_file_check_interval. Throws StoreError while there is none;
    // when another file has taken the name, the pooled connections (to the old one) are closed and leased
    // ones are not pooled again, so the next lookups open the new file.
    void check_file() const {
        std::vector<std::unique_ptr<Connection>> stale; // closed after the lock is released
        std::lock_guard lock(m_mutex);
        const auto now = std::chrono::steady_clock::now();
        if (now >= m_next_file_check) {
            m_next_file_check = now + k_file_check_interval;
            struct stat st {};
            const bool there = ::stat(m_path.c_str(), &st) == 0;
            const FileId file = there ? FileId{st.st_dev, st.st_ino} : FileId{};
            m_file_error = there ? "" : prefix() + "the file is gone: " + std::strerror(errno);
            if (file != m_file) {
                m_file = file;
                ++m_file_generation;
                stale.swap(m_idle);
            }
        }
        if (!m_file_error.empty()) throw StoreError(m_file_error);
    }

    struct FileId {
        dev_t dev = 0;
        ino_t ino = 0;
        bool operator==(const FileId&) const = default;
    };

    std::string m_path;
    mutable std::mutex m_mutex; // guards m_idle and the file's identity below, never held during SQL
    mutable std::vector<std::unique_ptr<Connection>> m_idle;
    mutable FileId m_file;                       // the file the pooled connections have open
    mutable std::uint64_t m_file_generation = 0; // moves on each time another file takes the name
    mutable std::chrono::steady_clock::time_point m_next_file_check{};
    mutable std::string m_file_error;       // while the path names no file
    std::atomic<std::uint64_t> m_writes{0}; // writes committed through this store (see k_snapshot_max_age)
};

} // namespace

std::unique_ptr<SuppressionStore> open_sqlite_suppression_store(const SuppressionConfig& config) {
    auto store = std::make_unique<SqliteStore>(config.path.string());
    return store;
}

} // namespace presend::detail
