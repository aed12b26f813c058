#include "config.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "provision_text.hpp"

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

po::options_description file_options()
{
    po::options_description d("configuration (file sections, or --section.key=value)");
    auto s = [] { return po::value<std::string>(); };
    auto m = [] { return po::value<std::vector<std::string>>()->composing(); };
    d.add_options()
        ("ha.ipv6", m(), "the home agent's IPv6 address(es), preferred first")
        ("ha.ipv4", m(), "the home agent's IPv4 address(es): tunnel endpoints, DHAAD I replies")
        ("ha.home_prefix", s(), "the home prefix served, e.g. 2001:db8:1::/64")
        ("ha.home_prefix_valid_lifetime", s(), "seconds (default 86400); caps granted lifetimes")
        ("ha.max_lifetime", s(), "longest binding lifetime granted, seconds (default 3600)")
        ("ha.accept_mobile_routers", s(), "yes|no (default yes)")
        ("ha.methods", s(), "enabled tunnel methods: ipv6,ipip,gre,udp (default all four)")
        ("ha.udp_port", s(), "UDP port for the U method (default 4191)")
        ("ha.allow_unprotected_signaling", s(), "yes|no (default no): accept BUs no SA protected (lab only)")
        ("ha.ipv4_coa_option_type", s(), "mobility option type of the IPv4 CoA option (default 18)")
        ("ha.status_tunnel_unsupported", s(), "BA status for an unsupported tunnel method (default 144)")
        ("ha.status_invalid_coa", s(), "BA status for an invalid care-of address (default 145)")
        ("ha.binding_capacity", s(), "most bindings at once (default 65536)")
        ("cli.socket", s(), "unix socket of the operator CLI (default /run/nemo-ha/cli.sock)")
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
        ("dataplane.ptb_per_second", s(), "ICMPv6 Packet Too Big per worker per second (default 100)")
        ("dataplane.reassembly_flows", s(), "outer IPv4 packets in reassembly at once, per worker; 0 drops fragments (default 256)")
        ("dataplane.reassembly_timeout_ms", s(), "how long a packet waits for its missing fragments (default 2000)")
        ("dataplane.gateway_refresh_s", s(), "seconds between ARP/NS refreshes of the gateways' addresses (default 30)")
        ("dataplane.neighbor_max_age_s", s(), "seconds before a learned neighbour is asked for again, and removed if silent (default 300)")
        ("neighbors.v4", m(), "static ARP entry: IPv4 MAC")
        ("neighbors.v6", m(), "static neighbour entry: IPv6 MAC")
        ("ipsec.sa", m(), "security association: in|out SPI HOA ALGORITHM enc=HEX [auth=HEX] [esn] [window=N]");
    return d;
}

template <class T>
bool parse_number(const std::string& s, T& out, T lo, T hi)
{
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || s.empty() || v < lo || v > hi) return false;
    out = static_cast<T>(v);
    return true;
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

// Turns the parsed variables into a Config, checking each value.
std::variant<Config, std::string> build(const po::variables_map& vm, const Where& where, std::string origin)
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
    if (auto s = str("cli.socket")) {
        if (s->empty() || s->size() >= 108) return bad("cli.socket", "a unix socket path of 1 to 107 characters");
        c.cli_socket = *s;
    }
    if (auto s = str("provisioning.file")) c.provisioning_file = *s;
    if (vm.count("provisioning.mr")) {
        const auto& mrs = vm["provisioning.mr"].as<std::vector<std::string>>();
        for (std::size_t i = 0; i < mrs.size(); ++i) {
            auto p = parse_provision(mrs[i]);
            if (auto* e = std::get_if<std::string>(&p)) return bad("provisioning.mr", *e, i);
            const MrProvision& mr = std::get<MrProvision>(p);
            if (!ha.home_prefix.contains(mr.hoa))
                return bad("provisioning.mr", mr.hoa.str() + " is not on the home prefix " + ha.home_prefix.str(), i);
            c.mrs.push_back(mr);
        }
    }
    if (auto s = str("eal.args")) c.eal_args = split_words(*s, ' ');

    for (auto [side, pc] : {std::pair{std::string("access"), &c.access}, std::pair{std::string("home"), &c.home}}) {
        if (auto s = str((side + ".port").c_str())) pc->port = *s;
        if (auto s = str((side + ".mtu").c_str()); s && !parse_number<uint16_t>(*s, pc->mtu, 1280, 9600))
            return bad(side + ".mtu", "'" + *s + "' is not an MTU from 1280 to 9600");
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
    if (vm.count("ipsec.sa")) {
        const auto& lines = vm["ipsec.sa"].as<std::vector<std::string>>();
        for (std::size_t i = 0; i < lines.size(); ++i) {
            auto sa = parse_sa(lines[i]);
            if (auto* e = std::get_if<std::string>(&sa)) return bad("ipsec.sa", *e, i);
            c.sas.push_back(std::get<SaConfig>(sa));
        }
    }
    return c;
}

std::variant<Config, std::string> parse_with(std::string_view text, std::string_view name,
                                             const po::variables_map* cmdline_vm, po::variables_map vm)
{
    const auto desc = file_options();
    const KeyLines lines = scan_key_lines(text);
    Where where(std::string(name), lines, cmdline_vm);
    try {
        std::istringstream in{std::string(text)};
        po::store(po::parse_config_file(in, desc, /*allow_unregistered=*/false), vm);
        po::notify(vm);
    } catch (const po::error_with_option_name& e) {
        return where.of(e.get_option_name().empty() ? "?" : e.get_option_name()) + ": " + e.what();
    } catch (const po::error& e) {
        return std::string(name) + ": " + e.what();
    }
    return build(vm, where, std::string(name));
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
    if (vm.count("config")) {
        name = vm["config"].as<std::string>();
        std::ifstream f(name);
        if (!f) return name + ": cannot open the configuration file";
        std::ostringstream ss;
        ss << f.rdbuf();
        text = ss.str();
    } else if (default_text.empty()) {
        return std::string("no configuration: give --config FILE");
    }
    const po::variables_map cmdline = vm;
    return parse_with(text, name, &cmdline, std::move(vm));
}

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
      << "\n[cli]\nsocket = " << c.cli_socket << "\n\n[provisioning]\n";
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
      << "\nreassembly_flows = " << c.reassembly_flows << "\nreassembly_timeout_ms = " << c.reassembly_timeout_ms
      << "\ngateway_refresh_s = " << c.gateway_refresh_s << "\nneighbor_max_age_s = " << c.neighbor_max_age_s << "\n";
    if (!c.neighbors4.empty() || !c.neighbors6.empty()) o << "\n[neighbors]\n";
    for (const auto& [a, m] : c.neighbors4) o << "v4 = " << a.str() << " " << m.str() << "\n";
    for (const auto& [a, m] : c.neighbors6) o << "v6 = " << a.str() << " " << m.str() << "\n";
    if (!c.sas.empty()) o << "\n[ipsec]\n# " << c.sas.size() << " SA(s) configured; keys are not shown: `show sa` lists them\n";
    return o.str();
}

} // namespace nemo::control
