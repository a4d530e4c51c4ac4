"""Weight files through the mount (issue 4), against a real HTTP server.

tests/weights/httpd.py serves weight files on 127.0.0.1 with Range support,
fault modes and per-path counters; hubfs reads them through
/.hubfs/url/<url, '/' written %2F> (the path the Python helper uses), and
the checks are made on bytes (compared with the source), on what the server
counted, on what lands in <cache>/checkpoints/, and with the real torch.
"""
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_PYTHON = "/usr/bin/python3"
MiB = 1 << 20


class Server:
    def __init__(self, root):
        self.root = root
        self.proc, self.port = harness.start_httpd(root, os.path.join(root, "..", "httpd.port"))

    def url(self, path):
        return "http://127.0.0.1:%d/%s" % (self.port, path.lstrip("/"))

    def ctl(self, q):
        with urllib.request.urlopen(self.url(q), timeout=10) as r:
            return r.read()

    def stats(self, path):
        return json.loads(self.ctl("_stats")).get("/" + path.lstrip("/"),
                                                   {"get": 0, "head": 0, "bytes": 0})

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


def make_weight(root, stem, size, seed, good_hash=True):
    data = random.Random(seed).randbytes(size)
    digest = hashlib.sha256(data).hexdigest()
    h = digest[:8] if good_hash else "%08x" % (int(digest[:8], 16) ^ 1)
    name = "%s-%s.pth" % (stem, h)
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)
    return name, data


@pytest.fixture
def env():
    work = tempfile.mkdtemp(prefix="hubfs-it-weights-", dir=os.environ.get("HUBFS_TEST_TMP", "/tmp"))
    files = os.path.join(work, "files")
    os.makedirs(files)
    srv = Server(files)
    cache = os.path.join(work, "cache")
    state = {"work": work, "files": files, "srv": srv, "cache": cache, "mounts": []}

    def mount(extra=""):
        # allow_private: the server is on 127.0.0.1 (tests/trust checks the refusal)
        m = harness.Mount(os.path.join(work, "mnt"), "cache=%s,allow_private%s" % (cache, extra),
                          logdir=work).start()
        state["mounts"].append(m)
        return m
    state["mount"] = mount
    yield state
    problems = []
    for m in state["mounts"]:
        if m.alive:
            problems += m.stop() or []
    srv.stop()
    assert not problems, problems
    shutil.rmtree(work, ignore_errors=True)


def url_path(m, url):
    return m.p(".hubfs", "url", url.replace("%", "%25").replace("/", "%2F"))


def test_size_before_download_then_bytes_and_checkpoint(env):
    name, data = make_weight(env["files"], "net", 3 * MiB + 123, 1)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    st = harness.call(os.stat, p, timeout=30)
    assert st.st_size == len(data)
    # the size from one GET of the first 64 KiB (HUB_WEIGHTS_HEAD_BYTES), no
    # HEAD; the download itself waits for a read
    s = env["srv"].stats(name)
    assert s["head"] == 0 and s["get"] == 1, s
    assert s["bytes"] <= 64 * 1024, "downloaded before any read: %r" % s
    assert harness.read_file(p, timeout=60) == data
    s = env["srv"].stats(name)
    assert s["bytes"] <= len(data) * 1.05, s
    ck = os.path.join(env["cache"], "checkpoints", name)
    harness.poll_until(lambda: os.path.exists(ck), 20, what="checkpoint file")
    with open(ck, "rb") as f:
        assert f.read() == data
    mode = os.stat(ck).st_mode & 0o777
    assert mode == 0o666 & ~_umask(), oct(mode)


def _umask():
    u = os.umask(0)
    os.umask(u)
    return u


def test_complete_file_without_its_checkpoint_link_is_published(env):
    """A holder killed between the rename of N.part into the store and its
    link as checkpoints/N (the crash suite's kill -9 found that window)
    leaves a complete file torch.hub cannot see: the next mount that opens
    it links it, without downloading it again."""
    name, data = make_weight(env["files"], "unlinked", MiB + 5, 12)
    m = env["mount"]()
    assert harness.read_file(url_path(m, env["srv"].url(name)), timeout=60) == data
    ck = os.path.join(env["cache"], "checkpoints", name)
    harness.poll_until(lambda: os.path.exists(ck), 20, what="checkpoints/" + name)
    assert m.stop() == []
    os.unlink(ck)  # the state such a kill leaves
    gets = env["srv"].stats(name)["get"]
    m = env["mount"]()
    assert harness.read_file(url_path(m, env["srv"].url(name)), timeout=60) == data
    assert os.path.exists(ck), "a complete file was not published as checkpoints/N"
    with open(ck, "rb") as f:
        assert f.read() == data
    assert env["srv"].stats(name)["get"] == gets, "the complete file was downloaded again"


def test_parallel_readers_make_one_download(env):
    name, data = make_weight(env["files"], "par", 8 * MiB, 2)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    env["srv"].ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, 16 * MiB))
    out = [None] * 8

    def reader(i):
        out[i] = harness.read_file(p, timeout=120)
    ts = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(o == data for o in out)
    s = env["srv"].stats(name)
    assert s["bytes"] <= len(data) * 1.1, "served %d bytes for a %d-byte file" % (s["bytes"], len(data))


def test_random_offset_reads_equal_the_source(env):
    name, data = make_weight(env["files"], "rnd", 5 * MiB + 7, 3)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    rng = random.Random(4)

    def reads():
        fd = os.open(p, os.O_RDONLY)
        try:
            for _ in range(60):
                off = rng.randrange(0, len(data))
                n = rng.choice([1, 100, 4096, 65536, 300000])
                assert os.pread(fd, n, off) == data[off:off + n], (off, n)
        finally:
            os.close(fd)
    harness.call(reads, timeout=120)


def test_far_read_does_not_wait_for_the_download(env):
    name, data = make_weight(env["files"], "far", 64 * MiB, 5)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    env["srv"].ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, 2 * MiB))
    harness.call(os.stat, p, timeout=30)

    def tail():
        fd = os.open(p, os.O_RDONLY)
        try:
            t = time.monotonic()
            got = os.pread(fd, 4096, len(data) - 4096)
            return got, time.monotonic() - t
        finally:
            os.close(fd)
    got, took = harness.call(tail, timeout=60)
    assert got == data[-4096:]
    assert took < 10, "the end of a 64 MiB file at 2 MiB/s took %.1fs: it waited" % took


def test_wrong_hash_is_reported_and_nothing_is_kept(env):
    """verify=stream: reads may return bytes while the hash is computed; the
    mismatch is then reported and nothing reaches checkpoints/."""
    name, data = make_weight(env["files"], "bad", MiB, 6, good_hash=False)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))

    def read_all():
        with open(p, "rb") as f:
            return f.read()
    harness.errno_of(read_all, timeout=60)

    def reported():
        text = harness.read_file(m.p(".hubfs", "downloads")).decode()
        return any(line.startswith("failed " + name) for line in text.splitlines())
    harness.poll_until(reported, 20, what="the verification failure in /.hubfs/downloads")
    assert not os.path.exists(os.path.join(env["cache"], "checkpoints", name))


def test_pages_served_before_a_failed_verification_are_dropped(env):
    """verify=stream serves bytes before the hash is known; once the file
    fails verification, even the pages the kernel already cached must not be
    served again: a re-read of them fails with EIO."""
    name, data = make_weight(env["files"], "stale", 4 * MiB, 21, good_hash=False)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    fd = harness.call(os.open, p, os.O_RDONLY, timeout=30)
    try:
        head = harness.call(os.pread, fd, 65536, 0, timeout=60)
        assert head == data[:65536], "bytes served before verification differ from the source"

        def reported():
            text = harness.read_file(m.p(".hubfs", "downloads")).decode()
            return any(line.startswith("failed " + name) for line in text.splitlines())
        harness.poll_until(reported, 30, what="the verification failure in /.hubfs/downloads")
        err = None
        try:
            # the invalidation is asynchronous: allow it a moment
            deadline = time.monotonic() + 5
            while True:
                got = harness.call(os.pread, fd, 65536, 0, timeout=30)
                assert time.monotonic() < deadline, \
                    "pages of a file that failed verification still served from the page cache"
                time.sleep(0.1)
        except OSError as e:
            err = e.errno
        assert err == 5, err
    finally:
        os.close(fd)
    assert not os.path.exists(os.path.join(env["cache"], "checkpoints", name))


def test_wrong_hash_is_eio_with_verify_strict(env):
    name, data = make_weight(env["files"], "bads", MiB, 15, good_hash=False)
    m = env["mount"](",verify=strict")
    p = url_path(m, env["srv"].url(name))

    def read_all():
        with open(p, "rb") as f:
            return f.read()
    err = harness.errno_of(read_all, timeout=60)
    assert err == 5, "verify=strict read of a file whose sha256 does not match its name: errno %r" % err
    assert not os.path.exists(os.path.join(env["cache"], "checkpoints", name))
    # A good file still reads under strict.
    good, gdata = make_weight(env["files"], "goods", MiB, 16)
    assert harness.read_file(url_path(m, env["srv"].url(good)), timeout=60) == gdata


def test_torch_hub_file_is_used_without_network_and_torch_uses_ours(env):
    # A file torch.hub put in checkpoints/: no request at all.
    name, data = make_weight(env["files"], "pre", MiB, 7)
    os.makedirs(os.path.join(env["cache"], "checkpoints"))
    shutil.copy(os.path.join(env["files"], name), os.path.join(env["cache"], "checkpoints", name))
    m = env["mount"]()
    assert harness.read_file(url_path(m, env["srv"].url(name))) == data
    s = env["srv"].stats(name)
    assert s["get"] == 0 and s["head"] == 0, s
    # A file hubfs downloaded: torch.hub finds it with set_dir(cache) and no network.
    script = ("import torch, sys\n"
              "torch.hub.set_dir(sys.argv[1])\n"
              "sd = torch.hub.load_state_dict_from_url(sys.argv[2], check_hash=True)\n"
              "print(sorted(sd))\n")
    sd_src = os.path.join(env["work"], "sd.pth")
    subprocess.run([TORCH_PYTHON, "-c", "import torch, sys; torch.save({'w': torch.arange(10.)}, sys.argv[1])",
                    sd_src], check=True, timeout=300)
    digest = hashlib.sha256(open(sd_src, "rb").read()).hexdigest()[:8]
    sname = "sd-%s.pth" % digest
    shutil.copy(sd_src, os.path.join(env["files"], sname))
    url = env["srv"].url(sname)
    assert harness.read_file(url_path(m, url), timeout=60) == open(sd_src, "rb").read()
    harness.poll_until(lambda: os.path.exists(os.path.join(env["cache"], "checkpoints", sname)), 20,
                       what="checkpoint")
    before = env["srv"].stats(sname)
    r = subprocess.run([TORCH_PYTHON, "-c", script, env["cache"], url], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert b"['w']" in r.stdout
    assert env["srv"].stats(sname) == before, "torch.hub went to the network"


def test_torch_load_and_mmap_from_the_mount(env):
    sd_src = os.path.join(env["files"], "model-00000000.bin")
    subprocess.run([TORCH_PYTHON, "-c",
                    "import torch, sys; torch.manual_seed(0); "
                    "torch.save({'a': torch.randn(256, 256), 'b': torch.arange(1000)}, sys.argv[1])",
                    sd_src], check=True, timeout=300)
    digest = hashlib.sha256(open(sd_src, "rb").read()).hexdigest()[:8]
    name = "model-%s.pth" % digest
    os.rename(sd_src, os.path.join(env["files"], name))
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    script = ("import torch, sys, mmap\n"
              "a = torch.load(sys.argv[1]); b = torch.load(sys.argv[2])\n"
              "assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)\n"
              "f = open(sys.argv[1], 'rb'); mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n"
              "assert mm[:] == open(sys.argv[2], 'rb').read()\n"
              "print('ok')\n")
    r = subprocess.run([TORCH_PYTHON, "-c", script, p, os.path.join(env["files"], name)],
                       capture_output=True, timeout=300)
    assert r.returncode == 0 and b"ok" in r.stdout, r.stderr.decode()[-2000:]


def test_kill9_mid_download_then_remount_resumes(env):
    name, data = make_weight(env["files"], "kill", 24 * MiB, 8)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    env["srv"].ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, 4 * MiB))

    def first_bytes():
        fd = os.open(p, os.O_RDONLY)
        try:
            return os.pread(fd, 4096, 0)
        finally:
            os.close(fd)
    assert harness.call(first_bytes, timeout=60) == data[:4096]
    time.sleep(2)  # let part of it arrive
    m.kill9()
    harness.unmount(m.path)
    assert not os.path.exists(os.path.join(env["cache"], "checkpoints", name)), \
        "a partial file under its final name"
    env["srv"].ctl("_reset")
    m2 = env["mount"]()
    assert harness.read_file(url_path(m2, env["srv"].url(name)), timeout=120) == data
    served = env["srv"].stats(name)["bytes"]
    assert served < len(data), "resumed download fetched %d bytes of %d: it started over" % (
        served, len(data))


def test_downloads_in_flight_are_shown(env):
    name, data = make_weight(env["files"], "slow", 16 * MiB, 9)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    env["srv"].ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, 2 * MiB))
    t = threading.Thread(target=lambda: harness.read_file(p, timeout=120))
    t.start()
    try:
        def shown():
            return name.encode() in harness.read_file(m.p(".hubfs", "downloads"))
        harness.poll_until(shown, 20, what="download listed in /.hubfs/downloads")
        r = subprocess.run([harness.HUBFS_BIN, "status", m.path], capture_output=True, timeout=30)
        assert r.returncode == 0
        assert name.encode() in r.stdout and b"[" in r.stdout and b"%" in r.stdout, r.stdout
    finally:
        t.join()


def test_hub_weights_dirs_from_the_code(env):
    """.hub/weights/ and entrypoints/<e>/weights/ list what the repository's
    code refers to, named as torch.hub names checkpoints, and read through to
    the server behind the rewrite rule."""
    a_name, a_data = make_weight(env["files"], "alpha", MiB + 5, 10)
    b_name, b_data = make_weight(env["files"], "beta", 2 * MiB, 11)
    src = os.path.join(env["work"], "src")
    os.makedirs(os.path.join(src, "models"))
    with open(os.path.join(src, "hubconf.py"), "w") as f:
        f.write("from torch.hub import load_state_dict_from_url\n"
                "dependencies = ['torch']\n"
                "URLS = {'alpha': 'https://example.invalid/w/%s', 'beta': 'https://example.invalid/w/%s'}\n"
                "def alpha(pretrained=False):\n"
                "    '''Alpha.'''\n"
                "    return load_state_dict_from_url(URLS['alpha'])\n"
                "def beta(pretrained=False):\n"
                "    '''Beta.'''\n"
                "    return _load('beta')\n"
                "def _load(arch):\n"
                "    return load_state_dict_from_url(URLS[arch])\n"
                "def plain():\n"
                "    '''No weights.'''\n" % (a_name, b_name))
    os.makedirs(os.path.join(env["files"], "w"))
    for n in (a_name, b_name):
        os.link(os.path.join(env["files"], n), os.path.join(env["files"], "w", n))
    genv = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "w"]):
        subprocess.run(cmd, cwd=src, check=True, env=genv, capture_output=True)
    base = os.path.join(env["work"], "serve")
    os.makedirs(os.path.join(base, "wt"))
    subprocess.run(["git", "clone", "-q", "--bare", src, os.path.join(base, "wt", "hub.git")], check=True)
    daemon = harness.GitDaemon(base, logdir=env["work"]).start()
    try:
        m = env["mount"](",rewrite=https://github.com/=git://127.0.0.1:%d/,"
                         "rewrite=https://example.invalid/=http://127.0.0.1:%d/"
                         % (daemon.port, env["srv"].port))
        d = harness.call(os.path.realpath, m.p("wt", "hub:main"), timeout=60)
        hub = os.path.join(d, ".hub")
        assert sorted(harness.call(os.listdir, os.path.join(hub, "weights"))) == sorted([a_name, b_name])
        ep = os.path.join(hub, "entrypoints")
        assert harness.call(os.listdir, os.path.join(ep, "alpha", "weights")) == [a_name]
        assert harness.call(os.listdir, os.path.join(ep, "beta", "weights")) == [b_name]
        assert harness.call(os.listdir, os.path.join(ep, "plain", "weights")) == []
        st = harness.call(os.stat, os.path.join(ep, "beta", "weights", b_name))
        assert st.st_size == len(b_data)
        s = env["srv"].stats("w/" + b_name)  # the lookup's first 64 KiB only
        assert s["get"] == 1 and s["bytes"] <= 64 * 1024, s
        assert harness.read_file(os.path.join(ep, "beta", "weights", b_name), timeout=60) == b_data
        assert harness.read_file(os.path.join(hub, "weights", a_name), timeout=60) == a_data
    finally:
        for mm in env["mounts"]:
            if mm.alive:
                mm.stop()
        daemon.stop()


def test_a_stalled_server_does_not_wedge_other_reads(env):
    """One file's server stalls mid-body: reads of other files, and the
    daemon's own files, keep answering at once."""
    slow, slow_data = make_weight(env["files"], "stall", 4 * MiB, 12)
    fast, fast_data = make_weight(env["files"], "quick", MiB, 13)
    m = env["mount"]()
    env["srv"].ctl("_fault?path=/%s&mode=stall&at=%d&secs=8" % (slow, MiB))
    ps, pf = url_path(m, env["srv"].url(slow)), url_path(m, env["srv"].url(fast))
    harness.call(os.stat, ps, timeout=30)
    result = {}
    readers = [threading.Thread(target=lambda: result.setdefault(
        "slow", harness.read_file(ps, timeout=120))) for _ in range(4)]
    for t in readers:
        t.start()
    time.sleep(1)  # the stall has begun
    t0 = time.monotonic()
    assert harness.read_file(pf, timeout=10) == fast_data
    harness.read_file(m.p(".hubfs", "downloads"), timeout=5)
    harness.call(os.listdir, m.p(".hubfs"), timeout=5)
    assert time.monotonic() - t0 < 5, "other reads waited for the stalled download"
    for t in readers:
        t.join()
    assert result["slow"] == slow_data


def test_two_mounts_on_one_cache_download_once(env):
    name, data = make_weight(env["files"], "two", 12 * MiB, 14)
    m1 = env["mount"]()
    m2 = harness.Mount(os.path.join(env["work"], "mnt2"), "cache=%s,allow_private" % env["cache"],
                       logdir=env["work"], name="second").start()
    env["mounts"].append(m2)
    env["srv"].ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, 8 * MiB))
    url = env["srv"].url(name)
    out = {}
    ts = [threading.Thread(target=lambda k=k, m=m: out.__setitem__(k, harness.read_file(url_path(m, url), timeout=120)))
          for k, m in (("a", m1), ("b", m2))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out["a"] == data and out["b"] == data
    s = env["srv"].stats(name)
    assert s["bytes"] <= len(data) * 1.1, "two mounts fetched %d bytes of a %d-byte file" % (s["bytes"], len(data))


def test_reads_are_spliced_from_the_cache_file_partial_and_complete(env):
    """Weight bytes go to the kernel by splice from the cache file (no copy
    through the daemon), while the file downloads (its .part, only bytes on
    disk) and once complete; the bytes are the source's either way."""
    name, data = make_weight(env["files"], "spl", 6 * MiB + 11, 21)
    opts = "cache=%s,allow_private" % env["cache"]
    m = harness.Mount(os.path.join(env["work"], "mnt"), opts, logdir=env["work"],
                      args=["-f", "-d", "-o", opts, os.path.join(env["work"], "mnt")]).start()
    env["mounts"].append(m)
    p = url_path(m, env["srv"].url(name))
    env["srv"].ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, 4 * MiB))
    fd = harness.call(os.open, p, os.O_RDONLY, timeout=30)
    try:
        # while the download runs: a read of its start is served from .part
        assert harness.call(os.pread, fd, 65536, 0, timeout=60) == data[:65536]
        assert not harness.call(os.path.exists, os.path.join(
            env["cache"], "checkpoints", name), timeout=10), "complete already: not a partial read"
    finally:
        os.close(fd)
    partial = m.stderr().count("(splice)")
    assert partial > 0, "no READ of the partial file was spliced"
    assert harness.read_file(p, timeout=60) == data
    ck = os.path.join(env["cache"], "checkpoints", name)
    harness.poll_until(lambda: os.path.exists(ck), 30, what="checkpoint file")
    # the complete file, its pages dropped from the kernel's cache: read again
    fd = os.open(p, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    before = m.stderr().count("(splice)")
    assert harness.read_file(p, timeout=60) == data
    assert m.stderr().count("(splice)") > before, "no READ of the complete file was spliced"


def test_reads_in_large_spliced_requests(env):
    """The mount's readahead is raised after INIT (root) and READ requests
    fit a pipe (max_read): a sequential read of a weight file comes in
    requests far larger than the kernel's default 128 KiB, and every large
    reply is spliced, none copied through a buffer (libfuse's fallback when
    a reply and its header do not fit its pipe)."""
    if os.geteuid() != 0:
        pytest.skip("raising a mount's readahead needs root")
    name, data = make_weight(env["files"], "large", 24 * MiB, 21)
    mnt = os.path.join(env["work"], "mnt")
    m = harness.Mount(mnt, "", args=["-d", "-o", "cache=%s,allow_private" % env["cache"], mnt],
                      logdir=env["work"]).start()
    env["mounts"].append(m)
    st = harness.call(os.stat, m.p(".hubfs"), timeout=30)
    bdi = "/sys/class/bdi/%d:%d/read_ahead_kb" % (os.major(st.st_dev), os.minor(st.st_dev))
    with open(bdi) as f:
        assert int(f.read()) == 4096, "the mount's readahead was not raised"
    assert harness.read_file(url_path(m, env["srv"].url(name)), timeout=120) == data
    outs = [ln for ln in m.stderr().splitlines() if "success, outsize:" in ln]
    sizes = [int(ln.split("outsize:")[1].split()[0]) for ln in outs]
    big = [ln for ln, n in zip(outs, sizes) if n > 256 * 1024]
    assert len(big) >= 12, "READ replies no larger than 256 KiB: %r" % sorted(set(sizes))[-5:]
    assert max(sizes) <= (1 << 20), max(sizes)
    assert all("(splice)" in ln for ln in big), [ln for ln in big if "(splice)" not in ln][:3]


def _resident_bytes(path):
    """Bytes of path in the page cache (util-linux fincore)."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def test_a_cold_read_keeps_one_copy_in_memory_not_two(env):
    """A file read through the mount while it downloads is in the page cache
    as the mounted file's pages; the cache file's own copy is written back
    and dropped behind the reader (cache/weights.c, drop_behind), so a cold
    read does not fill memory twice.  Without that, every page of the cache
    file stays resident.  The bytes dropped read back equal from the disk."""
    size = 128 * MiB
    name, data = make_weight(env["files"], "once", size, 23)
    m = env["mount"]()
    p = url_path(m, env["srv"].url(name))
    assert harness.read_file(p, timeout=180) == data
    ck = os.path.join(env["cache"], "checkpoints", name)
    harness.poll_until(lambda: os.path.exists(ck), 30, what="checkpoint file")
    res = _resident_bytes(ck)
    # what stays: the last HUB_WEIGHTS_DROP_LAG (32 MiB) behind the end, and
    # pages whose writeback had not finished when the reader passed them
    assert res <= 0.6 * size, "%d of %d bytes of the cache file still in memory" % (res, size)
    with open(ck, "rb") as f:
        assert f.read() == data
