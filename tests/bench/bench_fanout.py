#!/usr/bin/env python3
"""Many hosts behind one squid (issue 16): the fan-out time of N hosts
reading the same cold weight file at once, against one host alone.

  sudo /usr/bin/python3 tests/bench/bench_fanout.py [--hosts 8] [--size-mib 64] [--runs 3]

Each measurement starts cold: a fresh squid (tests/integration/squidproxy.py,
the docs/usage.md recipe) with an empty cache, a fresh weight file on the
origin (tests/weights/httpd.py on loopback, unthrottled), and fresh hubfs
mounts with empty caches of their own, all with proxy= pointing at squid.
"alone" is one mount reading the whole file; "fan-out" is N mounts reading
it at once, timed until the last one has it all.  Every byte read is
checked (sha256 against the source) and the origin's count of body bytes
sent is printed: N hosts should cost the origin 1x the file.  The two
contenders alternate in each run; figures are medians.  On a machine with
few cores the N mounts share them (and the disk each writes its copy to):
the ratio is the cost of the fan-out here, not a network figure.
"""
import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import harness  # noqa: E402
from squidproxy import Squid  # noqa: E402
from test_weights import Server  # noqa: E402

MiB = 1 << 20


def url_path(mnt, url):
    return os.path.join(mnt, ".hubfs", "url", url.replace("%", "%25").replace("/", "%2F"))


def read_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def one(hubfs, work, srv, files, size, hosts, seq):
    """One cold measurement: seconds until the last of `hosts` mounts has
    read the whole file, and the origin's body bytes for it."""
    d = os.path.join(work, "m%d" % seq)
    os.makedirs(d)
    data = random.Random(seq).randbytes(size)
    name = "fan%d-%s.pth" % (seq, hashlib.sha256(data).hexdigest()[:8])
    with open(os.path.join(files, name), "wb") as f:
        f.write(data)
    want = hashlib.sha256(data).hexdigest()
    del data
    squid = Squid(d).start()
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY"):
        env.pop(k, None)
    mounts = []
    try:
        for i in range(hosts):
            mounts.append(harness.Mount(os.path.join(d, "mnt%d" % i),
                                        "cache=%s,proxy=%s" % (os.path.join(d, "c%d" % i),
                                                               squid.url),
                                        bin=hubfs, env=env, logdir=d).start())
        url = srv.url(name)
        got = [None] * hosts
        barrier = threading.Barrier(hosts + 1)

        def host(i):
            barrier.wait()
            got[i] = read_sha(url_path(mounts[i].path, url))
        threads = [threading.Thread(target=host, args=(i,)) for i in range(hosts)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.monotonic()
        for t in threads:
            t.join()
        secs = time.monotonic() - t0
        bad = [i for i in range(hosts) if got[i] != want]
        if bad:
            raise SystemExit("hosts %r read wrong bytes" % bad)
        return secs, srv.stats(name)["bytes"]
    finally:
        for m in mounts:
            m.stop(check=False)
        squid.remove()
        os.unlink(os.path.join(files, name))
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hubfs", default=os.path.join(TOP, "build", "hubfs"))
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    size = a.size_mib * MiB
    work = tempfile.mkdtemp(prefix="hubfs-bench-fanout-", dir="/var/tmp")
    os.chmod(work, 0o755)  # squid runs as its own user (proxy) below it
    files = os.path.join(work, "files")
    os.makedirs(files)
    srv = Server(files)
    res = {"alone": [], "fanout": []}
    origin = {"alone": [], "fanout": []}
    print("load before: %.2f %.2f %.2f" % os.getloadavg())
    seq = 0
    try:
        for r in range(a.runs):
            order = ["alone", "fanout"] if r % 2 == 0 else ["fanout", "alone"]
            for what in order:
                seq += 1
                secs, sent = one(a.hubfs, work, srv, files, size,
                                 1 if what == "alone" else a.hosts, seq)
                res[what].append(secs)
                origin[what].append(sent)
                print("run %d %-6s %6.2f s  origin sent %.2fx the file" % (
                    r + 1, what, secs, sent / size), flush=True)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("load after: %.2f %.2f %.2f" % os.getloadavg())
    alone = statistics.median(res["alone"])
    fan = statistics.median(res["fanout"])
    print("file %d MiB; one host alone %.2f s; %d hosts at once %.2f s (medians of %d)"
          % (a.size_mib, alone, a.hosts, fan, a.runs))
    print("fan-out ratio (%d hosts / 1 host): %.2f" % (a.hosts, fan / alone))
    print("origin bytes per file: alone %s, fan-out %s (x the file size)" % (
        ",".join("%.2f" % (b / size) for b in origin["alone"]),
        ",".join("%.2f" % (b / size) for b in origin["fanout"])))


if __name__ == "__main__":
    main()
