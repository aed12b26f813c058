#include "dpdk_log.hpp"

#include <rte_log.h>

#include <cstdio>
#include <string>

namespace nemo::dp {

namespace {

// rte_vlog formats a message into the stream and flushes it; a long message may arrive in parts, and a
// message may hold several lines: whole lines are logged, each with the level of the message being
// written (rte_log_cur_msg_loglevel, per thread, as DPDK's own syslog stream reads it).
ssize_t write_dpdk(void*, const char* buf, size_t size)
{
    thread_local std::string pending;
    pending.append(buf, size);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
        if (nl > start) log::write(dpdk_level(rte_log_cur_msg_loglevel()), std::string_view(pending).substr(start, nl - start));
    pending.erase(0, start);
    // A part without its newline waits for the rest, within reason.
    if (pending.size() > 4096) {
        log::write(dpdk_level(rte_log_cur_msg_loglevel()), pending);
        pending.clear();
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
