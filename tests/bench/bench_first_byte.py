#!/usr/bin/env python3
"""Where the first 4 KiB of a cold weight file goes (issue 17), against curl.

  sudo /usr/bin/python3 tests/bench/bench_first_byte.py [--runs 9] [--hubfs BUILD/hubfs]
      [--hubfs-b OTHER/hubfs] [--strace FILE]

nginx on loopback serves a 64 MiB file.  Each run, in alternating order:
  curl      `curl -r 0-4095 -o /dev/null`: time_connect, time_starttransfer
            (its time to first byte: connect, request, first byte)
  hubfs     a fresh mount on an empty cache (not timed), left until the
            daemon is idle (its interpreter's start-up done); the file's
            directory opened (its dentry kept), then the page cache dropped
            (a daemon that did not fetch yet pays for its code pages from
            disk); timed from the reader's side: stat of the file by name in
            that directory (LOOKUP: the GET of the first 64 KiB, for the
            size), open, and pread(4096) at 0 (the first read)
  hubfs-b   the same with a second build (--hubfs-b): an A/B in one run
Page cache dropped before each contender when root.  Prints medians, spread
(half the range), and hubfs's first 4 KiB (stat + open + pread) minus curl's
time to first byte (goal: <= 2 ms), with the load average: on a loaded
machine the figures are indications, not results.
--log: one more hubfs run with -d, printing the daemon's debug timeline of
the first read (HEAD, download thread, GET, first bytes, served).
--strace FILE: one more hubfs run with the daemon under `strace -f -tt -T`
(relative timestamps of every system call of every thread), to FILE.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from bench_entrypoints import settle  # noqa: E402
from bench_namespace import free_port, is_mounted, wait_port  # noqa: E402
from bench_sizes import work_dirs  # noqa: E402
from bench_weights import drop_caches, load_line, url_path  # noqa: E402
from results import Results  # noqa: E402

MiB = 1 << 20


def mount(cmd, mnt, log=None):
    p = subprocess.Popen(cmd, stderr=log or subprocess.DEVNULL)
    end = time.time() + 10
    while not is_mounted(mnt):
        if time.time() > end or p.poll() is not None:
            raise RuntimeError("hubfs did not mount: %s" % cmd)
        time.sleep(0.02)
    return p


def unmount(p, mnt):
    subprocess.run(["fusermount3", "-u", mnt], check=False)
    p.wait(timeout=60)


def hubfs_first(hubfs, work, mnt, url, prefix=(), log=None, warm_url=None):
    cache = os.path.join(work, "cache-first")
    p = mount(list(prefix) + [hubfs, "-d" if log else "-f", "-o", "cache=%s,allow_private" % cache,
                              mnt], mnt, log)
    try:
        if warm_url:
            # a daemon that has served before: one cold file of another
            # origin (its own connection) read first, so that the code of a
            # lookup and a download is paged in and stays mapped through the
            # drop; the timed file and its connection are as cold as curl's
            with open(url_path(mnt, warm_url), "rb") as wf:
                wf.read()
        path = url_path(mnt, url)
        # the directory of the file is looked up before (an open descriptor
        # keeps its dentry through the drop): what is timed is the lookup
        # of the weight file itself, not the path to the mount on the host
        # disk nor the namespace's own directories
        dfd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        name = os.path.basename(path)
        # the daemon runs already and is idle (as it would be for a user:
        # its embedded interpreter's start-up is not part of a cold file's
        # first byte); the page cache is dropped after it, as before curl
        settle(p.pid, quiet=0.2)
        drop_caches()
        try:
            t0 = time.perf_counter()
            os.stat(name, dir_fd=dfd)
            t1 = time.perf_counter()
            fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
            t2 = time.perf_counter()
            b = os.pread(fd, 4096, 0)
            t3 = time.perf_counter()
            os.close(fd)
        finally:
            os.close(dfd)
        assert len(b) == 4096
    finally:
        unmount(p, mnt)
        shutil.rmtree(cache, ignore_errors=True)
    return t1 - t0, t2 - t1, t3 - t2


def curl_first(url):
    r = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-r", "0-4095", "-w",
                        "%{time_connect} %{time_starttransfer}", url],
                       capture_output=True, check=True, text=True)
    c, s = map(float, r.stdout.split())
    return c, s


def med(v):
    return statistics.median(v) * 1000, (max(v) - min(v)) / 2 * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--hubfs", default=os.path.join(TOP, "build", "hubfs"))
    ap.add_argument("--hubfs-b", help="a second build, measured in the same runs (A/B)")
    ap.add_argument("--strace", help="one more hubfs run under strace -f -tt -T, to this file")
    ap.add_argument("--json", help="write the figures to this file (report.py)")
    ap.add_argument("--log", action="store_true",
                    help="one more hubfs run with -d: print the daemon's timeline of the first read")
    a = ap.parse_args()
    work, srv = work_dirs("hubfs-bench-fb-")
    os.makedirs(os.path.join(work, "nginx"))
    port = free_port()
    port2 = free_port()
    while port2 == port:
        port2 = free_port()
    with open(os.path.join(work, "nginx", "nginx.conf"), "w") as f:
        f.write("daemon off; worker_processes 1; pid %s/nginx/nginx.pid; error_log %s/nginx/error.log;\n"
                "events { worker_connections 64; }\n"
                "http { access_log off; sendfile on; tcp_nopush on;\n"
                "  server { listen 127.0.0.1:%d; listen 127.0.0.1:%d; root %s; }\n}\n"
                % (work, work, port, port2, srv))
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", os.path.join(work, "nginx", "nginx.conf"),
                              "-p", os.path.join(work, "nginx")])
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    try:
        wait_port(port)
        big = os.path.join(srv, "first.bin")
        with open(big, "wb") as f:
            for _ in range(64):
                f.write(os.urandom(MiB))
        os.chmod(big, 0o644)
        with open(os.path.join(srv, "warm.bin"), "wb") as f:
            f.write(os.urandom(MiB))
        os.chmod(os.path.join(srv, "warm.bin"), 0o644)
        wait_port(port2)
        url = "http://127.0.0.1:%d/first.bin" % port
        warm_url = "http://127.0.0.1:%d/warm.bin" % port2
        print("load before: %s" % load_line())
        # each build twice: "first" = the first file the daemon serves
        # (its code for a lookup and a download not paged in yet: read from
        # disk after the drop); "served" = the daemon has served another
        # file before (the state of a daemon in use), the file still cold
        builds = []
        for name, binary in [("hubfs", a.hubfs)] + ([("hubfs-b", a.hubfs_b)] if a.hubfs_b else []):
            builds += [(name + " first", binary, None), (name + " served", binary, warm_url)]
        res = {"curl": []}
        for name, _, _ in builds:
            res[name] = []
        contenders = [("curl", None, None)] + builds
        for i in range(a.runs):
            k = i % len(contenders)
            for name, binary, wu in contenders[k:] + contenders[:k]:
                if binary is None:
                    drop_caches()
                    res["curl"].append(curl_first(url))
                else:
                    res[name].append(hubfs_first(binary, work, mnt, url, warm_url=wu))
        print("load after:  %s" % load_line())
        res_out = Results("first_byte")
        res_out.info["load"] = load_line()
        print("%d runs, medians (ms) ± half the range" % a.runs)
        cc = [c for c, _ in res["curl"]]
        cs = [s for _, s in res["curl"]]
        print("  curl   connect %6.2f ±%5.2f   first byte %6.2f ±%5.2f" % (med(cc) + med(cs)))
        for name, _, _ in builds:
            st = [x[0] for x in res[name]]
            op = [x[1] for x in res[name]]
            rd = [x[2] for x in res[name]]
            tot = [sum(x) for x in res[name]]
            print("  %-13s stat %6.2f ±%5.2f   open %6.2f ±%5.2f   pread 4 KiB %6.2f ±%5.2f   "
                  "total %6.2f ±%5.2f" % ((name,) + med(st) + med(op) + med(rd) + med(tot)))
            d = statistics.median(tot) - statistics.median(cs)
            print("  %-13s first 4 KiB - curl's first byte: %+.2f ms (goal <= +2 ms), %.2fx" % (
                name, d * 1000, statistics.median(tot) / statistics.median(cs)))
            served = name.endswith("served")
            if name.startswith("hubfs ") and served:
                res_out.figure(4, "first 4 KiB of a cold file (daemon in use)", tot, cs,
                               "curl time to first byte", ratio=statistics.median(tot) / statistics.median(cs),
                               value=statistics.median(tot) * 1000, goal="<= curl + 2 ms",
                               met=d <= 0.002)
            elif name.startswith("hubfs "):
                res_out.figure(4, "first 4 KiB, the first file of a new mount", tot, cs,
                               "curl time to first byte", ratio=statistics.median(tot) / statistics.median(cs),
                               value=statistics.median(tot) * 1000)
        res_out.write(a.json)
        if a.log:
            with tempfile.TemporaryFile(mode="w+") as log:
                r = hubfs_first(a.hubfs, work, mnt, url, log=log, warm_url=warm_url)
                log.seek(0)
                print("one more run (served) with -d (stat %.2f, open %.2f, pread %.2f ms); the daemon's "
                      "timeline:" % tuple(x * 1000 for x in r))
                for ln in log:
                    if "first read:" in ln or "HEAD in" in ln or ": size: " in ln:
                        print("  " + ln.rstrip())
        if a.strace:
            hubfs_first(a.hubfs, work, mnt, url, warm_url=warm_url,
                        prefix=("strace", "-f", "-tt", "-T", "-o", a.strace))
            print("strace of one more cold first read: %s" % a.strace)
    finally:
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
