"""Fault suite (issue 6): scripted server faults under parallel readers.

Each test mounts hubfs over the fixture repos (git daemon on loopback) with
weight files on tests/weights/httpd.py, sets one kind of fault, and runs
READERS threads that each read every weight file (1 MiB preads in a random
order) and walk cached repository trees (compared with git).  Whatever the
fault:
  - a read returns the source's bytes or fails with an errno, never other
    bytes, and always within CALL_DEADLINE (a call that does not return is a
    failure: harness.call);
  - files expected to succeed (the fault is transient) do succeed;
  - nothing enters <cache>/checkpoints/ that differs from the source, and
    nothing partial stands there;
  - cached repositories stay browsable during the fault.
The seed of the random choices is printed; HUBFS_FAULT_SEED replays it.
"""
import errno
import os
import random
import socket
import threading
import time

import pytest

import harness
from test_weights import MiB, Server, make_weight, url_path

READERS = 4
CALL_DEADLINE = 75.0   # per read; the documented bound is HUB_WEIGHTS_READ_STALL_S (180 s)
SEED = int(os.environ.get("HUBFS_FAULT_SEED", random.randrange(1 << 30)))
print("fault suite seed: %d (HUBFS_FAULT_SEED to replay)" % SEED)


class Env:
    def __init__(self, hub, srv, files):
        self.hub, self.srv, self.files = hub, srv, files
        self.weights = {}   # name -> (url, bytes)
        self.repos = []     # (commit dir parts, gitdir, sha)

    def add_weight(self, stem, size, seed, good=True):
        name, data = make_weight(self.files, stem, size, seed, good_hash=good)
        self.weights[name] = (self.srv.url(name), data)
        return name

    def fault(self, path, mode, **params):
        q = "&".join("%s=%s" % kv for kv in sorted(params.items()))
        self.srv.ctl("_fault?path=%s&mode=%s%s" % (path, mode, "&" + q if q else ""))


@pytest.fixture
def env(hub):
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    e = Env(hub, srv, files)
    for i, size in enumerate((3 * MiB + 17, 5 * MiB, 2 * MiB + 4095)):
        e.add_weight("w%d" % i, size, SEED + i)
    for owner, repo, ref in (("alice", "vision", "main"), ("bob", "legacy", "master")):
        e.repos.append(((owner, "%s@%s" % (repo, hub.manifest["%s/%s" % (owner, repo)]["refs"][ref])),
                        hub.gitdir(owner, repo), hub.manifest["%s/%s" % (owner, repo)]["refs"][ref]))
    yield e
    srv.stop()


def warm_repos(e):
    """Fetch the repos before the faults: they are what must stay browsable."""
    for parts, gitdir, sha in e.repos:
        assert harness.call(harness.compare_tree, e.hub.p(*parts), gitdir, sha, timeout=60) == []


def read_weight(m, name, url, data, rng, deadline):
    """Read the whole file through the mount in 1 MiB preads, in a random
    order.  ('ok', None) | ('error', errno) | ('wrong', offset) | ('hung', text)."""
    p = url_path(m, url)
    offs = list(range(0, len(data), MiB))
    rng.shuffle(offs)
    try:
        fd = harness.call(os.open, p, os.O_RDONLY, timeout=deadline)
    except harness.HungFilesystem as ex:
        return ("hung", str(ex))
    except OSError as ex:
        return ("error", ex.errno)
    try:
        for off in offs:
            try:
                got = harness.call(os.pread, fd, MiB, off, timeout=deadline)
            except harness.HungFilesystem as ex:
                return ("hung", str(ex))
            except OSError as ex:
                return ("error", ex.errno)
            if got != data[off:off + MiB]:
                return ("wrong", off)
        return ("ok", None)
    finally:
        os.close(fd)


def run_readers(e, names=None, extra_tasks=(), deadline=CALL_DEADLINE):
    """READERS threads, each reading every weight file (and walking every
    cached repo) in its own random order.  Returns {name: [outcomes]}."""
    m = e.hub.current
    names = list(names if names is not None else e.weights)
    results = {}
    lock = threading.Lock()

    def note(key, outcome, secs):
        with lock:
            results.setdefault(key, []).append((outcome, secs))

    def reader(i):
        rng = random.Random(SEED * 31 + i)
        tasks = [("w", n) for n in names] + [("r", r) for r in range(len(e.repos))] + list(extra_tasks)
        rng.shuffle(tasks)
        for kind, what in tasks:
            t0 = time.monotonic()
            if kind == "w":
                url, data = e.weights[what]
                out = read_weight(m, what, url, data, rng, deadline)
                note(what, out, time.monotonic() - t0)
            elif kind == "r":
                parts, gitdir, sha = e.repos[what]
                try:
                    diff = harness.call(harness.compare_tree, m.p(*parts), gitdir, sha, timeout=deadline)
                    out = ("ok", None) if not diff else ("wrong", diff[:3])
                except harness.HungFilesystem as ex:
                    out = ("hung", str(ex))
                except OSError as ex:
                    out = ("error", ex.errno)
                note("repo:" + "/".join(parts), out, time.monotonic() - t0)
            else:  # ("x", (key, fn)): fn() -> outcome
                key, fn = what
                note(key, fn(), time.monotonic() - t0)

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline * (len(names) * 8 + 4))
        assert not t.is_alive(), "a reader thread never finished"
    return results


def check(e, results, must_fail=(), may_fail=()):
    """No wrong byte, no hang; transient faults end in success; the cache holds
    only complete, correct files."""
    problems = []
    for key, outs in sorted(results.items()):
        for (kind, detail), secs in outs:
            if kind in ("wrong", "hung"):
                problems.append("%s: %s %r after %.1fs" % (key, kind, detail, secs))
            elif key in must_fail and kind != "error":
                problems.append("%s: expected an error, got %s" % (key, kind))
            elif key not in must_fail and key not in may_fail and kind != "ok":
                problems.append("%s: %s %r after %.1fs" % (key, kind, detail, secs))
    ck = os.path.join(e.hub.cache, "checkpoints")
    for n in sorted(os.listdir(ck)) if os.path.isdir(ck) else []:
        if n not in e.weights:
            problems.append("checkpoints/%s: not a name that was read (a partial or temp file?)" % n)
            continue
        with open(os.path.join(ck, n), "rb") as f:
            if f.read() != e.weights[n][1]:
                problems.append("checkpoints/%s: bytes differ from the source" % n)
        if n in must_fail:
            problems.append("checkpoints/%s: a file that must fail is in the cache" % n)
    assert not problems, "seed %d:\n" % SEED + "\n".join(problems)


def faults_applied(e):
    return sum(e.srv.stats(n).get("faults", 0) for n in e.weights)


def served_ok(e):
    """After the readers: the files in checkpoints/."""
    ck = os.path.join(e.hub.cache, "checkpoints")
    return sorted(os.listdir(ck)) if os.path.isdir(ck) else []


def all_cached(e):
    """Every file lands in checkpoints/ (verification and the rename finish
    just after the last read returns)."""
    want = sorted(e.weights)
    harness.poll_until(lambda: served_ok(e) == want, 30, what="every file in checkpoints/")
    check(e, {})


# ---------------------------------------------------------------- the faults

@pytest.mark.timeout_s(240)
def test_random_503s(env):
    """10 % of all requests (HEAD and GET, every file) answer 503; more, smaller
    files make more requests (and one file's first request always fails, so
    the retry path is taken whatever the draw)."""
    for i in range(9):
        env.add_weight("s%d" % i, 256 * 1024 + i, SEED + 50 + i)
    env.hub.mount()
    warm_repos(env)
    env.fault("*", "status", code=503, prob="0.1", times=-1, on="any", seed=SEED)
    env.fault("/" + sorted(env.weights)[0], "status", code=503, times=1, on="any")
    res = run_readers(env)
    check(env, res)
    all_cached(env)
    assert faults_applied(env) >= 1, "no request was answered 503: the test proved nothing"


@pytest.mark.timeout_s(240)
def test_429_storm_with_retry_after(env):
    """Every file's first requests answer 429 with Retry-After: 1."""
    env.hub.mount()
    warm_repos(env)
    for n in env.weights:
        env.fault("/" + n, "status", code=429, retry_after=1, times=3, on="any")
    t0 = time.monotonic()
    res = run_readers(env)
    check(env, res)
    all_cached(env)
    # Retry-After was waited for (3 answers of 429 cost at least ~2 s)
    assert faults_applied(env) == 3 * len(env.weights)
    assert time.monotonic() - t0 >= 2.0


@pytest.mark.timeout_s(240)
def test_bodies_cut_at_random_offsets(env):
    """Half of all GETs are cut at a random offset of their body."""
    env.hub.mount()
    warm_repos(env)
    env.fault("*", "cut", at="rand", prob="0.5", times=-1, seed=SEED)
    env.fault("/" + sorted(env.weights)[0], "cut", at=MiB + 3, times=1)
    res = run_readers(env)
    check(env, res)
    all_cached(env)
    assert faults_applied(env) >= 1, "no body was cut: the test proved nothing"


@pytest.mark.timeout_s(300)
def test_a_40s_stall_wedges_nothing(env):
    """One file's body stalls for 40 s after 1 MiB.  Meanwhile the other
    files, the repos and the daemon's own files answer at once; the stalled
    file completes with correct bytes once the transfer is resumed."""
    env.hub.mount()
    warm_repos(env)
    stalled = sorted(env.weights)[1]
    env.fault("/" + stalled, "stall", at=MiB, secs=40, times=1)
    m = env.hub.current
    during = []
    stop = threading.Event()

    def prober():
        # lookups that must reach the daemon: /.hubfs files are new inodes at
        # each lookup, root attributes are never cached
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                harness.call(os.stat, m.p(".hubfs", "downloads"), timeout=10)
                harness.call(os.listdir, m.p("alice"), timeout=10)
                during.append(time.monotonic() - t0)
            except harness.HungFilesystem:
                during.append(99.0)
            stop.wait(0.5)
    t = threading.Thread(target=prober, daemon=True)
    t.start()
    t0 = time.monotonic()
    try:
        res = run_readers(env)
    finally:
        stop.set()
        t.join(15)
    check(env, res)
    all_cached(env)
    assert time.monotonic() - t0 >= 25, "the stall was not exercised"
    # the other files finished long before the stalled one
    others = [s for n in env.weights if n != stalled for (_, s) in res[n]]
    assert max(others) < 20, "reads of other files waited for the stalled one: %r" % others
    assert during and max(during) < 2.0, "daemon calls during the stall took up to %.1fs" % max(during)


@pytest.mark.timeout_s(240)
def test_wrong_bytes_never_served_with_verify_strict(env):
    """A server that flips a byte of a verified name: with verify=strict no
    wrong byte reaches a reader (EIO), and nothing reaches the cache; the
    other files are unaffected."""
    bad = env.add_weight("flip", 4 * MiB, SEED + 99)
    env.fault("/" + bad, "wrong", at=3 * MiB + 5, times=-1)
    env.hub.mount(extra=["verify=strict"])
    warm_repos(env)
    res = run_readers(env)
    check(env, res, must_fail={bad})
    assert {o[1] for o, _ in res[bad]} == {errno.EIO}, res[bad]
    assert bad not in served_ok(env)


@pytest.mark.timeout_s(240)
def test_wrong_bytes_with_verify_stream_never_cached(env):
    """verify=stream serves bytes before the hash is known (documented); the
    file fails verification, and nothing of it is cached or served again."""
    bad = env.add_weight("flips", 2 * MiB, SEED + 98)
    env.fault("/" + bad, "wrong", at=MiB + 7, times=-1)
    env.hub.mount()
    warm_repos(env)
    res = run_readers(env, names=[n for n in env.weights if n != bad])
    check(env, res)
    url, data = env.weights[bad]
    p = url_path(env.hub.current, url)
    harness.errno_of(lambda: harness.read_file(p, timeout=CALL_DEADLINE), timeout=CALL_DEADLINE)

    def failed():
        text = harness.read_file(env.hub.p(".hubfs", "downloads")).decode()
        return any(line.startswith("failed " + bad) for line in text.splitlines())
    harness.poll_until(failed, 30, what="the verification failure in /.hubfs/downloads")
    assert harness.errno_of(harness.read_file, p, timeout=CALL_DEADLINE) == errno.EIO
    assert bad not in served_ok(env)


@pytest.mark.timeout_s(240)
def test_unreachable_address(env):
    """Weights on an address nothing answers (TEST-NET-1): a clear error at
    once, the rest unaffected."""
    env.hub.mount()
    warm_repos(env)
    name, data = make_weight(env.files, "gone", MiB, SEED + 7)
    env.weights[name] = ("http://192.0.2.1:81/" + name, data)
    res = run_readers(env)
    check(env, res, must_fail={name})
    errs = {o[1] for o, _ in res[name]}
    assert errs <= {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNREFUSED, errno.ETIMEDOUT,
                    errno.EIO}, errs
    assert max(s for _, s in res[name]) < CALL_DEADLINE


class SlamServer:
    """Accepts each connection and closes it at once."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            c.close()

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.mark.timeout_s(240)
def test_server_that_accepts_and_closes(env):
    slam = SlamServer()
    try:
        env.hub.mount()
        warm_repos(env)
        name, data = make_weight(env.files, "slam", MiB, SEED + 8)
        env.weights[name] = ("http://127.0.0.1:%d/%s" % (slam.port, name), data)
        res = run_readers(env)
        check(env, res, must_fail={name})
        assert slam.accepted >= 1
        assert {o[1] for o, _ in res[name]} <= {errno.EIO, errno.ECONNRESET, errno.EPROTO,
                                              errno.ETIMEDOUT}, res[name]
    finally:
        slam.stop()


@pytest.mark.timeout_s(240)
def test_git_server_faults(env):
    """The git server drops every connection, then refuses them: a repo not
    cached fails with EIO (never ENOENT, never a hang) while cached repos and
    weights keep answering; once the server is back, the repo appears."""
    hub = env.hub
    hub.mount(neg_ttl=30)
    warm_repos(env)
    new = hub.p("carol", "trunk:trunk")
    outcomes = []

    def lookup_new():
        try:
            harness.call(os.listdir, new + "/", timeout=CALL_DEADLINE)
            return ("ok", None)
        except harness.HungFilesystem as ex:
            return ("hung", str(ex))
        except OSError as ex:
            outcomes.append(ex.errno)
            return ("error", ex.errno)

    for mode in ("drop", "refuse"):
        hub.proxy.set_mode(mode, cut=True)
        res = run_readers(env, extra_tasks=[("x", ("git:" + mode, lookup_new))])
        check(env, res, must_fail={"git:" + mode})
    assert outcomes and set(outcomes) == {errno.EIO}, outcomes
    hub.proxy.set_mode("forward")
    # failures are not retried for 10 s (HUB_REMOTE_RETRY_SECONDS), and never
    # remembered as ENOENT
    sha = hub.manifest["carol/trunk"]["refs"]["trunk"]

    def back():
        try:
            return harness.call(os.readlink, new, timeout=CALL_DEADLINE) == "trunk@" + sha
        except OSError:
            return False
    harness.poll_until(back, 30, interval=1, what="the repo after the git server came back")
    assert harness.call(harness.compare_tree, hub.p("carol", "trunk@" + sha), hub.gitdir("carol", "trunk"),
                        sha, timeout=60) == []
