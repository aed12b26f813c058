// The mobile nodes and routers this home agent serves: keyed by home address, with every mobile network
// prefix owned by exactly one of them. Built for a million entries; changed at run time by the CLI.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "addr_hash.hpp"
#include "binding.hpp"
#include "sa_text.hpp"

namespace nemo::control {

class ProvisioningStore {
public:
    // Adds (or, with replace, replaces) one entry. Refused with a message when the home address exists
    // (without replace) or a prefix overlaps another entry's.
    std::optional<std::string> add(const MrProvision& mr, bool replace = false);
    bool remove(const Ipv6Addr& hoa);
    const MrProvision* find(const Ipv6Addr& hoa) const;
    std::size_t size() const { return by_hoa_.size(); }

    // Loads a provisioning file: one entry per line in provision_text's form; blank lines and lines
    // starting with '#' skipped. A line "sa in|out SPI HOA ALGORITHM ..." (sa_text's form) is a security
    // association, handed to `on_sa` (which refuses with a message); its keys are on the line or in a
    // key file (enc=@FILE). A file with keys on its lines is refused when group or others may read it. Stops at the first bad line: "FILE:LINE: message".
    // Entries before it stay loaded; the caller decides whether that is fatal (at start-up it is).
    using SaSink = std::function<std::optional<std::string>(const SaConfig&)>;
    std::optional<std::string> load_file(const std::string& path, const SaSink& on_sa = {});

    template <class F>
    void for_each(F&& f) const
    {
        for (const auto& [hoa, mr] : by_hoa_) f(mr);
    }

private:
    std::optional<std::string> check_prefixes(const MrProvision& mr) const;
    void index_prefixes(const MrProvision& mr, bool add);

    std::unordered_map<Ipv6Addr, MrProvision, Ipv6Hash> by_hoa_;
    std::map<Ipv6Addr, std::pair<uint8_t, Ipv6Addr>> prefixes_; // start -> (length, owner HoA); disjoint
};

} // namespace nemo::control
