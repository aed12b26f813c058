// Durable-state benchmarks (needs EAL, as control_bench; run by scripts/bench_state.sh):
//   BuToBa/routers:N/store:on|off/rep:R  the control thread as the daemon runs it: turns of 256 BUs
//       (handle_signal each; a BA naming a state batch is held until that batch is durable), each turn
//       ended by poll(), which hands its batch to the writer. An iteration is 64 turns and then the wait
//       until the last batch is durable, so the time includes the syncs. All N routers are registered
//       first (not timed); what is timed are refreshes of random routers. store:off is the same plane
//       without a store, run alternately with store:on.
//   Restart/bindings:N/store:on|off/rep:R  StateStore::open + ControlPlane::create with N routers in
//       Config::mrs and N stored bindings; store:off is create() alone (the provisioning's share).
// Stores live in a directory on the real disk (--dir, default /var/tmp) and are removed at exit.
//
//   BuToBa/routers:N/store:etcd|etcd1|embedded/rep:R  (with --etcd) the same through etcd (state.backend =
//       etcd, a cluster of one instance; etcd1: one transaction in flight at a time, the baseline of the
//       two the writer sends at once) and through the embedded store, in a rotating order.
//
//   state_bench [--dir DIR] [--backend rocksdb|sqlite] [--reps R] [--turns T] [--iterations I] [--iterations-big I] [Google Benchmark flags]
//   state_bench --etcd HOST:PORT,... [--etcd-txn-ops N] [--etcd-routers N,N] ...   adds the etcd family
//       (N bindings a transaction: etcd's --max-txn-ops must allow it; routers 1000,100000 by default)
//       R alternated repetitions (3); T turns an iteration (64); I iterations with 1 000 routers (64)
//       and with 1 000 000 (16); --writer-cpu C pins the store's writer thread to CPU C (to tell its
//       CPU time from the control thread's; by default it may run anywhere, as in the daemon)
//   state_bench --make-store DIR --routers N --provisioning FILE
//       a store of N bindings (routers 0..N-1, as the BU benchmark registers them) and the
//       provisioning file of those routers, for the daemon's restart (scripts/bench_state.sh)
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <rte_eal.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <tuple>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_eal.hpp"
#include "bench_routers.hpp"
#include "control_plane.hpp"
#include "ipv6.hpp"
#include "mobility_header.hpp"
#include "proto.hpp"
#include "provision_text.hpp"
#include "state_etcd.hpp"
#include "state_rocksdb.hpp"
#include "state_sqlite.hpp"
#include "state_store.hpp"

using namespace nemo;
using namespace nemo::wire;
using namespace nemo::control;

namespace {

using nemo::bench::coa_of;
using nemo::bench::hoa_of;
using nemo::bench::kHa6;
using nemo::bench::kHome;
using nemo::bench::mnp_of;

constexpr uint64_t kNow = 1000;        // the control plane's clock, held still: nothing expires while timed
constexpr std::size_t kTurnBus = 256;  // BUs per control-loop turn
constexpr uint16_t kLifetime = 0x3FFF; // 4 s units (18 h): a store made for a restart is not expired by then

// Set by main.
std::filesystem::path g_root;
int g_reps = 3;
int g_turns = 64;       // per iteration
int g_iterations = 64;      // per BU measurement with 1 000 routers
int g_iterations_big = 16;  // with 1 000 000 (their store-on runs are the slow ones)
cpu_set_t g_all_cpus;   // the process's CPUs before EAL pinned this thread
int g_writer_cpu = -1;  // --writer-cpu: the store's writer on this CPU alone (a diagnosis; the daemon's shares the main lcore)
bool g_sqlite = false;  // --backend sqlite (default rocksdb, the daemon's default)
std::vector<std::string> g_etcd;            // --etcd: endpoints
unsigned g_etcd_txn_ops = 128;              // --etcd-txn-ops
std::vector<uint32_t> g_etcd_routers = {1000, 100000};


MrProvision provision_of(uint32_t i)
{
    MrProvision mr;
    mr.hoa = hoa_of(i);
    mr.prefixes = {mnp_of(i)};
    return mr;
}

// Room for n bindings and a little more, as an operator would size ha.binding_capacity.
uint32_t capacity_for(uint32_t n) { return n + n / 16 + 16; }

Config base_config(uint32_t n)
{
    Config c;
    c.ha.home_prefix = kHome;
    c.ha.ipv6_addresses = {kHa6};
    c.ha.allow_unprotected_signaling = true;
    c.ha.max_binding_lifetime = 86400;
    c.binding_capacity = capacity_for(n);
    c.origin = "bench";
    return c;
}

// The inner IPv6 packet of a v4 BU (IPv4 CoA option, I, one MNP) from router i.
void bu_packet(uint32_t i, uint16_t seq, std::vector<uint8_t>& p)
{
    BindingUpdate bu;
    bu.seq = seq;
    bu.flags = bu_flag::A | bu_flag::H | bu_flag::R;
    bu.lifetime = kLifetime;
    bu.options.ipv4_coa = Ipv4CoaOption{v4flag::I, 0, coa_of(i)};
    bu.options.add_prefix(mnp_of(i));
    p.resize(256);
    auto len = build_binding_update(std::span(p).subspan(40), bu, hoa_of(i), kHa6);
    write_ipv6_header(p.data(), Ipv6Header{0, 0, static_cast<uint16_t>(*len), ipproto::mobility, 64, hoa_of(i), kHa6});
    p.resize(40 + *len);
}

// The backend under the store, timed: the mean sync is not in StateStore::status() (it has the last
// and the largest), so each commit's duration is summed here, around the same call the writer times.
class TimedBackend final : public StateBackend {
public:
    explicit TimedBackend(std::unique_ptr<StateBackend> b) : b_(std::move(b)) {}
    std::optional<CommitError> commit(const StateBatch& batch) override
    {
        return timed([&] { return b_->commit(batch); });
    }
    // The writer calls this one (a cluster's compare-and-swap; the embedded stores' default calls commit).
    std::optional<CommitError> commit_cas(StateBatch& batch, CasSettled* settled) override
    {
        return timed([&] { return b_->commit_cas(batch, settled); });
    }
    EtcdCluster* cluster() override { return b_->cluster(); }
    bool available(std::string* why) const override { return b_->available(why); }
    uint64_t size_bytes() const override { return b_->size_bytes(); }
    const std::string& path() const override { return b_->path(); }
    const char* name() const override { return b_->name(); }

    std::atomic<uint64_t> commits{0}, total_ns{0}, max_ns{0};
    std::atomic<pid_t> tid{0}; // the writer thread

private:
    template <class F>
    std::optional<CommitError> timed(F&& f)
    {
        const auto t0 = std::chrono::steady_clock::now();
        auto e = f();
        const auto ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
        tid.store(gettid(), std::memory_order_relaxed);
        commits.fetch_add(1, std::memory_order_relaxed);
        total_ns.fetch_add(ns, std::memory_order_relaxed);
        if (ns > max_ns.load(std::memory_order_relaxed)) max_ns.store(ns, std::memory_order_relaxed);
        return e;
    }
    std::unique_ptr<StateBackend> b_;
};

// The daemon opens its store after EAL has pinned the main thread to the main lcore, so its writer
// (and the database's threads) share that CPU with the control thread, as they do here by default.
// --writer-cpu N puts the writer on CPU N alone instead (a diagnosis: what a CPU of its own gives).
template <class F>
auto unpinned(F&& make)
{
    if (g_writer_cpu < 0) return make();
    cpu_set_t pinned;
    pthread_getaffinity_np(pthread_self(), sizeof pinned, &pinned);
    cpu_set_t writer = g_all_cpus;
    if (g_writer_cpu >= 0) {
        CPU_ZERO(&writer);
        CPU_SET(g_writer_cpu, &writer);
    }
    pthread_setaffinity_np(pthread_self(), sizeof writer, &writer);
    auto r = make();
    pthread_setaffinity_np(pthread_self(), sizeof pinned, &pinned);
    return r;
}

// A control plane with routers 0..n-1 provisioned, with a (timed) store in `dir` or without one.
struct Plane {
    std::unique_ptr<ControlPlane> cp;
    TimedBackend* timing = nullptr; // owned by cp's store
    std::vector<uint16_t> seq;
    std::mt19937 rng{7};
};

// `etcd`: the store is etcd (g_etcd), the cluster named after `dir`'s last part and this process.
std::unique_ptr<Plane> make_plane(uint32_t n, const std::string* dir, bool etcd = false, bool one_at_a_time = false)
{
    auto p = std::make_unique<Plane>();
    Config c = base_config(n);
    std::string err;
    if (dir) {
        std::filesystem::remove_all(*dir);
        StateImage image;
        std::unique_ptr<StateBackend> backend;
        if (etcd) {
            c.state.backend = StateConfig::Backend::etcd;
            c.state.etcd.endpoints = g_etcd;
            c.state.etcd.cluster = "bench-" + std::filesystem::path(*dir).filename().string() + "-" + std::to_string(getpid());
            c.state.etcd.instance = "bench";
            c.state.etcd.max_txn_ops = g_etcd_txn_ops;
            c.state.etcd.timeout_ms = 10000;
            c.state.etcd.two_in_flight = !one_at_a_time;
            backend = open_etcd_state(c.state, &image, &err);
        } else {
            backend = g_sqlite ? open_sqlite_state(*dir, false, &image, &err) : open_rocksdb_state(*dir, false, &image, &err);
        }
        if (!backend) throw std::runtime_error(err);
        auto timed = std::make_unique<TimedBackend>(std::move(backend));
        p->timing = timed.get();
        auto store = unpinned([&] { return std::make_unique<StateStore>(std::move(timed)); });
        p->cp = ControlPlane::create(c, &err, std::move(store), &image);
    } else {
        p->cp = ControlPlane::create(c, &err);
    }
    if (!p->cp) throw std::runtime_error(err);
    for (uint32_t i = 0; i < n; ++i)
        if (auto e = p->cp->provisioning().add(provision_of(i))) throw std::runtime_error(*e);
    p->seq.assign(n, 0);
    return p;
}

// The control loop's side of the BAs: those naming a batch wait for it (as control_io holds them).
struct Turns {
    explicit Turns(ControlPlane& plane) : cp(plane) {}
    ControlPlane& cp;
    std::deque<Outbound> held;
    std::vector<Outbound> out;
    uint64_t bas = 0;   // BAs that may leave
    double poll_s = 0;  // in poll(): the turn's end, the batch handed over
    std::size_t most_held = 0;

    void release()
    {
        const uint64_t durable = cp.state_durable();
        while (!held.empty() && held.front().after_batch <= durable) {
            held.pop_front();
            ++bas;
        }
    }
    // One turn over `pkts` (routers `who`), ended by poll() (the batch goes to the writer).
    void turn(const std::vector<std::vector<uint8_t>>& pkts, const std::vector<uint32_t>& who, std::size_t from, std::size_t count)
    {
        for (std::size_t k = from; k < from + count; ++k) {
            Punted p;
            p.via = TunnelMethod::ipip;
            p.outer_src = coa_of(who[k]);
            p.ipv6 = pkts[k];
            out.clear();
            cp.handle_signal(p, kNow, out);
            const uint64_t durable = cp.state_durable();
            for (const Outbound& o : out) {
                if (o.after_batch <= durable && held.empty()) ++bas;
                else held.push_back(o); // control_io copies it too
            }
        }
        most_held = std::max(most_held, held.size());
        const auto t0 = std::chrono::steady_clock::now();
        cp.poll(kNow);
        poll_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        benchmark::DoNotOptimize(cp.take_announcements());
        release();
    }
    // Until every held BA may leave (a cluster's durable() moves in poll(), as the daemon's loop turns).
    void drain()
    {
        while (!held.empty()) {
            if (cp.cluster()) cp.poll(kNow);
            release();
            if (!held.empty()) std::this_thread::yield();
        }
    }
};

// Registers routers 0..n-1 in turns, as many routers coming up; returns once every BA may leave.
void register_all(Plane& p, uint32_t n)
{
    Turns t(*p.cp);
    std::vector<std::vector<uint8_t>> pkts(kTurnBus);
    std::vector<uint32_t> who(kTurnBus);
    for (uint32_t base = 0; base < n; base += kTurnBus) {
        const std::size_t count = std::min<std::size_t>(kTurnBus, n - base);
        for (std::size_t k = 0; k < count; ++k) {
            who[k] = base + static_cast<uint32_t>(k);
            bu_packet(who[k], ++p.seq[who[k]], pkts[k]);
        }
        t.turn(pkts, who, 0, count);
    }
    t.drain();
    if (p.cp->cache().size() != n)
        throw std::runtime_error("registered " + std::to_string(p.cp->cache().size()) + " of " + std::to_string(n) + " routers");
}

// The process's I/O (/proc/self/io): bytes given to write calls, bytes sent to the storage, bytes read.
struct Io {
    uint64_t wchar = 0, write_bytes = 0, rchar = 0;
};
Io read_io()
{
    Io io;
    std::ifstream f("/proc/self/io");
    std::string k;
    uint64_t v = 0;
    while (f >> k >> v) {
        if (k == "wchar:") io.wchar = v;
        else if (k == "write_bytes:") io.write_bytes = v;
        else if (k == "rchar:") io.rchar = v;
    }
    return io;
}

// A thread's scheduler times (/proc/self/task/TID/schedstat): on a CPU, and runnable but waiting for one.
struct Sched {
    double run = 0, runq = 0;
};
Sched read_sched(pid_t tid)
{
    Sched s;
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/schedstat");
    uint64_t run = 0, wait = 0;
    if (f >> run >> wait) s = Sched{static_cast<double>(run) / 1e9, static_cast<double>(wait) / 1e9};
    return s;
}

double cpu_seconds(clockid_t clock)
{
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// BU planes by (routers, store on, through etcd), built and registered once, kept across repetitions.
std::map<std::tuple<uint32_t, bool, bool, bool>, std::unique_ptr<Plane>> g_bu_planes;

Plane& bu_plane(uint32_t n, bool store, bool etcd = false, bool one_at_a_time = false)
{
    auto& p = g_bu_planes[{n, store, etcd, one_at_a_time}];
    if (!p) {
        const std::string dir = (g_root / ("bu-" + std::to_string(n) + (etcd ? "-etcd" : "") + (one_at_a_time ? "1" : ""))).string();
        p = make_plane(n, store ? &dir : nullptr, etcd, one_at_a_time);
        const auto t0 = std::chrono::steady_clock::now();
        register_all(*p, n);
        // Progress (a million take a while), and the rate of first registrations, in order of home address.
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "state_bench: %u routers registered, store %s, in %.1f s (%.0f BU/s)\n", n, etcd ? "etcd" : store ? "on" : "off", s, n / s);
    }
    return *p;
}

void BM_BuToBa(benchmark::State& state, uint32_t n, bool store, bool etcd = false, bool one_at_a_time = false)
{
    Plane& p = bu_plane(n, store, etcd, one_at_a_time);
    ControlPlane& cp = *p.cp;
    Turns t(cp);
    const std::size_t per_iter = static_cast<std::size_t>(g_turns) * kTurnBus;
    std::vector<std::vector<uint8_t>> pkts(per_iter);
    std::vector<uint32_t> who(per_iter);
    const uint64_t accepted0 = cp.stats().get(Counter::bus_accepted);
    StateStatus s0;
    uint64_t commits0 = 0, commit_ns0 = 0;
    if (p.timing) {
        s0 = cp.store()->status();
        commits0 = p.timing->commits.load();
        commit_ns0 = p.timing->total_ns.load();
        p.timing->max_ns.store(0);
    }
    // The writer's CPU time: the process's less this thread's (the EAL's threads sleep).
    const double cpu0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID), main0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    const Io io0 = read_io();
    double seconds = 0, drain_s = 0, main_run = 0, main_runq = 0, writer_runq = 0;
    uint64_t bus = 0;
    for (auto _ : state) {
        // The routers' work, not timed: the BUs of this iteration.
        for (std::size_t k = 0; k < per_iter; ++k) {
            who[k] = static_cast<uint32_t>(p.rng() % n);
            bu_packet(who[k], ++p.seq[who[k]], pkts[k]);
        }
        const Sched m0 = read_sched(gettid());
        const Sched w0 = p.timing ? read_sched(p.timing->tid.load()) : Sched{};
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t k = 0; k < per_iter; k += kTurnBus) t.turn(pkts, who, k, kTurnBus);
        const auto t1 = std::chrono::steady_clock::now();
        t.drain();
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        drain_s += dt - std::chrono::duration<double>(t1 - t0).count();
        const Sched m1 = read_sched(gettid());
        main_run += m1.run - m0.run;
        main_runq += m1.runq - m0.runq;
        if (p.timing) {
            const Sched w1 = read_sched(p.timing->tid.load());
            writer_runq += w1.runq - w0.runq;
        }
        state.SetIterationTime(dt);
        seconds += dt;
        bus += per_iter;
    }
    const uint64_t accepted = cp.stats().get(Counter::bus_accepted) - accepted0;
    state.SetItemsProcessed(static_cast<int64_t>(bus));
    state.counters["BU_per_s"] = static_cast<double>(t.bas) / seconds;
    state.counters["accepted_ratio"] = static_cast<double>(accepted) / static_cast<double>(bus);
    state.counters["bindings"] = static_cast<double>(cp.cache().size());
    // Where the control thread's time went: the final wait for the last batch, and poll() (flush).
    state.counters["drain_share"] = drain_s / seconds;
    state.counters["poll_share"] = t.poll_s / seconds;
    state.counters["most_held"] = static_cast<double>(t.most_held);
    // The control thread: on its CPU, preempted (runnable, waiting for it), or neither (blocked on the
    // store's lock, or yielding in the final wait).
    state.counters["main_run_share"] = main_run / seconds;
    state.counters["main_runq_share"] = main_runq / seconds;
    if (p.timing) {
        const StateStatus s1 = cp.store()->status();
        const double syncs = static_cast<double>(s1.syncs - s0.syncs);
        const double commits = static_cast<double>(p.timing->commits.load() - commits0);
        state.counters["syncs_per_s"] = syncs / seconds;
        state.counters["records_per_sync"] = static_cast<double>(s1.records_written - s0.records_written) / syncs;
        state.counters["BUs_per_sync"] = static_cast<double>(bus) / syncs;
        state.counters["mean_sync_us"] = static_cast<double>(p.timing->total_ns.load() - commit_ns0) / 1e3 / commits;
        state.counters["max_sync_us"] = static_cast<double>(p.timing->max_ns.load()) / 1e3;
        state.counters["writer_busy"] = static_cast<double>(p.timing->total_ns.load() - commit_ns0) / 1e9 / seconds;
        state.counters["sync_failures"] = static_cast<double>(s1.sync_failures - s0.sync_failures);
        state.counters["db_MB"] = static_cast<double>(s1.size_bytes) / 1e6;
        // Where the writer's time goes: on a CPU (SQLite, the kernel's copies) or waiting for the disk.
        const double writer_cpu = (cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0) - (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - main0);
        const double commit_s = static_cast<double>(p.timing->total_ns.load() - commit_ns0) / 1e9;
        state.counters["writer_cpu_share"] = writer_cpu / commit_s;
        state.counters["writer_runq_share"] = writer_runq / seconds;
        const Io io1 = read_io();
        state.counters["written_B_per_BU"] = static_cast<double>(io1.wchar - io0.wchar) / static_cast<double>(bus);
        state.counters["disk_B_per_BU"] = static_cast<double>(io1.write_bytes - io0.write_bytes) / static_cast<double>(bus);
        state.counters["read_B_per_BU"] = static_cast<double>(io1.rchar - io0.rchar) / static_cast<double>(bus);
    }
    if (t.bas != bus) state.SkipWithError("not every BU got a BA that may leave");
    else if (accepted != bus) state.SkipWithError("not every BU was accepted");
}

// ---- restart ----

// Bytes of the files under dir (apparent, and allocated on the disk): RocksDB keeps its in db/.
std::pair<uint64_t, uint64_t> dir_bytes(const std::filesystem::path& dir)
{
    uint64_t size = 0, blocks = 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        struct stat st{};
        if (::stat(e.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            size += static_cast<uint64_t>(st.st_size);
            blocks += static_cast<uint64_t>(st.st_blocks) * 512;
        }
    }
    return {size, blocks};
}

// A store of n bindings in dir, made as the daemon makes it (registrations through the control plane),
// then closed (a clean stop).
void make_store(const std::string& dir, uint32_t n)
{
    auto p = make_plane(n, &dir);
    register_all(*p, n);
    std::string err;
    if (!p->cp->store()->sync_now(&err)) throw std::runtime_error(err);
}

struct RestartCase {
    Config cfg;
    uint64_t bytes = 0, allocated = 0;
};
std::map<uint32_t, std::unique_ptr<RestartCase>> g_restart;

RestartCase& restart_case(uint32_t n)
{
    g_bu_planes.clear(); // the BU measurements are over: their memory goes
    auto& rc = g_restart[n];
    if (!rc) {
        rc = std::make_unique<RestartCase>();
        const std::string dir = (g_root / ("restart-" + std::to_string(n))).string();
        make_store(dir, n);
        std::tie(rc->bytes, rc->allocated) = dir_bytes(dir);
        rc->cfg = base_config(n);
        rc->cfg.state.dir = dir;
        rc->cfg.mrs.reserve(n);
        for (uint32_t i = 0; i < n; ++i) rc->cfg.mrs.push_back(provision_of(i));
    }
    return *rc;
}

void BM_Restart(benchmark::State& state, uint32_t n, bool store)
{
    RestartCase& rc = restart_case(n);
    double open_s = 0, create_s = 0;
    StateStatus st;
    std::size_t bindings = 0;
    for (auto _ : state) {
        std::string err;
        std::unique_ptr<ControlPlane> cp;
        const auto t0 = std::chrono::steady_clock::now();
        auto t1 = t0;
        if (store) {
            StateImage image;
            auto s = unpinned([&] { return StateStore::open(rc.cfg.state, &image, &err); });
            t1 = std::chrono::steady_clock::now();
            if (s) cp = ControlPlane::create(rc.cfg, &err, std::move(s), &image);
        } else {
            cp = ControlPlane::create(rc.cfg, &err);
        }
        const auto t2 = std::chrono::steady_clock::now();
        if (!cp) {
            state.SkipWithError(err.c_str());
            return;
        }
        state.SetIterationTime(std::chrono::duration<double>(t2 - t0).count());
        open_s += std::chrono::duration<double>(t1 - t0).count();
        create_s += std::chrono::duration<double>(t2 - t1).count();
        bindings = cp->cache().size();
        if (cp->store()) st = cp->store()->status();
        state.PauseTiming();
        cp.reset(); // a clean stop, not timed
        state.ResumeTiming();
    }
    const double iters = static_cast<double>(state.iterations());
    state.counters["open_ms"] = open_s * 1e3 / iters;
    state.counters["create_ms"] = create_s * 1e3 / iters;
    state.counters["bindings"] = static_cast<double>(bindings);
    if (store) {
        state.counters["load_ms"] = static_cast<double>(st.load_ms);
        state.counters["restore_ms"] = static_cast<double>(st.restore_ms);
        state.counters["bytes_per_binding"] = static_cast<double>(rc.bytes) / n;
        state.counters["disk_bytes_per_binding"] = static_cast<double>(rc.allocated) / n;
        if (bindings != n || st.restored_bindings != n)
            state.SkipWithError(("restored " + std::to_string(st.restored_bindings) + " of " + std::to_string(n)).c_str());
    }
}

void register_benchmarks()
{
    // Store on and off alternately (on, off, then off, on, ...), so that a drift of the machine's speed
    // is shared by both.
    auto alternate = [](const std::string& prefix, auto fn, auto&& configure) {
        for (int r = 0; r < g_reps; ++r)
            for (int k = 0; k < 2; ++k) {
                const bool on = (k == 0) == (r % 2 == 0);
                auto* b = benchmark::RegisterBenchmark((prefix + "/store:" + (on ? "on" : "off") + "/rep:" + std::to_string(r)).c_str(),
                                                       [fn, on](benchmark::State& s) { fn(s, on); });
                b->UseManualTime();
                configure(b);
            }
    };
    for (uint32_t n : {1000u, 1000000u})
        alternate("BuToBa/routers:" + std::to_string(n), [n](benchmark::State& s, bool on) { BM_BuToBa(s, n, on); },
                  [n](benchmark::internal::Benchmark* b) { b->Iterations(n > 1000 ? g_iterations_big : g_iterations)->Unit(benchmark::kMillisecond); });
    // Through etcd (two transactions in flight, and one at a time: etcd1) and through the embedded
    // store, in a rotating order.
    if (!g_etcd.empty())
        for (uint32_t n : g_etcd_routers)
            for (int r = 0; r < g_reps; ++r)
                for (int k = 0; k < 3; ++k) {
                    const int v = (k + r) % 3; // 0 etcd, 1 embedded, 2 etcd1
                    const char* name = v == 0 ? "etcd" : v == 1 ? "embedded" : "etcd1";
                    auto* b = benchmark::RegisterBenchmark(
                        ("BuToBa/routers:" + std::to_string(n) + "/store:" + name + "/rep:" + std::to_string(r)).c_str(),
                        [n, v](benchmark::State& s) { BM_BuToBa(s, n, true, v != 1, v == 2); });
                    b->UseManualTime()->Iterations(n > 1000 ? g_iterations_big : g_iterations)->Unit(benchmark::kMillisecond);
                }
    for (uint32_t n : {100000u, 1000000u})
        alternate("Restart/bindings:" + std::to_string(n), [n](benchmark::State& s, bool on) { BM_Restart(s, n, on); },
                  [](benchmark::internal::Benchmark* b) { b->Iterations(1)->Unit(benchmark::kMillisecond); });
}

bool init_eal() { return nemo::bench::init_eal_from_env("state_bench"); }

// --make-store DIR --routers N --provisioning FILE
int make_store_mode(const std::string& dir, uint32_t n, const std::string& file)
{
    {
        std::ofstream f(file);
        for (uint32_t i = 0; i < n; ++i) f << format_provision(provision_of(i)) << '\n';
        if (!f) {
            std::fprintf(stderr, "state_bench: cannot write %s\n", file.c_str());
            return 1;
        }
    }
    make_store(dir, n);
    const auto [bytes, allocated] = dir_bytes(dir);
    std::printf("state_bench: %s: %u bindings, %llu bytes (%.1f a binding, %.1f allocated); provisioning %s\n", dir.c_str(), n,
                static_cast<unsigned long long>(bytes), static_cast<double>(bytes) / n, static_cast<double>(allocated) / n, file.c_str());
    return 0;
}

} // namespace

// EAL arguments: NEMO_EAL_ARGS (space separated) or, by default, the no-hugepage set.
int main(int argc, char** argv)
{
    sched_getaffinity(0, sizeof g_all_cpus, &g_all_cpus);
    std::string make_dir, provisioning, dir = "/var/tmp";
    uint32_t routers = 0;
    // Our flags out, Google Benchmark's left in argv.
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "state_bench: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        auto number = [&](long lo, long hi) {
            const std::string v = value();
            char* end = nullptr;
            const long x = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || x < lo || x > hi) {
                std::fprintf(stderr, "state_bench: %s: '%s' is not a number from %ld to %ld\n", a.c_str(), v.c_str(), lo, hi);
                std::exit(2);
            }
            return x;
        };
        if (a == "--make-store") make_dir = value();
        else if (a == "--routers") routers = static_cast<uint32_t>(number(1, 16'000'000));
        else if (a == "--provisioning") provisioning = value();
        else if (a == "--dir") dir = value();
        else if (a == "--reps") g_reps = static_cast<int>(number(1, 100));
        else if (a == "--turns") g_turns = static_cast<int>(number(1, 100000));
        else if (a == "--iterations") g_iterations = static_cast<int>(number(1, 1000000));
        else if (a == "--backend") g_sqlite = value() == "sqlite";
        else if (a == "--writer-cpu") g_writer_cpu = static_cast<int>(number(0, CPU_SETSIZE - 1));
        else if (a == "--iterations-big") g_iterations_big = static_cast<int>(number(1, 1000000));
        else if (a == "--etcd") {
            std::string v = value();
            for (std::size_t pos = 0; pos <= v.size();) {
                const std::size_t comma = std::min(v.find(',', pos), v.size());
                if (comma > pos) g_etcd.push_back(v.substr(pos, comma - pos));
                pos = comma + 1;
            }
        } else if (a == "--etcd-txn-ops") g_etcd_txn_ops = static_cast<unsigned>(number(1, 100000));
        else if (a == "--etcd-routers") {
            g_etcd_routers.clear();
            std::string v = value();
            for (std::size_t pos = 0; pos <= v.size();) {
                const std::size_t comma = std::min(v.find(',', pos), v.size());
                if (comma > pos) g_etcd_routers.push_back(static_cast<uint32_t>(std::stoul(v.substr(pos, comma - pos))));
                pos = comma + 1;
            }
        }
        else argv[kept++] = argv[i];
    }
    argc = kept;
    if (!make_dir.empty() && (routers == 0 || provisioning.empty())) {
        std::fprintf(stderr, "state_bench: --make-store DIR needs --routers N and --provisioning FILE\n");
        return 2;
    }
    if (!init_eal()) return 1;
    int rc = 0;
    try {
        if (!make_dir.empty()) {
            rc = make_store_mode(make_dir, routers, provisioning);
        } else {
            std::string tmpl = dir + "/nemo-state-bench.XXXXXX";
            if (!mkdtemp(tmpl.data())) {
                std::fprintf(stderr, "state_bench: cannot make a directory in %s\n", dir.c_str());
                return 1;
            }
            g_root = tmpl;
            register_benchmarks();
            benchmark::Initialize(&argc, argv);
            benchmark::RunSpecifiedBenchmarks();
            benchmark::Shutdown();
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "state_bench: %s\n", e.what());
        rc = 1;
    }
    g_bu_planes.clear();
    g_restart.clear();
    if (!g_root.empty()) std::filesystem::remove_all(g_root);
    rte_eal_cleanup();
    return rc;
}
