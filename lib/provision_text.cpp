#include "provision_text.hpp"

#include <sstream>

#include "ike_policy.hpp"
#include "words.hpp"

namespace nemo {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep)
{
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t end = s.find(sep, start);
        if (end == std::string_view::npos) end = s.size();
        out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

} // namespace

std::variant<MrProvision, std::string> parse_provision(std::string_view line)
{
    auto w = split_words(line);
    if (w.empty()) return std::string("empty: expected 'HOA [router|host] [prefixes=...] [methods=...] [ike-id=ID]'");
    MrProvision mr;
    auto hoa = Ipv6Addr::parse(w[0]);
    if (!hoa || !hoa->is_routable_unicast()) return "'" + std::string(w[0]) + "' is not a unicast IPv6 home address";
    mr.hoa = *hoa;
    bool seen_kind = false, seen_prefixes = false, seen_methods = false, seen_ike = false;
    for (std::size_t i = 1; i < w.size(); ++i) {
        std::string_view word = w[i];
        if (word == "router" || word == "host") {
            if (seen_kind) return std::string("'router' or 'host' given twice");
            seen_kind = true;
            mr.mobile_router = word == "router";
        } else if (word.starts_with("prefixes=")) {
            if (seen_prefixes) return std::string("prefixes= given twice");
            seen_prefixes = true;
            for (auto p : split(word.substr(9), ',')) {
                auto pfx = Prefix6::parse(p);
                if (!pfx || pfx->len == 0) return "'" + std::string(p) + "' is not an IPv6 prefix (ADDR/LEN, host bits zero)";
                for (const Prefix6& other : mr.prefixes)
                    if (other.overlaps(*pfx)) return "prefixes " + other.str() + " and " + pfx->str() + " overlap";
                mr.prefixes.push_back(*pfx);
            }
        } else if (word.starts_with("methods=")) {
            if (seen_methods) return std::string("methods= given twice");
            seen_methods = true;
            for (auto m : split(word.substr(8), ',')) {
                auto method = method_from_name(m);
                if (!method) return "'" + std::string(m) + "' is not a method (ipv6, ipip, gre, udp, esp, esp-udp)";
                mr.methods |= method_bit(*method);
            }
        } else if (word.starts_with("ike-id=")) {
            if (seen_ike) return std::string("ike-id= given twice");
            seen_ike = true;
            auto id = ike::canonical_id(word.substr(7));
            if (!id) return "'" + std::string(word.substr(7)) + "' is not an IKE identity (fqdn:NAME, email:ADDR, ip:ADDR, keyid:HEX)";
            mr.ike_id = *id;
        } else {
            return "unexpected '" + std::string(word) + "': expected router, host, prefixes=, methods= or ike-id=";
        }
    }
    if (!mr.mobile_router && !mr.prefixes.empty()) return std::string("a host has no mobile network prefixes");
    return mr;
}

std::string format_methods(MethodSet set)
{
    if (set == 0) return "any";
    std::string out;
    for (int i = 0; i < kTunnelMethodCount; ++i) {
        if (!has_method(set, static_cast<TunnelMethod>(i))) continue;
        if (!out.empty()) out += ',';
        out += method_name(static_cast<TunnelMethod>(i));
    }
    return out;
}

std::string format_provision(const MrProvision& mr)
{
    std::ostringstream o;
    o << mr.hoa.str() << (mr.mobile_router ? " router" : " host");
    if (!mr.prefixes.empty()) {
        o << " prefixes=";
        for (std::size_t i = 0; i < mr.prefixes.size(); ++i) o << (i ? "," : "") << mr.prefixes[i].str();
    }
    if (mr.methods) o << " methods=" << format_methods(mr.methods);
    if (!mr.ike_id.empty()) o << " ike-id=" << mr.ike_id;
    return o.str();
}

} // namespace nemo
