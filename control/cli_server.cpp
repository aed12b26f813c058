#include "cli_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "number.hpp"
#include "stats.hpp"

#include "key_material.hpp"

namespace nemo::control {

namespace {

// Requests may carry keys (`add sa ... enc=HEX`): every buffer that held one is cleared in a way the
// compiler cannot drop as a dead store.
void wipe_words(std::vector<std::string>& words)
{
    for (auto& w : words) wipe(w);
    words.clear();
}

// Each word is allocated once at its final size, so no grown-and-freed copy of a key is left behind.
std::vector<std::string> split(std::string_view line)
{
    std::vector<std::string> words;
    words.reserve(16);
    std::size_t i = 0;
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (i < line.size()) {
        while (i < line.size() && blank(line[i])) ++i;
        std::size_t j = i;
        while (j < line.size() && !blank(line[j])) ++j;
        if (j > i) words.emplace_back(line.substr(i, j - i));
        i = j;
    }
    return words;
}

bool fill_addr(const std::string& path, sockaddr_un& addr)
{
    addr = {};
    if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return true;
}

std::string group_text(gid_t gid)
{
    std::vector<char> buf(4096);
    group g{};
    group* found = nullptr;
    if (::getgrgid_r(gid, &g, buf.data(), buf.size(), &found) == 0 && found)
        return "'" + std::string(found->gr_name) + "' (gid " + std::to_string(gid) + ")";
    return "gid " + std::to_string(gid);
}

// A group by name, or by number (the one number syntax).
std::optional<gid_t> resolve_group(const std::string& name)
{
    std::vector<char> buf(4096);
    group g{};
    group* found = nullptr;
    if (::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found) == 0 && found) return found->gr_gid;
    uint32_t gid = 0;
    if (parse_number<uint32_t>(name, gid, 0, 0xFFFFFFFEu)) return static_cast<gid_t>(gid);
    return std::nullopt;
}

} // namespace

bool cli_peer_allowed(const PeerCred& peer, gid_t socket_gid, uid_t own_uid,
                      const std::function<bool(uid_t, gid_t)>& member_of)
{
    if (peer.uid == 0 || peer.uid == own_uid || peer.gid == socket_gid) return true;
    return member_of && member_of(peer.uid, socket_gid);
}

bool user_in_group(uid_t uid, gid_t gid)
{
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return false;
    if (found->pw_gid == gid) return true;
    int n = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    while (::getgrouplist(found->pw_name, found->pw_gid, groups.data(), &n) < 0) {
        if (n <= static_cast<int>(groups.size())) n = static_cast<int>(groups.size()) * 2;
        if (n > 65536) return false;
        groups.resize(static_cast<std::size_t>(n));
    }
    groups.resize(static_cast<std::size_t>(n));
    return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

int create_socket_file(const std::string& path, mode_t mode, std::optional<gid_t> gid, std::string* error)
{
    // bind() creates the file with the process's umask applied, and changing the umask is not safe once
    // EAL's threads run. So the socket is bound in a private 0700 directory next to its final name (only
    // our own user can reach it there), given its mode and group, and renamed into place: under its name
    // it only ever exists as it is meant to be.
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const std::string parent = dir == "/" ? "" : dir;
    std::string private_dir = parent + "/.nemo-cli-XXXXXX";
    const std::string where = "CLI socket " + path + ": ";
    sockaddr_un addr{};
    if (!fill_addr(private_dir + "/s", addr)) {
        const std::size_t extra = private_dir.size() - parent.size() + 2;
        *error = where + "its directory's path is too long to bind the socket next to it (" +
                 std::to_string(sizeof addr.sun_path - 1 - extra) + " characters at most)";
        return -1;
    }
    if (!::mkdtemp(private_dir.data())) {
        *error = where + "cannot create a private directory in " + dir + ": " + std::strerror(errno);
        return -1;
    }
    const std::string tmp = private_dir + "/s";
    fill_addr(tmp, addr);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const char* step = "socket";
    bool ok = fd >= 0;
    if (ok) ok = (step = "bind", ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    if (ok && gid) ok = (step = "chown", ::chown(tmp.c_str(), static_cast<uid_t>(-1), *gid) == 0);
    if (ok) ok = (step = "chmod", ::chmod(tmp.c_str(), mode) == 0);
    if (ok) ok = (step = "listen", ::listen(fd, 64) == 0);
    if (ok) ok = (step = "rename", ::rename(tmp.c_str(), path.c_str()) == 0);
    const int err = errno;
    if (!ok) {
        ::unlink(tmp.c_str());
        if (fd >= 0) ::close(fd);
    }
    ::rmdir(private_dir.c_str());
    if (!ok) {
        *error = where + step + ": " + std::strerror(err);
        return -1;
    }
    return fd;
}

std::unique_ptr<CliServer> CliServer::open(const std::string& path, const std::string& group, std::string* error,
                                           Limits limits, Stats* stats)
{
    sockaddr_un addr{};
    if (!fill_addr(path, addr)) {
        *error = "CLI socket path '" + path + "' is empty or too long";
        return nullptr;
    }
    std::optional<gid_t> gid;
    if (!group.empty()) {
        gid = resolve_group(group);
        if (!gid) {
            *error = "cli.group: no group '" + group + "'";
            return nullptr;
        }
    }
    // The socket's directory is created when missing (e.g. /run/nemo-ha after a reboot).
    if (const auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
        const std::string dir = path.substr(0, slash);
        struct stat dst{};
        if (::stat(dir.c_str(), &dst) != 0 && ::mkdir(dir.c_str(), 0750) != 0) {
            *error = "cannot create " + dir + ": " + std::strerror(errno);
            return nullptr;
        }
    }
    // A socket file left by a process that is gone is replaced (by the rename); a live one is not stolen.
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *error = path + " exists and is not a socket";
            return nullptr;
        }
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool alive = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(probe);
        if (alive) {
            *error = path + " is in use by another process";
            return nullptr;
        }
    }
    const int fd = create_socket_file(path, 0660, gid, error);
    if (fd < 0) return nullptr;
    if (::stat(path.c_str(), &st) != 0) {
        *error = "CLI socket " + path + ": " + std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    return std::unique_ptr<CliServer>(new CliServer(fd, path, st.st_gid, group_text(st.st_gid), limits, stats));
}

CliServer::~CliServer()
{
    for (Client& c : clients_) {
        wipe(c.in);
        ::close(c.fd);
    }
    ::close(fd_);
    ::unlink(path_.c_str());
}

std::size_t CliServer::held_request_bytes() const
{
    std::size_t n = 0;
    for (const Client& c : clients_)
        if (c.replied) n += c.in.size();
    return n;
}

void CliServer::refuse(int fd, const std::string& why)
{
    const std::string msg = "error\n" + why + "\n";
    (void)!::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
}

void CliServer::accept_new(uint64_t now_ms)
{
    for (;;) {
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) return;
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            if (stats_) stats_->inc(Counter::cli_refused_peer);
            refuse(c, "permission denied: the peer's credentials are unknown");
            continue;
        }
        // The user database may be slow (NSS); it is only asked for peers that are neither root, the
        // daemon's user nor running with the socket's group, which a 0660 socket keeps out already.
        if (!cli_peer_allowed({cred.uid, cred.gid}, gid_, ::geteuid(), user_in_group)) {
            if (stats_) stats_->inc(Counter::cli_refused_peer);
            refuse(c, "permission denied: uid " + std::to_string(cred.uid) +
                          " is not root, nemo-ha's user or a member of the CLI socket's group " + group_name_);
            continue;
        }
        const auto same_user = static_cast<std::size_t>(
            std::count_if(clients_.begin(), clients_.end(), [&](const Client& k) { return k.uid == cred.uid; }));
        if (same_user >= limits_.max_clients_per_uid || clients_.size() >= limits_.max_clients) {
            if (stats_) stats_->inc(Counter::cli_refused_busy);
            refuse(c, same_user >= limits_.max_clients_per_uid
                          ? "busy: uid " + std::to_string(cred.uid) + " already has " + std::to_string(same_user) +
                                " CLI connections open"
                          : std::string("busy: too many CLI clients"));
            continue;
        }
        Client client{c, cred.uid, {}, {}, 0, false, {}, now_ms + limits_.deadline_ms};
        // Never reallocated while a request arrives, so no freed copy of a key is left behind.
        client.in.reserve(limits_.max_request + 1024);
        clients_.push_back(std::move(client));
    }
}

bool CliServer::serve(Client& c, const Handler& handler, uint64_t now_ms, std::size_t& parts_left)
{
    if (now_ms > c.deadline) {
        if (stats_) stats_->inc(Counter::cli_timeouts);
        return false;
    }
    if (!c.replied) {
        char buf[1024];
        bool failed = false, eof = false;
        if (c.in.capacity() < limits_.max_request + sizeof buf) c.in.reserve(limits_.max_request + sizeof buf); // no regrowth
        for (;;) {
            const std::size_t room = std::min(sizeof buf, limits_.max_request + 1024 - c.in.size());
            const ssize_t n = room ? ::recv(c.fd, buf, room, 0) : 0;
            if (n > 0) {
                c.in.append(buf, static_cast<std::size_t>(n));
                if (c.in.size() > limits_.max_request) break;
                continue;
            }
            if (n == 0) {
                eof = c.in.size() <= limits_.max_request; // peer finished sending (not just a full buffer)
                break;
            }
            failed = errno != EAGAIN && errno != EWOULDBLOCK;
            break;
        }
        explicit_bzero(buf, sizeof buf);
        if (failed) return false;
        const auto nl = c.in.find('\n');
        if (nl == std::string::npos && eof) return false; // gone without a request: its slot is free at once
        if (nl == std::string::npos && c.in.size() <= limits_.max_request) return true; // wait for more
        if (nl == std::string::npos || nl > limits_.max_request) {
            if (stats_) stats_->inc(Counter::cli_refused_size);
            c.out = "error\nrequest longer than " + std::to_string(limits_.max_request) + " bytes\n";
        } else {
            std::vector<std::string> words = split(std::string_view(c.in).substr(0, nl));
            CliReply r = handler(words);
            wipe_words(words);
            if (r.body.size() > limits_.max_reply) {
                if (stats_) stats_->inc(Counter::cli_refused_size);
                r.body = "reply too large; narrow the command\n", r.ok = false, r.more = {};
            }
            if (!r.more && !r.body.empty() && r.body.back() != '\n') r.body += '\n';
            c.out = (r.ok ? "ok\n" : "error\n") + r.body;
            c.more = std::move(r.more);
        }
        wipe(c.in);
        c.replied = true;
        c.deadline = now_ms + limits_.deadline_ms;
    }
    for (;;) {
        while (c.sent < c.out.size()) {
            const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                c.sent += static_cast<std::size_t>(n);
                c.deadline = now_ms + limits_.deadline_ms; // a reader that keeps reading is not timed out
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true; // a slow reader: later
            return false;
        }
        if (!c.more) return false; // all sent
        if (parts_left == 0) return true; // the next part on a later turn
        --parts_left;
        c.out.clear();
        c.sent = 0;
        if (!c.more(c.out)) c.more = {};
    }
}

void CliServer::poll(const Handler& handler, uint64_t now_ms)
{
    accept_new(now_ms);
    std::size_t parts_left = limits_.parts_per_turn;
    // Clients are served from a different one each turn, so that streaming replies share the part budget.
    const std::size_t n = clients_.size();
    std::vector<bool> done(n, false);
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (turn_ + k) % n;
        done[i] = !serve(clients_[i], handler, now_ms, parts_left);
    }
    ++turn_;
    for (std::size_t i = n; i-- > 0;) {
        if (!done[i]) continue;
        ::close(clients_[i].fd);
        wipe(clients_[i].in);
        clients_[i] = std::move(clients_.back());
        clients_.pop_back();
    }
}

} // namespace nemo::control
