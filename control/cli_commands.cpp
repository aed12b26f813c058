// The operator commands behind `nemo-hactl`: parsing, execution against the control plane's state, and
// output as aligned tables for people or JSON with --json.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <cstdio>

#include <rte_cycles.h>
#include <sstream>
#include <variant>

#include "control_plane.hpp"
#include "json.hpp"
#include "key_material.hpp"
#include "number.hpp"
#include "provision_text.hpp"
#include "sa_text.hpp"
#include "version.hpp"

namespace nemo::control {

namespace {

using Words = std::vector<std::string>;
using Result = ControlPlane::CliResult;

const char* kUsage =
    "usage: nemo-hactl [--json] COMMAND\n"
    "  show bindings [hoa ADDR | prefix PREFIX | coa ADDR] [limit N]\n"
    "  show bindings summary\n"
    "  show binding HOA\n"
    "  clear binding HOA\n"
    "  show stats\n"
    "  show stats rate [--interval S] [--count N]   (nemo-hactl: the counters that moved, per second)\n"
    "  show runtime\n"
    "  clear runtime\n"
    "  show state\n"
    "  show cluster\n"
    "  show config\n"
    "  show mr [HOA]\n"
    "  add mr [--replace] HOA [router|host] [prefixes=P,...] [methods=M,...] [ike-id=ID]\n"
    "  del mr HOA\n"
    "  show sa [SPI]\n"
    "  show ike [ID|HOA|SPI]\n"
    "  clear ike ID|HOA|SPI|all\n"
    "  add sa in|out SPI HOA ALGORITHM enc=HEX|@FILE|- [auth=HEX|@FILE|-] [esn] [window=N] [life-bytes=N] [life-packets=N]\n"
    "  del sa SPI\n"
    "  reload\n"
    "  show version\n"
    "  help\n"
    "numbers (SPI, N) are decimal, or hexadecimal after 0x; a leading zero is still decimal\n";

Result fail(const std::string& msg) { return {false, "error: " + msg + "\n" + kUsage}; }

std::string table(const std::vector<std::vector<std::string>>& rows, std::vector<std::size_t>* widths = nullptr)
{
    return text_table(rows, widths);
}

std::string care_of_text(const CareOf& c)
{
    if (c.method == TunnelMethod::ipv6) return c.v6.str();
    std::string s = c.v4.str();
    const bool udp = c.method == TunnelMethod::udp || c.method == TunnelMethod::esp_udp;
    if (udp && c.v4_port) s += ":" + std::to_string(c.v4_port);
    if (c.behind_nat) s += " via " + c.peer.str() + (udp ? ":" + std::to_string(c.peer_port) : "");
    return s;
}

std::string prefixes_text(const std::vector<Prefix6>& p)
{
    if (p.empty()) return "-";
    return p.size() == 1 ? p[0].str() : p[0].str() + " (+" + std::to_string(p.size() - 1) + ")";
}

// As `show sa` writes SPIs, with the decimal value too so that '010' visibly meant ten.
std::string spi_text(uint32_t spi)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%x (%u)", spi, spi);
    return buf;
}

// `show runtime`: per worker, its samples less the baseline `clear runtime` took (a worker that is
// not in the baseline counts from zero).
std::string runtime_text(const std::vector<dp::RuntimeSample>& now, const std::vector<dp::RuntimeSample>& base, bool json)
{
    auto ratio = [](uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
    auto fixed = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.1f", v);
        return std::string(buf);
    };
    const uint64_t hz = rte_get_tsc_hz();
    Json j;
    if (json) j.begin_object().field("tsc_hz", hz).key("workers").begin_array();
    const uint64_t every = now.empty() ? 1 : now[0].timed_one_burst_in;
    std::string text = "TSC " + fixed(static_cast<double>(hz) / 1e6) + " MHz; TSC cycles per packet of each stage, timed on one burst in " +
                       std::to_string(every) + "\n";
    std::vector<std::vector<std::string>> rows = {{"WORKER", "POLLS", "BURSTS", "PACKETS", "PKTS/BURST"}};
    for (std::size_t s = 0; s < dp::kStageCount; ++s) rows[0].push_back(dp::stage_name(static_cast<dp::Stage>(s)));
    rows[0].push_back("total");
    for (std::size_t w = 0; w < now.size(); ++w) {
        dp::RuntimeSample d = now[w];
        if (w < base.size()) {
            const dp::RuntimeSample& b = base[w];
            d.polls -= b.polls;
            d.bursts -= b.bursts;
            d.rx -= b.rx;
            for (std::size_t s = 0; s < dp::kStageCount; ++s) {
                d.cycles[s] -= b.cycles[s];
                d.packets[s] -= b.packets[s];
            }
        }
        // Stage packets are those of the timed bursts; the total is over them too (classify saw every
        // packet of a timed burst).
        uint64_t total = 0;
        for (uint64_t c : d.cycles) total += c;
        const uint64_t timed_packets = d.packets[static_cast<std::size_t>(dp::Stage::classify)];
        if (json) {
            j.begin_object().field("worker", uint64_t{w}).field("polls", d.polls).field("bursts", d.bursts);
            j.field("packets", d.rx).field("packets_per_burst", ratio(d.rx, d.bursts)).field("timed_one_burst_in", d.timed_one_burst_in);
            j.field("cycles", total).field("cycles_per_packet", ratio(total, timed_packets)).key("stages").begin_object();
            for (std::size_t s = 0; s < dp::kStageCount; ++s) {
                j.key(dp::stage_name(static_cast<dp::Stage>(s))).begin_object();
                j.field("packets", d.packets[s]).field("cycles", d.cycles[s]).field("cycles_per_packet", ratio(d.cycles[s], d.packets[s]));
                j.end_object();
            }
            j.end_object().end_object();
            continue;
        }
        std::vector<std::string> r = {std::to_string(w), std::to_string(d.polls), std::to_string(d.bursts), std::to_string(d.rx),
                                      fixed(ratio(d.rx, d.bursts))};
        for (std::size_t s = 0; s < dp::kStageCount; ++s) r.push_back(d.packets[s] ? fixed(ratio(d.cycles[s], d.packets[s])) : "-");
        r.push_back(timed_packets ? fixed(ratio(total, timed_packets)) : "-");
        rows.push_back(std::move(r));
    }
    if (json) return j.end_array().end_object().str();
    return text + table(rows);
}

uint64_t left(uint64_t expires, uint64_t now) { return expires > now ? expires - now : 0; }

void binding_json(Json& j, const BindingEntry& e, uint64_t now)
{
    const Binding& b = e.binding;
    j.begin_object()
        .field("hoa", b.hoa.str())
        .field("kind", b.mobile_router ? "mobile-router" : "mobile-host")
        .field("method", method_name(b.coa.method));
    if (b.coa.method == TunnelMethod::ipv6) {
        j.field("care_of", b.coa.v6.str());
    } else {
        j.field("care_of", b.coa.v4.str()).field("care_of_port", unsigned{b.coa.v4_port});
        j.field("peer", b.coa.peer.str()).field("peer_port", unsigned{b.coa.peer_port});
        j.field("behind_nat", b.coa.behind_nat);
    }
    j.key("prefixes").begin_array();
    for (const auto& p : b.prefixes) j.value(p.str());
    j.end_array();
    j.field("sequence", unsigned{b.seq})
        .field("lifetime", unsigned{b.lifetime})
        .field("expires_in", left(b.expires, now))
        .field("age", now - b.created)
        .field("since_update", now - b.updated)
        .field("registrations", e.registrations)
        .field("rejections", e.rejections)
        .field("last_status", unsigned{e.last_status})
        .field("proxy_nd", b.proxy_nd)
        .field("slot", unsigned{e.slot})
        .end_object();
}

bool matches(const BindingEntry& e, const std::string& kind, const std::string& arg)
{
    const Binding& b = e.binding;
    if (kind == "hoa") return b.hoa.str() == arg || Ipv6Addr::parse(arg) == b.hoa;
    if (kind == "prefix") {
        auto p = Prefix6::parse(arg);
        if (!p) return false;
        if (p->contains(b.hoa)) return true;
        return std::any_of(b.prefixes.begin(), b.prefixes.end(), [&](const Prefix6& q) { return q.overlaps(*p); });
    }
    if (kind == "coa") {
        if (auto v4 = Ipv4Addr::parse(arg))
            return uses_ipv4(b.coa.method) && (b.coa.v4 == *v4 || b.coa.peer == *v4);
        if (auto v6 = Ipv6Addr::parse(arg)) return b.coa.method == TunnelMethod::ipv6 && b.coa.v6 == *v6;
    }
    return false;
}

} // namespace

// One page of `show bindings`: the next kCliPageBindings matching bindings after the last one listed, in
// home-address order, found in one walk of the cache that keeps only the page's smallest (a heap). A
// binding that lives through the whole listing is listed once; one added or removed meanwhile may or may
// not be. The first page carries the header, the last the count.
bool ControlPlane::bindings_page(BindingListing& l, std::string& out)
{
    const uint64_t now = cli_now_;
    const auto by_hoa = [](const BindingEntry* a, const BindingEntry* b) { return a->binding.hoa < b->binding.hoa; };
    const auto wanted = [&](const BindingEntry& e) {
        return (!l.after || *l.after < e.binding.hoa) && (l.kind.empty() || matches(e, l.kind, l.arg));
    };
    const bool first = !l.started;
    l.started = true;
    const std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(kCliPageBindings, l.limit - l.shown));
    std::vector<const BindingEntry*> page;
    page.reserve(want);
    uint64_t not_shown = 0;
    cache_.for_each([&](const BindingEntry& e) {
        if (!wanted(e)) return;
        if (want == 0) {
            ++not_shown;
        } else if (page.size() < want) {
            page.push_back(&e);
            std::push_heap(page.begin(), page.end(), by_hoa);
        } else if (e.binding.hoa < page.front()->binding.hoa) {
            std::pop_heap(page.begin(), page.end(), by_hoa);
            page.back() = &e;
            std::push_heap(page.begin(), page.end(), by_hoa);
        }
    });
    std::sort_heap(page.begin(), page.end(), by_hoa);
    // The last page is one that came up short (nothing after it) or the one after the limit was reached.
    const bool last = want == 0 || page.size() < want;
    l.shown += page.size();
    if (!page.empty()) l.after = page.back()->binding.hoa;

    if (l.json) {
        if (first) l.j.begin_object().key("bindings").begin_array();
        for (const auto* e : page) binding_json(l.j, *e, now);
        if (last) l.j.end_array().field("not_shown", not_shown).end_object();
        out += l.j.take();
        if (last) out += '\n';
        return !last;
    }
    std::vector<std::vector<std::string>> rows;
    rows.reserve(page.size() + 1);
    if (first) rows.push_back({"HOA", "KIND", "METHOD", "CARE-OF", "PREFIXES", "SEQ", "LIFETIME", "EXPIRES-IN"});
    for (const auto* e : page) {
        const Binding& b = e->binding;
        rows.push_back({b.hoa.str(), b.mobile_router ? "router" : "host", std::string(method_name(b.coa.method)),
                        care_of_text(b.coa), prefixes_text(b.prefixes), std::to_string(b.seq),
                        std::to_string(b.lifetime), std::to_string(left(b.expires, now))});
    }
    out += table(rows, &l.widths);
    if (last) {
        out += std::to_string(l.shown) + " binding(s)";
        if (not_shown) out += ", " + std::to_string(not_shown) + " more not shown (use limit N or a filter)";
        out += "\n";
    }
    return !last;
}

ControlPlane::CliResult ControlPlane::run_command(const std::vector<std::string>& all_words, uint64_t now)
{
    cli_now_ = now;
    Words w;
    w.reserve(all_words.size());
    // `add sa` words carry keys: every copy made here is cleared on the way out.
    struct WipeWords {
        Words& w;
        ~WipeWords()
        {
            for (auto& word : w) wipe(word);
        }
    } wipe_words{w};
    bool json = false;
    for (const auto& word : all_words) {
        if (word == "--json") json = true;
        else w.push_back(word);
    }
    auto is = [&](std::initializer_list<const char*> pattern) {
        if (w.size() < pattern.size()) return false;
        std::size_t i = 0;
        for (const char* p : pattern)
            if (w[i++] != p) return false;
        return true;
    };

    // Operator changes go to the state store and are durable before the answer; while the store cannot
    // write they are refused (made only in memory, a restart would undo them).
    auto refuse_while_store_fails = [&]() -> std::optional<Result> {
        if (!store_ || !store_->refusing()) return std::nullopt;
        return Result{false, "error: the state store cannot write (" + store_->status().error + "): nothing changed\n"};
    };
    auto durable = [&](Result r) {
        if (auto e = persist_operator_change()) return Result{false, "error: " + *e + "\n"};
        return r;
    };

    if (w.empty() || is({"help"})) return {w.empty() ? false : true, w.empty() ? std::string("error: no command\n") + kUsage : kUsage};

    if (is({"show", "version"})) {
        if (json) return {true, Json().begin_object().field("version", kVersion).end_object().str()};
        return {true, std::string("nemo-ha ") + kVersion + "\n"};
    }

    if (is({"show", "bindings", "summary"})) {
        if (w.size() != 3) return fail("'show bindings summary' takes no arguments");
        const BindingSummary s = cache_.summary();
        if (json) {
            Json j;
            j.begin_object().field("bindings", uint64_t{s.total}).field("capacity", uint64_t{cache_.capacity()});
            j.field("mobile_routers", uint64_t{s.mobile_routers}).field("behind_nat", uint64_t{s.behind_nat});
            j.field("prefixes", uint64_t{s.prefixes}).key("by_method").begin_object();
            for (int m = 0; m < kTunnelMethodCount; ++m)
                j.field(method_name(static_cast<TunnelMethod>(m)), uint64_t{s.by_method[m]});
            return {true, j.end_object().end_object().str()};
        }
        std::vector<std::vector<std::string>> rows = {
            {"bindings", std::to_string(s.total) + " of " + std::to_string(cache_.capacity())},
            {"mobile routers", std::to_string(s.mobile_routers)},
            {"behind a NAT", std::to_string(s.behind_nat)},
            {"mobile network prefixes", std::to_string(s.prefixes)}};
        for (int m = 0; m < kTunnelMethodCount; ++m)
            rows.push_back({"method " + std::string(method_name(static_cast<TunnelMethod>(m))), std::to_string(s.by_method[m])});
        return {true, table(rows)};
    }

    if (is({"show", "bindings"})) {
        std::string kind, arg;
        uint64_t limit = 1000;
        for (std::size_t i = 2; i < w.size(); i += 2) {
            if (i + 1 >= w.size()) return fail("'" + w[i] + "' needs a value");
            if (w[i] == "hoa" || w[i] == "prefix" || w[i] == "coa") {
                kind = w[i];
                arg = w[i + 1];
                const bool valid = kind == "prefix" ? Prefix6::parse(arg).has_value()
                                   : kind == "hoa" ? Ipv6Addr::parse(arg).has_value()
                                                   : (Ipv4Addr::parse(arg) || Ipv6Addr::parse(arg));
                if (!valid) return fail("'" + arg + "' is not a valid " + kind);
            } else if (w[i] == "limit") {
                auto n = read_number(w[i + 1]);
                if (auto* e = std::get_if<std::string>(&n)) return fail("limit: " + *e);
                limit = std::get<uint64_t>(n);
            } else {
                return fail("unknown filter '" + w[i] + "'");
            }
        }
        // Built a page per call, so that listing every binding never holds the control loop (and
        // signaling) for more than one page, nor builds more than a page of text.
        auto listing = std::make_shared<BindingListing>();
        listing->kind = kind;
        listing->arg = arg;
        listing->limit = limit;
        listing->json = json;
        CliResult r;
        r.more = [this, listing](std::string& out) { return bindings_page(*listing, out); };
        return r;
    }

    if (is({"show", "binding"}) || is({"clear", "binding"})) {
        if (w.size() != 3) return fail("'" + w[0] + " binding' takes one home address");
        auto hoa = Ipv6Addr::parse(w[2]);
        if (!hoa) return fail("'" + w[2] + "' is not an IPv6 address");
        const BindingEntry* e = cache_.find(*hoa);
        if (!e) return {false, "error: no binding for " + hoa->str() + "\n"};
        if (w[0] == "clear") {
            cache_.clear(*hoa, now);
            stats_.inc(Counter::bindings_cleared);
            return {true, json ? Json().begin_object().field("cleared", hoa->str()).end_object().str()
                               : "binding for " + hoa->str() + " cleared\n"};
        }
        if (json) {
            Json j;
            binding_json(j, *e, now);
            return {true, j.str()};
        }
        const Binding& b = e->binding;
        std::vector<std::vector<std::string>> rows = {
            {"home address", b.hoa.str()},
            {"kind", b.mobile_router ? "mobile router" : "mobile host (HoA defended by proxy ND)"},
            {"tunnel method", std::string(method_name(b.coa.method))},
            {"care-of address", care_of_text(b.coa)}};
        if (uses_ipv4(b.coa.method)) {
            rows.push_back({"tunnel far end", b.coa.peer.str() + (b.coa.peer_port ? ":" + std::to_string(b.coa.peer_port) : "")});
            rows.push_back({"behind a NAT", b.coa.behind_nat ? "yes" : "no"});
        }
        for (std::size_t i = 0; i < b.prefixes.size(); ++i)
            rows.push_back({i == 0 ? "mobile network prefixes" : "", b.prefixes[i].str()});
        if (b.prefixes.empty()) rows.push_back({"mobile network prefixes", "-"});
        rows.push_back({"sequence number", std::to_string(b.seq)});
        rows.push_back({"lifetime granted", std::to_string(b.lifetime) + " s"});
        rows.push_back({"expires in", std::to_string(left(b.expires, now)) + " s"});
        rows.push_back({"created", std::to_string(now - b.created) + " s ago"});
        rows.push_back({"last update", std::to_string(now - b.updated) + " s ago"});
        rows.push_back({"registrations", std::to_string(e->registrations)});
        rows.push_back({"rejected since", std::to_string(e->rejections) + " (last BA status " + std::to_string(e->last_status) + ")"});
        rows.push_back({"table slot", std::to_string(e->slot)});
        return {true, table(rows)};
    }

    if (is({"show", "state"})) {
        if (w.size() != 2) return fail("'show state' takes no argument");
        return {true, show_state(json)};
    }

    if (is({"show", "cluster"})) {
        if (w.size() != 2) return fail("'show cluster' takes no argument");
        if (!cluster_) return {false, "error: not in a cluster (state.backend is " + std::string(backend_name(config_.state.backend)) + ", not etcd)\n"};
        return {true, show_cluster(json)};
    }

    if (is({"show", "ike"}) || is({"clear", "ike"})) {
        const bool clear = w[0] == "clear";
        if (w.size() > 3 || (clear && w.size() != 3)) return fail(clear ? "'clear ike' takes ID, HOA, SPI or all" : "'show ike' takes at most one ID, HOA or SPI");
        if (!ike_) return {false, "error: IKEv2 is off (ike.enabled = no)\n"};
        const uint64_t now_ms = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
        if (clear) {
            const std::size_t n = ike_->clear(w[2], now_ms, ike_cli_out_);
            if (n == 0) return {false, "error: no IKE SA matches " + w[2] + "\n"};
            if (json) return {true, Json().begin_object().field("cleared", uint64_t{n}).end_object().str()};
            return {true, std::to_string(n) + " IKE SA(s) deleted (the peer is told)\n"};
        }
        return {true, ike_->show(w.size() == 3 ? std::string_view(w[2]) : std::string_view{}, json, now_ms)};
    }

    if (is({"show", "stats"})) {
        if (w.size() != 2) return fail("'show stats' takes no arguments");
        const BindingSummary s = cache_.summary();
        if (json) {
            Json j;
            j.begin_object().key("counters").begin_object();
            for (std::size_t i = 0; i < kCounterCount; ++i)
                j.field(counter_name(static_cast<Counter>(i)), stats_.get(static_cast<Counter>(i)));
            j.end_object().key("state").begin_object();
            j.field("bindings", uint64_t{s.total}).field("binding_capacity", uint64_t{cache_.capacity()});
            j.field("published_records", uint64_t{tables_->published()});
            j.field("provisioned", uint64_t{provisioning_.size()});
            j.end_object().key("dataplane").begin_object();
            for (const auto& [name, value] : extra_stats()) j.field(name, value);
            j.end_object();
            if (ike_) {
                j.key("ike").begin_object();
                for (const auto& [name, value] : ike_->stats()) j.field(name, value);
                j.end_object();
            }
            return {true, j.end_object().str()};
        }
        std::vector<std::vector<std::string>> rows = {{"COUNTER", "VALUE", "MEANING"}};
        for (std::size_t i = 0; i < kCounterCount; ++i) {
            const auto c = static_cast<Counter>(i);
            rows.push_back({std::string(counter_name(c)), std::to_string(stats_.get(c)), std::string(counter_help(c))});
        }
        rows.push_back({"bindings", std::to_string(s.total), "live bindings"});
        rows.push_back({"provisioned", std::to_string(provisioning_.size()), "mobile nodes provisioned"});
        for (const auto& [name, value] : extra_stats()) rows.push_back({"dataplane." + name, std::to_string(value), ""});
        if (ike_)
            for (const auto& [name, value] : ike_->stats()) rows.push_back({name, std::to_string(value), ""});
        return {true, table(rows)};
    }

    if (is({"show", "runtime"}) || is({"clear", "runtime"})) {
        if (w.size() != 2) return fail("'" + w[0] + " runtime' takes no arguments");
        if (!runtime_) return {false, "error: no workers report their runtime here\n"};
        if (w[0] == "clear") {
            runtime_base_ = runtime_();
            return {true, json ? Json().begin_object().field("cleared", "runtime").end_object().str() : "runtime counters cleared\n"};
        }
        return {true, runtime_text(runtime_(), runtime_base_, json)};
    }

    if (is({"show", "config"})) {
        if (w.size() != 2) return fail("'show config' takes no arguments");
        if (!json) return {true, render_config(config_)};
        const HaParams& ha = config_.ha;
        Json j;
        j.begin_object().key("ipv6").begin_array();
        for (const auto& a : ha.ipv6_addresses) j.value(a.str());
        j.end_array().key("ipv4").begin_array();
        for (const auto& a : ha.ipv4_addresses) j.value(a.str());
        j.end_array()
            .field("home_prefix", ha.home_prefix.str())
            .field("home_prefix_valid_lifetime", unsigned{ha.home_prefix_valid_lifetime})
            .field("max_lifetime", unsigned{ha.max_binding_lifetime})
            .field("accept_mobile_routers", ha.accept_mobile_routers)
            .field("methods", format_methods(ha.methods))
            .field("udp_port", unsigned{ha.udp_port})
            .field("allow_unprotected_signaling", ha.allow_unprotected_signaling)
            .field("ipv4_coa_option_type", unsigned{ha.option_types.ipv4_coa})
            .field("status_tunnel_unsupported", unsigned{ha.status_tunnel_unsupported})
            .field("status_invalid_coa", unsigned{ha.status_invalid_coa})
            .field("binding_capacity", unsigned{config_.binding_capacity})
            .field("cli_socket", config_.cli_socket)
            .field("origin", config_.origin);
        return {true, j.end_object().str()};
    }

    if (is({"show", "mr"})) {
        std::vector<const MrProvision*> list;
        if (w.size() == 3) {
            auto hoa = Ipv6Addr::parse(w[2]);
            if (!hoa) return fail("'" + w[2] + "' is not an IPv6 address");
            const MrProvision* mr = provisioning_.find(*hoa);
            if (!mr) return {false, "error: " + hoa->str() + " is not provisioned\n"};
            list.push_back(mr);
        } else if (w.size() == 2) {
            provisioning_.for_each([&](const MrProvision& mr) {
                if (list.size() < 1000) list.push_back(&mr);
            });
            std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->hoa < b->hoa; });
        } else {
            return fail("'show mr' takes at most one home address");
        }
        if (json) {
            Json j;
            j.begin_object().key("mobile_nodes").begin_array();
            for (const auto* mr : list) {
                j.begin_object().field("hoa", mr->hoa.str()).field("router", mr->mobile_router);
                j.key("prefixes").begin_array();
                for (const auto& p : mr->prefixes) j.value(p.str());
                j.end_array().field("methods", format_methods(mr->methods)).end_object();
            }
            j.end_array().field("total", uint64_t{provisioning_.size()});
            return {true, j.end_object().str()};
        }
        std::string out;
        for (const auto* mr : list) out += format_provision(*mr) + "\n";
        out += std::to_string(list.size()) + " of " + std::to_string(provisioning_.size()) + " provisioned\n";
        return {true, out};
    }

    if (is({"add", "mr"})) {
        std::size_t first = 2;
        const bool replace = w.size() > 2 && w[2] == "--replace";
        if (replace) ++first;
        std::string spec;
        for (std::size_t i = first; i < w.size(); ++i) spec += (spec.empty() ? "" : " ") + w[i];
        auto parsed = parse_provision(spec);
        if (auto* e = std::get_if<std::string>(&parsed)) return fail(*e);
        const MrProvision& mr = std::get<MrProvision>(parsed);
        if (!config_.ha.home_prefix.contains(mr.hoa))
            return fail(mr.hoa.str() + " is not on the home prefix " + config_.ha.home_prefix.str());
        if (auto e = refuse_while_store_fails()) return *e;
        if (auto e = provisioning_.add(mr, replace)) return {false, "error: " + *e + "\n"};
        operator_mrs_[mr.hoa] = MrChange{true, mr};
        if (store_) store_->put_mr(MrChange{true, mr});
        return durable({true, json ? Json().begin_object().field("provisioned", format_provision(mr)).end_object().str()
                                   : "provisioned " + format_provision(mr) + "\n"});
    }

    if (is({"del", "mr"})) {
        if (w.size() != 3) return fail("'del mr' takes one home address");
        auto hoa = Ipv6Addr::parse(w[2]);
        if (!hoa) return fail("'" + w[2] + "' is not an IPv6 address");
        if (auto e = refuse_while_store_fails()) return *e;
        if (!provisioning_.remove(*hoa)) return {false, "error: " + hoa->str() + " is not provisioned\n"};
        operator_mrs_[*hoa] = MrChange{false, MrProvision{*hoa, false, {}, 0, {}}};
        if (store_) store_->put_mr(MrChange{false, MrProvision{*hoa, false, {}, 0, {}}});
        // No longer served: its binding goes too.
        const bool had_binding = cache_.clear(*hoa, now);
        if (had_binding) stats_.inc(Counter::bindings_cleared);
        std::string msg = "removed " + hoa->str() + (had_binding ? " and its binding" : "");
        return durable({true, json ? Json().begin_object().field("removed", hoa->str()).field("binding_cleared", had_binding).end_object().str()
                                   : msg + "\n"});
    }

    if (is({"show", "sa"})) {
        std::optional<uint32_t> only;
        if (w.size() == 3) {
            auto n = read_number(w[2], 0, 0xFFFFFFFF);
            if (auto* e = std::get_if<std::string>(&n)) return fail("SPI: " + *e);
            only = static_cast<uint32_t>(std::get<uint64_t>(n));
        } else if (w.size() > 3) {
            return fail("'show sa' takes at most one SPI");
        }
        std::vector<std::vector<std::string>> rows = {{"SA (keys hidden)", "PACKETS", "BYTES", "REPLAYED", "TOO-OLD", "ICV", "PADDING", "EXPIRED", "EXHAUSTED"}};
        Json j;
        j.begin_object().key("sas").begin_array();
        std::size_t shown = 0;
        for (const dp::SaEntry* e : sas_->list()) {
            if (only && e->cfg.spi != *only) continue;
            ++shown;
            using K = dp::SaCounter;
            rows.push_back({format_sa(e->cfg), std::to_string(e->get(K::packets)), std::to_string(e->get(K::bytes)),
                            std::to_string(e->get(K::drop_replayed)), std::to_string(e->get(K::drop_too_old)),
                            std::to_string(e->get(K::drop_icv)), std::to_string(e->get(K::drop_padding)),
                            std::to_string(e->get(K::drop_expired)),
                            // RFC 4303 3.3.3: an SA that sent its last sequence number must be replaced.
                            e->exhausted() ? "yes (" + std::to_string(e->get(K::drop_exhausted)) + " dropped)" : "no"});
            j.begin_object().field("sa", format_sa(e->cfg)).field("spi", unsigned{e->cfg.spi}).field("inbound", e->cfg.inbound);
            j.field("exhausted", e->exhausted());
            for (std::size_t k = 0; k < static_cast<std::size_t>(K::count_); ++k)
                j.field(dp::sa_counter_name(static_cast<K>(k)), e->get(static_cast<K>(k)));
            j.end_object();
        }
        if (only && !shown) return {false, "error: no SA with SPI " + spi_text(*only) + "\n"};
        if (json) return {true, j.end_array().end_object().str()};
        return {true, table(rows)};
    }

    if (is({"add", "sa"})) {
        if (cluster_) {
            for (std::string& word : w) wipe(word);
            return {false, "error: ESP SAs are not kept in a cluster (state.backend = etcd): nothing changed\n"};
        }
        std::string spec;
        std::size_t len = 0;
        for (std::size_t i = 2; i < w.size(); ++i) len += w[i].size() + 1;
        spec.reserve(len); // built without regrowth, then wiped with the words: the line holds keys
        for (std::size_t i = 2; i < w.size(); ++i) (spec += spec.empty() ? "" : " ") += w[i];
        auto sa = parse_sa(spec);
        wipe(spec);
        for (std::string& word : w) wipe(word);
        if (auto* e = std::get_if<std::string>(&sa)) return fail(*e);
        SaConfig& cfg = std::get<SaConfig>(sa);
        if (auto e = refuse_while_store_fails()) {
            wipe(cfg.enc_key);
            wipe(cfg.auth_key);
            return *e;
        }
        auto added = sas_->add(cfg);
        // The store keeps the keys (a restart must not lose the SA); its directory is nemo-ha's alone.
        if (!added) operator_sas_[cfg.spi] = true;
        if (!added && store_) store_->put_sa(SaChange{true, cfg});
        const std::string shown = format_sa(cfg);
        wipe(cfg.enc_key);
        wipe(cfg.auth_key);
        if (added) return {false, "error: " + *added + "\n"};
        return durable({true, "added " + shown + "\n"});
    }

    if (is({"del", "sa"})) {
        if (w.size() != 3) return fail("'del sa' takes one SPI");
        auto n = read_number(w[2], 0, 0xFFFFFFFF);
        if (auto* e = std::get_if<std::string>(&n)) return fail("SPI: " + *e);
        const auto spi = static_cast<uint32_t>(std::get<uint64_t>(n));
        if (auto e = refuse_while_store_fails()) return *e;
        for (const dp::SaEntry* e : sas_->list())
            if (e->cfg.spi == spi && e->cfg.negotiated)
                return {false, "error: the SA with SPI " + spi_text(spi) + " was negotiated by IKEv2: 'clear ike' ends it\n"};
        if (!sas_->remove(spi)) return {false, "error: no SA with SPI " + spi_text(spi) + "\n"};
        operator_sas_[spi] = false;
        if (store_) {
            SaChange gone{false, {}};
            gone.sa.spi = spi;
            store_->put_sa(gone);
        }
        return durable({true, "removed SA " + spi_text(spi) + "\n"});
    }

    if (is({"reload"})) {
        if (w.size() != 1) return fail("'reload' takes no arguments");
        const ReloadReport r = reload();
        if (!r.ok) return {false, "error: reload refused, nothing changed: " + r.error + "\n"};
        if (json) {
            Json j;
            j.begin_object().field("reloaded", r.origin).field("provisioning_file", r.provisioning_file);
            j.key("mobile_nodes").begin_object().field("added", uint64_t{r.mr_added}).field("removed", uint64_t{r.mr_removed});
            j.field("changed", uint64_t{r.mr_changed}).field("unchanged", uint64_t{r.mr_unchanged}).end_object();
            j.key("sas").begin_object().field("added", uint64_t{r.sa_added}).field("removed", uint64_t{r.sa_removed});
            j.field("unchanged", uint64_t{r.sa_unchanged}).end_object();
            j.field("bindings_removed", uint64_t{r.bindings_removed}).field("restart_needed", r.restart_needed);
            j.field("warning", r.warning);
            return {true, j.end_object().str()};
        }
        std::vector<std::vector<std::string>> rows = {
            {"reloaded", r.origin + (r.provisioning_file.empty() ? "" : " and " + r.provisioning_file)},
            {"mobile nodes", std::to_string(r.mr_added) + " added, " + std::to_string(r.mr_removed) + " removed, " +
                                 std::to_string(r.mr_changed) + " changed, " + std::to_string(r.mr_unchanged) + " unchanged"},
            {"SAs", std::to_string(r.sa_added) + " added, " + std::to_string(r.sa_removed) + " removed, " +
                        std::to_string(r.sa_unchanged) + " unchanged"},
            {"bindings removed", std::to_string(r.bindings_removed)}};
        if (r.restart_needed)
            rows.push_back({"not applied", "other settings of " + r.origin + " changed: they apply at the next restart"});
        if (!r.warning.empty()) rows.push_back({"warning", r.warning});
        return {true, table(rows)};
    }

    std::string joined;
    for (const auto& word : w) joined += (joined.empty() ? "" : " ") + word;
    return fail("unknown command '" + hide_keys(joined) + "'"); // a mistyped `add sa` may hold keys
}

std::string ControlPlane::show_state(bool json) const
{
    if (!store_) {
        if (json) return Json().begin_object().field("backend", "none").end_object().str();
        return "backend none: nothing survives a restart (state.backend = none)\n";
    }
    const StateStatus st = store_->status();
    if (json) {
        Json j;
        j.begin_object()
            .field("backend", st.backend)
            .field("path", st.path)
            .field("size_bytes", st.size_bytes)
            .field("syncs", st.syncs)
            .field("syncs_last_second", st.syncs_last_second)
            .field("sync_failures", st.sync_failures)
            .field("records_written", st.records_written)
            .field("last_sync_unix_ms", st.last_sync_wall_ms)
            .field("last_sync_us", st.last_sync_us)
            .field("max_sync_us", st.max_sync_us)
            .field("staged_batch", st.staged)
            .field("durable_batch", st.durable)
            .field("refusing", st.refusing)
            .field("error", st.error);
        j.key("restored")
            .begin_object()
            .field("bindings", st.restored_bindings)
            .field("expired_while_down", st.expired_while_down)
            .field("unprovisioned", st.unprovisioned)
            .field("damaged", st.damaged)
            .field("not_reapplied", st.not_reapplied)
            .field("load_ms", st.load_ms)
            .field("restore_ms", st.restore_ms)
            .field("salvaged_from", st.salvaged_from)
            .end_object();
        return j.end_object().str();
    }
    const uint64_t now_ms = wall_ms();
    std::vector<std::vector<std::string>> rows = {
        {"backend", st.backend},
        {"path", st.path},
        {"size", std::to_string(st.size_bytes) + " bytes"},
        {"last sync", st.last_sync_wall_ms ? std::to_string(now_ms - std::min(now_ms, st.last_sync_wall_ms)) + " ms ago, took " +
                                                 std::to_string(st.last_sync_us) + " us (longest " + std::to_string(st.max_sync_us) + " us)"
                                           : "none yet"},
        {"syncs", std::to_string(st.syncs) + " (" + std::to_string(st.syncs_last_second) + " in the last second), " +
                      std::to_string(st.records_written) + " records written"},
        {"failures", std::to_string(st.sync_failures) + (st.refusing ? ", REFUSING changes: " + st.error : "")},
        {"restored at start", std::to_string(st.restored_bindings) + " bindings in " + std::to_string(st.load_ms + st.restore_ms) +
                                  " ms (read " + std::to_string(st.load_ms) + " ms); " + std::to_string(st.expired_while_down) +
                                  " expired while down, " + std::to_string(st.unprovisioned) + " no longer provisioned, " +
                                  std::to_string(st.damaged) + " damaged records, " + std::to_string(st.not_reapplied) +
                                  " operator changes not applied again"},
    };
    if (!st.salvaged_from.empty()) rows.push_back({"damaged file kept", st.salvaged_from});
    return table(rows);
}

} // namespace nemo::control
