// The IKEv2 responder's host for tests and the fuzz target: an SA table with SaTable::change's rules (a
// removal of an unknown SPI, an SPI in use in either direction, a second outbound SA for a home address
// refuse the whole change), the peers provisioned, and the counters a test sets (packets heard on an
// inbound SA, sequence numbers used by an outbound one). `check` sees every SA added (the fuzz target
// aborts on an unusable one).
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ike_responder.hpp"

namespace nemo::ike::test {

class FakeHost : public IkeHost {
public:
    std::vector<SaConfig> sas;
    std::map<std::string, IkePeer> peers;
    std::map<uint32_t, uint64_t> packets;  // inbound SPI -> packets verified
    std::map<uint32_t, uint64_t> seq_used; // outbound SPI -> sequence numbers handed out
    std::function<void(const SaConfig&)> check;
    int changes = 0, refused = 0;

    std::optional<std::string> change_sas(std::span<const uint32_t> gone, std::span<const SaConfig> add) override
    {
        ++changes;
        std::vector<SaConfig> next = sas;
        for (uint32_t spi : gone) {
            auto it = std::find_if(next.begin(), next.end(), [&](const SaConfig& s) { return s.spi == spi; });
            if (it == next.end()) {
                ++refused;
                return "no SA with SPI " + std::to_string(spi);
            }
            next.erase(it);
        }
        for (const SaConfig& a : add) {
            for (const SaConfig& s : next) {
                if (s.spi == a.spi || (!a.inbound && !s.inbound && s.hoa == a.hoa)) {
                    ++refused;
                    return std::string("refused");
                }
            }
            if (check) check(a);
            next.push_back(a);
        }
        sas = std::move(next);
        return std::nullopt;
    }
    bool spi_taken(uint32_t spi) const override
    {
        return std::any_of(sas.begin(), sas.end(), [&](const SaConfig& s) { return s.spi == spi; });
    }
    std::optional<uint32_t> outbound_spi(const Ipv6Addr& hoa, bool* negotiated) const override
    {
        for (const SaConfig& s : sas)
            if (!s.inbound && s.hoa == hoa) {
                *negotiated = s.negotiated;
                return s.spi;
            }
        return std::nullopt;
    }
    uint64_t inbound_packets(uint32_t spi) const override { return value(packets, spi); }
    uint64_t outbound_seq_used(uint32_t spi) const override { return value(seq_used, spi); }
    std::optional<IkePeer> peer(const std::string& id) const override
    {
        auto it = peers.find(id);
        if (it == peers.end()) return std::nullopt;
        return it->second;
    }
    const SaConfig* find(uint32_t spi, bool inbound) const
    {
        for (const SaConfig& s : sas)
            if (s.spi == spi && s.inbound == inbound) return &s;
        return nullptr;
    }

private:
    static uint64_t value(const std::map<uint32_t, uint64_t>& m, uint32_t k)
    {
        auto it = m.find(k);
        return it == m.end() ? 0 : it->second;
    }
};

} // namespace nemo::ike::test
