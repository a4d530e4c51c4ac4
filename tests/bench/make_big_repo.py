#!/usr/bin/env python3
"""Make a realistic-size hub repository for the benchmarks, with git fast-import.

  make_big_repo.py DEST.git [--files 1500] [--commits 2000] [--seed 1]

A bare repository with a hubconf.py, ~1,500 files in nested packages and
~2,000 commits, each rewriting a few files with fresh random bytes, so the
pack holds about 60 MB of history that does not delta away.  Deterministic
for a given seed.  Our own synthetic content; nothing copied.
"""
import argparse
import os
import random
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dest")
    ap.add_argument("--files", type=int, default=1500)
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--history-bytes", type=int, default=60 << 20)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", a.dest], check=True)
    paths = ["hubconf.py"]
    for i in range(a.files - 1):
        depth = rnd.randint(0, 3)
        parts = [f"pkg{rnd.randint(0, 9)}"] + [f"sub{rnd.randint(0, 7)}" for _ in range(depth)]
        ext = rnd.choice([".py", ".py", ".py", ".txt", ".json", ".md"])
        paths.append("/".join(parts + [f"file{i}{ext}"]))
    per_commit = max(1, a.history_bytes // a.commits)
    fi = subprocess.Popen(["git", "-C", a.dest, "fast-import", "--quiet"], stdin=subprocess.PIPE)
    out = fi.stdin

    def blob(data):
        out.write(b"data %d\n" % len(data))
        out.write(data)
        out.write(b"\n")

    def text(n):
        words = [b"def", b"return", b"tensor", b"layer", b"conv", b"weights", b"self", b"model"]
        return b" ".join(rnd.choice(words) for _ in range(max(1, n // 6)))[:n] + b"\n"

    t0 = 1600000000
    for c in range(a.commits):
        out.write(b"commit refs/heads/main\n")
        out.write(b"committer Bench <bench@example.invalid> %d +0000\n" % (t0 + c * 60))
        msg = b"commit %d\n" % c
        out.write(b"data %d\n%s" % (len(msg), msg))
        if c == 0:
            for p in paths:
                out.write(b"M 100644 inline %s\n" % p.encode())
                if p == "hubconf.py":
                    blob(b"dependencies = ['torch']\n\ndef big(pretrained=False):\n    \"\"\"A big repo.\"\"\"\n    return None\n")
                else:
                    blob(text(rnd.randint(200, 6000)))
        else:
            for p in rnd.sample(paths[1:], 3):
                out.write(b"M 100644 inline %s\n" % p.encode())
                blob(rnd.randbytes(per_commit // 3) if rnd.random() < 0.9 else text(per_commit // 3))
    out.write(b"done\n")
    out.close()
    if fi.wait() != 0:
        sys.exit("fast-import failed")
    subprocess.run(["git", "-C", a.dest, "repack", "-adq"], check=True)
    subprocess.run(["git", "-C", a.dest, "config", "uploadpack.allowAnySHA1InWant", "true"], check=True)


if __name__ == "__main__":
    main()
