// What the tests of the durable store share, whatever its backend (test_state_store.cpp: SQLite and the
// writer; test_state_rocksdb.cpp: RocksDB): directories of their own, records made from a number, images
// compared by key, files read and written whole, and small tmpfs mounts for a read-only and a full disk.
#pragma once

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "state_store.hpp"

namespace nemo::control::state_test {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A directory of its own, removed with everything in it. In memory (tmpfs) when `fast`: the damage tests
// open hundreds of stores, and what they test does not depend on the disk's syncs.
inline fs::path temp_base(bool fast)
{
    std::error_code ec;
    if (fast && fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
    return fs::temp_directory_path();
}
struct TempDir {
    fs::path path;
    explicit TempDir(bool fast = false)
    {
        std::string tmpl = (temp_base(fast) / "nemo-state-XXXXXX").string();
        EXPECT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
        path = tmpl;
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// A store of `backend` in dir (each test file opens its own backend through a wrapper of this).
inline std::unique_ptr<StateStore> open_backend(StateConfig::Backend backend, const fs::path& dir, StateImage* image,
                                                std::string* error, bool refuse)
{
    StateConfig cfg;
    cfg.backend = backend;
    cfg.dir = dir.string();
    cfg.refuse_damaged = refuse;
    return StateStore::open(cfg, image, error);
}

inline Ipv6Addr hoa_of(uint32_t i)
{
    Ipv6Addr a = *Ipv6Addr::parse("2001:db8:100::");
    for (int k = 0; k < 4; ++k) a.bytes[15 - k] = static_cast<uint8_t>(i >> (8 * k));
    return a;
}

inline StoredBinding make_binding(uint32_t i, uint16_t seq = 1, std::size_t nprefixes = 1)
{
    StoredBinding s;
    Binding& b = s.binding;
    b.hoa = hoa_of(i);
    b.coa.method = static_cast<TunnelMethod>(i % kTunnelMethodCount);
    b.coa.v6 = *Ipv6Addr::parse("2001:db8:ffff::1");
    b.coa.v6.bytes[14] = static_cast<uint8_t>(i >> 8);
    b.coa.v4 = Ipv4Addr{0xC6336400u + i};
    b.coa.v4_port = 4500;
    b.coa.peer = Ipv4Addr{0xCB007100u + i};
    b.coa.peer_port = static_cast<uint16_t>(1024 + i % 1000);
    b.coa.behind_nat = i % 3 == 0;
    b.seq = seq;
    b.lifetime = 3600;
    b.mobile_router = i % 2 == 0;
    b.proxy_nd = true;
    b.created = 1'700'000'000 + i;
    b.updated = b.created + seq;
    b.expires = b.updated + 3600;
    for (std::size_t j = 0; j < nprefixes; ++j) {
        Ipv6Addr p = *Ipv6Addr::parse("2001:db8::");
        p.bytes[4] = static_cast<uint8_t>(i >> 16);
        p.bytes[5] = static_cast<uint8_t>(i >> 8);
        p.bytes[6] = static_cast<uint8_t>(i);
        p.bytes[7] = static_cast<uint8_t>(j);
        b.prefixes.push_back(Prefix6::make(p, 64));
    }
    s.sa_out_spi = i;
    return s;
}

inline MrChange make_mr(uint32_t i, bool added)
{
    MrChange c;
    c.added = added;
    c.mr.hoa = hoa_of(0x10000 + i);
    c.mr.mobile_router = added;
    c.mr.methods = added ? kNatMethods : 0;
    if (added) c.mr.prefixes = make_binding(0x10000 + i, 1, 3).binding.prefixes;
    return c;
}

inline SaChange make_sa(uint32_t spi, bool added)
{
    SaChange c;
    c.added = added;
    c.sa.spi = spi;
    c.sa.inbound = spi % 2 == 0;
    c.sa.hoa = hoa_of(spi);
    c.sa.algorithm = EspAlgorithm::aes_cbc_128_hmac_sha256;
    if (added) {
        c.sa.enc_key.assign(16, static_cast<uint8_t>(spi));
        c.sa.auth_key.assign(32, static_cast<uint8_t>(spi * 3));
    }
    c.sa.esn = spi % 3 == 0;
    c.sa.window = 128;
    c.sa.life_bytes = uint64_t{spi} << 20;
    return c;
}

// Every field of a binding, hashed a word at a time: the damage tests compare hundreds of images of
// 2000 bindings, too slow under ASan as encoded records.
inline uint64_t digest(const StoredBinding& s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&h](uint64_t v) {
        h = (h ^ v) * 0x100000001b3ULL;
        h ^= h >> 29;
    };
    auto mix6 = [&](const Ipv6Addr& a) {
        uint64_t w[2];
        std::memcpy(w, a.bytes.data(), 16);
        mix(w[0]);
        mix(w[1]);
    };
    const Binding& b = s.binding;
    mix6(b.hoa);
    mix(static_cast<uint64_t>(b.coa.method));
    mix6(b.coa.v6);
    mix(b.coa.v4.value);
    mix(b.coa.v4_port);
    mix(b.coa.peer.value);
    mix(b.coa.peer_port);
    mix(b.coa.behind_nat);
    mix(b.seq);
    mix(b.lifetime);
    mix(b.mobile_router);
    mix(b.proxy_nd);
    mix(b.created);
    mix(b.updated);
    mix(b.expires);
    mix(s.sa_out_spi);
    mix(b.prefixes.size());
    for (const Prefix6& p : b.prefixes) {
        mix6(p.addr);
        mix(p.len);
    }
    return h;
}

// An image by key: its bindings' digests and its other records encoded. Two images are the same when
// these are equal. (Printed as counts only: the SA records hold keys.)
struct Canon {
    std::map<Ipv6Addr, uint64_t> bindings;
    std::map<Ipv6Addr, std::vector<uint8_t>> mrs;
    std::map<uint32_t, std::vector<uint8_t>> sas, seqs;
    bool operator==(const Canon&) const = default;
    std::string summary() const
    {
        return std::to_string(bindings.size()) + " bindings, " + std::to_string(mrs.size()) + " mr changes, " +
               std::to_string(sas.size()) + " sa changes, " + std::to_string(seqs.size()) + " seqs";
    }
    void put(const StoredBinding& b) { bindings[b.binding.hoa] = digest(b); }
    void put(const MrChange& c) { mrs[c.mr.hoa] = encode_mr_change(c); }
    void put(const SaChange& c)
    {
        const KeyBytes k = encode_sa_change(c);
        sas[c.sa.spi].assign(k.begin(), k.end());
    }
    void put(uint32_t spi, const SeqReservation& r) { seqs[spi] = encode_seq(r); }
    // Every record of this one is in `of`, with the same bytes.
    bool subset_of(const Canon& of) const
    {
        auto sub = [](const auto& a, const auto& b) {
            for (const auto& [k, v] : a) {
                auto it = b.find(k);
                if (it == b.end() || it->second != v) return false;
            }
            return true;
        };
        return sub(bindings, of.bindings) && sub(mrs, of.mrs) && sub(sas, of.sas) && sub(seqs, of.seqs);
    }
};

// *twice: bindings that came twice in the image (the damage checks run in a child, without gtest).
inline Canon canon(const StateImage& im, std::size_t* twice = nullptr)
{
    Canon c;
    std::size_t dup = 0;
    for (const auto& b : im.bindings) {
        dup += c.bindings.count(b.binding.hoa);
        c.put(b);
    }
    if (twice) *twice = dup;
    else EXPECT_EQ(dup, 0u) << "a binding twice in one image";
    for (const auto& m : im.mrs) c.put(m);
    for (const auto& s : im.sas) c.put(s);
    for (const auto& [spi, r] : im.seqs) c.put(spi, r);
    return c;
}

inline bool wait_until(const std::function<bool()>& pred, unsigned ms)
{
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (!pred()) {
        if (Clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

inline uint64_t ms_since(Clock::time_point t0)
{
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

inline std::string slurp(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::error_code ec;
    const auto n = fs::file_size(p, ec);
    std::string out(ec ? 0 : n, '\0');
    in.read(out.data(), static_cast<std::streamsize>(out.size()));
    return out;
}

inline void spit(const fs::path& p, const std::string& bytes)
{
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << p;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// What came of opening a set of damaged stores, counted.
struct Outcomes {
    int refused = 0, intact = 0, earlier = 0, records_removed = 0, salvaged = 0, bad = 0;
    std::string str() const
    {
        return "refused " + std::to_string(refused) + ", intact " + std::to_string(intact) + ", an earlier commit " +
               std::to_string(earlier) + ", damaged records removed " + std::to_string(records_removed) +
               ", salvaged " + std::to_string(salvaged) + (bad ? ", FAILED " + std::to_string(bad) : "");
    }
};

// Offsets spread over [0, size): n of them, evenly, each moved by a varying amount within its step.
inline std::vector<std::size_t> spread(std::size_t size, std::size_t n)
{
    std::vector<std::size_t> out;
    const std::size_t step = std::max<std::size_t>(1, size / n);
    for (std::size_t i = 0; i < n && i * step < size; ++i) out.push_back(i * step + (i * 7919) % step);
    return out;
}

// ---- Steps both backends' tests take ----

// Stages bindings of every shape (prefix counts 0 to 255, over several batches), operator changes
// (one removal), SA changes (one removal; SPIs 0 and 0xFFFFFFFF) and sequence reservations: what a
// reopen must give back, added to *want.
inline void put_every_kind(StateStore& st, Canon* want)
{
    for (uint32_t i = 0; i < 200; ++i) {
        const auto b = make_binding(i, static_cast<uint16_t>(i * 331), i % 50 == 0 ? 255 : i % 4);
        st.put_binding(b);
        want->put(b);
        if (i % 16 == 0) st.flush(); // several batches
    }
    for (uint32_t i = 0; i < 5; ++i) {
        st.put_mr(make_mr(i, i != 3));
        want->put(make_mr(i, i != 3));
    }
    for (uint32_t spi : {0u, 0x100u, 0x101u, 0xFFFFFFFFu}) {
        st.put_sa(make_sa(spi, spi != 0x101));
        want->put(make_sa(spi, spi != 0x101));
    }
    for (uint32_t spi : {0u, 0x100u, 0xFFFFFFFFu}) {
        const SeqReservation r{0x1122334455667788ULL ^ spi, ~uint64_t{0} - spi};
        st.put_seq(spi, r);
        want->put(spi, r);
    }
}

// The keys of put_every_kind's SA 0x100 are in the image (Canon compares whole records; this says it in words).
inline void expect_sa_keys_back(const StateImage& im)
{
    bool found = false;
    for (const SaChange& c : im.sas)
        if (c.sa.spi == 0x100) {
            found = true;
            EXPECT_EQ(c.sa.enc_key.size(), 16u);
            EXPECT_EQ(c.sa.auth_key.size(), 32u);
            EXPECT_TRUE(c.sa.enc_key == KeyBytes(16, static_cast<uint8_t>(0x100 & 0xFF)));
        }
    EXPECT_TRUE(found) << "the SA's keys came back";
}

// The damage tests' store: `bindings` bindings of 0 to 4 prefixes (a flush every `flush_every`, 0 for
// none) and 20 each of operator changes, SAs and sequence reservations, added to *now.
inline void put_damage_base(StateStore& st, uint32_t bindings, uint32_t flush_every, Canon* now)
{
    for (uint32_t i = 0; i < bindings; ++i) {
        const auto b = make_binding(i, 1, i % 5);
        st.put_binding(b);
        now->put(b);
        if (flush_every && i % flush_every == 0) st.flush();
    }
    for (uint32_t i = 0; i < 20; ++i) {
        st.put_mr(make_mr(i, true));
        now->put(make_mr(i, true));
        st.put_sa(make_sa(0x1000 + i, true));
        now->put(make_sa(0x1000 + i, true));
        st.put_seq(0x1000 + i, {i, i * 1000ULL});
        now->put(0x1000 + i, {i, i * 1000ULL});
    }
}

// Commit c of the damage tests' log, staged: 30 bindings changed, one removed, one new, in *now.
inline void put_log_commit(StateStore& st, uint32_t bindings, int c, Canon* now)
{
    for (uint32_t k = 0; k < 30; ++k) {
        const auto b = make_binding((static_cast<uint32_t>(c) * 97 + k * 61) % bindings, static_cast<uint16_t>(2 + c), 2);
        st.put_binding(b);
        now->put(b);
    }
    const Ipv6Addr gone = hoa_of(static_cast<uint32_t>(c) * 13 + 1);
    st.erase_binding(gone);
    now->bindings.erase(gone);
    const auto fresh = make_binding(bindings + static_cast<uint32_t>(c));
    st.put_binding(fresh);
    now->put(fresh);
}

// What the stop of a store commits: a flushed batch and changes only staged, no sync_now.
inline void expect_destructor_commits_what_was_staged(StateConfig::Backend backend)
{
    TempDir t;
    std::string err;
    {
        StateImage im;
        auto st = open_backend(backend, t.path, &im, &err, false);
        ASSERT_TRUE(st) << err;
        st->put_binding(make_binding(1));
        st->flush();
        st->put_binding(make_binding(2));
        st->put_mr(make_mr(1, true));
        st->put_seq(9, {1, 2});
        // No sync_now, no flush: the stop must commit them.
    }
    StateImage im;
    auto st = open_backend(backend, t.path, &im, &err, false);
    ASSERT_TRUE(st) << err;
    EXPECT_EQ(im.bindings.size(), 2u);
    EXPECT_EQ(im.mrs.size(), 1u);
    EXPECT_EQ(im.seqs.count(9), 1u);
}

// A second open of a store held by a first is refused, naming the holder, and changes nothing of the first's.
inline void expect_second_open_refused(StateConfig::Backend backend)
{
    TempDir t;
    std::string err;
    StateImage im;
    auto first = open_backend(backend, t.path, &im, &err, false);
    ASSERT_TRUE(first) << err;
    first->put_binding(make_binding(1));
    ASSERT_TRUE(first->sync_now(&err)) << err;
    StateImage im2;
    auto second = open_backend(backend, t.path, &im2, &err, false);
    EXPECT_FALSE(second);
    EXPECT_TRUE(contains(err, "in use by another nemo-ha")) << err;
    EXPECT_TRUE(contains(err, t.path.string())) << err;
    EXPECT_TRUE(contains(err, "(pid " + std::to_string(::getpid()) + ")")) << err;
    // The refused open changed nothing of the first's.
    first->put_binding(make_binding(2));
    ASSERT_TRUE(first->sync_now(&err)) << err;
    first.reset();
    auto again = open_backend(backend, t.path, &im2, &err, false);
    ASSERT_TRUE(again) << err;
    EXPECT_EQ(im2.bindings.size(), 2u);
}

// A state.dir whose parent is not there, or that is a file, is refused with its path named.
inline void expect_unusable_dirs_named(StateConfig::Backend backend, const fs::path& base)
{
    std::string err;
    StateImage im;
    EXPECT_FALSE(open_backend(backend, base / "no" / "such", &im, &err, false));
    EXPECT_TRUE(contains(err, (base / "no" / "such").string())) << err;
    spit(base / "file", "x");
    EXPECT_FALSE(open_backend(backend, base / "file", &im, &err, false));
    EXPECT_TRUE(contains(err, (base / "file").string() + ": not a directory")) << err;
}

// A tmpfs of size() mounted for each test (root only: skipped otherwise), unmounted after it.
class TmpfsTest : public ::testing::Test {
protected:
    virtual const char* size() const = 0;
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
        std::string tmpl = (fs::temp_directory_path() / "nemo-state-mnt-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        mnt_ = tmpl;
        const std::string opts = std::string("size=") + size() + ",mode=0700";
        if (::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, opts.c_str()) != 0)
            GTEST_SKIP() << "cannot mount a tmpfs on " << mnt_ << ": " << std::strerror(errno);
        mounted_ = true;
    }
    void TearDown() override
    {
        if (mounted_ && ::umount(mnt_.c_str()) != 0) {
            ADD_FAILURE() << "umount " << mnt_ << ": " << std::strerror(errno);
            ::umount2(mnt_.c_str(), MNT_DETACH);
        }
        std::error_code ec;
        if (!mnt_.empty()) fs::remove(mnt_, ec);
    }
    bool remount(bool read_only)
    {
        const std::string opts = std::string("size=") + size();
        return ::mount("tmpfs", mnt_.c_str(), "tmpfs", MS_REMOUNT | (read_only ? MS_RDONLY : 0), opts.c_str()) == 0;
    }
    fs::path mnt_;
    bool mounted_ = false;
};

} // namespace nemo::control::state_test
