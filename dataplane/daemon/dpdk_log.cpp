#include "dpdk_log.hpp"

#include <rte_log.h>

#include <cstdio>
#include <string>

namespace nemo::dp {

namespace {

// rte_vlog formats a message into the stream and flushes it; a long message may arrive in parts, and a
// message may hold several lines: whole lines are logged, each with the level of the message being
// written (rte_log_cur_msg_loglevel, per thread, as DPDK's own syslog stream reads it). Empty lines are
// not logged.
ssize_t write_dpdk(void*, const char* buf, size_t size)
{
    // A plain buffer, not a std::string: trivially destructible, so it is still there when DPDK logs
    // from a destructor that runs after exit() has destroyed this thread's thread_local objects.
    thread_local char pending[4096];
    thread_local std::size_t held = 0;
    const log::Level level = dpdk_level(rte_log_cur_msg_loglevel());
    for (std::size_t i = 0; i < size; ++i) {
        if (buf[i] == '\n') {
            if (held) log::write(level, std::string_view(pending, held));
            held = 0;
            continue;
        }
        // A part without its newline waits for the rest, within reason: a full buffer is a line.
        if (held == sizeof pending) {
            log::write(level, std::string_view(pending, held));
            held = 0;
        }
        pending[held++] = buf[i];
    }
    return static_cast<ssize_t>(size);
}

} // namespace

log::Level dpdk_level(int rte_level)
{
    switch (rte_level) {
    case RTE_LOG_EMERG:
    case RTE_LOG_ALERT:
    case RTE_LOG_CRIT:
    case RTE_LOG_ERR: return log::Level::err;
    case RTE_LOG_WARNING: return log::Level::warning;
    case RTE_LOG_NOTICE: return log::Level::notice;
    case RTE_LOG_DEBUG: return log::Level::debug;
    default: return log::Level::info;
    }
}

bool route_dpdk_log()
{
    cookie_io_functions_t io{};
    io.write = write_dpdk;
    FILE* f = fopencookie(nullptr, "w", io);
    if (!f) return false;
    // Unbuffered: each vfprintf reaches write_dpdk while its level is the thread's current one.
    std::setvbuf(f, nullptr, _IONBF, 0);
    return rte_openlog_stream(f) == 0; // never closed: DPDK may log until the process ends
}

} // namespace nemo::dp
