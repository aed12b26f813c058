// Loads the packets scripts/gen_wire_fixtures.py wrote with scapy (tests/fixtures/scapy_packets.txt).
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "hex.hpp"

#ifndef NEMO_FIXTURE_DIR
#error "NEMO_FIXTURE_DIR must name tests/fixtures"
#endif

namespace nemo::test {

inline const std::map<std::string, std::vector<uint8_t>>& scapy_packets()
{
    static const auto packets = [] {
        std::map<std::string, std::vector<uint8_t>> out;
        std::ifstream in(std::string(NEMO_FIXTURE_DIR) + "/scapy_packets.txt");
        if (!in) throw std::runtime_error("cannot open scapy_packets.txt");
        std::string line;
        while (std::getline(in, line)) {
            if (line.empty() || line[0] == '#') continue;
            std::istringstream ls(line);
            std::string name, hex;
            ls >> name >> hex;
            std::vector<uint8_t> bytes;
            if (!parse_hex(hex, bytes)) throw std::runtime_error("scapy_packets.txt: bad hex for " + name);
            out[name] = std::move(bytes);
        }
        return out;
    }();
    return packets;
}

inline const std::vector<uint8_t>& scapy_packet(const std::string& name)
{
    auto it = scapy_packets().find(name);
    if (it == scapy_packets().end()) throw std::runtime_error("no scapy fixture named " + name);
    return it->second;
}

} // namespace nemo::test
