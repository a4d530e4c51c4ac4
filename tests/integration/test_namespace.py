"""The namespace (SPEC "Namespace", issue 2 item 2): owners, repos, ref and
commit names, what each resolves to, ENOENT for what does not exist upstream."""

import os
import stat

import harness
from harness import expect_errno, errno_of, listdir, lstat, readlink, read_file, isdir, ename
import errno


def vision(h, ref):
    return h.manifest["alice/vision"]["refs"][ref]


# The root and owner directories may be held by the kernel for HUB_TTL_DIR
# (1 s, base/limits.h) after they change: listings are polled for up to 3 s.
DIR_SLACK = 3.0


def _listing_has(path, names, absent=()):
    last = []

    def ok():
        last[:] = listdir(path)
        return set(names) <= set(last) and not set(absent) & set(last)
    try:
        harness.poll_until(ok, DIR_SLACK, interval=0.2)
    except AssertionError:
        raise AssertionError("%s lists %r; want %r in it and none of %r" % (
            path, last, sorted(names), sorted(absent)))
    return last


def test_root_lists_owners_present_in_the_cache(hub):
    hub.mount()
    root = listdir(hub.p())
    assert "alice" not in root and "bob" not in root, "fresh cache, yet root lists %r" % root
    # any valid owner looks up, but looking up does not put it in the cache
    assert isdir(hub.p("zed"))
    listdir(hub.p("alice", "vision") + "/")
    listdir(hub.p("bob", "legacy") + "/")
    _listing_has(hub.p(), {"alice", "bob"}, absent={"zed", "carol"})
    main = vision(hub, "main")
    _listing_has(hub.p("alice"), {"vision", "vision:main", "vision@" + main})
    assert listdir(hub.p("zed")) == []
    # the cache survives a remount
    hub.unmount()
    hub.mount()
    root = listdir(hub.p())
    assert {"alice", "bob"} <= set(root), root
    assert "vision@" + main in listdir(hub.p("alice"))


def test_any_valid_owner_looks_up_without_network(mounted):
    h = mounted
    for owner in ("someone", "Some-Owner-1", "x", "a" * 39, "HEAD", "0-0"):
        st = lstat(h.p(owner))
        assert stat.S_ISDIR(st.st_mode), owner
        assert listdir(h.p(owner)) == []
    assert h.proxy.count() == 0, h.proxy.connections()


def test_repo_is_a_symlink_to_its_default_branch(mounted):
    h = mounted
    st = lstat(h.p("alice", "vision"))
    assert stat.S_ISLNK(st.st_mode)
    assert readlink(h.p("alice", "vision")) == "vision:main"
    st = lstat(h.p("alice", "vision:main"))
    assert stat.S_ISLNK(st.st_mode)
    sha = vision(h, "main")
    assert sha == h.rev("alice", "vision", "main")
    assert readlink(h.p("alice", "vision:main")) == "vision@" + sha
    st = lstat(h.p("alice", "vision@" + sha))
    assert stat.S_ISDIR(st.st_mode)
    assert isdir(h.p("alice", "vision"))


def test_default_branch_master_is_the_remote_head(mounted):
    h = mounted
    assert readlink(h.p("bob", "legacy")) == "legacy:master"
    refs = h.manifest["bob/legacy"]["refs"]
    assert readlink(h.p("bob", "legacy:master")) == "legacy@" + refs["master"]
    # bob/legacy also has a branch main; it is not the default
    assert readlink(h.p("bob", "legacy:main")) == "legacy@" + refs["main"]
    assert "NEWS" in listdir(h.p("bob", "legacy") + "/")


def test_default_branch_neither_main_nor_master(mounted):
    h = mounted
    assert readlink(h.p("carol", "trunk")) == "trunk:trunk"
    assert readlink(h.p("carol", "trunk:trunk")) == "trunk@" + h.manifest["carol/trunk"]["refs"]["trunk"]


def test_unusual_but_valid_names(mounted):
    h = mounted
    assert readlink(h.p("dash-o", "my.repo_x-1")) == "my.repo_x-1:main"
    sha = h.manifest["dash-o/my.repo_x-1"]["refs"]["main"]
    assert readlink(h.p("dash-o", "my.repo_x-1:main")) == "my.repo_x-1@" + sha
    assert "hubconf.py" in listdir(h.p("dash-o", "my.repo_x-1@" + sha))


def test_every_kind_of_ref(mounted):
    """Branches, annotated (peeled, also twice) and lightweight tags, %2F and
    %25 in names, branch-over-tag precedence and refs/tags/ to reach the tag."""
    h = mounted
    bad = []
    for ref, sha in sorted(h.manifest["alice/vision"]["refs"].items()):
        name = "vision:" + ref
        try:
            st = lstat(h.p("alice", name))
            got = readlink(h.p("alice", name))
        except OSError as e:
            bad.append("%s: %s" % (name, ename(e.errno)))
            continue
        if not stat.S_ISLNK(st.st_mode):
            bad.append("%s is not a symlink" % name)
        if got != "vision@" + sha:
            bad.append("%s -> %s, want vision@%s" % (name, got, sha))
        elif not isdir(h.p("alice", name)):
            bad.append("%s does not lead to a directory" % name)
    assert not bad, "\n".join(bad)


def test_branch_wins_over_tag_of_the_same_name(mounted):
    h = mounted
    branch = h.rev("alice", "vision", "refs/heads/both")
    tag = h.rev("alice", "vision", "refs/tags/both")
    assert branch != tag
    assert readlink(h.p("alice", "vision:both")) == "vision@" + branch
    assert readlink(h.p("alice", "vision:refs%2Ftags%2Fboth")) == "vision@" + tag
    assert "both.txt" in listdir(h.p("alice", "vision:both") + "/")
    assert "both.txt" not in listdir(h.p("alice", "vision:refs%2Ftags%2Fboth") + "/")


def test_commit_ids_as_refs(mounted):
    h = mounted
    main = vision(h, "main")
    for n in (40, 12, 7):
        got = readlink(h.p("alice", "vision:" + main[:n]))
        assert got == "vision@" + main, "vision:%s -> %s" % (main[:n], got)
    # a commit that no ref points at, by full id
    c2 = h.manifest["alice/vision"]["non_tip"]
    assert readlink(h.p("alice", "vision:" + c2)) == "vision@" + c2
    assert "models" in listdir(h.p("alice", "vision@" + c2))


def test_abbreviated_id_of_a_commit_no_ref_points_at(mounted):
    """c2 is only reachable from main, never a ref tip.  A prefix that no
    advertised tip has is refused (ENOENT) without fetching any history
    (issue 13: finding it would take every branch's whole history, for any
    made-up prefix); once c2 is fetched by its full id, its prefix resolves
    from the local objects."""
    h = mounted
    c2 = h.manifest["alice/vision"]["non_tip"]
    before = len(h.proxy.fetches())
    expect_errno(errno.ENOENT, readlink, h.p("alice", "vision:" + c2[:7]))
    assert len(h.proxy.fetches()) == before, "objects were fetched for a prefix"
    assert readlink(h.p("alice", "vision:" + c2)) == "vision@" + c2
    assert readlink(h.p("alice", "vision:" + c2[:8])) == "vision@" + c2


def test_commit_directory_by_full_id_first(mounted):
    """vision@<sha> looked up directly, before any ref: fetched by id."""
    h = mounted
    for c in ("c2", "c3"):
        sha = h.manifest["alice/vision"]["commits"][c]
        st = lstat(h.p("alice", "vision@" + sha))
        assert stat.S_ISDIR(st.st_mode)
        assert read_file(h.p("alice", "vision@" + sha, ".hub", "commit")) == (sha + "\n").encode()


def test_hub_commit_file(mounted):
    h = mounted
    for c, sha in sorted(h.manifest["alice/vision"]["commits"].items()):
        d = h.p("alice", "vision@" + sha)
        assert ".hub" in listdir(d), "%s: no .hub" % c
        assert isdir(os.path.join(d, ".hub"))
        assert "commit" in listdir(os.path.join(d, ".hub"))
        data = read_file(os.path.join(d, ".hub", "commit"))
        assert data == (sha + "\n").encode(), "%s: .hub/commit = %r" % (c, data)
        st = lstat(os.path.join(d, ".hub", "commit"))
        assert stat.S_ISREG(st.st_mode) and st.st_size == 41
    legacy = h.manifest["bob/legacy"]["refs"]["master"]
    assert read_file(h.p("bob", "legacy", ".hub", "commit")) == (legacy + "\n").encode()


def test_paths_through_the_symlinks(mounted):
    h = mounted
    g = h.gitdir("alice", "vision")
    import make_repos
    want = make_repos.git(g, "show", "main:hubconf.py")
    assert read_file(h.p("alice", "vision", "hubconf.py")) == want
    assert read_file(h.p("alice", "vision:feature%2Fx", "feature.txt")) == b"feature x\n"
    assert read_file(h.p("alice", "vision:v1.0", "models", "mlp.py")) == make_repos.git(
        g, "show", "v1.0:models/mlp.py")
    # models/mlp.py was deleted on main after v1.0
    expect_errno(errno.ENOENT, os.lstat, h.p("alice", "vision", "models", "mlp.py"))


def test_unknown_repo_and_ref_are_enoent(mounted):
    h = mounted
    cases = [
        ("alice", "nope"),
        ("alice", "nope:main"),
        ("nobody-here", "vision"),
        ("alice", "vision:nope"),
        ("alice", "vision:feature%2Fnope"),
        ("alice", "vision:refs%2Ftags%2Fmain"),      # main is a branch, not a tag
        ("alice", "vision:fffffff"),                 # a prefix of nothing
        ("alice", "vision@" + "f" * 40),             # a commit that does not exist
        ("alice", "vision@" + h.manifest["bob/legacy"]["refs"]["master"]),  # another repo's
    ]
    bad = []
    for owner, name in cases:
        e = errno_of(os.lstat, h.p(owner, name))
        if e != errno.ENOENT:
            bad.append("%s/%s: %s, want ENOENT" % (owner, name, ename(e)))
    assert not bad, "\n".join(bad)
    # the mount still works afterwards
    assert readlink(h.p("alice", "vision")) == "vision:main"


def test_commit_names_need_a_full_id(mounted):
    h = mounted
    main = vision(h, "main")
    for name in ("vision@" + main[:7], "vision@" + main[:39], "vision@" + main + "0",
                 "vision@" + main.upper(), "vision@main", "vision@"):
        expect_errno(errno.ENOENT, os.lstat, h.p("alice", name))


def test_inode_numbers_are_stable(mounted):
    h = mounted
    d = h.p("alice", "vision@" + vision(h, "v1.0"))
    paths = [os.path.join(d, p) for p in ("hubconf.py", "models", "models/resnet.py",
                                          "link_file", "assets/blob.bin")]
    first = {p: lstat(p).st_ino for p in paths}
    assert len(set(first.values())) == len(paths), "distinct entries share inode numbers"
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")  # drop dentries and inodes: the kernel forgets them
    except OSError:
        pass
    again = {p: lstat(p).st_ino for p in paths}
    assert again == first
