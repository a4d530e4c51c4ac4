"""The cache quota (issue 16): cache_max with two mounts on one cache root
and readers on both (files being read are never evicted, the root is back
under the quota after each round, an evicted file read again gives correct
bytes, downloaded again); `hubfs cache gc` and `hubfs cache forget` against
a live mount; nonsense cache_max values refused at mount with one line."""

import os
import subprocess
import threading
import time

import pytest

import harness
import make_repos
from harness import HUBFS_BIN, readlink
from test_cache_cmd import cache
from test_weights import MiB, Server, make_weight, url_path


def drop_pages(path):
    """The kernel's pages of path go: the next read reaches the daemon."""
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def du(path):
    """Bytes allocated under path, each inode once (checkpoints/ links)."""
    seen, total = set(), 0
    for dirpath, dirnames, filenames in os.walk(path):
        for n in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
            try:
                st = os.lstat(n)
            except FileNotFoundError:
                continue  # renamed or removed since listed (N.part -> .data)
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def store_inode(hub, data_len):
    """{size: inode} of the complete files in the store."""
    d = os.path.join(hub.cache, "hubfs", "weights")
    out = {}
    for f in os.listdir(d) if os.path.isdir(d) else ():
        if f.endswith(".data"):
            st = os.stat(os.path.join(d, f))
            out[st.st_size] = st.st_ino
    return out.get(data_len)


def stored_inode(hub, data_len):
    """store_inode once the file is there: a read of the end returns with
    the sha256 verdict, and the fsync and rename into the store follow."""
    return harness.poll_until(lambda: store_inode(hub, data_len), 20,
                              what="the store's .data of %d bytes" % data_len)


class Reader(threading.Thread):
    """Reads a file through a mount again and again, checking every byte;
    drops its pages after each pass so that its reads reach the daemon (a
    loader going through a file larger than the page cache)."""

    def __init__(self, path, data):
        super().__init__(daemon=True)
        self.path, self.data = path, data
        self.stop, self.errors, self.passes = False, [], 0

    def run(self):
        try:
            with open(self.path, "rb") as f:
                while not self.stop:
                    f.seek(0)
                    got = f.read()
                    if got != self.data:
                        self.errors.append("wrong bytes (%d)" % len(got))
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                    self.passes += 1
                    time.sleep(0.2)
        except OSError as e:
            self.errors.append(repr(e))



def quota_env(monkeypatch, pin="1.5", every="0.3"):
    monkeypatch.setenv("HUBFS_TEST_PIN_S", pin)
    monkeypatch.setenv("HUBFS_TEST_QUOTA_S", every)


@pytest.mark.timeout_s(120)
def test_quota_two_mounts_concurrent_readers(hub, monkeypatch):
    quota_env(monkeypatch)
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    ws = [make_weight(files, "q%d" % i, 2 * MiB + 100 * i, 60 + i) for i in range(5)]
    limit = 7 * MiB
    opts = dict(extra=("cache_max=7M",))
    mnt2 = os.path.join(hub.work, "mnt2")
    os.makedirs(mnt2)
    ma = hub.mount(**opts)
    mb = hub.mount(mountpoint=mnt2, **opts)
    readers = []
    try:
        # one reader per mount, each on its own file, for the whole test
        for m, (name, data) in ((ma, ws[0]), (mb, ws[1])):
            assert harness.read_file(url_path(m, srv.url(name)), timeout=60) == data
            r = Reader(url_path(m, srv.url(name)), data)
            r.start()
            readers.append(r)
        pinned = {len(ws[i][1]): stored_inode(hub, len(ws[i][1])) for i in (0, 1)}
        assert all(pinned.values()), pinned
        for i in (2, 3, 4):
            name, data = ws[i]
            m = (ma, mb)[i % 2]
            assert harness.read_file(url_path(m, srv.url(name)), timeout=60) == data
            # a round brings the root back under the quota once the new
            # file's pin is gone; the readers' files are never touched
            harness.poll_until(lambda: du(hub.cache) <= limit, 20,
                               what="root under cache_max after file %d" % i)
            for size, ino in pinned.items():
                assert store_inode(hub, size) == ino, "a file being read was evicted"
        assert not any(r.errors for r in readers), [r.errors for r in readers]
        assert all(r.passes > 3 for r in readers), [r.passes for r in readers]
        # q2 was evicted (least recently used): read again, downloaded again
        name, data = ws[2]
        assert store_inode(hub, len(data)) is None
        before = srv.stats(name)["bytes"]
        drop_pages(url_path(ma, srv.url(name)))
        assert harness.read_file(url_path(ma, srv.url(name)), timeout=60) == data
        assert srv.stats(name)["bytes"] - before >= len(data)
    finally:
        for r in readers:
            r.stop = True
        for r in readers:
            r.join(10)
        hub.unmount(mb)
        hub.unmount(ma)
        srv.stop()


@pytest.mark.timeout_s(90)
def test_weight_larger_than_quota_served_not_kept(hub, monkeypatch):
    quota_env(monkeypatch)
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    name, data = make_weight(files, "huge", 3 * MiB + 5, 80)
    m = hub.mount(extra=("cache_max=1M",))
    try:
        assert harness.read_file(url_path(m, srv.url(name)), timeout=60) == data
        harness.poll_until(lambda: store_inode(hub, len(data)) is None, 20,
                           what="the file larger than cache_max evicted")
        harness.poll_until(lambda: "larger than cache_max" in m.stderr(), 10,
                           what="the log line")
        drop_pages(url_path(m, srv.url(name)))
        assert harness.read_file(url_path(m, srv.url(name)), timeout=60) == data
    finally:
        hub.unmount(m)
        srv.stop()


@pytest.mark.timeout_s(120)
def test_gc_and_forget_live(hub, monkeypatch):
    quota_env(monkeypatch, every="1000")  # no quota thread rounds: gc does it
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    ws = [make_weight(files, "g%d" % i, MiB + i, 70 + i) for i in range(2)]
    m = hub.mount()
    try:
        for name, data in ws:
            assert harness.read_file(url_path(m, srv.url(name)), timeout=60) == data
        sha = hub.rev("alice", "vision", "main")
        commit = hub.p("alice", "vision@" + sha)
        names = sorted(os.listdir(commit))
        target = [n for n in names if os.path.isfile(os.path.join(commit, n))][0]
        want = make_repos.git(hub.gitdir("alice", "vision"), "show", sha + ":" + target)
        # gc: everything not used for the pin's 1.5 s goes, the repository too
        time.sleep(2.5)
        p = cache("gc", "--max", "1K", hub.mnt)
        assert p.returncode == 0, p.stderr
        assert b"evicted 2 file(s), 1 repositories" in p.stdout, p.stdout
        assert not os.path.exists(os.path.join(hub.cache, "hubfs", "repos", "alice", "vision"))
        # the mount's path of the evicted commit still reads the same bytes
        drop_pages(os.path.join(commit, target))
        assert harness.read_file(os.path.join(commit, target), timeout=60) == want
        # and its next resolution fetches it again
        assert readlink(hub.p("alice", "vision:main")) == "vision@" + sha
        assert store_inode(hub, len(ws[0][1])) is None
        assert not os.path.exists(os.path.join(hub.cache, "checkpoints", ws[0][0]))
        before = srv.stats(ws[0][0])["bytes"]
        drop_pages(url_path(m, srv.url(ws[0][0])))
        assert harness.read_file(url_path(m, srv.url(ws[0][0])), timeout=60) == ws[0][1]
        assert srv.stats(ws[0][0])["bytes"] - before >= len(ws[0][1])

        # forget a repository while a reader reads one of its files
        errors, stop = [], [False]

        def read_loop():
            while not stop[0]:
                try:
                    with open(os.path.join(commit, target), "rb") as f:
                        if f.read() != want:
                            errors.append("wrong bytes")
                        # the next read reaches the daemon (its object database)
                        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                except OSError as e:
                    errors.append(repr(e))
        t = threading.Thread(target=read_loop, daemon=True)
        t.start()
        time.sleep(0.3)
        assert "vision" in os.listdir(hub.p("alice"))
        p = cache("forget", "alice/vision", hub.mnt)
        assert p.returncode == 0 and p.stdout == b"forgot alice/vision\n", (p.stdout, p.stderr)
        assert not os.path.exists(os.path.join(hub.cache, "hubfs", "repos", "alice", "vision"))
        # the owner's listing (revalidated by the kernel against the cache's
        # mtime) no longer shows it
        harness.poll_until(lambda: "vision" not in os.listdir(hub.p("alice")), 5,
                           what="vision gone from the listing of /alice")
        time.sleep(0.5)
        stop[0] = True
        t.join(10)
        assert not errors, errors[:3]
        # the mount resolves and fetches it again: the same bytes
        assert harness.read_file(os.path.join(hub.p("alice", "vision:main"), target),
                                 timeout=60) == want
        assert os.path.isdir(os.path.join(hub.cache, "hubfs", "repos", "alice", "vision"))
        # bad input: not cached, not a name, missing arguments
        for args, rc, words in ((["forget", "alice/nothere", hub.cache], 1, "not in this cache"),
                                (["forget", "../x", hub.cache], 2, "OWNER/REPO"),
                                (["forget", "alice/vision"], 2, "missing"),
                                (["gc", "--max", "lots", hub.cache], 2, "--max")):
            p = cache(*args)
            lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
            assert p.returncode == rc and len(lines) == 1 and words in lines[0], (args, p, lines)
    finally:
        hub.unmount(m)
        srv.stop()


@pytest.mark.parametrize("value", ["banana", "0", "200%", "5X", "-3G", "99999999999T", ""])
def test_bad_cache_max_refused(hub, value):
    p = subprocess.run([HUBFS_BIN, "-f", "-o", ",".join(hub.options()) + ",cache_max=" + value,
                        hub.mnt], capture_output=True, timeout=30, env=hub.env())
    lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
    assert p.returncode != 0, p.stderr
    assert len(lines) == 1 and "cache_max" in lines[0], lines
    assert not harness.is_mounted(hub.mnt)


@pytest.mark.timeout_s(90)
def test_repository_evicted_unless_used_on_any_mount(hub, monkeypatch):
    """Two mounts on one root over the quota: the repository one mount
    reads (A) is kept, the one no mount used for the pin's 1.5 s (B) is
    evicted; both mounts read B correctly afterwards (fetched again)."""
    quota_env(monkeypatch)
    mnt2 = os.path.join(hub.work, "mnt2")
    os.makedirs(mnt2)
    opts = dict(extra=("cache_max=1K",))
    ma = hub.mount(**opts)
    mb = hub.mount(mountpoint=mnt2, **opts)
    repos = os.path.join(hub.cache, "hubfs", "repos")
    sha_a = hub.rev("bob", "legacy", "master")
    sha_b = hub.rev("carol", "trunk", "trunk")
    want_a = make_repos.git(hub.gitdir("bob", "legacy"), "show", sha_a + ":README")
    want_b = make_repos.git(hub.gitdir("carol", "trunk"), "show", sha_b + ":hubconf.py")
    path_a = mb.p("bob", "legacy@" + sha_a, "README")
    path_b = lambda m: m.p("carol", "trunk@" + sha_b, "hubconf.py")
    r = Reader(path_a, want_a)
    try:
        assert harness.read_file(path_b(ma), timeout=60) == want_b
        assert harness.read_file(path_a, timeout=60) == want_a
        ino_a = os.stat(os.path.join(repos, "bob", "legacy")).st_ino
        r.start()  # mount b uses A for the whole test
        harness.poll_until(lambda: not os.path.exists(os.path.join(repos, "carol", "trunk")),
                           20, what="the unused repository evicted")
        time.sleep(1.0)  # a few more rounds
        assert os.stat(os.path.join(repos, "bob", "legacy")).st_ino == ino_a, \
            "a repository in use on the other mount was evicted"
        assert "evicted repository carol/trunk" in (ma.stderr() + mb.stderr())
        # both views of B: the evicting mount's old path, the other's new one
        drop_pages(path_b(ma))
        assert harness.read_file(path_b(ma), timeout=60) == want_b
        assert harness.read_file(path_b(mb), timeout=60) == want_b
        assert os.path.isdir(os.path.join(repos, "carol", "trunk"))
        assert not r.errors and r.passes > 3, (r.errors, r.passes)
    finally:
        r.stop = True
        r.join(10)
        hub.unmount(mb)
        hub.unmount(ma)


@pytest.mark.timeout_s(60)
def test_pin_outlives_the_weight_entry(hub, monkeypatch):
    """A weight file's pin lasts pin_s after its last read even when the
    daemon lets go of its entry first (the kernel forgets the node: the
    last reference; or the table's cap): gc keeps it until then."""
    quota_env(monkeypatch, pin="4", every="1000")  # no thread rounds: gc does them
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    name, data = make_weight(files, "pinned", MiB + 7, 90)
    m = hub.mount()
    try:
        assert harness.read_file(url_path(m, srv.url(name)), timeout=60) == data
        ino = stored_inode(hub, len(data))
        before = time.monotonic()
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")  # dentries and inodes: the kernel forgets the node
        except OSError:
            pytest.skip("cannot drop the kernel's dentries here")
        time.sleep(1.0)  # FORGET reaches the daemon: its last reference goes
        p = cache("gc", "--max", "1K", hub.cache)
        assert p.returncode == 0, p.stderr
        if time.monotonic() - before < 3.5:
            assert b"in use (kept): 1 file(s)" in p.stdout, p.stdout
            assert store_inode(hub, len(data)) == ino, "evicted while pinned"
        # once the pin's 4 s are over, the next round evicts it
        harness.poll_until(lambda: b"evicted 1 file(s)" in cache("gc", "--max", "1K",
                                                                 hub.cache).stdout, 15,
                           what="evicted after the pin")
        assert time.monotonic() - before >= 3.0
    finally:
        hub.unmount(m)
        srv.stop()


def part_of(hub, size):
    """The store key whose .part the download of a file of size bytes
    writes (its .head records the size), or None."""
    d = os.path.join(hub.cache, "hubfs", "weights")
    for f in os.listdir(d) if os.path.isdir(d) else ():
        if f.endswith(".part"):
            key = f[:-5]
            try:
                if ('%d' % size) in open(os.path.join(d, key + ".head")).read():
                    return key
            except OSError:
                pass
    return None


@pytest.mark.timeout_s(90)
def test_abandoned_part_evicted_not_one_in_flight(hub, monkeypatch):
    """A killed daemon's partial download (no holder, idle past the bound)
    goes in the next round; another mount's download in flight stays; the
    abandoned file downloaded again later reads correct bytes."""
    quota_env(monkeypatch, every="1000")
    monkeypatch.setenv("HUBFS_TEST_PART_IDLE_S", "1")
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    (na, da), (nb, db) = [make_weight(files, s, 3 * MiB + k, 95 + k)
                          for k, s in ((1, "dead"), (2, "live"))]
    for n in (na, nb):  # 1 MiB, then a long stall: both downloads stay partial
        srv.ctl("_fault?path=/%s&mode=stall&at=%d&secs=6&times=1" % (n, MiB))
    mnt2 = os.path.join(hub.work, "mnt2")
    os.makedirs(mnt2)
    m1 = hub.mount()
    m2 = hub.mount(mountpoint=mnt2)
    try:
        for m, n, d in ((m1, na, da), (m2, nb, db)):
            with open(url_path(m, srv.url(n)), "rb") as f:
                assert f.read(65536) == d[:65536]
        harness.poll_until(lambda: part_of(hub, len(da)) and part_of(hub, len(db)), 20,
                           what="both partial downloads on disk")
        dead, live = part_of(hub, len(da)), part_of(hub, len(db))
        m1.kill9()  # its download is abandoned: no holder any more
        time.sleep(1.5)  # past the idle bound
        p = cache("gc", "--max", "1K", hub.cache)
        assert p.returncode == 0, p.stderr
        wd = os.path.join(hub.cache, "hubfs", "weights")
        assert not os.path.exists(os.path.join(wd, dead + ".part")), p.stdout
        assert not os.path.exists(os.path.join(wd, dead + ".lock"))
        assert os.path.exists(os.path.join(wd, live + ".part")), "a download in flight went"
        # the abandoned file, read again, is downloaded afresh: correct bytes
        srv.ctl("_reset")
        m3 = hub.mount()
        assert harness.read_file(url_path(m3, srv.url(na)), timeout=60) == da
        assert harness.read_file(url_path(m2, srv.url(nb)), timeout=60) == db
    finally:
        hub.unmount(m2)
        if harness.is_mounted(hub.mnt):
            hub.unmount()
        srv.stop()


@pytest.mark.timeout_s(60)
def test_forget_reaches_the_kernel(hub):
    """After `forget`, the mount tells the kernel to drop the entries it
    handed out for the repository: the next stat of a commit directory the
    kernel had cached for a day reaches the daemon, which fetches the
    repository again."""
    m = hub.mount()
    try:
        sha = hub.rev("carol", "trunk", "trunk")
        d = hub.p("carol", "trunk@" + sha)
        names = sorted(os.listdir(d))
        repo = os.path.join(hub.cache, "hubfs", "repos", "carol", "trunk")
        assert os.path.isdir(repo)
        p = cache("forget", "carol/trunk", hub.cache)
        assert p.returncode == 0, p.stderr
        assert not os.path.exists(repo)
        harness.poll_until(lambda: "carol/trunk: removed from the cache" in m.stderr(), 10,
                           what="the mount noticed")
        os.stat(d)  # a lookup the daemon answers: the commit is fetched again
        assert os.path.isdir(repo), "the kernel answered from its cached entry"
        assert sorted(os.listdir(d)) == names
    finally:
        hub.unmount(m)
