#!/usr/bin/python3
"""Turns the benchmarks' Google Benchmark JSON into a markdown report with plots.

    scripts/bench_report.py --in DIR [--out bench/report.md] [--plots bench/plots] [--format svg|png]
                            [--note TEXT]

DIR holds what the bench scripts save with --json DIR (any of them; each section appears when its
files are there):
  pipeline.json     scripts/bench_pipeline.sh: nemo-ha's worker against the bare forward, per case
  control.json      scripts/bench.sh: control_bench (BM_BuToBa against BM_DecisionOnly, lookups)
  state.json        scripts/bench_state.sh: state_bench (BuToBa store on against store off)
  esp.json          scripts/bench_esp.sh: esp_bench; crypto_perf.json, dpdk-test-crypto-perf in the same run
  wire.json         scripts/bench.sh: wire_bench (not plotted; a table)

Every figure is given with its ratio to the baseline measured in the same run (the bare forward, the
decision alone, the store off, crypto-perf): these machines are shared, and absolute figures move
between runs. Where a case was repeated, a ratio is the median of the ratios of each repetition
(paired), and the range is shown.
"""
import argparse
import json
import os
import re
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RUN_SUFFIX = re.compile(r"(iterations|min_time|repeats|threads|min_warmup_time):[0-9.]+|manual_time|real_time|process_time")
METHOD_LABEL = {"ipip": "IPv6-in-IPv4", "gre": "GRE", "udp": "UDP", "ipv6": "IPv6-in-IPv6"}


# ---- reading ----

def load(path):
    """Google Benchmark JSON: its context, and per run name its iterations and aggregates."""
    with open(path) as f:
        doc = json.load(f)
    runs = {}
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        # Without the parts Google Benchmark adds for how a run was made (iterations:16, manual_time).
        name = "/".join(p for p in b.get("run_name", b["name"]).split("/") if not RUN_SUFFIX.fullmatch(p))
        r = runs.setdefault(name, {"iterations": [], "aggregates": {}})
        if b.get("run_type") == "aggregate":
            r["aggregates"][b.get("aggregate_name", "")] = b
        else:
            r["iterations"].append(b)
    return doc.get("context", {}), runs


def value(run, field):
    """The run's median of `field`: Google Benchmark's median aggregate when it wrote one, otherwise
    the median of the repetitions it holds."""
    if "median" in run["aggregates"] and field in run["aggregates"]["median"]:
        return run["aggregates"]["median"][field]
    vals = [b[field] for b in run["iterations"] if field in b]
    return statistics.median(vals) if vals else None


def span(vals, fmt):
    """median [min-max], or the value alone when there is one."""
    f = fmt.format if isinstance(fmt, str) else fmt
    m = f(statistics.median(vals))
    return m if len(vals) == 1 else f"{m} [{f(min(vals))}-{f(max(vals))}]"


def group(n):
    """1000000 -> '1 000 000'"""
    return f"{n:,}".replace(",", " ")


def fields(name):
    """'Pipeline/direction:down/size:64' -> {'direction': 'down', 'size': '64'}"""
    return dict(p.split(":", 1) for p in name.split("/")[1:] if ":" in p)


# ---- the sections ----

def pipeline(runs):
    """Cases keyed (direction, method, size, bindings): per repetition (bare, nemo, touch) in Mpps."""
    cases = defaultdict(dict)
    for name, r in runs.items():
        if not name.startswith("Pipeline/"):
            continue
        f = fields(name)
        method = f["method"] + (f"/{f['esp_alg']}" if "esp_alg" in f else "")
        key = (f["direction"], method, int(f["size"]), int(f["bindings"]))
        for b in r["iterations"]:
            cases[key][b.get("repetition_index", 0)] = (b["bare_forward_mpps"], b["nemo_mpps"],
                                                        b.get("touch_forward_mpps"))
    return cases


def pipeline_rows(cases):
    """One row per case, ratios paired per repetition: to the bare forward, of the touch ceiling to the
    bare forward, and to the IPv6-in-IPv4 case of the same direction, size and bindings (the peer)."""
    rows = []
    for key in sorted(cases, key=lambda k: (k[3], k[0] != "down", "/" in k[1], k[2], k[1])):
        dirn, method, size, bindings = key
        reps = cases[key]
        peer = cases.get((dirn, "ipip", size, bindings), {})
        row = {"key": key, "reps": len(reps),
               "bare": statistics.median(v[0] for v in reps.values()),
               "nemo": statistics.median(v[1] for v in reps.values()),
               "ratio": [v[1] / v[0] for v in reps.values() if v[0] > 0],
               "touch": [v[2] / v[0] for v in reps.values() if v[2] and v[0] > 0],
               "peer": [v[1] / peer[i][1] for i, v in reps.items()
                        if method != "ipip" and i in peer and peer[i][1] > 0]}
        rows.append(row)
    return rows


def bu_rates(control, state):
    """BU/s by bindings: control_bench's BU -> BA and the decision alone; state_bench store on and off
    (per repetition, paired)."""
    out = {"bu": {}, "decision": {}, "on": defaultdict(dict), "off": defaultdict(dict)}
    for name, r in control.items():
        m = re.fullmatch(r"BM_(BuToBa|DecisionOnly)/(\d+)", name)
        if m:
            out["bu" if m.group(1) == "BuToBa" else "decision"][int(m.group(2))] = value(r, "items_per_second")
    for name, r in state.items():
        m = re.fullmatch(r"BuToBa/routers:(\d+)/store:(on|off)/rep:(\d+)", name)
        if m and value(r, "BU_per_s") is not None:
            out[m.group(2)][int(m.group(1))][int(m.group(3))] = value(r, "BU_per_s")
    return out


def lookups(control):
    rows = {}
    for name, r in control.items():
        m = re.fullmatch(r"BM_(DownstreamBulk|UpstreamBulk)/(\d+)", name)
        if m:
            rows.setdefault(m.group(1), {})[int(m.group(2))] = value(r, "items_per_second")
    return rows


def esp(esp_runs, perf_runs):
    """(algorithm, direction, payload) -> {'nemo_mpps', 'nemo_gbps', 'perf_mpps', 'perf_gbps'}"""
    out = defaultdict(dict)
    for name, r in esp_runs.items():
        m = re.fullmatch(r"BM_Esp(Encrypt|Decrypt)/(\d+)/(\d+)", name)
        if not m:
            continue
        src = r["aggregates"].get("median") or (r["iterations"][0] if r["iterations"] else {})
        alg = src.get("label") or m.group(2)
        key = (alg, "encrypt" if m.group(1) == "Encrypt" else "decrypt", int(m.group(3)))
        out[key]["nemo_mpps"] = value(r, "items_per_second") / 1e6
        out[key]["nemo_gbps"] = value(r, "bytes_per_second") * 8 / 1e9
    for name, r in perf_runs.items():
        m = re.fullmatch(r"CryptoPerf/([^/]+)/(encrypt|decrypt)/(\d+)", name)
        if m:
            key = (m.group(1), m.group(2), int(m.group(3)))
            out[key]["perf_mpps"] = value(r, "items_per_second") / 1e6
            out[key]["perf_gbps"] = out[key]["perf_mpps"] * key[2] * 8 / 1e3
    return out


# ---- plots ----

def save(fig, plots, stem, fmt):
    path = os.path.join(plots, f"{stem}.{fmt}")
    # No date in the file: the same data makes the same file.
    fig.savefig(path, format=fmt, bbox_inches="tight", dpi=110,
                metadata={"Date": None} if fmt == "svg" else {"Software": None})
    plt.close(fig)
    return path


def method_name(m):
    base, _, alg = m.partition("/")
    return METHOD_LABEL.get(base, base.upper() if not alg else base.replace("esp-udp", "ESP-in-UDP").replace(
        "esp", "ESP")) + (f" {alg}" if alg else "")


def plot_pipeline(rows, plots, fmt):
    """A grid of panels, a row per bindings count and a column per direction; a colour per method, the
    same in every panel; the bare forward (and, for the ratios, the touch ceiling) in black and grey."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["key"][3], r["key"][0])].append(r)
    bindings = sorted({k[0] for k in groups})
    directions = sorted({k[1] for k in groups}, key=lambda d: d != "down")
    methods = sorted({r["key"][1] for r in rows}, key=lambda m: ("/" in m, m))
    colour = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    made = []
    for stem, what in (("pipeline_mpps", "mpps"), ("pipeline_ratio", "ratio")):
        fig, axes = plt.subplots(len(bindings), len(directions), figsize=(5.6 * len(directions), 3.9 * len(bindings)),
                                 squeeze=False, sharey=True)
        for (i, n), (j, d) in ((a, b) for a in enumerate(bindings) for b in enumerate(directions)):
            ax = axes[i][j]
            cases = groups.get((n, d), [])
            ax.set_title(f"{'downstream (encapsulation)' if d == 'down' else 'upstream (decapsulation)'}, "
                         f"{group(n)} bindings", fontsize=10)
            ax.grid(True, alpha=0.3)
            if not cases:
                continue
            sizes = sorted({r["key"][2] for r in cases})
            for m in methods:
                pts = sorted((r for r in cases if r["key"][1] == m), key=lambda r: r["key"][2])
                if pts:
                    y = [r["nemo"] if what == "mpps" else statistics.median(r["ratio"]) for r in pts]
                    ax.plot([r["key"][2] for r in pts], y, marker="o", color=colour[m], label=method_name(m))
            # The baseline is measured with every case: its median over the cases of a size.
            if what == "mpps":
                base = [statistics.median(r["bare"] for r in cases if r["key"][2] == s) for s in sizes]
                ax.plot(sizes, base, "k--", marker="s", label="bare forward (baseline)")
            else:
                ax.axhline(1.0, color="k", linestyle="--", label="bare forward (baseline)")
                touch = [[t for r in cases if r["key"][2] == s for t in r["touch"]] for s in sizes]
                if all(touch):
                    ax.plot(sizes, [statistics.median(t) for t in touch], ":", color="grey", marker="^",
                            label="touch ceiling (bare forward + one table line a packet)")
            ax.set_xticks(sizes)
            if i == len(bindings) - 1:
                ax.set_xlabel("frame size (bytes)")
            if j == 0:
                ax.set_ylabel("Mpps, one worker lcore" if what == "mpps" else "ratio to the bare forward")
        if what == "ratio":
            axes[0][0].set_ylim(bottom=0)
        handles = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=4, fontsize=8,
                   bbox_to_anchor=(0.5, 0.0))
        fig.suptitle("nemo-ha's worker against a bare rx->tx forward of the same run" +
                     (" (Mpps)" if what == "mpps" else " (ratio)"), fontsize=11)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        made.append(save(fig, plots, stem, fmt))
    return made


def plot_bu(rates, plots, fmt):
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, label, style in (("decision", "the decision alone (control_bench baseline)", "k--"),
                            ("bu", "BU in -> BA out (control_bench)", "-"),
                            ("off", "state_bench, store off (baseline)", ":"),
                            ("on", "state_bench, store on", "-")):
        data = rates[k]
        if not data:
            continue
        x = sorted(data)
        if k in ("on", "off"):
            med = [statistics.median(data[n].values()) for n in x]
            lo = [med[i] - min(data[n].values()) for i, n in enumerate(x)]
            hi = [max(data[n].values()) - med[i] for i, n in enumerate(x)]
            ax.errorbar(x, med, yerr=[lo, hi], fmt=style, marker="o", capsize=3, label=label)
        else:
            ax.plot(x, [data[n] for n in x], style, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bindings")
    ax.set_ylabel("per second")
    ax.set_title("BU rate against bindings")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return [save(fig, plots, "bu_rate", fmt)]


def plot_esp(cases, plots, fmt):
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 4.2), sharey=True)
    for ax, dirn in zip(axes, ("encrypt", "decrypt")):
        for alg in sorted({k[0] for k in cases}):
            pts = sorted((k[2], v) for k, v in cases.items() if k[0] == alg and k[1] == dirn)
            x = [p for p, v in pts if "nemo_gbps" in v]
            line = ax.plot(x, [v["nemo_gbps"] for p, v in pts if "nemo_gbps" in v], marker="o", label=f"nemo-ha {alg}")
            xp = [p for p, v in pts if "perf_gbps" in v]
            if xp:
                ax.plot(xp, [v["perf_gbps"] for p, v in pts if "perf_gbps" in v], "--", marker="s",
                        color=line[0].get_color(), label=f"crypto-perf {alg} (baseline)")
        ax.set_title(f"ESP {dirn}, one core, bursts of 32")
        ax.set_xlabel("payload (bytes)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("Gbps (payload)")
    handles, labels = {}, {}
    for ax in axes:  # one legend for both panels: decryption may lack a baseline encryption has
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=3, fontsize=8,
               bbox_to_anchor=(0.5, -0.12))
    return [save(fig, plots, "esp_gbps", fmt)]


# ---- the report ----

def machine(contexts):
    lines = []
    for file, c in contexts:
        if not c:
            continue
        bits = [f"date {c.get('date', '?')}", f"host {c.get('host_name', '?')}", f"{c.get('num_cpus', '?')} CPUs"]
        if c.get("cpu_model"):
            bits.append(c["cpu_model"])
        if c.get("mhz_per_cpu"):
            bits.append(f"{c['mhz_per_cpu']} MHz")
        if c.get("nemo_build"):
            bits.append(f"nemo-ha built {c['nemo_build']}")
        if c.get("load_avg"):
            bits.append("load average " + " ".join(f"{x:.2f}" for x in c["load_avg"]))
        if c.get("load_avg_end"):
            bits.append("at the end " + " ".join(f"{x:.2f}" for x in c["load_avg_end"]))
        if c.get("seconds_per_measurement"):
            bits.append(f"{c['seconds_per_measurement']:g} s a measurement")
        lines.append(f"- `{file}` ({c.get('executable', '?')}): " + ", ".join(bits))
    return lines


def report(args):
    contexts, data = [], {}
    for stem in ("pipeline", "control", "state", "esp", "crypto_perf", "wire"):
        path = os.path.join(args.input, f"{stem}.json")
        if os.path.exists(path):
            ctx, runs = load(path)
            contexts.append((f"{stem}.json", ctx))
            data[stem] = runs
    if not data:
        sys.exit(f"bench_report: no benchmark JSON in {args.input} (pipeline.json, control.json, state.json, esp.json)")
    os.makedirs(args.plots, exist_ok=True)
    rel = os.path.relpath(args.plots, os.path.dirname(os.path.abspath(args.out)))
    md = ["# Benchmark report", "",
          "Generated by `scripts/bench_report.py` from the JSON the bench scripts save with `--json DIR`. "
          "Read the ratios, each to a baseline measured in the same run; absolute figures move with the "
          "machine's load from run to run.", ""]
    if args.note:
        md += [f"**{args.note}**", ""]
    md += ["The run:", ""] + machine(contexts) + [""]
    plots = []

    def img(path, alt):
        md.extend([f"![{alt}]({rel}/{os.path.basename(path)})", ""])

    if "pipeline" in data:
        rows = pipeline_rows(pipeline(data["pipeline"]))
        reps = max((r["reps"] for r in rows), default=0)
        md += ["## The whole pipeline (`pipeline_bench`)", "",
               "One worker lcore, `net_pcap` (infinite_rx) into nemo-ha's worker and out to `net_null`; the "
               "baseline is a bare rx->tx forward on the same devices in the same run. *Touch ceiling*: the bare "
               "forward plus one table cache line read a packet, over the bare forward. *To IPv6-in-IPv4*: this "
               "method's Mpps over IPv6-in-IPv4's in the same case (its peer in the run). "
               f"Repetitions: {reps}; ratios are medians of the paired ratios [range].", ""]
        made = plot_pipeline(rows, args.plots, args.format)
        plots += made
        img(made[0], "Mpps against frame size per method, with the bare forward")
        img(made[1], "ratio to the bare forward against frame size per method")
        md += ["| direction | method | frame | bindings | bare forward (Mpps) | nemo-ha (Mpps) | ratio | touch ceiling | to IPv6-in-IPv4 |",
               "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            d, m, s, n = r["key"]
            touch = span(r["touch"], "{:.3f}") if r["touch"] else "-"
            peer = span(r["peer"], "{:.3f}") if r["peer"] else "-"
            md.append(f"| {d} | {m} | {s} | {group(n)} | {r['bare']:.3f} | {r['nemo']:.3f} | "
                      f"**{span(r['ratio'], '{:.3f}')}** | {touch} | {peer} |")
        md.append("")

    if "control" in data or "state" in data:
        rates = bu_rates(data.get("control", {}), data.get("state", {}))
        md += ["## BU rate against bindings (`control_bench`, `state_bench`)", ""]
        if rates["bu"] or rates["on"]:
            made = plot_bu(rates, args.plots, args.format)
            plots += made
            img(made[0], "BU/s against bindings")
        if rates["bu"]:
            md += ["`BM_BuToBa` (BU in -> decision, binding cache, tables, BA out) against `BM_DecisionOnly` (the "
                   "pure decision), medians:", "",
                   "| bindings | BU -> BA (BU/s) | decision alone (/s) | BU -> BA / decision |", "|---|---|---|---|"]
            for n in sorted(rates["bu"]):
                bu, dec = rates["bu"][n], rates["decision"].get(n)
                dec_s = group(round(dec)) if dec else "-"
                ratio = f"**{bu / dec:.3f}**" if dec else "-"
                md.append(f"| {group(n)} | {group(round(bu))} | {dec_s} | {ratio} |")
            ns = sorted(rates["bu"])
            if len(ns) > 1:
                md += ["", f"BU -> BA with {group(ns[-1])} bindings over {group(ns[0])}: "
                       f"**{rates['bu'][ns[-1]] / rates['bu'][ns[0]]:.3f}**"]
            md.append("")
        look = lookups(data.get("control", {}))
        if look:
            sizes = sorted({n for v in look.values() for n in v})
            md += ["Binding lookups, 32 a burst (lookups/s, medians), bindings across:", "",
                   "| benchmark | " + " | ".join(group(n) for n in sizes) +
                   f" | {group(sizes[-1])} / {group(sizes[0])} |",
                   "|---" * (2 + len(sizes)) + "|"]
            for b, v in sorted(look.items()):
                cells = [group(round(v[n])) if n in v else "-" for n in sizes]
                ratio = f"{v[sizes[-1]] / v[sizes[0]]:.3f}" if sizes[0] in v and sizes[-1] in v else "-"
                md.append(f"| `BM_{b}` | " + " | ".join(cells) + f" | {ratio} |")
            md.append("")
        if rates["on"]:
            md += ["`state_bench` `BuToBa`: the daemon's control loop with the durable store on, against the same loop "
                   "with the store off, alternated; BU/s medians [range], the ratio paired per repetition:", "",
                   "| routers | store off (BU/s) | store on (BU/s) | on / off |", "|---|---|---|---|"]
            for n in sorted(rates["on"]):
                on, off = rates["on"][n], rates["off"].get(n, {})
                paired = [on[i] / off[i] for i in on if i in off]
                bu_s = lambda v: group(round(v))  # noqa: E731
                off_s = span(list(off.values()), bu_s) if off else "-"
                ratio = f"**{span(paired, '{:.3f}')}**" if paired else "-"
                md.append(f"| {group(n)} | {off_s} | {span(list(on.values()), bu_s)} | {ratio} |")
            md.append("")

    if "esp" in data:
        cases = esp(data["esp"], data.get("crypto_perf", {}))
        md += ["## ESP (`esp_bench` against `dpdk-test-crypto-perf`)", "",
               "nemo-ha's transform in bursts of 32 against crypto-perf through DPDK's intel-ipsec-mb PMDs on the "
               "same algorithm, direction and size in the same run (CBC: crypto-perf's buffer 1424 for 1420). "
               "Gbps counts the payload (Mpps x payload x 8).", ""]
        made = plot_esp(cases, args.plots, args.format)
        plots += made
        img(made[0], "ESP Gbps against payload size")
        md += ["| algorithm | direction | payload | nemo-ha (Mpps) | nemo-ha (Gbps) | crypto-perf (Mops) | ratio |",
               "|---|---|---|---|---|---|---|"]
        for k in sorted(cases, key=lambda k: (k[0], k[1] != "encrypt", k[2])):
            v = cases[k]
            if "nemo_mpps" not in v:
                continue
            perf = v.get("perf_mpps")
            perf_s = f"{perf:.2f}" if perf else "-"
            ratio = f"**{v['nemo_mpps'] / perf:.3f}**" if perf else "-"
            md.append(f"| {k[0]} | {k[1]} | {k[2]} B | {v['nemo_mpps']:.2f} | {v['nemo_gbps']:.2f} | {perf_s} | {ratio} |")
        md.append("")

    if "wire" in data:
        w = data["wire"]
        base = {int(n.split("/")[1]): value(r, "real_time") for n, r in w.items() if n.startswith("BM_Baseline_Copy/")}
        md += ["## Wire formats (`wire_bench`)", "", "| benchmark | median (ns) | ratio to the baseline |", "|---|---|---|"]
        chk64 = value(w["BM_Checksum/64"], "real_time") if "BM_Checksum/64" in w else None
        for n in sorted(w):
            t = value(w[n], "real_time")
            if n.startswith("BM_Checksum/") and int(n.split("/")[1]) in base:
                ratio = f"{t / base[int(n.split('/')[1])]:.2f} x `BM_Baseline_Copy/{n.split('/')[1]}`"
            elif (n.startswith("BM_BuParse") or n.startswith("BM_BaBuild")) and chk64:
                ratio = f"{t / chk64:.2f} x `BM_Checksum/64`"
            else:
                ratio = "(baseline)" if n.startswith("BM_Baseline") else "-"
            md.append(f"| `{n}` | {t:.2f} | {ratio} |")
        md.append("")

    with open(args.out, "w") as f:
        f.write("\n".join(md))
    print(f"wrote {args.out} and {len(plots)} plots in {args.plots}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="input", required=True, help="directory of the bench scripts' JSON (--json DIR)")
    ap.add_argument("--out", default="bench/report.md")
    ap.add_argument("--plots", default="bench/plots")
    ap.add_argument("--format", choices=("svg", "png"), default="svg")
    ap.add_argument("--note", help="a line for the top of the report (how the run was made)")
    report(ap.parse_args())


if __name__ == "__main__":
    main()
