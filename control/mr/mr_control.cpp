// The status and control view over a unix socket: one request line ("status" or "stop") a connection, a
// JSON answer. `nemo-mr status --socket PATH [--json]` prints it (as a table without --json); `nemo-mr
// stop --socket PATH` asks for a clean stop (de-registration, lifetime 0) and prints the answer.
#include "mr.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

namespace nemo::mr {

namespace {

std::string_view status_word(const std::optional<uint8_t>& s) { return s ? "" : "none"; }

nlohmann::json router_json(const Options& o, const Router& r, uint64_t now)
{
    const MrState& st = r.state;
    nlohmann::json j;
    j["index"] = r.index;
    j["home_address"] = r.hoa.str();
    nlohmann::json pfx = nlohmann::json::array();
    for (const Prefix6& p : r.settings.prefixes) pfx.push_back(p.str());
    j["prefixes"] = pfx;
    j["home_agent_ipv6"] = o.ha6.empty() ? "" : o.ha6[std::min<std::size_t>(r.ha_index, o.ha6.size() - 1)].str();
    j["home_agent_ipv4"] = r.ha_index < o.ha4.size() ? o.ha4[r.ha_index].str() : "";
    j["care_of_address"] = st.coa.str();
    j["method"] = std::string(method_name(st.method));
    j["phase"] = phase_name(st.phase);
    j["tunnel_up"] = st.tunnel_up;
    j["behind_nat"] = st.nat;
    j["legacy_ha"] = st.legacy_ha;
    j["sequence"] = st.seq;
    j["granted_lifetime_s"] = st.granted_s;
    j["lifetime_left_s"] = st.expires_at_ms > now ? (st.expires_at_ms - now) / 1000 : 0;
    j["next_timer_ms"] = st.timer_at_ms > now ? st.timer_at_ms - now : 0;
    j["udp_port"] = r.settings.udp_port;
    if (st.last_status) {
        j["last_status"] = *st.last_status;
        j["last_status_name"] = ba_status_name(*st.last_status, r.settings);
    } else {
        j["last_status"] = nullptr;
        j["last_status_name"] = std::string(status_word(st.last_status));
    }
    j["last_report"] = r.last_report;
    j["last_detail"] = r.last_detail;
    const Counters& c = r.counters;
    j["counters"] = {{"bu_sent", c.bu_sent},         {"ba_received", c.ba_received},
                     {"ba_ignored", c.ba_ignored},   {"tx_packets", c.tx_packets},
                     {"tx_bytes", c.tx_bytes},       {"rx_packets", c.rx_packets},
                     {"rx_bytes", c.rx_bytes},       {"tx_dropped_no_tunnel", c.tx_dropped_no_tunnel},
                     {"rx_dropped", c.rx_dropped},   {"dhaad_sent", c.dhaad_sent},
                     {"dhaad_replies", c.dhaad_replies}, {"mps_sent", c.mps_sent},
                     {"mpa_received", c.mpa_received}};
    nlohmann::json mp = nlohmann::json::array();
    for (const auto& m : r.mobile_prefixes) {
        const uint64_t age = now > m.at_ms ? (now - m.at_ms) / 1000 : 0;
        mp.push_back({{"prefix", m.prefix.str()},
                      {"valid_left_s", m.valid_lifetime > age ? m.valid_lifetime - age : 0},
                      {"preferred_left_s", m.preferred_lifetime > age ? m.preferred_lifetime - age : 0}});
    }
    j["mobile_prefix_advertisement"] = mp;
    return j;
}

} // namespace

std::string status_json(const ControlView& v)
{
    nlohmann::json j;
    nlohmann::json ha6 = nlohmann::json::array(), ha4 = nlohmann::json::array();
    for (const auto& a : v.options->ha6) ha6.push_back(a.str());
    for (const auto& a : v.options->ha4) ha4.push_back(a.str());
    j["home_agents_ipv6"] = ha6;
    j["home_agents_ipv4"] = ha4;
    j["access_interface"] = v.options->access_interface;
    nlohmann::json rs = nlohmann::json::array();
    for (const Router& r : *v.routers) rs.push_back(router_json(*v.options, r, v.now_ms));
    j["routers"] = rs;
    return j.dump();
}

namespace {
std::string render_text(const nlohmann::json& j)
{
    std::string out;
    char line[512];
    for (const auto& r : j["routers"]) {
        std::snprintf(line, sizeof line,
                      "router %u: home address %s, home agent %s / %s\n"
                      "  care-of %s, method %s, %s%s%s, lifetime left %llu s of %llu s, sequence %u\n"
                      "  last status: %s; last event: %s %s\n"
                      "  BUs %llu, BAs %llu, packets out %llu in %llu, dropped (no tunnel) %llu\n",
                      r["index"].get<unsigned>(), r["home_address"].get<std::string>().c_str(),
                      r["home_agent_ipv6"].get<std::string>().c_str(), r["home_agent_ipv4"].get<std::string>().c_str(),
                      r["care_of_address"].get<std::string>().c_str(), r["method"].get<std::string>().c_str(),
                      r["phase"].get<std::string>().c_str(), r["tunnel_up"].get<bool>() ? ", tunnel up" : ", tunnel down",
                      r["behind_nat"].get<bool>() ? ", behind a NAT" : "",
                      static_cast<unsigned long long>(r["lifetime_left_s"].get<uint64_t>()),
                      static_cast<unsigned long long>(r["granted_lifetime_s"].get<uint64_t>()),
                      r["sequence"].get<unsigned>(), r["last_status_name"].get<std::string>().c_str(),
                      r["last_report"].get<std::string>().c_str(), r["last_detail"].get<std::string>().c_str(),
                      static_cast<unsigned long long>(r["counters"]["bu_sent"].get<uint64_t>()),
                      static_cast<unsigned long long>(r["counters"]["ba_received"].get<uint64_t>()),
                      static_cast<unsigned long long>(r["counters"]["tx_packets"].get<uint64_t>()),
                      static_cast<unsigned long long>(r["counters"]["rx_packets"].get<uint64_t>()),
                      static_cast<unsigned long long>(r["counters"]["tx_dropped_no_tunnel"].get<uint64_t>()));
        out += line;
        for (const auto& m : r["mobile_prefix_advertisement"])
            out += "  advertised prefix " + m["prefix"].get<std::string>() + ", valid " +
                   std::to_string(m["valid_left_s"].get<uint64_t>()) + " s\n";
    }
    return out;
}
} // namespace

bool ControlServer::open(const std::string& path, std::string& err)
{
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (fd_ < 0 || path.size() >= sizeof sa.sun_path) { err = "control socket " + path; return false; }
    std::memcpy(sa.sun_path, path.c_str(), path.size());
    ::unlink(path.c_str());
    const mode_t old = ::umask(0077); // root's only: stop de-registers the router
    const int rc = ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::umask(old);
    if (rc != 0 || ::listen(fd_, 8) != 0) {
        err = "control socket " + path + ": " + std::strerror(errno);
        return false;
    }
    path_ = path;
    return true;
}

ControlServer::~ControlServer()
{
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
}

bool ControlServer::serve_one(const ControlView& v)
{
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return false;
    timeval tv{1, 0};
    (void)::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256];
    ssize_t n = ::recv(c, buf, sizeof buf - 1, 0);
    std::string req = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    while (!req.empty() && (req.back() == '\n' || req.back() == '\r')) req.pop_back();
    bool stop = false;
    std::string answer;
    if (req == "status") {
        answer = status_json(v);
    } else if (req == "stop") {
        stop = true;
        answer = R"({"stopping":true})";
    } else {
        answer = R"({"error":"unknown command"})";
    }
    answer += "\n";
    (void)::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::close(c);
    return stop;
}

int control_client(const std::string& path, const std::string& command, bool json)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (fd < 0 || path.size() >= sizeof sa.sun_path) return 2;
    std::memcpy(sa.sun_path, path.c_str(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        std::cerr << "nemo-mr: " << path << ": " << std::strerror(errno) << "\n";
        ::close(fd);
        return 2;
    }
    timeval tv{10, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const std::string req = command + "\n";
    (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string answer;
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    if (answer.empty()) { std::cerr << "nemo-mr: no answer\n"; return 2; }
    auto j = nlohmann::json::parse(answer, nullptr, false);
    if (j.is_discarded()) { std::cerr << "nemo-mr: bad answer\n"; return 2; }
    if (j.contains("error")) { std::cerr << "nemo-mr: " << j["error"].get<std::string>() << "\n"; return 1; }
    if (json || command != "status") std::cout << j.dump() << "\n";
    else std::cout << render_text(j);
    return 0;
}

} // namespace nemo::mr
