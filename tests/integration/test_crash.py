"""kill -9 (SPEC "Cache": "It survives unmount, remount and kill -9: nothing
partial ever stands under a final name"; issue 2: "kill -9 during a fetch
leaves a cache that the next mount uses or repairs, never one that serves
wrong trees")."""

import os
import threading
import time

import pytest

import harness
import make_repos
from harness import call, listdir, readlink


def _start_listing(path):
    box = {}

    def run():
        try:
            box["r"] = os.listdir(path)
        except OSError as e:
            box["r"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, box


def _kill_during_fetch(hub, min_bytes, rate):
    hub.proxy.throttle["/alice/big.git"] = rate
    m = hub.mount()
    t, box = _start_listing(hub.p("alice", "big") + "/")
    harness.poll_until(lambda: any(c.want and c.s2c >= min_bytes
                                   for c in hub.proxy.connections("/alice/big.git")),
                       30, what="the fetch of alice/big to have sent %d bytes" % min_bytes)
    fetch = [c for c in hub.proxy.connections("/alice/big.git") if c.want][-1]
    assert fetch.closed is None, "the fetch finished before kill -9: slow it down"
    sent = fetch.s2c
    m.kill9()
    t.join(15)
    assert not t.is_alive(), "a lookup stayed blocked after the daemon was killed"
    assert m.problems() == [], m.problems()
    hub.proxy.throttle.clear()
    return sent


def _check_big(hub):
    tip = hub.rev("alice", "big", "main")
    assert readlink(hub.p("alice", "big")) == "big:main"
    assert readlink(hub.p("alice", "big:main")) == "big@" + tip
    problems = call(harness.compare_tree, hub.p("alice", "big@" + tip),
                    hub.gitdir("alice", "big"), tip, timeout=90)
    assert not problems, problems[:20]


@pytest.mark.timeout_s(150)
def test_kill9_during_clone_then_remount(hub):
    info = make_repos.make_big(hub.base)          # 8 MiB tip, 24 MiB of history
    sent = _kill_during_fetch(hub, 512 << 10, 1 << 20)
    assert sent < 8 << 20
    hub.mount()
    _check_big(hub)
    assert hub.rev("alice", "big", "main") == info["refs"]["main"]
    # the other repos are unaffected and the cache is usable by a further mount
    assert "hubconf.py" in listdir(hub.p("alice", "vision") + "/")
    hub.unmount()
    hub.proxy.reset()
    hub.mount()
    _check_big(hub)
    big = [c for c in hub.proxy.connections("/alice/big.git") if c.s2c > 1 << 20]
    assert not big, "downloaded a complete repo again: %r" % big


@pytest.mark.timeout_s(150)
def test_kill9_twice_at_different_points(hub):
    """Killed early (refs listed, pack just started) and again later in a
    second attempt: the third mount still gets it right."""
    make_repos.make_big(hub.base, files=16, history=2)   # 4 MiB tip
    _kill_during_fetch(hub, 16 << 10, 512 << 10)
    _kill_during_fetch(hub, 2 << 20, 1 << 20)
    hub.mount()
    _check_big(hub)


@pytest.mark.timeout_s(120)
def test_kill9_after_fetch_keeps_the_cache(hub):
    hub.mount()
    sha = hub.manifest["alice/vision"]["refs"]["v1.0"]
    assert readlink(hub.p("alice", "vision:v1.0")) == "vision@" + sha
    assert "hubconf.py" in listdir(hub.p("alice", "vision@" + sha))
    hub.current.kill9()
    hub.proxy.reset()
    hub.mount()
    problems = call(harness.compare_tree, hub.p("alice", "vision@" + sha),
                    hub.gitdir("alice", "vision"), sha, timeout=60)
    assert not problems, problems[:20]
    assert hub.proxy.count() == 0, hub.proxy.connections()
