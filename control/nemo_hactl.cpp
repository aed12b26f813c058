// nemo-hactl: the operator's client for nemo-ha's CLI socket.
//
//   nemo-hactl [-s SOCKET] [--json] COMMAND...      (nemo-hactl help lists the commands)
//
// In `add sa`, enc=@FILE and auth=@FILE read the key's hex from a file only its owner may read, and
// enc=- / auth=- from standard input (without echo on a terminal): nemo-hactl sends the key over the
// socket, so that it is on no command line (ps shows every process's). Every copy is wiped after.
//
// Exit status: 0 when the command succeeded, 1 when nemo-ha refused it, 2 when nemo-ha could not be
// reached or answered nothing.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "key_material.hpp"

namespace {

constexpr const char* kDefaultSocket = "/run/nemo-ha/cli.sock";
constexpr int kTimeoutMs = 10000;

int usage()
{
    std::fprintf(stderr, "usage: nemo-hactl [-s SOCKET] [--json] COMMAND...   (try: nemo-hactl help)\n");
    return 2;
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
                return 2;
            }
            words.push_back(a);
        }
    }
    if (words.empty()) return usage();
    if (!resolve_keys(words)) return 2;
    std::size_t len = 1;
    for (const auto& w : words) len += w.size() + 1;
    std::string request;
    request.reserve(len); // no regrowth: it may hold keys, wiped once sent
    for (const auto& w : words) (request += request.empty() ? "" : " ") += w;
    request += '\n';
    for (auto& w : words) nemo::wipe(w);

    sockaddr_un addr{};
    if (socket_path.size() >= sizeof addr.sun_path) {
        std::fprintf(stderr, "nemo-hactl: socket path too long\n");
        return 2;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::fprintf(stderr, "nemo-hactl: cannot reach nemo-ha at %s: %s\n", socket_path.c_str(), std::strerror(errno));
        return 2;
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
            return 2;
        }
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        reply.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto nl = reply.find('\n');
    const std::string status = reply.substr(0, nl);
    const std::string body = nl == std::string::npos ? "" : reply.substr(nl + 1);
    if (status == "ok") {
        std::fwrite(body.data(), 1, body.size(), stdout);
        return 0;
    }
    if (status == "error") {
        std::fwrite(body.data(), 1, body.size(), stderr);
        return 1;
    }
    if (!sent) std::fprintf(stderr, "nemo-hactl: cannot send the request: %s\n", std::strerror(send_errno));
    else std::fprintf(stderr, "nemo-hactl: %s\n", reply.empty() ? "no answer from nemo-ha" : "unexpected answer from nemo-ha");
    return 2;
}
