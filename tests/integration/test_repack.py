"""Repacking and `hubfs cache verify` of repositories (issue 16).

A fixture repository whose tags t1..tN each add a commit is resolved tag by
tag through the mount: each resolution is one shallow fetch, one more pack
in the cache's repository.  Past HUB_GIT_PACKS_MAX packs the mount's repack
thread merges them into one while readers go on reading files of the
commits fetched so far (every byte compared); a fresh mount on the repacked
cache, offline, reads every file again.  Then `hubfs cache verify` passes
the repository, finds it bad once a byte of its pack is flipped, --repair
drops it, and the next resolution fetches it again."""

import os
import random
import re
import subprocess
import threading

import harness
from harness import HUBFS_BIN, ROOT, read_file, readlink
import make_repos

NFILES = 6


def packs_max():
    with open(os.path.join(ROOT, "base", "limits.h")) as f:
        return int(re.search(r"#define HUB_GIT_PACKS_MAX (\d+)", f.read()).group(1))


def content(i, k):
    if k == NFILES:  # one larger file per commit
        return random.Random(i).randbytes(48 * 1024)
    return ("commit %d file %d\n" % (i, k)).encode() * (k + 1)


def make_many(hub, n):
    """alice/many: commit i changes every file; tag t<i> on it."""
    gitdir = hub.gitdir("alice", "many")
    make_repos.git(os.path.dirname(gitdir), "init", "-q", "--bare", gitdir)
    stream = []
    for i in range(1, n + 1):
        msg = b"c%d" % i
        stream.append(b"commit refs/heads/main\nmark :%d\n"
                      b"committer t <t@t> %d +0000\ndata %d\n%s\n"
                      % (i, 1700000000 + i, len(msg), msg))
        if i > 1:
            stream.append(b"from :%d\n" % (i - 1))
        for k in range(NFILES + 1):
            data = content(i, k)
            stream.append(b"M 100644 inline f%d.txt\ndata %d\n%s\n" % (k, len(data), data))
        stream.append(b"reset refs/tags/t%d\nfrom :%d\n\n" % (i, i))
    make_repos.git(gitdir, "fast-import", "--quiet", input=b"".join(stream))


def cache_gitdir(hub):
    return os.path.join(hub.cache, "hubfs", "repos", "alice", "many", "git")


def pack_count(hub):
    d = os.path.join(cache_gitdir(hub), "objects", "pack")
    return len([f for f in os.listdir(d) if f.endswith(".pack")])


def resolve(hub, i):
    target = readlink(hub.p("alice", "many:t%d" % i))
    assert target.startswith("many@"), target
    return target[len("many@"):]


def check_commit(hub, sha, i, files):
    for k in files:
        got = read_file(hub.p("alice", "many@" + sha, "f%d.txt" % k), timeout=60)
        assert got == content(i, k), "many@%s (t%d) f%d.txt: wrong bytes" % (sha, i, k)


def cache(*args):
    return subprocess.run([HUBFS_BIN, "cache"] + list(args), capture_output=True, timeout=120)


def test_repack_under_load(hub):
    limit = packs_max()
    n = limit + 1
    make_many(hub, n)
    hub.mount()
    done = {}
    lock = threading.Lock()
    stop = threading.Event()
    errors = []
    reads = [0]

    def reader(seed):
        rnd = random.Random(seed)
        try:
            while not stop.is_set():
                with lock:
                    items = list(done.items())
                if not items:
                    continue
                i, sha = rnd.choice(items)
                k = rnd.randrange(NFILES)  # f<NFILES> is left for after the repack
                check_commit(hub, sha, i, [k])
                reads[0] += 1
        except BaseException as e:  # noqa: B902 (reported by the main thread)
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(s,), daemon=True) for s in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(1, n + 1):
            sha = resolve(hub, i)
            with lock:
                done[i] = sha
            if i < n:
                # no repack at or under the limit
                assert pack_count(hub) == i, (i, pack_count(hub))
        # the last fetch passed the limit: the repack thread merges them,
        # while the readers go on and the large files are read for the first time
        check_commit(hub, done[n], n, range(NFILES + 1))
        for i in range(1, n + 1):
            check_commit(hub, done[i], i, [NFILES])
        harness.poll_until(lambda: pack_count(hub) == 1, 60, what="repack into one pack")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors[0]
    assert reads[0] > 0
    assert "repack %s: %d packs into one" % (cache_gitdir(hub), n) in hub.current.stderr()
    # every file of every commit, read by the mount that repacked...
    for i in range(1, n + 1):
        check_commit(hub, done[i], i, range(NFILES + 1))
    hub.unmount()
    # ...and by a fresh one, offline: nothing may be missing
    make_repos.git(cache_gitdir(hub), "fsck", "--no-dangling")
    hub.mount(offline=True)
    for i in range(1, n + 1):
        assert resolve(hub, i) == done[i]
        check_commit(hub, done[i], i, range(NFILES + 1))


def test_cache_verify_repos_and_repair(hub):
    make_many(hub, 3)
    hub.mount()
    shas = {i: resolve(hub, i) for i in (1, 2)}
    check_commit(hub, shas[1], 1, range(NFILES + 1))
    p = cache("verify", hub.mnt)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert re.search(r"^ok repo alice/many \(\d+ objects, \d+ refs\)$", out, re.M), out
    assert "repositories verified" in out and ", bad 0" in out.splitlines()[-1], out

    # flip one byte in the middle of the largest pack (the data of an object)
    d = os.path.join(cache_gitdir(hub), "objects", "pack")
    pack = max((os.path.join(d, f) for f in os.listdir(d) if f.endswith(".pack")),
               key=os.path.getsize)
    os.chmod(pack, 0o644)
    with open(pack, "r+b") as f:
        f.seek(os.path.getsize(pack) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    p = cache("verify", hub.cache)
    out = p.stdout.decode()
    assert p.returncode == 1, out
    assert re.search(r"^BAD repo alice/many: ", out, re.M), out
    assert "removed" not in out
    assert os.path.isdir(cache_gitdir(hub))

    p = cache("verify", "--repair", hub.mnt)
    out = p.stdout.decode()
    assert p.returncode == 1, out
    assert re.search(r"^BAD repo alice/many: .*; removed \(fetched again on next use\)$",
                     out, re.M), out
    assert not os.path.exists(os.path.dirname(cache_gitdir(hub)))
    assert not [f for f in os.listdir(os.path.join(hub.cache, "hubfs")) if f.startswith("trash-")]
    # the next resolution fetches it again
    fetches = hub.proxy.count()
    sha3 = resolve(hub, 3)
    assert hub.proxy.count() > fetches
    check_commit(hub, sha3, 3, range(NFILES + 1))
    p = cache("verify", hub.cache)
    assert p.returncode == 0, p.stdout.decode()
