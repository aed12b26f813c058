// The operator CLI's unix socket, served from the control thread without ever blocking it: non-blocking
// sockets polled once per loop turn, bounded request size, bounded output, deadlines, a client cap.
//
// Protocol: the client sends one line (the command's words separated by spaces) and reads until the
// server closes. The reply's first line is "ok" or "error"; the rest is the body.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace nemo::control {

struct CliLimits {
    std::size_t max_clients = 32;
    std::size_t max_request = 4096;
    std::size_t max_reply = 64u << 20;
    uint64_t deadline_ms = 5000; // to send the request, and again to read the reply
};

class CliServer {
public:
    using Limits = CliLimits;
    using Handler = std::function<std::pair<bool, std::string>(const std::vector<std::string>& words)>;

    // Creates the socket (mode 0660; a stale socket file is replaced). Null with *error on failure.
    static std::unique_ptr<CliServer> open(const std::string& path, std::string* error, Limits limits);
    static std::unique_ptr<CliServer> open(const std::string& path, std::string* error)
    {
        return open(path, error, Limits{});
    }
    ~CliServer();

    void poll(const Handler& handler, uint64_t now_ms);

private:
    struct Client {
        int fd;
        std::string in;
        std::string out;
        std::size_t sent = 0;
        bool replied = false;
        uint64_t deadline = 0;
    };
    CliServer(int fd, std::string path, Limits limits) : fd_(fd), path_(std::move(path)), limits_(limits) {}
    void accept_new(uint64_t now_ms);
    // False when the client is finished (closed, timed out or fully answered).
    bool serve(Client& c, const Handler& handler, uint64_t now_ms);

    int fd_;
    std::string path_;
    Limits limits_;
    std::vector<Client> clients_;
};

} // namespace nemo::control
