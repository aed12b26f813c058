#include "config.hpp"
#include "cluster_record.hpp"

#include <unistd.h>

#include <boost/program_options.hpp>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "cluster_record.hpp"
#include "encap.hpp"
#include "icmpv6.hpp"
#include "ike_policy.hpp"
#include "number.hpp"
#include "key_material.hpp"
#include "provision_text.hpp"
#include "provisioning.hpp"

namespace po = boost::program_options;

namespace nemo::control {

namespace {

// Where each key was given: "section.key" -> line numbers, in order.
using KeyLines = std::map<std::string, std::vector<int>>;

KeyLines scan_key_lines(std::string_view text)
{
    KeyLines lines;
    std::string section;
    std::istringstream in{std::string(text)};
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        const auto b = line.find_first_not_of(" \t");
        if (b == std::string::npos || line[b] == '#' || line[b] == ';') continue;
        if (line[b] == '[') {
            const auto e = line.find(']', b);
            section = line.substr(b + 1, e == std::string::npos ? std::string::npos : e - b - 1);
            continue;
        }
        const auto eq = line.find('=');
        std::string key = line.substr(b, eq == std::string::npos ? std::string::npos : eq - b);
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
        lines[section.empty() ? key : section + "." + key].push_back(n);
    }
    return lines;
}

class Where {
public:
    Where(std::string origin, KeyLines lines, const po::variables_map* cmdline)
        : origin_(std::move(origin)), lines_(std::move(lines)), cmdline_(cmdline)
    {
    }
    // "FILE:LINE: key" for the nth value of key (or the command line when it came from there).
    // How many of a repeatable key's values came from the command line (they come first).
    std::size_t on_cmdline(const std::string& key) const
    {
        return cmdline_ && cmdline_->count(key) ? (*cmdline_)[key].as<std::vector<std::string>>().size() : 0;
    }
    std::string of(const std::string& key, std::size_t nth = 0) const
    {
        if (cmdline_ && cmdline_->count(key)) return "command line: --" + key;
        auto it = lines_.find(key);
        if (it == lines_.end() || it->second.empty()) return origin_ + ": " + key;
        const int line = it->second[std::min(nth, it->second.size() - 1)];
        return origin_ + ":" + std::to_string(line) + ": " + key;
    }

private:
    std::string origin_;
    KeyLines lines_;
    const po::variables_map* cmdline_;
};

// "ipv6, ipip, ..., esp-udp (default ipv6,ipip,gre,udp)", from the methods themselves and the default
// HaParams, so that --help cannot fall behind either.
std::string methods_help()
{
    std::string names;
    for (int i = 0; i < kTunnelMethodCount; ++i) {
        if (!names.empty()) names += ',';
        names += method_name(static_cast<TunnelMethod>(i));
    }
    return "enabled tunnel methods, from " + names + " (default " + format_methods(HaParams{}.methods) + ")";
}

po::options_description file_options()
{
    po::options_description d("configuration (file sections, or --section.key=value)");
    const std::string methods = methods_help();
    auto s = [] { return po::value<std::string>(); };
    auto m = [] { return po::value<std::vector<std::string>>()->composing(); };
    d.add_options()
        ("ha.ipv6", m(), "the home agent's IPv6 address(es), preferred first")
        ("ha.ipv4", m(), "the home agent's IPv4 address (one): tunnel endpoint, DHAAD I replies")
        ("ha.home_prefix", s(), "the home prefix served, e.g. 2001:db8:1::/64")
        ("ha.home_prefix_valid_lifetime", s(), "seconds (default 86400); caps granted lifetimes")
        ("ha.max_lifetime", s(), "longest binding lifetime granted, seconds (default 3600)")
        ("ha.accept_mobile_routers", s(), "yes|no (default yes)")
        ("ha.methods", s(), methods.c_str())
        ("ha.udp_port", s(), "UDP port for the U method (default 4191)")
        ("ha.allow_unprotected_signaling", s(), "yes|no (default no): accept BUs no SA protected (lab only)")
        ("ha.ipv4_coa_option_type", s(), "mobility option type of the IPv4 CoA option (default 18)")
        ("ha.status_tunnel_unsupported", s(), "BA status for an unsupported tunnel method (default 144)")
        ("ha.status_invalid_coa", s(), "BA status for an invalid care-of address (default 145)")
        ("ha.binding_capacity", s(), "most bindings at once (default 65536)")
        ("ha.max_prefix_lengths", s(), "mobile network prefix lengths in use at once, one forwarding table each (default 4)")
        ("ha.error_replies_per_second", s(), "Parameter Problems, Binding Errors, BAs 133 a second to unbound sources (default 100)")
        ("cli.socket", s(), "unix socket of the operator CLI (default /run/nemo-ha/cli.sock)")
        ("cli.group", s(), "group whose members may use the CLI, by name or number (default: nemo-ha's group)")
        ("provisioning.file", s(), "file of mobile nodes, one 'mr' line each")
        ("provisioning.mr", m(), "HOA [router|host] [prefixes=P,...] [methods=M,...]")
        ("eal.args", s(), "DPDK EAL arguments, space separated")
        ("access.port", s(), "DPDK port of the IPv4 access side, by name (e.g. net_af_packet0)")
        ("access.mtu", s(), "MTU of the access side (default 1500)")
        ("access.gateway", s(), "IPv4 next hop towards care-of addresses (default: on link)")
        ("home.port", s(), "DPDK port of the IPv6 home link and core, by name (may be the access port)")
        ("home.mtu", s(), "MTU of the home side (default 1500)")
        ("home.gateway", s(), "IPv6 next hop towards the core (default: on link)")
        ("dataplane.mbufs", s(), "packet buffers (default 8191)")
        ("dataplane.ptb_per_second", s(), "ICMPv6 Packet Too Big per worker per second, and as many Time Exceeded (default 100)")
        ("dataplane.punt_priority_per_second", s(), "per worker: ND and signaling from known senders to the control thread (default 50000)")
        ("dataplane.punt_bulk_per_second", s(), "per worker: other packets to the home agent (new registrations, DHAAD, junk) to the control thread (default 10000)")
        ("dataplane.reassembly_flows", s(), "outer IPv4 packets in reassembly at once, per worker; 0 drops fragments (default 256)")
        ("dataplane.reassembly_timeout_ms", s(), "how long a packet waits for its missing fragments (default 2000)")
        ("dataplane.gateway_refresh_s", s(), "seconds between ARP/NS refreshes of the gateways' addresses (default 30)")
        ("dataplane.neighbor_max_age_s", s(), "seconds before a learned neighbour is asked for again, and removed if silent (default 300)")
        ("neighbors.v4", m(), "static ARP entry: IPv4 MAC")
        ("neighbors.v6", m(), "static neighbour entry: IPv6 MAC")
        ("ipsec.sa", m(), "security association: in|out SPI HOA ALGORITHM enc=HEX|@FILE [auth=HEX|@FILE] [esn] [window=N] "
                          "(on the command line only enc=@FILE: a file only its owner may read)")
        ("ipsec.allow_manual_gcm", s(), "yes|no (default no): accept AES-GCM SAs with hand-entered keys, which RFC 4106 "
                                        "section 2 forbids (nonces repeat after a restart or del sa/add sa): lab only")
        ("ike.enabled", s(), "yes|no (default no): answer IKEv2 (ports 500 and 4500) and install the SAs it negotiates")
        ("ike.id", s(), "the home agent's IKE identity: fqdn:NAME, email:ADDR, ip:ADDR or keyid:HEX (default ip:<access IPv4>)")
        ("ike.psk_file", s(), "pre-shared keys, one 'ID SECRET' line per router identity (SECRET text or 0xHEX); "
                              "readable by its owner only")
        ("ike.ca_file", s(), "PEM file of the CA(s) the routers' certificates must chain to (with ike.cert_file, ike.key_file)")
        ("ike.cert_file", s(), "PEM file of the home agent's own certificate (its subjectAltName: ike.id)")
        ("ike.key_file", s(), "PEM file of that certificate's private key, readable by its owner only")
        ("ike.dpd_s", s(), "seconds without a word from a peer before its liveness is checked; 0: never (default 30)")
        ("ike.retransmits", s(), "times a request of ours is sent again (after 1, 2, 4, ... s) before the peer is taken as dead (default 5)")
        ("ike.child_lifetime_s", s(), "seconds after which a CHILD_SA the router did not rekey is deleted; 0: no limit (default 0)")
        ("ike.half_open_max", s(), "IKE SAs not yet authenticated at once; more IKE_SA_INITs are dropped (default 4096)")
        ("ike.cookie_threshold", s(), "half-open IKE SAs beyond which an IKE_SA_INIT must carry a cookie (default 256)")
        ("ike.inits_per_turn", s(), "IKE_SA_INITs (one Diffie-Hellman each) handled per control loop turn (default 32)")
        ("state.backend", s(), "rocksdb|sqlite|etcd|none (default rocksdb): where bindings, operator changes and ESP sequence numbers "
                               "survive a restart; etcd: shared by every instance of a cluster")
        ("state.etcd_endpoints", s(), "etcd: HOST:PORT,HOST:PORT,... of the cluster's etcd members (v3 API)")
        ("state.etcd_ca", s(), "etcd: CA file of the members' certificates (https; default: plain http)")
        ("state.etcd_cert", s(), "etcd: this instance's client certificate file (with state.etcd_key)")
        ("state.etcd_key", s(), "etcd: the client certificate's private key file (readable by its owner only)")
        ("state.cluster", s(), "etcd: the cluster's name; its keys are under /nemo-ha/NAME/ (default default)")
        ("state.instance", s(), "etcd: this instance's name in the cluster, unique (default: the host name)")
        ("state.etcd_max_txn_ops", s(), "etcd: bindings per transaction, at most etcd's --max-txn-ops (default 128, etcd's default)")
        ("state.etcd_timeout_ms", s(), "etcd: how long one request to one member may take (default 2000)")
        ("state.dir", s(), "directory of the state store (default /var/lib/nemo-ha)")
        ("state.on_damage", s(), "salvage|refuse (default salvage): a damaged store is moved aside and what can be read restored, or the start is refused")
        ("metrics.listen", s(), "ADDR:PORT or [IPv6]:PORT of the Prometheus metrics endpoint, GET /metrics (default: empty, none)")
        ("capture.enabled", s(), "auto|yes|no (default auto): let dpdk-dumpcap/dpdk-pdump capture the ports; needs EAL's shared "
                                 "configuration (auto: when eal.args allow it; yes: refuse eal.args that do not)")
        ("log.target", s(), "auto|stderr|journal|syslog (default auto: journal when JOURNAL_STREAM names stderr, else stderr)")
        ("log.level", s(), "err|warning|notice|info|debug (default info): the least severe messages logged")
        ("log.binding_events_per_second", s(), "binding events (created, moved, refreshed, removed, expired) logged a second; 0: none (default 100)");
    return d;
}

bool parse_bool(const std::string& s, bool& out)
{
    if (s == "yes" || s == "true" || s == "on" || s == "1") out = true;
    else if (s == "no" || s == "false" || s == "off" || s == "0") out = false;
    else return false;
    return true;
}

std::vector<std::string> split_words(const std::string& s, char sep)
{
    std::vector<std::string> out;
    std::string cur;
    for (char c : s + sep) {
        if (c == sep || (sep == ' ' && c == '\t')) {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else if (!(sep != ' ' && (c == ' ' || c == '\t'))) {
            cur += c;
        }
    }
    return out;
}

// The enabled method with the most encapsulation among those leaving from the IPv4 (access) or the IPv6
// (home) side; nullopt when none does.
std::optional<TunnelMethod> largest_overhead(MethodSet methods, bool ipv4_side)
{
    std::optional<TunnelMethod> worst;
    for (int i = 0; i < kTunnelMethodCount; ++i) {
        const auto m = static_cast<TunnelMethod>(i);
        if (!has_method(methods, m) || uses_ipv4(m) != ipv4_side) continue;
        if (!worst || dp::encap_overhead(m) > dp::encap_overhead(*worst)) worst = m;
    }
    return worst;
}

uint16_t min_mtu(MethodSet methods, bool ipv4_side)
{
    const auto worst = largest_overhead(methods, ipv4_side);
    return static_cast<uint16_t>(wire::kIpv6MinMtu + (worst ? dp::encap_overhead(*worst) : 0));
}

bool looks_like_pci(std::string_view name)
{
    // DOMAIN:BB:DD.F, the form DPDK names PCI ports by (the domain has 4 hex digits, more behind a VMD
    // bridge); a port of a multi-port device adds "_...".
    const std::string_view addr = name.substr(0, name.find('_'));
    const std::size_t colon = addr.find(':');
    if (colon == std::string_view::npos || colon < 4 || colon > 8 || addr.size() != colon + 8) return false;
    for (std::size_t i = 0; i < addr.size(); ++i) {
        const char ch = addr[i];
        const std::size_t at = i < colon ? 0 : i - colon; // position after the domain: ":BB:DD.F"
        const bool ok = i < colon      ? std::isxdigit(static_cast<unsigned char>(ch)) != 0
                        : at == 0 || at == 3 ? ch == ':'
                        : at == 6      ? ch == '.'
                                       : std::isxdigit(static_cast<unsigned char>(ch)) != 0;
        if (!ok) return false;
    }
    return addr.back() <= '7';
}

// How many lcores an -l list ("0-3,6") or -c mask ("0x3") names; nullopt when it cannot be read.
std::optional<unsigned> count_lcores(const std::string& opt, const std::string& v)
{
    if (opt == "-c") {
        uint64_t mask = 0;
        const std::string hex = v.rfind("0x", 0) == 0 || v.rfind("0X", 0) == 0 ? v.substr(2) : v;
        auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), mask, 16);
        if (ec != std::errc{} || p != hex.data() + hex.size() || hex.size() > 16) return std::nullopt;
        return static_cast<unsigned>(std::popcount(mask));
    }
    unsigned n = 0;
    for (const auto& range : split_words(v, ',')) {
        unsigned lo = 0, hi = 0;
        const auto dash = range.find('-');
        if (!parse_number<unsigned>(range.substr(0, dash), lo, 0, 1023)) return std::nullopt;
        hi = lo;
        if (dash != std::string::npos && !parse_number<unsigned>(range.substr(dash + 1), hi, lo, 1023)) return std::nullopt;
        n += hi - lo + 1;
    }
    return n;
}

// What nemo-ha needs to know of its EAL arguments before EAL reads them.
struct EalView {
    bool no_huge = false, in_memory = false, legacy_mem = false, no_pci = false, memory = false, socket_mem = false;
    bool no_shconf = false;
    std::string file_prefix;            // --file-prefix, "" when not given
    std::vector<std::string> vdevs;     // device names, without their arguments
    std::vector<std::string> allowed;   // -a / --allow, in the DDDD:BB:DD.F form
    std::optional<unsigned> lcores;     // as -l or -c count them
};

EalView read_eal(const std::vector<std::string>& args)
{
    EalView v;
    auto name_of = [](const std::string& dev) { return dev.substr(0, dev.find(',')); };
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string opt = args[i], val;
        const bool lng = opt.rfind("--", 0) == 0;
        if (lng && opt.find('=') != std::string::npos) {
            val = opt.substr(opt.find('=') + 1);
            opt.resize(opt.find('='));
        } else if (!lng && opt.size() > 2 && opt[0] == '-') {
            val = opt.substr(2); // -m512
            opt.resize(2);
        }
        static const char* const takes_value[] = {"--vdev", "--allow", "--socket-mem", "--file-prefix", "-a", "-l", "-c", "-m"};
        const bool wants = std::find(std::begin(takes_value), std::end(takes_value), opt) != std::end(takes_value);
        if (wants && val.empty() && i + 1 < args.size()) val = args[++i];
        if (opt == "--no-huge") v.no_huge = true;
        else if (opt == "--in-memory") v.in_memory = true;
        else if (opt == "--no-shconf") v.no_shconf = true;
        else if (opt == "--file-prefix") v.file_prefix = val;
        else if (opt == "--legacy-mem") v.legacy_mem = true;
        else if (opt == "--no-pci") v.no_pci = true;
        else if (opt == "-m") v.memory = true;
        else if (opt == "--socket-mem") v.socket_mem = true;
        else if (opt == "--vdev") v.vdevs.push_back(name_of(val));
        else if (opt == "-a" || opt == "--allow") {
            std::string dev = name_of(val);
            v.allowed.push_back(dev.size() == 7 ? "0000:" + dev : dev); // BB:DD.F means domain 0
        } else if (opt == "-l" || opt == "-c") v.lcores = count_lcores(opt, val);
    }
    return v;
}

// EAL arguments that EAL refuses together, or that cannot give nemo-ha its two ports and two lcores;
// `bad(key, msg)` words the error.
template <class Bad>
std::optional<std::string> check_eal(const Config& c, const EalView& eal, Bad&& bad)
{
    if (eal.in_memory && (eal.no_huge || eal.legacy_mem))
        return bad("eal.args", std::string("--in-memory cannot be used with ") +
                                   (eal.no_huge ? "--no-huge (it implies --legacy-mem)" : "--legacy-mem") +
                                   ": EAL refuses the pair; drop --in-memory");
    if (eal.socket_mem && eal.no_huge)
        return bad("eal.args", "--socket-mem reserves hugepages, which --no-huge turns off: give -m instead");
    if (eal.socket_mem && eal.memory) return bad("eal.args", "-m and --socket-mem cannot both be given: keep one");
    if (eal.lcores && *eal.lcores < 2)
        return bad("eal.args", "names " + std::to_string(*eal.lcores) +
                                   " lcore(s); nemo-ha needs at least two, the control thread and a worker (e.g. -l 0-1)");
    for (auto [key, port] : {std::pair{"access.port", &c.access.port}, std::pair{"home.port", &c.home.port}}) {
        if (port->empty()) continue;
        if (looks_like_pci(*port)) {
            if (eal.no_pci) return bad(key, "'" + *port + "' is a PCI device, and eal.args has --no-pci");
            const std::string dev = port->substr(0, port->find('_'));
            if (!eal.allowed.empty() && std::find(eal.allowed.begin(), eal.allowed.end(), dev) == eal.allowed.end())
                return bad(key, "'" + *port + "' is a PCI device that eal.args' -a list leaves out");
        } else if (std::find(eal.vdevs.begin(), eal.vdevs.end(), *port) == eal.vdevs.end()) {
            std::string vdevs;
            for (const auto& d : eal.vdevs) vdevs += (vdevs.empty() ? "" : ", ") + d;
            return bad(key, "'" + *port + "' is neither a --vdev of eal.args (" + (vdevs.empty() ? "it has none" : vdevs) +
                                ") nor a PCI address in full (0000:3b:00.0)");
        }
    }
    return std::nullopt;
}

// The cluster store's settings (state.backend = etcd).
template <class Str, class Bad>
std::optional<std::string> parse_etcd_state(Config& c, Str&& str, Bad&& bad)
{
    EtcdStateConfig& e = c.state.etcd;
    const bool etcd = c.state.backend == StateConfig::Backend::etcd;
    for (const char* k : {"state.etcd_endpoints", "state.etcd_ca", "state.etcd_cert", "state.etcd_key", "state.cluster",
                          "state.instance", "state.etcd_max_txn_ops", "state.etcd_timeout_ms"})
        if (str(k) && !etcd) return bad(k, "is for state.backend = etcd");
    if (!etcd) return std::nullopt;
    const std::string* eps = str("state.etcd_endpoints");
    if (!eps || eps->empty()) return bad("state.backend", "etcd needs state.etcd_endpoints (HOST:PORT,...)");
    for (const std::string& ep : split_words(*eps, ',')) {
        const auto colon = ep.rfind(':');
        uint16_t port = 0;
        if (colon == std::string::npos || colon == 0 || !parse_number<uint16_t>(ep.substr(colon + 1), port, 1, 65535) ||
            ep.find_first_of(" /") != std::string::npos)
            return bad("state.etcd_endpoints", "'" + ep + "' is not HOST:PORT");
        e.endpoints.push_back(ep);
    }
    if (e.endpoints.empty()) return bad("state.etcd_endpoints", "names no endpoint");
    for (auto [k, f] : {std::pair{"state.etcd_ca", &e.ca_file}, std::pair{"state.etcd_cert", &e.cert_file}, std::pair{"state.etcd_key", &e.key_file}}) {
        if (const std::string* v = str(k)) {
            if (v->empty() || (*v)[0] != '/') return bad(k, "'" + *v + "' is not an absolute path");
            *f = *v;
        }
    }
    if (e.cert_file.empty() != e.key_file.empty()) return bad("state.etcd_cert", "needs state.etcd_key, and the reverse");
    if (!e.cert_file.empty() && e.ca_file.empty()) return bad("state.etcd_cert", "needs state.etcd_ca (client certificates go over https)");
    if (const std::string* v = str("state.cluster")) {
        if (auto why = cluster_name_problem(*v)) return bad("state.cluster", "'" + *v + "' " + *why);
        e.cluster = *v;
    }
    if (const std::string* v = str("state.instance")) e.instance = *v;
    else {
        char host[256] = {};
        if (gethostname(host, sizeof host - 1) == 0) e.instance = host;
        if (auto dot = e.instance.find('.'); dot != std::string::npos) e.instance.resize(dot);
    }
    if (auto why = cluster_name_problem(e.instance)) return bad("state.instance", "'" + e.instance + "' " + *why);
    if (auto s = str("state.etcd_max_txn_ops"); s && !parse_number<unsigned>(*s, e.max_txn_ops, 1, 100'000))
        return bad("state.etcd_max_txn_ops", "'" + *s + "' is not a number from 1 to 100000");
    if (auto s = str("state.etcd_timeout_ms"); s && !parse_number<unsigned>(*s, e.timeout_ms, 50, 60'000))
        return bad("state.etcd_timeout_ms", "'" + *s + "' is not a number from 50 to 60000");
    return std::nullopt;
}

// The IKEv2 responder's settings.
template <class Str, class Bad>
std::optional<std::string> parse_ike(Config& c, Str&& str, Bad&& bad)
{
    IkeSettings& k = c.ike;
    if (auto s = str("ike.enabled"); s && !parse_bool(*s, k.enabled)) return bad("ike.enabled", "'" + *s + "' is not yes or no");
    if (const std::string* v = str("ike.id")) {
        auto id = ike::canonical_id(*v);
        if (!id) return bad("ike.id", "'" + *v + "' is not an IKE identity (fqdn:NAME, email:ADDR, ip:ADDR, keyid:HEX)");
        k.id = *id;
    }
    if (const std::string* v = str("ike.psk_file")) {
        if (v->empty() || (*v)[0] != '/') return bad("ike.psk_file", "'" + *v + "' is not an absolute path");
        k.psk_file = *v;
    }
    for (auto [key, to] : {std::pair{"ike.ca_file", &k.ca_file}, std::pair{"ike.cert_file", &k.cert_file}, std::pair{"ike.key_file", &k.key_file}}) {
        if (const std::string* v = str(key)) {
            if (v->empty() || (*v)[0] != '/') return bad(key, "'" + *v + "' is not an absolute path");
            *to = *v;
        }
    }
    if ((k.ca_file.empty() || k.cert_file.empty() || k.key_file.empty()) && !(k.ca_file.empty() && k.cert_file.empty() && k.key_file.empty()))
        return bad("ike.ca_file", "certificates need all three of ike.ca_file, ike.cert_file and ike.key_file");
    struct Num {
        const char* key;
        uint32_t* to;
        uint32_t lo, hi;
    };
    for (const Num& n : {Num{"ike.dpd_s", &k.dpd_s, 0, 86'400}, Num{"ike.retransmits", &k.retransmits, 0, 10},
                         Num{"ike.child_lifetime_s", &k.child_lifetime_s, 0, 86'400 * 30},
                         Num{"ike.half_open_max", &k.half_open_max, 1, 1'000'000},
                         Num{"ike.cookie_threshold", &k.cookie_threshold, 0, 1'000'000},
                         Num{"ike.inits_per_turn", &k.inits_per_turn, 1, 10'000}}) {
        if (auto s = str(n.key); s && !parse_number<uint32_t>(*s, *n.to, n.lo, n.hi))
            return bad(n.key, "'" + *s + "' is not a number from " + std::to_string(n.lo) + " to " + std::to_string(n.hi));
    }
    if (k.enabled && k.psk_file.empty() && k.ca_file.empty())
        return bad("ike.enabled", "IKEv2 needs ike.psk_file (the routers' pre-shared keys) or certificates (ike.ca_file, cert_file, key_file)");
    return std::nullopt;
}

// Turns the parsed variables into a Config, checking each value. `keys_in_text`: an SA line of the
// text (not of the command line) gives a key itself.
std::variant<Config, std::string> build(const po::variables_map& vm, const Where& where, std::string origin, bool& keys_in_text)
{
    Config c;
    c.origin = std::move(origin);
    HaParams& ha = c.ha;
    auto str = [&](const char* k) -> const std::string* { return vm.count(k) ? &vm[k].as<std::string>() : nullptr; };
    auto bad = [&](const std::string& key, const std::string& msg, std::size_t nth = 0) {
        return where.of(key, nth) + ": " + msg;
    };

    if (!vm.count("ha.home_prefix")) return c.origin + ": ha.home_prefix: required (e.g. 2001:db8:1::/64)";
    if (auto p = Prefix6::parse(*str("ha.home_prefix")); p && p->len >= 1 && p->len <= 120) ha.home_prefix = *p;
    else return bad("ha.home_prefix", "'" + *str("ha.home_prefix") + "' is not an IPv6 prefix of length 1 to 120 with host bits zero");

    if (!vm.count("ha.ipv6")) return c.origin + ": ha.ipv6: required: the home agent's own IPv6 address";
    const auto& v6 = vm["ha.ipv6"].as<std::vector<std::string>>();
    for (std::size_t i = 0; i < v6.size(); ++i) {
        auto a = Ipv6Addr::parse(v6[i]);
        if (!a || !a->is_routable_unicast()) return bad("ha.ipv6", "'" + v6[i] + "' is not a unicast IPv6 address", i);
        ha.ipv6_addresses.push_back(*a);
    }
    if (vm.count("ha.ipv4")) {
        const auto& v4 = vm["ha.ipv4"].as<std::vector<std::string>>();
        // ARP, classification and the tunnels' source use one address; DHAAD must not advertise others.
        if (v4.size() > 1)
            return bad("ha.ipv4", "only one IPv4 home-agent address is served (ARP, tunnels, DHAAD replies): '" +
                                      v4[1] + "' is a second one", 1);
        for (std::size_t i = 0; i < v4.size(); ++i) {
            auto a = Ipv4Addr::parse(v4[i]);
            if (!a || a->is_unspecified() || a->is_multicast() || a->is_broadcast() || a->is_loopback())
                return bad("ha.ipv4", "'" + v4[i] + "' is not a unicast IPv4 address", i);
            ha.ipv4_addresses.push_back(*a);
        }
    }
    if (auto s = str("ha.home_prefix_valid_lifetime"); s && !parse_number<uint32_t>(*s, ha.home_prefix_valid_lifetime, 4, 0xFFFFFFFF))
        return bad("ha.home_prefix_valid_lifetime", "'" + *s + "' is not a number of seconds (at least 4)");
    if (auto s = str("ha.max_lifetime"); s && !parse_number<uint32_t>(*s, ha.max_binding_lifetime, 4, 262140))
        return bad("ha.max_lifetime", "'" + *s + "' is not a number of seconds from 4 to 262140");
    if (auto s = str("ha.accept_mobile_routers"); s && !parse_bool(*s, ha.accept_mobile_routers))
        return bad("ha.accept_mobile_routers", "'" + *s + "' is not yes or no");
    if (auto s = str("ha.allow_unprotected_signaling"); s && !parse_bool(*s, ha.allow_unprotected_signaling))
        return bad("ha.allow_unprotected_signaling", "'" + *s + "' is not yes or no");
    if (auto s = str("ha.methods")) {
        ha.methods = 0;
        for (const auto& w : split_words(*s, ',')) {
            auto m = method_from_name(w);
            if (!m) return bad("ha.methods", "'" + w + "' is not a tunnel method (ipv6, ipip, gre, udp, esp, esp-udp)");
            ha.methods |= method_bit(*m);
        }
        if (ha.methods == 0) return bad("ha.methods", "no method enabled");
    }
    if (auto s = str("ha.udp_port"); s && !parse_number<uint16_t>(*s, ha.udp_port, 1, 65535))
        return bad("ha.udp_port", "'" + *s + "' is not a port number");
    if (auto s = str("ha.ipv4_coa_option_type")) {
        uint8_t t = 0;
        const bool taken = parse_number<uint8_t>(*s, t, 0, 255) &&
                           (t <= wire::mopt::mobile_network_prefix || t == wire::mopt::nat_detection ||
                            t == wire::mopt::dsmip_ipv4_coa);
        if (!parse_number<uint8_t>(*s, t, 7, 255) || taken)
            return bad("ha.ipv4_coa_option_type", "'" + *s + "' is not a free mobility option type (7 to 255, not 31 or 32)");
        ha.option_types.ipv4_coa = t;
    }
    for (auto [key, field] : {std::pair{"ha.status_tunnel_unsupported", &ha.status_tunnel_unsupported},
                              std::pair{"ha.status_invalid_coa", &ha.status_invalid_coa}}) {
        if (auto s = str(key); s && !parse_number<uint8_t>(*s, *field, 144, 255))
            return bad(key, "'" + *s + "' is not a rejection status from 144 to 255 (128-143 have RFC meanings)");
    }
    if (ha.status_tunnel_unsupported == ha.status_invalid_coa)
        return bad("ha.status_invalid_coa", "must differ from ha.status_tunnel_unsupported");
    if (auto s = str("ha.binding_capacity"); s && !parse_number<uint32_t>(*s, c.binding_capacity, 1, 16'000'000))
        return bad("ha.binding_capacity", "'" + *s + "' is not a number from 1 to 16000000");
    if (auto s = str("ha.max_prefix_lengths"); s && !parse_number<uint32_t>(*s, c.max_prefix_lengths, 1, 128))
        return bad("ha.max_prefix_lengths", "'" + *s + "' is not a number from 1 to 128");
    if (auto s = str("ha.error_replies_per_second"); s && !parse_number<uint32_t>(*s, ha.error_replies_per_second, 0, 1'000'000))
        return bad("ha.error_replies_per_second", "'" + *s + "' is not a number from 0 to 1000000");
    if (auto s = str("cli.socket")) {
        if (s->empty() || s->size() >= 108) return bad("cli.socket", "a unix socket path of 1 to 107 characters");
        c.cli_socket = *s;
    }
    if (auto s = str("cli.group")) c.cli_group = *s;
    if (auto s = str("provisioning.file")) c.provisioning_file = *s;
    if (vm.count("provisioning.mr")) {
        const auto& mrs = vm["provisioning.mr"].as<std::vector<std::string>>();
        for (std::size_t i = 0; i < mrs.size(); ++i) {
            auto p = parse_provision(mrs[i]);
            if (auto* e = std::get_if<std::string>(&p)) return bad("provisioning.mr", *e, i);
            const MrProvision& mr = std::get<MrProvision>(p);
            if (!ha.home_prefix.contains(mr.hoa))
                return bad("provisioning.mr", mr.hoa.str() + " is not on the home prefix " + ha.home_prefix.str(), i);
            if (auto e = methods_not_enabled(mr, ha.methods)) return bad("provisioning.mr", *e, i);
            c.mrs.push_back(mr);
        }
    }
    if (auto s = str("eal.args")) c.eal_args = split_words(*s, ' ');

    for (auto [side, pc] : {std::pair{std::string("access"), &c.access}, std::pair{std::string("home"), &c.home}}) {
        if (auto s = str((side + ".port").c_str())) pc->port = *s;
        if (auto s = str((side + ".mtu").c_str()); s && !parse_number<uint16_t>(*s, pc->mtu, 1280, 9600))
            return bad(side + ".mtu", "'" + *s + "' is not an MTU from 1280 to 9600");
    }
    for (auto [side, pc, floor, v4] : {std::tuple{"access", &c.access, min_access_mtu(ha.methods), true},
                                       std::tuple{"home", &c.home, min_home_mtu(ha.methods), false}}) {
        if (pc->mtu >= floor) continue;
        return bad(std::string(side) + ".mtu",
                   std::to_string(pc->mtu) + " cannot carry a 1280-byte IPv6 packet (RFC 8201) in " +
                       std::string(method_name(*largest_overhead(ha.methods, v4))) + " (" +
                       std::to_string(floor - wire::kIpv6MinMtu) + " bytes of encapsulation): at least " +
                       std::to_string(floor) + " with ha.methods = " + format_methods(ha.methods));
    }
    if (auto s = str("access.gateway")) {
        auto a = Ipv4Addr::parse(*s);
        if (!a || a->is_unspecified() || a->is_multicast()) return bad("access.gateway", "'" + *s + "' is not a unicast IPv4 address");
        c.access.gateway4 = *a;
    }
    if (auto s = str("home.gateway")) {
        auto a = Ipv6Addr::parse(*s);
        if (!a || a->is_multicast() || a->is_unspecified()) return bad("home.gateway", "'" + *s + "' is not a unicast IPv6 address");
        c.home.gateway6 = *a;
    }
    if (auto s = str("dataplane.mbufs"); s && !parse_number<uint32_t>(*s, c.mbufs, 1023, 16'000'000))
        return bad("dataplane.mbufs", "'" + *s + "' is not a number from 1023 to 16000000");
    if (auto s = str("dataplane.ptb_per_second"); s && !parse_number<uint32_t>(*s, c.ptb_per_second, 0, 1'000'000))
        return bad("dataplane.ptb_per_second", "'" + *s + "' is not a number from 0 to 1000000");
    for (auto [key, field] : {std::pair{"dataplane.punt_priority_per_second", &c.punt_priority_per_second},
                              std::pair{"dataplane.punt_bulk_per_second", &c.punt_bulk_per_second}})
        if (auto s = str(key); s && !parse_number<uint32_t>(*s, *field, 1, 100'000'000))
            return bad(key, "'" + *s + "' is not a number from 1 to 100000000");
    if (auto s = str("dataplane.reassembly_flows"); s && !parse_number<uint32_t>(*s, c.reassembly_flows, 0, 1'000'000))
        return bad("dataplane.reassembly_flows", "'" + *s + "' is not a number from 0 to 1000000");
    if (auto s = str("dataplane.reassembly_timeout_ms"); s && !parse_number<uint32_t>(*s, c.reassembly_timeout_ms, 1, 60'000))
        return bad("dataplane.reassembly_timeout_ms", "'" + *s + "' is not a number from 1 to 60000");
    if (auto s = str("dataplane.gateway_refresh_s"); s && !parse_number<uint32_t>(*s, c.gateway_refresh_s, 1, 86'400))
        return bad("dataplane.gateway_refresh_s", "'" + *s + "' is not a number from 1 to 86400");
    if (auto s = str("dataplane.neighbor_max_age_s"); s && !parse_number<uint32_t>(*s, c.neighbor_max_age_s, 5, 86'400))
        return bad("dataplane.neighbor_max_age_s", "'" + *s + "' is not a number from 5 to 86400");
    // Every packet in reassembly may hold up to 8 fragments in mbufs (RTE_LIBRTE_IP_FRAG_MAX_FRAG).
    if (uint64_t{c.reassembly_flows} * 8 > c.mbufs / 2)
        return bad("dataplane.reassembly_flows", std::to_string(c.reassembly_flows) + " flows could hold " +
                   std::to_string(uint64_t{c.reassembly_flows} * 8) + " mbufs, over half of dataplane.mbufs (" +
                   std::to_string(c.mbufs) + "): lower it or raise dataplane.mbufs");
    if (auto e = check_eal(c, read_eal(c.eal_args), bad)) return *e;
    for (const char* fam : {"neighbors.v4", "neighbors.v6"}) {
        if (!vm.count(fam)) continue;
        const auto& entries = vm[fam].as<std::vector<std::string>>();
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const auto w = split_words(entries[i], ' ');
            auto mac = w.size() == 2 ? MacAddr::parse(w[1]) : std::nullopt;
            if (fam[11] == '4') {
                auto a = w.size() == 2 ? Ipv4Addr::parse(w[0]) : std::nullopt;
                if (!a || !mac) return bad(fam, "'" + entries[i] + "' is not 'IPv4 MAC'", i);
                c.neighbors4.emplace_back(*a, *mac);
            } else {
                auto a = w.size() == 2 ? Ipv6Addr::parse(w[0]) : std::nullopt;
                if (!a || !mac) return bad(fam, "'" + entries[i] + "' is not 'IPv6 MAC'", i);
                c.neighbors6.emplace_back(*a, *mac);
            }
        }
    }
    if (auto s = str("state.backend")) {
        if (*s == "rocksdb") c.state.backend = StateConfig::Backend::rocksdb;
        else if (*s == "sqlite") c.state.backend = StateConfig::Backend::sqlite;
        else if (*s == "none") c.state.backend = StateConfig::Backend::none;
        else if (*s == "etcd") c.state.backend = StateConfig::Backend::etcd;
        else return bad("state.backend", "'" + *s + "' is not rocksdb, sqlite, etcd or none");
    }
    if (auto e = parse_etcd_state(c, str, bad)) return *e;
    if (auto s = str("state.dir")) {
        if (s->empty() || (*s)[0] != '/') return bad("state.dir", "'" + *s + "' is not an absolute path");
        c.state.dir = *s;
    }
    if (auto s = str("state.on_damage")) {
        if (*s == "salvage" || *s == "refuse") c.state.refuse_damaged = *s == "refuse";
        else return bad("state.on_damage", "'" + *s + "' is not salvage or refuse");
    }
    if (auto s = str("metrics.listen"); s && !s->empty()) {
        auto l = parse_listen_address(*s);
        if (auto* e = std::get_if<std::string>(&l)) return bad("metrics.listen", *e);
        c.metrics_listen = std::get<ListenAddress>(l);
    }
    if (auto s = str("capture.enabled")) {
        if (*s == "auto") c.capture = CaptureMode::automatic;
        else if (bool on = false; parse_bool(*s, on)) c.capture = on ? CaptureMode::on : CaptureMode::off;
        else return bad("capture.enabled", "'" + *s + "' is not auto, yes or no");
        if (auto why = capture_unavailable(c.eal_args); why && c.capture == CaptureMode::on)
            return bad("capture.enabled", "yes, but " + *why);
    }
    if (auto s = str("log.target")) {
        auto t = log::parse_target(*s);
        if (!t) return bad("log.target", "'" + *s + "' is not auto, stderr, journal or syslog");
        c.log.target = *t;
    }
    if (auto s = str("log.level")) {
        auto l = log::parse_level(*s);
        if (!l) return bad("log.level", "'" + *s + "' is not err, warning, notice, info or debug");
        c.log.level = *l;
    }
    if (auto s = str("log.binding_events_per_second");
        s && !parse_number<uint32_t>(*s, c.log.binding_events_per_second, 0, 1'000'000))
        return bad("log.binding_events_per_second", "'" + *s + "' is not a number from 0 to 1000000");
    if (auto s = str("ipsec.allow_manual_gcm"); s && !parse_bool(*s, c.allow_manual_gcm))
        return bad("ipsec.allow_manual_gcm", "'" + *s + "' is not yes or no");
    if (vm.count("ipsec.sa")) {
        const auto& lines = vm["ipsec.sa"].as<std::vector<std::string>>();
        const std::size_t from_cmdline = where.on_cmdline("ipsec.sa");
        for (std::size_t i = 0; i < lines.size(); ++i) {
            // The daemon's command line is visible to every local user: keys come from files there.
            auto sa = parse_sa(lines[i], i < from_cmdline ? SaKeySource::file : SaKeySource::hex_or_file);
            if (auto* e = std::get_if<std::string>(&sa)) return bad("ipsec.sa", *e, i);
            if (auto e = refuse_manual_gcm(std::get<SaConfig>(sa), c.allow_manual_gcm)) return bad("ipsec.sa", *e, i);
            if (i >= from_cmdline && sa_line_has_key(lines[i])) keys_in_text = true;
            c.sas.push_back(std::move(std::get<SaConfig>(sa)));
        }
    }
    if (auto e = parse_ike(c, str, bad)) return *e;
    if (c.state.backend == StateConfig::Backend::etcd) {
        // README, "A cluster on etcd": an outbound SA's sequence numbers would repeat, or fall out of the
        // router's replay window, once two instances send under one key.
        if (!c.sas.empty())
            return bad("ipsec.sa", "ESP SAs are not kept in a cluster (state.backend = etcd): each instance would "
                                   "send under the same key with sequence numbers of its own");
        if (c.ike.enabled)
            return bad("ike.enabled", "IKEv2 negotiates ESP SAs, which a cluster (state.backend = etcd) does not keep");
        if (c.ha.methods & (method_bit(TunnelMethod::esp) | method_bit(TunnelMethod::esp_udp)))
            return bad("ha.methods", "esp and esp-udp need ESP SAs, which a cluster (state.backend = etcd) does not keep");
    }
    return c;
}

// The SA lines' text, kept by Boost.Program_options, once parsed: it may hold keys.
void wipe_sa_lines(po::variables_map& vm)
{
    auto it = vm.find("ipsec.sa");
    if (it == vm.end()) return;
    if (auto* lines = boost::any_cast<std::vector<std::string>>(&it->second.value()))
        for (std::string& l : *lines) wipe(l);
}

// The number of the first line that is neither blank, a comment, a [section] nor `key = value`: what
// Boost refuses as invalid syntax (0 if every line looks right).
std::size_t first_line_not_ini(std::string_view text)
{
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        const std::size_t first = line.find_first_not_of(" \t\r");
        if (first == std::string_view::npos) continue;
        line.remove_prefix(first);
        if (line[0] == '#' || line[0] == ';' || line[0] == '[' || line.find('=') != std::string_view::npos) continue;
        return number;
    }
    return 0;
}

std::variant<Config, std::string> parse_with(std::string_view text, std::string_view name,
                                             const po::variables_map* cmdline_vm, po::variables_map vm,
                                             bool* keys_in_text = nullptr)
{
    const auto desc = file_options();
    const KeyLines lines = scan_key_lines(text);
    Where where(std::string(name), lines, cmdline_vm);
    try {
        std::istringstream in{std::string(text)};
        po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
        po::notify(vm);
    } catch (const po::invalid_config_file_syntax&) {
        // Boost's message quotes the line, which may be a key an editor wrapped off its `sa =` line: say
        // where it is, never what it holds.
        return std::string(name) + ":" + std::to_string(first_line_not_ini(text)) +
               ": not a `key = value` line, a [section] or a comment (the line is not shown: it may hold a key)";
    } catch (const po::error_with_option_name& e) {
        return where.of(e.get_option_name().empty() ? "?" : e.get_option_name()) + ": " + e.what();
    } catch (const po::error& e) {
        return std::string(name) + ": " + e.what();
    }
    bool keys = false;
    auto c = build(vm, where, std::string(name), keys);
    wipe_sa_lines(vm);
    if (keys_in_text) *keys_in_text = keys;
    return c;
}

} // namespace

std::variant<Config, std::string> parse_config_text(std::string_view text, std::string_view name)
{
    return parse_with(text, name, nullptr, {});
}

std::variant<Config, std::string> load_config(int argc, const char* const* argv, CommandLine& cl,
                                              std::string_view default_text, std::string_view default_name)
{
    po::options_description general("nemo-ha");
    general.add_options()("help,h", "this help")("version", "print the version")(
        "config,c", po::value<std::string>(), "INI configuration file (default: the built-in demo configuration)")(
        "check", "check the configuration and exit");
    po::options_description all;
    all.add(general).add(file_options());
    std::ostringstream usage;
    usage << all;
    cl.usage = usage.str();

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    } catch (const po::error& e) {
        return std::string("command line: ") + e.what();
    }
    cl.help = vm.count("help") > 0;
    cl.version = vm.count("version") > 0;
    cl.check_only = vm.count("check") > 0;
    if (cl.help || cl.version) return Config{};

    std::string text(default_text), name(default_name);
    mode_t mode = 0;
    const bool from_file = vm.count("config") > 0;
    if (from_file) {
        name = vm["config"].as<std::string>();
        if (auto e = read_file(name, text, &mode)) return *e + " (the configuration file)";
    } else if (default_text.empty()) {
        return std::string("no configuration: give --config FILE");
    }
    po::variables_map cmdline = vm;
    bool keys_in_text = false;
    auto c = parse_with(text, name, &cmdline, std::move(vm), &keys_in_text);
    wipe(text);
    wipe_sa_lines(cmdline);
    // A configuration with keys on its lines is refused as the provisioning file is (one rule).
    if (keys_in_text && from_file && std::holds_alternative<Config>(c))
        if (auto e = check_private(name, mode)) return name + ": " + *e + " (or give the keys as enc=@FILE)";
    return c;
}

std::string ListenAddress::str() const
{
    return (v6 ? "[" + ipv6.str() + "]" : ipv4.str()) + ":" + std::to_string(port);
}

std::variant<ListenAddress, std::string> parse_listen_address(std::string_view text)
{
    const std::string quoted = "'" + std::string(text) + "'";
    ListenAddress l;
    std::string_view host, port;
    if (!text.empty() && text[0] == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return quoted + " is not [IPv6]:PORT";
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        auto a = Ipv6Addr::parse(host);
        if (!a) return quoted + ": '" + std::string(host) + "' is not an IPv6 address";
        if (a->is_multicast()) return quoted + ": a multicast address cannot be listened on";
        l.v6 = true;
        l.ipv6 = *a;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return quoted + " is not ADDR:PORT (an IPv6 address goes in brackets: [::1]:9464)";
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return quoted + ": an IPv6 address goes in brackets: [" + std::string(host) + "]:PORT";
        auto a = Ipv4Addr::parse(host);
        if (!a) return quoted + ": '" + std::string(host) + "' is not an IPv4 address";
        if (a->is_multicast() || a->is_broadcast()) return quoted + ": a multicast or broadcast address cannot be listened on";
        l.ipv4 = *a;
    }
    if (!parse_number<uint16_t>(port, l.port, 1, 65535)) return quoted + ": '" + std::string(port) + "' is not a port from 1 to 65535";
    return l;
}

std::optional<std::string> methods_not_enabled(const MrProvision& mr, MethodSet ha_methods)
{
    const MethodSet missing = mr.methods & static_cast<MethodSet>(~ha_methods);
    if (!missing) return std::nullopt;
    return mr.hoa.str() + " asks for " + format_methods(missing) + ", which ha.methods (" + format_methods(ha_methods) +
           ") does not enable: add it there or drop it from the entry";
}

uint16_t min_access_mtu(MethodSet methods) { return min_mtu(methods, true); }
uint16_t min_home_mtu(MethodSet methods) { return min_mtu(methods, false); }

std::optional<std::string> check_startable(const Config& c, std::optional<uint64_t> hugepages)
{
    if (c.access.port.empty()) return c.origin + ": access.port: required (a DPDK port name)";
    if (c.home.port.empty()) return c.origin + ": home.port: required (a DPDK port name)";
    if (c.ha.ipv4_addresses.empty()) return c.origin + ": ha.ipv4: required: the tunnels' IPv4 end";
    if (hugepages && *hugepages == 0 && !read_eal(c.eal_args).no_huge)
        return c.origin + ": eal.args: this machine has no free hugepages, which EAL needs without --no-huge: reserve "
                          "some (echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) or, for a lab, "
                          "add --no-huge -m 1024";
    return std::nullopt;
}

std::optional<uint64_t> free_hugepages()
{
    std::error_code ec;
    std::optional<uint64_t> total;
    for (const auto& dir : std::filesystem::directory_iterator("/sys/kernel/mm/hugepages", ec)) {
        std::ifstream f(dir.path() / "free_hugepages");
        uint64_t n = 0;
        if (f >> n) total = total.value_or(0) + n;
    }
    if (total) return total;
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t n = 0;
    while (meminfo >> key) {
        if (key == "HugePages_Free:" && meminfo >> n) return n;
        meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return std::nullopt;
}

std::optional<std::string> check_provisioning_file(const Config& c)
{
    if (c.provisioning_file.empty()) return std::nullopt;
    // The SAs it holds are the daemon's to check when it builds them; here only that they parse.
    ProvisioningStore store;
    for (const MrProvision& mr : c.mrs) (void)store.add(mr);
    if (auto e = store.load_file(c.provisioning_file, [](const SaConfig&) { return std::optional<std::string>{}; }))
        return e;
    std::optional<std::string> err;
    store.for_each([&](const MrProvision& mr) {
        if (err) return;
        if (auto e = methods_not_enabled(mr, c.ha.methods)) err = c.provisioning_file + ": " + *e;
    });
    return err;
}

std::optional<std::string> unprotected_signaling_warning(bool allow_unprotected_signaling, std::size_t inbound_sas)
{
    if (allow_unprotected_signaling || inbound_sas > 0) return std::nullopt;
    return "WARNING: no inbound SA (ipsec.sa, 'sa in' in the provisioning file) and "
           "ha.allow_unprotected_signaling = no: EVERY Binding Update will be dropped (counted as "
           "nemoHaBuDropUnprotected) until one is added with `nemo-hactl add sa in ...`";
}

std::optional<std::string> capture_unavailable(const std::vector<std::string>& eal_args)
{
    const EalView eal = read_eal(eal_args);
    // EAL's multi-process channel and the shared configuration file are what a secondary attaches by.
    if (eal.no_shconf) return "eal.args has --no-shconf: no shared configuration for dpdk-dumpcap to attach to";
    if (eal.in_memory) return "eal.args has --in-memory (it implies --no-shconf): no shared configuration for dpdk-dumpcap to attach to";
    // DPDK 22.11 secondaries map the primary's memory by its hugepage files; --no-huge memory is anonymous
    // (a memfd only the primary holds), and a secondary stops at "Cannot get hugepage information".
    if (eal.no_huge) return "eal.args has --no-huge: dpdk-dumpcap cannot map memory that is not in hugepages";
    return std::nullopt;
}

std::string eal_file_prefix(const std::vector<std::string>& eal_args) { return read_eal(eal_args).file_prefix; }

std::string render_config(const Config& c)
{
    const HaParams& ha = c.ha;
    std::ostringstream o;
    o << "# effective configuration (from " << c.origin << ")\n[ha]\n";
    for (const auto& a : ha.ipv6_addresses) o << "ipv6 = " << a.str() << "\n";
    for (const auto& a : ha.ipv4_addresses) o << "ipv4 = " << a.str() << "\n";
    o << "home_prefix = " << ha.home_prefix.str() << "\n"
      << "home_prefix_valid_lifetime = " << ha.home_prefix_valid_lifetime << "\n"
      << "max_lifetime = " << ha.max_binding_lifetime << "\n"
      << "accept_mobile_routers = " << (ha.accept_mobile_routers ? "yes" : "no") << "\n"
      << "methods = " << format_methods(ha.methods) << "\n"
      << "udp_port = " << ha.udp_port << "\n"
      << "allow_unprotected_signaling = " << (ha.allow_unprotected_signaling ? "yes" : "no") << "\n"
      << "ipv4_coa_option_type = " << int(ha.option_types.ipv4_coa) << "\n"
      << "status_tunnel_unsupported = " << int(ha.status_tunnel_unsupported) << "\n"
      << "status_invalid_coa = " << int(ha.status_invalid_coa) << "\n"
      << "binding_capacity = " << c.binding_capacity << "\n"
      << "max_prefix_lengths = " << c.max_prefix_lengths << "\n"
      << "error_replies_per_second = " << ha.error_replies_per_second << "\n"
      << "\n[cli]\nsocket = " << c.cli_socket << "\n" << (c.cli_group.empty() ? "" : "group = " + c.cli_group + "\n")
      << "\n[state]\nbackend = " << backend_name(c.state.backend) << "\ndir = " << c.state.dir
      << "\non_damage = " << (c.state.refuse_damaged ? "refuse" : "salvage") << "\n";
    if (c.state.backend == StateConfig::Backend::etcd) {
        const EtcdStateConfig& e = c.state.etcd;
        o << "etcd_endpoints = ";
        for (std::size_t i = 0; i < e.endpoints.size(); ++i) o << (i ? "," : "") << e.endpoints[i];
        o << "\ncluster = " << e.cluster << "\ninstance = " << e.instance << "\netcd_max_txn_ops = " << e.max_txn_ops
          << "\netcd_timeout_ms = " << e.timeout_ms << "\n";
        if (!e.ca_file.empty()) o << "etcd_ca = " << e.ca_file << "\n";
        if (!e.cert_file.empty()) o << "etcd_cert = " << e.cert_file << "\netcd_key = " << e.key_file << "\n";
    }
    o << "\n[metrics]\nlisten = " << (c.metrics_listen ? c.metrics_listen->str() : "") << "\n"
      << "\n[log]\ntarget = " << log::target_name(c.log.target) << "\nlevel = " << log::level_name(c.log.level)
      << "\nbinding_events_per_second = " << c.log.binding_events_per_second << "\n"
      << "\n[provisioning]\n";
    if (!c.provisioning_file.empty()) o << "file = " << c.provisioning_file << "\n";
    o << "# " << c.mrs.size() << " mr line(s) in the configuration; `show mr` lists what is provisioned now\n";
    o << "\n[eal]\nargs =";
    for (const auto& a : c.eal_args) o << " " << a;
    o << "\n";
    for (auto [side, pc] : {std::pair{"access", &c.access}, std::pair{"home", &c.home}}) {
        o << "\n[" << side << "]\n";
        if (!pc->port.empty()) o << "port = " << pc->port << "\n";
        o << "mtu = " << pc->mtu << "\n";
        if (pc->gateway4) o << "gateway = " << pc->gateway4->str() << "\n";
        if (pc->gateway6) o << "gateway = " << pc->gateway6->str() << "\n";
    }
    o << "\n[dataplane]\nmbufs = " << c.mbufs << "\nptb_per_second = " << c.ptb_per_second
      << "\npunt_priority_per_second = " << c.punt_priority_per_second << "\npunt_bulk_per_second = " << c.punt_bulk_per_second
      << "\nreassembly_flows = " << c.reassembly_flows << "\nreassembly_timeout_ms = " << c.reassembly_timeout_ms
      << "\ngateway_refresh_s = " << c.gateway_refresh_s << "\nneighbor_max_age_s = " << c.neighbor_max_age_s << "\n";
    if (!c.neighbors4.empty() || !c.neighbors6.empty()) o << "\n[neighbors]\n";
    for (const auto& [a, m] : c.neighbors4) o << "v4 = " << a.str() << " " << m.str() << "\n";
    for (const auto& [a, m] : c.neighbors6) o << "v6 = " << a.str() << " " << m.str() << "\n";
    o << "\n[capture]\nenabled = "
      << (c.capture == CaptureMode::automatic ? "auto" : c.capture == CaptureMode::on ? "yes" : "no") << "\n";
    o << "\n[ipsec]\nallow_manual_gcm = " << (c.allow_manual_gcm ? "yes" : "no") << "\n";
    if (!c.sas.empty()) o << "# " << c.sas.size() << " SA(s) configured; keys are not shown: `show sa` lists them\n";
    const IkeSettings& k = c.ike;
    o << "\n[ike]\nenabled = " << (k.enabled ? "yes" : "no") << "\n";
    if (!k.id.empty()) o << "id = " << k.id << "\n";
    if (!k.psk_file.empty()) o << "psk_file = " << k.psk_file << "\n";
    if (!k.ca_file.empty()) o << "ca_file = " << k.ca_file << "\ncert_file = " << k.cert_file << "\nkey_file = " << k.key_file << "\n";
    o << "dpd_s = " << k.dpd_s << "\nretransmits = " << k.retransmits << "\nchild_lifetime_s = " << k.child_lifetime_s
      << "\nhalf_open_max = " << k.half_open_max << "\ncookie_threshold = " << k.cookie_threshold
      << "\ninits_per_turn = " << k.inits_per_turn << "\n";
    return o.str();
}

} // namespace nemo::control
