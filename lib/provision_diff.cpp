#include "provision_diff.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace nemo {

SaDigest sa_digest(const SaConfig& sa, std::span<const KeyId> keys)
{
    SaDigest d;
    d.spi = sa.spi;
    d.inbound = sa.inbound;
    d.hoa = sa.hoa;
    d.algorithm = sa.algorithm;
    d.esn = sa.esn;
    d.window = sa.window;
    d.life_bytes = sa.life_bytes;
    d.life_packets = sa.life_packets;
    d.keys.assign(keys.begin(), keys.end());
    return d;
}

bool same_provision(const MrProvision& a, const MrProvision& b)
{
    if (a.hoa != b.hoa || a.mobile_router != b.mobile_router || a.methods != b.methods) return false;
    // The order prefixes were written in does not matter.
    std::vector<Prefix6> pa = a.prefixes, pb = b.prefixes;
    std::sort(pa.begin(), pa.end());
    std::sort(pb.begin(), pb.end());
    return pa == pb;
}

MrChangeSet diff_provisioning(const std::vector<MrProvision>& before, const std::vector<MrProvision>& after)
{
    std::map<Ipv6Addr, const MrProvision*> old_by, new_by;
    for (const auto& m : before) old_by[m.hoa] = &m;
    for (const auto& m : after) new_by[m.hoa] = &m;
    MrChangeSet d;
    for (const auto& [hoa, m] : new_by) {
        auto it = old_by.find(hoa);
        if (it == old_by.end()) d.added.push_back(*m);
        else if (same_provision(*it->second, *m)) ++d.unchanged;
        else d.changed.push_back(*m);
    }
    for (const auto& [hoa, m] : old_by)
        if (!new_by.count(hoa)) d.removed.push_back(hoa);
    return d;
}

SaChangeSet diff_sas(const std::vector<SaDigest>& before, const std::vector<SaDigest>& after)
{
    std::map<uint32_t, const SaDigest*> old_by, new_by;
    for (const auto& s : before) old_by[s.spi] = &s;
    for (const auto& s : after) new_by[s.spi] = &s;
    SaChangeSet d;
    for (const auto& [spi, s] : new_by) {
        auto it = old_by.find(spi);
        if (it == old_by.end()) d.added.push_back(spi);
        else if (*it->second == *s) ++d.unchanged;
        else d.changed.push_back(spi);
    }
    for (const auto& [spi, s] : old_by)
        if (!new_by.count(spi)) d.removed.push_back(spi);
    return d;
}

std::string sa_change_error(const SaDigest& a, const SaDigest& b)
{
    std::vector<std::string> what;
    if (a.inbound != b.inbound) what.push_back("direction");
    if (a.hoa != b.hoa) what.push_back("home address");
    if (a.algorithm != b.algorithm) what.push_back("algorithm");
    if (a.keys != b.keys) what.push_back("keys");
    if (a.esn != b.esn) what.push_back("esn");
    if (a.window != b.window) what.push_back("window");
    if (a.life_bytes != b.life_bytes || a.life_packets != b.life_packets) what.push_back("lifetime");
    std::string list;
    for (std::size_t i = 0; i < what.size(); ++i) list += (i ? ", " : "") + what[i];
    char spi[16];
    std::snprintf(spi, sizeof spi, "0x%x", a.spi);
    return std::string("SA ") + spi + " changes (" + list +
           ") under the same SPI: an SPI names one SA, and replacing it in place would restart its sequence "
           "numbers; give the new SA a new SPI (and drop the old line), or use del sa and add sa";
}

bool binding_fits(const Binding& b, const MrProvision& mr, MethodSet ha_methods)
{
    if (b.mobile_router && !mr.mobile_router) return false;
    const MethodSet allowed = mr.methods ? static_cast<MethodSet>(mr.methods & ha_methods) : ha_methods;
    if (!has_method(allowed, b.coa.method)) return false;
    return std::all_of(b.prefixes.begin(), b.prefixes.end(), [&](const Prefix6& p) {
        return std::any_of(mr.prefixes.begin(), mr.prefixes.end(), [&](const Prefix6& a) { return a.contains(p); });
    });
}

} // namespace nemo
