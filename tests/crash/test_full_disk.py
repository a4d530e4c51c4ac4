"""A full disk under the cache root (issue 6, part 2): the cache is a small
tmpfs.  A weight file larger than the free space, and a clone larger than
it, must fail with a clear errno within a deadline (ENOSPC for the weight;
EIO or ENOSPC for the lookup, never ENOENT, which would be remembered as
"no such repo"), leave nothing partial under a final name, give the space
they took back, and leave the daemon answering for what is cached.  Once space is freed (the tmpfs is
grown), the same work succeeds with the right bytes: nothing was corrupted.
The tmpfs is unmounted in teardown, always.
"""
import errno
import os
import time

import pytest

import crashlib
import harness
from crashlib import MiB
from test_weights import Server, make_weight, url_path

DEADLINE = 60           # a read or lookup on a full disk must fail within this
RETRY_WAIT = 40         # HUB_WEIGHTS_RETRY_S / HUB_REMOTE_RETRY_SECONDS are 10 s


class Tmpfs:
    def __init__(self, path, size):
        self.path = path
        os.makedirs(path, exist_ok=True)
        harness.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % size, "tmpfs", path],
                    check=True, timeout=20)

    def resize(self, size):
        harness.run(["mount", "-o", "remount,size=%d" % size, self.path], check=True, timeout=20)

    def free(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def umount(self):
        if harness.is_mounted(self.path):
            p = harness.run(["umount", self.path], timeout=20)
            if p.returncode != 0:
                harness.run(["umount", "-l", self.path], timeout=20)


@pytest.fixture
def small_cache(hub):
    """(make(size) -> Tmpfs): the cache roots made are unmounted after the
    test, after the hubfs mounts that use them."""
    made = []

    def make(size):
        t = Tmpfs(os.path.join(hub.work, "tmpfs-%d" % len(made)), size)
        made.append(t)
        return t
    yield make
    for m in hub.mounts:
        if not m.stopped:
            hub.failures.extend(m.stop())
    for t in made:
        t.umount()
    left = [t.path for t in made if harness.is_mounted(t.path)]
    assert not left, "tmpfs still mounted: %r" % left


def _errno_within(deadline, fn, *args):
    t = time.monotonic()
    try:
        harness.call(fn, *args, timeout=deadline)
        e = 0
    except OSError as ex:
        e = ex.errno
    return e, time.monotonic() - t


@pytest.mark.timeout_s(180)
def test_weight_larger_than_the_disk(hub, small_cache):
    fs = small_cache(12 * MiB)
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    try:
        big, big_data = make_weight(files, "huge", 24 * MiB, 11)
        small, small_data = make_weight(files, "small", 2 * MiB + 5, 12)
        m = hub.mount(cache=fs.path)
        sha = hub.manifest["alice/vision"]["refs"]["main"]
        parts = ("alice", "vision@" + sha)
        gitdir = hub.gitdir("alice", "vision")
        assert harness.call(harness.compare_tree, m.p(*parts), gitdir, sha, timeout=60) == []
        free0 = fs.free()
        print("free before the download: %d KiB" % (free0 >> 10))

        p = url_path(m, srv.url(big))
        assert harness.call(os.stat, p).st_size == len(big_data)
        e, took = _errno_within(DEADLINE, crashlib.read_all_chunks, p, len(big_data))
        print("reading a 24 MiB weight on a 12 MiB cache: %s after %.1fs; free %d KiB"
              % (harness.ename(e), took, fs.free() >> 10))
        assert e == errno.ENOSPC, "read of a weight larger than the disk: %s" % harness.ename(e)
        # the failed download gave its space back (its .part removed and
        # closed) although the file's inode is still known to the kernel
        assert fs.free() > free0 - 1 * MiB, "only %d of %d KiB free after the failure" % (
            fs.free() >> 10, free0 >> 10)
        assert not [n for n in os.listdir(os.path.join(fs.path, "hubfs", "weights"))
                    if n.endswith(".part")]
        assert not crashlib.check_checkpoints(fs.path, {})   # checkpoints/ holds nothing
        # reported
        text = harness.read_file(m.p(".hubfs", "downloads")).decode()
        print(".hubfs/downloads:\n" + text)
        assert any(l.startswith("failed " + big) for l in text.splitlines()), text
        # the daemon answers; the cached repo is intact
        assert m.alive
        assert harness.call(harness.compare_tree, m.p(*parts), gitdir, sha, timeout=60) == []
        # a read again fails at once (remembered), with the same errno
        e2, took2 = _errno_within(DEADLINE, crashlib.read_all_chunks, p, len(big_data))
        assert e2 == errno.ENOSPC and took2 < 5, (harness.ename(e2), took2)
        # a repo not cached yet cannot be cloned on the full disk: a clear
        # errno at once, not ENOENT (that would be remembered as "no such repo")
        legacy = hub.manifest["bob/legacy"]["refs"]["master"]
        e3, took3 = _errno_within(DEADLINE, os.listdir, m.p("bob", "legacy@" + legacy))
        print("lookup of an uncached repo on the full disk: %s after %.1fs"
              % (harness.ename(e3), took3))
        assert e3 in (0, errno.EIO, errno.ENOSPC), harness.ename(e3)

        # space comes back: the same file downloads, with the right bytes
        fs.resize(64 * MiB)

        def retry():
            try:
                return harness.call(crashlib.read_all_chunks, p, len(big_data), timeout=DEADLINE)
            except OSError as ex:
                assert ex.errno == errno.ENOSPC, harness.ename(ex.errno)
                return None
        got = harness.poll_until(retry, RETRY_WAIT, interval=1, what="the download after resize")
        assert got == big_data, "wrong bytes after the disk was full"
        ck = os.path.join(fs.path, "checkpoints", big)
        harness.poll_until(lambda: os.path.exists(ck), 20, what="checkpoints/" + big)
        assert harness.read_file(url_path(m, srv.url(small)), timeout=DEADLINE) == small_data
        harness.poll_until(lambda: os.path.exists(os.path.join(fs.path, "checkpoints", small)),
                           20, what="checkpoints/" + small)
        # and the repo that could not be cloned then is there now
        harness.poll_until(
            lambda: harness.errno_of(os.listdir, m.p("bob", "legacy@" + legacy)) == 0,
            RETRY_WAIT, interval=1, what="bob/legacy after the resize")
        assert harness.call(harness.compare_tree, m.p("bob", "legacy@" + legacy),
                            hub.gitdir("bob", "legacy"), legacy, timeout=60) == []
        hub.unmount(m)
        bad = crashlib.check_checkpoints(fs.path, {big: big_data, small: small_data})
        assert not bad, bad
    finally:
        srv.stop()


@pytest.mark.timeout_s(180)
def test_clone_larger_than_the_disk(hub, small_cache):
    """alice/big (a 4 MiB incompressible tip) on a 3 MiB cache that already
    holds alice/vision."""
    fs = small_cache(3 * MiB)
    m = hub.mount(cache=fs.path)
    sha = hub.manifest["alice/vision"]["refs"]["main"]
    parts = ("alice", "vision@" + sha)
    gitdir = hub.gitdir("alice", "vision")
    assert harness.call(harness.compare_tree, m.p(*parts), gitdir, sha, timeout=60) == []
    print("free before the clone: %d KiB" % (fs.free() >> 10))

    e, took = _errno_within(DEADLINE, os.listdir, m.p("alice", "big:main"))
    print("clone of a 4 MiB repo on a 3 MiB cache: %s after %.1fs; free %d KiB"
          % (harness.ename(e), took, fs.free() >> 10))
    print("daemon log:\n" + "\n".join(m.stderr().splitlines()[-8:]))
    assert e in (errno.EIO, errno.ENOSPC), "lookup of a repo that does not fit: %s" % (
        harness.ename(e))
    assert m.alive
    assert harness.call(harness.compare_tree, m.p(*parts), gitdir, sha, timeout=60) == []
    assert not crashlib.repo_state_problems(fs.path)
    # the failed clone gave its space back (temporary packs removed)
    assert fs.free() > 1 * MiB, "only %d KiB free after the failed clone" % (fs.free() >> 10)

    fs.resize(64 * MiB)
    tip = hub.rev("alice", "big", "main")

    def retry():
        try:
            return harness.call(os.readlink, m.p("alice", "big:main"), timeout=DEADLINE)
        except OSError as ex:
            assert ex.errno in (errno.EIO, errno.ENOSPC), harness.ename(ex.errno)
            return None
    assert harness.poll_until(retry, RETRY_WAIT, interval=1, what="the clone after resize") \
        == "big@" + tip
    assert harness.call(harness.compare_tree, m.p("alice", "big@" + tip),
                        hub.gitdir("alice", "big"), tip, timeout=60) == []
    hub.unmount(m)


@pytest.mark.timeout_s(90)
def test_quota_makes_room_on_a_full_disk(hub, small_cache, monkeypatch):
    """cache_max above what the disk holds: the quota's round frees the
    headroom between cache_max and its low-water mark when the disk has
    less than that free, so the next download has room (without it, the
    third file would not fit: ENOSPC)."""
    monkeypatch.setenv("HUBFS_TEST_PIN_S", "1")
    monkeypatch.setenv("HUBFS_TEST_QUOTA_S", "0.3")
    fs = small_cache(8 * MiB)
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    try:
        ws = [make_weight(files, "full%d" % i, 3 * MiB + i, 20 + i) for i in range(3)]
        m = hub.mount(cache=fs.path, extra=("cache_max=20M",))
        for name, data in ws[:2]:
            assert harness.read_file(url_path(m, srv.url(name)), timeout=DEADLINE) == data
        harness.poll_until(lambda: fs.free() > 4 * MiB, 15, what="room made on the full disk")
        assert "filesystem has" in m.stderr()
        name, data = ws[2]
        assert harness.read_file(url_path(m, srv.url(name)), timeout=DEADLINE) == data
        # an evicted one reads right again (downloaded once more)
        harness.poll_until(lambda: fs.free() > 4 * MiB, 15, what="room made again")
        assert harness.read_file(url_path(m, srv.url(ws[0][0])), timeout=DEADLINE) == ws[0][1]
        hub.unmount(m)
    finally:
        srv.stop()
