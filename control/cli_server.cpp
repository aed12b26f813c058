#include "cli_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "key_material.hpp"

namespace nemo::control {

namespace {

// Each word is made at once (no growing buffer left behind: an `add sa` line holds keys).
std::vector<std::string> split(const std::string& line)
{
    std::vector<std::string> words;
    std::size_t i = 0;
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (i < line.size()) {
        while (i < line.size() && blank(line[i])) ++i;
        std::size_t j = i;
        while (j < line.size() && !blank(line[j])) ++j;
        if (j > i) words.emplace_back(line, i, j - i);
        i = j;
    }
    return words;
}

} // namespace

std::unique_ptr<CliServer> CliServer::open(const std::string& path, std::string* error, Limits limits)
{
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        *error = "CLI socket path '" + path + "' is empty or too long";
        return nullptr;
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    // The socket's directory is created when missing (e.g. /run/nemo-ha after a reboot).
    if (const auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
        const std::string dir = path.substr(0, slash);
        struct stat dst{};
        if (::stat(dir.c_str(), &dst) != 0 && ::mkdir(dir.c_str(), 0750) != 0) {
            *error = "cannot create " + dir + ": " + std::strerror(errno);
            return nullptr;
        }
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = std::string("socket: ") + std::strerror(errno);
        return nullptr;
    }
    // A socket file left by a process that is gone is replaced; a live one is not stolen.
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *error = path + " exists and is not a socket";
            ::close(fd);
            return nullptr;
        }
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool alive = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(probe);
        if (alive) {
            *error = path + " is in use by another process";
            ::close(fd);
            return nullptr;
        }
        ::unlink(path.c_str());
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::chmod(path.c_str(), 0660) != 0 ||
        ::listen(fd, 64) != 0) {
        *error = "CLI socket " + path + ": " + std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    return std::unique_ptr<CliServer>(new CliServer(fd, path, limits));
}

CliServer::~CliServer()
{
    for (Client& c : clients_) ::close(c.fd);
    ::close(fd_);
    ::unlink(path_.c_str());
}

void CliServer::accept_new(uint64_t now_ms)
{
    for (;;) {
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) return;
        if (clients_.size() >= limits_.max_clients) {
            static const char busy[] = "error\nbusy: too many CLI clients\n";
            (void)!::send(c, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            ::close(c);
            continue;
        }
        clients_.push_back(Client{c, {}, {}, 0, false, now_ms + limits_.deadline_ms});
    }
}

bool CliServer::serve(Client& c, const Handler& handler, uint64_t now_ms)
{
    if (now_ms > c.deadline) return false;
    if (!c.replied) {
        char buf[1024];
        if (c.in.capacity() < limits_.max_request + sizeof buf) c.in.reserve(limits_.max_request + sizeof buf); // no regrowth
        for (;;) {
            const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            if (n > 0) {
                c.in.append(buf, static_cast<std::size_t>(n));
                if (c.in.size() > limits_.max_request) break;
                continue;
            }
            if (n == 0) break; // peer finished sending
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return false;
        }
        const auto nl = c.in.find('\n');
        if (nl == std::string::npos && c.in.size() <= limits_.max_request) return true; // wait for more
        if (nl == std::string::npos || nl > limits_.max_request) {
            c.out = "error\nrequest longer than " + std::to_string(limits_.max_request) + " bytes\n";
        } else {
            std::string line = c.in.substr(0, nl);
            auto words = split(line);
            auto [ok, body] = handler(words);
            // The request may be an `add sa` with keys: none of its copies outlives it.
            for (std::string& word : words) wipe(word);
            wipe(line);
            wipe(c.in);
            secure_wipe(buf, sizeof buf);
            if (body.size() > limits_.max_reply) body = "reply too large; narrow the command\n", ok = false;
            if (!body.empty() && body.back() != '\n') body += '\n';
            c.out = (ok ? "ok\n" : "error\n") + body;
        }
        c.replied = true;
        c.deadline = now_ms + limits_.deadline_ms;
    }
    while (c.sent < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true; // a slow reader: later
        return false;
    }
    return false; // all sent
}

void CliServer::poll(const Handler& handler, uint64_t now_ms)
{
    accept_new(now_ms);
    for (std::size_t i = 0; i < clients_.size();) {
        if (serve(clients_[i], handler, now_ms)) {
            ++i;
        } else {
            ::close(clients_[i].fd);
            clients_[i] = std::move(clients_.back());
            clients_.pop_back();
        }
    }
}

} // namespace nemo::control
