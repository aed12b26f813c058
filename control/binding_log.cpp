#include "binding_log.hpp"

namespace nemo::control {

namespace {

std::string_view event_name(BindingEvent e)
{
    switch (e) {
    case BindingEvent::created: return "created";
    case BindingEvent::moved: return "moved";
    case BindingEvent::refreshed: return "refreshed";
    case BindingEvent::deregistered:
    case BindingEvent::cleared: return "removed";
    case BindingEvent::expired: return "expired";
    }
    return "changed";
}

// "coa=ADDR method=M", and "nat=ADDR:PORT" (the outer source the HA sees) behind a NAT.
void care_of(std::string& s, std::string_view key, const CareOf& c)
{
    s += ' ';
    s += key;
    s += '=';
    if (c.method == TunnelMethod::ipv6) {
        s += c.v6.str();
    } else {
        s += c.v4.str();
        if (c.behind_nat) s += " nat=" + c.peer.str() + ":" + std::to_string(c.peer_port);
    }
}

} // namespace

std::string format_binding_event(BindingEvent e, const Binding& b, const CareOf* before, uint64_t now)
{
    std::string s = "nemo-ha: binding ";
    s += event_name(e);
    s += " hoa=" + b.hoa.str();
    care_of(s, "coa", b.coa);
    s += " method=";
    s += method_name(b.coa.method);
    if (e == BindingEvent::moved && before) {
        care_of(s, "from", *before);
        s += " from_method=";
        s += method_name(before->method);
    }
    switch (e) {
    case BindingEvent::created:
    case BindingEvent::moved:
    case BindingEvent::refreshed: s += " lifetime=" + std::to_string(b.lifetime); break;
    case BindingEvent::deregistered:
    case BindingEvent::cleared:
        s += " remaining=" + std::to_string(b.expires > now ? b.expires - now : 0);
        s += e == BindingEvent::deregistered ? " reason=deregistration" : " reason=operator";
        break;
    case BindingEvent::expired: break;
    }
    s += " seq=" + std::to_string(b.seq);
    if (b.mobile_router) s += " router";
    if (!b.prefixes.empty()) {
        s += " prefixes=";
        for (std::size_t i = 0; i < b.prefixes.size(); ++i) {
            if (i) s += ',';
            s += b.prefixes[i].str();
        }
    }
    return s;
}

std::string format_events_not_logged(uint64_t n)
{
    return "nemo-ha: " + std::to_string(n) + " binding events not logged (over log.binding_events_per_second)";
}

} // namespace nemo::control
