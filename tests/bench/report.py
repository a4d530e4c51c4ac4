#!/usr/bin/env python3
"""One command for every benchmark: runs them side by side and writes
docs/benchmarks.md (and docs/benchmarks.png).

  sudo /usr/bin/python3 tests/bench/report.py [--runs 3] [--quick] [--out docs/benchmarks.md]

Outside the test suite (it takes 10 to 20 minutes).  Each benchmark script
measures its baseline in the same invocation (native disk, hubfs-passthrough,
curl, git clone, torch.hub) and repeats every measurement --runs times;
the report gives medians, the spread (half the range, relative to the
median) and the ratio the issue's goal is stated in, and says plainly which
goals are met.  --quick: smaller files and fewer runs, to check the script.
Needs: build/ (hubfs and tests/hubfs-passthrough), nginx, git, curl, torch
under /usr/bin/python3, gnuplot (apt-get install nginx-light gnuplot-nox).
"""
import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"


# Other work during a run beyond this many CPUs on average marks it LOADED
# (kernel threads, writeback of the benchmarks' files, count as other work).
FOREIGN_MAX = 0.25


def cpu_busy():
    """CPU seconds all CPUs have been busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)      # idle + iowait
    guest = sum(v[8:10]) if len(v) > 9 else 0       # already inside user and nice
    return (sum(v) - idle - guest) / os.sysconf("SC_CLK_TCK")


def own_cpu():
    """CPU seconds of this process and every descendant it waited for."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return ""


def machine():
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = int(sh("grep MemTotal /proc/meminfo | awk '{print $2}'") or 0) / (1 << 20)
    disk = sh("df -hT /var/tmp | tail -1 | awk '{print $2\", \"$3}'")
    return [
        ("CPU", "%s, %d CPUs" % (cpu or platform.processor(), os.cpu_count())),
        ("memory", "%.0f GiB" % mem),
        ("kernel", platform.release()),
        ("libfuse", sh("pkg-config --modversion fuse3")),
        ("libcurl", sh("pkg-config --modversion libcurl")),
        ("libgit2", sh("pkg-config --modversion libgit2")),
        ("torch", sh(PY + " -c 'import torch; print(torch.__version__)'")),
        ("nginx", sh("/usr/sbin/nginx -v 2>&1 | cut -d/ -f2")),
        ("disk under /var/tmp (bench files, caches)", disk),
        ("hubfs", sh("git -C %s describe --always --dirty" % TOP)),
    ]


def run_bench(script, args, out_json, log):
    cmd = [PY, os.path.join(HERE, script)] + args + ["--json", out_json]
    print("== " + " ".join(cmd), flush=True)
    with open(log, "a") as lf:
        lf.write("\n== %s\n" % " ".join(cmd))
        lf.flush()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lf.write(r.stdout)
    sys.stdout.write(r.stdout)
    if r.returncode or not os.path.exists(out_json):
        return None, "%s failed (exit %d); its output is in the log" % (script, r.returncode)
    with open(out_json) as f:
        return json.load(f), None


def fmt_val(row, which):
    med = row[which + "_median"]
    if med is None:
        return "—"
    sp = row[which + "_spread"]
    if row["unit"] == "MiB":
        return "%.1f MiB ±%.0f%%" % (med, sp * 100)
    if med < 0.01:
        return "%.3f ms ±%.0f%%" % (med * 1000, sp * 100)
    return "%.1f ms ±%.0f%%" % (med * 1000, sp * 100)


def figure_text(row):
    if row["value"] is not None and row["unit"] != "s" or (row["value"] is not None and row["ratio"] is None):
        unit = "MiB" if row["unit"] == "MiB" else "ms"
        return "%.3g %s" % (row["value"], unit)
    if row["ratio"] is None:
        return "—"
    return "%.2f×" % row["ratio"]


def table(rows):
    out = ["| issue | figure | hubfs | baseline | baseline (same run) | figure vs goal | goal | met |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fig = figure_text(r)
        if r["value"] is not None and r["ratio"] is not None:
            fig = "%.2f× (%.3g ms)" % (r["ratio"], r["value"])
        met = "—" if r["met"] is None else ("**met**" if r["met"] else "**NOT met**")
        out.append("| #%s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["issue"], r["figure"], fmt_val(r, "ours"), r["baseline"] or "—",
            fmt_val(r, "base") if r["base"] else "—", fig, r["goal"] or "—", met))
    return "\n".join(out)


def plot(sweep, png, work):
    """Throughput and first-byte latency against file size (gnuplot)."""
    dat = os.path.join(work, "sweep.dat")
    with open(dat, "w") as f:
        f.write("# size_mib cold curl warm native passthrough first_ms curl_first_ms\n")
        for r in sweep:
            f.write("%d %.1f %.1f %.1f %.1f %.1f %.3f %.3f\n" % (
                r["size_mib"], r["cold_mbps"], r["curl_mbps"], r["warm_mbps"], r["native_mbps"],
                r["passthrough_mbps"], r["first_ms"], r["curl_first_ms"]))
    gp = os.path.join(work, "plot.gp")
    with open(gp, "w") as f:
        f.write("""set terminal pngcairo size 1200,500 font ',10'
set output '%s'
set multiplot layout 1,2 title 'hubfs weight files on this machine (medians)'
set logscale x 2
set xlabel 'file size (MiB)'
set key top left
set grid
set title 'read throughput'
set ylabel 'MB/s'
plot '%s' u 1:5 w lp t 'native read (page cache)', '' u 1:4 w lp t 'hubfs re-read (complete)', \\
     '' u 1:6 w lp t 'minimal passthrough (warm)', '' u 1:3 w lp t 'curl -o FILE (cold)', \\
     '' u 1:2 w lp t 'hubfs cold read (download)'
set title 'first 4 KiB of a cold file'
set ylabel 'ms'
set logscale y
plot '%s' u 1:7 w lp t 'hubfs open + pread(4096)', '' u 1:8 w lp t 'curl time to first byte'
unset multiplot
""" % (png, dat, dat))
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
    if r.returncode:
        return "gnuplot failed: " + r.stderr.strip()[-300:]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(TOP, "docs", "benchmarks.md"))
    ap.add_argument("--log", default=None)
    a = ap.parse_args()
    runs = 2 if a.quick else a.runs
    mach = machine()  # before any file is written: `git describe --dirty` is the tree measured
    work = tempfile.mkdtemp(prefix="hubfs-report-")
    log = a.log or os.path.join(work, "report.log")
    t0 = datetime.datetime.now(datetime.timezone.utc)
    plan = [
        ("bench_namespace.py", ["--runs", str(runs)]),
        ("bench_entrypoints.py", ["--runs", str(runs)]),
        ("bench_weights.py", ["--runs", str(runs if a.quick else max(runs, 5)), "--https",
                              "--size-mib", "256" if a.quick else "1024"]),
        ("bench_first_byte.py", ["--runs", str(max(runs, 5) if a.quick else max(runs * 3, 9))]),
        ("bench_sizes.py", ["--runs", str(runs), "--sizes", "1,16" if a.quick else "1,4,16,64,256,1024"]),
    ]
    if os.path.exists(os.path.join(HERE, "bench_helper.py")):
        plan.append(("bench_helper.py", ["--runs", str(runs)]))
    load0 = os.getloadavg()
    busy0, own0, wall0 = cpu_busy(), own_cpu(), time.monotonic()
    results, failures = [], []
    for script, args in plan:
        res, err = run_bench(script, args, os.path.join(work, script + ".json"), log)
        if err:
            failures.append(err)
        else:
            results.append(res)
    wall = time.monotonic() - wall0
    # the CPUs' busy time less this report's own (every benchmark, daemon,
    # server and client it started, waited for): what else ran meanwhile.
    # The load average cannot tell: the benchmarks' own processes are in it
    foreign = max(0.0, (cpu_busy() - busy0) - (own_cpu() - own0)) / wall if wall > 0 else 0.0
    loaded = load0[0] > 0.5 * os.cpu_count() or foreign > FOREIGN_MAX
    rows = [r for res in results for r in res["rows"]]
    sweep = next((res["info"]["sweep"] for res in results if res["bench"] == "sizes"), [])
    png = os.path.splitext(a.out)[0] + ".png"
    plot_err = plot(sweep, png, work) if sweep else "no size sweep"
    goals = [r for r in rows if r["met"] is not None]
    met = [r for r in goals if r["met"]]
    lines = [
        "# Benchmarks",
        "",
        "Written by `sudo /usr/bin/python3 tests/bench/report.py%s` on %s (UTC), %d runs of each "
        "measurement. Every figure is a ratio to a baseline measured in the same invocation; "
        "values are medians, ± is half the range of the runs relative to the median. The machine "
        "is noisy (±25 %% between runs, docs/design.md#measured-facts-of-the-machine): compare ratios, not absolute times." % (
            " --quick" if a.quick else "", t0.strftime("%Y-%m-%d %H:%M"), runs),
        "",
        "Load (1-, 5-, 15-minute averages, %d CPUs) at the start: %.2f %.2f %.2f. CPU used by "
        "processes other than the benchmarks' own during the %.0f s of the run: %.2f CPUs on "
        "average%s." % (
            (os.cpu_count(),) + load0 + (wall, foreign) +
            ((" — a LOADED run (load above half the CPUs at the start, or other work above %.2f "
              "CPUs): its figures are not results" % FOREIGN_MAX) if loaded else
             " (not loaded: at most %.2f)" % FOREIGN_MAX,)),
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ] + ["| %s | %s |" % kv for kv in mach] + [
        "",
        "## Goals: %d of %d met" % (len(met), len(goals)),
        "",
    ]
    for r in goals:
        lines.append("- %s #%s %s vs %s: %s (goal %s)" % (
            "MET    " if r["met"] else "NOT MET", r["issue"], r["figure"], r["baseline"] or "—",
            figure_text(r) if r["ratio"] is None or r["value"] is None
            else "%.2f×, %.3g ms" % (r["ratio"], r["value"]), r["goal"]))
    lines += ["", "## All figures", "", table(rows), ""]
    for res in results:
        if res.get("info"):
            info = {k: v for k, v in res["info"].items() if k != "sweep"}
            if info:
                lines.append("- %s: %s" % (res["bench"], "; ".join("%s %s" % kv for kv in info.items())))
    if sweep:
        lines += ["", "## Throughput and first-byte latency against file size", "",
                  "![read throughput and first-byte latency](%s)" % os.path.basename(png), "",
                  "| size | hubfs cold | curl -o | hubfs re-read | native | passthrough | hubfs first 4 KiB | curl first byte |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in sweep:
            lines.append("| %d MiB | %.0f MB/s | %.0f MB/s | %.0f MB/s | %.0f MB/s | %.0f MB/s | %.2f ms | %.2f ms |" % (
                r["size_mib"], r["cold_mbps"], r["curl_mbps"], r["warm_mbps"], r["native_mbps"],
                r["passthrough_mbps"], r["first_ms"], r["curl_first_ms"]))
        if plot_err:
            lines += ["", "(plot not drawn: %s)" % plot_err]
    if failures:
        lines += ["", "## Benchmarks that failed", ""] + ["- " + f for f in failures]
    notes = os.path.join(HERE, "report_notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read().rstrip()]
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s%s; log %s" % (a.out, " and " + png if sweep and not plot_err else "", log))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
