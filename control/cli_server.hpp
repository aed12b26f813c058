// The operator CLI's unix socket, served from the control thread without ever blocking it: non-blocking
// sockets polled once per loop turn, bounded request size, large replies built a part per turn, deadlines,
// and client slots shared out by user.
//
// Who may talk: the socket file has its final mode and group from the moment it appears under its name
// (it is bound inside a private 0700 directory, given its mode and group there, and renamed into place),
// and every connecting peer's credentials (SO_PEERCRED) are checked again: root, the daemon's own user,
// or a member of the socket's group. A socket file or directory made looser by hand does not open the CLI
// to everyone.
//
// Protocol: the client sends one line (the command's words separated by spaces) and reads until the
// server closes. The reply's first line is "ok" or "error"; the rest is the body.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nemo::control {

class Stats;

struct CliLimits {
    std::size_t max_clients = 32;
    std::size_t max_clients_per_uid = 8; // one user (or a runaway script) cannot hold every slot
    std::size_t max_request = 4096;
    std::size_t max_reply = 64u << 20;   // a reply built in one piece; streamed replies are built a part at a time
    std::size_t parts_per_turn = 1;      // streamed parts built per poll(), over all clients, in turn
    uint64_t deadline_ms = 5000;         // to send the request; to make progress reading the reply
};

// A handler's answer. A reply too large to build at once (every binding) sets `more`: the server calls it
// on later turns, each time what came before has been sent, and it appends the next part to `out` and
// returns false once that part was the last. The control loop runs between parts.
struct CliReply {
    bool ok = true;
    std::string body;
    std::function<bool(std::string& out)> more;
};

// Who may use the CLI, as a pure rule: root, the daemon's own user, a peer whose group is the socket's,
// or a user `member_of` says belongs to it.
struct PeerCred {
    uid_t uid;
    gid_t gid;
};
bool cli_peer_allowed(const PeerCred& peer, gid_t socket_gid, uid_t own_uid,
                      const std::function<bool(uid_t, gid_t)>& member_of);
// Group membership from the user database (primary group and getgrouplist's supplementary groups).
bool user_in_group(uid_t uid, gid_t gid);

// A listening unix socket whose file at `path` has `mode` (and `gid`, when given) from the moment it
// exists there, whatever the process's umask. The fd, or -1 with *error.
int create_socket_file(const std::string& path, mode_t mode, std::optional<gid_t> gid, std::string* error);

class CliServer {
public:
    using Limits = CliLimits;
    using Handler = std::function<CliReply(const std::vector<std::string>& words)>;

    // Creates the socket (mode 0660, group `group` by name or number, or the daemon's group when empty;
    // a stale socket file is replaced, a live one is not). `stats`, when given, counts refusals and
    // timeouts. Null with *error on failure.
    static std::unique_ptr<CliServer> open(const std::string& path, const std::string& group, std::string* error,
                                           Limits limits = {}, Stats* stats = nullptr);
    ~CliServer();

    void poll(const Handler& handler, uint64_t now_ms);

    gid_t group() const { return gid_; }
    std::size_t clients() const { return clients_.size(); }
    // Request bytes still held for clients already answered (requests may carry keys): none.
    std::size_t held_request_bytes() const;

private:
    struct Client {
        int fd;
        uid_t uid;
        std::string in;
        std::string out;
        std::size_t sent = 0;
        bool replied = false;
        std::function<bool(std::string&)> more;
        uint64_t deadline = 0;
    };
    CliServer(int fd, std::string path, gid_t gid, std::string group_name, Limits limits, Stats* stats)
        : fd_(fd), path_(std::move(path)), gid_(gid), group_name_(std::move(group_name)), limits_(limits), stats_(stats)
    {
    }
    void accept_new(uint64_t now_ms);
    // Refuses a connection with a one-line error.
    void refuse(int fd, const std::string& why);
    // False when the client is finished (closed, timed out or fully answered).
    bool serve(Client& c, const Handler& handler, uint64_t now_ms, std::size_t& parts_left);

    int fd_;
    std::string path_;
    gid_t gid_;
    std::string group_name_;
    Limits limits_;
    Stats* stats_;
    std::vector<Client> clients_;
    std::size_t turn_ = 0;
};

} // namespace nemo::control
