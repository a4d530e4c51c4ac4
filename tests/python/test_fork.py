"""Fork commits (issue 15): a commit in the upstream's object store that no
branch or tag reaches, as GitHub serves a fork's commit under the
upstream's name, is refused for code by hubfs.load/list/help with torch.hub's
own error unless skip_validation=True, and stays browsable; a tip, a tagged
commit and an ancestor of a branch are accepted.  The verdict is the
daemon's .hub/reachable (git protocol only: git daemon here)."""
import os
import subprocess

import pytest
import torch.hub

import fixtures
import harness
import hubfs


def forked(env, name):
    return fixtures.FORKED[name]


def test_reachable_verdicts_under_hub(env):
    base = os.path.join(env.mount, "hx")
    want = {"tip": "reachable refs/heads/main", "root": "reachable refs/tags/v0",
            "old": "reachable ancestor", "fork": "unreachable"}
    for name, verdict in want.items():
        d = os.path.join(base, "forked@" + forked(env, name))
        assert os.path.isdir(d), name
        # computed when looked up (like /.hubfs/resolve/), so not listed:
        # `ls -l .hub/` never waits for the remote
        assert "reachable" not in os.listdir(os.path.join(d, ".hub"))
        with open(os.path.join(d, ".hub", "reachable")) as f:
            assert f.read() == verdict + "\n", name


def test_fork_commit_browsable(env):
    """Nothing runs: ls and cat of the fork-only commit work."""
    d = os.path.join(env.mount, "hx", "forked@" + forked(env, "fork"))
    assert sorted(os.listdir(d)) == [".hub", "hubconf.py"]
    with open(os.path.join(d, "hubconf.py")) as f:
        assert "'fork'" in f.read()
    r = subprocess.run(["ls", os.path.join(env.mount, "hx", "forked:" + forked(env, "fork")[:12]) + "/"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split() == ["hubconf.py"], r.stderr


def test_fork_commit_refused_with_torch_hubs_error(env, hub_dir):
    sha = forked(env, "fork")
    for ref in (sha, sha[:10]):
        repo = "hx/forked:" + ref
        # torch.hub's own error for this ref (its GitHub API answering "nothing")
        theirs = hubfs._torch.forked_error("hx", "forked", ref)
        assert type(theirs) is ValueError and ref in str(theirs) and "forked repo" in str(theirs)
        with pytest.raises(ValueError) as e:
            hubfs.load(repo, "who", trust_repo=True)
        assert str(e.value) == str(theirs)
        with pytest.raises(ValueError) as e:
            hubfs.list(repo)
        assert str(e.value) == str(theirs)
        with pytest.raises(ValueError) as e:
            hubfs.help(repo, "who")
        assert str(e.value) == str(theirs)
    # torch 1.13's text, as its _validate_not_a_forked_repo words it
    with pytest.raises(ValueError) as theirs:
        hubfs._torch.with_globals(torch.hub._validate_not_a_forked_repo, _read_url=lambda r: "[]")(
            "hx", "forked", sha)
    with pytest.raises(ValueError) as ours:
        hubfs.load("hx/forked:" + sha, "who", trust_repo=True)
    assert str(ours.value) == str(theirs.value)
    # skip_validation: loaded, listed, helped
    assert hubfs.load("hx/forked:" + sha, "who", trust_repo=True, skip_validation=True) == "fork"
    assert hubfs.list("hx/forked:" + sha, skip_validation=True) == ["who"]
    assert hubfs.help("hx/forked:" + sha, "who", skip_validation=True) == "Which commit this is."


def test_published_commits_accepted(env, hub_dir):
    for name in ("tip", "old", "root"):
        sha = forked(env, name)
        assert hubfs.load("hx/forked:" + sha[:9], "who", trust_repo=True) == name
        assert hubfs.list("hx/forked:" + sha) == ["who"]
    assert hubfs.load("hx/forked", "who", trust_repo=True) == "tip"
    assert hubfs.load("hx/forked:v0", "who", trust_repo=True) == "root"


def test_reachable_once_a_branch_reaches_it(env, tmp_path):
    """unreachable is never remembered: a branch pushed later makes the
    commit published; the verdict is then kept (offline too)."""
    import make_repos
    hub = env.hub
    mnt = str(tmp_path / "mnt-fork")
    cache = str(tmp_path / "cache-fork")
    m = harness.Mount(mnt, hub.options(cache=cache), env=hub.env(), logdir=str(tmp_path)).start()
    sha = forked(env, "fork")
    path = os.path.join(mnt, "hx", "forked@" + sha, ".hub", "reachable")
    try:
        with open(path) as f:
            assert f.read() == "unreachable\n"
        make_repos.set_ref(hub.base, "hx", "forked", "refs/heads/feature", sha)
        with open(path) as f:
            assert f.read() == "reachable refs/heads/feature\n"
    finally:
        make_repos.git(make_repos.repo_path(hub.base, "hx", "forked"), "update-ref", "-d", "refs/heads/feature")
        m.stop()
    # kept: an offline mount on that cache still says so
    m = harness.Mount(mnt, hub.options(cache=cache, offline=True), env=hub.env(),
                      logdir=str(tmp_path)).start()
    try:
        with open(path) as f:
            assert f.read() == "reachable refs/heads/feature\n"
        with open(os.path.join(mnt, "hx", "forked@" + forked(env, "old"), ".hub", "reachable")) as f:
            assert f.read() == "unknown offline\n"
    finally:
        m.stop()


def test_no_verdict_without_the_remote(env, hub_dir, tmp_path):
    """The remote down and no kept verdict: "unknown <why>", never
    "unreachable"; the helper refuses with a RuntimeError saying so unless
    skip_validation; the verdict arrives once the remote is back."""
    hub = env.hub
    mnt = str(tmp_path / "mnt-down")
    m = harness.Mount(mnt, hub.options(cache=str(tmp_path / "cache-down")), env=hub.env(),
                      logdir=str(tmp_path)).start()
    sha = forked(env, "old")
    d = os.path.join(mnt, "hx", "forked@" + sha)
    try:
        assert "hubconf.py" in os.listdir(d)
        hub.stop_daemon()
        try:
            with open(os.path.join(d, ".hub", "reachable")) as f:
                v = f.read()
            assert v.startswith("unknown ") and v.endswith("\n") and "\n" not in v[:-1], v
            with pytest.raises(RuntimeError, match="cannot tell whether commit %s is reachable" % sha):
                hubfs.load("hx/forked:" + sha, "who", trust_repo=True, mount=mnt)
            assert hubfs.load("hx/forked:" + sha, "who", trust_repo=True, mount=mnt, skip_validation=True) == "old"
        finally:
            hub.start_daemon()
        with open(os.path.join(d, ".hub", "reachable")) as f:
            assert f.read() == "reachable ancestor\n"
        assert hubfs.load("hx/forked:" + sha, "who", trust_repo=True, mount=mnt) == "old"
    finally:
        m.stop()
