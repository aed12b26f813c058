#include "provisioning.hpp"

#include <variant>

#include "key_material.hpp"
#include "provision_text.hpp"

namespace nemo::control {

namespace {
// The last address inside a prefix.
Ipv6Addr last_of(const Prefix6& p)
{
    Ipv6Addr a = p.addr;
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned bits_before = i * 8;
        if (p.len >= bits_before + 8) continue;
        const unsigned host_bits = p.len <= bits_before ? 8 : 8 - (p.len - bits_before);
        a.bytes[i] |= static_cast<uint8_t>((1u << host_bits) - 1);
    }
    return a;
}
} // namespace

std::optional<std::string> ProvisioningStore::check_prefixes(const MrProvision& mr) const
{
    for (const Prefix6& p : mr.prefixes) {
        // Stored prefixes are disjoint: P overlaps one of them iff one starts inside P, or the last one
        // starting before P contains P's start.
        auto it = prefixes_.lower_bound(p.addr);
        if (it != prefixes_.end() && it->first <= last_of(p) && it->second.second != mr.hoa)
            return p.str() + " overlaps " + Prefix6{it->first, it->second.first}.str() + " of " +
                   it->second.second.str();
        if (it != prefixes_.begin()) {
            auto prev = std::prev(it);
            const Prefix6 other{prev->first, prev->second.first};
            if (other.contains(p.addr) && prev->second.second != mr.hoa)
                return p.str() + " overlaps " + other.str() + " of " + prev->second.second.str();
        }
    }
    return std::nullopt;
}

void ProvisioningStore::index_prefixes(const MrProvision& mr, bool add)
{
    for (const Prefix6& p : mr.prefixes) {
        if (add) prefixes_[p.addr] = {p.len, mr.hoa};
        else prefixes_.erase(p.addr);
    }
}

std::optional<std::string> ProvisioningStore::add(const MrProvision& mr, bool replace)
{
    auto existing = by_hoa_.find(mr.hoa);
    if (existing != by_hoa_.end() && !replace) return mr.hoa.str() + " is already provisioned";
    if (auto e = check_prefixes(mr)) return e;
    if (existing != by_hoa_.end()) {
        index_prefixes(existing->second, false);
        existing->second = mr;
    } else {
        by_hoa_.emplace(mr.hoa, mr);
    }
    index_prefixes(mr, true);
    return std::nullopt;
}

bool ProvisioningStore::remove(const Ipv6Addr& hoa)
{
    auto it = by_hoa_.find(hoa);
    if (it == by_hoa_.end()) return false;
    index_prefixes(it->second, false);
    by_hoa_.erase(it);
    return true;
}

const MrProvision* ProvisioningStore::find(const Ipv6Addr& hoa) const
{
    auto it = by_hoa_.find(hoa);
    return it == by_hoa_.end() ? nullptr : &it->second;
}

std::optional<std::string> ProvisioningStore::load_file(const std::string& path, const SaSink& on_sa)
{
    // Read at once and wiped after: the file may hold keys.
    std::string text;
    mode_t mode = 0;
    if (auto e = read_file(path, text, &mode)) return e;
    struct Wipe {
        std::string& s;
        ~Wipe() { wipe(s); }
    } wipe_text{text};
    std::string_view rest = text;
    for (std::size_t n = 1; !rest.empty(); ++n) {
        const auto eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string_view::npos || line[first] == '#') continue;
        if (line.back() == '\r') line.remove_suffix(1);
        const std::string where = path + ":" + std::to_string(n) + ": ";
        if (line.compare(first, 3, "sa ") == 0) {
            if (!on_sa) return where + "security associations are not accepted here";
            const std::string_view spec = line.substr(first + 3);
            // One rule for every file that holds keys (key_material's check_private).
            if (sa_line_has_key(spec))
                if (auto e = check_private(path, mode)) return where + *e + " (or give the keys as enc=@FILE)";
            auto sa = parse_sa(spec, SaKeySource::hex_or_file);
            if (auto* e = std::get_if<std::string>(&sa)) return where + *e;
            if (auto e = on_sa(std::get<SaConfig>(sa))) return where + *e;
            continue;
        }
        auto parsed = parse_provision(line);
        if (auto* e = std::get_if<std::string>(&parsed)) return where + *e;
        if (auto e = add(std::get<MrProvision>(parsed))) return where + *e;
    }
    return std::nullopt;
}

} // namespace nemo::control
