// A Worker on one port, as the tests drive it: a mempool, binding tables, static next hops (one gateway
// for IPv4 and IPv6, both on the same link), a punt ring, counters. The port is the test's (ring or
// pcap); access and home are that same port. scripts/gen_golden_pcaps.py uses the same addresses.
#pragma once

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../common/addresses.hpp"
#include "binding_tables.hpp"
#include "classify.hpp"
#include "neighbors.hpp"
#include "punt.hpp"
#include "sa_table.hpp"
#include "worker.hpp"

namespace nemo::test {

// Besides the scenario's addresses (tests/common/addresses.hpp): the link's MACs and gateway, the
// router's UDP port, and a host in its prefix.
inline const MacAddr kHaMac = *MacAddr::parse("02:00:00:00:00:01");
inline const MacAddr kGwMac = *MacAddr::parse("02:00:00:00:00:fe");
inline const Ipv4Addr kGw4 = *Ipv4Addr::parse("192.0.2.254");
inline const Ipv6Addr kGw6 = *Ipv6Addr::parse("2001:db8:1::fe");
inline constexpr uint16_t kMrPort = 5555;
inline const Ipv6Addr kHost = *Ipv6Addr::parse("2001:db8:aaaa::5");

// A hand-keyed SA, as the config would give it.
inline SaConfig make_sa(bool inbound, uint32_t spi, const Ipv6Addr& hoa, EspAlgorithm alg, std::vector<uint8_t> enc,
                        std::vector<uint8_t> auth)
{
    SaConfig c;
    c.inbound = inbound;
    c.spi = spi;
    c.hoa = hoa;
    c.algorithm = alg;
    c.enc_key.assign(enc.begin(), enc.end());
    c.auth_key.assign(auth.begin(), auth.end());
    return c;
}

struct WorkerRig {
    rte_mempool* pool = nullptr;
    rte_ring* punt = nullptr;
    std::unique_ptr<dp::BindingTables> tables;
    std::unique_ptr<dp::Neighbors> neighbors;
    dp::LcoreCounters counters;
    std::atomic<bool> stop{false};
    std::unique_ptr<dp::Worker> worker;
    bool reader_registered = false;

    // `name` must be unique in the process (DPDK object names).
    bool init(const std::string& name, std::string* err)
    {
        pool = rte_pktmbuf_pool_create((name + "_pool").c_str(), 1023, 0, dp::kMbufPrivSize, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        punt = rte_ring_create((name + "_punt").c_str(), 256, 0, RING_F_SC_DEQ);
        if (!pool || !punt) {
            *err = "mempool or ring";
            return false;
        }
        dp::BindingTables::Params tp;
        tp.name = name;
        tp.capacity = 64;
        tp.home_prefix = kHomePrefix;
        tables = dp::BindingTables::create(tp, err);
        neighbors = dp::Neighbors::create(name, 64, err);
        if (!tables || !neighbors) return false;
        neighbors->set(kGw4, kGwMac, true);
        neighbors->set(kGw6, kGwMac, true);
        return true;
    }

    // The router's binding: its home address and prefix, over `method` from the care-of address; or
    // (host) a mobile host's (registered without R): its home address only, defended on the home link
    // (proxy ND, RFC 6275 10.4.1), over `method` from the same care-of address.
    bool bind(TunnelMethod method, std::string* err, bool host = false)
    {
        Binding b;
        b.hoa = kHoa;
        b.coa.method = method;
        b.coa.peer = kCoa4;
        b.coa.peer_port = kMrPort;
        b.coa.v6 = kCoa6;
        if (host) {
            b.mobile_router = false;
            b.proxy_nd = true;
        } else {
            b.prefixes = {kMnpA};
        }
        return tables->publish(0, b, err) == dp::BindingTables::PublishError::none;
    }
    bool bind_host(TunnelMethod method, std::string* err) { return bind(method, err, true); }
    // What the port sent, as bytes (the mbufs freed).
    std::vector<std::vector<uint8_t>> sent_frames()
    {
        std::vector<std::vector<uint8_t>> out;
        for (rte_mbuf* m : sent()) {
            const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
            out.emplace_back(d, d + rte_pktmbuf_data_len(m));
            rte_pktmbuf_free(m);
        }
        return out;
    }

    // A port backed by two rings: the test enqueues received frames on `rx` and dequeues sent ones
    // from `tx`. Needs the net_ring PMD (rte_eth_from_rings).
    rte_ring *rx = nullptr, *tx = nullptr;
    uint16_t ring_port = 0;
    bool ring_port_up = false;
    bool open_ring_port(const std::string& name, std::string* err)
    {
        rx = rte_ring_create((name + "_rx").c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        tx = rte_ring_create((name + "_tx").c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        const int p = rx && tx ? rte_eth_from_rings((name + "_ring").c_str(), &rx, 1, &tx, 1, 0) : -1;
        rte_eth_conf conf{};
        if (p < 0 || rte_eth_dev_configure(static_cast<uint16_t>(p), 1, 1, &conf) != 0 ||
            rte_eth_rx_queue_setup(static_cast<uint16_t>(p), 0, 256, 0, nullptr, pool) != 0 ||
            rte_eth_tx_queue_setup(static_cast<uint16_t>(p), 0, 256, 0, nullptr) != 0 ||
            rte_eth_dev_start(static_cast<uint16_t>(p)) != 0) {
            *err = "ring port " + name;
            return false;
        }
        ring_port = static_cast<uint16_t>(p);
        ring_port_up = true;
        return true;
    }
    // A frame as if the port received it.
    bool receive(const uint8_t* frame, std::size_t len)
    {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (!m) return false;
        auto* d = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
        if (!d || rte_ring_enqueue(rx, m) != 0) {
            rte_pktmbuf_free(m);
            return false;
        }
        std::memcpy(d, frame, len);
        return true;
    }
    // What the port sent, in order; the caller frees the mbufs.
    std::vector<rte_mbuf*> sent()
    {
        std::vector<rte_mbuf*> out;
        void* p;
        while (tx && rte_ring_dequeue(tx, &p) == 0) out.push_back(static_cast<rte_mbuf*>(p));
        return out;
    }

    // `adjust` may change the worker's configuration before it is made.
    void start_worker(uint16_t port, const dp::SaTable* sas = nullptr, bool ipv4_cksum_offload = false,
                      uint32_t reassembly_flows = 64, const std::function<void(dp::WorkerConfig&)>& adjust = {})
    {
        dp::WorkerConfig wc;
        wc.access.port = wc.home.port = port;
        wc.access.mac = wc.home.mac = kHaMac;
        wc.access.gateway4 = kGw4;
        wc.home.gateway6 = kGw6;
        wc.tables = tables.get();
        wc.neighbors = neighbors.get();
        wc.sas = sas;
        wc.punt = punt;
        wc.pool = pool;
        wc.self = dp::TunnelSelf{kHa4, kHa6, 4191, ipv4_cksum_offload};
        wc.ha_ipv6 = {kHa6};
        wc.dhaad_anycast = home_agents_anycast(kHomePrefix);
        wc.counters = &counters;
        wc.stop = &stop;
        wc.reassembly_flows = reassembly_flows;
        if (adjust) adjust(wc);
        worker = std::make_unique<dp::Worker>(wc);
        reader_registered = tables->register_reader(0);
    }

    ~WorkerRig()
    {
        if (reader_registered) tables->unregister_reader(0);
        worker.reset();
        release();
        void* m;
        while (punt && rte_ring_dequeue(punt, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        rte_ring_free(punt);
        tables.reset();
        neighbors.reset();
    }
    // Closes the ring port and frees the pool. A port of the test's own that received into the pool
    // must be closed first.
    void release()
    {
        if (ring_port_up) {
            rte_eth_dev_stop(ring_port);
            rte_eth_dev_close(ring_port);
            ring_port_up = false;
        }
        for (rte_ring* r : {rx, tx}) {
            void* m;
            while (r && rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
            rte_ring_free(r);
        }
        rx = tx = nullptr;
        rte_mempool_free(pool);
        pool = nullptr;
    }
};

} // namespace nemo::test
