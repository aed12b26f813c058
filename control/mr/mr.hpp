// nemo-mr: a mobile router speaking draft-wakikawa-nemo-v4tunnel-01 to a home agent. The decisions are
// lib/mr_decision's; this program does the I/O: the access sockets (mr_access), the mobile network's TUN
// device (mr_tun), the signaling packets (mr_signaling), the status socket (mr_control), the state file
// (mr_state_file) and the loop with its options (nemo_mr).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "addr.hpp"
#include "anti_replay.hpp"
#include "esp_transform.hpp"
#include "mr_decision.hpp"
#include "tunnel_method.hpp"

namespace nemo::mr {

inline constexpr uint16_t kHaUdpPort = 4191; // NOTES.md: the HA's port for U tunnels

struct Options {
    std::string access_interface = "mr0";
    std::optional<Ipv4Addr> coa4;        // fixed IPv4 CoA; else the interface's primary IPv4, polled
    std::optional<Ipv6Addr> coa6;        // fixed IPv6 CoA
    std::string coa_family = "auto";     // auto (IPv6 when the interface has a global one), ipv4, ipv6
    Ipv6Addr home_address;
    std::vector<Prefix6> prefixes;
    std::vector<Ipv6Addr> ha6;           // preference order
    std::vector<Ipv4Addr> ha4;           // preference order
    bool dhaad = false;                  // ask the home agents' anycast address first (I and R flags)
    std::optional<Prefix6> home_prefix;  // for the anycast address; default the HoA's /64
    MrSettings settings;
    std::string tun_name;                // empty: no TUN
    bool tun_per_router = false;         // --routers N: a TUN each (named tun_name + index)
    unsigned routers = 1;
    uint16_t udp_port = 4191;            // base UDP source port (+ index)
    std::string state_file;
    std::string control_socket = "/run/nemo-mr.sock";
    unsigned stop_timeout_s = 10;
    unsigned start_rate = 100;           // routers started a second; 0: all at once
    std::vector<std::string> sa_lines;   // hand-keyed SAs, the HA's notation (in: router -> HA)
    bool verbose = false;
};

struct Counters {
    uint64_t bu_sent = 0, ba_received = 0, ba_ignored = 0;
    uint64_t tx_packets = 0, tx_bytes = 0, rx_packets = 0, rx_bytes = 0;
    uint64_t tx_dropped_no_tunnel = 0, rx_dropped = 0;
    uint64_t dhaad_sent = 0, dhaad_replies = 0, mps_sent = 0, mpa_received = 0;
};

struct MobilePrefixSeen {
    Prefix6 prefix;
    uint32_t valid_lifetime = 0;
    uint32_t preferred_lifetime = 0;
    uint64_t at_ms = 0;
};

// One hand-keyed ESP SA of a router (S and S+U): `in` lines (router -> HA) seal, `out` lines open.
struct EspSa {
    uint32_t spi = 0;
    bool esn = false;
    std::unique_ptr<EspTransform> transform;
    uint64_t next_seq = 1;    // outbound: the next sequence number to send
    uint64_t reserved = 0;    // outbound: written to the state file; a restart goes on from it
    ReplayWindow window{1024, false}; // inbound
};
inline constexpr uint64_t kEspSeqReserve = 1u << 20;

struct Router {
    unsigned index = 0;
    Ipv6Addr hoa;
    MrSettings settings;
    MrState state;
    unsigned ha_index = 0;               // into Options::ha4 / ha6
    int udp_fd = -1;
    int tun_fd = -1;
    Counters counters;
    std::string last_report;
    std::string last_detail;
    std::optional<BaInfo> last_ba;
    std::vector<MobilePrefixSeen> mobile_prefixes;
    bool mps_pending = false;
    uint16_t dhaad_id = 0;
    std::unique_ptr<EspSa> esp_tx, esp_rx;
};

// --- mr_state_file: the last sequence number of each home address, kept across restarts ---
struct SavedSeq {
    uint16_t bu = 0;
    uint64_t esp = 0; // the outbound SA's reserved sequence number (0: none)
};
std::map<Ipv6Addr, SavedSeq> load_sequences(const std::string& path);
bool save_sequences(const std::string& path, const std::vector<Router>& routers);

// --- mr_access: the access network's sockets ---
class Access {
public:
    bool open(const Options& o, std::string& err);
    bool open_udp(Router& r, std::string& err);
    // Sends an IPv6 packet to the HA through `via` from `coa`.
    bool send(Router& r, TunnelMethod via, const CareOf& coa, Ipv4Addr ha4, const Ipv6Addr& ha6,
              std::span<const uint8_t> ipv6_packet);
    int fd41() const { return raw41_; }
    int fd47() const { return raw47_; }
    int fd_packet6() const { return packet6_; }
    int fd50() const { return raw50_; }
    // Reads one datagram from `fd` and returns the inner IPv6 packet if it came from one of `ha4`
    // (IPv4 methods) / `ha6` (IPv6-in-IPv6), else empty. `buf` holds it. `esp` is set when what is
    // returned is an ESP packet (protocol 50, or UDP from port 4500) still to be opened.
    std::span<uint8_t> receive(int fd, TunnelMethod kind, std::span<uint8_t> buf, const Options& o,
                               uint64_t& dropped, bool& esp);
    // The current care-of address of the access interface.
    CareOf current_coa(const Options& o) const;

private:
    ImbManager imb_;
    int raw41_ = -1, raw47_ = -1, raw50_ = -1, raw_out_ = -1, raw6_ = -1, packet6_ = -1;
    int ifindex_ = 0;
    uint16_t ip_id_ = 1;
};

// --- mr_esp: S and S+U with hand-keyed SAs ---
// Parses the SA lines (keys from files only: a command line is readable by every local user), makes the
// transforms and gives each router the SAs of its home address. Keys are wiped once the transform exists.
bool load_sas(const std::vector<std::string>& lines, std::vector<Router>& routers, std::string& err);
// Seals `inner` (an IPv6 packet) into `out` as ESP tunnel mode: header, IV, ciphertext, ICV. Returns the
// length, 0 when it does not fit or the SA is spent.
std::size_t esp_seal(EspSa& sa, ImbManager& m, std::span<const uint8_t> inner, std::span<uint8_t> out);
// Opens an ESP packet of `sa` in place: the inner IPv6 packet, or empty (replayed, forged, not IPv6).
std::span<const uint8_t> esp_open(EspSa& sa, ImbManager& m, std::span<uint8_t> esp);

// --- mr_tun: the mobile network's side ---
int open_tun(const std::string& name, unsigned mtu, std::string& err);

// --- mr_signaling: building and reading the signaling and the tunneled packets ---
// The inner IPv6 packet of a BU (HoA -> HA for IPv4 CoAs; CoA -> HA with a Home Address option for IPv6
// CoAs). Returns its length, 0 on failure.
std::size_t build_bu_packet(std::span<uint8_t> out, const BuToSend& b, const Ipv6Addr& hoa, const Ipv6Addr& ha6);
std::size_t build_dhaad_packet(std::span<uint8_t> out, uint16_t id, const Ipv6Addr& src, const Ipv6Addr& anycast);
std::size_t build_mps_packet(std::span<uint8_t> out, uint16_t id, const Ipv6Addr& hoa, const Ipv6Addr& ha6);
// What a packet from the HA for one of our home addresses was.
struct Inbound {
    enum class Kind : uint8_t { data, ba, dhaad_reply, mpa, other_signaling, bad } kind = Kind::bad;
    Ipv6Addr dst;                // the inner destination (HoA or a mobile network node)
    BaInfo ba;
    std::vector<Ipv6Addr> ha6, ha4_mapped;
    uint16_t id = 0;
    std::vector<MobilePrefixSeen> prefixes;
    std::string why;             // for bad
};
Inbound classify_inbound(std::span<const uint8_t> ipv6_packet);
Ipv6Addr anycast_of(const Prefix6& home_prefix);

// --- mr_control: the status socket ---
struct ControlView {
    const Options* options = nullptr;
    const std::vector<Router>* routers = nullptr;
    uint64_t now_ms = 0;
};
std::string status_json(const ControlView& v);
class ControlServer {
public:
    bool open(const std::string& path, std::string& err);
    int fd() const { return fd_; }
    // Accepts and answers one client; returns true when it asked to stop.
    bool serve_one(const ControlView& v);
    ~ControlServer();

private:
    int fd_ = -1;
    std::string path_;
};
// The client side: `nemo-mr status|stop --socket PATH [--json]`. Returns the exit status.
int control_client(const std::string& path, const std::string& command, bool json);

} // namespace nemo::mr
