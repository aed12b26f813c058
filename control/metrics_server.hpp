// The Prometheus endpoint's HTTP server (libmicrohttpd): GET /metrics answers what `render` returns,
// any other path 404, any other method 405. MHD's internal thread serves every connection (one thread
// polling them all: a scrape is small), a bounded number of them at once, each closed when idle past
// the timeout. `render` runs on that thread: it must read only what is safe to read from there.
//
// The thread is created by start(), so it inherits the caller's CPU affinity: started from the main
// lcore, it never runs on a worker's core.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "config.hpp"

struct MHD_Daemon;

namespace nemo::control {

struct MetricsServerLimits {
    unsigned max_connections = 16; // beyond, new connections are closed at once
    unsigned timeout_s = 10;       // an idle connection (no request, or a slow one) is closed after this
};

class MetricsServer {
public:
    using Render = std::function<std::string()>;
    // Listening when it returns; null with *error ("metrics.listen: 127.0.0.1:9464: Address already in
    // use") when the address cannot be bound or the server not started.
    static std::unique_ptr<MetricsServer> start(const ListenAddress& at, Render render, std::string* error,
                                                MetricsServerLimits limits = {});
    ~MetricsServer(); // stops: connections closed, the thread joined, the socket closed

    uint16_t port() const { return port_; } // the bound port
    uint64_t served() const { return served_.load(std::memory_order_relaxed); }
    uint64_t refused() const { return refused_.load(std::memory_order_relaxed); } // 404 and 405

private:
    explicit MetricsServer(Render render) : render_(std::move(render)) {}
    friend struct MetricsHandler; // metrics_server.cpp: MHD's callback

    Render render_;
    MHD_Daemon* daemon_ = nullptr;
    uint16_t port_ = 0;
    std::atomic<uint64_t> served_{0}, refused_{0};
};

} // namespace nemo::control
