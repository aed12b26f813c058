#include "state_etcd.hpp"

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "cluster_record.hpp"
#include "log.hpp"

namespace nemo::control {

namespace {
uint64_t steady_ms()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}
constexpr std::size_t kMaxDamageReported = 8;
constexpr int kCasRounds = 4; // a chunk whose compares failed is sent again without the losers
constexpr uint64_t kInstanceFreshMs = 3000; // a member record rewritten this recently: its instance runs
constexpr std::size_t kMinSplit = 128;      // a commit of fewer bindings is one transaction
} // namespace

EtcdOptions etcd_options(const EtcdStateConfig& cfg)
{
    EtcdOptions o;
    o.endpoints = cfg.endpoints;
    o.tls.ca_file = cfg.ca_file;
    o.tls.cert_file = cfg.cert_file;
    o.tls.key_file = cfg.key_file;
    o.request_timeout_ms = cfg.timeout_ms;
    o.connect_timeout_ms = cfg.timeout_ms < 500 ? cfg.timeout_ms : 500;
    return o;
}

std::unique_ptr<StateBackend> open_etcd_state(const StateConfig& cfg, StateImage* image, std::string* error)
{
    const uint64_t t0 = steady_ms();
    const std::string prefix = cluster_prefix(cfg.etcd.cluster);
    EtcdClient c(etcd_options(cfg.etcd));
    auto r = c.range(prefix, etcd_prefix_end(prefix));
    if (auto* e = std::get_if<EtcdError>(&r)) {
        *error = "state: cannot read the cluster's state from etcd (" + e->message + ")";
        return nullptr;
    }
    auto& rg = std::get<EtcdRange>(r);
    auto damaged = [&](const std::string& key, const std::string& why) {
        ++image->damaged;
        if (image->damage.size() < kMaxDamageReported) image->damage.push_back(key + ": " + why);
    };
    for (const EtcdKv& kv : rg.kvs) {
        const ParsedClusterKey k = parse_cluster_key(prefix, kv.key);
        if (k.kind == ClusterKey::member && k.name == cfg.etcd.instance) {
            // Two instances of one name would take each other's changes for their own: refused while
            // the other one's record is fresh (rewritten every second while it runs).
            auto j = nlohmann::json::parse(kv.value, nullptr, false);
            const uint64_t now = wall_ms();
            if (j.is_object() && j.contains("updated_ms") && j["updated_ms"].is_number_unsigned()) {
                const uint64_t at = j["updated_ms"].get<uint64_t>();
                if (at + kInstanceFreshMs > now && at <= now + kInstanceFreshMs) {
                    *error = "state.instance " + cfg.etcd.instance + ": another instance of that name is alive in cluster " +
                             cfg.etcd.cluster + " (its record was rewritten " + std::to_string(now > at ? now - at : 0) +
                             " ms ago); give each instance a name of its own";
                    return nullptr;
                }
            }
            continue;
        }
        if (k.kind != ClusterKey::binding && k.kind != ClusterKey::mr) continue;
        std::string why;
        auto env = decode_cluster_value(kv.value, &why);
        if (!env) {
            damaged(kv.key, why);
            continue;
        }
        if (k.kind == ClusterKey::binding) {
            auto b = decode_binding(env->record, &why);
            if (!b || b->binding.hoa != k.hoa) {
                damaged(kv.key, b ? "names another home address" : why);
                continue;
            }
            image->bindings.push_back(*b);
            image->binding_revisions.push_back(kv.mod_revision);
            image->binding_origins.push_back(env->origin);
        } else {
            auto m = decode_mr_change(env->record, &why);
            if (!m) {
                damaged(kv.key, why);
                continue;
            }
            image->mrs.push_back(*m);
        }
    }
    image->load_ms = steady_ms() - t0;
    return std::make_unique<EtcdBackend>(cfg, rg.revision);
}

EtcdBackend::EtcdBackend(const StateConfig& cfg, int64_t read_revision)
    : cfg_(cfg.etcd), prefix_(cluster_prefix(cfg.etcd.cluster)), client_(etcd_options(cfg.etcd)), second_(etcd_options(cfg.etcd))
{
    path_ = "etcd ";
    for (std::size_t i = 0; i < cfg_.endpoints.size(); ++i) path_ += (i ? "," : "") + cfg_.endpoints[i];
    path_ += " " + prefix_;
    cluster_ = std::make_unique<EtcdCluster>(cfg_, etcd_options(cfg_), read_revision + 1);
}

bool EtcdBackend::available(std::string* why) const
{
    if (cluster_->healthy()) return true;
    if (why) *why = "etcd: no member answers with a leader (quorum lost, or every member unreachable)";
    return false;
}

uint64_t EtcdBackend::size_bytes() const
{
    uint64_t n = 0;
    for (const auto& s : cluster_->view().endpoints) n = s.db_size > n ? s.db_size : n;
    return n;
}

std::optional<StateBackend::CommitError> EtcdBackend::commit(const StateBatch& b)
{
    StateBatch copy = b;
    return commit_cas(copy, nullptr);
}

std::optional<StateBackend::CommitError> EtcdBackend::lease_for(uint64_t expires_wall, int64_t* lease)
{
    const uint64_t now = wall_seconds();
    // Leases of seconds gone by are etcd's to drop; ours to forget.
    while (!leases_.empty() && leases_.begin()->first < now) leases_.erase(leases_.begin());
    if (auto it = leases_.find(expires_wall); it != leases_.end()) {
        *lease = it->second;
        return std::nullopt;
    }
    auto g = client_.lease_grant(binding_lease_ttl(expires_wall, now));
    if (auto* e = std::get_if<EtcdError>(&g)) return CommitError{"etcd: lease: " + e->message, false};
    *lease = leases_[expires_wall] = std::get<int64_t>(g);
    return std::nullopt;
}

EtcdTxn EtcdBackend::txn_of(const std::vector<Item>& items, std::vector<std::size_t>* compared)
{
    EtcdTxn t;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const Item& it = items[i];
        if (it.base.kind == CasBase::Kind::absent) t.compare.push_back({it.key, EtcdCompare::Target::version, 0});
        else if (it.base.kind == CasBase::Kind::revision) t.compare.push_back({it.key, EtcdCompare::Target::mod_revision, it.base.revision});
        if (compared && (it.base.kind == CasBase::Kind::absent || it.base.kind == CasBase::Kind::revision)) compared->push_back(i);
        if (it.record) t.success.push_back({EtcdOp::Kind::put, it.key, it.value, {}, it.lease});
        else t.success.push_back({EtcdOp::Kind::del, it.key, {}, {}, 0});
    }
    return t;
}

std::optional<StateBackend::CommitError> EtcdBackend::commit_chunk(std::vector<Item>& items, StateBatch& b, CasSettled* settled,
                                                                   std::optional<TxnAnswer> first)
{
    auto settle_written = [&](const Item& it, CasBase now) {
        if (settled) settled->written.emplace_back(it.hoa, now);
        last_written_[it.hoa] = now;
        lost_.erase(it.hoa);
        b.bindings.erase(it.hoa);
        b.binding_base.erase(it.hoa);
    };
    for (int round = 0; round < kCasRounds && !items.empty(); ++round) {
        std::vector<std::size_t> compared; // items with a compare, in the order of the compares
        TxnAnswer r = EtcdError{};
        if (round == 0 && first) {
            for (std::size_t i = 0; i < items.size(); ++i)
                if (items[i].base.kind == CasBase::Kind::absent || items[i].base.kind == CasBase::Kind::revision) compared.push_back(i);
            r = std::move(*first);
        } else {
            r = client_.txn(txn_of(items, &compared));
        }
        if (auto* e = std::get_if<EtcdError>(&r)) {
            leases_.clear(); // one may be gone (etcd restored from a snapshot): granted again on the retry
            return CommitError{"etcd: " + e->message, false};
        }
        const auto& res = std::get<EtcdTxnResult>(r);
        if (res.succeeded) {
            for (const Item& it : items) settle_written(it, it.record ? CasBase::at(res.revision) : CasBase{CasBase::Kind::absent, res.revision});
            items.clear();
            return std::nullopt;
        }
        // Some compare failed (rare: two instances changed one binding at once). The compared keys are
        // read in a second request, rather than by a failure branch every transaction would carry.
        EtcdTxn read;
        for (std::size_t i : compared) read.success.push_back({EtcdOp::Kind::range, items[i].key, {}, {}, 0});
        auto rr = client_.txn(read);
        if (auto* e = std::get_if<EtcdError>(&rr)) return CommitError{"etcd: " + e->message, false};
        const auto& now = std::get<EtcdTxnResult>(rr);
        // Find which compares failed, settle those, send the rest again.
        std::vector<bool> gone(items.size(), false);
        for (std::size_t j = 0; j < compared.size() && j < now.ranges.size(); ++j) {
            Item& it = items[compared[j]];
            const EtcdKv* cur = now.ranges[j].empty() ? nullptr : &now.ranges[j].front();
            const bool held = it.base.kind == CasBase::Kind::absent ? cur == nullptr
                                                                    : cur != nullptr && cur->mod_revision == it.base.revision;
            if (held) continue;
            gone[compared[j]] = true;
            std::optional<ClusterEnvelope> env;
            if (cur) env = decode_cluster_value(cur->value, nullptr);
            // Ours already: an earlier attempt went through though its answer was lost (a timeout).
            if (it.record && env && env->origin == cfg_.instance && env->record == *it.record) {
                settle_written(it, CasBase::at(cur->mod_revision));
                continue;
            }
            if (!it.record && !cur) {
                settle_written(it, CasBase{CasBase::Kind::absent, now.revision});
                continue;
            }
            CasConflict c;
            c.hoa = it.hoa;
            c.exists = cur != nullptr;
            c.mod_revision = now.revision; // absent: the revision it was absent at
            if (cur) {
                c.mod_revision = cur->mod_revision;
                if (env) {
                    c.current = std::move(env->record);
                    c.origin = std::move(env->origin);
                }
            }
            if (settled) settled->conflicts.push_back(std::move(c));
            last_written_.erase(it.hoa);
            lost_.insert(it.hoa);
            b.bindings.erase(it.hoa);
            b.binding_base.erase(it.hoa);
        }
        std::vector<Item> rest;
        for (std::size_t i = 0; i < items.size(); ++i)
            if (!gone[i]) rest.push_back(std::move(items[i]));
        if (rest.size() == items.size()) return CommitError{"etcd: a transaction's compare failed on no key it names", false};
        items = std::move(rest);
    }
    return items.empty() ? std::nullopt : std::optional<CommitError>(CommitError{"etcd: compare-and-swap did not settle", false});
}

std::optional<StateBackend::CommitError> EtcdBackend::commit_cas(StateBatch& b, CasSettled* settled)
{
    // Refused before they get here (config, reload, `add sa`); never written to etcd, and never called
    // durable: an SA whose sequence numbers were not reserved must not send.
    if (!b.sas.empty() || !b.seqs.empty()) return CommitError{"state: ESP SAs are not kept in a cluster (state.backend = etcd)", false};
    const uint64_t now_ms = wall_ms();
    const std::size_t chunk = cfg_.max_txn_ops == 0 ? 128 : cfg_.max_txn_ops;
    while (!b.mrs.empty()) {
        EtcdTxn t;
        std::vector<Ipv6Addr> sent;
        for (const auto& [hoa, rec] : b.mrs) {
            if (sent.size() == chunk) break;
            t.success.push_back({EtcdOp::Kind::put, cluster_mr_key(prefix_, hoa), encode_cluster_value(now_ms, cfg_.instance, rec), {}, 0});
            sent.push_back(hoa);
        }
        auto r = client_.txn(t);
        if (auto* e = std::get_if<EtcdError>(&r)) return CommitError{"etcd: " + e->message, false};
        for (const Ipv6Addr& hoa : sent) b.mrs.erase(hoa);
    }
    // Two transactions in flight at once (each on its connection): etcd parses one while it applies the
    // other, and batches both into one raft fsync. A commit big enough is split in two for that.
    const std::size_t n = b.bindings.size();
    const std::size_t per_txn = cfg_.two_in_flight && n >= 2 * kMinSplit && n <= 2 * chunk ? (n + 1) / 2 : chunk;
    std::vector<std::vector<Item>> chunks(1);
    chunks.back().reserve(std::min(per_txn, n));
    std::vector<Ipv6Addr> keys;
    keys.reserve(n);
    for (const auto& kv : b.bindings) keys.push_back(kv.first);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const Ipv6Addr& hoa = keys[i];
        Item it;
        it.hoa = hoa;
        it.record = b.bindings[hoa];
        auto bb = b.binding_base.find(hoa);
        it.base = bb == b.binding_base.end() ? CasBase{} : bb->second;
        if (it.base.kind == CasBase::Kind::own) {
            auto lw = last_written_.find(hoa);
            if (lost_.count(hoa)) it.base = CasBase::at(-1); // decided on a change that lost: loses too
            else it.base = lw == last_written_.end() ? CasBase::at(-1) : lw->second; // none: never written unconditionally
        }
        it.key = cluster_binding_key(prefix_, hoa);
        if (it.record) {
            std::string why;
            auto sb = decode_binding(*it.record, &why);
            if (!sb) return CommitError{"state: a staged binding does not decode: " + why, false};
            if (auto e = lease_for(sb->binding.expires, &it.lease)) return e;
            it.value = encode_cluster_value(now_ms, cfg_.instance, *it.record);
        }
        if (chunks.back().size() == per_txn) chunks.emplace_back();
        chunks.back().push_back(std::move(it));
    }
    for (std::size_t c = 0; c < chunks.size(); c += 2) {
        if (chunks[c].empty()) continue;
        if (c + 1 == chunks.size() || chunks[c + 1].empty() || !cfg_.two_in_flight) {
            if (auto e = commit_chunk(chunks[c], b, settled)) return e;
            if (c + 1 < chunks.size() && !chunks[c + 1].empty())
                if (auto e = commit_chunk(chunks[c + 1], b, settled)) return e;
            continue;
        }
        // Both answers are settled, whichever failed: what one of them wrote must be reported.
        TxnAnswer other = EtcdError{};
        std::thread beside([&] { other = second_.txn(txn_of(chunks[c + 1], nullptr)); });
        TxnAnswer mine = client_.txn(txn_of(chunks[c], nullptr));
        beside.join();
        auto e1 = commit_chunk(chunks[c], b, settled, std::move(mine));
        auto e2 = commit_chunk(chunks[c + 1], b, settled, std::move(other));
        if (e1) return e1;
        if (e2) return e2;
    }
    return std::nullopt;
}

} // namespace nemo::control
