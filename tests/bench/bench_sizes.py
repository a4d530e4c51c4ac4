#!/usr/bin/env python3
"""Read throughput and first-byte latency of weight files against file size.

  sudo /usr/bin/python3 tests/bench/bench_sizes.py [--sizes 1,4,16,64,256,1024] [--runs 3] [--json F]
      [--warm-only]

For each size, nginx on loopback serves a file (named in torch's convention,
so hubfs verifies it) and, in this same invocation:
  cold    hubfs: read through a fresh mount and empty cache (download)
          curl -o FILE onto the same disk (the baseline)
  first   hubfs: open + pread(4096) of a cold file; curl's time to first byte
  warm    hubfs: re-read of the complete file through the mount
          the same file read natively (page cache warm)
          through hubfs-passthrough, a minimal low-level passthrough with the
          same caching (keep_cache, long timeouts): FUSE's own cost
          (2 x --runs rounds: caches dropped, filled in a rotating order,
          re-read)
Prints a table and, with --json, the samples for tests/bench/report.py.
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
from bench_weights import Mount, read_all, timed, url_path, warm_rounds  # noqa: E402
from results import Results  # noqa: E402

MiB = 1 << 20


def work_dirs(prefix):
    """A work directory under /var/tmp and its srv/ (the files nginx
    serves), both readable by nginx's worker user: (work, srv)."""
    work = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    os.chmod(work, 0o755)
    srv = os.path.join(work, "srv")
    os.makedirs(srv)
    os.chmod(srv, 0o755)
    return work, srv


def nginx_start(work, srv):
    port = free_port()
    os.makedirs(os.path.join(work, "nginx"))
    with open(os.path.join(work, "nginx", "nginx.conf"), "w") as f:
        f.write("daemon off; worker_processes 1; pid %s/nginx/nginx.pid; error_log %s/nginx/error.log;\n"
                "events { worker_connections 64; }\n"
                "http { access_log off; sendfile on; tcp_nopush on;\n"
                "  server { listen 127.0.0.1:%d; root %s; } }\n" % (work, work, port, srv))
    p = subprocess.Popen(["/usr/sbin/nginx", "-c", os.path.join(work, "nginx", "nginx.conf"),
                          "-p", os.path.join(work, "nginx")])
    wait_port(port)
    return p, port


def make_file(srv, size_mib, tag):
    h = hashlib.sha256()
    tmp = os.path.join(srv, ".tmp")
    with open(tmp, "wb") as f:
        for _ in range(size_mib):
            b = os.urandom(MiB)
            h.update(b)
            f.write(b)
    name = "s%s-%s.bin" % (tag, h.hexdigest()[:8])
    os.rename(tmp, os.path.join(srv, name))
    os.chmod(os.path.join(srv, name), 0o644)
    return name


class Passthrough:
    def __init__(self, binary, src, mnt):
        self.mnt = mnt
        self.proc = subprocess.Popen([binary, src, mnt], stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while not is_mounted(mnt):
            if time.time() > end or self.proc.poll() is not None:
                raise RuntimeError("hubfs-passthrough did not mount")
            time.sleep(0.02)

    def close(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=False)
        self.proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,4,16,64,256,1024", help="MiB, comma-separated")
    ap.add_argument("--warm-only", action="store_true",
                    help="only the warm re-read (hubfs, passthrough, native): no cold or first-byte runs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hubfs", default=os.path.join(TOP, "build", "hubfs"))
    ap.add_argument("--passthrough", default=os.path.join(TOP, "build", "tests", "hubfs-passthrough"))
    ap.add_argument("--json")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    res = Results("sizes")
    work, srv = work_dirs("hubfs-bench-s-")
    mnt, pmnt = os.path.join(work, "mnt"), os.path.join(work, "pmnt")
    os.makedirs(mnt)
    os.makedirs(pmnt)
    nginx, port = nginx_start(work, srv)
    rows = []
    try:
        for size in sizes:
            name = make_file(srv, size, size)
            src = os.path.join(srv, name)
            url = "http://127.0.0.1:%d/%s" % (port, name)
            read_all(src)
            curl, cold, curl_first, first = [], [], [], []
            for i in range(0 if a.warm_only else a.runs):
                out = os.path.join(work, "curl.out")
                curl.append(timed(lambda: subprocess.run(["curl", "-sf", "-o", out, url], check=True))[0])
                os.unlink(out)
                r = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-r", "0-4095", "-w",
                                    "%{time_starttransfer}", url], capture_output=True, check=True)
                curl_first.append(float(r.stdout))
                cache = os.path.join(work, "c%d-%d" % (size, i))
                m = Mount(a.hubfs, mnt, cache)
                try:
                    p = url_path(mnt, url)
                    os.stat(p)  # the HEAD, as ls -l does first
                    cold.append(timed(lambda: read_all(p))[0])
                finally:
                    m.close()
                shutil.rmtree(cache)
                cache = os.path.join(work, "f%d-%d" % (size, i))
                m = Mount(a.hubfs, mnt, cache)
                try:
                    p = url_path(mnt, url)

                    def first4k():
                        fd = os.open(p, os.O_RDONLY)
                        b = os.pread(fd, 4096, 0)
                        os.close(fd)
                        return b
                    first.append(timed(first4k)[0])
                finally:
                    m.close()
                shutil.rmtree(cache)
            # warm: hubfs (complete file), native, passthrough
            cache = os.path.join(work, "w%d" % size)
            m = Mount(a.hubfs, mnt, cache)
            pt = Passthrough(a.passthrough, srv, pmnt)
            try:
                p = url_path(mnt, url)
                read_all(p)
                ck = os.path.join(cache, "checkpoints", name)
                end = time.time() + 120
                while not os.path.exists(ck) and time.time() < end:
                    time.sleep(0.05)
                pp = os.path.join(pmnt, name)
                # each round fills the three page caches again, in an order
                # that rotates: the one filled first re-reads slower here
                # (bench_weights.warm_rounds); twice --runs rounds, cheap
                # next to the downloads, so that with 3 each contender is
                # filled first, second and last twice
                w = warm_rounds({"hubfs": p, "passthrough": pp, "native": src}, 2 * a.runs)
                warm, native, passt = w["hubfs"], w["native"], w["passthrough"]
            finally:
                pt.close()
                m.close()
            shutil.rmtree(cache)
            os.unlink(src)
            mb = size * MiB / 1e6
            if a.warm_only:
                print("%5d MiB  warm %7.0f MB/s: %.2fx the passthrough (%7.0f), %.2fx native (%7.0f)" % (
                    size, mb / statistics.median(warm), statistics.median(passt) / statistics.median(warm),
                    mb / statistics.median(passt), statistics.median(native) / statistics.median(warm),
                    mb / statistics.median(native)), flush=True)
                continue
            row = {"size_mib": size,
                   "cold_mbps": mb / statistics.median(cold), "curl_mbps": mb / statistics.median(curl),
                   "warm_mbps": mb / statistics.median(warm), "native_mbps": mb / statistics.median(native),
                   "passthrough_mbps": mb / statistics.median(passt),
                   "first_ms": statistics.median(first) * 1000, "curl_first_ms": statistics.median(curl_first) * 1000}
            rows.append(row)
            sp = lambda v: (max(v) - min(v)) / 2 / statistics.median(v)  # noqa: E731
            res.figure(4, "cold read, %d MiB (speed)" % size, cold, curl, "curl -o FILE",
                       ratio=statistics.median(curl) / statistics.median(cold))
            res.figure(4, "first 4 KiB, %d MiB file" % size, first, curl_first, "curl time to first byte",
                       ratio=statistics.median(first) / statistics.median(curl_first))
            res.figure(4, "warm re-read, %d MiB (speed)" % size, warm, native, "native read",
                       ratio=statistics.median(native) / statistics.median(warm))
            res.figure(4, "warm re-read, %d MiB (speed)" % size, warm, passt, "minimal passthrough",
                       ratio=statistics.median(passt) / statistics.median(warm))
            print("%5d MiB  cold %7.0f MB/s (curl %7.0f, ±%.0f%%)  warm %7.0f MB/s (%.2fx passthrough "
                  "%7.0f, %.2fx native %7.0f)  first 4 KiB %6.2f ms (curl %5.2f ms, %+.2f ms)" % (
                      size, row["cold_mbps"], row["curl_mbps"], sp(cold) * 100, row["warm_mbps"],
                      row["warm_mbps"] / row["passthrough_mbps"], row["passthrough_mbps"],
                      row["warm_mbps"] / row["native_mbps"], row["native_mbps"], row["first_ms"],
                      row["curl_first_ms"], row["first_ms"] - row["curl_first_ms"]),
                  flush=True)
        res.info["sweep"] = rows
        res.write(a.json)
    finally:
        nginx.terminate()
        nginx.wait()
        for d in (mnt, pmnt):
            if is_mounted(d):
                subprocess.run(["fusermount3", "-uz", d])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
