// daemon: the supervisor and the worker of `presend serve`. See daemon.hpp for why there are two.
// The supervisor loads config and rules once before forking, so a bad start exits 2 instead of looping;
// it never touches libmilter. The worker pins nothing itself: milter.cpp pins a State per message, and
// the worker's control thread swaps in a new State on reload only when config and rules both load.
#include "daemon/daemon.hpp"

#include "daemon/feedback_follower.hpp"
#include "daemon/logging.hpp"
#include "daemon/metrics_server.hpp"
#include "daemon/milter.hpp"
#include "presend/daemon_metrics.hpp"
#include "daemon/privileges.hpp"
#include "presend/decision_log.hpp"
#include "presend/ruleset.hpp"

#include <libmilter/mfapi.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace presend::daemon {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// SIGTERM to SIGKILL. libmilter's listener only notices a stop when its poll wakes: at the next
// connection or after MI_CHK_TIME (5 s); the supervisor's wake_listener() usually makes that immediate.
// Then the worker waits up to k_drain_timeout for messages in flight.
constexpr auto k_stop_timeout = 10s;
// How long reach_listener() waits for its connection to be established before giving up on it.
constexpr int k_wake_connect_ms = 100;
// How long a stopping worker waits for EOMs in progress, so a verdict is not cut off mid-reply.
constexpr auto k_drain_timeout = 4s;
// A worker that dies this often this fast has a bug or a broken host; restarting forever would only
// hide it from the operator and from systemd.
constexpr int k_max_crashes = 5;
constexpr auto k_crash_window = 60s;
// Wait before restarting, times the crashes in the window: gives a busy host room, stops a hot loop.
constexpr auto k_restart_backoff = 1s;
// A reload that fails lists this many diagnostics on its one log line; the rest are counted.
constexpr std::size_t k_max_reload_diagnostics = 10;

// A rules directory that does not load; what() is the diagnostics, "file:line:col: ...; ...".
struct RulesError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string join_errors(const std::vector<Diagnostic>& diagnostics) {
    std::string out;
    std::size_t shown = 0, errors = 0;
    for (const auto& d : diagnostics) {
        if (d.warning) continue;
        ++errors;
        if (shown == k_max_reload_diagnostics) continue;
        if (!out.empty()) out += "; ";
        out += d.str();
        ++shown;
    }
    if (errors > shown) out += "; and " + std::to_string(errors - shown) + " more";
    if (out.empty()) out = "rules did not load (no diagnostic given)";
    return out;
}

// "2 tenants, attestation on for 1": what the start and reload lines say about tenants.
std::string tenants_summary(const Config& config) {
    const auto keyed = std::count_if(config.tenants.begin(), config.tenants.end(),
                                     [](const Tenant& t) { return !t.keys.empty(); });
    return std::to_string(config.tenants.size()) + " tenants, attestation " +
           (keyed ? "on for " + std::to_string(keyed) : std::string("off"));
}

// Config and rules, or an exception (ConfigError, RulesError) that says why. No side effects but warnings.
// The suppression store is not opened here: the supervisor calls this too, and a store is never used on both
// sides of fork(). The worker adds it with with_suppression().
std::shared_ptr<State> load_state(const DaemonOptions& options) {
    auto state = std::make_shared<State>();
    state->config = effective_config(options);
    LoadResult result = load_rules(state->config.rules_dir, LoadOptions{state->config.cache_dir});
    for (const auto& d : result.diagnostics)
        if (d.warning) spdlog::warn("{}", d.str());
    if (!result.ok()) throw RulesError(join_errors(result.diagnostics));
    if (auto error = check_tenant_rulesets(state->config.tenants, *result.rules); !error.empty())
        throw ConfigError(error);
    state->rules = std::move(result.rules);
    return state;
}

// state with its suppression lookup: old's when the `suppression:` section is unchanged (a rules change does
// not reopen the store), else a new one, opened now. Worker only. Never throws for a store that cannot be
// opened: its recipients get on_store_error until it can (SuppressionCheck).
std::shared_ptr<const State> with_suppression(std::shared_ptr<const State> state, const State* old) {
    const SuppressionConfig& config = state->config.suppression;
    if (config.backend == "none") return state;
    auto next = std::make_shared<State>(*state);
    if (old && old->suppression && old->suppression->config() == config) {
        next->suppression = old->suppression;
    } else {
        next->suppression = std::make_shared<SuppressionCheck>(config);
        next->suppression->open();
    }
    return next;
}

// state with its volume guard: the limits of this config over old's store when the store settings (and state
// file) are unchanged, so a reload keeps the counts; else a new store. Worker only (the memory store's state
// file writer is a thread). Never throws for a store that cannot be opened: its recipients get on_error.
std::shared_ptr<const State> with_rates(std::shared_ptr<const State> state, const State* old) {
    const RatesConfig& config = state->config.rates;
    if (config.backend == "none") return state;
    auto next = std::make_shared<State>(*state);
    std::shared_ptr<RateStoreHandle> handle;
    if (old && old->rates) {
        const RatesConfig& before = old->rates->handle()->config();
        if (before.same_store(config) && before.state_file == config.state_file) handle = old->rates->handle();
    }
    if (!handle) handle = std::make_shared<RateStoreHandle>(config);
    next->rates = std::make_shared<RateCheck>(config, std::move(handle));
    return next;
}

// state with the back-off of the feedback follower, which apply() has already given the new config, and its
// volume guard asking that back-off for each destination group's factor (the store and counts stay).
std::shared_ptr<const State> with_feedback(std::shared_ptr<const State> state, const FeedbackFollower& feedback) {
    auto next = std::make_shared<State>(*state);
    next->backoff = feedback.backoff();
    if (next->rates) next->rates->handle()->set_backoff(next->backoff); // for the state file: who and why
    // The factors are read lock-free on every rate check; the follower publishes each change to them.
    if (auto factors = feedback.factors(); next->rates && factors) {
        next->rates = std::make_shared<RateCheck>(
            next->config.rates, next->rates->handle(),
            [factors](std::string_view group, RateClock::time_point) { return factors->get(group); });
    }
    return next;
}

std::string describe_exit(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        return "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")" +
               (WCOREDUMP(status) ? ", core dumped" : "");
    }
    return "ended with wait status " + std::to_string(status);
}

sigset_t signal_set(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : signals)
        sigaddset(&set, sig);
    return set;
}

// One empty connection to the milter socket spec; true when a listener took it (within k_wake_connect_ms).
// libmilter closes such a connection at its first read, without a session.
bool reach_listener(const std::string& spec) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    const auto colon = spec.find(':');
    const std::string kind = spec.substr(0, colon);
    const std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (kind == "unix" || kind == "local") {
        auto* un = reinterpret_cast<sockaddr_un*>(&addr);
        if (rest.size() >= sizeof un->sun_path) return false;
        un->sun_family = AF_UNIX;
        std::memcpy(un->sun_path, rest.c_str(), rest.size() + 1);
        len = sizeof(sockaddr_un);
    } else if (kind == "inet" || kind == "inet6") {
        const int family = kind == "inet" ? AF_INET : AF_INET6;
        const auto at = rest.find('@');
        const std::string port = rest.substr(0, at);
        std::string host = at == std::string::npos ? "" : rest.substr(at + 1);
        // A wildcard listener is reached on loopback.
        if (host.empty() || host == "0.0.0.0" || host == "::" || host == "*")
            host = family == AF_INET ? "127.0.0.1" : "::1";
        addrinfo hints{};
        hints.ai_family = family;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) return false;
        std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
        len = found->ai_addrlen;
        freeaddrinfo(found);
    } else {
        return false;
    }
    const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool reached = connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0;
    // A unix socket whose backlog is full answers EAGAIN: someone listens there all the same.
    if (!reached && errno == EAGAIN && addr.ss_family == AF_UNIX) reached = true;
    if (!reached && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int error = 0;
        socklen_t size = sizeof error;
        reached = poll(&p, 1, k_wake_connect_ms) == 1 &&
                  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0;
    }
    close(fd);
    return reached;
}

// A stopping libmilter listener sits in poll() until a connection arrives or MI_CHK_TIME passes; one
// empty connection to the milter socket wakes it. Best effort: if this fails the listener still notices
// the stop within MI_CHK_TIME.
void wake_listener(const std::string& spec) {
    reach_listener(spec);
}

// libmilter removes whatever is at a unix socket's path before binding its own (smfi_opensocket(true)), a
// running milter's socket too: a second `presend serve` on the same path would take the MTA's connections
// from the first one and, once stopped, leave a socket nobody listens on while the first still runs, so all
// mail would wait. A socket that takes a connection is in use; one left by a dead worker refuses it.
bool unix_socket_in_use(const std::string& spec) {
    const bool unix_socket = spec.rfind("unix:", 0) == 0 || spec.rfind("local:", 0) == 0;
    return unix_socket && reach_listener(spec);
}

// --- worker ---

// Sigwaits SIGUSR2 (reload) and SIGUSR1 (reopen the decision log) for the worker. Every other thread
// blocks both, so they arrive here only.
class ControlThread {
  public:
    ControlThread(const DaemonOptions& options, StateStore& store, DecisionLog& decisions,
                  FeedbackFollower& feedback)
        : m_options(options), m_store(store), m_decisions(decisions), m_feedback(feedback),
          m_thread([this] { run(); }) {}
    ~ControlThread() { stop(); }
    ControlThread(const ControlThread&) = delete;
    ControlThread& operator=(const ControlThread&) = delete;

    void stop() {
        if (!m_thread.joinable()) return;
        m_stopping = true;
        pthread_kill(m_thread.native_handle(), SIGUSR1); // wakes sigwait; the thread sees m_stopping
        m_thread.join();
    }

  private:
    void run() {
        const sigset_t set = signal_set({SIGUSR1, SIGUSR2});
        while (!m_stopping) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0 || m_stopping) continue;
            try {
                if (sig == SIGUSR2) reload();
                if (sig == SIGUSR1) reopen_decision_log();
            } catch (const std::exception& e) {
                spdlog::error("{} failed: {}", sig == SIGUSR2 ? "reload" : "reopen", e.what());
            }
        }
    }

    void reopen_decision_log() {
        const std::string path = m_decisions.path();
        if (path.empty() || path == "-") return;
        if (m_decisions.reopen())
            spdlog::info("decision log reopened: {}", path);
        else
            spdlog::error("decision log {}: cannot reopen: {}; still writing to the old file", path,
                          std::strerror(errno));
    }

    void reload() {
        const auto old = m_store.current();
        std::shared_ptr<const State> next;
        try {
            next = with_rates(with_suppression(load_state(m_options), old.get()), old.get());
        } catch (const std::exception& e) {
            daemon_metrics().reload(false);
            spdlog::error("reload failed: {}; keeping rules {}", e.what(), old->rules->version);
            return;
        }
        const Config& was = old->config;
        const Config& now = next->config;
        if (now.decision_log != m_decisions.path() && !m_decisions.reopen(now.decision_log)) {
            daemon_metrics().reload(false);
            spdlog::error("reload failed: decision log {}: {}; keeping rules {}", now.decision_log,
                          std::strerror(errno), old->rules->version);
            return;
        }
        if (now.socket != was.socket || now.log_target != was.log_target ||
            now.milter_timeout_s != was.milter_timeout_s || now.metrics.listen != was.metrics.listen ||
            now.user != was.user || now.group != was.group || now.socket_mode != was.socket_mode ||
            now.socket_group != was.socket_group)
            spdlog::warn(
                "socket, user, log target, milter timeout and metrics listen changes take effect at the "
                "next start of presend serve; still {} logging to {}",
                was.socket, was.log_target);
        if (now.log_level != was.log_level) spdlog::set_level(spdlog::level::from_str(now.log_level));
        m_feedback.apply(now.feedback, now.rates.groups); // unchanged: keeps following with the same back-off state
        next = with_feedback(std::move(next), m_feedback);
        m_store.replace(next);
        daemon_metrics().reload(true);
        daemon_metrics().rules_loaded(next->rules->rules.size());
        spdlog::info(
            "reload ok: rules {} ({} rules) from {}, mode {}, pattern databases {} cached / {} compiled, {}",
            next->rules->version, next->rules->rules.size(), next->rules->dir.string(), to_string(now.mode),
            next->rules->databases_from_cache, next->rules->databases_compiled, tenants_summary(now));
    }

    const DaemonOptions& m_options;
    StateStore& m_store;
    DecisionLog& m_decisions;
    FeedbackFollower& m_feedback;
    std::atomic<bool> m_stopping{false};
    std::thread m_thread; // last: started once the members it uses exist
};

[[noreturn]] void worker_exit(int code) {
    spdlog::default_logger()->flush();
    // _exit, not exit: libmilter's session threads may still run (an idle SMTP connection), and static
    // destructors under them would crash the last moments of the process.
    _exit(code);
}

void drain() {
    const auto deadline = Clock::now() + k_drain_timeout;
    while (milter_messages_in_flight() > 0 && Clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    if (const auto left = milter_messages_in_flight(); left > 0)
        spdlog::warn("stopping with {} message(s) still being judged", left);
}

// The /metrics endpoint, when configured. A first worker that cannot bind stops presend, so the operator
// sees it at once; a restarted worker serves mail without metrics rather than not at all.
void start_metrics(const MetricsConfig& config, bool first) {
    if (config.listen.empty()) return;
    try {
        [[maybe_unused]] auto* server =
            new MetricsServer(config); // never destroyed, like the worker's other globals: see worker_exit()
        spdlog::info("metrics on http://{}/metrics", config.listen);
    } catch (const std::exception& e) {
        spdlog::error("{}{}", first ? "cannot start: " : "", e.what());
        if (first) worker_exit(k_exit_config);
    }
}

// The worker process. first: the supervisor's freshly loaded state is current; otherwise (a restart)
// the files are read again, falling back to the supervisor's state if they no longer load.
[[noreturn]] void run_worker(const DaemonOptions& options, std::shared_ptr<const State> state, bool first,
                             pid_t supervisor) {
    // The worker must not outlive the supervisor: SIGTERM stops libmilter cleanly.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != supervisor) worker_exit(k_exit_failure); // the supervisor died before prctl
    // Its own process group: a terminal's ^C or hangup goes to the supervisor alone, which forwards it.
    setpgid(0, 0);
    std::signal(SIGTTOU, SIG_IGN); // a background group may still write its log to the terminal
    // Blocked before any thread exists, so libmilter's threads and the control thread inherit the mask:
    // USR1/USR2 reach only the control thread's sigwait, HUP/TERM/INT only libmilter's.
    const sigset_t blocked = signal_set({SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT});
    pthread_sigmask(SIG_SETMASK, &blocked, nullptr);

    if (!first) {
        try {
            state = load_state(options);
        } catch (const std::exception& e) {
            spdlog::error("worker restart: {}; keeping rules {}", e.what(), state->rules->version);
        }
        setup_logging(state->config.log_target, state->config.log_level);
    }
    state = with_rates(with_suppression(std::move(state), nullptr), nullptr);
    const Config& config = state->config;

    // Neither is ever destroyed: worker_exit() ends the process under libmilter's threads.
    DecisionLog* decisions = nullptr;
    try {
        decisions = new DecisionLog(config.decision_log);
    } catch (const std::exception& e) {
        spdlog::error("cannot start: {}", e.what());
        worker_exit(k_exit_config);
    }
    auto* store = new StateStore(state);
    if (!milter_register(*store, *decisions)) {
        spdlog::error("cannot start: smfi_register failed");
        worker_exit(k_exit_config);
    }
    std::string socket = config.socket;
    if (smfi_setconn(socket.data()) != MI_SUCCESS || smfi_settimeout(config.milter_timeout_s) != MI_SUCCESS) {
        spdlog::error("cannot start: bad socket {}", config.socket);
        worker_exit(k_exit_config);
    }
    if (unix_socket_in_use(config.socket)) {
        spdlog::error("cannot start: {} is in use: another milter listens there", config.socket);
        worker_exit(k_exit_config);
    }
    // true: remove a unix socket left behind by a crashed worker.
    if (smfi_opensocket(true) != MI_SUCCESS) {
        spdlog::error("cannot start: cannot listen on {} (in use, or no permission?)", config.socket);
        worker_exit(k_exit_config);
    }
    start_metrics(config.metrics, first);
    daemon_metrics().rules_loaded(state->rules->rules.size());
    // Bound and open: from here on nothing needs root, and mail is read only after this.
    try {
        apply_socket_permissions(config);
        if (const auto who = resolve_run_as(config)) {
            drop_privileges(*who);
            prctl(PR_SET_PDEATHSIG, SIGTERM); // a change of identity clears it
            if (getppid() != supervisor) worker_exit(k_exit_failure);
            spdlog::info("running as user {} (uid {}, gid {})", who->user, who->uid, who->gid);
        }
    } catch (const std::exception& e) {
        spdlog::error("cannot start: {}", e.what());
        worker_exit(k_exit_config);
    }
    spdlog::info("presend {} listening on {}, mode {}, rules {} version {} ({} rules, pattern databases {} "
                 "cached / {} compiled), {}",
                 PRESEND_VERSION, config.socket, to_string(config.mode), state->rules->dir.string(),
                 state->rules->version, state->rules->rules.size(), state->rules->databases_from_cache,
                 state->rules->databases_compiled, tenants_summary(config));

    // After the drop: the follower reads the log as `user:`, so a log it may not read says so at start.
    auto* feedback = new FeedbackFollower(*decisions); // never destroyed, like the store: see worker_exit()
    feedback->apply(config.feedback, config.rates.groups);
    store->replace(with_feedback(store->current(), *feedback));

    int rc;
    {
        ControlThread control(options, *store, *decisions, *feedback);
        rc = smfi_main();
    }
    feedback->stop();
    drain();
    // The memory store's counts, as they are at the stop, for the next worker (restart) or daemon (start).
    if (const auto last = store->current(); last->rates && last->rates->handle()->config().backend == "memory")
        last->rates->handle()->write_state(RateClock::now());
    spdlog::info("milter stopped");
    worker_exit(rc == MI_SUCCESS ? k_exit_ok : k_exit_failure);
}

// --- supervisor ---

class Supervisor {
  public:
    Supervisor(const DaemonOptions& options, std::shared_ptr<const State> initial)
        : m_options(options), m_initial(std::move(initial)) {}

    int run() {
        const sigset_t waited = signal_set({SIGHUP, SIGUSR1, SIGTERM, SIGINT, SIGCHLD});
        start_worker(true);
        for (;;) {
            if (m_worker < 0 && !m_stopping && Clock::now() >= m_restart_at) start_worker(false);
            if (m_stopping && m_worker < 0) return k_exit_ok;
            if (m_stopping && Clock::now() >= m_stop_deadline) return kill_worker();

            const timespec tick{0, 250'000'000}; // the restart and stop deadlines are checked this often
            siginfo_t info{};
            const int sig = sigtimedwait(&waited, &info, &tick);
            switch (sig) {
            case SIGHUP:
                if (m_worker > 0) {
                    spdlog::info("SIGHUP: reloading config and rules");
                    kill(m_worker, SIGUSR2);
                } else {
                    spdlog::warn("SIGHUP: no worker running; a restarted worker reads the files anyway");
                }
                break;
            case SIGUSR1:
                if (m_worker > 0) kill(m_worker, SIGUSR1);
                break;
            case SIGTERM:
            case SIGINT:
                if (!m_stopping) {
                    spdlog::info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                    m_stopping = true;
                    m_stop_deadline = Clock::now() + k_stop_timeout;
                    if (m_worker > 0) kill(m_worker, SIGTERM);
                }
                break;
            default:
                // SIGCHLD or the tick. A stopping worker's listener may still be asleep in poll().
                if (m_stopping && m_worker > 0) wake_listener(m_initial->config.socket);
                break;
            }
            if (const int rc = reap(); rc >= 0) return rc;
        }
    }

  private:
    void start_worker(bool first) {
        const pid_t supervisor = getpid();
        spdlog::default_logger()->flush();
        const pid_t pid = fork();
        if (pid == 0) {
            try {
                run_worker(m_options, m_initial, first, supervisor);
            } catch (const std::exception& e) {
                spdlog::critical("worker: {}", e.what());
            } catch (...) {
                spdlog::critical("worker: unknown exception");
            }
            worker_exit(k_exit_failure);
        }
        if (pid < 0) {
            spdlog::error("cannot fork the worker: {}", std::strerror(errno));
            note_crash();
            return;
        }
        m_worker = pid;
        spdlog::debug("worker {} started", pid);
    }

    // -1 while the supervisor goes on, else its exit code.
    int reap() {
        if (m_worker < 0) return -1;
        int status = 0;
        const pid_t pid = waitpid(m_worker, &status, WNOHANG);
        if (pid != m_worker) return -1;
        m_worker = -1;
        if (m_stopping) {
            spdlog::info("stopped");
            return k_exit_ok;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == k_exit_config) {
            spdlog::error("worker {} cannot run with this config; giving up", pid);
            return k_exit_config;
        }
        spdlog::error("worker {} {} unexpectedly", pid, describe_exit(status));
        return note_crash() ? -1 : k_exit_failure;
    }

    // Records a crash and sets the restart time; false when there were too many.
    bool note_crash() {
        const auto now = Clock::now();
        m_crashes.push_back(now);
        while (!m_crashes.empty() && now - m_crashes.front() > k_crash_window)
            m_crashes.pop_front();
        if (m_crashes.size() >= static_cast<std::size_t>(k_max_crashes)) {
            spdlog::critical("the worker failed {} times within {} s; giving up", m_crashes.size(),
                             std::chrono::duration_cast<std::chrono::seconds>(k_crash_window).count());
            return false;
        }
        const auto backoff = k_restart_backoff * m_crashes.size();
        m_restart_at = now + backoff;
        spdlog::info("restarting the worker in {} s",
                     std::chrono::duration_cast<std::chrono::seconds>(backoff).count());
        return true;
    }

    int kill_worker() {
        spdlog::warn("worker {} did not stop within {} s; killing it", m_worker,
                     std::chrono::duration_cast<std::chrono::seconds>(k_stop_timeout).count());
        kill(m_worker, SIGKILL);
        int status = 0;
        while (waitpid(m_worker, &status, 0) < 0 && errno == EINTR) {
        }
        return k_exit_ok;
    }

    const DaemonOptions& m_options;
    std::shared_ptr<const State> m_initial; // validated before the first fork; a restart's fallback
    pid_t m_worker = -1;
    bool m_stopping = false;
    Clock::time_point m_stop_deadline;
    Clock::time_point m_restart_at;
    std::deque<Clock::time_point> m_crashes;
};

} // namespace

Config effective_config(const DaemonOptions& options) {
    Config config = options.config_file ? load_config(*options.config_file) : Config{};
    if (options.socket) config.socket = *options.socket;
    if (options.rules_dir) config.rules_dir = *options.rules_dir;
    if (options.mode) config.mode = *options.mode;
    if (options.decision_log) config.decision_log = *options.decision_log;
    if (options.log_level) config.log_level = *options.log_level;
    if (options.user) config.user = *options.user;
    if (config.rules_dir.empty()) config.rules_dir = default_rules_dir();
    return config;
}

} // namespace presend::daemon

namespace presend::daemon {

int run_daemon(const DaemonOptions& options) {
    setup_logging("stderr", options.log_level.value_or("info"));
    std::shared_ptr<const State> initial;
    try {
        initial = load_state(options);
        DecisionLog probe(initial->config.decision_log); // fail here, not in a worker restart loop
        resolve_run_as(initial->config);                // an unknown user fails here, before a fork
    } catch (const std::exception& e) {
        spdlog::error("cannot start: {}", e.what());
        return k_exit_config;
    }
    try {
        setup_logging(initial->config.log_target, initial->config.log_level);
    } catch (const std::exception& e) {
        spdlog::error("cannot start: logging to {}: {}", initial->config.log_target, e.what());
        return k_exit_config;
    }

    // Blocked for good in the supervisor: it only ever sigwaits. SIGUSR2 is the worker's; here it is
    // blocked and never waited for, so a stray one does nothing. The worker sets its own mask first thing.
    const sigset_t blocked = signal_set({SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGCHLD});
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
    std::signal(SIGPIPE, SIG_IGN); // a closed log pipe must not kill the supervisor
    spdlog::info("supervisor started; SIGHUP reloads, SIGUSR1 reopens the decision log");
    warn_if_root(initial->config);
    Supervisor supervisor(options, std::move(initial));
    return supervisor.run();
}

} // namespace presend::daemon
