#!/usr/bin/env python3
"""The Python helper against torch.hub (issue 5), as ratios.

  sudo /usr/bin/python3 tests/bench/bench_helper.py [--runs 5] [--json F]

The helper's fixture repos (tests/python/fixtures.py) on git daemon, hubfs
mounted over them, and torch.hub's own cache laid out as torch.hub lays it
out (offline, skip_validation) as the baseline, in this one process:
  warm load   hubfs.load(repo, "net", pretrained=True) vs torch.hub.load of the
              same entrypoint, both after a first call (goal <= 1.0x)
  list        hubfs.list(repo) vs torch.hub.list(repo) (goal >= 100x faster)
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "tests", "python"))
sys.path.insert(0, os.path.join(TOP, "py"))
from results import Results  # noqa: E402


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hubfs", default=os.path.join(TOP, "build", "hubfs"))
    ap.add_argument("--json")
    a = ap.parse_args()
    os.environ["HUBFS_BIN"] = a.hubfs
    import harness
    import fixtures
    import torch
    import torch.hub
    import hubfs
    from conftest import _weights
    from test_weights import Server
    res = Results("helper")
    work = tempfile.mkdtemp(prefix="hubfs-bench-h-")
    hub = srv = None
    try:
        files = os.path.join(work, "files")
        os.makedirs(files)
        weight = _weights(files)
        base = os.path.join(work, "repos")
        repos = fixtures.make(base, weight)
        srv = Server(files)
        hub = harness.Hub(os.path.join(work, "hub"), pristine=base)
        hub.start_upstream()
        mnt = hub.mount(extra=["rewrite=https://weights.invalid/w/=" + srv.url("")]).path
        th = os.path.join(work, "torch-hub")
        fixtures.export(repos["hx/zoo"], "main", os.path.join(th, "hx_zoo_main"))
        os.makedirs(os.path.join(th, "checkpoints"))
        shutil.copy(os.path.join(files, weight), os.path.join(th, "checkpoints", weight))
        hubfs_dir = os.path.join(work, "hubfs-dir")
        os.makedirs(hubfs_dir)
        repo = "hx/zoo:main"

        def ours_load():
            hubfs.load(repo, "net", pretrained=True, trust_repo=True, mount=mnt)

        def theirs_load():
            torch.hub.load(repo, "net", pretrained=True, trust_repo=True, skip_validation=True, verbose=False)

        def with_dir(d, fn):
            def run():
                torch.hub.set_dir(d)
                fn()
            return run
        ours_load, theirs_load = with_dir(hubfs_dir, ours_load), with_dir(th, theirs_load)
        ours_load(), theirs_load()
        tl, ol = [], []
        for _ in range(a.runs):
            tl += timed(theirs_load, 3)
            ol += timed(ours_load, 3)
        torch.hub.set_dir(th)
        tli = timed(lambda: torch.hub.list(repo, skip_validation=True, trust_repo=True), a.runs * 3)
        oli = timed(lambda: hubfs.list(repo, mount=mnt), a.runs * 3)
        # what a user runs: a fresh interpreter each time (torch.hub.list
        # needs `import torch`; hubfs.list does not)
        import subprocess
        home = os.path.join(work, "torch-home")
        os.makedirs(home)
        os.rename(th, os.path.join(home, "hub"))
        th = os.path.join(home, "hub")
        envp = dict(os.environ, PYTHONPATH=os.path.join(TOP, "py"), TORCH_HOME=home,
                    PYTHONPYCACHEPREFIX=os.path.join(work, "pycache"))
        # as on a user's machine, hubfs's bytecode is cached after the first
        # run (torch's is, by the Debian package); outside the tree
        envp.pop("PYTHONDONTWRITEBYTECODE", None)
        tcmd = ["/usr/bin/python3", "-c", "import torch; torch.hub.list(%r, skip_validation=True, "
                "trust_repo=True)" % repo]
        ocmd = ["/usr/bin/python3", "-c", "import hubfs; hubfs.list(%r, mount=%r)" % (repo, mnt)]
        tpr = timed(lambda: subprocess.run(tcmd, env=envp, check=True, capture_output=True), a.runs)
        opr = timed(lambda: subprocess.run(ocmd, env=envp, check=True, capture_output=True), a.runs)
        # the same, timed inside the child: import + list, without the
        # interpreter's own start-up (which neither side can change)
        def inner(cmd):
            out = []
            for _ in range(a.runs):
                r = subprocess.run(["/usr/bin/python3", "-c", "import time; t = time.perf_counter(); " + cmd +
                                    "; print(time.perf_counter() - t)"], env=envp, check=True,
                                   capture_output=True, text=True)
                out.append(float(r.stdout.split()[-1]))
            return out
        tin = inner("import torch; torch.hub.list(%r, skip_validation=True, trust_repo=True)" % repo)
        oin = inner("import hubfs; hubfs.list(%r, mount=%r)" % (repo, mnt))
        r_inner = statistics.median(tin) / statistics.median(oin)
        ppr = timed(lambda: subprocess.run(["/usr/bin/python3", "-c", "pass"], env=envp, check=True,
                                           capture_output=True), a.runs)
        r_list_cmd = statistics.median(tpr) / statistics.median(opr)
        print("list in a fresh interpreter (what a user runs):")
        print("  python -c torch.hub.list    median %8.1f ms" % (statistics.median(tpr) * 1000))
        print("  python -c hubfs.list        median %8.1f ms   %.0fx faster" % (statistics.median(opr) * 1000,
                                                                             r_list_cmd))
        print("  python -c pass (the floor)  median %8.1f ms   (torch.hub.list / this: %.0fx)" % (
            statistics.median(ppr) * 1000, statistics.median(tpr) / statistics.median(ppr)))
        print("  inside the child, import + list only: torch %8.1f ms, hubfs %6.2f ms   %.0fx faster" % (
            statistics.median(tin) * 1000, statistics.median(oin) * 1000, r_inner))
        res.figure(5, "import + list in a fresh interpreter, start-up excluded (speed-up)", oin, tin,
                   "import torch; torch.hub.list (offline)", ratio=r_inner)
        res.figure(5, "list in a fresh interpreter (speed-up)", opr, tpr, "python -c torch.hub.list (offline)",
                   ratio=r_list_cmd, goal=">= 100x faster", met=r_list_cmd >= 100)
        r_load = statistics.median(ol) / statistics.median(tl)
        r_list = statistics.median(tli) / statistics.median(oli)
        print("warm load of hx/zoo:main net(pretrained=True), %d calls each:" % len(ol))
        print("  torch.hub.load (baseline)   median %8.2f ms" % (statistics.median(tl) * 1000))
        print("  hubfs.load                  median %8.2f ms   %.2fx" % (statistics.median(ol) * 1000, r_load))
        print("list:")
        print("  torch.hub.list (baseline)   median %8.3f ms" % (statistics.median(tli) * 1000))
        print("  hubfs.list                  median %8.3f ms   %.0fx faster" % (statistics.median(oli) * 1000,
                                                                           r_list))
        print("goals:")
        print("  warm hubfs.load <= 1.0x torch.hub.load: %.2fx %s" % (r_load, "MET" if r_load <= 1.0 else "NOT MET"))
        print("  hubfs.list >= 100x faster than torch.hub.list (fresh interpreter): %.0fx %s" % (
            r_list_cmd, "MET" if r_list_cmd >= 100 else "NOT MET"))
        print("  (in-process, both warm: %.1fx; fresh interpreter without its start-up: %.0fx)" % (r_list, r_inner))
        res.figure(5, "warm load of an entrypoint with weights", ol, tl, "torch.hub.load (warm, offline)",
                   ratio=r_load, goal="<= 1.0x", met=r_load <= 1.0)
        res.figure(5, "list in-process, warm (speed-up)", oli, tli, "torch.hub.list (offline, warm)",
                   ratio=r_list)
        res.write(a.json)
    finally:
        if hub:
            hub.close()
        if srv:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
