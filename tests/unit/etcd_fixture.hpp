// A real etcd cluster on loopback for the tests (Debian `etcd`, /usr/bin/etcd, or $NEMO_ETCD): N members
// bootstrapped statically (--initial-cluster) on free ports, each with a data directory of its own under
// one temporary directory (removed at the end; kept when $NEMO_ETCD_KEEP is set), fast elections, and its
// log in that directory rather than on the test's output. Members can be killed (SIGKILL) and restarted
// on their data. The TLS variant makes a CA, a server certificate (SAN 127.0.0.1) and a client certificate
// with the `openssl` command and starts the members with client-certificate authentication.
//
// No process outlives the fixture: the destructor kills and reaps every member, and each member gets
// PR_SET_PDEATHSIG(SIGKILL), so that it dies with the test if the test aborts. (The death signal follows
// the thread that started the member: start and restart members from the test's main thread.)
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "etcd_client.hpp"

namespace nemo::test {

class EtcdCluster {
public:
    explicit EtcdCluster(std::size_t members, bool tls = false) : tls_(tls)
    {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const char* bin = std::getenv("NEMO_ETCD");
        etcd_ = bin && *bin ? bin : "/usr/bin/etcd";
        if (access(etcd_.c_str(), X_OK) != 0) {
            error_ = etcd_ + " is not there (Debian package etcd-server)";
            return;
        }
        char tmpl[] = "/tmp/nemo-etcd-unit-XXXXXX";
        if (!mkdtemp(tmpl)) {
            error_ = "mkdtemp failed";
            return;
        }
        dir_ = tmpl;
        if (tls_ && !make_certificates()) return;
        std::vector<uint16_t> ports = free_ports(2 * members);
        if (ports.size() != 2 * members) {
            error_ = "no free ports on loopback";
            return;
        }
        static unsigned counter = 0;
        token_ = "nemo-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
        for (std::size_t i = 0; i < members; ++i) {
            Member m;
            m.name = "m" + std::to_string(i);
            m.client_port = ports[2 * i];
            m.peer_port = ports[2 * i + 1];
            m.dir = dir_ + "/" + m.name;
            std::filesystem::create_directories(m.dir);
            members_.push_back(std::move(m));
        }
        for (std::size_t i = 0; i < members; ++i) {
            if (!initial_cluster_.empty()) initial_cluster_ += ",";
            initial_cluster_ += members_[i].name + "=http://127.0.0.1:" + std::to_string(members_[i].peer_port);
        }
        for (std::size_t i = 0; i < members; ++i)
            if (!start(i)) return;
        for (std::size_t i = 0; i < members; ++i)
            if (!wait_healthy(i, 30000)) {
                error_ = "member " + members_[i].name + " did not become healthy; its log ends:\n" + log_tail(i);
                return;
            }
    }

    ~EtcdCluster()
    {
        for (std::size_t i = 0; i < members_.size(); ++i) kill(i);
        if (!dir_.empty() && !std::getenv("NEMO_ETCD_KEEP")) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }

    EtcdCluster(const EtcdCluster&) = delete;
    EtcdCluster& operator=(const EtcdCluster&) = delete;

    // Empty when the cluster is up; why not otherwise.
    const std::string& error() const { return error_; }
    bool ok() const { return error_.empty(); }
    std::size_t size() const { return members_.size(); }
    const std::string& dir() const { return dir_; }

    std::string endpoint(std::size_t i) const { return "127.0.0.1:" + std::to_string(members_[i].client_port); }
    std::vector<std::string> endpoints() const
    {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < members_.size(); ++i) out.push_back(endpoint(i));
        return out;
    }
    // The member serving `endpoint` ("host:port"), or size() when none.
    std::size_t index_of(const std::string& ep) const
    {
        for (std::size_t i = 0; i < members_.size(); ++i)
            if (endpoint(i) == ep) return i;
        return members_.size();
    }

    // The client's TLS settings: the CA and this test's client certificate (empty without TLS).
    control::EtcdTls client_tls() const
    {
        if (!tls_) return {};
        return {dir_ + "/tls/ca.crt", dir_ + "/tls/client.crt", dir_ + "/tls/client.key"};
    }
    control::EtcdOptions options(unsigned connect_timeout_ms = 500, unsigned request_timeout_ms = 2000) const
    {
        control::EtcdOptions o;
        o.endpoints = endpoints();
        o.tls = client_tls();
        o.connect_timeout_ms = connect_timeout_ms;
        o.request_timeout_ms = request_timeout_ms;
        return o;
    }

    bool alive(std::size_t i) const { return members_[i].pid > 0; }

    void kill(std::size_t i)
    {
        Member& m = members_[i];
        if (m.pid <= 0) return;
        ::kill(m.pid, SIGKILL);
        int st = 0;
        while (waitpid(m.pid, &st, 0) < 0 && errno == EINTR) {
        }
        m.pid = -1;
    }

    // Starts a killed member again on its data directory (not waiting for it: see wait_healthy).
    bool restart(std::size_t i)
    {
        kill(i);
        return start(i);
    }

    // Until member i says it is healthy (it has a leader) on /health, or `ms` pass.
    bool wait_healthy(std::size_t i, unsigned ms)
    {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (std::chrono::steady_clock::now() < until) {
            if (!reap(i)) return false;
            const auto [status, body] = request(i, "/health", nullptr);
            if (status == 200 && body.find("\"health\":\"true\"") != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    // A POST of `body` to member i's gateway (e.g. /v3/kv/compaction): the HTTP status (-1: no answer)
    // and the body.
    std::pair<long, std::string> post(std::size_t i, const std::string& path, const std::string& body)
    {
        return request(i, path, &body);
    }

    // The end of member i's log, for failure messages.
    std::string log_tail(std::size_t i, std::size_t bytes = 3000) const
    {
        std::ifstream f(members_[i].dir + "/etcd.log");
        std::stringstream ss;
        ss << f.rdbuf();
        std::ifstream g(members_[i].dir + "/stdout.log");
        ss << g.rdbuf();
        const std::string s = ss.str();
        return s.size() > bytes ? s.substr(s.size() - bytes) : s;
    }

private:
    struct Member {
        std::string name, dir;
        uint16_t client_port = 0, peer_port = 0;
        pid_t pid = -1;
    };

    // Ports the kernel picks on loopback, all bound at once so that they differ, then released.
    static std::vector<uint16_t> free_ports(std::size_t n)
    {
        std::vector<int> fds;
        std::vector<uint16_t> out;
        for (std::size_t k = 0; k < n; ++k) {
            const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) break;
            fds.push_back(fd);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t len = sizeof a;
            if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
                getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
                break;
            out.push_back(ntohs(a.sin_port));
        }
        for (int fd : fds) close(fd);
        return out;
    }

    bool run(const std::string& cmd)
    {
        const std::string full = "cd '" + dir_ + "/tls' && " + cmd + " >>openssl.log 2>&1";
        if (std::system(full.c_str()) != 0) {
            error_ = "openssl failed: " + cmd;
            return false;
        }
        return true;
    }

    bool make_certificates()
    {
        std::filesystem::create_directories(dir_ + "/tls");
        {
            std::ofstream ext(dir_ + "/tls/ext.cnf");
            ext << "[server]\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"
                   "basicConstraints=CA:FALSE\n"
                   "[client]\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n";
        }
        const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        return run("openssl req -x509 " + ec + " -keyout ca.key -out ca.crt -days 2 -subj /CN=nemo-test-ca") &&
               run("openssl req " + ec + " -keyout server.key -out server.csr -subj /CN=127.0.0.1") &&
               run("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 1001 -days 2 "
                   "-extfile ext.cnf -extensions server -out server.crt") &&
               run("openssl req " + ec + " -keyout client.key -out client.csr -subj /CN=nemo-test-client") &&
               run("openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 1002 -days 2 "
                   "-extfile ext.cnf -extensions client -out client.crt");
    }

    // False when member i has exited (and says so in error_).
    bool reap(std::size_t i)
    {
        Member& m = members_[i];
        if (m.pid <= 0) return false;
        int st = 0;
        if (waitpid(m.pid, &st, WNOHANG) == m.pid) {
            m.pid = -1;
            error_ = "etcd member " + m.name + " exited; its log ends:\n" + log_tail(i);
            return false;
        }
        return true;
    }

    bool start(std::size_t i)
    {
        Member& m = members_[i];
        const std::string scheme = tls_ ? "https://" : "http://";
        const std::string client_url = scheme + "127.0.0.1:" + std::to_string(m.client_port);
        const std::string peer_url = "http://127.0.0.1:" + std::to_string(m.peer_port);
        std::vector<std::string> args = {
            etcd_,
            "--name", m.name,
            "--data-dir", m.dir + "/data",
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", initial_cluster_,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", token_,
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--max-txn-ops", "10000",
            "--experimental-watch-progress-notify-interval", "1s",
            "--logger", "zap",
            "--log-outputs", m.dir + "/etcd.log",
        };
        if (tls_) {
            const std::string t = dir_ + "/tls/";
            for (const std::string& a : {std::string("--cert-file"), t + "server.crt", std::string("--key-file"),
                                         t + "server.key", std::string("--trusted-ca-file"), t + "ca.crt",
                                         std::string("--client-cert-auth")})
                args.push_back(a);
        }
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string out_path = m.dir + "/stdout.log";
        const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out < 0) {
            error_ = "cannot open " + out_path;
            return false;
        }
        const pid_t parent = getpid();
        const pid_t pid = fork();
        if (pid < 0) {
            close(out);
            error_ = "fork failed";
            return false;
        }
        if (pid == 0) {
            // Only async-signal-safe calls from here on.
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(127);
            const int null = open("/dev/null", O_RDONLY);
            if (null >= 0) dup2(null, 0);
            dup2(out, 1);
            dup2(out, 2);
            execv(argv[0], argv.data());
            _exit(127);
        }
        close(out);
        m.pid = pid;
        return true;
    }

    static std::size_t collect(char* p, std::size_t size, std::size_t n, void* s)
    {
        static_cast<std::string*>(s)->append(p, size * n);
        return size * n;
    }

    std::pair<long, std::string> request(std::size_t i, const std::string& path, const std::string* body)
    {
        CURL* h = curl_easy_init();
        if (!h) return {-1, {}};
        std::string out;
        const std::string url = (tls_ ? "https://" : "http://") + endpoint(i) + path;
        const control::EtcdTls t = client_tls();
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 500L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &EtcdCluster::collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
        if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->c_str());
        if (tls_) {
            curl_easy_setopt(h, CURLOPT_CAINFO, t.ca_file.c_str());
            curl_easy_setopt(h, CURLOPT_SSLCERT, t.cert_file.c_str());
            curl_easy_setopt(h, CURLOPT_SSLKEY, t.key_file.c_str());
        }
        long status = -1;
        if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        return {status, out};
    }

    bool tls_;
    std::string etcd_, dir_, token_, initial_cluster_, error_;
    std::vector<Member> members_;
};

} // namespace nemo::test
