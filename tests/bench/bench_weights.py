#!/usr/bin/env python3
"""Benchmark of weight files through the mount (issues 4, 17), as ratios.

  sudo /usr/bin/python3 tests/bench/bench_weights.py [--size-mib 1024] [--runs 5]

nginx on loopback serves a SIZE file (and a torch state_dict); every figure
is a ratio to a baseline measured in this same invocation:

  cold read       `cat` of the file through a fresh mount and empty cache,
                  vs `curl -o FILE` onto the same disk as the cache (goal >= 0.9x
                  throughput) and vs torch.hub.download_url_to_file in-process
                  (goal >= 2x)
  first 4 KiB     open + pread(4096) of a cold file through a mount started
                  just before vs curl's time to first byte (shown; the goal's
                  figure is bench_first_byte.py's, a daemon in use)
  re-read         the complete file read again through the mount vs reading
                  the cache file directly, both page-cache warm (goal >= 0.75x)
  torch.load      from the mount (complete file) vs from local disk (goal <= 1.05x)
  peak RSS        of the daemon while streaming the cold read (goal <= 64 MiB)

Method: every contender starts from the same state (its output deleted,
`sync`, page cache dropped: run as root), contenders go in a rotated order
in each run, every figure is a median with its spread (half the range), and
the machine's own limits are measured in the same runs (a cold native read
of the served file, curl to /dev/null over loopback).  The load average is
printed before and after: a figure from a loaded machine (1-min load above
half the CPUs) is marked LOADED and is not a result.

Needs nginx (apt-get install nginx-light) and torch under /usr/bin/python3.
"""
import argparse
import hashlib
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
from bench_namespace import free_port, is_mounted, wait_port  # noqa: E402
from results import Results  # noqa: E402

MiB = 1 << 20


class Mount:
    def __init__(self, hubfs, mnt, cache):
        self.mnt = mnt
        # allow_private: the benchmark's nginx is on 127.0.0.1
        self.proc = subprocess.Popen([hubfs, "-f", "-o", "cache=%s,allow_private" % cache, mnt],
                                     stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while not is_mounted(mnt):
            if time.time() > end or self.proc.poll() is not None:
                raise RuntimeError("hubfs did not mount")
            time.sleep(0.02)

    def peak_rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def close(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=False)
        self.proc.wait(timeout=60)


def url_path(mnt, url):
    return os.path.join(mnt, ".hubfs", "url", url.replace("%", "%25").replace("/", "%2F"))


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return time.perf_counter() - t, r


def drop_file_cache(path):
    """Evict path's pages so a re-read is not served by an earlier one."""
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def can_drop_caches():
    return os.access("/proc/sys/vm/drop_caches", os.W_OK)


def drop_caches():
    """sync, then drop the page cache: every contender starts cold."""
    os.sync()
    if can_drop_caches():
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")


# Seconds between the page cache drop and the start of each contender's
# timed part.  Memory a drop frees costs far more to fill once the machine's
# balloon has handed it back to the host, some seconds later (curl -o FILE
# of 1 GiB: 1.45 s started 0.3 s after a drop, 2.15 s 3 s after;
# report_notes.md): a contender that starts its clock later after the drop
# (hubfs after its mount, torch after `import torch`) would pay for it.
# Every one starts its clock this long after the drop instead.
SETTLE_S = 3.0
_settle = [0.0]


def drop_and_settle_from_now():
    """drop_caches(); the contender's timed part is to start SETTLE_S
    from now (settle())."""
    drop_caches()
    _settle[0] = time.monotonic() + SETTLE_S


def settle_at():
    """CLOCK_MONOTONIC time the timed part is to start at."""
    return _settle[0]


def settle():
    d = _settle[0] - time.monotonic()
    if d > 0:
        time.sleep(d)


def warm_rounds(paths, runs):
    """Re-read times of each file of paths (name -> path), page cache warm:
    each round drops the page cache, fills it again with one read of every
    file, the order of those reads rotating from round to round, then
    times one more read of each in that order.  The order is the point:
    on this kind of machine a file whose cache was filled first after a
    drop re-reads up to 1.5x slower than one filled after it (two instances
    of the same passthrough filesystem, filled one after the other: the
    first re-read at 0.85-0.88x the second), so a fixed order favoured
    whichever came last (docs/benchmarks.md, report_notes.md)."""
    names = list(paths)
    out = {n: [] for n in names}
    for r in range(runs):
        drop_caches()
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            read_all(paths[n])
        for n in order:
            out[n].append(timed(lambda: read_all(paths[n]))[0])
    return out


def load_line():
    la = os.getloadavg()
    busy = " (LOADED: figures are not to be trusted)" if la[0] > 0.5 * os.cpu_count() else ""
    return "load average %.2f %.2f %.2f on %d CPUs%s" % (la[0], la[1], la[2], os.cpu_count(), busy)


def read_all(path):
    fd = os.open(path, os.O_RDONLY)
    n = 0
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        n += len(b)
    os.close(fd)
    return n


def line(name, values, base, higher_is_better=False):
    m = statistics.median(values)
    spread = (max(values) - min(values)) / 2
    ratio = (statistics.median(base) / m) if higher_is_better else (m / statistics.median(base))
    print("  %-44s median %9.1f ms  ±%7.1f  %s %5.2fx" % (
        name, m * 1000, spread * 1000, "speed" if higher_is_better else "time ", ratio))
    return ratio


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hubfs", default=os.path.join(TOP, "build", "hubfs"))
    ap.add_argument("--json", help="also write the figures there (tests/bench/report.py)")
    ap.add_argument("--https", action="store_true",
                    help="also the cold read over https from a local TLS server (nginx, self-signed)")
    a = ap.parse_args()
    res = Results("weights")
    work = tempfile.mkdtemp(prefix="hubfs-bench-w-", dir="/var/tmp")
    os.chmod(work, 0o755)  # nginx's workers run as an unprivileged user
    srv = os.path.join(work, "srv")
    os.makedirs(srv)
    os.chmod(srv, 0o755)
    os.makedirs(os.path.join(work, "nginx"))
    port = free_port()
    tls = ""
    if a.https:
        # a local TLS server: decryption costs every contender alike
        tport = free_port()
        cert, key = os.path.join(work, "nginx", "cert.pem"), os.path.join(work, "nginx", "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        os.environ["SSL_CERT_FILE"] = cert  # curl, torch (urllib) and hubfs (libcurl) trust it
        os.environ["CURL_CA_BUNDLE"] = cert
        tls = ("  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;"
               " root %s; }\n" % (tport, cert, key, srv))
    with open(os.path.join(work, "nginx", "nginx.conf"), "w") as f:
        f.write("daemon off; worker_processes 1; pid %s/nginx/nginx.pid; error_log %s/nginx/error.log;\n"
                "events { worker_connections 64; }\n"
                "http { access_log off; sendfile on; tcp_nopush on;\n"
                "  server { listen 127.0.0.1:%d; root %s; }\n%s}\n" % (work, work, port, srv, tls))
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-c", os.path.join(work, "nginx", "nginx.conf"),
                              "-p", os.path.join(work, "nginx")])
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    try:
        wait_port(port)
        # The big file, named in torch's convention so it is verified too.
        big_src = os.path.join(work, "big.tmp")
        h = hashlib.sha256()
        with open(big_src, "wb") as f:
            for _ in range(a.size_mib):
                b = os.urandom(MiB)
                h.update(b)
                f.write(b)
        big = "big-%s.bin" % h.hexdigest()[:8]
        os.rename(big_src, os.path.join(srv, big))
        os.chmod(os.path.join(srv, big), 0o644)
        url = "http://127.0.0.1:%d/%s" % (port, big)
        subprocess.run(["cat", os.path.join(srv, big)], stdout=subprocess.DEVNULL, check=True)
        sd = os.path.join(srv, "sd.pth")
        subprocess.run(["/usr/bin/python3", "-c",
                        "import torch, sys; torch.manual_seed(0); "
                        "torch.save({'l%d' % i: torch.randn(1024, 1024) for i in range(24)}, sys.argv[1])", sd],
                       check=True)
        os.chmod(sd, 0o644)
        sd_url = "http://127.0.0.1:%d/sd.pth" % port
        print("file %d MiB, %d runs, %d CPUs; nginx on 127.0.0.1:%d" % (a.size_mib, a.runs, os.cpu_count(), port))

        # Every contender starts from the same state: its output (cache dir,
        # file) deleted, `sync`, page cache dropped; in each run they go in
        # a rotated order, so none always runs first or after the same one;
        # the timed part of each starts SETTLE_S after the drop.
        if not can_drop_caches():
            print("WARNING: cannot drop caches (not root?): cold figures are not cold")
        print("load before: %s" % load_line())
        curl, cold, tdl, first, curl_first, rss = [], [], [], [], [], []
        native, curl_null, loads = [], [], []

        def c_curl(i, url=url, curl=curl):
            out = os.path.join(work, "curl.out")
            settle()
            t, _ = timed(lambda: subprocess.run(["curl", "-sf", "-o", out, url],
                                                capture_output=True, check=True))
            curl.append(t)
            os.unlink(out)

        def c_curl_null(i):
            settle()
            t, _ = timed(lambda: subprocess.run(["curl", "-sf", "-o", "/dev/null", url],
                                                capture_output=True, check=True))
            curl_null.append(t)

        def c_native(i):
            settle()
            native.append(timed(lambda: read_all(os.path.join(srv, big)))[0])

        def c_curl_first(i):
            r2 = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-r", "0-4095", "-w",
                                 "%{time_starttransfer}", url], capture_output=True, check=True)
            curl_first.append(float(r2.stdout))

        def c_torch(i, url=url, tdl=tdl):
            tt = subprocess.run(["/usr/bin/python3", "-c",
                                 "import torch.hub, time, sys\n"
                                 "time.sleep(max(0.0, float(sys.argv[3]) - time.monotonic()))\n"
                                 "t = time.perf_counter()\n"
                                 "torch.hub.download_url_to_file(sys.argv[1], sys.argv[2], progress=False)\n"
                                 "print(time.perf_counter() - t)", url, os.path.join(work, "torch.out"),
                                 repr(settle_at())],
                                capture_output=True)
            if tt.returncode:
                sys.exit("torch.hub.download_url_to_file failed: %s" % tt.stderr.decode()[-1500:])
            tdl.append(float(tt.stdout))
            os.unlink(os.path.join(work, "torch.out"))

        def c_hubfs(i, url=url, cold=cold, rss=rss, keep_last=True, cache_name="cache"):
            cache = os.path.join(work, cache_name)
            m = Mount(a.hubfs, mnt, cache)
            try:
                p = url_path(mnt, url)
                settle()
                os.stat(p)  # the HEAD, as `ls -l` would do first
                t, n = timed(lambda: read_all(p))
                assert n == a.size_mib * MiB
                cold.append(t)
                rss.append(m.peak_rss_kib())
                # verification (sha256) and the rename into checkpoints/
                # finish after the last byte is served: wait for them, as a
                # user's next run would find the file there
                ck = os.path.join(cache, "checkpoints", big)
                end = time.time() + 120
                while not os.path.exists(ck) and time.time() < end:
                    time.sleep(0.05)
            finally:
                m.close()
            if i < a.runs - 1 or not keep_last:
                shutil.rmtree(cache)  # the last one is kept for the warm figures

        def c_hubfs_first(i):
            cache2 = os.path.join(work, "cache-first")
            m = Mount(a.hubfs, mnt, cache2)
            try:
                p = url_path(mnt, url)

                def first4k():
                    fd = os.open(p, os.O_RDONLY)
                    b = os.pread(fd, 4096, 0)
                    os.close(fd)
                    return b
                t, b = timed(first4k)
                first.append(t)
            finally:
                m.close()
            shutil.rmtree(cache2)

        contenders = [c_curl, c_torch, c_hubfs, c_curl_first, c_hubfs_first, c_curl_null, c_native]
        s_curl, s_tdl, s_cold, s_rss = [], [], [], []
        if a.https:
            surl = "https://127.0.0.1:%d/%s" % (tport, big)
            contenders += [
                lambda i: c_curl(i, surl, s_curl), lambda i: c_torch(i, surl, s_tdl),
                lambda i: c_hubfs(i, surl, s_cold, s_rss, keep_last=False, cache_name="cache-tls")]
        for i in range(a.runs):
            k = i % len(contenders)
            for c in contenders[k:] + contenders[:k]:
                drop_and_settle_from_now()
                c(i)
            loads.append(os.getloadavg()[0])
        print("load after:  %s" % load_line())
        res.info["load"] = "1-min load average %.2f-%.2f during the runs, %d CPUs" % (
            min(loads), max(loads), os.cpu_count())

        # Warm: the complete file through the mount vs the cache file itself.
        # (the cold runs' last cache, kept by c_hubfs)
        cache = os.path.join(work, "cache")
        m = Mount(a.hubfs, mnt, cache)
        try:
            p = url_path(mnt, url)
            direct = os.path.join(cache, "checkpoints", big)
            read_all(p)
            end = time.time() + 120  # the rename follows the last byte served
            while not os.path.exists(direct) and time.time() < end:
                time.sleep(0.05)
            w = warm_rounds({"direct": direct, "mount": p}, a.runs)
            rd, rm = w["direct"], w["mount"]
            sp = url_path(mnt, sd_url)
            read_all(sp)
            local_sd = os.path.join(srv, "sd.pth")
            tl = subprocess.run(["/usr/bin/python3", "-c",
                                 "import torch, time, sys, statistics\n"
                                 "def t(p):\n"
                                 "    s = time.perf_counter(); torch.load(p); return time.perf_counter() - s\n"
                                 "t(sys.argv[1]); t(sys.argv[2])\n"
                                 "a = [t(sys.argv[1]) for _ in range(%d)]\n"
                                 "b = [t(sys.argv[2]) for _ in range(%d)]\n"
                                 "print(' '.join(map(str, a)), '|', ' '.join(map(str, b)))" % (a.runs, a.runs),
                                 local_sd, sp], capture_output=True, check=True)
            la, lb = tl.stdout.decode().split("|")
            tload_local = [float(x) for x in la.split()]
            tload_mount = [float(x) for x in lb.split()]
        finally:
            m.close()

        print("the machine's limits (same runs):")
        line("native read of the served file, cold disk", native, native)
        line("curl to /dev/null over loopback", curl_null, curl_null)
        print("cold read of the whole file:")
        line("vs the loopback limit (curl to /dev/null)", cold, curl_null, higher_is_better=True)
        line("curl -o FILE (baseline)", curl, curl)
        r_curl = line("hubfs cat, empty cache", cold, curl, higher_is_better=True)
        line("torch.hub.download_url_to_file (baseline)", tdl, tdl)
        r_torch = line("hubfs cat, empty cache", cold, tdl, higher_is_better=True)
        if a.https:
            print("cold read over https (local TLS server):")
            line("curl -o FILE (baseline)", s_curl, s_curl)
            r_scurl = line("hubfs cat, empty cache", s_cold, s_curl, higher_is_better=True)
            line("torch.hub.download_url_to_file (baseline)", s_tdl, s_tdl)
            r_storch = line("hubfs cat, empty cache", s_cold, s_tdl, higher_is_better=True)
            res.figure(17, "cold read over https, %d MiB (speed)" % a.size_mib, s_cold, s_curl,
                       "curl -o FILE", ratio=r_scurl, goal=">= 0.9x", met=r_scurl >= 0.9)
            res.figure(17, "cold read over https, %d MiB (speed)" % a.size_mib, s_cold, s_tdl,
                       "torch.hub.download_url_to_file", ratio=r_storch, goal=">= 2x", met=r_storch >= 2)
        print("first 4 KiB of a cold file:")
        line("curl time to first byte (baseline)", curl_first, curl_first)
        r_first = line("hubfs open+pread(4096)", first, curl_first)
        print("re-read of the complete file, page cache warm:")
        line("cache file read directly (baseline)", rd, rd)
        r_re = line("through the mount", rm, rd, higher_is_better=True)
        print("torch.load of a %.0f MiB state_dict:" % (os.path.getsize(local_sd) / MiB))
        line("from local disk (baseline)", tload_local, tload_local)
        r_load = line("from the mount", tload_mount, tload_local)
        peak = max(rss) / 1024
        print("daemon peak RSS while streaming: %.1f MiB" % peak)
        res.info["file"] = "%d MiB via nginx on loopback" % a.size_mib
        fm = statistics.median(first)
        res.figure(4, "cold read of a %d MiB weight file (speed)" % a.size_mib, cold, curl, "curl -o FILE",
                   ratio=r_curl, goal=">= 0.9x", met=r_curl >= 0.9)
        res.figure(4, "cold read of a %d MiB weight file (speed)" % a.size_mib, cold, tdl,
                   "torch.hub.download_url_to_file", ratio=r_torch, goal=">= 2x", met=r_torch >= 2)
        # right after the mount (its interpreter starting, its code not
        # paged in): bench_first_byte.py measures the goal's case
        res.figure(4, "first 4 KiB, a new mount's first file, at once", first, curl_first,
                   "curl time to first byte", ratio=r_first, value=fm * 1000)
        res.figure(4, "re-read of the complete file (speed)", rm, rd, "cache file read directly",
                   ratio=r_re, goal=">= 0.75x", met=r_re >= 0.75)
        res.figure(4, "torch.load from the mount", tload_mount, tload_local, "torch.load from local disk",
                   ratio=r_load, goal="<= 1.05x", met=r_load <= 1.05)
        res.figure(4, "daemon peak RSS while streaming", [x / 1024 for x in rss], unit="MiB",
                   value=peak, goal="<= 64 MiB", met=peak <= 64)
        res.write(a.json)
        print("goals (%s):" % load_line())
        print("  cold read >= 0.9x curl:                %.2fx %s" % (r_curl, "MET" if r_curl >= 0.9 else "NOT MET"))
        print("  cold read >= 2x download_url_to_file:  %.2fx %s" % (r_torch, "MET" if r_torch >= 2 else "NOT MET"))
        print("  first 4 KiB: see bench_first_byte.py (here: a new mount's first file, %.1f ms)" % (
            statistics.median(first) * 1000))
        print("  re-read >= 0.75x direct:               %.2fx %s" % (r_re, "MET" if r_re >= 0.75 else "NOT MET"))
        print("  torch.load <= 1.05x local:             %.2fx %s" % (r_load, "MET" if r_load <= 1.05 else "NOT MET"))
        print("  peak RSS <= 64 MiB:                    %.1f MiB %s" % (peak, "MET" if peak <= 64 else "NOT MET"))
    finally:
        nginx.terminate()
        nginx.wait()
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
