// Security associations as the operator writes them, in the config (`[ipsec] sa = ...`), the
// provisioning file (`sa ...` lines) and the CLI (`add sa ...`). SAs are provisioned by hand (no IKE),
// one line each:
//
//   in|out SPI HOA ALGORITHM enc=HEX|@FILE [auth=HEX|@FILE] [esn] [window=N] [life-bytes=N] [life-packets=N]
//
// e.g. `in 0x1001 2001:db8:1::100 aes-gcm-128 enc=<32 hex digits of key + 8 of salt>`. `in` protects
// what the router sends to the home agent, `out` what the home agent sends to it. `enc=@FILE` reads the
// hex from a file only its owner may read, so that the key is on no command line and in no world-readable
// configuration. Keys never leave this form: format_sa() prints them as "<hidden>", and no error
// message quotes a word that could be one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "addr.hpp"
#include "esp_transform.hpp"
#include "key_material.hpp"

namespace nemo {

struct SaConfig {
    bool inbound = true;
    uint32_t spi = 0;
    Ipv6Addr hoa;
    EspAlgorithm algorithm = EspAlgorithm::aes_gcm_128;
    KeyBytes enc_key;  // wiped (emptied) once the SA table holds the transform
    KeyBytes auth_key;
    bool esn = false;
    uint32_t window = 1024;
    uint64_t life_bytes = 0;   // 0: no limit
    uint64_t life_packets = 0; // 0: no limit
    // Keyed by IKEv2 (control/ike), not by hand: fresh keys each time, so AES-GCM is allowed (RFC 4106
    // section 2) and no sequence numbers are reserved in the state store (nothing of it survives a
    // restart; the router negotiates again). Never parsed from text.
    bool negotiated = false;
    // Inbound: the sequence number checked against the window (RFC 4303 3.4.3). The receiver may turn
    // the check off; nothing here parses it from text: only the pipeline benchmark does, so that a
    // replayed pcap (its numbers repeat) measures inbound ESP, as ipsec-secgw's window 0 does.
    bool anti_replay = true;
};

// Where enc= and auth= may take their keys from.
enum class SaKeySource : uint8_t {
    hex,         // the line itself only: the CLI socket (nemo-hactl has read any key file already)
    hex_or_file, // the line or enc=@FILE: the configuration file, the provisioning file
    file,        // enc=@FILE only: the daemon's command line, which every local user can read (ps)
};

std::variant<SaConfig, std::string> parse_sa(std::string_view line, SaKeySource keys = SaKeySource::hex);
std::string format_sa(const SaConfig& sa); // keys hidden
// Whether the line gives a key in itself (enc=HEX or auth=HEX rather than @FILE): a file holding such a
// line must be private to its owner (check_private_file).
bool sa_line_has_key(std::string_view line);
// The words of a line with every key-like word (enc=..., auth=..., a long run of hex digits) replaced
// by "<hidden>": for messages that quote what the operator typed.
std::string hide_keys(std::string_view line);

// RFC 4106 section 2: AES-GCM MUST be used with automated key management (a hand-entered key restarts
// its counter, hence its nonces, with every start and every `del sa`/`add sa`). Every SA here is keyed
// by hand, so a GCM SA is refused unless the operator sets the lab switch ipsec.allow_manual_gcm.
std::optional<std::string> refuse_manual_gcm(const SaConfig& sa, bool allow_manual_gcm);
// Why two SAs may not share a key (said by the SA table when they do).
inline constexpr const char* kSharedKeyRule =
    "every SA needs keys of its own (RFC 4301 4.5.2); with AES-GCM a shared key repeats nonces (RFC 4106 section 2)";

// Wipes the keys of SAs kept after their transforms exist (a kept configuration).
void wipe_keys(std::vector<SaConfig>& sas);

} // namespace nemo
