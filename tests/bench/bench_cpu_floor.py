#!/usr/bin/env python3
"""The CPU a cold read of a weight file costs, and the floor it puts under
its wall time on this machine's CPUs.

  sudo /usr/bin/python3 tests/bench/bench_cpu_floor.py [--size-mib 1024] [--runs 3]

nginx on loopback serves a file named in torch's convention (so hubfs
verifies it: SHA-256).  Each run, from dropped caches, in this order:
  curl -o FILE                     the client's CPU (user + system)
  torch.hub.download_url_to_file   in a python process; the call's own time
                                   and CPU are printed (the import excluded)
  hubfs                            dd bs=1M of the file through a fresh mount:
                                   the daemon's CPU, the reader's, nginx's
For each, total CPU / CPUs is the shortest wall time any schedule of that
work could take here (a floor), printed beside the wall time measured.
A goal "hubfs >= R x a baseline" can be met only if hubfs's floor is at most
the baseline's time / R (docs/benchmarks.md, "Notes on the goals").
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_sizes import make_file, nginx_start, work_dirs  # noqa: E402
from bench_weights import Mount, drop_caches, url_path  # noqa: E402

TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """CPU seconds (user + system) of process pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TCK


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def workers(nginx):
    out = subprocess.run(["pgrep", "-P", str(nginx.pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()] + [nginx.pid]


def measure(cmd, server_pids, daemon_pid=None):
    """(wall, client cpu, server cpu, daemon cpu) of running cmd."""
    drop_caches()
    time.sleep(0.3)
    s0 = sum(proc_cpu(p) for p in server_pids)
    c0 = children_cpu()
    d0 = proc_cpu(daemon_pid) if daemon_pid else 0.0
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True)
    wall = time.perf_counter() - t
    if r.returncode:
        sys.exit("%s failed: %s" % (cmd[0], r.stderr.decode(errors="replace")[-1500:]))
    d1 = proc_cpu(daemon_pid) if daemon_pid else 0.0
    return (wall, children_cpu() - c0, sum(proc_cpu(p) for p in server_pids) - s0, d1 - d0,
            r.stdout.decode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hubfs", default=os.path.join(TOP, "build", "hubfs"))
    a = ap.parse_args()
    cpus = os.cpu_count()
    work, srv = work_dirs("hubfs-bench-cpu-")
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    nginx, port = nginx_start(work, srv)
    rows = {"curl -o FILE": [], "download_url_to_file (the call)": [], "hubfs (dd through the mount)": []}
    try:
        name = make_file(srv, a.size_mib, "cpu")
        url = "http://127.0.0.1:%d/%s" % (port, name)
        server = workers(nginx)
        out = os.path.join(work, "out.bin")
        torch_call = ("import torch.hub, resource, sys, time\n"
                      "def cpu():\n"
                      "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
                      "    return r.ru_utime + r.ru_stime\n"
                      "c, t = cpu(), time.perf_counter()\n"
                      "torch.hub.download_url_to_file(sys.argv[1], sys.argv[2], progress=False)\n"
                      "print(time.perf_counter() - t, cpu() - c)\n")
        for _ in range(a.runs):
            w, c, s, _, _ = measure(["curl", "-sf", "-o", out, url], server)
            os.unlink(out)
            rows["curl -o FILE"].append((w, c + s))
            _, _, s, _, printed = measure(["/usr/bin/python3", "-c", torch_call, url, out], server)
            os.unlink(out)
            call_wall, call_cpu = (float(x) for x in printed.split())
            rows["download_url_to_file (the call)"].append((call_wall, call_cpu + s))
            cache = os.path.join(work, "cache")
            m = Mount(a.hubfs, mnt, cache)
            try:
                p = url_path(mnt, url)
                os.stat(p)
                w, c, s, d, _ = measure(["dd", "if=" + p, "of=/dev/null", "bs=1M", "status=none"],
                                        server, m.proc.pid)
            finally:
                m.close()
            shutil.rmtree(cache)
            rows["hubfs (dd through the mount)"].append((w, c + s + d))
            print("run: " + "; ".join("%s %.2f s wall, %.2f s CPU" % (k, v[-1][0], v[-1][1])
                                      for k, v in rows.items()), flush=True)
    finally:
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(work, ignore_errors=True)
    print("%d MiB, %d runs, %d CPUs (medians):" % (a.size_mib, a.runs, cpus))
    med = {}
    for k, v in rows.items():
        wall = statistics.median(x[0] for x in v)
        cpu = statistics.median(x[1] for x in v)
        med[k] = (wall, cpu)
        print("  %-32s wall %.2f s  CPU %.2f s  floor (CPU / %d) %.2f s" % (k, wall, cpu, cpus, cpu / cpus))
    h_floor = med["hubfs (dd through the mount)"][1] / cpus
    for k, goal in (("curl -o FILE", 0.9), ("download_url_to_file (the call)", 2.0)):
        need = med[k][0] / goal
        print("  %.1fx %s needs hubfs within %.2f s: floor %.2f s, measured %.2f s -> %s" % (
            goal, k, need, h_floor, med["hubfs (dd through the mount)"][0],
            "below the floor: no schedule of this work meets it" if need < h_floor else
            "above the floor (%.0f%% of the time left for waiting)" % (100 * (1 - h_floor / need))))


if __name__ == "__main__":
    main()
