"""`hubfs cache ls|du|verify` (issue 16) against a live mount and its cache
root: repositories and refs fetched from the git daemon, weight files from
tests/weights/httpd.py, a torch.hub-style file of its own in checkpoints/;
sizes compared with what the filesystem says; verify finds a corrupted
file, --repair removes it and the next mount downloads correct bytes."""

import hashlib
import os
import re
import subprocess

import harness
from harness import HUBFS_BIN, readlink
from test_weights import MiB, Server, make_weight, url_path


def cache(*args, timeout=120):
    return subprocess.run([HUBFS_BIN, "cache"] + list(args), capture_output=True,
                          timeout=timeout)


def blocks(path):
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for n in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
            try:
                total += os.lstat(n).st_blocks * 512
            except FileNotFoundError:
                pass  # renamed or removed since listed (N.part -> .data)
    return total


def setup_world(hub):
    hub.start_upstream()
    files = os.path.join(hub.work, "files")
    os.makedirs(files)
    srv = Server(files)
    m = hub.mount()
    assert readlink(hub.p("alice", "vision")) == "vision:main"
    assert readlink(hub.p("alice", "vision:main")).startswith("vision@")
    w1, d1 = make_weight(files, "alpha", MiB + 11, 41)
    w2, d2 = make_weight(files, "beta", 2 * MiB + 3, 42)
    for name, data in ((w1, d1), (w2, d2)):
        assert harness.read_file(url_path(m, srv.url(name)), timeout=60) == data
    ck = os.path.join(hub.cache, "checkpoints")
    for name in (w1, w2):
        harness.poll_until(lambda: os.path.exists(os.path.join(ck, name)), 20,
                           what="checkpoint " + name)
    # a file torch.hub downloaded itself (not the store's), with a good hash prefix
    own = os.urandom(100000)
    own_name = "own-%s.pth" % hashlib.sha256(own).hexdigest()[:8]
    with open(os.path.join(ck, own_name), "wb") as f:
        f.write(own)
    return srv, m, (w1, d1), (w2, d2), own_name


def test_ls_du_verify_repair_live(hub):
    srv, m, (w1, d1), (w2, d2), own_name = setup_world(hub)
    try:
        sha = hub.rev("alice", "vision", "main")
        # ls: through the mount point and on the root, the same inventory
        p = cache("ls", hub.mnt)
        assert p.returncode == 0, p.stderr
        out = p.stdout.decode()
        assert out.splitlines()[0] == "cache " + hub.cache, out
        assert re.search(r"^  repo alice/vision  \S+ \S+  last use 20\d\d-", out, re.M), out
        assert re.search(r"^    ref main  branch  %s  resolved " % sha, out, re.M), out
        assert re.search(r"^    commits .*%s" % sha, out, re.M), out
        for name, data in ((w1, d1), (w2, d2)):
            line = [l for l in out.splitlines() if l.startswith("  weight %s " % name)]
            assert len(line) == 1, out
            assert " complete " in line[0] and " linked" in line[0] and srv.url(name) in line[0]
        assert re.search(r"^  weight %s  checkpoint  " % re.escape(own_name), out, re.M), out
        p2 = cache("ls", hub.cache)
        assert p2.returncode == 0
        strip = lambda s: re.sub(r"last use [^ ]+ [^ ]+ UTC", "", s.decode())
        assert strip(p2.stdout) == strip(p.stdout)

        # du -b: the repositories and the store as the filesystem counts them
        p = cache("du", "-b", hub.mnt)
        assert p.returncode == 0, p.stderr
        du = {l.split("\t")[1]: int(l.split("\t")[0]) for l in p.stdout.decode().splitlines()}
        repo_dir = os.path.join(hub.cache, "hubfs", "repos")
        want_repos = sum(blocks(os.path.join(repo_dir, o, r)) for o in os.listdir(repo_dir)
                         for r in os.listdir(os.path.join(repo_dir, o)))
        assert du["repositories (%d)" % len(os.listdir(os.path.join(repo_dir, "alice")))] == \
            want_repos, du
        store = os.path.join(hub.cache, "hubfs", "weights")
        want_weights = sum(os.lstat(os.path.join(store, f)).st_blocks * 512
                           for f in os.listdir(store) if re.match(r"^[0-9a-f]+\.", f))
        assert du["weights, complete (2)"] + du["weights, partial (0)"] == want_weights, du
        assert du["checkpoints/ files of torch.hub's own (1)"] == os.lstat(
            os.path.join(hub.cache, "checkpoints", own_name)).st_blocks * 512
        assert du["total"] == sum(v for k, v in du.items() if k != "total")

        # verify: all good
        p = cache("verify", hub.mnt)
        assert p.returncode == 0, p.stdout + p.stderr
        out = p.stdout.decode()
        for n in (w1, w2, own_name):
            assert "ok %s\n" % n in out, out
        assert "verified 3, bad 0" in out

        # corrupt w2's bytes in the store (one byte, in place)
        data_files = [os.path.join(store, f) for f in os.listdir(store) if f.endswith(".data")]
        target = [f for f in data_files if os.path.getsize(f) == len(d2)]
        assert len(target) == 1
        with open(target[0], "r+b") as f:
            f.seek(12345)
            b = f.read(1)
            f.seek(12345)
            f.write(bytes([b[0] ^ 0xFF]))
        p = cache("verify", hub.cache)
        assert p.returncode == 1, p.stdout
        assert re.search(r"^BAD %s: sha256 " % re.escape(w2), p.stdout.decode(), re.M)
        assert os.path.exists(target[0]), "verify without --repair removed a file"
        p = cache("verify", "--repair", hub.mnt)
        assert p.returncode == 1 and b"removed" in p.stdout, p.stdout
        assert not os.path.exists(target[0])
        assert not os.path.exists(os.path.join(hub.cache, "checkpoints", w2))
        assert os.path.exists(os.path.join(hub.cache, "checkpoints", w1))
        p = cache("verify", hub.mnt)
        assert p.returncode == 0 and b"verified 2, bad 0" in p.stdout, p.stdout
    finally:
        hub.unmount(m)
    # a new mount downloads the removed file again: correct bytes
    m = hub.mount()
    before = srv.stats(w2)["bytes"]
    assert harness.read_file(url_path(m, srv.url(w2)), timeout=60) == d2
    assert srv.stats(w2)["bytes"] - before >= len(d2)
    srv.stop()


def test_bad_arguments():
    for args, rc, words in ((["ls"], 2, "missing ROOT"), (["frob", "/tmp"], 2, "unknown subcommand"),
                            ([], 2, "missing subcommand"), (["du", "-x", "/tmp"], 2, "unexpected"),
                            (["ls", "/nonexistent/cache"], 1, "neither"),
                            (["ls", "/proc"], 1, "neither")):
        p = cache(*args)
        lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
        assert p.returncode == rc and len(lines) == 1 and words in lines[0], (args, p.returncode,
                                                                              lines)
        assert p.stdout == b""
