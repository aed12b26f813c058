// nemo-ha as a systemd service (Type=notify, sd_notify(3) through libsystemd): STATUS= lines while it
// starts, READY=1 once the ports forward, WATCHDOG=1 from the control loop while every worker makes
// progress (lib/watchdog_policy), STOPPING=1 on the way out. Outside systemd (no NOTIFY_SOCKET) every
// call does nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "watchdog_policy.hpp"

namespace nemo::control {

// A worker's heartbeat: bumped by the worker once per poll turn, read here with relaxed loads.
struct Heartbeat {
    std::string name; // for STATUS= and the log: "worker 0 (lcore 1)" (DPDK 22.11 names its thread rte-worker-1)
    const std::atomic<uint64_t>* counter = nullptr;
};

class ServiceNotify {
public:
    // Reads the environment systemd gives (NOTIFY_SOCKET; WATCHDOG_USEC and WATCHDOG_PID through
    // sd_watchdog_enabled) and says "starting" when there is a service manager to tell.
    ServiceNotify();

    bool active() const { return active_; }
    uint64_t watchdog_usec() const { return watchdog_usec_; } // 0: no watchdog

    void status(const std::string& text);
    // READY=1 with `text` as STATUS=; from now on tick() watches `workers` and feeds the watchdog.
    void ready(const std::string& text, std::vector<Heartbeat> workers);
    // Once per control-loop turn: cheap (a clock read and one load per worker) and silent unless a
    // feed is due or the verdict changes. A stalled worker withholds WATCHDOG=1 (systemd then stops
    // and, with Restart=on-failure, restarts nemo-ha) and is named in STATUS= and on stderr.
    void tick();
    void stopping(const std::string& text = "stopping");

private:
    void notify(const std::string& message);

    bool active_ = false;
    uint64_t watchdog_usec_ = 0;
    uint64_t feed_every_us_ = 0;
    uint64_t stall_after_us_ = 0;
    uint64_t last_feed_us_ = 0;
    bool watching_ = false;
    bool withheld_ = false;
    std::size_t withheld_for_ = 0; // the worker named while withheld
    bool send_failed_ = false;
    std::string ready_status_;
    std::vector<Heartbeat> workers_;
    std::vector<uint64_t> beats_;
    WatchdogState state_;
};

} // namespace nemo::control
