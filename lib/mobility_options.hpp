// Mobility options (RFC 6275 6.2, RFC 3963 4.3, RFC 5555 3.1.2/3.2.2 and the draft's IPv4 Care-of Address
// option, draft-wakikawa-nemo-v4tunnel 4.1): parse every option of a message, and write them with the
// padding each one's alignment needs.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "addr.hpp"
#include "result.hpp"

namespace nemo::wire {

namespace mopt {
inline constexpr uint8_t pad1 = 0;
inline constexpr uint8_t padn = 1;
inline constexpr uint8_t binding_refresh_advice = 2;
inline constexpr uint8_t alternate_coa = 3;
inline constexpr uint8_t nonce_indices = 4;
inline constexpr uint8_t binding_auth_data = 5;
inline constexpr uint8_t mobile_network_prefix = 6;
inline constexpr uint8_t nat_detection = 31;  // RFC 5555
inline constexpr uint8_t dsmip_ipv4_coa = 32; // RFC 5555
inline constexpr uint8_t default_ipv4_coa = 18; // the draft's option; NOTES.md: type 18 unless configured
} // namespace mopt

// Flags of the draft's IPv4 Care-of Address option: the top four bits of its 16-bit flags word.
namespace v4flag {
inline constexpr uint16_t I = 0x8000; // IPv6 in IPv4 (protocol 41)
inline constexpr uint16_t R = 0x4000; // GRE
inline constexpr uint16_t S = 0x2000; // ESP
inline constexpr uint16_t U = 0x1000; // UDP
inline constexpr uint16_t all = I | R | S | U;
} // namespace v4flag

struct OptionTypes {
    uint8_t ipv4_coa = mopt::default_ipv4_coa; // configurable: the draft leaves it TBA
};

struct Ipv4CoaOption {
    uint16_t flags = 0; // v4flag::*; reserved bits are dropped on parse and sent as zero
    uint16_t port = 0;
    Ipv4Addr coa;
    friend bool operator==(const Ipv4CoaOption&, const Ipv4CoaOption&) = default;
};

struct NatDetectionOption {
    bool udp_required = false; // the F flag
    uint32_t refresh_time = 0; // seconds
    friend bool operator==(const NatDetectionOption&, const NatDetectionOption&) = default;
};

inline constexpr std::size_t kMaxMobileNetworkPrefixes = 32;

// Every option this home agent understands, as found in (or to be written into) one message.
struct MobilityOptions {
    std::optional<uint16_t> refresh_interval; // Binding Refresh Advice, 4-second units
    std::optional<Ipv6Addr> alternate_coa;
    std::optional<Ipv4CoaOption> ipv4_coa;   // the draft's option
    std::optional<Ipv4Addr> dsmip_ipv4_coa;  // RFC 5555's option
    std::optional<NatDetectionOption> nat_detection;
    std::array<Prefix6, kMaxMobileNetworkPrefixes> mnp_storage{};
    uint8_t mnp_count = 0;
    uint16_t skipped = 0; // options of unknown type, skipped as RFC 6275 6.2.1 requires

    std::span<const Prefix6> mobile_network_prefixes() const { return {mnp_storage.data(), mnp_count}; }
    bool add_prefix(const Prefix6& p)
    {
        if (mnp_count == kMaxMobileNetworkPrefixes) return false;
        mnp_storage[mnp_count++] = p;
        return true;
    }
};

// Parses the option area of a mobility message. `offset` is where the area starts within the Mobility
// Header: alignment is not checked on receipt, but error offsets are relative to the MH.
// Errors: an option running past the area (truncated), an option whose length is wrong for its type
// (bad_length), a repeated single-instance option, a prefix length of 0 or over 128, or more prefixes
// than kMaxMobileNetworkPrefixes (bad_value).
Result<MobilityOptions> parse_mobility_options(std::span<const uint8_t> area, std::size_t offset,
                                               const OptionTypes& types = {});

// Appends options to a Mobility Header under construction, inserting Pad1/PadN so that each option
// starts at its alignment (xn+y from the start of the header). Running out of space is sticky.
class OptionWriter {
public:
    OptionWriter(std::span<uint8_t> message, std::size_t pos) : buf_(message), pos_(pos) {}

    void option(uint8_t type, std::span<const uint8_t> data, unsigned x, unsigned y);
    void write_all(const MobilityOptions& opts, const OptionTypes& types);
    void pad_to_8(); // final padding: a Mobility Header is a multiple of 8 octets

    bool overflow() const { return overflow_; }
    std::size_t pos() const { return pos_; }

private:
    void pad(std::size_t n);

    std::span<uint8_t> buf_;
    std::size_t pos_;
    bool overflow_ = false;
};

} // namespace nemo::wire
