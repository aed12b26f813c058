// A client of etcd's v3 API through its JSON gateway (grpc-gateway: POST /v3/kv/txn, /v3/kv/range,
// /v3/lease/grant, /v3/watch, /v3/maintenance/status, /v3/cluster/member/list), over libcurl. Keys and
// values are bytes; the gateway carries them base64-encoded and int64 fields as decimal strings, which
// this file hides.
//
// EtcdClient is blocking and owned by one thread at a time (it keeps its curl handles and connections).
// Each call tries the endpoints in turn, starting from the one that answered last, until one answers or
// all have failed; a call never takes longer than about endpoints x request_timeout_ms. Errors come back
// as EtcdError, never as exceptions, and never quote a key or a value.
//
// EtcdWatch streams the changes under a prefix from a revision on, on a thread of its own, reconnecting
// (to the next endpoint) whenever the stream breaks. A member that takes the connection but creates no
// watch within request_timeout_ms counts as broken; a member that loses its leader ends the stream itself
// (etcd's require-leader, asked for on every watch).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace nemo::control {

struct EtcdTls {
    std::string ca_file;   // the CA that signed the members' certificates (empty: plain http)
    std::string cert_file; // this client's certificate and key (client-certificate authentication)
    std::string key_file;
    bool enabled() const { return !ca_file.empty(); }
};

struct EtcdOptions {
    std::vector<std::string> endpoints;  // "host:port" (http, or https with tls.enabled())
    EtcdTls tls;
    unsigned connect_timeout_ms = 500;
    unsigned request_timeout_ms = 2000;  // one request to one endpoint
};

struct EtcdError {
    std::string message;      // what failed, with the endpoint(s); never a key or a value
    bool unreachable = false; // no endpoint answered (connection refused, timeout, a member without a leader)
    bool compacted = false;   // range/watch: the revision asked for has been compacted
};

struct EtcdKv {
    std::string key, value;   // bytes
    int64_t create_revision = 0, mod_revision = 0, version = 0;
    int64_t lease = 0;
};

// One compare of a transaction (etcd's Compare with target MOD or VERSION, result EQUAL).
struct EtcdCompare {
    std::string key;
    enum class Target : uint8_t { mod_revision, version } target = Target::mod_revision;
    int64_t value = 0; // mod_revision 0 / version 0: the key must not exist
};

// One operation of a transaction's branch.
struct EtcdOp {
    enum class Kind : uint8_t { put, del, range } kind = Kind::put;
    std::string key, value; // value: put only
    std::string range_end;  // del/range: empty for one key
    int64_t lease = 0;      // put: 0 none
};

struct EtcdTxn {
    std::vector<EtcdCompare> compare;
    std::vector<EtcdOp> success, failure;
};

struct EtcdTxnResult {
    bool succeeded = false;      // every compare held: the success branch ran
    int64_t revision = 0;        // the store's revision after the transaction (header.revision)
    // Per op of the branch that ran, in order: for a range op, the keys it found (others: empty).
    std::vector<std::vector<EtcdKv>> ranges;
};

struct EtcdRange {
    std::vector<EtcdKv> kvs;
    int64_t revision = 0; // the revision the read was made at (the one asked for, or the first page's header.revision)
};

struct EtcdMember {
    uint64_t id = 0;
    std::string name;
    std::vector<std::string> client_urls;
};

struct EtcdEndpointStatus {
    std::string endpoint;
    bool reachable = false;
    std::string error;        // when not reachable
    uint64_t member_id = 0, leader = 0;
    uint64_t raft_term = 0, raft_index = 0;
    int64_t revision = 0;     // header.revision
    uint64_t db_size = 0;
    std::string version;
    std::vector<std::string> errors; // the member's own alarms/errors (status.errors)
};

class EtcdClient {
public:
    explicit EtcdClient(EtcdOptions opts);
    ~EtcdClient();
    EtcdClient(const EtcdClient&) = delete;
    EtcdClient& operator=(const EtcdClient&) = delete;

    std::variant<EtcdTxnResult, EtcdError> txn(const EtcdTxn& t);
    // Every key in [key, range_end) (range_end empty: the one key) at `revision` (0: the newest),
    // read in pages of `page` keys at one revision, so the result is one consistent snapshot.
    std::variant<EtcdRange, EtcdError> range(const std::string& key, const std::string& range_end, int64_t revision = 0,
                                             std::size_t page = 10000);
    std::optional<EtcdError> put(const std::string& key, const std::string& value, int64_t lease = 0);
    // A lease of `ttl_s` seconds: its id.
    std::variant<int64_t, EtcdError> lease_grant(int64_t ttl_s);
    // One keep-alive of a lease: the TTL left (0 or less: the lease is gone).
    std::variant<int64_t, EtcdError> lease_keepalive(int64_t id);
    std::optional<EtcdError> lease_revoke(int64_t id);
    // Each configured endpoint asked on its own (never an error: an endpoint that does not answer says so).
    std::vector<EtcdEndpointStatus> status_all();
    std::variant<std::vector<EtcdMember>, EtcdError> member_list();

    const EtcdOptions& options() const { return opts_; }

private:
    struct Impl;
    EtcdOptions opts_;
    std::unique_ptr<Impl> impl_;
};

// The range_end that makes [prefix, range_end) every key starting with `prefix` (etcd's prefix rule).
std::string etcd_prefix_end(const std::string& prefix);

struct EtcdEvent {
    enum class Type : uint8_t { put, del } type = Type::put;
    EtcdKv kv; // for a delete: the key and mod_revision (the deletion's revision)
};

// Watches [prefix, prefix_end) from a revision on. The callbacks run on the watch's thread.
class EtcdWatch {
public:
    struct Callbacks {
        // Events of one watch response, in revision order; `revision` is the response header's.
        std::function<void(std::vector<EtcdEvent>&& events, int64_t revision)> events;
        // The revision asked for was compacted: the caller must read the prefix anew (range) and call
        // restart(revision of that read + 1) — the watch stays stopped until then.
        std::function<void(int64_t compact_revision)> compacted;
        // The stream broke or came back (for `show cluster`): connected, the endpoint, the error. Also for
        // each failed attempt to connect, and (not connected) before `compacted`.
        std::function<void(bool connected, const std::string& endpoint, const std::string& error)> state;
    };
    // Starts watching from `start_revision` (the revision after the caller's last read).
    EtcdWatch(EtcdOptions opts, std::string prefix, int64_t start_revision, Callbacks cb);
    ~EtcdWatch(); // stops the thread (within about a connect timeout)
    EtcdWatch(const EtcdWatch&) = delete;
    EtcdWatch& operator=(const EtcdWatch&) = delete;

    // After `compacted`: go on from this revision. (Called while streaming, it starts the stream again from
    // there.)
    void restart(int64_t start_revision);
    // The revision of the last event or progress notification seen (0: none).
    int64_t revision() const { return revision_.load(std::memory_order_acquire); }
    bool connected() const { return connected_.load(std::memory_order_acquire); }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::atomic<int64_t> revision_{0};
    std::atomic<bool> connected_{false};
};

} // namespace nemo::control
