#include "cluster_record.hpp"


namespace nemo {

namespace {
constexpr uint8_t kEnvelopeFormat = 'N';
constexpr uint8_t kEnvelopeVersion = 1;
constexpr std::size_t kEnvelopeHeader = 2 + 8 + 1;
constexpr std::string_view kBindings = "b/", kMrs = "mr/", kMembers = "members/";
} // namespace

std::optional<std::string> cluster_name_problem(std::string_view name)
{
    if (name.empty()) return "is empty";
    if (name.size() > kMaxInstanceName) return "is longer than " + std::to_string(kMaxInstanceName) + " characters";
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok) return "may hold only letters, digits, '.', '_' and '-'";
    }
    return std::nullopt;
}

std::string cluster_prefix(std::string_view cluster) { return "/nemo-ha/" + std::string(cluster) + "/"; }

std::string cluster_binding_key(std::string_view prefix, const Ipv6Addr& hoa)
{
    return std::string(prefix).append(kBindings).append(hoa.str());
}
std::string cluster_mr_key(std::string_view prefix, const Ipv6Addr& hoa) { return std::string(prefix).append(kMrs).append(hoa.str()); }
std::string cluster_member_key(std::string_view prefix, std::string_view instance)
{
    return std::string(prefix).append(kMembers).append(instance);
}

ParsedClusterKey parse_cluster_key(std::string_view prefix, std::string_view key)
{
    ParsedClusterKey k;
    if (key.substr(0, prefix.size()) != prefix) return k;
    key.remove_prefix(prefix.size());
    auto addr = [&](std::string_view rest, ClusterKey kind) {
        if (auto a = Ipv6Addr::parse(rest); a && a->str() == rest) {
            k.kind = kind;
            k.hoa = *a;
        }
    };
    if (key.substr(0, kBindings.size()) == kBindings) addr(key.substr(kBindings.size()), ClusterKey::binding);
    else if (key.substr(0, kMrs.size()) == kMrs) addr(key.substr(kMrs.size()), ClusterKey::mr);
    else if (key.substr(0, kMembers.size()) == kMembers) {
        std::string_view n = key.substr(kMembers.size());
        if (!cluster_name_problem(n)) {
            k.kind = ClusterKey::member;
            k.name = std::string(n);
        }
    }
    return k;
}

std::string encode_cluster_value(uint64_t written_ms, std::string_view origin, std::span<const uint8_t> record)
{
    std::string v;
    const std::size_t n = origin.size() > kMaxInstanceName ? kMaxInstanceName : origin.size();
    v.reserve(kEnvelopeHeader + n + record.size());
    v.push_back(static_cast<char>(kEnvelopeFormat));
    v.push_back(static_cast<char>(kEnvelopeVersion));
    for (int s = 56; s >= 0; s -= 8) v.push_back(static_cast<char>(static_cast<uint8_t>(written_ms >> s)));
    v.push_back(static_cast<char>(n));
    v.append(origin.substr(0, n));
    v.append(reinterpret_cast<const char*>(record.data()), record.size());
    return v;
}

std::optional<ClusterEnvelope> decode_cluster_value(std::string_view v, std::string* why)
{
    auto fail = [&](const char* w) -> std::optional<ClusterEnvelope> {
        if (why) *why = w;
        return std::nullopt;
    };
    if (v.size() < kEnvelopeHeader) return fail("shorter than the envelope");
    if (static_cast<uint8_t>(v[0]) != kEnvelopeFormat) return fail("not a nemo-ha cluster value");
    if (static_cast<uint8_t>(v[1]) != kEnvelopeVersion) return fail("of another envelope version");
    ClusterEnvelope e;
    for (int i = 0; i < 8; ++i) e.written_ms = (e.written_ms << 8) | static_cast<uint8_t>(v[2 + i]);
    const std::size_t n = static_cast<uint8_t>(v[10]);
    if (n > kMaxInstanceName || v.size() < kEnvelopeHeader + n) return fail("origin runs past the value");
    e.origin = std::string(v.substr(kEnvelopeHeader, n));
    if (cluster_name_problem(e.origin)) return fail("origin is not an instance name");
    const std::string_view rec = v.substr(kEnvelopeHeader + n);
    e.record.assign(rec.begin(), rec.end());
    return e;
}

int64_t binding_lease_ttl(uint64_t expires_wall, uint64_t now_wall)
{
    const int64_t ttl = static_cast<int64_t>(expires_wall) - static_cast<int64_t>(now_wall) + 1;
    return ttl < 2 ? 2 : ttl;
}

} // namespace nemo
