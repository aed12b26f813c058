// nemo-mr: the mobile router. Options (Boost.Program_options), the routers (one, or --routers N derived from
// a base home address, prefix and UDP port), and the loop: sockets and timers in, lib/mr_decision's
// answers out.
//
//   nemo-mr --interface mr0 --home-address 2001:db8:1::100 --prefix 2001:db8:aaaa::/48
//           --ha6 2001:db8:1::1 --ha4 198.51.100.1 --methods udp,gre,ipip --tun mnp0
//   nemo-mr status --socket PATH [--json]
//   nemo-mr stop --socket PATH
#include "mr.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "esp.hpp"
#include "ipv6.hpp"
#include "number.hpp"

namespace po = boost::program_options;
using namespace nemo;
using namespace nemo::mr;

namespace {

uint64_t now_ms()
{
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

std::vector<std::string> split_list(const std::vector<std::string>& values)
{
    std::vector<std::string> out;
    for (const auto& v : values) {
        std::stringstream ss(v);
        std::string item;
        while (std::getline(ss, item, ','))
            if (!item.empty()) out.push_back(item);
    }
    return out;
}

// `base` + n in the 128-bit number space at bit position `bits` from the right.
Ipv6Addr add_at(Ipv6Addr a, uint64_t n, unsigned bits_from_right)
{
    // Add n << bits_from_right, carrying through the bytes.
    unsigned byte = 15 - bits_from_right / 8;
    uint64_t carry = n << (bits_from_right % 8);
    for (int i = static_cast<int>(byte); i >= 0 && carry; --i) {
        const uint64_t sum = uint64_t{a.bytes[static_cast<std::size_t>(i)]} + (carry & 0xFF);
        a.bytes[static_cast<std::size_t>(i)] = static_cast<uint8_t>(sum);
        carry = (carry >> 8) + (sum >> 8);
    }
    return a;
}

class Program {
public:
    explicit Program(Options o) : o_(std::move(o)) {}
    int run();

private:
    bool setup(std::string& err);
    void apply(Router& r, const Action& a, uint64_t now);
    void send_signaling(Router& r, std::span<const uint8_t> pkt, uint64_t now);
    void on_inbound(std::span<const uint8_t> inner, uint64_t now);
    void on_esp(std::span<uint8_t> esp, uint64_t now);
    void on_tun(int fd);
    Router* router_for(const Ipv6Addr& a);
    uint64_t next_deadline() const;
    void dhaad(uint64_t now);
    void save_if_dirty(uint64_t now, bool force = false);
    // Starts the routers, at most Options::start_rate a second: a home agent (and the socket buffers on
    // the way) take a burst of a thousand BUs badly, and starts spread out spread the refreshes too.
    void begin_starts(uint64_t now);
    void start_due(uint64_t now);
    bool all_stopped() const;

    Options o_;
    Access access_;
    ControlServer control_;
    std::vector<Router> routers_;
    std::map<Ipv6Addr, unsigned> by_hoa_;
    std::map<Prefix6, unsigned> by_prefix_;
    std::map<uint32_t, unsigned> by_spi_; // inbound ESP SAs
    ImbManager imb_;
    std::vector<uint8_t> prefix_lens_;
    int shared_tun_ = -1;
    int sigfd_ = -1;
    CareOf coa_;
    bool dirty_ = false;
    std::size_t started_ = 0;
    uint64_t starts_from_ = 0;
    bool starting_ = false;
    uint64_t next_save_ = 0;
    bool stopping_ = false;
    uint64_t stop_deadline_ = 0;
    bool dhaad_waiting_ = false;
    uint64_t dhaad_deadline_ = 0;
    unsigned dhaad_tries_ = 0;
};

bool Program::setup(std::string& err)
{
    auto seqs = o_.state_file.empty() ? std::map<Ipv6Addr, SavedSeq>{} : load_sequences(o_.state_file);
    for (unsigned i = 0; i < o_.routers; ++i) {
        Router r;
        r.index = i;
        r.hoa = add_at(o_.home_address, i, 0);
        r.settings = o_.settings;
        r.settings.udp_port = static_cast<uint16_t>(o_.udp_port + i);
        r.settings.prefixes.clear();
        for (const Prefix6& p : o_.prefixes)
            r.settings.prefixes.push_back(Prefix6::make(add_at(p.addr, i, 128u - p.len), p.len));
        if (auto it = seqs.find(r.hoa); it != seqs.end()) r.state.seq = it->second.bu;
        by_hoa_[r.hoa] = i;
        for (const Prefix6& p : r.settings.prefixes) {
            by_prefix_[p] = i;
            if (std::find(prefix_lens_.begin(), prefix_lens_.end(), p.len) == prefix_lens_.end()) prefix_lens_.push_back(p.len);
        }
        routers_.push_back(std::move(r));
    }
    if (!load_sas(o_.sa_lines, routers_, err)) return false;
    for (Router& r : routers_) {
        if (r.esp_tx) {
            if (auto it = seqs.find(r.hoa); it != seqs.end() && it->second.esp > r.esp_tx->next_seq)
                r.esp_tx->next_seq = it->second.esp;
            r.esp_tx->reserved = r.esp_tx->next_seq + kEspSeqReserve;
            dirty_ = true;
        }
        if (r.esp_rx) by_spi_[r.esp_rx->spi] = r.index;
    }
    if (!access_.open(o_, err)) return false;
    for (Router& r : routers_)
        if (!access_.open_udp(r, err)) return false;
    if (!o_.tun_name.empty()) {
        if (o_.tun_per_router) {
            for (Router& r : routers_) {
                r.tun_fd = open_tun(o_.tun_name + std::to_string(r.index), 1400, err);
                if (r.tun_fd < 0) return false;
            }
        } else {
            shared_tun_ = open_tun(o_.tun_name, 1400, err);
            if (shared_tun_ < 0) return false;
        }
    }
    if (!control_.open(o_.control_socket, err)) return false;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    sigfd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return true;
}

Router* Program::router_for(const Ipv6Addr& a)
{
    if (auto it = by_hoa_.find(a); it != by_hoa_.end()) return &routers_[it->second];
    for (uint8_t len : prefix_lens_)
        if (auto it = by_prefix_.find(Prefix6::make(a, len)); it != by_prefix_.end()) return &routers_[it->second];
    return nullptr;
}

void Program::send_signaling(Router& r, std::span<const uint8_t> pkt, uint64_t)
{
    const Ipv4Addr ha4 = r.ha_index < o_.ha4.size() ? o_.ha4[r.ha_index] : Ipv4Addr{};
    const Ipv6Addr ha6 = o_.ha6.empty() ? Ipv6Addr{} : o_.ha6[std::min<std::size_t>(r.ha_index, o_.ha6.size() - 1)];
    const TunnelMethod via = r.state.coa.is_v4() ? r.state.method : TunnelMethod::ipv6;
    (void)access_.send(r, via, r.state.coa, ha4, ha6, pkt);
}

void Program::apply(Router& r, const Action& a, uint64_t now)
{
    if (a.report != Report::ignored && a.report != Report::none) {
        r.last_report = report_name(a.report);
        r.last_detail = a.detail;
        if (o_.verbose || o_.routers == 1 || (a.report != Report::refreshing && a.report != Report::refreshed))
            std::fprintf(stderr, "nemo-mr: router %u (%s): %s%s%s\n", r.index, r.hoa.str().c_str(),
                         report_name(a.report), a.detail.empty() ? "" : ": ", a.detail.c_str());
    }
    if (a.send) {
        const Ipv4Addr ha4 = r.ha_index < o_.ha4.size() ? o_.ha4[r.ha_index] : Ipv4Addr{};
        const Ipv6Addr ha6 = o_.ha6.empty() ? Ipv6Addr{} : o_.ha6[std::min<std::size_t>(r.ha_index, o_.ha6.size() - 1)];
        uint8_t buf[1024];
        const std::size_t n = build_bu_packet(buf, *a.send, r.hoa, ha6);
        if (n != 0 && access_.send(r, a.send->via, a.send->coa, ha4, ha6, std::span<const uint8_t>(buf, n)))
            ++r.counters.bu_sent;
        else
            std::fprintf(stderr, "nemo-mr: router %u: BU not sent\n", r.index);
        dirty_ = true;
    }
    if (a.report == Report::registered && r.state.tunnel_up) {
        // RFC 6275 11.4.2: ask for the home prefixes through the tunnel once registered.
        const Ipv6Addr ha6 = o_.ha6.empty() ? Ipv6Addr{} : o_.ha6[std::min<std::size_t>(r.ha_index, o_.ha6.size() - 1)];
        uint8_t buf[128];
        const std::size_t n = build_mps_packet(buf, static_cast<uint16_t>(r.state.seq), r.hoa, ha6);
        if (n) {
            send_signaling(r, std::span<const uint8_t>(buf, n), now);
            ++r.counters.mps_sent;
        }
    }
    const bool give_up = a.report == Report::legacy_ha || a.report == Report::no_common_method ||
                         a.report == Report::not_router_ha;
    if (give_up && !stopping_ && r.ha_index + 1 < o_.ha4.size() && r.state.coa.is_v4()) {
        ++r.ha_index;
        std::fprintf(stderr, "nemo-mr: router %u: trying the next home agent, %s\n", r.index,
                     o_.ha4[r.ha_index].str().c_str());
        apply(r, mr_step(r.state, r.settings, Event::start(now, r.state.coa)), now);
    }
}

void Program::on_inbound(std::span<const uint8_t> inner, uint64_t now)
{
    if (inner.empty()) return;
    Inbound in = classify_inbound(inner);
    Router* r = in.kind == Inbound::Kind::bad ? nullptr : router_for(in.dst);
    if (!r) {
        if (!routers_.empty()) ++routers_[0].counters.rx_dropped;
        return;
    }
    switch (in.kind) {
    case Inbound::Kind::ba: {
        ++r->counters.ba_received;
        r->last_ba = in.ba;
        Action a = mr_step(r->state, r->settings, Event::ba_received(now, in.ba));
        if (a.report == Report::ignored) ++r->counters.ba_ignored;
        apply(*r, a, now);
        break;
    }
    case Inbound::Kind::dhaad_reply: {
        ++r->counters.dhaad_replies;
        if (!dhaad_waiting_) break;
        // Draft 6: the IPv6 and the IPv4 lists, each in the reply's preference order.
        // An empty list keeps the configured one (a reply without IPv4 addresses leaves --ha4 in use).
        if (!in.ha6.empty()) o_.ha6 = in.ha6;
        if (!in.ha4_mapped.empty()) {
            o_.ha4.clear();
            for (const Ipv6Addr& m : in.ha4_mapped) o_.ha4.push_back(m.mapped_v4());
        }
        std::fprintf(stderr, "nemo-mr: DHAAD reply: %zu IPv6, %zu IPv4 home agents\n", o_.ha6.size(), o_.ha4.size());
        dhaad_waiting_ = false;
        begin_starts(now);
        break;
    }
    case Inbound::Kind::mpa:
        ++r->counters.mpa_received;
        r->mobile_prefixes = in.prefixes;
        for (auto& m : r->mobile_prefixes) {
            m.at_ms = now;
            std::fprintf(stderr, "nemo-mr: router %u: mobile prefix %s valid %u s preferred %u s\n", r->index,
                         m.prefix.str().c_str(), m.valid_lifetime, m.preferred_lifetime);
        }
        break;
    case Inbound::Kind::data: {
        const int fd = r->tun_fd >= 0 ? r->tun_fd : shared_tun_;
        if (fd < 0 || in.dst == r->hoa) { ++r->counters.rx_dropped; break; }
        if (::write(fd, inner.data(), inner.size()) == static_cast<ssize_t>(inner.size())) {
            ++r->counters.rx_packets;
            r->counters.rx_bytes += inner.size();
        } else {
            ++r->counters.rx_dropped;
        }
        break;
    }
    default: ++r->counters.rx_dropped; break;
    }
}

void Program::on_esp(std::span<uint8_t> esp, uint64_t now)
{
    auto v = wire::parse_esp(esp);
    if (!v) return;
    auto it = by_spi_.find(v->spi);
    if (it == by_spi_.end()) {
        if (!routers_.empty()) ++routers_[0].counters.rx_dropped;
        return;
    }
    Router& r = routers_[it->second];
    auto inner = esp_open(*r.esp_rx, imb_, esp);
    if (inner.empty()) {
        ++r.counters.rx_dropped;
        return;
    }
    on_inbound(inner, now);
}

void Program::on_tun(int fd)
{
    uint8_t buf[65536];
    for (int i = 0; i < 64; ++i) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return;
        auto p = wire::parse_ipv6(std::span<const uint8_t>(buf, static_cast<std::size_t>(n)));
        if (!p) continue;
        Router* r = router_for(p->hdr.src);
        if (!r) continue;
        if (!r->state.tunnel_up) { ++r->counters.tx_dropped_no_tunnel; continue; }
        const Ipv4Addr ha4 = r->ha_index < o_.ha4.size() ? o_.ha4[r->ha_index] : Ipv4Addr{};
        const Ipv6Addr ha6 = o_.ha6.empty() ? Ipv6Addr{} : o_.ha6[std::min<std::size_t>(r->ha_index, o_.ha6.size() - 1)];
        if (access_.send(*r, r->state.method, r->state.coa, ha4, ha6, std::span<const uint8_t>(buf, static_cast<std::size_t>(n)))) {
            ++r->counters.tx_packets;
            r->counters.tx_bytes += static_cast<uint64_t>(n);
        } else {
            ++r->counters.tx_dropped_no_tunnel;
        }
    }
}

uint64_t Program::next_deadline() const
{
    uint64_t d = 0;
    for (const Router& r : routers_)
        if (r.state.timer_at_ms != 0 && (d == 0 || r.state.timer_at_ms < d)) d = r.state.timer_at_ms;
    return d;
}

bool Program::all_stopped() const
{
    for (const Router& r : routers_)
        if (r.state.phase == Phase::deregistering) return false;
    return true;
}

void Program::save_if_dirty(uint64_t now, bool force)
{
    // At most once a second (and at the end): a number lost in a crash comes back as BA 135, which carries
    // the HA's last accepted one (RFC 6275 11.7.1).
    // ESP: move the reservation ahead before the sequence numbers reach it (saved with the next write).
    for (Router& r : routers_)
        if (r.esp_tx && r.esp_tx->next_seq + kEspSeqReserve / 2 > r.esp_tx->reserved) {
            r.esp_tx->reserved = r.esp_tx->next_seq + kEspSeqReserve;
            dirty_ = true;
        }
    if (!dirty_ || o_.state_file.empty() || (!force && now < next_save_)) return;
    next_save_ = now + 1000;
    if (!save_sequences(o_.state_file, routers_)) std::fprintf(stderr, "nemo-mr: cannot write %s\n", o_.state_file.c_str());
    dirty_ = false;
}

void Program::begin_starts(uint64_t now)
{
    starting_ = true;
    started_ = 0;
    starts_from_ = now;
    start_due(now);
}

void Program::start_due(uint64_t now)
{
    if (!starting_ || stopping_) return;
    const std::size_t due = o_.start_rate == 0
                                ? routers_.size()
                                : std::min<std::size_t>(routers_.size(), 1 + (now - starts_from_) * o_.start_rate / 1000);
    for (; started_ < due; ++started_) {
        Router& r = routers_[started_];
        apply(r, mr_step(r.state, r.settings, Event::start(now, coa_)), now);
    }
    if (started_ == routers_.size()) starting_ = false;
}

void Program::dhaad(uint64_t now)
{
    // Draft 6: DHAAD with the I flag to the home agents' anycast address, through whatever path exists:
    // natively from an IPv6 CoA, else from the home address in an IPv6-in-IPv4 tunnel to a configured
    // IPv4 home agent.
    Router& r = routers_[0];
    const Prefix6 hp = o_.home_prefix ? *o_.home_prefix : Prefix6::make(r.hoa, 64);
    const Ipv6Addr any = anycast_of(hp);
    uint8_t buf[128];
    r.dhaad_id = static_cast<uint16_t>(0x4d00 + dhaad_tries_);
    if (coa_.is_v6()) {
        const std::size_t n = build_dhaad_packet(buf, r.dhaad_id, coa_.v6, any);
        if (n) (void)access_.send(r, TunnelMethod::ipv6, coa_, {}, any, std::span<const uint8_t>(buf, n));
    } else if (coa_.is_v4() && !o_.ha4.empty()) {
        const std::size_t n = build_dhaad_packet(buf, r.dhaad_id, r.hoa, any);
        if (n) (void)access_.send(r, TunnelMethod::ipip, coa_, o_.ha4[0], any, std::span<const uint8_t>(buf, n));
    }
    ++r.counters.dhaad_sent;
    ++dhaad_tries_;
    dhaad_deadline_ = now + 1000;
}

int Program::run()
{
    std::string err;
    if (!setup(err)) {
        std::fprintf(stderr, "nemo-mr: %s\n", err.c_str());
        return 1;
    }
    uint64_t now = now_ms();
    coa_ = access_.current_coa(o_);
    std::fprintf(stderr, "nemo-mr: %u router(s) on %s, care-of %s\n", o_.routers, o_.access_interface.c_str(),
                 coa_.str().c_str());
    if (o_.dhaad) {
        dhaad_waiting_ = true;
        dhaad(now);
    } else {
        begin_starts(now);
    }
    save_if_dirty(now, true);
    uint64_t next_coa_poll = now + 1000;
    std::vector<pollfd> fds;
    std::vector<int> kinds; // 0 raw41, 1 raw47, 2 packet6, 3 udp, 4 tun, 5 control, 6 signal, 7 raw50
    while (true) {
        fds.clear();
        kinds.clear();
        auto add = [&](int fd, int kind) {
            if (fd < 0) return;
            fds.push_back({fd, POLLIN, 0});
            kinds.push_back(kind);
        };
        add(access_.fd41(), 0);
        add(access_.fd47(), 1);
        add(access_.fd_packet6(), 2);
        add(access_.fd50(), 7);
        for (const Router& r : routers_) add(r.udp_fd, 3);
        add(shared_tun_, 4);
        for (const Router& r : routers_) add(r.tun_fd, 4);
        add(control_.fd(), 5);
        add(sigfd_, 6);
        now = now_ms();
        uint64_t deadline = std::min(next_coa_poll, next_deadline() ? next_deadline() : next_coa_poll);
        if (dhaad_waiting_) deadline = std::min(deadline, dhaad_deadline_);
        if (starting_) deadline = std::min(deadline, now + 10);
        const int wait = deadline > now ? static_cast<int>(std::min<uint64_t>(deadline - now, 1000)) : 0;
        const int rc = ::poll(fds.data(), fds.size(), wait);
        now = now_ms();
        bool stop_now = false;
        if (rc > 0) {
            uint8_t buf[65536];
            for (std::size_t i = 0; i < fds.size(); ++i) {
                if (!(fds[i].revents & POLLIN)) continue;
                const int fd = fds[i].fd;
                switch (kinds[i]) {
                case 0:
                case 1:
                case 2:
                case 3:
                case 7: {
                    const TunnelMethod kind = kinds[i] == 0   ? TunnelMethod::ipip
                                              : kinds[i] == 1 ? TunnelMethod::gre
                                              : kinds[i] == 2 ? TunnelMethod::ipv6
                                              : kinds[i] == 7 ? TunnelMethod::esp
                                                              : TunnelMethod::udp;
                    for (int k = 0; k < 64; ++k) {
                        uint64_t dropped = 0;
                        bool esp = false;
                        auto inner = access_.receive(fd, kind, buf, o_, dropped, esp);
                        if (dropped && !routers_.empty()) routers_[0].counters.rx_dropped += dropped;
                        if (inner.empty()) {
                            if (dropped) continue;
                            break;
                        }
                        if (esp) on_esp(inner, now);
                        else on_inbound(inner, now);
                    }
                    break;
                }
                case 4: on_tun(fd); break;
                case 5: {
                    ControlView v{&o_, &routers_, now};
                    if (control_.serve_one(v)) stop_now = true;
                    break;
                }
                case 6: {
                    signalfd_siginfo si{};
                    while (::read(fd, &si, sizeof si) == sizeof si) stop_now = true;
                    break;
                }
                }
            }
        }
        if (stop_now && !stopping_) {
            stopping_ = true;
            stop_deadline_ = now + uint64_t{o_.stop_timeout_s} * 1000;
            std::fprintf(stderr, "nemo-mr: stopping: de-registering\n");
            for (Router& r : routers_) apply(r, mr_step(r.state, r.settings, Event::stop(now)), now);
        }
        if (dhaad_waiting_ && now >= dhaad_deadline_) {
            if (dhaad_tries_ < 3) {
                dhaad(now);
            } else {
                std::fprintf(stderr, "nemo-mr: no DHAAD reply; using the configured home agents\n");
                dhaad_waiting_ = false;
                begin_starts(now);
            }
        }
        if (now >= next_coa_poll) {
            next_coa_poll = now + 1000;
            CareOf c = access_.current_coa(o_);
            if (!(c == coa_)) {
                std::fprintf(stderr, "nemo-mr: care-of address %s -> %s\n", coa_.str().c_str(), c.str().c_str());
                coa_ = c;
                if (!dhaad_waiting_)
                    for (Router& r : routers_) apply(r, mr_step(r.state, r.settings, Event::coa_changed(now, c)), now);
            }
        }
        start_due(now);
        for (Router& r : routers_)
            if (r.state.timer_at_ms != 0 && now >= r.state.timer_at_ms)
                apply(r, mr_step(r.state, r.settings, Event::timer(now)), now);
        save_if_dirty(now);
        if (stopping_ && (all_stopped() || now >= stop_deadline_)) break;
    }
    save_if_dirty(now, true);
    std::fprintf(stderr, "nemo-mr: stopped\n");
    return 0;
}

template <class T, class F>
bool parse_list(const std::vector<std::string>& in, std::vector<T>& out, F parse, const char* what)
{
    for (const auto& item : split_list(in)) {
        auto v = parse(item);
        if (!v) {
            std::cerr << "nemo-mr: bad " << what << ": " << item << "\n";
            return false;
        }
        out.push_back(*v);
    }
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc >= 2 && (std::string(argv[1]) == "status" || std::string(argv[1]) == "stop")) {
        po::options_description d("nemo-mr status|stop");
        d.add_options()("socket,s", po::value<std::string>()->default_value("/run/nemo-mr.sock"), "control socket")(
            "json", "JSON output");
        po::variables_map vm;
        try {
            po::store(po::parse_command_line(argc - 1, argv + 1, d), vm);
            po::notify(vm);
        } catch (const po::error& e) {
            std::cerr << "nemo-mr: " << e.what() << "\n" << d;
            return 1;
        }
        return control_client(vm["socket"].as<std::string>(), argv[1], vm.count("json") != 0);
    }

    po::options_description d("nemo-mr: a NEMO mobile router (draft-wakikawa-nemo-v4tunnel-01)");
    d.add_options()("help,h", "this text")
        ("interface,i", po::value<std::string>()->default_value("mr0"), "access interface")
        ("coa", po::value<std::string>(), "IPv4 care-of address (default: the interface's primary IPv4, re-read every second)")
        ("coa6", po::value<std::string>(), "IPv6 care-of address (default: the interface's first global IPv6)")
        ("coa-family", po::value<std::string>()->default_value("auto"), "auto (IPv6 when there is one and an IPv6 HA), ipv4, ipv6")
        ("home-address", po::value<std::string>(), "home address (base address with --routers)")
        ("prefix", po::value<std::vector<std::string>>()->composing(), "mobile network prefix(es), explicit mode; none: implicit mode")
        ("ha6", po::value<std::vector<std::string>>()->composing(), "home agent IPv6 address(es), in preference order")
        ("ha4", po::value<std::vector<std::string>>()->composing(), "home agent IPv4 address(es), in preference order")
        ("dhaad", "ask the home agents' anycast address first (DHAAD with the I and R flags)")
        ("home-prefix", po::value<std::string>(), "home prefix for the DHAAD anycast address (default: the HoA's /64)")
        ("methods", po::value<std::string>()->default_value("udp,gre,ipip"), "IPv4 methods in preference order (udp, gre, ipip, esp, esp-udp)")
        ("sa", po::value<std::vector<std::string>>()->composing(), "an ESP SA in nemo-ha's notation, keys from files: 'in|out SPI HOA ALG enc=@FILE [auth=@FILE] [esn] [window=N]' (in: router -> HA)")
        ("lifetime", po::value<std::string>()->default_value("600"), "requested binding lifetime, seconds")
        ("refresh-percent", po::value<std::string>()->default_value("85"), "refresh at this share of the granted lifetime")
        ("nat-keepalive", po::value<std::string>()->default_value("20"), "behind a NAT, refresh at least this often (s); 0: never")
        ("legacy-after", po::value<std::string>()->default_value("3"), "unanswered IPv4 CoA BUs before the HA is taken as legacy")
        ("udp-port", po::value<std::string>()->default_value("4191"), "the router's UDP source port (base with --routers)")
        ("state-file", po::value<std::string>(), "where the sequence numbers are kept across restarts")
        ("socket,s", po::value<std::string>()->default_value("/run/nemo-mr.sock"), "control socket")
        ("tun", po::value<std::string>(), "TUN device of the mobile network (none: no TUN)")
        ("tun-per-router", "--routers N: a TUN each, named TUN0, TUN1, ...")
        ("routers", po::value<std::string>()->default_value("1"), "routers in this process (HoA, prefixes, port + index)")
        ("stop-timeout", po::value<std::string>()->default_value("10"), "seconds to wait for de-registration BAs")
        ("start-rate", po::value<std::string>()->default_value("100"), "routers started a second (--routers N); 0: all at once")
        ("verbose,v", "log every event");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, d), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "nemo-mr: " << e.what() << "\n";
        return 1;
    }
    if (vm.count("help")) {
        std::cout << d << "\n  nemo-mr status --socket PATH [--json]\n  nemo-mr stop --socket PATH\n";
        return 0;
    }
    Options o;
    auto num = [&](const char* key, auto& out, uint64_t lo, uint64_t hi) {
        const auto r = read_number(vm[key].as<std::string>(), lo, hi);
        if (!std::holds_alternative<uint64_t>(r)) {
            std::cerr << "nemo-mr: --" << key << ": " << std::get<std::string>(r) << "\n";
            return false;
        }
        out = static_cast<std::remove_reference_t<decltype(out)>>(std::get<uint64_t>(r));
        return true;
    };
    o.access_interface = vm["interface"].as<std::string>();
    if (!vm.count("home-address")) {
        std::cerr << "nemo-mr: --home-address is required\n";
        return 1;
    }
    auto hoa = Ipv6Addr::parse(vm["home-address"].as<std::string>());
    if (!hoa) {
        std::cerr << "nemo-mr: bad --home-address\n";
        return 1;
    }
    o.home_address = *hoa;
    if (vm.count("coa")) {
        o.coa4 = Ipv4Addr::parse(vm["coa"].as<std::string>());
        if (!o.coa4) { std::cerr << "nemo-mr: bad --coa\n"; return 1; }
    }
    if (vm.count("coa6")) {
        o.coa6 = Ipv6Addr::parse(vm["coa6"].as<std::string>());
        if (!o.coa6) { std::cerr << "nemo-mr: bad --coa6\n"; return 1; }
    }
    o.coa_family = vm["coa-family"].as<std::string>();
    if (o.coa_family != "auto" && o.coa_family != "ipv4" && o.coa_family != "ipv6") {
        std::cerr << "nemo-mr: --coa-family: auto, ipv4 or ipv6\n";
        return 1;
    }
    using SV = std::string_view;
    if (vm.count("prefix") &&
        !parse_list(vm["prefix"].as<std::vector<std::string>>(), o.prefixes, [](SV t) { return Prefix6::parse(t); }, "--prefix"))
        return 1;
    if (vm.count("ha6") &&
        !parse_list(vm["ha6"].as<std::vector<std::string>>(), o.ha6, [](SV t) { return Ipv6Addr::parse(t); }, "--ha6"))
        return 1;
    if (vm.count("ha4") &&
        !parse_list(vm["ha4"].as<std::vector<std::string>>(), o.ha4, [](SV t) { return Ipv4Addr::parse(t); }, "--ha4"))
        return 1;
    o.dhaad = vm.count("dhaad") != 0;
    if (vm.count("home-prefix")) {
        o.home_prefix = Prefix6::parse(vm["home-prefix"].as<std::string>());
        if (!o.home_prefix) { std::cerr << "nemo-mr: bad --home-prefix\n"; return 1; }
    }
    if (o.ha6.empty() && !o.dhaad) {
        std::cerr << "nemo-mr: give --ha6 (and --ha4), or --dhaad\n";
        return 1;
    }
    if (o.ha4.empty() && o.coa_family != "ipv6") {
        std::cerr << "nemo-mr: an IPv4 care-of address needs --ha4 (with --dhaad too: the request goes through it)\n";
        return 1;
    }
    o.settings.preference.clear();
    for (const auto& name : split_list({vm["methods"].as<std::string>()})) {
        auto m = method_from_name(name);
        if (!m || *m == TunnelMethod::ipv6) {
            std::cerr << "nemo-mr: --methods: " << name << " is not one of udp, gre, ipip, esp, esp-udp\n";
            return 1;
        }
        o.settings.preference.push_back(*m);
    }
    if (!num("lifetime", o.settings.lifetime_s, 4, 0xFFFF * 4) ||
        !num("refresh-percent", o.settings.refresh_percent, 10, 99) ||
        !num("nat-keepalive", o.settings.nat_keepalive_s, 0, 86400) ||
        !num("legacy-after", o.settings.legacy_after, 1, 1000) || !num("udp-port", o.udp_port, 1, 65535) ||
        !num("routers", o.routers, 1, 1'000'000) || !num("start-rate", o.start_rate, 0, 1'000'000) || !num("stop-timeout", o.stop_timeout_s, 0, 3600))
        return 1;
    if (uint64_t{o.udp_port} + o.routers - 1 > 65535) {
        std::cerr << "nemo-mr: --udp-port + --routers passes 65535\n";
        return 1;
    }
    if (vm.count("sa")) o.sa_lines = vm["sa"].as<std::vector<std::string>>();
    for (TunnelMethod m : o.settings.preference)
        if ((m == TunnelMethod::esp || m == TunnelMethod::esp_udp) && o.sa_lines.empty()) {
            std::cerr << "nemo-mr: --methods " << method_name(m) << " needs --sa lines (in and out)\n";
            return 1;
        }
    if (vm.count("state-file")) o.state_file = vm["state-file"].as<std::string>();
    o.control_socket = vm["socket"].as<std::string>();
    if (vm.count("tun")) o.tun_name = vm["tun"].as<std::string>();
    o.tun_per_router = vm.count("tun-per-router") != 0;
    o.verbose = vm.count("verbose") != 0;
    return Program(std::move(o)).run();
}
