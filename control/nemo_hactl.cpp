// nemo-hactl: the operator's client for nemo-ha's CLI socket.
//
//   nemo-hactl [-s SOCKET] [--json] COMMAND...      (nemo-hactl help lists the commands)
//
// Exit status: 0 when the command succeeded, 1 when nemo-ha refused it, 2 when nemo-ha could not be
// reached or answered nothing.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr const char* kDefaultSocket = "/run/nemo-ha/cli.sock";
constexpr int kTimeoutMs = 10000;

int usage()
{
    std::fprintf(stderr, "usage: nemo-hactl [-s SOCKET] [--json] COMMAND...   (try: nemo-hactl help)\n");
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    std::string socket_path = kDefaultSocket;
    if (const char* env = std::getenv("NEMO_HA_SOCKET")) socket_path = env;
    std::string request;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-s" || a == "--socket") {
            if (++i >= argc) return usage();
            socket_path = argv[i];
        } else if (a.rfind("--socket=", 0) == 0) {
            socket_path = a.substr(9);
        } else {
            if (a.find_first_of(" \t\n") != std::string::npos) {
                std::fprintf(stderr, "nemo-hactl: arguments cannot contain white space: '%s'\n", a.c_str());
                return 2;
            }
            request += (request.empty() ? "" : " ") + a;
        }
    }
    if (request.empty()) return usage();
    request += '\n';

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
