"""Commit trees (SPEC: "repository files: exact sizes, exec bits, symlinks,
mtime = commit time"; issue 2: "every file's bytes, mode and link target
compared against git ls-tree/git cat-file").  Ground truth: the bare fixture
repos, read with git itself."""

import mmap
import os
import random
import stat
import threading

import harness
from harness import call, compare_tree, listdir, lstat, readlink, read_file

ALL_COMMITS = [("alice", "vision", c) for c in ("c1", "c2", "c3", "c4", "c5", "c6", "c7")] + [
    ("bob", "legacy", "m1"), ("bob", "legacy", "m2"), ("bob", "legacy", "m3"),
    ("carol", "trunk", "t1"), ("dash-o", "my.repo_x-1", "o1")]


def sha_of(h, owner, repo, c):
    return h.manifest["%s/%s" % (owner, repo)]["commits"][c]


def cdir(h, owner, repo, sha):
    return h.p(owner, "%s@%s" % (repo, sha))


def test_every_file_of_every_commit(mounted):
    h = mounted
    bad = []
    for owner, repo, c in ALL_COMMITS:
        sha = sha_of(h, owner, repo, c)
        d = cdir(h, owner, repo, sha)
        try:
            problems = call(compare_tree, d, h.gitdir(owner, repo), sha, timeout=60)
        except OSError as e:
            problems = ["%s: %s" % (d, e)]
        bad += ["%s/%s@%s (%s): %s" % (owner, repo, sha[:10], c, p) for p in problems]
    assert not bad, "%d mismatches:\n%s" % (len(bad), "\n".join(bad[:80]))


def test_same_tree_through_refs(mounted):
    """A tree reached through the ref symlinks is the commit's tree."""
    h = mounted
    g = h.gitdir("alice", "vision")
    for ref in ("main", "feature%2Fx", "v1.0", "v0.9"):
        sha = h.manifest["alice/vision"]["refs"][ref]
        problems = call(compare_tree, h.p("alice", "vision:" + ref) + "/", g, sha, timeout=60)
        assert not problems, "vision:%s: %s" % (ref, problems[:20])


def _v13(h):
    return cdir(h, "alice", "vision", h.manifest["alice/vision"]["refs"]["v1.0"])


def test_exec_bits(mounted):
    h = mounted
    d = _v13(h)
    run_sh = lstat(os.path.join(d, "scripts", "run.sh"))
    readme = lstat(os.path.join(d, "README.md"))
    assert run_sh.st_mode & 0o111 == 0o111, oct(run_sh.st_mode)
    assert readme.st_mode & 0o111 == 0, oct(readme.st_mode)
    assert stat.S_IMODE(run_sh.st_mode) == 0o555
    assert stat.S_IMODE(readme.st_mode) == 0o444
    # tool.py lost its exec bit on main (c4): each commit shows its own mode
    main = cdir(h, "alice", "vision", h.manifest["alice/vision"]["refs"]["main"])
    assert lstat(os.path.join(d, "scripts", "tool.py")).st_mode & 0o111 == 0o111
    assert lstat(os.path.join(main, "scripts", "tool.py")).st_mode & 0o111 == 0
    # and an executable really executes from the mount
    p = harness.run([os.path.join(d, "scripts", "run.sh"), "hello"], timeout=20)
    assert p.returncode == 0 and p.stdout == b"vision fixture: hello\n", p


def test_symlinks(mounted):
    h = mounted
    d = _v13(h)
    want = {"link_file": "README.md", "link_dir": "models", "link_dangling": "does/not/exist",
            "link_abs": "/etc/hostname"}
    for name, target in want.items():
        st = lstat(os.path.join(d, name))
        assert stat.S_ISLNK(st.st_mode), name
        assert readlink(os.path.join(d, name)) == target
        assert st.st_size == len(target), "%s st_size %d" % (name, st.st_size)
    # relative links resolve inside the commit directory
    assert read_file(os.path.join(d, "link_file")) == read_file(os.path.join(d, "README.md"))
    assert "resnet.py" in listdir(os.path.join(d, "link_dir"))
    assert harness.errno_of(os.stat, os.path.join(d, "link_dangling")) == 2


def test_submodule_is_an_empty_directory(mounted):
    h = mounted
    d = _v13(h)
    st = lstat(os.path.join(d, "third_party", "sub"))
    assert stat.S_ISDIR(st.st_mode)
    assert listdir(os.path.join(d, "third_party", "sub")) == []
    assert listdir(os.path.join(d, "third_party")) == ["sub"]


def test_mtime_is_commit_time(mounted):
    h = mounted
    g = h.gitdir("alice", "vision")
    for c in ("c1", "c3", "c5"):
        sha = sha_of(h, "alice", "vision", c)
        ct = harness.commit_time(g, sha)
        at = int(harness.make_repos.git(g, "log", "-1", "--format=%at", sha))
        assert at != ct
        d = cdir(h, "alice", "vision", sha)
        for p in (d, os.path.join(d, "hubconf.py"), os.path.join(d, "models")):
            assert int(lstat(p).st_mtime) == ct, "%s: mtime %d, commit time %d (author %d)" % (
                p, lstat(p).st_mtime, ct, at)


def test_non_ascii_names(mounted):
    h = mounted
    d = _v13(h)
    assert "données" in listdir(d)
    assert listdir(os.path.join(d, "données")) == ["été.txt"]
    # exact bytes, no normalization (NFC as committed)
    names = call(os.listdir, os.fsencode(os.path.join(d, "données")))
    assert names == ["été.txt".encode("utf-8")]
    assert read_file(os.path.join(d, "données", "été.txt")) == "Ça marche : déjà vu.\n".encode()
    # the decomposed (NFD) spelling is another name, which does not exist
    import unicodedata
    nfd = unicodedata.normalize("NFD", "été.txt")
    assert nfd != "été.txt"
    assert harness.errno_of(os.lstat, os.path.join(d, "données", nfd)) == 2


def test_spaces_long_names_hidden_files_empty_file(mounted):
    h = mounted
    d = _v13(h)
    assert read_file(os.path.join(d, "docs", "name with spaces.md")) == b"spaces in the name\n"
    long_name = harness.make_repos.LONG_NAME
    assert len(long_name.encode()) == 255
    assert listdir(os.path.join(d, "long")) == [long_name]
    assert read_file(os.path.join(d, "long", long_name)) == b"long name\n"
    assert ".github" in listdir(d) and ".gitignore" in listdir(d)
    assert read_file(os.path.join(d, ".github", "workflows", "ci.yml")).startswith(b"name: ci")
    st = lstat(os.path.join(d, "empty.txt"))
    assert stat.S_ISREG(st.st_mode) and st.st_size == 0
    assert read_file(os.path.join(d, "empty.txt")) == b""


def test_large_directory_listing(mounted):
    """300 entries: more than one readdir buffer, so offsets must be right."""
    h = mounted
    d = os.path.join(_v13(h), "many")
    names = call(os.listdir, d)
    assert len(names) == len(set(names)) == 300
    assert sorted(names) == ["f%03d.txt" % i for i in range(300)]
    with_types = call(lambda: [(e.name, e.is_file(follow_symlinks=False)) for e in os.scandir(d)])
    assert all(is_file for _, is_file in with_types)
    assert read_file(os.path.join(d, "f299.txt")) == b"file 299\n"


def test_binary_file_random_access(mounted):
    h = mounted
    d = _v13(h)
    path = os.path.join(d, "assets", "blob.bin")
    want = harness.make_repos.random_bytes("vision-blob", 1 << 20)
    assert lstat(path).st_size == len(want)

    def preads():
        bad = []
        fd = os.open(path, os.O_RDONLY)
        try:
            rnd = random.Random(7)
            checks = [(0, 1), (4095, 2), (4096, 4096), (65535, 3), (131079, 100000),
                      (len(want) - 1, 10), (len(want), 10), (len(want) + 100, 10), (0, 2 << 20)]
            checks += [(rnd.randrange(len(want)), rnd.randrange(1, 300000)) for _ in range(40)]
            for off, n in checks:
                got = os.pread(fd, n, off)
                if got != want[off:off + n]:
                    bad.append("pread(%d, %d): %d bytes, differ" % (off, n, len(got)))
        finally:
            os.close(fd)
        return bad

    assert call(preads, timeout=60) == []

    def mapped():
        with open(path, "rb") as f:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                return m[-4096:] == want[-4096:] and m[:] == want
    assert call(mapped, timeout=60)


def test_concurrent_readers(mounted):
    h = mounted
    d = _v13(h)
    want = harness.make_repos.random_bytes("vision-blob", 1 << 20)
    results = []

    def reader(i):
        rnd = random.Random(i)
        with open(os.path.join(d, "assets", "blob.bin"), "rb") as f:
            for _ in range(30):
                off = rnd.randrange(len(want))
                f.seek(off)
                if f.read(8192) != want[off:off + 8192]:
                    results.append("reader %d mismatch at %d" % (i, off))
                    return
        results.append(None)

    def all_readers():
        ts = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    call(all_readers, timeout=60)
    assert results == [None] * 8, results


def test_commit_directories_differ(mounted):
    """Each commit shows its own tree, not one cached for the repo."""
    h = mounted
    v = lambda c: cdir(h, "alice", "vision", sha_of(h, "alice", "vision", c))  # noqa: E731
    assert "feature.txt" in listdir(v("c6")) and "feature.txt" not in listdir(v("c4"))
    assert "models" in listdir(v("c1")) and "scripts" not in listdir(v("c1"))
    assert "mlp.py" in listdir(os.path.join(v("c3"), "models"))
    assert "mlp.py" not in listdir(os.path.join(v("c4"), "models"))
    assert read_file(os.path.join(v("c1"), "hubconf.py")) != read_file(
        os.path.join(v("c4"), "hubconf.py"))
