// nemo-hactl: the operator's client for nemo-ha's CLI socket.
//
//   nemo-hactl [-s SOCKET] [--json] COMMAND...      (nemo-hactl help lists the commands)
//
// In `add sa`, enc=@FILE and auth=@FILE read the key's hex from a file only its owner may read, and
// enc=- / auth=- from standard input (without echo on a terminal): nemo-hactl sends the key over the
// socket, so that it is on no command line (ps shows every process's). Every copy is wiped after.
//
// `show stats rate [--interval S] [--count N]` is nemo-hactl's own: it reads `show stats --json` twice,
// S seconds apart (default 1), and prints each counter that moved with its rate per second; N times
// (default 1).
//
// Exit status: 0 when the command succeeded; 1 when it was refused, by nemo-ha (an unknown command, a bad
// argument, a refused change) or by nemo-hactl before sending it (bad usage, an unreadable key file);
// 2 when nemo-ha could not be reached or answered nothing. Scripts may retry on 2, never on 1.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "key_material.hpp"

namespace {

constexpr const char* kDefaultSocket = "/run/nemo-ha/cli.sock";
constexpr int kTimeoutMs = 10000;

// The exit statuses (see the top of this file).
constexpr int kOk = 0, kRefused = 1, kUnreachable = 2;

int usage()
{
    std::fprintf(stderr, "usage: nemo-hactl [-s SOCKET] [--json] COMMAND...   (try: nemo-hactl help)\n");
    return kRefused;
}

// One line of standard input, without echo when it is a terminal.
std::optional<std::string> read_stdin_key(const std::string& name)
{
    termios saved{};
    const bool tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        std::fprintf(stderr, "%s key (hex): ", name.c_str());
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    std::string key;
    key.reserve(512);
    char c;
    while (key.size() < 512 && ::read(STDIN_FILENO, &c, 1) == 1 && c != '\n') key += c;
    c = 0;
    if (tty) {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        std::fprintf(stderr, "\n");
    }
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key.empty()) return std::nullopt;
    return key;
}

// enc=@FILE, enc=- (and auth=) of an `add sa` replaced by the key's hex; false with a message printed.
bool resolve_keys(std::vector<std::string>& words)
{
    std::size_t at = 0;
    while (at < words.size() && words[at] == "--json") ++at;
    if (words.size() < at + 2 || words[at] != "add" || words[at + 1] != "sa") return true;
    for (std::string& w : words) {
        const std::size_t eq = w.starts_with("enc=") ? 4 : w.starts_with("auth=") ? 5 : 0;
        if (!eq) continue;
        const std::string name = w.substr(0, eq - 1);
        std::string hex;
        if (w.compare(eq, std::string::npos, "-") == 0) {
            auto k = read_stdin_key(name);
            if (!k) {
                std::fprintf(stderr, "nemo-hactl: %s=-: no key on standard input\n", name.c_str());
                return false;
            }
            hex = std::move(*k);
        } else if (w.size() > eq && w[eq] == '@') {
            if (auto e = nemo::read_key_file(w.substr(eq + 1), hex)) {
                std::fprintf(stderr, "nemo-hactl: %s=@%s\n", name.c_str(), e->c_str());
                return false;
            }
        } else {
            continue;
        }
        nemo::wipe(w);
        w.reserve(eq + hex.size());
        w.append(name).append("=").append(hex);
        nemo::wipe(hex);
    }
    return true;
}

// One request, one answer. Returns kOk with the body, kRefused with nemo-ha's error text, or
// kUnreachable (the reason printed). The request is wiped once sent (it may hold keys).
int exchange(const std::string& socket_path, std::string& request, std::string& body)
{
    sockaddr_un addr{};
    if (socket_path.size() >= sizeof addr.sun_path) {
        std::fprintf(stderr, "nemo-hactl: socket path too long\n");
        nemo::wipe(request);
        return kUnreachable;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::fprintf(stderr, "nemo-hactl: cannot reach nemo-ha at %s: %s\n", socket_path.c_str(), std::strerror(errno));
        if (fd >= 0) ::close(fd);
        nemo::wipe(request);
        return kUnreachable;
    }
    // A server that refuses us (too many clients) answers and closes at once: read its answer even when
    // sending failed.
    const bool sent = ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
    const int send_errno = errno;
    nemo::wipe(request);
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[65536];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, kTimeoutMs) <= 0) {
            std::fprintf(stderr, "nemo-hactl: no answer from nemo-ha within %d s\n", kTimeoutMs / 1000);
            ::close(fd);
            return kUnreachable;
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        reply.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto nl = reply.find('\n');
    const std::string status = reply.substr(0, nl);
    body = nl == std::string::npos ? "" : reply.substr(nl + 1);
    if (status == "ok") return kOk;
    if (status == "error") return kRefused;
    if (!sent) std::fprintf(stderr, "nemo-hactl: cannot send the request: %s\n", std::strerror(send_errno));
    else std::fprintf(stderr, "nemo-hactl: %s\n", reply.empty() ? "no answer from nemo-ha" : "unexpected answer from nemo-ha");
    return kUnreachable;
}

// The numbers of a `show stats --json` answer, flattened ("counters" bare, "dataplane.NAME"), in order.
// Gauges ("state") are left out: a rate of them means nothing. nullopt: not that shape.
using Sample = std::vector<std::pair<std::string, uint64_t>>;
struct JsonReader {
    const std::string& s;
    std::size_t i = 0;
    Sample out;
    void space()
    {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
    }
    bool string(std::string& v)
    {
        space();
        if (i >= s.size() || s[i] != '"') return false;
        for (++i; i < s.size() && s[i] != '"'; ++i) {
            if (s[i] == '\\' && ++i >= s.size()) return false;
            v += s[i];
        }
        return i++ < s.size();
    }
    // prefix: where the value sits ("" at the top, "counters", "dataplane.x", ...).
    bool value(const std::string& path, int depth)
    {
        space();
        if (i >= s.size() || depth > 8) return false;
        if (s[i] == '{') {
            ++i;
            space();
            if (i < s.size() && s[i] == '}') return ++i, true;
            for (;;) {
                std::string k;
                if (!string(k)) return false;
                space();
                if (i >= s.size() || s[i++] != ':') return false;
                if (!value(path.empty() ? k : path + "." + k, depth + 1)) return false;
                space();
                if (i < s.size() && s[i] == ',') {
                    ++i;
                    continue;
                }
                return i < s.size() && s[i++] == '}';
            }
        }
        if (s[i] == '"') {
            std::string ignored;
            return string(ignored);
        }
        const std::size_t start = i;
        while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == '-' || s[i] == '+')) ++i;
        if (i == start) return false;
        const std::string tok = s.substr(start, i - start);
        if (tok.find_first_not_of("0123456789") == std::string::npos) {
            if (path.starts_with("counters.")) out.emplace_back(path.substr(9), std::strtoull(tok.c_str(), nullptr, 10));
            else if (path.starts_with("dataplane.")) out.emplace_back(path, std::strtoull(tok.c_str(), nullptr, 10));
        }
        return true;
    }
};

std::optional<Sample> parse_stats(const std::string& body)
{
    JsonReader r{body, 0, {}};
    if (!r.value("", 0)) return std::nullopt;
    r.space();
    if (r.i != body.size()) return std::nullopt;
    return std::move(r.out);
}

std::optional<double> positive_number(const std::string& v)
{
    char* end = nullptr;
    errno = 0;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || errno || !std::isfinite(d) || d <= 0) return std::nullopt;
    return d;
}

// `show stats rate`: the words after it are its options.
int stats_rate(const std::string& socket_path, const std::vector<std::string>& opts, bool json)
{
    double interval = 1;
    uint64_t count = 1;
    for (std::size_t i = 0; i < opts.size(); i += 2) {
        if (i + 1 >= opts.size()) {
            std::fprintf(stderr, "nemo-hactl: show stats rate: '%s' needs a value\n", opts[i].c_str());
            return kRefused;
        }
        if (opts[i] == "--interval") {
            auto d = positive_number(opts[i + 1]);
            if (!d || *d > 86400) {
                std::fprintf(stderr, "nemo-hactl: show stats rate: --interval takes seconds, more than 0 and at most 86400: '%s'\n",
                             opts[i + 1].c_str());
                return kRefused;
            }
            interval = *d;
        } else if (opts[i] == "--count") {
            const std::string& v = opts[i + 1];
            if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos || std::stoull(v) == 0) {
                std::fprintf(stderr, "nemo-hactl: show stats rate: --count takes a whole number from 1: '%s'\n", v.c_str());
                return kRefused;
            }
            count = std::stoull(v);
        } else {
            std::fprintf(stderr, "nemo-hactl: show stats rate: unknown option '%s' (--interval S, --count N)\n", opts[i].c_str());
            return kRefused;
        }
    }
    auto fetch = [&](Sample& out, std::chrono::steady_clock::time_point& at) {
        std::string request = "--json show stats\n", body;
        const int rc = exchange(socket_path, request, body);
        at = std::chrono::steady_clock::now();
        if (rc == kRefused) std::fwrite(body.data(), 1, body.size(), stderr);
        if (rc != kOk) return rc;
        auto s = parse_stats(body);
        if (!s) {
            std::fprintf(stderr, "nemo-hactl: show stats rate: the answer to 'show stats --json' is not the JSON expected\n");
            return kUnreachable;
        }
        out = std::move(*s);
        return kOk;
    };
    Sample before, after;
    std::chrono::steady_clock::time_point t0, t1;
    if (int rc = fetch(before, t0)) return rc;
    for (uint64_t round = 0; round < count; ++round) {
        std::this_thread::sleep_until(t0 + std::chrono::duration<double>(interval));
        if (int rc = fetch(after, t1)) return rc;
        const double secs = std::chrono::duration<double>(t1 - t0).count();
        std::vector<std::vector<std::string>> rows;
        std::string js = "{\"interval_s\":" + std::to_string(secs) + ",\"rates\":{";
        bool first = true;
        for (const auto& [name, v] : after) {
            uint64_t was = 0;
            bool known = false;
            for (const auto& [n0, v0] : before)
                if (n0 == name) {
                    was = v0;
                    known = true;
                    break;
                }
            if (known && v == was) continue;
            const uint64_t delta = v >= was ? v - was : v; // a counter that went back was reset (clear): from zero
            char rate[64];
            std::snprintf(rate, sizeof rate, "%.1f", static_cast<double>(delta) / secs);
            rows.push_back({name, std::to_string(delta), rate});
            js += std::string(first ? "" : ",") + "\"" + name + "\":{\"delta\":" + std::to_string(delta) + ",\"per_second\":" + rate + "}";
            first = false;
        }
        if (json) {
            std::printf("%s}}\n", js.c_str());
        } else {
            if (round) std::printf("\n");
            std::printf("over %.2f s:\n", secs);
            if (rows.empty()) std::printf("no counter moved\n");
            std::size_t w0 = 7, w1 = 5;
            for (const auto& r : rows) {
                w0 = std::max(w0, r[0].size());
                w1 = std::max(w1, r[1].size());
            }
            if (!rows.empty()) std::printf("%-*s  %*s  %s\n", static_cast<int>(w0), "COUNTER", static_cast<int>(w1), "DELTA", "PER SECOND");
            for (const auto& r : rows)
                std::printf("%-*s  %*s  %s\n", static_cast<int>(w0), r[0].c_str(), static_cast<int>(w1), r[1].c_str(), r[2].c_str());
        }
        std::fflush(stdout);
        before = std::move(after);
        t0 = t1;
    }
    return kOk;
}

} // namespace

int main(int argc, char** argv)
{
    std::string socket_path = kDefaultSocket;
    if (const char* env = std::getenv("NEMO_HA_SOCKET")) socket_path = env;
    std::vector<std::string> words;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-s" || a == "--socket") {
            if (++i >= argc) return usage();
            socket_path = argv[i];
        } else if (a.rfind("--socket=", 0) == 0) {
            socket_path = a.substr(9);
        } else {
            if (a.find_first_of(" \t\n") != std::string::npos) {
                const bool key = a.starts_with("enc=") || a.starts_with("auth=");
                std::fprintf(stderr, "nemo-hactl: arguments cannot contain white space: '%s'\n", key ? "<a key>" : a.c_str());
                return kRefused;
            }
            words.push_back(a);
        }
    }
    if (words.empty()) return usage();
    {
        bool json = false;
        std::vector<std::string> rest;
        for (const auto& w : words) {
            if (w == "--json" && rest.empty()) json = true;
            else rest.push_back(w);
        }
        if (rest.size() >= 3 && rest[0] == "show" && rest[1] == "stats" && rest[2] == "rate")
            return stats_rate(socket_path, {rest.begin() + 3, rest.end()}, json);
    }
    if (!resolve_keys(words)) return kRefused;
    std::size_t len = 1;
    for (const auto& w : words) len += w.size() + 1;
    std::string request;
    request.reserve(len); // no regrowth: it may hold keys, wiped once sent
    for (const auto& w : words) (request += request.empty() ? "" : " ") += w;
    request += '\n';
    for (auto& w : words) nemo::wipe(w);

    std::string body;
    const int rc = exchange(socket_path, request, body);
    if (rc == kOk) std::fwrite(body.data(), 1, body.size(), stdout);
    if (rc == kRefused) std::fwrite(body.data(), 1, body.size(), stderr);
    return rc;
}
