// redis_fixture: a private redis-server for the store tests (suppression, rates): loopback only, a free
// port, nothing on disk, killed with the object. Tests skip the Redis part with a warning when redis-server is
// not installed (RedisServer::available()).
#pragma once

#include <catch2/catch.hpp>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace presend::test {

constexpr auto k_redis_start_timeout =
    std::chrono::seconds(5); // redis-server listens in ~10 ms; CI can be slow

inline std::string find_redis_server() {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
        const std::string path = std::string(dir) + "/redis-server";
        if (::access(path.c_str(), X_OK) == 0) return path;
    }
    return {};
}

inline int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

inline bool redis_answers(int port) {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, timeval{0, 200000});
    bool ok = false;
    if (c && !c->err) {
        redisSetTimeout(c, timeval{0, 200000});
        if (auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"))) {
            ok = reply->type == REDIS_REPLY_STATUS;
            freeReplyObject(reply);
        }
    }
    if (c) redisFree(c);
    return ok;
}

// A private redis-server: loopback only, no persistence, killed with the object.
class RedisServer {
  public:
    explicit RedisServer(std::filesystem::path dir) : m_dir(std::move(dir)), m_port(free_loopback_port()) {
        start();
    }
    ~RedisServer() { kill(); }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    static bool available() { return !find_redis_server().empty(); }
    int port() const { return m_port; }

    void start() {
        const std::string binary = find_redis_server();
        const std::string port = std::to_string(m_port);
        const std::string dir = m_dir.string();
        const std::string log = (m_dir / "redis.log").string();
        std::vector<std::string> args{binary, "--port", port, "--bind", "127.0.0.1"};
        args.insert(args.end(), {"--save", "", "--appendonly", "no", "--daemonize", "no"}); // nothing on disk
        args.insert(args.end(), {"--dir", dir, "--logfile", log});
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        REQUIRE(posix_spawn(&m_pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
        const auto deadline = std::chrono::steady_clock::now() + k_redis_start_timeout;
        while (!redis_answers(m_port)) {
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    void kill() {
        if (m_pid <= 0) return;
        ::kill(m_pid, SIGCONT); // a stopped server must be able to die
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, nullptr, 0);
        m_pid = -1;
    }
    void pause() { ::kill(m_pid, SIGSTOP); }
    void resume() { ::kill(m_pid, SIGCONT); }

  private:
    std::filesystem::path m_dir;
    int m_port;
    pid_t m_pid = -1;
};

} // namespace presend::test
