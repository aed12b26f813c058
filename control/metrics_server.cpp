#include "metrics_server.hpp"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

namespace nemo::control {

namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

MHD_Result reply(MHD_Connection* c, unsigned status, std::string body, const char* allow = nullptr)
{
    MHD_Response* r = MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, status == MHD_HTTP_OK ? kContentType : "text/plain; charset=utf-8");
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    const MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

// Binds and listens ourselves, so that a failure says why (errno), which MHD_start_daemon does not.
int open_listener(const ListenAddress& at, uint16_t* bound, std::string* error)
{
    auto fail = [&](const char* what) {
        *error = "metrics.listen: " + at.str() + ": " + what + ": " + std::strerror(errno);
        return -1;
    };
    const int fd = ::socket(at.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail("socket");
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); // a restart does not wait for TIME_WAIT
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (at.v6) {
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one); // [::] means IPv6 only, as written
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(at.port);
        std::memcpy(&s6->sin6_addr, at.ipv6.bytes.data(), 16);
        len = sizeof *s6;
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(at.port);
        s4->sin_addr.s_addr = htonl(at.ipv4.value);
        len = sizeof *s4;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 64) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        return fail("cannot listen");
    }
    socklen_t got = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &got);
    *bound = ntohs(at.v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return fd;
}

} // namespace

struct MetricsHandler {
    static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                                 const char*, std::size_t* upload_size, void**);
};

MHD_Result MetricsHandler::on_request(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                                      const char*, std::size_t* upload_size, void**)
{
    auto* self = static_cast<MetricsServer*>(cls);
    // Answered at the first call, before any body: MHD then discards what the client uploads.
    *upload_size = 0;
    const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 || std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (std::strcmp(url, "/metrics") != 0) {
        self->refused_.fetch_add(1, std::memory_order_relaxed);
        return reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n");
    }
    if (!get) {
        self->refused_.fetch_add(1, std::memory_order_relaxed);
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET (and HEAD) /metrics\n", "GET, HEAD");
    }
    // An exception must not unwind through libmicrohttpd's C frames (that ends the process): a scrape
    // that cannot be built (out of memory) is a 500, and the next one is tried afresh.
    std::string body;
    try {
        body = self->render_();
    } catch (const std::exception&) {
        self->refused_.fetch_add(1, std::memory_order_relaxed);
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the metrics could not be rendered\n");
    }
    self->served_.fetch_add(1, std::memory_order_relaxed);
    return reply(c, MHD_HTTP_OK, std::move(body));
}

std::unique_ptr<MetricsServer> MetricsServer::start(const ListenAddress& at, Render render, std::string* error,
                                                    MetricsServerLimits limits)
{
    std::unique_ptr<MetricsServer> s(new MetricsServer(std::move(render)));
    const int fd = open_listener(at, &s->port_, error);
    if (fd < 0) return nullptr;
    // MHD_USE_AUTO: epoll or poll (never select's FD_SETSIZE limit); no MHD_USE_ERROR_LOG: MHD does not
    // write to stderr behind our back.
    s->daemon_ = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | (at.v6 ? MHD_USE_IPv6 : 0), 0, nullptr, nullptr,
                                  &MetricsHandler::on_request, s.get(),
                                  MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(fd),
                                  MHD_OPTION_CONNECTION_LIMIT, limits.max_connections,
                                  MHD_OPTION_CONNECTION_TIMEOUT, limits.timeout_s,
                                  MHD_OPTION_END);
    if (!s->daemon_) {
        ::close(fd);
        *error = "metrics.listen: " + at.str() + ": libmicrohttpd did not start";
        return nullptr;
    }
    return s;
}

MetricsServer::~MetricsServer()
{
    // Also closes the listening socket it was given.
    if (daemon_) MHD_stop_daemon(daemon_);
}

} // namespace nemo::control
