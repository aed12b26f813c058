// A Worker on one port, as the tests drive it: a mempool, binding tables, static next hops (one gateway
// for IPv4 and IPv6, both on the same link), a punt ring, counters. The port is the test's (ring or
// pcap); access and home are that same port. Addresses are the golden pcaps' (scripts/gen_golden_pcaps.py).
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <atomic>
#include <memory>
#include <string>

#include "binding_tables.hpp"
#include "classify.hpp"
#include "neighbors.hpp"
#include "punt.hpp"
#include "sa_table.hpp"
#include "worker.hpp"

namespace nemo::test {

inline const MacAddr kHaMac = *MacAddr::parse("02:00:00:00:00:01");
inline const MacAddr kGwMac = *MacAddr::parse("02:00:00:00:00:fe");
inline const Ipv4Addr kHa4 = *Ipv4Addr::parse("198.51.100.1");
inline const Ipv4Addr kGw4 = *Ipv4Addr::parse("198.51.100.254");
inline const Ipv4Addr kCoa = *Ipv4Addr::parse("203.0.113.7");
inline constexpr uint16_t kMrPort = 5555;
inline const Ipv6Addr kHa6 = *Ipv6Addr::parse("2001:db8:1::1");
inline const Ipv6Addr kGw6 = *Ipv6Addr::parse("2001:db8:1::fe");
inline const Ipv6Addr kCoa6 = *Ipv6Addr::parse("2001:db8:ffff::5");
inline const Prefix6 kHomePrefix = *Prefix6::parse("2001:db8:1::/64");
inline const Ipv6Addr kHoa = *Ipv6Addr::parse("2001:db8:1::100");
inline const Prefix6 kMnp = *Prefix6::parse("2001:db8:77::/64");
inline const Ipv6Addr kHost = *Ipv6Addr::parse("2001:db8:77::5");
inline const Ipv6Addr kCn = *Ipv6Addr::parse("2001:db8:cafe::9");

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

    // The router's binding: its home address and prefix, over `method` from the care-of address.
    bool bind(TunnelMethod method, std::string* err)
    {
        Binding b;
        b.hoa = kHoa;
        b.coa.method = method;
        b.coa.peer = kCoa;
        b.coa.peer_port = kMrPort;
        b.coa.v6 = kCoa6;
        b.prefixes = {kMnp};
        return tables->publish(0, b, err) == dp::BindingTables::PublishError::none;
    }

    void start_worker(uint16_t port, const dp::SaTable* sas = nullptr)
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
        wc.self = dp::TunnelSelf{kHa4, kHa6, 4191};
        wc.ha_ipv6 = {kHa6};
        wc.dhaad_anycast = home_agents_anycast(kHomePrefix);
        wc.counters = &counters;
        wc.stop = &stop;
        worker = std::make_unique<dp::Worker>(wc);
        reader_registered = tables->register_reader(0);
    }

    ~WorkerRig()
    {
        if (reader_registered) tables->unregister_reader(0);
        worker.reset();
        void* m;
        while (punt && rte_ring_dequeue(punt, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        rte_ring_free(punt);
        tables.reset();
        neighbors.reset();
    }
    // The pool outlives the port that received into it: free it after closing the port.
    void free_pool()
    {
        rte_mempool_free(pool);
        pool = nullptr;
    }
};

} // namespace nemo::test
