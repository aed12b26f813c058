// Security associations as the operator writes them, in the config (`[ipsec] sa = ...`) and the CLI
// (`add sa ...`). SAs are provisioned by hand (no IKE), one line each:
//
//   in|out SPI HOA ALGORITHM enc=HEX [auth=HEX] [esn] [window=N] [life-bytes=N] [life-packets=N]
//
// e.g. `in 0x1001 2001:db8:1::100 aes-gcm-128 enc=<32 hex digits of key + 8 of salt>`. `in` protects
// what the router sends to the home agent, `out` what the home agent sends to it. Keys never leave
// this form: format_sa() prints them as "<hidden>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "addr.hpp"
#include "esp_transform.hpp"

namespace nemo {

struct SaConfig {
    bool inbound = true;
    uint32_t spi = 0;
    Ipv6Addr hoa;
    EspAlgorithm algorithm = EspAlgorithm::aes_gcm_128;
    std::vector<uint8_t> enc_key;
    std::vector<uint8_t> auth_key;
    bool esn = false;
    uint32_t window = 1024;
    uint64_t life_bytes = 0;   // 0: no limit
    uint64_t life_packets = 0; // 0: no limit
};

std::variant<SaConfig, std::string> parse_sa(std::string_view line);
std::string format_sa(const SaConfig& sa); // keys hidden

} // namespace nemo
