// nemo-ha's configuration: the command line and an INI file, read with Boost.Program_options and
// checked value by value. Every error names where it came from (FILE:LINE: key, or the command line)
// and the daemon does not start.
//
//   [ha]           ipv6 (repeatable), ipv4 (one), home_prefix, home_prefix_valid_lifetime,
//                  max_lifetime, accept_mobile_routers, methods, udp_port, allow_unprotected_signaling,
//                  ipv4_coa_option_type, status_tunnel_unsupported, status_invalid_coa, binding_capacity,
//                  max_prefix_lengths, error_replies_per_second
//   [cli]          socket, group (who may use the CLI besides root and nemo-ha's user)
//   [provisioning] file, mr (repeatable: "HOA [router|host] [prefixes=...] [methods=...]")
//   [eal]          args
//   [access]       port (DPDK port name, e.g. net_af_packet0), mtu, gateway (IPv4 next hop; default on link)
//   [home]         port (may be the access port), mtu, gateway (IPv6 next hop; default on link)
//   [dataplane]    mbufs, ptb_per_second, reassembly_flows, reassembly_timeout_ms, gateway_refresh_s,
//                  neighbor_max_age_s, punt_priority_per_second, punt_bulk_per_second
//   [neighbors]    v4 = IP MAC, v6 = IP MAC (repeatable; static entries win over what is learned)
//   [ipsec]        sa (repeatable: "in|out SPI HOA ALGORITHM enc=HEX|@FILE [auth=HEX|@FILE] [esn] ...", see
//                  sa_text.hpp; on the command line keys only as @FILE, and a file with literal keys must
//                  be private to its owner), allow_manual_gcm (lab switch, RFC 4106 section 2)
//   [state]        backend (rocksdb|sqlite|none), dir, on_damage (salvage|refuse): state_store.hpp
//   [metrics]      listen (ADDR:PORT or [IPv6]:PORT: the Prometheus endpoint; empty, the default: none)
//   [capture]      enabled (auto|yes|no): the capture framework for dpdk-dumpcap (dataplane/daemon/capture.hpp)
//   [log]          target (auto|stderr|journal|syslog), level (err|warning|notice|info|debug),
//                  binding_events_per_second: log.hpp, binding_log.hpp
//
// Any key can also be given on the command line as --section.key=value; the command line wins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "binding.hpp"
#include "ha_params.hpp"
#include "log.hpp"
#include "sa_text.hpp"
#include "state_store.hpp"

namespace nemo::control {

struct PortConfig {
    std::string port;
    uint16_t mtu = 1500;
    std::optional<Ipv4Addr> gateway4;
    std::optional<Ipv6Addr> gateway6;
};

// Where a TCP server listens: an IPv4 or IPv6 address and a port (metrics.listen).
struct ListenAddress {
    bool v6 = false;
    Ipv4Addr ipv4;
    Ipv6Addr ipv6;
    uint16_t port = 0;
    std::string str() const; // 127.0.0.1:9464, [::1]:9464
};
// "ADDR:PORT" with an IPv4 address, or "[ADDR]:PORT" with an IPv6 one; the port from 1 to 65535, the
// address unicast or unspecified (every address). What is wrong, otherwise.
std::variant<ListenAddress, std::string> parse_listen_address(std::string_view text);
// Whether the daemon lets dpdk-dumpcap / dpdk-pdump capture its ports. auto: when the EAL arguments
// allow it (capture_unavailable); yes: they must, or the configuration is refused.
enum class CaptureMode { automatic, on, off };
struct LogConfig {
    log::TargetSetting target = log::TargetSetting::automatic;
    log::Level level = log::Level::info;
    uint32_t binding_events_per_second = 100; // 0: binding events are not logged
};

// IKEv2 (control/ike): the responder to mobile routers, keys negotiated into the SA table.
struct IkeSettings {
    bool enabled = false;
    std::string id;       // our identity (canonical); empty: ip:<the access IPv4 address>
    std::string psk_file; // "ID SECRET" lines, private to its owner
    std::string ca_file, cert_file, key_file; // certificate authentication (all three, PEM), optional
    uint32_t dpd_s = 30;
    uint32_t retransmits = 5;
    uint32_t child_lifetime_s = 0;
    uint32_t half_open_max = 4096;
    uint32_t cookie_threshold = 256;
    uint32_t inits_per_turn = 32;
};

struct Config {
    HaParams ha;
    PortConfig access;
    PortConfig home;
    uint32_t mbufs = 8191;
    uint32_t ptb_per_second = 100;
    uint32_t punt_priority_per_second = 50000; // per worker (dataplane/punt.hpp: the two punt classes)
    uint32_t punt_bulk_per_second = 10000;
    uint32_t reassembly_flows = 256;       // per worker; 0: outer IPv4 fragments are dropped
    uint32_t reassembly_timeout_ms = 2000;
    uint32_t gateway_refresh_s = 30;       // gateways (not static) are asked for again this often
    uint32_t neighbor_max_age_s = 300;     // a learned neighbour is asked for again this old, removed if silent
    std::vector<std::pair<Ipv4Addr, MacAddr>> neighbors4;
    std::vector<std::pair<Ipv6Addr, MacAddr>> neighbors6;
    std::vector<SaConfig> sas; // keys wiped once the SA table has the transforms (wipe_keys)
    bool allow_manual_gcm = false; // AES-GCM under hand-entered keys (RFC 4106 section 2 forbids it): lab only
    // Not read from the file: the daemon sets it to its worker count, each worker a lane of every SA
    // (sequence-number blocks and counters of its own, dp::SaLane).
    unsigned sa_lanes = 0;
    uint32_t binding_capacity = 65536;
    uint32_t max_prefix_lengths = 4; // mobile network prefix lengths (one forwarding table each) at once
    std::string cli_socket = "/run/nemo-ha/cli.sock";
    std::string cli_group; // the socket's group, by name or number; empty: nemo-ha's own group
    std::string provisioning_file;
    std::vector<MrProvision> mrs;
    std::vector<std::string> eal_args;
    StateConfig state;
    IkeSettings ike;
    std::optional<ListenAddress> metrics_listen; // none: no metrics endpoint
    CaptureMode capture = CaptureMode::automatic;
    LogConfig log;
    std::string origin; // the file it came from
};

// What the command line asked for besides a configuration.
struct CommandLine {
    bool help = false;
    bool version = false;
    bool check_only = false; // --check: validate the configuration and exit
    std::string usage;       // the option summary, for --help and errors
};

// Parses argv (and the file named by --config, or `default_text` when there is none). On error, the
// message to print. `default_name` names the built-in text in messages.
std::variant<Config, std::string> load_config(int argc, const char* const* argv, CommandLine& cl,
                                              std::string_view default_text = {},
                                              std::string_view default_name = "(built-in)");

// The same for a configuration held as text (tests, the embedded default).
std::variant<Config, std::string> parse_config_text(std::string_view text, std::string_view name);

// What `--check` can tell without starting EAL, and what the daemon checks again before it does: the
// ports and addresses the daemon needs, EAL arguments that cannot work together or on this machine, and
// ports that name no device of eal.args. `free_hugepages`: as free_hugepages() reads it (nullopt:
// unknown, not held against the configuration).
std::optional<std::string> check_startable(const Config& c, std::optional<uint64_t> free_hugepages);

// Free hugepages of every size on this machine (/sys/kernel/mm/hugepages, else /proc/meminfo's
// HugePages_Free); nullopt when neither can be read.
std::optional<uint64_t> free_hugepages();

// The provisioning file (provisioning.file), read as the daemon reads it at start, and every entry's
// methods checked against ha.methods. Nullopt when there is no file or it is good.
std::optional<std::string> check_provisioning_file(const Config& c);

// An `mr` entry asking for a method the home agent does not enable: what to say, or nullopt.
std::optional<std::string> methods_not_enabled(const MrProvision& mr, MethodSet ha_methods);

// The smallest MTU a side may have (RFC 8201: an IPv6 link carries 1280-byte packets; RFC 4443 2.4:
// Packet Too Big never names less): 1280 plus the largest overhead of the enabled methods that leave
// from it (the IPv4 methods from the access port, IPv6-in-IPv6 from the home port).
uint16_t min_access_mtu(MethodSet methods);
uint16_t min_home_mtu(MethodSet methods);

// With no inbound SA and unprotected signaling not allowed, every Binding Update is dropped: the
// start-up warning that says so, or nullopt when BUs can be accepted.
std::optional<std::string> unprotected_signaling_warning(bool allow_unprotected_signaling, std::size_t inbound_sas);

// Why EAL started with these arguments leaves capture tools (DPDK secondary processes) no way to
// attach: no shared configuration (--no-shconf, --in-memory), or memory they cannot map (--no-huge).
// Nullopt when they can.
std::optional<std::string> capture_unavailable(const std::vector<std::string>& eal_args);

// The --file-prefix of the EAL arguments ("" when they give none: EAL's own, "rte"); a capture tool
// must be given the same.
std::string eal_file_prefix(const std::vector<std::string>& eal_args);

// The effective configuration as INI text (`show config`).
std::string render_config(const Config& c);

} // namespace nemo::control
