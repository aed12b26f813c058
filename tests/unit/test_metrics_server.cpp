// control/metrics_server: libmicrohttpd on loopback, spoken to over plain sockets.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <new>
#include <chrono>
#include <string>
#include <thread>

#include "config.hpp"
#include "metrics_server.hpp"

using namespace nemo;
using namespace nemo::control;

namespace {

ListenAddress loopback(uint16_t port)
{
    return std::get<ListenAddress>(parse_listen_address("127.0.0.1:" + std::to_string(port)));
}

// A free port on loopback (the kernel's choice, released at once).
uint16_t free_port()
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

int connect_to(uint16_t port, int family = AF_INET)
{
    const int fd = socket(family, SOCK_STREAM, 0);
    int rc;
    if (family == AF_INET6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Reads until the peer closes or `timeout_ms` passes.
std::string read_all(int fd, int timeout_ms = 3000)
{
    std::string out;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

std::string request(uint16_t port, const std::string& req, int family = AF_INET)
{
    const int fd = connect_to(port, family);
    if (fd < 0) return "(no connection)";
    EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    std::string r = read_all(fd);
    close(fd);
    return r;
}

// True when the peer closed `fd` within `timeout_ms` (a read returns 0 or an error).
bool closed_by_peer(int fd, int timeout_ms)
{
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char c;
    return read(fd, &c, 1) <= 0;
}

std::size_t open_fds()
{
    std::size_t n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (readdir(d)) ++n;
        closedir(d);
    }
    return n;
}

} // namespace

TEST(MetricsServer, ServesGetMetricsOnly)
{
    std::atomic<int> renders{0};
    std::string err;
    auto s = MetricsServer::start(loopback(free_port()), [&] {
        ++renders;
        return std::string("# HELP x_total h\n# TYPE x_total counter\nx_total 7\n");
    }, &err);
    ASSERT_TRUE(s) << err;
    const std::string ok = request(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
    EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"), std::string::npos) << ok;
    EXPECT_NE(ok.find("\r\n\r\n# HELP x_total h\n# TYPE x_total counter\nx_total 7\n"), std::string::npos) << ok;
    EXPECT_EQ(renders.load(), 1);

    const std::string head = request(s->port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_EQ(head.find("x_total 7"), std::string::npos) << "HEAD has no body";

    for (const char* path : {"/", "/metrics/", "/metricsx", "/favicon.ico"}) {
        const std::string r = request(s->port(), std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        EXPECT_EQ(r.rfind("HTTP/1.1 404", 0), 0u) << path << ": " << r;
        EXPECT_EQ(r.find("x_total"), std::string::npos);
    }
    const std::string post = request(s->port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
    EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;
    const std::string del = request(s->port(), "DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(del.rfind("HTTP/1.1 405", 0), 0u) << del;
    const std::string junk = request(s->port(), "\x01\x02 nonsense\r\n\r\n");
    EXPECT_EQ(junk.find("HTTP/1.1 200"), std::string::npos) << "garbage is not answered with the metrics";
    EXPECT_EQ(renders.load(), 2) << "only GET and HEAD /metrics render";
    EXPECT_EQ(s->served(), 2u);
    EXPECT_GE(s->refused(), 6u);
}

// A render that throws (out of memory) is a 500, not an exception unwound through libmicrohttpd's C
// frames (std::terminate); the next scrape is served.
TEST(MetricsServer, ARenderThatThrowsIsA500AndTheServerGoesOn)
{
    std::atomic<int> renders{0};
    std::string err;
    auto s = MetricsServer::start(loopback(free_port()), [&]() -> std::string {
        if (++renders == 1) throw std::bad_alloc();
        return "# HELP x_total h\n# TYPE x_total counter\nx_total 1\n";
    }, &err);
    ASSERT_TRUE(s) << err;
    const std::string failed = request(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(failed.rfind("HTTP/1.1 500", 0), 0u) << failed;
    const std::string ok = request(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
    EXPECT_EQ(renders.load(), 2);
}

TEST(MetricsServer, AddressInUseIsAClearStartError)
{
    std::string err;
    auto first = MetricsServer::start(loopback(free_port()), [] { return std::string(); }, &err);
    ASSERT_TRUE(first) << err;
    const uint16_t port = first->port();
    auto second = MetricsServer::start(loopback(port), [] { return std::string(); }, &err);
    EXPECT_FALSE(second);
    EXPECT_EQ(err, "metrics.listen: 127.0.0.1:" + std::to_string(port) + ": cannot listen: Address already in use");
    // An address this machine does not have.
    err.clear();
    EXPECT_FALSE(MetricsServer::start(std::get<ListenAddress>(parse_listen_address("192.0.2.77:9464")), [] { return std::string(); }, &err));
    EXPECT_NE(err.find("192.0.2.77:9464: cannot listen: Cannot assign requested address"), std::string::npos) << err;
}

TEST(MetricsServer, StopClosesEverythingAndThePortCanBeTakenAgain)
{
    const uint16_t port = free_port();
    const std::size_t fds = open_fds();
    for (int round = 0; round < 3; ++round) {
        std::string err;
        auto s = MetricsServer::start(loopback(port), [] { return std::string("# TYPE x gauge\nx 1\n"); }, &err);
        ASSERT_TRUE(s) << round << ": " << err;
        const int idle = connect_to(port); // a connection still open at the stop
        ASSERT_GE(idle, 0);
        EXPECT_NE(request(port, "GET /metrics HTTP/1.0\r\n\r\n").find("\r\n\r\n# TYPE x gauge\nx 1\n"), std::string::npos);
        s.reset();
        EXPECT_TRUE(closed_by_peer(idle, 2000)) << "the stop closes open connections";
        close(idle);
        EXPECT_LT(connect_to(port), 0) << "nobody listens after the stop";
    }
    EXPECT_EQ(open_fds(), fds) << "no socket left behind";
}

TEST(MetricsServer, BoundedConnectionsAndIdleTimeout)
{
    std::string err;
    auto s = MetricsServer::start(loopback(free_port()), [] { return std::string("x 1\n"); }, &err, {.max_connections = 3, .timeout_s = 1});
    ASSERT_TRUE(s) << err;
    int held[3];
    for (int& fd : held) {
        fd = connect_to(s->port());
        ASSERT_GE(fd, 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // MHD has accepted them
    // At the limit MHD accepts no more: a fourth connection waits in the kernel's queue, unanswered.
    const int extra = connect_to(s->port());
    ASSERT_GE(extra, 0);
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(write(extra, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    pollfd p{extra, POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 500), 0) << "a fourth connection beyond the limit of 3 is not served";
    // The idle ones go after the timeout (1 s); then the waiting one is served.
    const auto t0 = std::chrono::steady_clock::now();
    for (int fd : held) {
        EXPECT_TRUE(closed_by_peer(fd, 4000)) << "an idle connection is closed after the timeout";
        close(fd);
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(waited, 3.5);
    const std::string late = read_all(extra);
    close(extra);
    EXPECT_EQ(late.rfind("HTTP/1.1 200", 0), 0u) << late;
    const std::string r = request(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
}

TEST(MetricsServer, Ipv6Loopback)
{
    std::string err;
    auto s = MetricsServer::start(std::get<ListenAddress>(parse_listen_address("[::1]:" + std::to_string(free_port()))),
                                  [] { return std::string("x 1\n"); }, &err);
    if (!s && err.find("Cannot assign requested address") != std::string::npos) GTEST_SKIP() << "no IPv6 loopback here: " << err;
    ASSERT_TRUE(s) << err;
    const std::string r = request(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", AF_INET6);
    EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
    EXPECT_EQ(request(s->port(), "GET /metrics HTTP/1.0\r\n\r\n", AF_INET), "(no connection)") << "[::1] is IPv6 only";
}
