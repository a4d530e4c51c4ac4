"""Shared pieces of the crash suite (tests/crash) and the soak (tests/soak).

SEED: every random choice (kill points, offsets) derives from it; it is
printed at import and HUBFS_CRASH_SEED=N replays a run."""
import hashlib
import json
import os
import random
import threading
import time

import make_repos

SEED = int(os.environ.get("HUBFS_CRASH_SEED", random.randrange(1 << 30)))
print("crash suite seed: %d (HUBFS_CRASH_SEED=%d to replay)" % (SEED, SEED))

MiB = 1 << 20

# alice/big as the crash suite uses it: 16 x 256 KiB of incompressible data
# at the tip (4 MiB), one generation of history.
BIG = {"files": 16, "file_size": 256 << 10, "history": 1}

# alice/slowconf: a hubconf.py with this many entrypoints (each with a
# docstring); about 150 bytes each, so ~0.5 MB of source for the analyser.
SLOWCONF_ENTRYPOINTS = 3000


def slowconf_names(n=SLOWCONF_ENTRYPOINTS):
    return ["model_%04d" % i for i in range(n)]


def slowconf_doc(name):
    return "Entrypoint %s of the slow-analysis fixture; its docstring is its help." % name


def make_slowconf(base, owner="alice", repo="slowconf", n=SLOWCONF_ENTRYPOINTS):
    path = make_repos.init_bare(base, owner, repo, "main")
    lines = ['"""A hubconf.py large enough that analysing it takes a while."""', "",
             "dependencies = ['torch']", ""]
    for name in slowconf_names(n):
        lines += ["", "def %s(pretrained=False, **kwargs):" % name,
                  '    """%s"""' % slowconf_doc(name),
                  "    from models import build",
                  "    return build(%r, width=%d, **kwargs)" % (name, len(name))]
    s = make_repos.Stream()
    m = s.commit("refs/heads/main", {"hubconf.py": "\n".join(lines) + "\n",
                                     "models/__init__.py": make_repos.MODELS_INIT},
                 "A big hubconf", *make_repos._t(70))
    sha = s.run(path)[m]
    return {"path": path, "default_branch": "main", "commits": {"s1": sha},
            "refs": {"main": sha}, "entrypoints": slowconf_names(n)}


class Box:
    """The outcome of a filesystem call made in a background thread that
    may be cut off by a kill (the caller joins with a deadline)."""

    def __init__(self, fn, *args):
        self.result = None
        self.error = None
        self.done = threading.Event()
        self.t0 = time.monotonic()
        self.t1 = None
        self.thread = threading.Thread(target=self._run, args=(fn,) + args, daemon=True)
        self.thread.start()

    def _run(self, fn, *args):
        try:
            self.result = fn(*args)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            self.error = e
        finally:
            self.t1 = time.monotonic()
            self.done.set()

    def wait(self, timeout):
        return self.done.wait(timeout)


def read_all_chunks(path, size, chunk=MiB):
    """Read path in `chunk` preads; returns the bytes (raises OSError)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        parts = []
        off = 0
        while off < size:
            b = os.pread(fd, chunk, off)
            if not b:
                break
            parts.append(b)
            off += len(b)
        return b"".join(parts)
    finally:
        os.close(fd)


def check_checkpoints(cache, sources):
    """Every file in <cache>/checkpoints/ is a complete, correct copy of a
    source ({name: bytes}).  Returns a list of problems."""
    ck = os.path.join(cache, "checkpoints")
    bad = []
    if not os.path.isdir(ck):
        return bad
    for n in sorted(os.listdir(ck)):
        full = os.path.join(ck, n)
        if n not in sources:
            bad.append("checkpoints/%s: not a weight that was read (partial or temp file?)" % n)
            continue
        with open(full, "rb") as f:
            got = f.read()
        want = sources[n]
        if got != want:
            bad.append("checkpoints/%s: %d bytes, sha256 %s; the source has %d bytes, sha256 %s"
                       % (n, len(got), hashlib.sha256(got).hexdigest()[:16], len(want),
                          hashlib.sha256(want).hexdigest()[:16]))
    return bad


def check_json_files(dirpath):
    """Every final-named file (no '.tmp.' in it) in dirpath that ends in
    .json parses as JSON.  Returns (problems, leftover temp file names)."""
    bad, temps = [], []
    if not os.path.isdir(dirpath):
        return bad, temps
    for n in sorted(os.listdir(dirpath)):
        full = os.path.join(dirpath, n)
        if ".tmp." in n:
            temps.append(n)
            continue
        if n.endswith(".json"):
            try:
                with open(full, "rb") as f:
                    json.loads(f.read())
            except ValueError as e:
                bad.append("%s: not valid JSON under a final name: %s" % (full, e))
    return bad, temps


def repo_state_problems(cache):
    """Every state.json of every cached repo parses (it is replaced atomically)."""
    bad = []
    root = os.path.join(cache, "hubfs", "repos")
    for dirpath, dirnames, filenames in os.walk(root):
        if "git" in dirnames:
            dirnames.remove("git")
        for n in filenames:
            if n == "state.json":
                try:
                    with open(os.path.join(dirpath, n), "rb") as f:
                        json.loads(f.read())
                except ValueError as e:
                    bad.append("%s: %s" % (os.path.join(dirpath, n), e))
    return bad
