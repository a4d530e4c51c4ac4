"""Entrypoints through the mount (issue 3), against the real torch.hub.

Every fixture repo of tests/analysis/fixtures becomes a git repository served
by git daemon; hubfs mounts it, and for each one

  ls .hub/entrypoints/          == torch.hub.list() (less what .hub/errors
                                   says static analysis cannot settle)
  cat .hub/entrypoints/<e>/help == torch.hub.help() byte for byte ("" for None)

where torch.hub runs offline on the same tree laid out as torch.hub lays it
out (tests/analysis/torch_ref.py).  The malicious fixture, whose import
writes files and runs shell commands, is browsed completely and must leave
no trace; results survive a remount without re-analysis.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.join(os.path.dirname(HERE), "analysis")
FIXTURES = os.path.join(ANALYSIS, "fixtures")
TORCH_PYTHON = "/usr/bin/python3"
OWNER = "hubfstest"
TRACES = ("PWNED_BY_OPEN", "PWNED_BY_SYSTEM", "PWNED_IN_CWD")
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t",
               GIT_AUTHOR_DATE="2024-01-01T00:00:00Z", GIT_COMMITTER_DATE="2024-01-01T00:00:00Z")


def fixtures():
    return sorted(d for d in os.listdir(FIXTURES) if os.path.isdir(os.path.join(FIXTURES, d)))


def torch_reference(fixture):
    """torch.hub.list()/help() on a copy of the fixture, offline, in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="hubfs-torchref-") as work:
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TORCH_HOME": os.path.join(work, "torch"),
               "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
        r = subprocess.run([TORCH_PYTHON, os.path.join(ANALYSIS, "torch_ref.py"),
                            os.path.join(FIXTURES, fixture), work],
                           cwd=work, env=env, capture_output=True, timeout=600)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
        return json.loads(r.stdout)


@pytest.fixture(scope="module")
def served():
    """A git daemon serving one repo per fixture, and a mount of it."""
    work = tempfile.mkdtemp(prefix="hubfs-it-entrypoints-", dir=os.environ.get("HUBFS_TEST_TMP", "/tmp"))
    base = os.path.join(work, "serve")
    for name in fixtures():
        src = os.path.join(work, "src", name)
        os.makedirs(os.path.dirname(src), exist_ok=True)
        subprocess.run(["cp", "-a", os.path.join(FIXTURES, name), src], check=True)
        for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "fixture"]):
            subprocess.run(cmd, cwd=src, check=True, env=GIT_ENV, capture_output=True)
        os.makedirs(os.path.join(base, OWNER), exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", src,
                        os.path.join(base, OWNER, name + ".git")], check=True)
    daemon = harness.GitDaemon(base, logdir=work).start()
    cache = os.path.join(work, "cache")
    opts = "cache=%s,rewrite=https://github.com/=git://127.0.0.1:%d/" % (cache, daemon.port)
    m = harness.Mount(os.path.join(work, "mnt"), opts, logdir=work).start()
    state = {"work": work, "daemon": daemon, "mount": m, "opts": opts, "src": os.path.join(work, "src")}
    yield state
    problems = []
    if state["mount"].alive:
        problems = state["mount"].stop() or []
    daemon.stop()
    assert not problems, problems
    if not harness.is_mounted(state["mount"].path):
        shutil.rmtree(work, ignore_errors=True)


def commit_dir(m, name):
    return harness.call(os.path.realpath, m.p(OWNER, name + ":main"), timeout=60)


@pytest.mark.parametrize("fixture", [f for f in fixtures() if f != "malicious"])
def test_entrypoints_and_help_equal_torch_hub(served, fixture):
    ref = torch_reference(fixture)
    d = commit_dir(served["mount"], fixture)
    eps = sorted(harness.call(os.listdir, os.path.join(d, ".hub", "entrypoints"), timeout=60))
    if not ref["ok"]:
        # torch.hub cannot import it: hubfs lists nothing it cannot stand
        # behind, and says why.
        errors = harness.read_file(os.path.join(d, ".hub", "errors"))
        assert errors.strip(), "torch.hub fails (%s) but .hub/errors is empty" % ref["error"]
        return
    want = sorted(e["name"] for e in ref["entrypoints"])
    errors = harness.read_file(os.path.join(d, ".hub", "errors")).decode()
    # What static analysis cannot settle is left out and explained in
    # .hub/errors (tests/analysis checks each line); nothing is ever made up.
    assert set(eps) <= set(want), "not in torch.hub.list(): %s" % sorted(set(eps) - set(want))
    # lines about an entrypoint's weights (docs/analysis.md) leave no name out
    errors = "\n".join(l for l in errors.splitlines() if not l.endswith(": not resolved"))
    if not errors:
        assert eps == want
    else:
        assert set(want) - set(eps), "errors reported but nothing left out:\n" + errors
    for e in ref["entrypoints"]:
        if e.get("help_error") or e["name"] not in eps:
            continue
        got = harness.read_file(os.path.join(d, ".hub", "entrypoints", e["name"], "help"))
        assert got == (e["help"] or "").encode(), "help of %s differs" % e["name"]
        sig = harness.read_file(os.path.join(d, ".hub", "entrypoints", e["name"], "signature"))
        assert sig.endswith(b"\n") and sig.count(b"\n") == 1
        assert sig.startswith(e["name"].encode() + b"(")
    deps = harness.read_file(os.path.join(d, ".hub", "dependencies"))
    assert all(line for line in deps.decode().split("\n")[:-1])


def test_malicious_hubconf_leaves_no_trace(served):
    m = served["mount"]
    before = set(os.listdir("/tmp"))
    d = commit_dir(m, "malicious")
    seen = 0
    for dirpath, dirnames, filenames in harness.call(lambda: list(os.walk(d)), timeout=60):
        for f in filenames:
            harness.read_file(os.path.join(dirpath, f))
            seen += 1
    assert seen > 3
    eps = harness.call(os.listdir, os.path.join(d, ".hub", "entrypoints"), timeout=30)
    assert "innocent" in eps
    for place in (served["src"] + "/malicious", os.path.join(served["work"], "cache"), os.getcwd(),
                  served["work"], "/"):
        for t in TRACES:
            assert not os.path.exists(os.path.join(place, t)), "%s/%s: hubconf.py ran" % (place, t)
    assert not os.path.exists("/tmp/hubfs-PWNED-BY-CALL")
    assert not any(n.startswith("hubfs-PWNED") for n in set(os.listdir("/tmp")) - before)
    # Nothing under the cache but what hubfs itself writes.
    for dirpath, _, filenames in os.walk(os.path.join(served["work"], "cache")):
        for t in TRACES:
            assert t not in filenames


def test_default_weights_and_alternatives_apart(served):
    """weights/ lists what the default call (pretrained=True, the other
    parameters at their defaults) downloads; alternatives/ what only other
    argument values select (the effects fixture's `big`, issue 14); an
    entrypoint without alternatives has no alternatives/."""
    m = served["mount"]
    eps = os.path.join(commit_dir(m, "effects"), ".hub", "entrypoints")
    big = os.path.join(eps, "big")
    assert sorted(harness.call(os.listdir, big, timeout=60)) == \
        ["alternatives", "help", "signature", "weights"]
    assert harness.call(os.listdir, os.path.join(big, "weights"), timeout=60) == ["big_plain.pth"]
    assert sorted(harness.call(os.listdir, os.path.join(big, "alternatives"), timeout=60)) == \
        ["big_22k.pth", "big_dist.pth"]
    others = [e for e in harness.call(os.listdir, eps, timeout=60) if e != "big"]
    assert others
    for e in others:
        assert "alternatives" not in os.listdir(os.path.join(eps, e)), e


def test_torch_hub_load_is_a_link_to_that_entrypoint(served):
    """An entrypoint that calls torch.hub.load('owner/repo:ref', 'model')
    has a `loads` file naming that entrypoint's directory in this mount
    (the weights fixture's `linked` loads the basic fixture's model_a);
    following it gives that entrypoint's help (issue 14)."""
    m = served["mount"]
    eps = os.path.join(commit_dir(m, "weights"), ".hub", "entrypoints")
    text = harness.read_file(os.path.join(eps, "linked", "loads")).decode()
    assert text == "/%s/basic:main/.hub/entrypoints/model_a\n" % OWNER
    there = m.path + text.strip()
    assert harness.read_file(os.path.join(there, "help")).decode().startswith("Docstring of model_a.")
    assert "loads" not in os.listdir(os.path.join(eps, "small"))


def test_analysis_path_is_used_and_shown_in_options(served):
    """analysis_path= (issue 14): the analysis reads installed packages from
    the directories it names, and /.hubfs/options shows it (empty without)."""
    work = served["work"]
    ext = os.path.join(work, "ext")
    os.makedirs(os.path.join(ext, "hubfsext_pkg"), exist_ok=True)
    with open(os.path.join(ext, "hubfsext_pkg", "__init__.py"), "w") as f:
        f.write('def net(pretrained=False):\n    """Net from the analysis path."""\n')
    src = os.path.join(work, "src", "extuser")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "hubconf.py"), "w") as f:
        f.write("dependencies = []\nfrom hubfsext_pkg import net\n")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "ext"]):
        subprocess.run(cmd, cwd=src, check=True, env=GIT_ENV, capture_output=True)
    subprocess.run(["git", "clone", "-q", "--bare", src,
                    os.path.join(work, "serve", OWNER, "extuser.git")], check=True)
    plain = served["mount"]
    assert "\nanalysis_path=\n" in harness.read_file(plain.p(".hubfs", "options")).decode()
    d = commit_dir(plain, "extuser")
    assert "net" not in harness.call(os.listdir, os.path.join(d, ".hub", "entrypoints"), timeout=60)
    assert "hubfsext_pkg" in harness.read_file(os.path.join(d, ".hub", "errors")).decode()
    opts = served["opts"].replace("cache=%s" % os.path.join(work, "cache"),
                                  "cache=%s" % os.path.join(work, "cache-ext"))
    m = harness.Mount(os.path.join(work, "mnt-ext"), opts + ",analysis_path=" + ext,
                      logdir=work, name="hubfs-ext").start()
    try:
        shown = harness.read_file(m.p(".hubfs", "options")).decode()
        assert "\nanalysis_path=%s\n" % ext in shown, shown
        d = commit_dir(m, "extuser")
        assert harness.call(os.listdir, os.path.join(d, ".hub", "entrypoints"), timeout=60) == ["net"]
        assert harness.read_file(os.path.join(d, ".hub", "entrypoints", "net", "help")) == \
            b"Net from the analysis path."
    finally:
        assert not m.stop()


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


def test_opening_a_repo_gets_the_analyser_ready(served):
    """Opening a commit whose analysis is not on disk (the end of the path
    through `owner/repo`) tells the analyser an analysis may follow: the
    idle interpreter thread makes most of HUB_PY_WARM_BYTES (256 MiB) of
    its allocator's memory resident (py/pyrt_arena.c), which a cold
    analysis of a large repository then finds ready.  A fresh mount (a
    fresh daemon) of the same server; its answers are the same."""
    work = tempfile.mkdtemp(prefix="warm-", dir=served["work"])
    opts = "cache=%s,rewrite=https://github.com/=git://127.0.0.1:%d/" % (
        os.path.join(work, "cache"), served["daemon"].port)
    m = harness.Mount(os.path.join(work, "mnt"), opts, logdir=work).start()
    try:
        pid = m.proc.pid
        harness.call(os.stat, m.p(".hubfs"), timeout=60)
        before = rss_mib(pid)
        d = harness.call(os.path.realpath, m.p(OWNER, "basic"), timeout=60)
        end = time.monotonic() + 20
        while rss_mib(pid) - before < 150 and time.monotonic() < end:
            time.sleep(0.05)
        grown = rss_mib(pid) - before
        assert grown >= 150, "resident size grew by %d MiB only" % grown
        eps = sorted(harness.call(os.listdir, os.path.join(d, ".hub", "entrypoints"), timeout=60))
        assert eps == sorted(harness.call(os.listdir, os.path.join(
            commit_dir(served["mount"], "basic"), ".hub", "entrypoints"), timeout=60))
    finally:
        problems = m.stop() or []
    assert not problems, problems


def test_results_are_kept_per_commit_across_remount(served):
    m = served["mount"]
    d = commit_dir(m, "basic")
    first = sorted(harness.call(os.listdir, os.path.join(d, ".hub", "entrypoints"), timeout=60))
    assert first
    analysis = os.path.join(served["work"], "cache", "hubfs", "analysis")
    sha = os.path.basename(d).split("@")[1]
    kept = [f for f in os.listdir(analysis) if f.startswith(sha)]
    assert len(kept) == 1
    mtime = os.stat(os.path.join(analysis, kept[0])).st_mtime_ns
    # Remount offline with the git daemon down: same answer, from disk.
    m.stop()
    served["daemon"].stop()
    m2 = harness.Mount(m.path, served["opts"] + ",offline", logdir=served["work"]).start()
    served["mount"] = m2
    again = sorted(harness.call(os.listdir, os.path.join(m2.p(OWNER, "basic@" + sha), ".hub",
                                                         "entrypoints"), timeout=60))
    assert again == first
    # Not analysed again: the result file was not rewritten.
    assert os.stat(os.path.join(analysis, kept[0])).st_mtime_ns == mtime
