"""Bounds on what a user can make the daemon do (issue 13, item 2).

1,000 distinct made-up names through one mount: commit prefixes no tip
has, case variants of a real prefix, repositories that do not exist.  Every
answer comes within a second, no history is fetched for a prefix, case
variants of one prefix cost one remote listing, state.json stays small and
the daemon's memory stays bounded.
"""
import errno
import json
import os
import random
import time

import pytest

import harness

SEED = int(os.environ.get("HUBFS_FAULT_SEED", random.randrange(1 << 30)))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def timed(fn, *args):
    t0 = time.monotonic()
    try:
        fn(*args)
        err = 0
    except OSError as e:
        err = e.errno
    return err, time.monotonic() - t0


@pytest.mark.timeout_s(420)
def test_a_thousand_made_up_names(hub):
    print("bounds seed: %d (HUBFS_FAULT_SEED to replay)" % SEED)
    rng = random.Random(SEED)
    m = hub.mount()
    main = hub.manifest["alice/vision"]["refs"]["main"]
    shas = set(hub.manifest["alice/vision"]["commits"].values())
    assert harness.call(os.readlink, hub.p("alice", "vision:main"), timeout=60)
    state = os.path.join(hub.cache, "hubfs", "repos", "alice", "vision", "state.json")
    rss0 = rss_kib(m.proc.pid)
    slow = []

    # 32 case variants of one real prefix: one remote listing, one record
    conns = hub.proxy.count()
    for i in range(32):
        v = "".join(c.upper() if (i >> (k % 5)) & 1 and c.isalpha() else c
                    for k, c in enumerate(main[:10]))
        err, took = timed(os.readlink, hub.p("alice", "vision:" + v))
        assert err == 0, (v, err)
        if took > 1.0:
            slow.append((v, took))
    assert hub.proxy.count() - conns <= 1, "case variants of one prefix cost %d connections" % (
        hub.proxy.count() - conns)

    # prefixes no tip has, and repositories that do not exist
    fetches = len(hub.proxy.fetches())
    names = []
    while len(names) < 700:
        p = "%0*x" % (rng.randrange(7, 13), rng.getrandbits(48))
        if not any(s.startswith(p) for s in shas):
            names.append(("alice", "vision:" + p))
    names += [("alice", "nope%04d" % i) for i in range(268)]
    for owner, name in names:
        err, took = timed(os.readlink, hub.p(owner, name))
        assert err == errno.ENOENT, (name, err)
        if took > 1.0:
            slow.append((name, took))
    assert not slow, "answers over 1 s: %s" % slow[:5]
    assert len(hub.proxy.fetches()) == fetches, "a made-up prefix fetched objects"
    with open(state) as f:
        text = f.read()
    assert len(text) < 8192, "state.json grew to %d bytes" % len(text)
    variants = [r for r in json.loads(text)["refs"] if r.lower() == main[:10].lower()]
    assert variants == [main[:10].lower()], "recorded as typed: %s" % variants
    grew = rss_kib(m.proc.pid) - rss0
    print("rss grew by %d KiB over 1,000 names" % grew)
    assert grew < 32 * 1024, "the daemon grew by %d KiB" % grew
    # the repository still resolves and lists
    assert harness.call(os.listdir, hub.p("alice", "vision:main") + "/", timeout=30)
