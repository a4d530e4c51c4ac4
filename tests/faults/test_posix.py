"""POSIX answers of the mount checked against a plain local directory, and
verify=stream under cat and cp (issue 13, items 5 and 6).

- `test -x`, `os.access` and `shutil.which` on every file of a commit agree
  with a `git archive` of that commit on local disk;
- `df` of the mount shows the cache root's filesystem;
- `du` of a weight file counts what was downloaded (nothing before the
  first read, the whole file once complete);
- listing an owner directory while refs enter the cache never repeats an
  entry nor misses one that was there all along;
- `cat` and `cp` of a hash-named weight whose bytes do not match the hash
  exit non-zero under the default verify=stream (a good one copies whole).
"""
import os
import shutil
import subprocess
import threading
import time

import pytest

import harness
from test_weights import MiB, Server, make_weight, url_path


@pytest.fixture
def weights(hub):
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    yield files, srv
    srv.stop()


def local_checkout(hub, sha, dest):
    """The commit's tree on local disk, modes as git has them."""
    tar = os.path.join(hub.work, "tree.tar")
    subprocess.run(["git", "-C", hub.gitdir("alice", "vision"), "archive", "-o", tar, sha],
                   check=True)
    os.makedirs(dest)
    subprocess.run(["tar", "-xf", tar, "-C", dest], check=True)


def files_of(root):
    out = []
    for d, dirs, files in os.walk(root):
        for n in files + dirs:
            out.append(os.path.relpath(os.path.join(d, n), root))
    return sorted(out)


@pytest.mark.timeout_s(180)
def test_access_df_like_a_local_directory(hub):
    hub.mount()
    sha = hub.manifest["alice/vision"]["refs"]["v1.0"]   # has scripts/run.sh (0755)
    mine = hub.p("alice", "vision@" + sha)
    assert harness.call(os.path.isdir, mine, timeout=60)
    local = os.path.join(hub.work, "local")
    local_checkout(hub, sha, local)
    names = [n for n in files_of(local) if not os.path.islink(os.path.join(local, n))]
    execs = 0
    for n in names:
        a, b = os.path.join(local, n), os.path.join(mine, n)
        for mask, what in ((os.X_OK, "X_OK"), (os.R_OK, "R_OK")):
            assert os.access(b, mask) == os.access(a, mask), "%s: access %s" % (n, what)
        assert os.access(b, os.W_OK) is False, n
        execs += os.path.isfile(a) and os.access(a, os.X_OK)
    assert execs >= 1, "the fixture commit has an executable file"
    # the shell and shutil agree
    for n in ("scripts/run.sh", "README.md", "hubconf.py"):
        want = subprocess.run(["test", "-x", os.path.join(local, n)]).returncode
        got = subprocess.run(["test", "-x", os.path.join(mine, n)]).returncode
        assert got == want, n
        d = os.path.dirname(os.path.join(mine, n))
        assert (shutil.which(os.path.basename(n), path=d) is None) == \
               (shutil.which(os.path.basename(n), path=os.path.dirname(os.path.join(local, n)))
                is None), n
    # a 0444 file is refused by exec with EACCES, not run (126 from a shell)
    assert harness.errno_of(lambda: subprocess.run([os.path.join(mine, "README.md")])) == 13

    # df: the cache root's filesystem, read-only
    sv, want = os.statvfs(hub.current.path), os.statvfs(hub.cache)
    assert sv.f_blocks == want.f_blocks and sv.f_blocks > 0
    assert sv.f_frsize == want.f_frsize
    assert sv.f_flag & os.ST_RDONLY
    out = subprocess.run(["df", "-P", hub.current.path], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1].split()
    assert int(out[1]) > 0, out   # 1024-blocks


@pytest.mark.timeout_s(180)
def test_du_counts_bytes_downloaded(hub, weights):
    files, srv = weights
    name, data = make_weight(files, "du", 6 * MiB + 5, 31)
    m = hub.mount()
    p = url_path(m, srv.url(name))
    st = harness.call(os.stat, p, timeout=30)
    assert st.st_size == len(data)
    # the lookup GETs the first 64 KiB for the size (HUB_WEIGHTS_HEAD_BYTES),
    # nothing more is downloaded before a read
    assert st.st_blocks * 512 <= 64 * 1024, "downloaded at lookup: st_blocks %d" % st.st_blocks
    assert harness.read_file(p, timeout=60) == data

    def whole():
        return os.stat(p).st_blocks * 512 >= len(data)
    harness.poll_until(whole, 10, what="st_blocks covering the downloaded file")
    du = subprocess.run(["du", "-k", p], capture_output=True, text=True, check=True)
    assert int(du.stdout.split()[0]) >= len(data) // 1024


@pytest.mark.timeout_s(300)
def test_listing_while_the_cache_changes(hub):
    """300 tags enter the cache (one lookup each) while another thread lists
    /alice again and again: no listing repeats a name, and every name that
    was there before the listing started is in it.  A listing opened before
    the second half entered and read a few entries at a time until after is
    the directory at its open: no name of the second half in it."""
    gitdir = hub.gitdir("alice", "vision")
    sha = hub.manifest["alice/vision"]["refs"]["main"]
    subprocess.run(["git", "-C", gitdir, "update-ref", "--stdin"], check=True, text=True,
                   input="".join("create refs/tags/t%03d %s\n" % (i, sha) for i in range(300)))
    hub.mount(neg_ttl=0)
    owner = hub.p("alice")
    for i in range(0, 300, 2):   # half before the listings
        assert harness.call(os.readlink, os.path.join(owner, "vision:t%03d" % i), timeout=60)
    # one listing read a few entries at a time, from before the other half
    # enters until after: the directory as it was when opened (a snapshot
    # held by the open directory)
    fd = os.open(owner, os.O_RDONLY | os.O_DIRECTORY)
    slow = getdents(fd, 512)
    assert slow, "the first read gave nothing"
    stop = threading.Event()
    errors = []

    def add():
        for i in range(1, 300, 2):
            if stop.is_set():
                return
            try:
                os.readlink(os.path.join(owner, "vision:t%03d" % i))
            except OSError as e:
                errors.append("lookup t%03d: %s" % (i, e))

    t = threading.Thread(target=add)
    t.start()
    listings = 0
    try:
        while t.is_alive() or listings < 3:
            before = set(os.listdir(owner))
            now = os.listdir(owner)
            assert len(now) == len(set(now)), "a listing repeated entries"
            missing = before - set(now)
            assert not missing, "a listing missed entries: %s" % sorted(missing)[:5]
            listings += 1
        while True:
            more = getdents(fd, 512)
            if not more:
                break
            slow += more
    finally:
        stop.set()
        t.join(60)
        os.close(fd)
    assert not errors, errors[:3]
    assert listings >= 3
    names = [n for n in slow if n not in (".", "..")]
    assert len(names) == len(set(names)), "a slow listing repeated entries"
    added = {"vision:t%03d" % i for i in range(1, 300, 2)} & set(names)
    assert not added, "%d names added halfway through one listing: %s" % (
        len(added), sorted(added)[:5])
    assert {"vision:t%03d" % i for i in range(0, 300, 2)} <= set(names), "a slow listing missed"
    assert {"vision:t%03d" % i for i in range(300)} <= set(os.listdir(owner))


def getdents(fd, size):
    """One getdents64 call on fd with a buffer of size bytes: the names."""
    import ctypes
    import struct
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(size)
    n = libc.syscall(217, fd, buf, size)   # SYS_getdents64 (x86_64)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    raw, names, at = buf.raw[:n], [], 0
    while at < n:
        reclen = struct.unpack_from("<H", raw, at + 16)[0]
        names.append(raw[at + 19:at + reclen].split(b"\0", 1)[0].decode())
        at += reclen
    return names


def run_rc(cmd):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=120).returncode


@pytest.mark.timeout_s(240)
@pytest.mark.parametrize("size", [64 * 1024, 3 * MiB + 7])
def test_cat_and_cp_of_a_corrupt_weight_fail_with_verify_stream(hub, weights, size):
    files, srv = weights
    bad, _ = make_weight(files, "bad%d" % size, size, 41, good_hash=False)
    bad2, _ = make_weight(files, "bad2%d" % size, size, 43, good_hash=False)
    good, gdata = make_weight(files, "good%d" % size, size, 42)
    m = hub.mount()   # verify=stream is the default
    out = os.path.join(hub.work, "copy")
    assert run_rc(["cat", url_path(m, srv.url(bad))]) != 0, "cat of a corrupt file exited 0"
    assert run_rc(["cp", url_path(m, srv.url(bad2)), out]) != 0, "cp of a corrupt file exited 0"
    assert run_rc(["cp", url_path(m, srv.url(good)), out]) == 0
    with open(out, "rb") as f:
        assert f.read() == gdata
    for n in (bad, bad2):
        assert not os.path.exists(os.path.join(hub.cache, "checkpoints", n))


@pytest.mark.timeout_s(240)
def test_cat_of_a_corrupt_weight_fails_after_its_end_was_read_first(hub, weights):
    """The end of a hash-named file read first, far ahead of the download
    (as torch reads a zip's directory), is served before the verdict; the
    kernel keeps pages across opens, so a `cat` that follows must not end
    with those pages (and status 0) without the final read that waits for
    the verdict.  The server is throttled so the download still runs when
    cat reaches the end."""
    files, srv = weights
    size = 24 * MiB + 4096
    bad, _ = make_weight(files, "tail", size, 51, good_hash=False)
    srv.ctl("_fault?path=/%s&mode=throttle&rate=%d" % (bad, 12 * MiB))
    m = hub.mount()
    p = url_path(m, srv.url(bad))
    fd = harness.call(os.open, p, os.O_RDONLY, timeout=60)
    try:
        tail = harness.call(os.pread, fd, 4096, size - 4096, timeout=60)
        assert len(tail) == 4096
    finally:
        os.close(fd)
    assert run_rc(["cat", p]) != 0, "cat of a corrupt file exited 0 after its end was read"
    assert not os.path.exists(os.path.join(hub.cache, "checkpoints", bad))
    # a good file read the same way copies whole
    good, gdata = make_weight(files, "tailok", 12 * MiB + 4096, 52)
    srv.ctl("_fault?path=/%s&mode=throttle&rate=%d" % (good, 12 * MiB))
    p = url_path(m, srv.url(good))
    fd = harness.call(os.open, p, os.O_RDONLY, timeout=60)
    try:
        assert harness.call(os.pread, fd, 4096, len(gdata) - 4096, timeout=60) == gdata[-4096:]
    finally:
        os.close(fd)
    out = subprocess.run(["cat", p], stdout=subprocess.PIPE, timeout=120)
    assert out.returncode == 0 and out.stdout == gdata
