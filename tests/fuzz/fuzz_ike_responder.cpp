// libFuzzer target: the IKEv2 responder (control/ike/ike_responder) with a fake host. The input is a
// script of steps; a step is a raw datagram from the fuzzer's bytes, or a valid message of the built-in
// initiator (tests/unit/ike_initiator.hpp: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA rekeys, INFORMATIONAL)
// that the fuzzer's bytes may then damage (bit flips at chosen offsets, truncation), or time passing. The
// responder's answers go back to the initiator, so that later steps reach the states behind
// authentication. Nothing may crash, leak or trip the sanitizers; the fake host checks that the SA table
// it keeps stays consistent (one outbound SA per home address, SPIs unique).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ike_fake_host.hpp"
#include "ike_initiator.hpp"
#include "ike_responder.hpp"
#include "log.hpp"

namespace {

using namespace nemo;
using namespace nemo::ike;

// What the responder installs must be a usable SA.
void check_usable(const SaConfig& a)
{
    if (a.enc_key.size() != esp_enc_key_len(a.algorithm) || a.auth_key.size() != esp_auth_key_len(a.algorithm) || !a.negotiated ||
        a.spi < 256)
        std::abort();
}

class Script {
public:
    explicit Script(std::span<const uint8_t> in) : in_(in) {}
    bool done() const { return at_ >= in_.size(); }
    uint8_t u8() { return done() ? 0 : in_[at_++]; }
    uint16_t u16() { return static_cast<uint16_t>((u8() << 8) | u8()); }
    std::vector<uint8_t> bytes(std::size_t n)
    {
        n = std::min(n, in_.size() - std::min(at_, in_.size()));
        std::vector<uint8_t> b(in_.begin() + static_cast<std::ptrdiff_t>(at_), in_.begin() + static_cast<std::ptrdiff_t>(at_ + n));
        at_ += n;
        return b;
    }

private:
    std::span<const uint8_t> in_;
    std::size_t at_ = 0;
};

// The fuzzer's damage to a valid message: a count, then (offset, xor) pairs, then maybe a truncation.
void damage(Script& s, std::vector<uint8_t>& b)
{
    const uint8_t m = s.u8();
    const unsigned flips = m & 3;
    for (unsigned i = 0; i < flips && !b.empty(); ++i) {
        const uint16_t off = s.u16();
        b[off % b.size()] ^= static_cast<uint8_t>(s.u8() | 1);
    }
    if ((m & 4) && !b.empty()) b.resize(s.u16() % b.size());
}

const std::vector<TrafficSelector> kAny{test::ts_any6()};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const bool quiet = [] {
        log::configure(log::Target::stderr_plain, log::Level::err);
        return true;
    }();
    (void)quiet;
    Script s({data, size});
    const uint8_t flags = s.u8();
    test::FakeHost host;
    host.check = check_usable;
    test::Initiator mr;
    mr.cipher = (flags & 1) ? IkeCipher::aes_cbc_128_hmac_sha256 : IkeCipher::aes_gcm16_128;
    if (flags & 2) mr.ke_group = mr.offer_groups[0] = dh::curve25519;
    host.peers[mr.id] = IkePeer{mr.id, *Ipv6Addr::parse("2001:db8:1::100"), {*Prefix6::parse("2001:db8:100::/48")}, mr.psk};
    IkeConfig cfg;
    cfg.id = "fqdn:ha.example.net";
    cfg.local = *Ipv4Addr::parse("192.0.2.1");
    cfg.cookie_threshold = (flags & 4) ? 0 : 16;
    cfg.half_open_max = 8;
    cfg.init_queue_max = 8;
    cfg.inits_per_turn = 2;
    cfg.dpd_s = 3;
    cfg.retransmits = 2;
    cfg.child_lifetime_s = (flags & 8) ? 5 : 0;
    IkeResponder r(cfg, host);
    uint64_t now = 1'000'000;
    std::vector<Datagram> out;

    // Runs the step's datagram through the responder and hands the answers to the initiator's `take`.
    auto run = [&](Datagram d, auto take) {
        out.clear();
        r.handle(std::move(d), now, out);
        r.poll(now, out);
        for (const Datagram& a : out) take(a);
    };
    auto none = [](const Datagram&) {};
    for (int steps = 0; steps < 24 && !s.done(); ++steps) {
        const uint8_t op = s.u8();
        const bool mutate = (op & 0x80) != 0;
        Datagram d;
        switch (op & 0x0F) {
        case 0: { // a raw datagram
            d = mr.dgram(s.bytes(s.u16() % 1500));
            run(std::move(d), none);
            continue;
        }
        case 1: d = mr.init(); break;
        case 2:
            if (mr.spi_r == 0) continue;
            d = mr.auth(kAny, kAny);
            break;
        case 3:
            if (mr.children.empty()) continue;
            d = mr.rekey_child(mr.children[s.u8() % mr.children.size()].spi_i, kAny, kAny);
            break;
        case 4:
            if (mr.spi_r == 0) continue;
            d = mr.rekey_ike();
            break;
        case 5:
            if (mr.children.empty()) continue;
            d = mr.request(Exchange::informational, {test::Initiator::delete_esp(mr.children[s.u8() % mr.children.size()].spi_i)});
            break;
        case 6:
            if (mr.spi_r == 0) continue;
            d = mr.request(Exchange::informational, {test::Initiator::delete_ike()});
            break;
        case 7:
            if (mr.spi_r == 0) continue;
            d = mr.request(Exchange::informational, {});
            break;
        case 8: { // time passes; ESP heard on the children (or not)
            now += uint64_t{s.u8()} * 100;
            for (const auto& c : mr.children)
                if (op & 0x10) ++host.packets[c.spi_r];
            out.clear();
            r.poll(now, out);
            // Answer the responder's requests (liveness, deletes) when told to.
            if (op & 0x20)
                for (const Datagram& a : out)
                    if (mr.open(a)) {
                        std::vector<Datagram> ignored;
                        r.handle(mr.answer(a, {}), now, ignored);
                    }
            continue;
        }
        case 9: { // an IKE_SA_INIT with a cookie the responder gave
            if (mr.last_notify != notify::cookie) continue;
            mr.use_cookie(mr.last_notify_data);
            d = mr.init();
            break;
        }
        case 10: // the operator's commands
            out.clear();
            (void)r.show("", (op & 0x10) != 0, now);
            if (op & 0x20) (void)r.clear("all", now, out);
            (void)r.stats();
            continue;
        case 11: { // MOBIKE from elsewhere
            if (mr.spi_r == 0) continue;
            NotifyPayload n;
            n.type = notify::update_sa_addresses;
            mr.addr = Ipv4Addr{mr.addr.value + 1};
            d = mr.request(Exchange::informational, {n});
            break;
        }
        default: continue;
        }
        if (mutate) damage(s, d.bytes);
        const uint8_t kind = op & 0x0F;
        run(std::move(d), [&](const Datagram& a) {
            switch (kind) {
            case 1:
            case 9: (void)mr.on_init(a); break;
            case 2: (void)mr.on_auth(a); break;
            case 3: (void)mr.on_rekey_child(a); break;
            case 4: (void)mr.on_rekey_ike(a); break;
            default: (void)mr.open(a); break;
            }
        });
        if (r.half_open() > r.ike_sas()) std::abort();
    }
    // Everything removed with the IKE SAs.
    const std::string before = r.show("", false, now);
    out.clear();
    (void)r.clear("all", now, out);
    if (r.ike_sas() != 0 || r.half_open() != 0) std::abort();
    if (!host.sas.empty()) { // an SA left in the table without its IKE SA: say which (SPIs only, no keys)
        std::fprintf(stderr, "SAs left after clear all:");
        for (const SaConfig& sa : host.sas) std::fprintf(stderr, " %s 0x%08x", sa.inbound ? "in" : "out", sa.spi);
        std::fprintf(stderr, "\nbefore the clear:\n%s", before.c_str());
        std::abort();
    }
    return 0;
}
