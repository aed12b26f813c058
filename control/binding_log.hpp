// Binding events as log lines (info): created, moved (new care-of address or method), refreshed,
// removed (de-registration, operator), expired; each with the home address, the care-of address (and
// the NAT's address and port when behind one), the method, the lifetime and the sequence number, so that
// the log answers "where was this router at 14:02". Bindings hold no keys; nothing here reads an SA.
// Rate limited: a flood of registrations must not become a flood of log lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "binding.hpp"
#include "reply_limiter.hpp"

namespace nemo::control {

enum class BindingEvent { created, moved, refreshed, deregistered, cleared, expired };

// The event's line, e.g. "nemo-ha: binding created hoa=2001:db8:1::100 coa=198.51.100.10 method=udp
// lifetime=100 seq=1 router prefixes=2001:db8:aaaa::/48". `before`: the care-of address it moved from
// (moved only). `now` on the binding's clock gives the remaining lifetime of what is removed.
std::string format_binding_event(BindingEvent e, const Binding& b, const CareOf* before, uint64_t now);

// log.binding_events_per_second, on the control thread's clock of whole seconds (0: none logged), and
// what it held back, said at most once every kReportSeconds.
class BindingEventLimiter {
public:
    static constexpr uint64_t kReportSeconds = 10;

    // True when an event may be logged at `now`; else it is counted as held back.
    bool take(uint64_t now, uint32_t per_second)
    {
        if (bucket_.take(now, per_second)) return true;
        ++pending_;
        return false;
    }
    // The events held back since the last report, when there are some and the last report is
    // kReportSeconds old (the first one at once).
    std::optional<uint64_t> report_due(uint64_t now)
    {
        if (pending_ == 0 || (reported_ && now < last_report_ + kReportSeconds)) return std::nullopt;
        reported_ = true;
        last_report_ = now;
        const uint64_t n = pending_;
        pending_ = 0;
        return n;
    }

private:
    ReplyLimiter bucket_;
    uint64_t pending_ = 0;
    uint64_t last_report_ = 0;
    bool reported_ = false;
};

// The report's line: "nemo-ha: N binding events not logged (over log.binding_events_per_second)".
std::string format_events_not_logged(uint64_t n);

} // namespace nemo::control
