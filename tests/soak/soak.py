#!/usr/bin/python3
"""hubfs soak test (issue 6, part 5): N readers for M minutes, every byte checked.

    /usr/bin/python3 tests/soak/soak.py --readers 8 --minutes 60 --seed 1
    /usr/bin/python3 tests/soak/soak.py --readers 4 --seconds 30      # the CI version

Mounts hubfs (HUBFS_BIN or --bin, default build/hubfs) over the fixture
repositories of tests/fixtures/make_repos.py served by `git daemon` on
loopback, and weight files served by tests/weights/httpd.py, then runs N
reader threads that each pick random operations:

  lookup   readlink <owner>/<repo>:<ref> (the commit must be the ref's, or
           for the moving branch one it has pointed at), then lstat a random
           entry of that commit: type, size, permissions; or a name that does
           not exist (ENOENT)
  readdir  list a random directory of a commit: the names git has
  read     pread a random file at a random offset (sometimes all of it),
           through the commit directory or through the ref's symlink
  hub      .hub/commit and .hub/entrypoints/ of a commit (names from the
           module-level functions of its hubconf.py)
  weight   pread a weight file at a random offset through /.hubfs/url/...,
           while it downloads (one file is throttled) and after

A mover thread moves the branch alice/vision:moving to the next commit of a
prepared chain every --move-every seconds (the mount has ref_ttl=1), so
resolutions change under the readers.  Every answer is compared with the
ground truth from git and the weight files' bytes; any difference, any
unexpected errno, or any call that takes longer than --deadline seconds (a
watchdog aborts the FUSE connection so nothing stays hung) is a failure.
At the end: every file in <cache>/checkpoints/ equals its source, hubfs
unmounts and exits 0 with no error report on stderr.

Output: a progress line every --report seconds, then ops/s per operation,
latency (max) and the failures.  Exit status 0 when all is well, 1 on any
failure, 2 on a usage or setup error.  The seed (printed) makes the choices
of the readers reproducible (thread interleaving is not).
"""
import argparse
import ast
import errno
import hashlib
import os
import random
import shutil
import stat
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
import harness  # noqa: E402
import make_repos  # noqa: E402
from test_weights import Server, make_weight, url_path  # noqa: E402

MiB = 1 << 20
OPS = {"lookup": 3, "readdir": 2, "read": 4, "hub": 1, "weight": 3}
MOVING = ("alice", "vision", "moving")
CHAIN = 12


class Truth:
    """Ground truth of one commit, from git."""

    def __init__(self, gitdir, sha):
        self.sha = sha
        self.tree = harness.git_tree(gitdir, sha)
        self.blobs = harness.git_blobs(gitdir, [e.sha for e in self.tree.values()
                                                if e.type == "blob"])
        self.dirs = {b""}
        self.children = {b"": set()}
        for p, e in self.tree.items():
            parent, _, name = p.rpartition(b"/")
            self.children.setdefault(parent, set()).add(name)
            if e.mode == "040000":
                self.dirs.add(p)
                self.children.setdefault(p, set())
        self.children[b""].add(b".hub")
        self.paths = sorted(self.tree)
        self.files = sorted(p for p, e in self.tree.items() if e.mode in ("100644", "100755"))
        self.entrypoints = []
        hc = self.tree.get(b"hubconf.py")
        if hc is not None:
            mod = ast.parse(self.blobs[hc.sha])
            self.entrypoints = sorted(n.name for n in mod.body
                                      if isinstance(n, ast.FunctionDef)
                                      and not n.name.startswith("_"))


class World:
    def __init__(self, args):
        self.args = args
        tmp = os.environ.get("HUBFS_TEST_TMP", "/tmp")
        self.work = tempfile.mkdtemp(prefix="hubfs-soak-", dir=tmp)
        self.hub = harness.Hub(self.work)
        self.manifest = make_repos.make_all(self.hub.base)
        self.lock = threading.Lock()
        self.truth = {}          # sha -> Truth
        self.refs = []           # (owner, repo, ref as in the mount, fixed sha or None)
        self.moved = []          # shas alice/vision:moving has pointed at
        self.weights = {}        # name -> (url, bytes)
        self.srv = None
        self.m = None

    # -- setup
    def build(self, rng):
        gd = self.hub.gitdir(*MOVING[:2])
        start = self.manifest["alice/vision"]["refs"]["main"]
        make_repos.set_ref(self.hub.base, "alice", "vision", "refs/heads/moving", start)
        chain = [start]
        for i in range(CHAIN):
            chain.append(make_repos.advance_branch(
                self.hub.base, "alice", "vision", "moving",
                files={"moving/step.txt": "step %d\n" % i,
                       "moving/data%d.bin" % (i % 3): make_repos.random_bytes("mv%d" % i,
                                                                            1000 + 4099 * i)}))
        make_repos.set_ref(self.hub.base, "alice", "vision", "refs/heads/moving", start)
        self.chain = chain
        self.moved = [start]
        for key, info in sorted(self.manifest.items()):
            owner, repo = key.split("/")
            for ref, sha in sorted(info["refs"].items()):
                self.refs.append((owner, repo, ref, sha))
            self.refs.append((owner, repo, None, info["refs"][info["default_branch"]]))
        self.refs.append(MOVING + (None,))
        shas = {(k, s) for k, info in self.manifest.items() for s in info["commits"].values()}
        for key, sha in sorted(shas):
            self.truth[sha] = Truth(self.hub.gitdir(*key.split("/")), sha)
        for sha in chain:
            self.truth[sha] = Truth(gd, sha)
        files = os.path.join(self.work, "files")
        os.makedirs(files)
        self.srv = Server(files)
        for i, size in enumerate(self.args.weight_sizes):
            name, data = make_weight(files, "soak%d" % i, size, self.args.seed * 7 + i)
            self.weights[name] = (self.srv.url(name), data)
        # the largest file downloads slowly: reads run against it in flight
        big = max(self.weights, key=lambda n: len(self.weights[n][1]))
        self.srv.ctl("_fault?path=/%s&mode=throttle&rate=%d" % (big, self.args.throttle))

    def mount(self):
        self.hub.start_upstream()
        self.m = self.hub.mount(ref_ttl=1, neg_ttl=30)

    def allowed(self, owner, repo, ref, fixed):
        if fixed is not None:
            return {fixed}
        if (owner, repo, ref) == MOVING:
            with self.lock:
                return set(self.moved)
        return None

    def move(self):
        with self.lock:
            nxt = self.chain[len(self.moved) % len(self.chain)]
            self.moved.append(nxt)
        make_repos.set_ref(self.hub.base, "alice", "vision", "refs/heads/moving", nxt)
        return nxt


class Failure(Exception):
    pass


class Reader:
    def __init__(self, world, i, rng, stats):
        self.w, self.i, self.rng, self.stats = world, i, rng, stats
        self.busy = None       # (t0, what) while a call is in flight
        self.fds = {}

    # every filesystem call goes through here: the watchdog sees it
    def fs(self, what, fn, *a):
        self.busy = (time.monotonic(), what)
        try:
            return fn(*a)
        finally:
            self.busy = None

    def pick_commit(self):
        owner, repo, ref, fixed = self.rng.choice(self.w.refs)
        name = repo if ref is None else "%s:%s" % (repo, ref)
        link = self.w.m.p(owner, name)
        target = self.fs("readlink " + link, os.readlink, link)
        if ref is None:
            # the default-branch symlink points at <repo>:<default branch>
            want = "%s:%s" % (repo, self.w.manifest["%s/%s" % (owner, repo)]["default_branch"])
            if target != want:
                raise Failure("readlink %s = %r, want %r" % (link, target, want))
            return owner, repo, want, fixed
        if not target.startswith(repo + "@"):
            raise Failure("readlink %s = %r" % (link, target))
        sha = target.split("@", 1)[1]
        ok = self.w.allowed(owner, repo, ref, fixed)
        if sha not in ok:
            raise Failure("readlink %s = %r: not a commit this ref has pointed at (%s)"
                          % (link, target, sorted(x[:10] for x in ok)))
        return owner, repo, name, sha

    def commit_dir(self):
        """(owner, repo, sha, mount path of the commit dir)."""
        owner, repo, name, sha = self.pick_commit()
        return owner, repo, sha, self.w.m.p(owner, "%s@%s" % (repo, sha))

    def op_lookup(self):
        owner, repo, sha, d = self.commit_dir()
        t = self.w.truth[sha]
        if self.rng.random() < 0.15:
            name = "no-such-%d" % self.rng.randrange(1 << 30)
            p = os.path.join(d, self.rng.choice(sorted(t.dirs)).decode(), name)
            try:
                self.fs("lstat " + p, os.lstat, p)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise Failure("lstat %s: %s, want ENOENT" % (p, harness.ename(e.errno)))
                return 0
            raise Failure("lstat %s succeeded for a name git does not have" % p)
        path = self.rng.choice(t.paths)
        e = t.tree[path]
        p = os.path.join(os.fsencode(d), path)
        st = self.fs("lstat %r" % p, os.lstat, p)
        kind = {"040000": stat.S_ISDIR, "160000": stat.S_ISDIR, "120000": stat.S_ISLNK,
                "100644": stat.S_ISREG, "100755": stat.S_ISREG}[e.mode]
        if not kind(st.st_mode):
            raise Failure("%r: mode %o for git mode %s" % (p, st.st_mode, e.mode))
        if e.mode in ("100644", "100755"):
            want = 0o555 if e.mode == "100755" else 0o444
            if st.st_size != e.size or stat.S_IMODE(st.st_mode) != want:
                raise Failure("%r: size %d mode %o, want %d %o" % (
                    p, st.st_size, stat.S_IMODE(st.st_mode), e.size, want))
        if e.mode == "120000":
            target = self.fs("readlink %r" % p, os.readlink, p)
            if target != t.blobs[e.sha]:
                raise Failure("%r -> %r, want %r" % (p, target, t.blobs[e.sha]))
        return 0

    def op_readdir(self):
        owner, repo, sha, d = self.commit_dir()
        t = self.w.truth[sha]
        rel = self.rng.choice(sorted(t.dirs))
        p = os.path.join(os.fsencode(d), rel) if rel else os.fsencode(d)
        got = self.fs("listdir %r" % p, os.listdir, p)
        if len(got) != len(set(got)) or set(got) != t.children.get(rel, set()):
            want = t.children.get(rel, set())
            raise Failure("listdir %r: extra %r missing %r" % (
                p, sorted(set(got) - want)[:5], sorted(want - set(got))[:5]))
        return 0

    def op_read(self):
        if self.rng.random() < 0.25:
            # through the ref's symlink (the moving branch included)
            owner, repo, ref, fixed = self.rng.choice([r for r in self.w.refs if r[2]])
            ok = self.w.allowed(owner, repo, ref, fixed)
            cands = [self.w.truth[s] for s in ok]
            path = self.rng.choice(cands[-1].files)
            p = os.path.join(os.fsencode(self.w.m.p(owner, "%s:%s" % (repo, ref))), path)
            try:
                data = self.fs("read %r" % p, harness_read, p)
            except OSError as e:
                if e.errno == errno.ENOENT and (owner, repo, ref) == MOVING:
                    return 0   # the branch moved to a commit without that file
                raise
            if not any(path in t.tree and t.blobs.get(t.tree[path].sha) == data for t in cands):
                raise Failure("%r: %d bytes that no commit of the ref has" % (p, len(data)))
            return len(data)
        owner, repo, sha, d = self.commit_dir()
        t = self.w.truth[sha]
        path = self.rng.choice(t.files)
        want = t.blobs[t.tree[path].sha]
        p = os.path.join(os.fsencode(d), path)
        if self.rng.random() < 0.3 or len(want) < 2:
            got = self.fs("read %r" % p, harness_read, p)
            if got != want:
                raise Failure("%r: %d bytes read differ from git's %d" % (p, len(got), len(want)))
            return len(got)
        off = self.rng.randrange(0, len(want))
        n = self.rng.choice((1, 100, 4096, 65536, 200000))
        got = self.fs("pread %r" % p, pread_path, p, n, off)
        if got != want[off:off + n]:
            raise Failure("%r: pread(%d, %d) differs from git" % (p, n, off))
        return len(got)

    def op_hub(self):
        owner, repo, sha, d = self.commit_dir()
        t = self.w.truth[sha]
        c = self.fs("read .hub/commit", harness_read, os.path.join(d, ".hub", "commit"))
        if c != (sha + "\n").encode():
            raise Failure("%s/.hub/commit = %r" % (d, c))
        eps = sorted(self.fs("listdir .hub/entrypoints", os.listdir,
                             os.path.join(d, ".hub", "entrypoints")))
        if eps != t.entrypoints:
            raise Failure("%s/.hub/entrypoints = %r, want %r" % (d, eps, t.entrypoints))
        return len(c)

    def op_weight(self):
        name = self.rng.choice(sorted(self.w.weights))
        url, data = self.w.weights[name]
        p = url_path(self.w.m, url)
        if self.rng.random() < 0.1:
            st = self.fs("stat " + name, os.stat, p)
            if st.st_size != len(data):
                raise Failure("%s: size %d, want %d" % (name, st.st_size, len(data)))
            return 0
        if self.rng.random() < 0.05:
            # all of it, in 1 MiB preads from a random start, wrapping around
            start = self.rng.randrange(0, len(data), MiB)
            for off in list(range(start, len(data), MiB)) + list(range(0, start, MiB)):
                got = self.fs("pread %s @%d" % (name, off), pread_path, p, MiB, off)
                if got != data[off:off + MiB]:
                    raise Failure("%s: pread(%d, %d) differs from the source" % (name, MiB, off))
            return len(data)
        off = self.rng.randrange(0, len(data))
        n = self.rng.choice((4096, 65536, 1 << 20))
        got = self.fs("pread %s @%d" % (name, off), pread_path, p, n, off)
        if got != data[off:off + n]:
            raise Failure("%s: pread(%d, %d) differs from the source" % (name, n, off))
        return len(got)

    def run(self, stop):
        ops, weights = zip(*OPS.items())
        while not stop.is_set():
            op = self.rng.choices(ops, weights)[0]
            t0 = time.monotonic()
            try:
                nbytes = getattr(self, "op_" + op)()
                self.stats.ok(op, time.monotonic() - t0, nbytes)
            except Failure as e:
                self.stats.fail(op, "reader %d: %s" % (self.i, e))
            except OSError as e:
                if stop.is_set() and e.errno in (errno.ENOTCONN, errno.ECONNABORTED):
                    return      # the watchdog aborted the mount
                self.stats.fail(op, "reader %d: %s: unexpected %s (%s)" % (
                    self.i, op, harness.ename(e.errno), e))


def harness_read(p):
    with open(p, "rb") as f:
        return f.read()


def pread_path(p, n, off):
    fd = os.open(p, os.O_RDONLY)
    try:
        return os.pread(fd, n, off)
    finally:
        os.close(fd)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.count = {op: 0 for op in OPS}
        self.bytes = 0
        self.maxlat = {op: 0.0 for op in OPS}
        self.failures = []

    def ok(self, op, lat, nbytes):
        with self.lock:
            self.count[op] += 1
            self.bytes += nbytes
            if lat > self.maxlat[op]:
                self.maxlat[op] = lat

    def fail(self, op, text):
        with self.lock:
            self.failures.append(text)
            n = len(self.failures)
        if n <= 20:
            print("FAIL " + text, flush=True)
        elif n == 21:
            print("FAIL ... (further failures counted, not printed)", flush=True)

    def total(self):
        with self.lock:
            return sum(self.count.values())


def main(argv=None):
    ap = argparse.ArgumentParser(description="hubfs soak test: random lookups, readdirs and "
                                 "reads across repos, refs and weights, every byte checked")
    ap.add_argument("--readers", type=int, default=8)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--minutes", type=float)
    g.add_argument("--seconds", type=float)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--bin", default=None, help="hubfs binary (default: $HUBFS_BIN or build/hubfs)")
    ap.add_argument("--deadline", type=float, default=30.0,
                    help="seconds any single call may take (default 30)")
    ap.add_argument("--move-every", type=float, default=2.0,
                    help="seconds between moves of alice/vision:moving (0: never)")
    ap.add_argument("--weight-mib", default="1,3,6,16",
                    help="sizes of the weight files in MiB (comma-separated; default 1,3,6,16)")
    ap.add_argument("--throttle", type=int, default=2 * MiB,
                    help="bytes/s the largest weight file is served at (default 2 MiB/s)")
    ap.add_argument("--report", type=float, default=10.0, help="seconds between progress lines")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args(argv)
    a.duration = a.seconds if a.seconds is not None else 60 * (a.minutes or 1)
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    a.weight_sizes = [int(float(x) * MiB) + i * 4097 for i, x in enumerate(a.weight_mib.split(","))]
    if a.bin:
        harness.HUBFS_BIN = os.path.abspath(a.bin)
    print("soak: %d readers, %.0f s, seed %d (--seed %d to replay), hubfs %s"
          % (a.readers, a.duration, a.seed, a.seed, harness.HUBFS_BIN), flush=True)

    w = World(a)
    stats = Stats()
    stop = threading.Event()
    problems = []
    try:
        w.build(random.Random(a.seed))
        w.mount()
        readers = [Reader(w, i, random.Random(a.seed * 1000 + i), stats) for i in range(a.readers)]
        threads = [threading.Thread(target=r.run, args=(stop,), daemon=True, name="reader%d" % r.i)
                   for r in readers]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        next_move = t0 + a.move_every if a.move_every > 0 else None
        next_report = t0 + a.report
        last = (t0, 0)
        hung = None
        while time.monotonic() - t0 < a.duration and not hung:
            time.sleep(0.2)
            now = time.monotonic()
            for r in readers:   # the watchdog: a call past its deadline
                b = r.busy
                if b and now - b[0] > a.deadline:
                    hung = "reader %d: %s did not return within %.0fs" % (r.i, b[1], a.deadline)
            if next_move and now >= next_move:
                w.move()
                next_move = now + a.move_every
            if now >= next_report:
                n = stats.total()
                print("soak: %4.0fs %8d ops %7.0f ops/s  %d failures  moving -> %s"
                      % (now - t0, n, (n - last[1]) / (now - last[0]), len(stats.failures),
                         w.moved[-1][:10]), flush=True)
                last = (now, n)
                next_report = now + a.report
        elapsed = time.monotonic() - t0
        stop.set()
        if hung:
            problems.append("HUNG " + hung)
            print("HUNG " + hung + ": aborting the FUSE connection", flush=True)
            harness.fuse_abort(w.m.path, w.m.dev)
        for t in threads:
            t.join(a.deadline + 5)
            if t.is_alive():
                problems.append("%s never returned" % t.name)
        if not hung:
            # the files that completed are in checkpoints/, complete and right
            ck = os.path.join(w.hub.cache, "checkpoints")
            for n in sorted(os.listdir(ck)) if os.path.isdir(ck) else []:
                if n not in w.weights:
                    problems.append("checkpoints/%s: not a weight file that was read" % n)
                else:
                    with open(os.path.join(ck, n), "rb") as f:
                        if hashlib.sha256(f.read()).digest() != \
                                hashlib.sha256(w.weights[n][1]).digest():
                            problems.append("checkpoints/%s differs from the source" % n)
        # summary
        n = stats.total()
        print("\nsoak: %d ops in %.1fs = %.0f ops/s, %.1f MiB checked, %d readers, seed %d"
              % (n, elapsed, n / elapsed, stats.bytes / MiB, a.readers, a.seed))
        for op in OPS:
            print("  %-8s %8d ops %7.0f ops/s  max %.2fs" % (op, stats.count[op],
                                                             stats.count[op] / elapsed,
                                                             stats.maxlat[op]))
        print("  branch moves: %d" % (len(w.moved) - 1))
        for op in OPS:
            if stats.count[op] == 0 and elapsed > 10:
                problems.append("no %s operation succeeded" % op)
    except Exception as e:   # noqa: BLE001 - setup errors are reported, not raised
        import traceback
        traceback.print_exc()
        problems.append("soak error: %r" % e)
    finally:
        stop.set()
        if w.m is not None:
            problems += w.m.stop() if not w.m.stopped else []
        if w.srv:
            w.srv.stop()
        problems += w.hub.close(keep=True)
        harness.kill_all_children()
    problems = problems + stats.failures
    if problems:
        print("\nsoak: FAILED (%d problems; work dir kept: %s; seed %d)"
              % (len(problems), w.work, a.seed))
        for p in problems[:50]:
            print("  " + p)
        return 1
    if not a.keep and not harness.is_mounted(w.m.path if w.m else w.work):
        shutil.rmtree(w.work, ignore_errors=True)
    print("soak: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
