// The client of etcd's v3 JSON gateway (etcd_client.hpp) over libcurl: requests as JSON bodies, keys and
// values base64-encoded, int64 fields as decimal strings; the watch as one streaming POST whose response
// is a sequence of {"result": WatchResponse} objects.
#include "etcd_client.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>

namespace nemo::control {

namespace {

using json = nlohmann::json;

// A reply the gateway should not have sent (not JSON, a field of the wrong type): thrown inside this file
// only, caught at every public entry.
struct BadReply : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void global_init()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string b64_encode(const std::string& in)
{
    if (in.size() > static_cast<std::size_t>(INT_MAX / 4 * 3 - 3)) throw BadReply("a key or value too large to encode");
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(std::max(n, 0)));
    return out;
}

std::string b64_decode(const std::string& in)
{
    if (in.empty()) return {};
    if (in.size() % 4 != 0 || in.size() > static_cast<std::size_t>(INT_MAX)) throw BadReply("bad base64 in a reply");
    std::string out(in.size() / 4 * 3 + 1, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    if (n < 0) throw BadReply("bad base64 in a reply");
    // EVP_DecodeBlock counts the padding as zero bytes.
    std::size_t pad = 0;
    if (in[in.size() - 1] == '=') ++pad;
    if (in[in.size() - 2] == '=') ++pad;
    if (static_cast<std::size_t>(n) < pad) throw BadReply("bad base64 in a reply");
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

template <typename T> T get_int(const json& o, const char* name)
{
    if (!o.is_object()) return 0;
    const auto it = o.find(name);
    if (it == o.end() || it->is_null()) return 0;
    if (it->is_string()) {
        const std::string& s = it->get_ref<const std::string&>();
        T v = 0;
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || p != s.data() + s.size()) throw BadReply(std::string("bad number in field ") + name);
        return v;
    }
    if (it->is_number_integer()) return it->get<T>();
    throw BadReply(std::string("bad number in field ") + name);
}

int64_t get_i64(const json& o, const char* name) { return get_int<int64_t>(o, name); }
uint64_t get_u64(const json& o, const char* name) { return get_int<uint64_t>(o, name); }

bool get_bool(const json& o, const char* name)
{
    if (!o.is_object()) return false;
    const auto it = o.find(name);
    if (it == o.end() || it->is_null()) return false;
    if (!it->is_boolean()) throw BadReply(std::string("bad boolean in field ") + name);
    return it->get<bool>();
}

std::string get_str(const json& o, const char* name)
{
    if (!o.is_object()) return {};
    const auto it = o.find(name);
    if (it == o.end() || it->is_null()) return {};
    if (!it->is_string()) throw BadReply(std::string("bad string in field ") + name);
    return it->get<std::string>();
}

std::string get_bytes(const json& o, const char* name) { return b64_decode(get_str(o, name)); }

const json& get_obj(const json& o, const char* name)
{
    static const json empty = json::object();
    if (!o.is_object()) return empty;
    const auto it = o.find(name);
    if (it == o.end() || it->is_null()) return empty;
    if (!it->is_object()) throw BadReply(std::string("bad object in field ") + name);
    return *it;
}

const json& get_arr(const json& o, const char* name)
{
    static const json empty = json::array();
    if (!o.is_object()) return empty;
    const auto it = o.find(name);
    if (it == o.end() || it->is_null()) return empty;
    if (!it->is_array()) throw BadReply(std::string("bad array in field ") + name);
    return *it;
}

EtcdKv parse_kv(const json& j)
{
    EtcdKv kv;
    kv.key = get_bytes(j, "key");
    kv.value = get_bytes(j, "value");
    kv.create_revision = get_i64(j, "create_revision");
    kv.mod_revision = get_i64(j, "mod_revision");
    kv.version = get_i64(j, "version");
    kv.lease = get_i64(j, "lease");
    return kv;
}

std::vector<EtcdKv> parse_kvs(const json& j)
{
    std::vector<EtcdKv> out;
    const json& a = get_arr(j, "kvs");
    out.reserve(a.size());
    for (const json& e : a) out.push_back(parse_kv(e));
    return out;
}

// The strings an error message must not quote: the request's keys and values, raw and encoded.
using Secrets = std::vector<std::string>;

void add_secret(Secrets& s, const std::string& v)
{
    if (v.size() < 3) return; // too short to tell from ordinary text
    s.push_back(v);
    s.push_back(b64_encode(v));
}

// A server's message made fit for an error: printable, bounded, without any of the request's keys or values.
std::string clean_message(std::string m, const Secrets& secrets)
{
    for (const std::string& s : secrets) {
        if (s.empty()) continue;
        for (std::size_t p = m.find(s); p != std::string::npos; p = m.find(s, p)) m.replace(p, s.size(), "<redacted>");
    }
    for (char& c : m)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    if (m.size() > 300) m = m.substr(0, 300) + "...";
    return m;
}

// Finds complete top-level JSON objects in a byte stream fed piece by piece (the watch's response, one
// object per message); strings and escapes are honoured so a brace inside a value does not count.
class ObjectSplitter {
public:
    // Appends `n` bytes; calls `on_object(text)` for every object completed. Returns false when the stream
    // is not a sequence of objects or `on_object` returned false (the rest is left unread).
    template <typename F> bool feed(const char* p, std::size_t n, F&& on_object)
    {
        buf_.append(p, n);
        if (buf_.size() > max_buffer) return false;
        for (; pos_ < buf_.size(); ++pos_) {
            const char c = buf_[pos_];
            if (depth_ == 0) {
                if (c == '{') {
                    depth_ = 1;
                    start_ = pos_;
                } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                    return false;
                }
                continue;
            }
            if (in_string_) {
                if (escape_) escape_ = false;
                else if (c == '\\') escape_ = true;
                else if (c == '"') in_string_ = false;
                continue;
            }
            if (c == '"') {
                in_string_ = true;
            } else if (c == '{' || c == '[') {
                ++depth_;
            } else if (c == '}' || c == ']') {
                if (--depth_ == 0) {
                    const bool go_on = on_object(std::string_view(buf_).substr(start_, pos_ + 1 - start_));
                    if (!go_on) return false;
                }
            }
        }
        if (depth_ == 0) {
            buf_.clear();
            pos_ = 0;
        } else if (start_ > 0) {
            buf_.erase(0, start_);
            pos_ -= start_;
            start_ = 0;
        }
        return true;
    }
    void reset()
    {
        buf_.clear();
        pos_ = start_ = 0;
        depth_ = 0;
        in_string_ = escape_ = false;
    }

private:
    static constexpr std::size_t max_buffer = 256u << 20;
    std::string buf_;
    std::size_t pos_ = 0, start_ = 0;
    unsigned depth_ = 0;
    bool in_string_ = false, escape_ = false;
};

std::string base_url(const EtcdOptions& o, const std::string& ep)
{
    if (ep.find("://") != std::string::npos) return ep;
    return (o.tls.enabled() ? "https://" : "http://") + ep;
}

// The options every handle of this file shares (the per-request ones are set by the caller).
void setup_handle(CURL* h, const EtcdOptions& o, curl_slist* headers, char* errbuf)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max(1u, o.connect_timeout_ms)));
    curl_easy_setopt(h, CURLOPT_PROXY, ""); // never through a proxy of the environment
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 2L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, o.tls.enabled() ? "https" : "http");
    if (o.tls.enabled()) {
        curl_easy_setopt(h, CURLOPT_CAINFO, o.tls.ca_file.c_str());
        if (!o.tls.cert_file.empty()) curl_easy_setopt(h, CURLOPT_SSLCERT, o.tls.cert_file.c_str());
        if (!o.tls.key_file.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, o.tls.key_file.c_str());
    }
}

std::string curl_error(CURLcode rc, const char* errbuf)
{
    std::string m = errbuf && errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
}

// The gateway's error body: {"error": "...", "code": N, "message": "..."} (or, inside a stream,
// {"error": {"grpc_code": N, "message": "..."}}).
struct GatewayError {
    int code = 0;
    std::string message;
};

std::optional<GatewayError> gateway_error(const json& j)
{
    if (!j.is_object()) return std::nullopt;
    const auto it = j.find("error");
    if (it == j.end()) return std::nullopt;
    GatewayError e;
    if (it->is_object()) {
        e.code = static_cast<int>(get_i64(*it, "grpc_code"));
        e.message = get_str(*it, "message");
    } else {
        if (j.find("code") == j.end() && j.find("message") == j.end()) return std::nullopt;
        e.code = static_cast<int>(get_i64(j, "code"));
        e.message = get_str(j, "message");
        if (e.message.empty() && it->is_string()) e.message = it->get<std::string>();
    }
    if (e.message.empty()) e.message = "error";
    return e;
}

constexpr int grpc_deadline_exceeded = 4;
constexpr int grpc_unavailable = 14;

// The first object of a body (the lease keep-alive answers with a stream of one).
json first_object(const std::string& body)
{
    ObjectSplitter s;
    std::optional<json> out;
    s.feed(body.data(), body.size(), [&](std::string_view t) {
        out = json::parse(t);
        return false;
    });
    if (!out) throw BadReply("no JSON object in the reply");
    return std::move(*out);
}

json compare_json(const EtcdCompare& c)
{
    json j = {{"result", "EQUAL"}, {"key", b64_encode(c.key)}};
    if (c.target == EtcdCompare::Target::mod_revision) {
        j["target"] = "MOD";
        j["mod_revision"] = std::to_string(c.value);
    } else {
        j["target"] = "VERSION";
        j["version"] = std::to_string(c.value);
    }
    return j;
}

json op_json(const EtcdOp& op)
{
    json r = {{"key", b64_encode(op.key)}};
    switch (op.kind) {
    case EtcdOp::Kind::put:
        r["value"] = b64_encode(op.value);
        if (op.lease != 0) r["lease"] = std::to_string(op.lease);
        return {{"request_put", std::move(r)}};
    case EtcdOp::Kind::del:
        if (!op.range_end.empty()) r["range_end"] = b64_encode(op.range_end);
        return {{"request_delete_range", std::move(r)}};
    case EtcdOp::Kind::range:
        if (!op.range_end.empty()) r["range_end"] = b64_encode(op.range_end);
        return {{"request_range", std::move(r)}};
    }
    return {};
}

} // namespace

std::string etcd_prefix_end(const std::string& prefix)
{
    std::string end = prefix;
    while (!end.empty()) {
        auto& c = reinterpret_cast<unsigned char&>(end.back());
        if (c < 0xff) {
            ++c;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0'); // every key from the prefix on
}

// ---------------------------------------------------------------------------------------------------------
// EtcdClient

struct EtcdClient::Impl {
    struct Endpoint {
        std::string name, base;
        CURL* h = nullptr;
    };

    const EtcdOptions& opts;
    std::vector<Endpoint> eps;
    std::size_t last = 0; // the endpoint that answered last
    curl_slist* headers = nullptr;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::string body; // the current response

    explicit Impl(const EtcdOptions& o) : opts(o)
    {
        global_init();
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Expect:"); // no 100-continue round trip for large bodies
        for (const std::string& e : opts.endpoints) eps.push_back({e, base_url(opts, e), nullptr});
    }
    ~Impl()
    {
        for (Endpoint& e : eps)
            if (e.h) curl_easy_cleanup(e.h);
        curl_slist_free_all(headers);
    }

    static std::size_t on_write(char* p, std::size_t size, std::size_t n, void* self)
    {
        auto* s = static_cast<std::string*>(self);
        if (s->size() + size * n > (1u << 30)) return 0;
        try {
            s->append(p, size * n);
        } catch (const std::exception&) { // nothing may unwind through curl
            return 0;
        }
        return size * n;
    }

    CURL* handle(Endpoint& e)
    {
        if (e.h) return e.h;
        e.h = curl_easy_init();
        if (!e.h) return nullptr;
        setup_handle(e.h, opts, headers, errbuf);
        curl_easy_setopt(e.h, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max(1u, opts.request_timeout_ms)));
        curl_easy_setopt(e.h, CURLOPT_WRITEFUNCTION, &Impl::on_write);
        curl_easy_setopt(e.h, CURLOPT_WRITEDATA, &body);
        return e.h;
    }

    // One request to one endpoint.
    struct Attempt {
        enum class Kind : uint8_t { ok, transport, answered_error } kind = Kind::transport;
        json reply;
        GatewayError error;   // answered_error
        std::string message;  // transport
    };

    Attempt perform(std::size_t i, const char* path, const std::string& request)
    {
        Attempt a;
        Endpoint& e = eps[i];
        CURL* h = handle(e);
        if (!h) {
            a.message = "cannot make a curl handle";
            return a;
        }
        const std::string url = e.base + path;
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.size()));
        body.clear();
        errbuf[0] = '\0';
        const CURLcode rc = curl_easy_perform(h);
        if (rc != CURLE_OK) {
            a.message = curl_error(rc, errbuf);
            return a;
        }
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        json j = json::parse(body, nullptr, false);
        try {
            if (j.is_discarded()) j = first_object(body); // a stream of one (the lease keep-alive)
        } catch (const std::exception&) {
            a.message = "HTTP " + std::to_string(status) + " without a JSON body (not an etcd gateway?)";
            return a;
        }
        if (auto ge = gateway_error(j)) {
            a.kind = Attempt::Kind::answered_error;
            a.error = std::move(*ge);
            return a;
        }
        if (status != 200) {
            a.kind = Attempt::Kind::answered_error;
            a.error = {0, "HTTP " + std::to_string(status)};
            return a;
        }
        a.kind = Attempt::Kind::ok;
        a.reply = std::move(j);
        return a;
    }

    // The request on the endpoints in turn, from the one that answered last, until one answers. A member
    // without a leader (gRPC Unavailable) or out of time (DeadlineExceeded) counts as not answering.
    std::variant<json, EtcdError> call(const char* path, const json& request, const Secrets& secrets)
    {
        if (eps.empty()) return EtcdError{"etcd: no endpoints configured", true, false};
        const std::string req = request.dump();
        std::string failures;
        for (std::size_t k = 0; k < eps.size(); ++k) {
            const std::size_t i = (last + k) % eps.size();
            Attempt a = perform(i, path, req);
            if (a.kind == Attempt::Kind::ok) {
                last = i;
                return std::move(a.reply);
            }
            if (a.kind == Attempt::Kind::answered_error && a.error.code != grpc_unavailable &&
                a.error.code != grpc_deadline_exceeded) {
                last = i;
                EtcdError err;
                err.message = "etcd " + eps[i].name + " " + path + ": " + clean_message(a.error.message, secrets);
                if (a.error.code != 0) err.message += " (code " + std::to_string(a.error.code) + ")";
                err.compacted = a.error.message.find("compacted") != std::string::npos;
                return err;
            }
            if (!failures.empty()) failures += "; ";
            failures += eps[i].name + ": " +
                        (a.kind == Attempt::Kind::transport ? a.message : clean_message(a.error.message, secrets));
        }
        return EtcdError{std::string("etcd ") + path + ": no endpoint answered (" + failures + ")", true, false};
    }
};

EtcdClient::EtcdClient(EtcdOptions opts) : opts_(std::move(opts)), impl_(std::make_unique<Impl>(opts_)) {}

EtcdClient::~EtcdClient() = default;

namespace {

EtcdError internal_error(const char* what, const std::exception& e)
{
    // BadReply and nlohmann's messages name fields and positions, never a key or a value.
    return EtcdError{std::string("etcd ") + what + ": bad reply: " + e.what(), false, false};
}

} // namespace

std::variant<EtcdTxnResult, EtcdError> EtcdClient::txn(const EtcdTxn& t)
{
    try {
        Secrets secrets;
        json req = json::object();
        json cmp = json::array(), succ = json::array(), fail = json::array();
        for (const EtcdCompare& c : t.compare) {
            add_secret(secrets, c.key);
            cmp.push_back(compare_json(c));
        }
        for (const EtcdOp& op : t.success) {
            add_secret(secrets, op.key);
            add_secret(secrets, op.value);
            succ.push_back(op_json(op));
        }
        for (const EtcdOp& op : t.failure) {
            add_secret(secrets, op.key);
            add_secret(secrets, op.value);
            fail.push_back(op_json(op));
        }
        if (!cmp.empty()) req["compare"] = std::move(cmp);
        if (!succ.empty()) req["success"] = std::move(succ);
        if (!fail.empty()) req["failure"] = std::move(fail);
        auto r = impl_->call("/v3/kv/txn", req, secrets);
        if (auto* e = std::get_if<EtcdError>(&r)) return std::move(*e);
        const json& j = std::get<json>(r);
        EtcdTxnResult out;
        out.succeeded = get_bool(j, "succeeded");
        out.revision = get_i64(get_obj(j, "header"), "revision");
        const std::size_t ops = out.succeeded ? t.success.size() : t.failure.size();
        for (const json& resp : get_arr(j, "responses")) {
            const auto it = resp.is_object() ? resp.find("response_range") : resp.end();
            if (resp.is_object() && it != resp.end()) out.ranges.push_back(parse_kvs(*it));
            else out.ranges.emplace_back();
        }
        if (out.ranges.size() != ops) return EtcdError{"etcd /v3/kv/txn: bad reply: the responses do not match the ops"};
        return out;
    } catch (const std::exception& e) {
        return internal_error("/v3/kv/txn", e);
    }
}

std::variant<EtcdRange, EtcdError> EtcdClient::range(const std::string& key, const std::string& range_end,
                                                     int64_t revision, std::size_t page)
{
    try {
        Secrets secrets;
        add_secret(secrets, key);
        add_secret(secrets, range_end);
        EtcdRange out;
        out.revision = revision;
        // etcd wants a key: "\0" is the first of all ("" with a range_end would be refused).
        std::string from = key.empty() && !range_end.empty() ? std::string(1, '\0') : key;
        for (;;) {
            json req = {{"key", b64_encode(from)}};
            if (!range_end.empty()) {
                req["range_end"] = b64_encode(range_end);
                if (page > 0) req["limit"] = std::to_string(page);
            }
            if (out.revision != 0) req["revision"] = std::to_string(out.revision);
            auto r = impl_->call("/v3/kv/range", req, secrets);
            if (auto* e = std::get_if<EtcdError>(&r)) return std::move(*e);
            const json& j = std::get<json>(r);
            // The first page's revision is the snapshot every further page is read at.
            if (out.revision == 0) out.revision = get_i64(get_obj(j, "header"), "revision");
            std::vector<EtcdKv> kvs = parse_kvs(j);
            const bool more = get_bool(j, "more") && !kvs.empty() && !range_end.empty();
            if (more) from = kvs.back().key + std::string(1, '\0');
            if (out.kvs.empty()) out.kvs = std::move(kvs);
            else out.kvs.insert(out.kvs.end(), std::make_move_iterator(kvs.begin()), std::make_move_iterator(kvs.end()));
            if (!more) return out;
        }
    } catch (const std::exception& e) {
        return internal_error("/v3/kv/range", e);
    }
}

std::optional<EtcdError> EtcdClient::put(const std::string& key, const std::string& value, int64_t lease)
{
    try {
        Secrets secrets;
        add_secret(secrets, key);
        add_secret(secrets, value);
        json req = {{"key", b64_encode(key)}, {"value", b64_encode(value)}};
        if (lease != 0) req["lease"] = std::to_string(lease);
        auto r = impl_->call("/v3/kv/put", req, secrets);
        if (auto* e = std::get_if<EtcdError>(&r)) return std::move(*e);
        return std::nullopt;
    } catch (const std::exception& e) {
        return internal_error("/v3/kv/put", e);
    }
}

std::variant<int64_t, EtcdError> EtcdClient::lease_grant(int64_t ttl_s)
{
    try {
        auto r = impl_->call("/v3/lease/grant", {{"TTL", std::to_string(ttl_s)}, {"ID", "0"}}, {});
        if (auto* e = std::get_if<EtcdError>(&r)) return std::move(*e);
        const json& j = std::get<json>(r);
        const int64_t id = get_i64(j, "ID");
        if (id == 0) return EtcdError{"etcd /v3/lease/grant: no lease granted: " + clean_message(get_str(j, "error"), {})};
        return id;
    } catch (const std::exception& e) {
        return internal_error("/v3/lease/grant", e);
    }
}

std::variant<int64_t, EtcdError> EtcdClient::lease_keepalive(int64_t id)
{
    try {
        auto r = impl_->call("/v3/lease/keepalive", {{"ID", std::to_string(id)}}, {});
        if (auto* e = std::get_if<EtcdError>(&r)) return std::move(*e);
        const json& j = std::get<json>(r);
        return get_i64(get_obj(j, "result"), "TTL");
    } catch (const std::exception& e) {
        return internal_error("/v3/lease/keepalive", e);
    }
}

std::optional<EtcdError> EtcdClient::lease_revoke(int64_t id)
{
    try {
        auto r = impl_->call("/v3/lease/revoke", {{"ID", std::to_string(id)}}, {});
        if (auto* e = std::get_if<EtcdError>(&r)) return std::move(*e);
        return std::nullopt;
    } catch (const std::exception& e) {
        return internal_error("/v3/lease/revoke", e);
    }
}

std::vector<EtcdEndpointStatus> EtcdClient::status_all()
{
    std::vector<EtcdEndpointStatus> out;
    for (std::size_t i = 0; i < impl_->eps.size(); ++i) {
        EtcdEndpointStatus s;
        s.endpoint = impl_->eps[i].name;
        try {
            Impl::Attempt a = impl_->perform(i, "/v3/maintenance/status", "{}");
            if (a.kind == Impl::Attempt::Kind::transport) {
                s.error = a.message;
            } else if (a.kind == Impl::Attempt::Kind::answered_error) {
                s.error = clean_message(a.error.message, {});
            } else {
                const json& j = a.reply;
                const json& h = get_obj(j, "header");
                s.member_id = get_u64(h, "member_id");
                s.revision = get_i64(h, "revision");
                s.leader = get_u64(j, "leader");
                s.raft_term = get_u64(j, "raftTerm");
                s.raft_index = get_u64(j, "raftIndex");
                s.db_size = get_u64(j, "dbSize");
                s.version = get_str(j, "version");
                for (const json& e : get_arr(j, "errors"))
                    if (e.is_string()) s.errors.push_back(clean_message(e.get<std::string>(), {}));
                s.reachable = true;
            }
        } catch (const std::exception& e) {
            s.reachable = false;
            s.error = std::string("bad reply: ") + e.what();
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::variant<std::vector<EtcdMember>, EtcdError> EtcdClient::member_list()
{
    try {
        auto r = impl_->call("/v3/cluster/member/list", json::object(), {});
        if (auto* e = std::get_if<EtcdError>(&r)) return std::move(*e);
        std::vector<EtcdMember> out;
        for (const json& m : get_arr(std::get<json>(r), "members")) {
            EtcdMember em;
            em.id = get_u64(m, "ID");
            em.name = get_str(m, "name");
            for (const json& u : get_arr(m, "clientURLs"))
                if (u.is_string()) em.client_urls.push_back(u.get<std::string>());
            out.push_back(std::move(em));
        }
        return out;
    } catch (const std::exception& e) {
        return internal_error("/v3/cluster/member/list", e);
    }
}

// ---------------------------------------------------------------------------------------------------------
// EtcdWatch

struct EtcdWatch::Impl {
    EtcdWatch& self;
    EtcdOptions opts;
    std::string prefix, prefix_end;
    Callbacks cb;
    Secrets secrets;

    std::mutex mu;
    std::condition_variable cv;
    std::atomic<bool> stop{false};
    std::atomic<bool> restart_pending{false};
    int64_t restart_rev = 0;  // under mu, with restart_pending
    bool waiting = false;     // after `compacted`, until restart()

    int64_t next_rev;         // the watch thread's: where the next stream starts
    CURLM* multi = nullptr;
    std::vector<CURL*> handles;
    curl_slist* headers = nullptr;
    char errbuf[CURL_ERROR_SIZE] = {};
    std::thread thread;

    // The state of the stream running.
    struct Stream {
        std::size_t ep = 0;
        ObjectSplitter splitter;
        bool created = false;
        int64_t compact_revision = 0;
        std::string error; // why the stream was given up (from its content)
    } st;

    Impl(EtcdWatch& w, EtcdOptions o, std::string p, int64_t start, Callbacks c)
        : self(w), opts(std::move(o)), prefix(std::move(p)), prefix_end(etcd_prefix_end(prefix)), cb(std::move(c)),
          next_rev(start)
    {
        global_init();
        add_secret(secrets, prefix);
        add_secret(secrets, prefix_end);
        multi = curl_multi_init();
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Expect:"); // no 100-continue round trip for large bodies
        // Have the member end the stream when it loses its leader (etcd's "require leader" metadata, which
        // the gateway passes on from Grpc-Metadata- headers): a member cut off from the quorum sends nothing.
        headers = curl_slist_append(headers, "Grpc-Metadata-hasleader: true");
        handles.assign(opts.endpoints.size(), nullptr);
    }
    ~Impl()
    {
        for (CURL* h : handles)
            if (h) curl_easy_cleanup(h);
        if (multi) curl_multi_cleanup(multi);
        curl_slist_free_all(headers);
    }

    void wake()
    {
        if (multi) curl_multi_wakeup(multi);
        cv.notify_all();
    }

    bool interrupted() const
    {
        return stop.load(std::memory_order_acquire) || restart_pending.load(std::memory_order_acquire);
    }

    void state(bool connected, const std::string& ep, const std::string& error)
    {
        self.connected_.store(connected, std::memory_order_release);
        if (!cb.state) return;
        try {
            cb.state(connected, ep, error);
        } catch (...) {
        }
    }

    static std::size_t on_write(char* p, std::size_t size, std::size_t n, void* arg)
    {
        auto* me = static_cast<Impl*>(arg);
        bool ok = false;
        try {
            ok = me->st.splitter.feed(p, size * n, [me](std::string_view text) { return me->on_message(text); });
        } catch (const std::exception& e) { // nothing may unwind through curl
            me->st.error = std::string("the watch stream: ") + e.what();
        }
        if (!ok) {
            if (me->st.error.empty() && me->st.compact_revision == 0) me->st.error = "the watch stream is not JSON";
            return 0; // ends the transfer
        }
        return size * n;
    }

    // One message of the stream; false ends the stream.
    bool on_message(std::string_view text)
    {
        try {
            const json j = json::parse(text);
            if (auto ge = gateway_error(j)) {
                st.error = clean_message(ge->message, secrets);
                if (ge->code != 0) st.error += " (code " + std::to_string(ge->code) + ")";
                return false;
            }
            const json& r = get_obj(j, "result");
            if (get_bool(r, "created") && !st.created) {
                st.created = true;
                state(true, opts.endpoints[st.ep], "");
            }
            if (const int64_t c = get_i64(r, "compact_revision"); c != 0) {
                st.compact_revision = c;
                return false;
            }
            if (get_bool(r, "canceled")) {
                const std::string reason = get_str(r, "cancel_reason");
                st.error = "the watch was canceled" + (reason.empty() ? "" : ": " + clean_message(reason, secrets));
                return false;
            }
            const int64_t header_rev = get_i64(get_obj(r, "header"), "revision");
            const json& evs = get_arr(r, "events");
            if (!evs.empty()) {
                std::vector<EtcdEvent> events;
                events.reserve(evs.size());
                for (const json& e : evs) {
                    EtcdEvent ev;
                    ev.type = get_str(e, "type") == "DELETE" ? EtcdEvent::Type::del : EtcdEvent::Type::put;
                    ev.kv = parse_kv(get_obj(e, "kv"));
                    events.push_back(std::move(ev));
                }
                const int64_t last = events.back().kv.mod_revision;
                if (last > self.revision_.load(std::memory_order_relaxed))
                    self.revision_.store(last, std::memory_order_release);
                if (cb.events) {
                    try {
                        cb.events(std::move(events), header_rev);
                    } catch (...) {
                        // Not delivered: the stream starts again from these events.
                        st.error = "the events callback threw";
                        return false;
                    }
                }
                if (last >= next_rev) next_rev = last + 1;
            } else if (!get_bool(r, "created") && st.created && header_rev >= next_rev) {
                // A progress notification: every event up to header_rev has been sent.
                next_rev = header_rev + 1;
                self.revision_.store(header_rev, std::memory_order_release);
            }
            return true;
        } catch (const std::exception& e) {
            st.error = std::string("bad watch message: ") + e.what();
            return false;
        }
    }

    CURL* handle(std::size_t i)
    {
        if (handles[i]) return handles[i];
        CURL* h = curl_easy_init();
        if (!h) return nullptr;
        setup_handle(h, opts, headers, errbuf);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, this);
        handles[i] = h;
        return h;
    }

    // One stream on endpoint `ep`, until it breaks, is stopped or restarted, or reports a compaction.
    // Returns the error when it broke.
    std::string run_stream(std::size_t ep)
    {
        st.ep = ep;
        st.splitter.reset();
        st.created = false;
        st.compact_revision = 0;
        st.error.clear();
        CURL* h = handle(ep);
        if (!h || !multi) return "cannot make a curl handle";
        const json req = {{"create_request",
                           {{"key", b64_encode(prefix.empty() ? std::string(1, '\0') : prefix)},
                            {"range_end", b64_encode(prefix_end)},
                            {"start_revision", std::to_string(next_rev)},
                            {"progress_notify", true}}}};
        const std::string body = req.dump();
        const std::string url = base_url(opts, opts.endpoints[ep]) + "/v3/watch";
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        errbuf[0] = '\0';
        curl_multi_add_handle(multi, h);
        CURLcode result = CURLE_OK;
        bool done = false;
        // A member that takes the connection and says nothing (cut off, stuck) must not hold the watch:
        // the stream has to be created within a request timeout.
        const auto began = std::chrono::steady_clock::now();
        const auto create_by = began + std::chrono::milliseconds(std::max(1u, opts.request_timeout_ms));
        while (!done && !interrupted()) {
            if (!st.created && std::chrono::steady_clock::now() >= create_by) {
                st.error = "no watch created within " + std::to_string(opts.request_timeout_ms) + " ms";
                done = true;
                break;
            }
            int running = 0;
            if (curl_multi_perform(multi, &running) != CURLM_OK) {
                result = CURLE_FAILED_INIT;
                done = true;
                break;
            }
            int left = 0;
            while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
                if (m->msg == CURLMSG_DONE) {
                    result = m->data.result;
                    done = true;
                }
            }
            if (done || running == 0) {
                done = true;
                break;
            }
            curl_multi_poll(multi, nullptr, 0, st.created ? 1000 : 50, nullptr);
        }
        curl_multi_remove_handle(multi, h);
        if (!done) return {}; // stopped or restarted
        if (st.compact_revision != 0) return {};
        if (!st.error.empty()) return st.error;
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (result != CURLE_OK) return curl_error(result, errbuf);
        if (status != 200) return "HTTP " + std::to_string(status);
        return "the watch stream ended";
    }

    // Waits up to `ms` (less when stopped or restarted).
    void pause(unsigned ms)
    {
        std::unique_lock lk(mu);
        cv.wait_for(lk, std::chrono::milliseconds(ms), [this] { return interrupted(); });
    }

    void run()
    {
        const std::size_t n = opts.endpoints.size();
        std::size_t ep = 0;
        std::size_t failed_in_row = 0;
        while (!stop.load(std::memory_order_acquire)) {
            {
                std::unique_lock lk(mu);
                if (restart_pending.load(std::memory_order_acquire)) {
                    next_rev = restart_rev;
                    restart_pending.store(false, std::memory_order_release);
                    waiting = false;
                }
                if (waiting) {
                    cv.wait(lk, [this] { return interrupted(); });
                    continue;
                }
            }
            if (n == 0) {
                state(false, "", "no endpoints configured");
                std::unique_lock lk(mu);
                cv.wait(lk, [this] { return stop.load(std::memory_order_acquire); });
                break;
            }
            const auto began = std::chrono::steady_clock::now();
            std::string error;
            try {
                error = run_stream(ep);
            } catch (const std::exception& e) {
                error = std::string("the watch: ") + e.what();
            }
            const bool was_created = st.created;
            if (stop.load(std::memory_order_acquire)) break;
            if (st.compact_revision != 0) {
                state(false, opts.endpoints[ep], "the revision asked for has been compacted");
                {
                    std::lock_guard lk(mu);
                    waiting = true;
                }
                if (cb.compacted) {
                    try {
                        cb.compacted(st.compact_revision);
                    } catch (...) {
                    }
                }
                continue;
            }
            if (restart_pending.load(std::memory_order_acquire) && error.empty()) continue;
            state(false, opts.endpoints[ep], error);
            ep = (ep + 1) % n;
            failed_in_row = was_created ? 0 : failed_in_row + 1;
            // Not too fast a loop: a short pause after a stream that did not last, a longer one after a
            // round of endpoints that all failed.
            const auto lasted = std::chrono::steady_clock::now() - began;
            if (failed_in_row >= n) {
                pause(std::max(100u, opts.connect_timeout_ms));
                failed_in_row = 0;
            } else if (lasted < std::chrono::seconds(1)) {
                pause(50);
            }
        }
        self.connected_.store(false, std::memory_order_release);
    }
};

EtcdWatch::EtcdWatch(EtcdOptions opts, std::string prefix, int64_t start_revision, Callbacks cb)
    : impl_(std::make_unique<Impl>(*this, std::move(opts), std::move(prefix), start_revision, std::move(cb)))
{
    impl_->thread = std::thread([this] { impl_->run(); });
}

EtcdWatch::~EtcdWatch()
{
    {
        std::lock_guard lk(impl_->mu);
        impl_->stop.store(true, std::memory_order_release);
    }
    impl_->wake();
    if (impl_->thread.joinable()) impl_->thread.join();
}

void EtcdWatch::restart(int64_t start_revision)
{
    {
        std::lock_guard lk(impl_->mu);
        impl_->restart_rev = start_revision;
        impl_->restart_pending.store(true, std::memory_order_release);
    }
    impl_->wake();
}

} // namespace nemo::control
