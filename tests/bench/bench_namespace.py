#!/usr/bin/env python3
"""Benchmark of the namespace (issue 2): ratios against git and a local checkout.

  sudo /usr/bin/python3 tests/bench/bench_namespace.py [--runs 5] [--hubfs build/hubfs]

Cold: the first `ls` of a realistic repo (~1,500 files, ~60 MB of history)
through a fresh mount with an empty cache, against `git clone --depth 1 --bare`
and `git clone --bare` from the same `git daemon` on loopback.
Goal: hubfs cold ls <= 1.2x the shallow clone.

Warm: walking + stat of every file, and reading every file, through the
mount (after one pass, so the kernel caches are warm) against the same on a
plain checkout on local disk.  Goals: metadata <= 1.2x, reads <= 1.5x.

Prints medians and spreads over --runs, every figure as a ratio to the
baseline measured in the same invocation.  Not a test: it asserts nothing.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import Results  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("git daemon did not start")


def is_mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mnt for line in f)


class Mount:
    def __init__(self, hubfs, mnt, cache, port):
        self.mnt, self.cache = mnt, cache
        opts = f"cache={cache},rewrite=https://github.com/=git://127.0.0.1:{port}/"
        self.proc = subprocess.Popen([hubfs, "-f", "-o", opts, mnt], stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while not is_mounted(mnt):
            if time.time() > end or self.proc.poll() is not None:
                raise RuntimeError("hubfs did not mount")
            time.sleep(0.02)

    def close(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=False)
        self.proc.wait(timeout=30)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def walk(root):
    """os.walk without hubfs's generated .hub/ view (the checkout has none)."""
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root and ".hub" in dirnames:
            dirnames.remove(".hub")
        yield dirpath, dirnames, filenames


def walk_stat(root):
    n = 0
    for dirpath, dirnames, filenames in walk(root):
        for name in filenames + dirnames:
            os.lstat(os.path.join(dirpath, name))
            n += 1
    return n


def list_files(root):
    out = []
    for dirpath, _, filenames in walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                out.append(p)
    return out


def read_raw(files):
    """open(2) + read(2) until EOF + close(2), as cat does."""
    total = 0
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        while True:
            b = os.read(fd, 1 << 17)
            if not b:
                break
            total += len(b)
        os.close(fd)
    return total


def read_py(files):
    """Python's open(): it adds an isatty() ioctl per file, which FUSE
    forwards to the daemon (one round trip; Python 3.14 skips it)."""
    total = 0
    for p in files:
        with open(p, "rb") as f:
            total += len(f.read())
    return total


def summary(name, values, base):
    med = statistics.median(values)
    spread = (max(values) - min(values)) / 2
    ratio = med / statistics.median(base) if base else 1.0
    print(f"  {name:<38} median {med * 1000:9.1f} ms  ±{spread * 1000:7.1f}  ratio {ratio:5.2f}x")
    return ratio


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hubfs", default=os.path.join(TOP, "build", "hubfs"))
    ap.add_argument("--json", help="also write the figures there (tests/bench/report.py)")
    a = ap.parse_args()
    res = Results("namespace")
    work = tempfile.mkdtemp(prefix="hubfs-bench-")
    base = os.path.join(work, "serve")
    os.makedirs(os.path.join(base, "bench"))
    repo = os.path.join(base, "bench", "big.git")
    subprocess.run([sys.executable, os.path.join(HERE, "make_big_repo.py"), repo], check=True)
    pack_mb = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(repo) for f in fs) / 1e6
    port = free_port()
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", f"--base-path={base}", "--export-all",
                               "--listen=127.0.0.1", f"--port={port}", base],
                              stderr=subprocess.DEVNULL)
    url = f"git://127.0.0.1:{port}/bench/big.git"
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    try:
        wait_port(port)
        print(f"repo: 1500 files, 2000 commits, {pack_mb:.0f} MB on disk; {a.runs} runs; "
              f"{os.cpu_count()} CPUs")
        shallow, full, cold = [], [], []
        for i in range(a.runs):
            d = os.path.join(work, f"clone{i}")
            shallow.append(timed(lambda: subprocess.run(
                ["git", "clone", "-q", "--bare", "--depth", "1", url, d + "s"], check=True)))
            full.append(timed(lambda: subprocess.run(
                ["git", "clone", "-q", "--bare", url, d + "f"], check=True)))
            cache = os.path.join(work, f"cache{i}")
            m = Mount(a.hubfs, mnt, cache, port)
            try:
                cold.append(timed(lambda: os.listdir(os.path.join(mnt, "bench", "big:main"))))
            finally:
                m.close()
            shutil.rmtree(d + "s")
            shutil.rmtree(d + "f")
        print("cold (empty cache):")
        summary("git clone --depth 1 --bare (baseline)", shallow, shallow)
        summary("git clone --bare", full, shallow)
        r_cold = summary("hubfs first ls of big:main", cold, shallow)

        checkout = os.path.join(work, "checkout")
        subprocess.run(["git", "clone", "-q", url, checkout], check=True)
        shutil.rmtree(os.path.join(checkout, ".git"))
        m = Mount(a.hubfs, mnt, os.path.join(work, "cache0"), port)
        try:
            tree = os.path.realpath(os.path.join(mnt, "bench", "big:main"))
            fl, fh = list_files(checkout), list_files(tree)
            walk_stat(tree), read_raw(fh), walk_stat(checkout), read_raw(fl)
            ms, mh, rs, rh, ps, ph = [], [], [], [], [], []
            for _ in range(a.runs):
                ms.append(timed(lambda: walk_stat(checkout)))
                mh.append(timed(lambda: walk_stat(tree)))
                rs.append(timed(lambda: read_raw(fl)))
                rh.append(timed(lambda: read_raw(fh)))
                ps.append(timed(lambda: read_py(fl)))
                ph.append(timed(lambda: read_py(fh)))
            n_local, n_mount = walk_stat(checkout), walk_stat(tree)
            print(f"warm ({n_local} entries local, {n_mount} through the mount):")
            summary("walk+lstat, local checkout (baseline)", ms, ms)
            r_meta = summary("walk+lstat, hubfs", mh, ms)
            summary("read all files, local checkout (baseline)", rs, rs)
            r_read = summary("read all files, hubfs", rh, rs)
            summary("python open().read() all, local (baseline)", ps, ps)
            summary("python open().read() all, hubfs", ph, ps)
        finally:
            m.close()
        res.info["repo"] = f"1500 files, 2000 commits, {pack_mb:.0f} MB"
        res.figure(2, "cold first ls of a repo", cold, shallow, "git clone --depth 1 --bare",
                   ratio=r_cold, goal="<= 1.2x", met=r_cold <= 1.2)
        res.figure(2, "cold first ls of a repo (vs full clone)", cold, full, "git clone --bare",
                   ratio=statistics.median(cold) / statistics.median(full))
        res.figure(2, "warm walk + lstat of every entry", mh, ms, "local checkout",
                   ratio=r_meta, goal="<= 1.2x", met=r_meta <= 1.2)
        res.figure(2, "warm read(2) of every file", rh, rs, "local checkout",
                   ratio=r_read, goal="<= 1.5x", met=r_read <= 1.5)
        res.figure(2, "warm Python open().read() of every file", ph, ps, "local checkout",
                   ratio=statistics.median(ph) / statistics.median(ps))
        res.write(a.json)
        print("goals:")
        print(f"  cold ls <= 1.2x shallow clone: {r_cold:.2f}x {'MET' if r_cold <= 1.2 else 'NOT MET'}")
        print(f"  warm metadata <= 1.2x local:   {r_meta:.2f}x {'MET' if r_meta <= 1.2 else 'NOT MET'}")
        print(f"  warm reads <= 1.5x local:      {r_read:.2f}x {'MET' if r_read <= 1.5 else 'NOT MET'}")
    finally:
        daemon.terminate()
        daemon.wait()
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-uz", mnt])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
