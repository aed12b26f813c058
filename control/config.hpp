// nemo-ha's configuration: the command line and an INI file, read with Boost.Program_options and
// checked value by value. Every error names where it came from (FILE:LINE: key, or the command line)
// and the daemon does not start.
//
//   [ha]           ipv6 (repeatable), ipv4 (repeatable), home_prefix, home_prefix_valid_lifetime,
//                  max_lifetime, accept_mobile_routers, methods, udp_port, allow_unprotected_signaling,
//                  ipv4_coa_option_type, status_tunnel_unsupported, status_invalid_coa, binding_capacity
//   [cli]          socket
//   [provisioning] file, mr (repeatable: "HOA [router|host] [prefixes=...] [methods=...]")
//   [eal]          args
//   [access]       port (DPDK port name, e.g. net_af_packet0), mtu, gateway (IPv4 next hop; default on link)
//   [home]         port (may be the access port), mtu, gateway (IPv6 next hop; default on link)
//   [dataplane]    mbufs, ptb_per_second, reassembly_flows, reassembly_timeout_ms, gateway_refresh_s,
//                  neighbor_max_age_s
//   [neighbors]    v4 = IP MAC, v6 = IP MAC (repeatable; static entries win over what is learned)
//   [ipsec]        sa (repeatable: "in|out SPI HOA ALGORITHM enc=HEX [auth=HEX] [esn] ...", see sa_text.hpp)
//
// Any key can also be given on the command line as --section.key=value; the command line wins.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "binding.hpp"
#include "ha_params.hpp"
#include "sa_text.hpp"

namespace nemo::control {

struct PortConfig {
    std::string port;
    uint16_t mtu = 1500;
    std::optional<Ipv4Addr> gateway4;
    std::optional<Ipv6Addr> gateway6;
};

struct Config {
    HaParams ha;
    PortConfig access;
    PortConfig home;
    uint32_t mbufs = 8191;
    uint32_t ptb_per_second = 100;
    uint32_t reassembly_flows = 256;       // per worker; 0: outer IPv4 fragments are dropped
    uint32_t reassembly_timeout_ms = 2000;
    uint32_t gateway_refresh_s = 30;       // gateways (not static) are asked for again this often
    uint32_t neighbor_max_age_s = 300;     // a learned neighbour is asked for again this old, removed if silent
    std::vector<std::pair<Ipv4Addr, MacAddr>> neighbors4;
    std::vector<std::pair<Ipv6Addr, MacAddr>> neighbors6;
    std::vector<SaConfig> sas;
    uint32_t binding_capacity = 65536;
    std::string cli_socket = "/run/nemo-ha/cli.sock";
    std::string provisioning_file;
    std::vector<MrProvision> mrs;
    std::vector<std::string> eal_args;
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

// The effective configuration as INI text (`show config`).
std::string render_config(const Config& c);

} // namespace nemo::control
