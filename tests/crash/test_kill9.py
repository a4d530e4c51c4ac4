"""kill -9 of the daemon at random points of a clone, an entrypoint analysis
and a weight download (issue 6, part 2): 20 runs, each on a fresh cache.

Each run starts the work, SIGKILLs hubfs after a random delay drawn from
the seed (printed; HUBFS_CRASH_SEED replays it) across the whole duration
of that work (measured once per session), remounts on the same cache and
checks that the cache is consistent and the work finishes:
  - the reader that was cut off returns (an errno) instead of hanging;
  - nothing under a final name is partial: every file in checkpoints/
    equals its source, every state.json and analysis result parses;
  - the repo tree equals git's, the entrypoint listing and help are right;
  - the download completes with the source's bytes, and the remounted
    daemon does not fetch more than one copy of the file (a resume never
    costs more than starting over);
  - no lock left by the dead process blocks the remount (every step has
    a deadline).
Five of the runs kill one of two daemons sharing a cache root while both
work on the same clone or download: the survivor must finish the work
itself, without a remount (the flocks of the dead process are gone; the
ranges it recorded are kept), and a takeover never fetches more than one
copy of the file.
tests/integration/test_crash.py has the fixed-point kill -9 tests of a
clone; these add the random points and the other two kinds of work.
"""
import os
import random
import time

import pytest

import crashlib
import harness
from crashlib import MiB, SEED, Box
from test_weights import Server, make_weight, url_path

RUNS = {"clone": 5, "analysis": 5, "download": 5,   # 20 in all
        "shared-download": 3, "shared-clone": 2}
CLONE_RATE = 3 * MiB        # bytes/s of the throttled clone of alice/big
DL_SIZE = 8 * MiB + 12345   # the weight file killed in the middle of its download
DL_RATE = 3 * MiB           # bytes/s: ~2.8 s, so kills land before and after
                            # the first range record (HUB_WEIGHTS_RECORD_S, 2 s)
DEADLINE = 60               # any single step after the remount

_timing = {}                # kind -> seconds the work takes, measured once
_log = []                   # one line per run, printed at the end


def _rng(kind, i):
    return random.Random("%d-%s-%d" % (SEED, kind, i))


def _runs():
    return [(k, i) for k, n in RUNS.items() for i in range(n)]


def _report(line):
    _log.append(line)
    print(line)


@pytest.fixture(scope="module", autouse=True)
def _summary():
    yield
    print("\ncrash suite seed %d, kill -9 runs:" % SEED)
    for line in _log:
        print("  " + line)


def _kill_at(m, delay, box):
    """Wait until delay seconds after the work started (or it finished),
    then kill -9; the blocked call must come back."""
    box.done.wait(max(0.0, box.t0 + delay - time.monotonic()))
    finished = box.done.is_set()
    m.proc.kill()
    m.proc.wait(10)
    assert box.wait(15), "a call into the killed daemon did not return within 15 s"
    m.kill9()                 # unmount the dead mount, close its files
    assert not m.problems(), m.problems()
    return finished


def _common_checks(hub, sources=None):
    bad = crashlib.check_checkpoints(hub.cache, sources or {})
    bad += crashlib.repo_state_problems(hub.cache)
    jbad, _ = crashlib.check_json_files(os.path.join(hub.cache, "hubfs", "analysis"))
    bad += jbad
    assert not bad, "seed %d:\n%s" % (SEED, "\n".join(bad))


def _measure(hub, kind, fn):
    if kind not in _timing:
        t = time.monotonic()
        fn()
        _timing[kind] = time.monotonic() - t
        print("%s takes %.2fs here" % (kind, _timing[kind]))
    return _timing[kind]


# ---------------------------------------------------------------- clone

def _clone_duration(hub):
    def work():
        hub.proxy.throttle["/alice/big.git"] = CLONE_RATE
        m = hub.mount(cache=os.path.join(hub.work, "calib-cache"))
        harness.call(os.listdir, hub.p("alice", "big:main"), timeout=DEADLINE)
        hub.unmount(m)
    return _measure(hub, "clone", work)


def run_clone(hub, i):
    window = _clone_duration(hub) * 1.15
    delay = _rng("clone", i).uniform(0, window)
    hub.proxy.reset()
    hub.proxy.throttle["/alice/big.git"] = CLONE_RATE
    m = hub.mount()
    box = Box(os.listdir, hub.p("alice", "big:main"))
    finished = _kill_at(m, delay, box)
    conns = hub.proxy.connections("/alice/big.git")
    sent = sum(c.s2c for c in conns if c.want)
    what = ("after the clone" if finished else
            "before any connection" if not conns else
            "ls-remote, no fetch yet" if not any(c.want for c in conns) else
            "fetch at %d KiB" % (sent >> 10))
    _report("clone    #%d: killed at %.2fs of %.2fs: %s" % (i, delay, window, what))
    hub.proxy.throttle.clear()
    _common_checks(hub)

    hub.mount()
    tip = hub.rev("alice", "big", "main")
    assert harness.readlink(hub.p("alice", "big:main")) == "big@" + tip
    bad = harness.call(harness.compare_tree, hub.p("alice", "big@" + tip),
                       hub.gitdir("alice", "big"), tip, timeout=DEADLINE)
    assert not bad, "seed %d: tree after the remount:\n%s" % (SEED, "\n".join(bad[:20]))
    eps = harness.call(os.listdir, hub.p("alice", "big@" + tip, ".hub", "entrypoints"),
                       timeout=DEADLINE)
    assert sorted(eps) == ["big_model"]
    # another repo clones and answers normally on the cache the kill left
    sha = hub.manifest["bob/legacy"]["refs"]["master"]
    assert harness.readlink(hub.p("bob", "legacy")) == "legacy:master"
    assert harness.readlink(hub.p("bob", "legacy:master")) == "legacy@" + sha
    hub.unmount()
    _common_checks(hub)


# ---------------------------------------------------------------- analysis

def _slowconf(hub):
    sha = hub.manifest["alice/slowconf"]["refs"]["main"]
    return sha, hub.manifest["alice/slowconf"]["entrypoints"]


def _analysis_duration(hub):
    sha, _ = _slowconf(hub)

    def work():
        m = hub.mount(cache=os.path.join(hub.work, "calib-cache"))
        harness.call(os.listdir, hub.p("alice", "slowconf@" + sha), timeout=DEADLINE)
        t = time.monotonic()
        harness.call(os.listdir, hub.p("alice", "slowconf@" + sha, ".hub", "entrypoints"),
                     timeout=DEADLINE)
        took = time.monotonic() - t
        hub.unmount(m)
        return took
    if "analysis" not in _timing:
        _timing["analysis"] = work()
        print("analysis takes %.2fs here" % _timing["analysis"])
    return _timing["analysis"]


def run_analysis(hub, i):
    sha, names = _slowconf(hub)
    window = _analysis_duration(hub) * 1.15
    rng = _rng("analysis", i)
    delay = rng.uniform(0, window)
    m = hub.mount()
    # the clone first (not what is killed here); CPython starts meanwhile
    harness.call(os.listdir, hub.p("alice", "slowconf@" + sha), timeout=DEADLINE)
    box = Box(os.listdir, hub.p("alice", "slowconf@" + sha, ".hub", "entrypoints"))
    finished = _kill_at(m, delay, box)
    adir = os.path.join(hub.cache, "hubfs", "analysis")
    kept = [n for n in os.listdir(adir) if n.startswith(sha) and ".tmp." in n] \
        if os.path.isdir(adir) else []
    final = [n for n in os.listdir(adir) if n.startswith(sha) and ".tmp." not in n] \
        if os.path.isdir(adir) else []
    _report("analysis #%d: killed at %.2fs of %.2fs: %s%s%s" % (
        i, delay, window, "after the listing returned" if finished else "in the analysis",
        "; result on disk" if final else "; no result on disk",
        "; temp file %s left" % kept if kept else ""))
    _common_checks(hub)

    hub.mount()
    d = hub.p("alice", "slowconf@" + sha)
    eps = harness.call(os.listdir, os.path.join(d, ".hub", "entrypoints"), timeout=DEADLINE)
    assert sorted(eps) == sorted(names), "seed %d: %d entrypoints listed, %d expected" % (
        SEED, len(eps), len(names))
    errors = harness.read_file(os.path.join(d, ".hub", "errors"), timeout=DEADLINE)
    assert errors == b"", errors[:500]
    for n in rng.sample(names, 5) + [names[0], names[-1]]:
        got = harness.read_file(os.path.join(d, ".hub", "entrypoints", n, "help"),
                                timeout=DEADLINE)
        assert got.decode() == crashlib.slowconf_doc(n), (n, got[:200])
    hub.unmount()
    _common_checks(hub)
    final = [n for n in os.listdir(adir) if n.startswith(sha) and ".tmp." not in n]
    assert len(final) == 1, "analysis results of %s after the remount: %r" % (sha, final)


# ---------------------------------------------------------------- download

class Weights:
    def __init__(self, hub):
        self.files = os.path.join(hub.work, "files")
        os.makedirs(self.files, exist_ok=True)
        self.srv = Server(self.files)

    def stop(self):
        self.srv.stop()


@pytest.fixture
def weights(hub):
    w = Weights(hub)
    yield w
    w.stop()


def run_download(hub, w, i):
    rng = _rng("download", i)
    name, data = make_weight(w.files, "kill%d" % i, DL_SIZE, SEED * 100 + i)
    url = w.srv.url(name)
    window = DL_SIZE / DL_RATE * 1.1 + 0.2
    delay = rng.uniform(0, window)
    w.srv.ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, DL_RATE))
    m = hub.mount()
    p = url_path(m, url)
    box = Box(crashlib.read_all_chunks, p, len(data))
    finished = _kill_at(m, delay, box)
    if box.result is not None:
        assert box.result == data[:len(box.result)], "seed %d: wrong bytes before the kill" % SEED
    sent1 = w.srv.stats(name)["bytes"]
    wdir = os.path.join(hub.cache, "hubfs", "weights")
    left = sorted(os.listdir(wdir)) if os.path.isdir(wdir) else []
    _common_checks(hub, {name: data})
    w.srv.ctl("_reset")   # counters from 0, no throttle

    hub.mount()
    t = time.monotonic()
    got = harness.call(crashlib.read_all_chunks, url_path(hub.current, url), len(data),
                       timeout=DEADLINE)
    took = time.monotonic() - t
    assert got == data, "seed %d: the download after the remount differs from the source" % SEED
    ck = os.path.join(hub.cache, "checkpoints", name)
    harness.poll_until(lambda: os.path.exists(ck), 20, what="checkpoints/" + name)
    sent2 = w.srv.stats(name)["bytes"]
    _report("download #%d: killed at %.2fs of %.2fs (%s, server sent %d KiB; left %s); "
            "after the remount %d KiB more in %.2fs%s" % (
                i, delay, window, "read had finished" if finished else "mid-download",
                sent1 >> 10, ",".join(n.split(".")[-1] for n in left) or "nothing",
                sent2 >> 10, took, " (resumed)" if 0 < sent2 < len(data) else ""))
    assert sent2 <= len(data) + MiB, "fetched %d bytes of a %d-byte file after the remount" % (
        sent2, len(data))
    hub.unmount()
    _common_checks(hub, {name: data})


# ---------------------------------------------------- two daemons, one cache

def _two_mounts(hub):
    """(first, second): two daemons on hub.cache; `first` is killed."""
    second = hub.mount(mountpoint=os.path.join(hub.work, "mnt2"))
    first = hub.mount()
    return first, second


def _start_both(fn, first, second, *rest):
    """The first daemon starts the work; the second asks for the same thing
    0.2 s later (it waits for, or follows, the first one's work)."""
    box1 = Box(fn, *((first,) + rest))
    time.sleep(0.2)
    box2 = Box(fn, *((second,) + rest))
    return box1, box2


def _survivor(box, what):
    assert box.wait(DEADLINE), "seed %d: %s: the surviving daemon did not finish in %d s" % (
        SEED, what, DEADLINE)
    if box.error is not None:
        raise AssertionError("seed %d: %s: the surviving daemon failed: %r" % (
            SEED, what, box.error))
    return box.result


def run_shared_download(hub, w, i):
    rng = _rng("shared-download", i)
    name, data = make_weight(w.files, "shared%d" % i, DL_SIZE, SEED * 100 + 50 + i)
    url = w.srv.url(name)
    window = DL_SIZE / DL_RATE * 1.1 + 0.2
    delay = rng.uniform(0, window)
    w.srv.ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, DL_RATE))
    first, second = _two_mounts(hub)
    box1, box2 = _start_both(lambda m: crashlib.read_all_chunks(url_path(m, url), len(data)),
                             first, second)
    finished = _kill_at(first, delay, box1)
    sent1 = w.srv.stats(name)["bytes"]
    got = _survivor(box2, "download")
    assert got == data, "seed %d: the survivor read other bytes than the source's" % SEED
    ck = os.path.join(hub.cache, "checkpoints", name)
    harness.poll_until(lambda: os.path.exists(ck), 20, what="checkpoints/" + name)
    sent2 = w.srv.stats(name)["bytes"] - sent1
    _report("shared download #%d: first daemon killed at %.2fs of %.2fs (%s, server sent "
            "%d KiB); the second finished with %d KiB more" % (
                i, delay, window, "its read had finished" if finished else "mid-download",
                sent1 >> 10, sent2 >> 10))
    assert sent2 <= len(data) + MiB, "the takeover fetched %d bytes of a %d-byte file" % (
        sent2, len(data))
    hub.unmount(second)
    _common_checks(hub, {name: data})


def run_shared_clone(hub, i):
    window = _clone_duration(hub) * 1.15
    delay = _rng("shared-clone", i).uniform(0, window)
    hub.proxy.reset()
    hub.proxy.throttle["/alice/big.git"] = CLONE_RATE
    first, second = _two_mounts(hub)
    box1, box2 = _start_both(lambda m: os.listdir(m.p("alice", "big:main")), first, second)
    finished = _kill_at(first, delay, box1)
    listing = _survivor(box2, "clone")
    _report("shared clone    #%d: first daemon killed at %.2fs of %.2fs (%s); "
            "the second listed %d entries" % (
                i, delay, window, "its listing had returned" if finished else "mid-clone",
                len(listing)))
    hub.proxy.throttle.clear()
    tip = hub.rev("alice", "big", "main")
    assert harness.readlink(second.p("alice", "big:main")) == "big@" + tip
    bad = harness.call(harness.compare_tree, second.p("alice", "big@" + tip),
                       hub.gitdir("alice", "big"), tip, timeout=DEADLINE)
    assert not bad, "seed %d: the survivor's tree:\n%s" % (SEED, "\n".join(bad[:20]))
    hub.unmount(second)
    _common_checks(hub)


# ---------------------------------------------------------------- the runs

@pytest.mark.timeout_s(120)
@pytest.mark.parametrize("kind,i", _runs(), ids=["%s-%d" % r for r in _runs()])
def test_kill9_at_a_random_point(hub, request, kind, i):
    if kind == "clone":
        run_clone(hub, i)
    elif kind == "analysis":
        run_analysis(hub, i)
    elif kind == "shared-clone":
        run_shared_clone(hub, i)
    elif kind == "shared-download":
        run_shared_download(hub, request.getfixturevalue("weights"), i)
    else:
        run_download(hub, request.getfixturevalue("weights"), i)
