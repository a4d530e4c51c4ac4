"""The harness checks itself, without hubfs: the fixture repos are what the
other tests assume, git daemon serves them, the counting proxy counts what it
claims to count, and compare_tree tells a faithful tree from a wrong one.
If these fail, the hubfs tests' verdicts mean nothing."""

import os
import socket
import stat
import subprocess
import tarfile
import io
import time

import pytest

import harness
import make_repos
from harness import run


def _git(*args, cwd=None, timeout=60):
    return run(["git"] + list(args), cwd=cwd, timeout=timeout, env=make_repos._git_env())


def test_fixtures_are_deterministic(pristine, tmp_path):
    base, manifest = pristine
    again = make_repos.make_all(str(tmp_path / "again"))
    for name, info in manifest.items():
        assert again[name]["commits"] == info["commits"], name
        assert again[name]["refs"] == info["refs"], name


def test_fixture_shapes(pristine):
    base, manifest = pristine
    v = os.path.join(base, manifest["alice/vision"]["path"])
    g = lambda *a: make_repos.git(v, *a).decode()  # noqa: E731
    assert g("symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert make_repos.git(os.path.join(base, "bob/legacy.git"), "symbolic-ref",
                          "HEAD").decode().strip() == "refs/heads/master"
    assert g("cat-file", "-t", "refs/tags/v1.0").strip() == "tag"        # annotated
    assert g("cat-file", "-t", "refs/tags/v0.9").strip() == "commit"     # lightweight
    assert g("cat-file", "-t", "refs/tags/nested").strip() == "tag"
    assert g("cat-file", "-t", "refs/tags/nested^{}").strip() == "commit"
    heads = g("for-each-ref", "--format=%(refname)", "refs/heads").split()
    assert {"refs/heads/main", "refs/heads/dev", "refs/heads/feature/x", "refs/heads/both",
            "refs/heads/pct%done"} <= set(heads)
    assert "refs/tags/both" in g("for-each-ref", "--format=%(refname)", "refs/tags").split()
    # every ref of the manifest resolves as the manifest says (the tests rely on it)
    for ref, sha in manifest["alice/vision"]["refs"].items():
        full = ref.replace("%2F", "/").replace("%25", "%")
        got = g("rev-parse", "--verify", full + "^{commit}").strip()
        if full == "both":
            got = g("rev-parse", "--verify", "refs/heads/both").strip()
        assert got == sha, ref
    tree = harness.git_tree(v, "refs/tags/v1.0")
    modes = {p: e.mode for p, e in tree.items()}
    assert modes[b"scripts/run.sh"] == "100755"
    assert modes[b"link_file"] == "120000"
    assert modes[b"third_party/sub"] == "160000"
    assert modes["données/été.txt".encode()] == "100644"
    assert tree[b"assets/blob.bin"].size == 1 << 20
    assert tree[b"empty.txt"].size == 0
    assert b"deep/a/b/c/d/e/f.txt" in tree
    assert len([p for p in tree if p.startswith(b"many/")]) == 300
    # commit time differs from author time (so the mtime test can tell them apart)
    c3 = manifest["alice/vision"]["commits"]["c3"]
    at, ct = g("log", "-1", "--format=%at %ct", c3).split()
    assert at != ct and harness.commit_time(v, c3) == int(ct)
    assert g("config", "uploadpack.allowAnySHA1InWant").strip() == "true"
    assert g("config", "uploadpack.allowReachableSHA1InWant").strip() == "true"
    # the non-tip commit is really no ref's tip
    tips = set(g("for-each-ref", "--format=%(objectname) %(*objectname)").split())
    assert manifest["alice/vision"]["non_tip"] not in tips


def test_daemon_and_proxy_count_connections(hub, tmp_path):
    url = hub.url_prefix + "alice/vision.git"
    p = _git("ls-remote", url, timeout=30)
    assert p.returncode == 0, p.stderr
    assert b"refs/heads/feature/x" in p.stdout
    time.sleep(0.2)
    conns = hub.proxy.connections()
    assert len(conns) == 1 and conns[0].path == "/alice/vision.git"
    assert conns[0].service == "git-upload-pack" and not conns[0].want

    hub.proxy.reset()
    p = _git("clone", "--quiet", "--bare", "--depth", "1", url, str(tmp_path / "c1"), timeout=60)
    assert p.returncode == 0, p.stderr
    time.sleep(0.2)
    f = hub.proxy.fetches("/alice/vision.git")
    assert len(f) == 1 and f[0].s2c > 1 << 20  # the 1 MiB blob went through

    # fetch of a commit that no ref points at (hubfs's vision@<sha>)
    non_tip = hub.manifest["alice/vision"]["non_tip"]
    d = tmp_path / "bysha"
    _git("init", "--quiet", "--bare", str(d))
    p = _git("--git-dir", str(d), "fetch", "--quiet", "--depth", "1", url, non_tip, timeout=60)
    assert p.returncode == 0, p.stderr

    # an unknown repository: git daemon refuses it
    p = _git("ls-remote", hub.url_prefix + "alice/nope.git", timeout=30)
    assert p.returncode != 0
    assert hub.proxy.connections("/alice/nope.git")


def test_proxy_refuse_drop_and_back(hub):
    url = hub.url_prefix + "bob/legacy.git"
    hub.proxy.set_mode("refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", hub.proxy.port), timeout=2).close()
    assert _git("ls-remote", url, timeout=30).returncode != 0
    hub.proxy.set_mode("drop")
    assert _git("ls-remote", url, timeout=30).returncode != 0
    assert hub.proxy.connections("/bob/legacy.git")[-1].dropped
    hub.proxy.set_mode("forward")
    p = _git("ls-remote", url, timeout=30)
    assert p.returncode == 0 and b"refs/heads/master" in p.stdout
    # the daemon can be stopped and started again behind the same proxy port
    hub.stop_daemon()
    assert _git("ls-remote", url, timeout=30).returncode != 0
    hub.start_daemon()
    assert _git("ls-remote", url, timeout=30).returncode == 0


def test_proxy_throttle(hub, tmp_path):
    hub.proxy.throttle["/alice/vision.git"] = 1 << 20  # 1 MiB/s; the pack is > 1 MiB
    t = time.monotonic()
    p = _git("clone", "--quiet", "--bare", "--depth", "1", hub.url_prefix + "alice/vision.git",
             str(tmp_path / "slow"), timeout=60)
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - t > 0.9


def test_upstream_changes(hub):
    old = hub.rev("alice", "vision", "dev")
    new = make_repos.advance_branch(hub.base, "alice", "vision", "dev")
    assert new != old and hub.rev("alice", "vision", "dev") == new
    assert hub.rev("alice", "vision", new + "~1") == old
    r = make_repos.create_repo(hub.base, "alice", "late")
    p = _git("ls-remote", hub.url_prefix + "alice/late.git", timeout=30)
    assert p.returncode == 0 and r["head"].encode() in p.stdout


def _archive_as_hubfs(gitdir, sha, dest):
    """What hubfs must show for a commit, built with git archive: files 0444,
    executables 0555, directories 0555, a .hub directory, mtime = commit time."""
    data = make_repos.git(gitdir, "archive", "--format=tar", sha)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        tf.extractall(dest)
    ct = harness.commit_time(gitdir, sha)
    os.mkdir(os.path.join(dest, ".hub"))
    for dirpath, dirs, files in os.walk(dest, topdown=False):
        for n in files + dirs:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                os.chmod(p, 0o555 if st.st_mode & 0o100 else 0o444)
            elif stat.S_ISDIR(st.st_mode):
                os.chmod(p, 0o555)
            os.utime(p, (ct, ct), follow_symlinks=False)
    os.utime(dest, (ct, ct))


def test_compare_tree_accepts_faithful_and_rejects_wrong(pristine, tmp_path):
    base, manifest = pristine
    v = os.path.join(base, "alice/vision.git")
    sha = manifest["alice/vision"]["commits"]["c3"]
    good = str(tmp_path / "good")
    _archive_as_hubfs(v, sha, good)
    assert harness.compare_tree(good, v, sha) == []

    def broken(name, mutate):
        d = str(tmp_path / name)
        _archive_as_hubfs(v, sha, d)
        ct = harness.commit_time(v, sha)
        mutate(d)
        os.utime(d, (ct, ct))
        bad = harness.compare_tree(d, v, sha)
        assert bad, "compare_tree missed: %s" % name
        return bad

    def flip_byte(d):
        p = os.path.join(d, "assets/blob.bin")
        os.chmod(p, 0o644)
        with open(p, "r+b") as f:
            f.seek(500000)
            b = f.read(1)
            f.seek(500000)
            f.write(bytes([b[0] ^ 1]))
        os.chmod(p, 0o444)
        ct = harness.commit_time(v, sha)
        os.utime(p, (ct, ct))

    broken("byte", flip_byte)
    broken("exec", lambda d: os.chmod(os.path.join(d, "scripts/run.sh"), 0o444))
    broken("perm", lambda d: os.chmod(os.path.join(d, "README.md"), 0o644))
    broken("mtime", lambda d: os.utime(os.path.join(d, "README.md"), (1, 1)))
    broken("extra", lambda d: open(os.path.join(d, "extra.txt"), "w").close())
    broken("missing", lambda d: os.unlink(os.path.join(d, "empty.txt")))
    broken("nohub", lambda d: os.rmdir(os.path.join(d, ".hub")))

    def relink(d):
        p = os.path.join(d, "link_file")
        os.unlink(p)
        os.symlink("LICENSE", p)
    broken("link", relink)

    def deref(d):
        p = os.path.join(d, "link_file")
        os.unlink(p)
        with open(p, "w") as f:
            f.write("# vision\n\nA hubfs test fixture.\n")
    broken("deref", deref)

    def submodule_file(d):
        p = os.path.join(d, "third_party/sub")
        os.chmod(os.path.dirname(p), 0o755)
        os.rmdir(p)
        open(p, "w").close()
    broken("submodule", submodule_file)


def test_mountinfo_parser():
    assert harness.mountinfo("/proc") is not None
    assert harness.mountinfo("/proc")["fstype"] == "proc"
    assert harness.mountinfo("/definitely/not/mounted") is None


def test_call_times_out():
    with pytest.raises(harness.HungFilesystem):
        harness.call(time.sleep, 2, timeout=0.2)
    assert harness.call(lambda: 42) == 42
    assert harness.errno_of(os.lstat, "/nonexistent/x") == 2
