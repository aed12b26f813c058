// nemo-ha's IKEv2 (RFC 7296) in the control thread: the responder to mobile routers' IKE_SA_INIT,
// IKE_AUTH (PSK), CREATE_CHILD_SA (a new CHILD_SA, a CHILD_SA rekey, an IKE SA rekey) and INFORMATIONAL
// (delete, liveness, MOBIKE address updates), and the initiator of the exchanges the home agent must start
// (liveness checks, deletes). Negotiated CHILD_SAs go into the SA table the workers read (IkeSaSink); a
// router gets SAs only for the home address its identity is provisioned with (RFC 4877 4.4: a BU is then
// accepted only through an SA of that identity, because the SA carries that home address).
//
// No DPDK here: datagrams in, datagrams out (the control thread frames them). Public-key work (a DH per
// IKE_SA_INIT) is queued and done at most `inits_per_turn` a turn, so that a flood of IKE_SA_INIT cannot
// hold the control loop away from BU/BA handling; beyond the queue, and beyond `half_open_max` half-open
// SAs, requests are dropped and counted; past `cookie_threshold` half-open SAs every IKE_SA_INIT must
// carry a cookie (RFC 7296 2.6). Keys never leave this module in any message or log.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "addr.hpp"
#include "ike_crypto.hpp"
#include "ike_message.hpp"
#include "ike_policy.hpp"
#include "key_material.hpp"
#include "sa_text.hpp"

namespace nemo::control {
class Json;
}

namespace nemo::ike {

// One UDP datagram of IKE: on port 500, or on 4500 without the non-ESP marker (the framing adds and
// removes it).
struct Datagram {
    Ipv4Addr peer;
    uint16_t peer_port = kIkePort;
    uint16_t local_port = kIkePort;
    std::vector<uint8_t> bytes;
    // The source of the frame it came in (the framing's business: where answers go), kept per IKE SA.
    MacAddr link_mac;
};

// A router's IKE identity as provisioned: its home address, prefixes and pre-shared key.
struct IkePeer {
    std::string id; // canonical (canonical_id)
    Ipv6Addr hoa;
    std::vector<Prefix6> prefixes;
    KeyBytes psk;
};

// What the responder needs of the rest of the home agent.
class IkeHost {
public:
    virtual ~IkeHost() = default;
    // Removes the SAs `gone` and adds `add` in one step (SaTable::change); the message when refused.
    virtual std::optional<std::string> change_sas(std::span<const uint32_t> gone, std::span<const SaConfig> add) = 0;
    virtual bool spi_taken(uint32_t spi) const = 0;
    // The outbound SA of a home address, if any, and whether it was negotiated (not typed).
    virtual std::optional<uint32_t> outbound_spi(const Ipv6Addr& hoa, bool* negotiated) const = 0;
    // Packets verified by an inbound SA so far (ESP heard from the peer counts as liveness).
    virtual uint64_t inbound_packets(uint32_t spi) const = 0;
    // The peer provisioned with this identity (canonical), if any.
    virtual std::optional<IkePeer> peer(const std::string& id) const = 0;
    // Sequence numbers an outbound SA has handed out (an SA near its end is rekeyed by the home agent).
    virtual uint64_t outbound_seq_used(uint32_t /*spi*/) const { return 0; }
};

class CertStore;

struct IkeConfig {
    std::string id;      // our identity (canonical); IDr
    // The operator's CA, our certificate and key (ike.ca_file, cert_file, key_file): routers may then
    // authenticate with certificates, and are answered with ours. Null: PSK only.
    std::shared_ptr<const CertStore> certs;
    Ipv4Addr local;      // our IPv4 address, for NAT detection
    IkeAlgorithms algorithms;
    uint32_t half_open_max = 4096;
    uint32_t cookie_threshold = 256;  // half-open IKE SAs beyond which IKE_SA_INIT needs a cookie
    uint32_t inits_per_turn = 32;     // IKE_SA_INIT (a DH each) handled per control loop turn at most
    uint32_t init_queue_max = 1024;   // waiting beyond those; more are dropped
    uint32_t init_budget_us = 1000;   // and no more than this long of them a turn (0: the count alone)
    uint32_t half_open_timeout_s = 30;
    uint32_t dpd_s = 30;              // a liveness check after this long without hearing from the peer
    uint32_t retransmits = 5;         // our requests are sent again this many times (1, 2, 4, 8, 16 s)
    uint32_t child_lifetime_s = 0;    // a CHILD_SA not rekeyed by the router in this long is deleted; 0: no limit
                                      // (the home agent rekeys it itself at 90 % of it)
    uint32_t replay_window = 1024;    // of the inbound SAs installed
    uint32_t max_ike_sas = 100000;
};

#define NEMO_IKE_COUNTERS(X)                                                                     \
    X(rx, "IKE messages received")                                                              \
    X(tx, "IKE messages sent")                                                                  \
    X(invalid_syntax, "dropped or refused: does not parse (INVALID_SYNTAX when authenticated)") \
    X(unsupported_critical, "refused: an unknown critical payload")                             \
    X(unknown_spi, "dropped: no IKE SA with these SPIs")                                        \
    X(icv_failed, "dropped: the Encrypted payload does not verify")                             \
    X(bad_message_id, "dropped: a message ID outside the window")                               \
    X(retransmit_answered, "requests seen again, answered with the cached response")            \
    X(no_proposal_chosen, "refused: NO_PROPOSAL_CHOSEN")                                        \
    X(invalid_ke, "answered INVALID_KE_PAYLOAD (the group we prefer)")                           \
    X(bad_ke, "refused: a KE value that is not a valid public value")                           \
    X(cookies_sent, "IKE_SA_INIT answered with a COOKIE (RFC 7296 2.6)")                         \
    X(cookie_bad, "dropped: IKE_SA_INIT with a cookie we did not give")                          \
    X(half_open_full, "dropped: half-open IKE SAs at ike.half_open_max")                         \
    X(init_queue_full, "dropped: IKE_SA_INIT waiting at ike.init_queue_max")                     \
    X(half_open_expired, "half-open IKE SAs that never authenticated, removed")                 \
    X(unknown_identity, "refused: an identity no router is provisioned with")                   \
    X(auth_failed, "refused: AUTHENTICATION_FAILED (wrong PSK, signature, or identity not in the certificate)") \
    X(cert_untrusted, "refused: a certificate that does not chain to ike.ca_file (or expired)")    \
    X(auth_unsupported, "refused: an authentication method not configured")                     \
    X(ts_unacceptable, "refused: TS_UNACCEPTABLE (nothing left after narrowing)")               \
    X(child_refused, "refused: a CHILD_SA the SA table would not take")                         \
    X(established, "IKE SAs established")                                                   \
    X(child_installed, "CHILD_SAs installed (IKE_AUTH and CREATE_CHILD_SA)")                    \
    X(child_rekeyed, "CHILD_SAs rekeyed")                                                       \
    X(rekeyed, "IKE SAs rekeyed")                                                           \
    X(child_deleted, "CHILD_SAs deleted (by the peer, by us, with their IKE SA)")               \
    X(deleted, "IKE SAs deleted (by the peer, by us)")                                      \
    X(initial_contact, "INITIAL_CONTACT: the identity's older IKE SAs dropped")                 \
    X(dead_peers, "peers that stopped answering: their SAs removed")                            \
    X(liveness_sent, "liveness checks sent")                                                    \
    X(mobike_updates, "MOBIKE address updates (UPDATE_SA_ADDRESSES)")                           \
    X(nat_float, "IKE SAs moved to port 4500 (NAT traversal)")                                  \
    X(child_expired, "CHILD_SAs past ike.child_lifetime_s without a rekey, deleted")              \
    X(rekeys_started, "CHILD_SA rekeys the home agent started (lifetime or sequence numbers near their end)") \
    X(rekeys_refused, "CHILD_SA rekeys of ours the peer refused (tried again later)")

enum class IkeCounter : uint8_t {
#define NEMO_IKE_ENUM(id, help) id,
    NEMO_IKE_COUNTERS(NEMO_IKE_ENUM)
#undef NEMO_IKE_ENUM
        count_
};

// What each name of IkeResponder::stats() counts, and whether it is a gauge (metrics, `show stats`).
std::string_view ike_stat_help(std::string_view name);
bool ike_stat_is_gauge(std::string_view name);

struct ChildSa {
    uint32_t spi_in = 0;  // ours: what the peer sends with
    uint32_t spi_out = 0; // the peer's: what we send with
    EspAlgorithm algorithm = EspAlgorithm::aes_gcm_128;
    bool esn = false;
    uint16_t pfs_group = dh::none;
    bool out_installed = true; // false once a rekey replaced the outbound SA (the inbound one waits for the delete)
    // A rekey's new outbound SA, until the peer shows it has the new keys (switch_outbound), and the
    // outbound SPIs it replaces then.
    std::optional<SaConfig> out_waiting;
    std::vector<uint32_t> replaces;
    bool switch_now = false;
    bool retiring = false;       // replaced by a rekey of ours: its Delete is sent (then its inbound SA goes)
    uint64_t rekey_after_ms = 0; // a refused rekey of ours is tried again from then
    uint64_t created_ms = 0;
    std::vector<TrafficSelector> tsi, tsr;
};

struct IkeSa {
    enum class State : uint8_t { half_open, established };
    State state = State::half_open;
    uint64_t spi_i = 0, spi_r = 0;
    Ipv4Addr peer;
    uint16_t peer_port = kIkePort, local_port = kIkePort;
    MacAddr link_mac;
    bool nat_peer = false, nat_local = false; // NAT detection: behind a NAT, the peer / us
    bool mobike = false;
    bool peer_sig_hash = false; // the peer takes RFC 7427 signatures with SHA-256
    IkeChoice choice;
    IkeCipher cipher = IkeCipher::aes_gcm16_128;
    IkeKeys keys;
    KeyBytes ni, nr;
    std::vector<uint8_t> init_request, init_response; // for AUTH (freed after it)
    std::string id;                                   // the peer's (canonical), once authenticated
    Ipv6Addr hoa;
    std::vector<ChildSa> children;
    uint32_t next_in = 1;              // the next message ID expected from the peer
    uint32_t next_out = 0;             // the next of ours
    std::vector<uint8_t> last_response; // for a repeated request
    uint32_t last_response_id = 0;
    bool have_response = false;
    struct Pending {
        enum class Kind : uint8_t { liveness, delete_child, delete_ike, rekey_child } kind;
        uint32_t id;
        std::vector<uint8_t> bytes;
        uint64_t next_ms;
        uint32_t tries;
        uint32_t child_spi; // delete_child, rekey_child: our inbound SPI of the child
        // rekey_child: our new inbound SPI and our nonce
        uint32_t new_spi = 0;
        KeyBytes nonce;
    };
    std::optional<Pending> pending;
    uint64_t created_ms = 0, established_ms = 0, heard_ms = 0;
    uint64_t esp_heard = 0; // inbound packets of its children when last looked at
    uint32_t rekeys = 0;    // IKE rekeys this SA came through
};

class IkeResponder {
public:
    IkeResponder(IkeConfig cfg, IkeHost& host);
    ~IkeResponder();

    // A datagram for us; answers (if any) appended to `out`. IKE_SA_INIT requests are queued (see above).
    void handle(Datagram&& in, uint64_t now_ms, std::vector<Datagram>& out);
    // Each turn: the queued IKE_SA_INITs (a bounded number), our retransmissions, liveness, half-open
    // and lifetime expiry.
    void poll(uint64_t now_ms, std::vector<Datagram>& out);

    // Deletes IKE SAs (INFORMATIONAL with a Delete to the peer, then everything of theirs): by identity,
    // home address, our SPI (hex), or all. Returns how many.
    std::size_t clear(std::string_view which, uint64_t now_ms, std::vector<Datagram>& out);
    // `show ike [ID|HOA]`
    std::string show(std::string_view which, bool json, uint64_t now_ms) const;
    std::vector<std::pair<std::string, uint64_t>> stats() const; // "ike_<counter>", and gauges
    uint64_t get(IkeCounter c) const { return counters_[static_cast<std::size_t>(c)]; }
    std::size_t ike_sas() const { return sas_.size(); }
    std::size_t half_open() const { return half_open_; }
    const IkeConfig& config() const { return cfg_; }

private:
    using Payloads = std::vector<Payload>;
    void inc(IkeCounter c, uint64_t n = 1) { counters_[static_cast<std::size_t>(c)] += n; }
    void on_init(const Datagram& in, const Message& m, uint64_t now_ms, std::vector<Datagram>& out);
    void on_request(IkeSa& sa, const Datagram& in, const Header& h, Payloads& in_payloads, uint64_t now_ms,
                    std::vector<Datagram>& out);
    void on_response(IkeSa& sa, const Header& h, const Payloads& in_payloads, uint64_t now_ms);
    // Each returns the payloads of the answer.
    Payloads on_auth(IkeSa& sa, const Payloads& in, uint64_t now_ms, bool* drop_sa);
    Payloads on_create_child(IkeSa& sa, const Payloads& in, uint64_t now_ms);
    Payloads on_informational(IkeSa& sa, const Datagram& in, const Payloads& in_payloads, uint64_t now_ms, bool* drop_sa);
    Payloads rekey_ike(IkeSa& sa, const SaPayload& sa_payload, const Payloads& in, uint64_t now_ms);

    // The CHILD_SA's keys from KEYMAT, installed (with `gone` removed); false with the notify to send.
    bool install_child(IkeSa& sa, ChildSa& child, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                       std::span<const uint8_t> nr, std::vector<uint32_t> gone, uint16_t* notify_type);
    std::pair<SaConfig, SaConfig> child_sas(const IkeSa& sa, const ChildSa& child, std::span<const uint8_t> g_ir,
                                            std::span<const uint8_t> ni, std::span<const uint8_t> nr, bool we_initiated) const;
    void switch_outbound(IkeSa& sa, uint64_t now_ms, std::vector<uint32_t>* gone);
    void remove_children(IkeSa& sa);
    void drop_sa(uint64_t spi_r);
    uint32_t fresh_spi() const;
    uint64_t fresh_ike_spi() const;

    // An encrypted message of `sa` (our answer to `id`, or our request), ready to send.
    std::vector<uint8_t> seal(const IkeSa& sa, Exchange x, bool response, uint32_t id, const Payloads& p) const;
    Datagram to_peer(const IkeSa& sa, std::vector<uint8_t> bytes) const;
    void send_request(IkeSa& sa, IkeSa::Pending::Kind kind, const Payloads& p, uint32_t child_spi, uint64_t now_ms,
                      std::vector<Datagram>& out, Exchange x = Exchange::informational);
    // A CHILD_SA rekey of ours (RFC 7296 2.8, as the exchange's initiator), and its answer.
    bool rekey_due(const ChildSa& c, uint64_t now_ms) const;
    void start_rekey(IkeSa& sa, ChildSa& c, uint64_t now_ms, std::vector<Datagram>& out);
    void finish_rekey(IkeSa& sa, const IkeSa::Pending& p, const Payloads& answer, uint64_t now_ms);
    static Datagram plain_answer(const Datagram& in, const Header& h, const Payloads& p);

    NotifyPayload nat_notify(uint16_t type, uint64_t spi_i, uint64_t spi_r, Ipv4Addr addr, uint16_t port) const;

    IkeConfig cfg_;
    IkeHost& host_;
    std::unordered_map<uint64_t, std::unique_ptr<IkeSa>> sas_; // by our SPI
    // Half-open SAs by what identifies a repeated IKE_SA_INIT: the initiator's SPI and address.
    std::map<std::tuple<uint64_t, uint32_t, uint16_t>, uint64_t> by_init_;
    std::size_t half_open_ = 0;
    struct Queued {
        Datagram d;
        uint64_t at_ms;
    };
    std::deque<Queued> init_queue_;
    CookieSecrets cookies_;
    uint64_t scanned_ms_ = 0;
    uint64_t cookie_rotated_ms_ = 0;
    uint64_t counters_[static_cast<std::size_t>(IkeCounter::count_)] = {};
};

} // namespace nemo::ike
