#include "service_notify.hpp"
#include "log.hpp"

#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nemo::control {

namespace {

uint64_t now_us()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

std::string seconds_text(uint64_t us)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(us) / 1e6);
    return buf;
}

} // namespace

ServiceNotify::ServiceNotify()
{
    const char* sock = std::getenv("NOTIFY_SOCKET");
    active_ = sock && *sock;
    if (!active_) return;
    uint64_t usec = 0;
    // > 0: a watchdog for this process (WATCHDOG_PID, when set, names us); 0: none; < 0: a bad value.
    const int wd = sd_watchdog_enabled(0, &usec);
    if (wd > 0 && usec > 0) {
        watchdog_usec_ = usec;
        feed_every_us_ = watchdog_feed_every_us(usec);
        stall_after_us_ = watchdog_stall_after_us(usec);
    } else if (wd < 0) {
        log::printf(log::Level::warning, "nemo-ha: WATCHDOG_USEC: %s; no watchdog", std::strerror(-wd));
    }
    status("starting: EAL, ports, state store");
}

void ServiceNotify::notify(const std::string& message)
{
    if (!active_) return;
    // 0 = keep NOTIFY_SOCKET in the environment: every later message goes to the same socket.
    const int rc = sd_notify(0, message.c_str());
    if (rc < 0 && !send_failed_) {
        send_failed_ = true; // said once: a service manager that went away is not news every turn
        log::printf(log::Level::warning, "nemo-ha: cannot notify the service manager (NOTIFY_SOCKET): %s", std::strerror(-rc));
    }
}

void ServiceNotify::status(const std::string& text) { notify("STATUS=" + text); }

void ServiceNotify::ready(const std::string& text, std::vector<Heartbeat> workers)
{
    if (!active_) return;
    ready_status_ = text;
    notify("READY=1\nSTATUS=" + text);
    if (watchdog_usec_ == 0) return;
    workers_ = std::move(workers);
    beats_.assign(workers_.size(), 0);
    state_ = {};
    watching_ = true;
    tick(); // the first sample starts the workers' clocks, and the first feed goes out with READY
}

void ServiceNotify::tick()
{
    if (!watching_) return;
    const uint64_t now = now_us();
    for (std::size_t w = 0; w < workers_.size(); ++w) beats_[w] = workers_[w].counter->load(std::memory_order_relaxed);
    const WatchdogVerdict v = watchdog_decide(state_, beats_, now, stall_after_us_);
    if (!v.feed) {
        if (!withheld_ || withheld_for_ != *v.stalled) {
            withheld_ = true;
            withheld_for_ = *v.stalled;
            const std::string what = "WATCHDOG WITHHELD: " + workers_[*v.stalled].name + " has made no progress for " +
                                     seconds_text(v.stalled_for_us) +
                                     (v.stalled_workers > 1 ? " (" + std::to_string(v.stalled_workers) + " workers stalled)" : "");
            log::printf(log::Level::err, "nemo-ha: %s", what.c_str());
            status(what);
        }
        return;
    }
    if (withheld_) {
        withheld_ = false;
        log::printf(log::Level::notice, "nemo-ha: watchdog fed again: %s is making progress", workers_[withheld_for_].name.c_str());
        status(ready_status_);
        last_feed_us_ = 0; // feed at once: the last one may be almost an interval old
    }
    if (last_feed_us_ == 0 || now - last_feed_us_ >= feed_every_us_) {
        notify("WATCHDOG=1");
        last_feed_us_ = now;
    }
}

void ServiceNotify::stopping(const std::string& text)
{
    watching_ = false;
    notify("STOPPING=1\nSTATUS=" + text);
}

} // namespace nemo::control
