// The cluster backend of the durable state (state.backend = etcd): bindings and the operator's changes
// to the mobile routers kept in etcd under /nemo-ha/<cluster>/ (lib/cluster_record.hpp), shared by every
// nemo-ha instance of the cluster.
//
// A commit is one etcd transaction per state.etcd_max_txn_ops bindings. Each binding is written only if
// the stored one is still the one its BU was decided against (compare on the key's mod_revision, or on
// its absence): RFC 6275's sequence-number rule holds across instances, and a BU that lost answers as
// if the other had come first (cluster_sync.cpp). The binding's lifetime is an etcd lease: one per
// expiry second, granted by whichever instance writes first and kept alive by none, so a binding
// outlives the instance that accepted it and leaves etcd about a second after its lifetime ends.
// ESP SAs are not kept in a cluster (config refuses them: README, "A cluster on etcd").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "etcd_client.hpp"
#include "etcd_cluster.hpp"
#include "state_store.hpp"

namespace nemo::control {

EtcdOptions etcd_options(const EtcdStateConfig& cfg);

// Reads the cluster's state into *image (each binding with its revision and writer) and returns the
// backend, with its cluster (not yet started: ControlPlane starts it). Null with *error when etcd cannot
// be read (no endpoint answers, TLS refused).
std::unique_ptr<StateBackend> open_etcd_state(const StateConfig& cfg, StateImage* image, std::string* error);

class EtcdBackend : public StateBackend {
public:
    EtcdBackend(const StateConfig& cfg, int64_t read_revision);
    std::optional<CommitError> commit(const StateBatch& b) override;
    std::optional<CommitError> commit_cas(StateBatch& b, CasSettled* settled) override;
    uint64_t size_bytes() const override;
    const std::string& path() const override { return path_; }
    const char* name() const override { return "etcd"; }
    EtcdCluster* cluster() override { return cluster_.get(); }
    bool available(std::string* why) const override;

private:
    struct Item {
        Ipv6Addr hoa;
        std::optional<std::vector<uint8_t>> record;
        CasBase base;
        std::string key, value;
        int64_t lease = 0;
    };
    using TxnAnswer = std::variant<EtcdTxnResult, EtcdError>;
    static EtcdTxn txn_of(const std::vector<Item>& items, std::vector<std::size_t>* compared);
    // `first`: the first round's answer when the chunk was already sent (two chunks at once).
    std::optional<CommitError> commit_chunk(std::vector<Item>& items, StateBatch& b, CasSettled* settled,
                                            std::optional<TxnAnswer> first = std::nullopt);
    std::optional<CommitError> lease_for(uint64_t expires_wall, int64_t* lease);

    EtcdStateConfig cfg_;
    std::string prefix_, path_;
    EtcdClient client_; // the writer thread's
    EtcdClient second_; // a second transaction in flight beside client_'s (its own connection)
    std::unique_ptr<EtcdCluster> cluster_;
    std::map<uint64_t, int64_t> leases_; // expiry second -> lease
    // What this instance last wrote of each binding (its revision, or absent), for changes decided on
    // one of its own not yet committed (CasBase::own); lost_: ones another instance's change beat.
    std::unordered_map<Ipv6Addr, CasBase, Ipv6Hash> last_written_;
    std::unordered_set<Ipv6Addr, Ipv6Hash> lost_;
};

} // namespace nemo::control
