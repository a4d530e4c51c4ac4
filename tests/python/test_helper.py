"""The Python helper (issue 5) against a real mount and the real torch.hub.

Ground truth: torch.hub.list/help/load run offline on a torch.hub cache laid
out as torch.hub lays it out (<hub>/<owner>_<repo>_<ref>, skip_validation,
the weight file already in its checkpoints/)."""
import os
import re
import subprocess
import sys
import warnings

import pytest
import torch
import torch.hub

import harness
import hubfs

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"


@pytest.fixture
def torch_offline(env, monkeypatch):
    """torch.hub pointed at the prepared cache, never at the network."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(env.torch_hub)

    def no_network(*a, **k):
        raise AssertionError("torch.hub tried the network")
    monkeypatch.setattr(torch.hub, "_get_cache_or_reload",
                        lambda github, force_reload, trust_repo, calling_fn, verbose=True, skip_validation=False:
                        os.path.join(env.torch_hub, github.replace("/", "_").replace(":", "_")))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    yield
    torch.hub.set_dir(old)


def state_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------------- parity

@pytest.mark.parametrize("repo", ["hx/zoo:main", "hx/zoo:v2", "hy/other:main"])
def test_list_and_help_equal_torch_hub(env, hub_dir, torch_offline, repo):
    ours = hubfs.list(repo)
    theirs = torch.hub.list(repo, skip_validation=True, trust_repo=True)
    assert ours == theirs
    for name in theirs:
        assert hubfs.help(repo, name) == torch.hub.help(repo, name, skip_validation=True, trust_repo=True)


def test_load_equals_torch_hub_tensor_by_tensor(env, hub_dir, torch_offline):
    ours = hubfs.load("hx/zoo:main", "net", pretrained=True, trust_repo=True)
    theirs = torch.hub.load("hx/zoo:main", "net", pretrained=True, trust_repo=True, skip_validation=True)
    state_equal(ours.state_dict(), theirs.state_dict())
    # and the weights are the served file's, not the fresh initialisation
    served = torch.load(os.path.join(env.files, env.weight))
    state_equal(ours.state_dict(), served)
    assert ours.zoo_version == "utils zoo-main"


def test_load_without_weights_equals_torch_hub(env, hub_dir, torch_offline):
    ours = hubfs.load("hx/zoo:v2", "net", width=4, trust_repo=True)
    theirs = torch.hub.load("hx/zoo:v2", "net", width=4, trust_repo=True, skip_validation=True)
    state_equal(ours.state_dict(), theirs.state_dict())


def test_local_source(env, hub_dir, tmp_path, monkeypatch):
    d = os.path.join(env.torch_hub, "hy_other_main")
    assert hubfs.load(d, "version", source="local") == "other"
    # with no mount anywhere it still loads (weights would go to torch.hub)
    from hubfs import _mount
    monkeypatch.delenv("HUBFS_MOUNT")
    monkeypatch.setattr(_mount, "MOUNTINFO", _mountinfo_with(tmp_path, []))
    assert hubfs.load(d, "lazy", source="local")() == "late other"
    # a mount= that is not hubfs is an error, not ignored
    with pytest.raises(hubfs.MountError):
        hubfs.load(d, "version", source="local", mount=str(tmp_path))
    with pytest.raises(FileNotFoundError):
        hubfs.load(str(tmp_path), "version", source="local")


# ---------------------------------------------------------------- isolation

def test_two_refs_and_two_repos_side_by_side(env, hub_dir):
    before_path = list(sys.path)
    before_mods = set(sys.modules)
    a = hubfs.load("hx/zoo:main", "version", trust_repo=True)
    b = hubfs.load("hx/zoo:v2", "version", trust_repo=True)
    c = hubfs.load("hy/other", "version", trust_repo=True)
    assert (a, b, c) == ("zoo-main", "zoo-v2", "other")
    na = hubfs.load("hx/zoo:main", "net", trust_repo=True)
    nb = hubfs.load("hx/zoo:v2", "net", trust_repo=True)
    assert (na.zoo_version, nb.zoo_version) == ("utils zoo-main", "utils zoo-v2")
    assert sys.path == before_path
    new = set(sys.modules) - before_mods
    leaked = [m for m in new if m.split(".")[0] in ("models", "utils", "hubconf")]
    assert not leaked, leaked
    assert all(m.startswith("_hubfs_") for m in new if m.split(".")[0] not in sys.builtin_module_names
               and not m.startswith(("torch", "torchvision", "numpy", "hubfs"))), sorted(new)


def test_lazy_imports_see_their_own_commit(env, hub_dir):
    la = hubfs.load("hx/zoo:main", "lazy", trust_repo=True)
    lb = hubfs.load("hx/zoo:v2", "lazy", trust_repo=True)
    lc = hubfs.load("hy/other", "lazy", trust_repo=True)
    # called after every load, in another order
    assert (lc(), la(), lb()) == ("late other", "late zoo-main", "late zoo-v2")


@pytest.fixture
def no_plain_models():
    """sys.modules without plain models/utils (torch.hub.load in the parity
    tests left its copies there, as it does); put back after."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in ("models", "utils", "hubconf")}
    yield
    for k in [k for k in sys.modules if k.split(".")[0] in ("models", "utils", "hubconf")]:
        del sys.modules[k]
    sys.modules.update(saved)


def test_importlib_and_plain_named_pickles_see_their_own_commit(env, hub_dir, no_plain_models):
    """importlib.import_module("models.late") in repo code, and a checkpoint
    naming models.late.WHO unpickled by torch.load (code outside the repo),
    resolve to the commit's own modules; the plain names are gone after.
    (A plain `models` already in sys.modules -- the user's, or torch.hub's --
    would win, as in plain Python: docs/python.md.)"""
    assert hubfs.load("hx/zoo:main", "via_importlib", trust_repo=True) == ("late zoo-main", "zoo-main")
    assert hubfs.load("hx/zoo:v2", "via_importlib", trust_repo=True) == ("late zoo-v2", "zoo-v2")
    assert hubfs.load("hx/zoo:main", "unpickle", trust_repo=True) == "late zoo-main"
    assert hubfs.load("hy/other", "unpickle", trust_repo=True) == "late other"
    assert hubfs.load("hx/zoo:v2", "unpickle", trust_repo=True) == "late zoo-v2"
    assert not [m for m in sys.modules if m.split(".")[0] in ("models", "utils", "hubconf")]
    import importlib
    assert importlib.import_module is not None and importlib.import_module.__module__ == "importlib"


def test_repo_sys_path_dirs_are_namespaced(env, hub_dir, torch_offline):
    """A hubconf that puts ROOT/src on sys.path: two refs side by side, lazy
    imports from src/ after sys.path was restored, nothing plain left, and
    the same answers as torch.hub (one ref: torch.hub cannot hold two)."""
    before_path, before = list(sys.path), set(sys.modules)
    assert hubfs.load("hx/paths:main", "name", trust_repo=True) == ("mylib p1", "layer of mylib p1")
    assert hubfs.load("hx/paths:v2", "name", trust_repo=True) == ("mylib p2", "layer of mylib p2")
    f1 = hubfs.load("hx/paths:main", "later", trust_repo=True)
    f2 = hubfs.load("hx/paths:v2", "later", trust_repo=True)
    assert sys.path == before_path
    assert (f2(), f1()) == (("late p2", "other p2"), ("late p1", "other p1"))
    new = set(sys.modules) - before
    assert not [m for m in new if m.split(".")[0] in ("mylib", "other_mod", "hubconf")], sorted(new)
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in ("mylib", "other_mod")}
    try:
        assert torch.hub.load("hx/paths:main", "name", trust_repo=True) == ("mylib p1", "layer of mylib p1")
    finally:
        for k in [k for k in sys.modules if k.split(".")[0] in ("mylib", "other_mod")]:
            del sys.modules[k]
        sys.modules.update(saved)
        sys.path[:] = before_path  # torch.hub leaves ROOT/src there


def test_sys_path_restored_after_the_entrypoint(env, hub_dir):
    before = list(sys.path)
    n = hubfs.load("hx/zoo:main", "touch_path", trust_repo=True)
    assert n == len(before) + 1  # the entrypoint did change it
    assert sys.path == before


def test_threads_load_side_by_side(env, hub_dir):
    """Four threads loading two refs and two repos at once, each result its
    own commit's, torch.hub restored when the last load returns."""
    import threading
    originals = (torch.hub.load_state_dict_from_url, torch.hub.download_url_to_file, torch.hub.load)
    want = {"hx/zoo:main": "late zoo-main", "hx/zoo:v2": "late zoo-v2", "hy/other": "late other"}
    errors, done = [], []

    def worker(repo):
        try:
            for _ in range(15):
                got = hubfs.load(repo, "lazy", trust_repo=True)()
                if got != want[repo]:
                    errors.append((repo, got))
            assert hubfs.load(repo, "net", pretrained=True, trust_repo=True).zoo_version.endswith(
                want[repo].split(" ", 1)[1])
            done.append(repo)
        except BaseException as e:  # noqa: B902 (reported below)
            errors.append((repo, repr(e)))
    ts = [threading.Thread(target=worker, args=(r,)) for r in list(want) + ["hx/zoo:main"]]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors
    assert len(done) == 4
    assert (torch.hub.load_state_dict_from_url, torch.hub.download_url_to_file, torch.hub.load) == originals


def test_user_package_of_the_same_name(env, hub_dir, tmp_path):
    pkg = tmp_path / "userpkgs" / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("VERSION = 'mine'\n")
    sys.path.insert(0, str(tmp_path / "userpkgs"))
    saved = sys.modules.pop("models", None)
    try:
        import models
        assert models.VERSION == "mine"
        assert hubfs.load("hx/zoo:main", "version", trust_repo=True) == "zoo-main"
        import models as again
        assert again is models and again.VERSION == "mine"
        # imported for the first time after a load: still the user's
        del sys.modules["models"]
        hubfs.load("hx/zoo:v2", "version", trust_repo=True)
        import models as fresh
        assert fresh.VERSION == "mine"
    finally:
        sys.path.remove(str(tmp_path / "userpkgs"))
        sys.modules.pop("models", None)
        if saved is not None:
            sys.modules["models"] = saved


def test_nested_hub_load_and_torch_hub_restored(env, hub_dir):
    originals = (torch.hub.load_state_dict_from_url, torch.hub.download_url_to_file, torch.hub.load)
    # hy/other's `nested` loads hx/zoo:v2 through torch.hub.load
    assert hubfs.load("hy/other", "nested", trust_repo=True) == "zoo-v2"
    assert (torch.hub.load_state_dict_from_url, torch.hub.download_url_to_file, torch.hub.load) == originals


# ---------------------------------------------------------------- weights

def test_two_processes_one_download(env, hub_dir, tmp_path):
    """Two processes load the same entrypoint with its weights from a fresh
    mount on an empty cache: the server sends the file once."""
    hub = env.hub
    # torch.hub's dir is the mount's cache: torch.load reads the daemon's own
    # file through the mount, no copy
    cache = str(tmp_path / "th" / "hub")
    mnt = str(tmp_path / "mnt2")
    os.makedirs(mnt)
    m = harness.Mount(mnt, hub.options(cache=cache, extra=[env.weights_rewrite]), env=hub.env(),
                      logdir=str(tmp_path)).start()
    try:
        before = env.srv.stats(env.weight)
        code = ("import sys, hubfs; m = hubfs.load('hx/zoo:main', 'net', pretrained=True, trust_repo=True, "
                "mount=sys.argv[1]); print(float(sum(p.sum() for p in m.state_dict().values())))")
        envp = dict(os.environ, PYTHONPATH=os.path.join(TOP, "py"), TORCH_HOME=str(tmp_path / "th"))
        procs = [subprocess.Popen([PY, "-c", code, mnt], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=envp) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (o, e) in zip(procs, outs):
            assert p.returncode == 0, e.decode()[-2000:]
        assert outs[0][0] == outs[1][0]
        after = env.srv.stats(env.weight)
        size = os.path.getsize(os.path.join(env.files, env.weight))
        sent = after["bytes"] - before["bytes"]
        assert size <= sent < 2 * size, "the file was sent %d bytes for %d" % (sent, size)
        assert after["get"] - before["get"] == 1
        assert sorted(os.listdir(os.path.join(cache, "checkpoints"))) == [env.weight]
    finally:
        m.stop()


def test_progress_from_the_daemon(env, tmp_path, capfd):
    """progress=True on a file the mount has not downloaded: torch.hub's
    'Downloading' line and a bar drawn from /.hubfs/downloads; once the file
    is in the cache, nothing (as torch.hub)."""
    mnt = str(tmp_path / "mnt3")
    m = harness.Mount(mnt, env.hub.options(cache=str(tmp_path / "c3"), extra=[env.weights_rewrite]),
                      env=env.hub.env(), logdir=str(tmp_path)).start()
    try:
        url = fixtures_url(env)
        dst = str(tmp_path / "w.pth")
        hubfs.download_url_to_file(url, dst, progress=True, mount=mnt)
        err = capfd.readouterr().err
        assert 'Downloading: "%s" to %s' % (url, os.path.join(str(tmp_path / "c3"), "checkpoints", env.weight)) in err
        # torch.hub's tqdm (or its fallback without tqdm: "\r100.0%")
        assert re.search(r"100(\.0)?%", err), err
        hubfs.download_url_to_file(url, dst, progress=True, mount=mnt)
        assert "Downloading" not in capfd.readouterr().err
    finally:
        m.stop()


def test_weights_from_a_thread_the_entrypoint_starts(env, hub_dir, tmp_path, monkeypatch):
    """The thread has no load of its own: it is served through the mount of
    the load running (given as mount=; no $HUBFS_MOUNT, and mountinfo names
    several, so nothing else could tell it)."""
    from hubfs import _mount
    monkeypatch.delenv("HUBFS_MOUNT")
    p = tmp_path / "mountinfo"
    line = next(l for l in open("/proc/self/mountinfo") if (" %s " % env.mount) in l)
    p.write_text(line + line)
    monkeypatch.setattr(_mount, "MOUNTINFO", str(p))
    m = hubfs.load("hx/zoo:main", "net_in_thread", trust_repo=True, mount=env.mount)
    state_equal(m.state_dict(), torch.load(os.path.join(env.files, env.weight)))


def test_load_state_dict_from_url_and_download(env, hub_dir, tmp_path):
    url = fixtures_url(env)
    sd = hubfs.load_state_dict_from_url(url, progress=False)
    state_equal(sd, torch.load(os.path.join(env.files, env.weight)))
    # torch.hub's naming in the chosen model_dir
    assert os.path.exists(os.path.join(hub_dir, "checkpoints", env.weight))
    dst = str(tmp_path / "copy.pth")
    hubfs.download_url_to_file(url, dst, hash_prefix=env.weight.split("-")[1][:8])
    with open(dst, "rb") as f, open(os.path.join(env.files, env.weight), "rb") as g:
        assert f.read() == g.read()
    with pytest.raises(RuntimeError, match="invalid hash value"):
        hubfs.download_url_to_file(url, str(tmp_path / "bad.pth"), hash_prefix="00000000")
    assert not os.path.exists(str(tmp_path / "bad.pth"))
    assert [n for n in os.listdir(str(tmp_path)) if n.endswith(".partial")] == []


def fixtures_url(env):
    import fixtures
    return fixtures.W_HOST + env.weight


# ---------------------------------------------------------------- errors and trust

def test_errors_as_torch_hub(env, hub_dir):
    with pytest.raises(RuntimeError, match=r"^Cannot find callable nope in hubconf$"):
        hubfs.load("hx/zoo:main", "nope", trust_repo=True)
    with pytest.raises(RuntimeError, match=r"^Cannot find callable nope in hubconf$"):
        hubfs.help("hx/zoo:main", "nope")
    with pytest.raises(RuntimeError, match=r"^Missing dependencies: no_such_package_hubfs_xyz$"):
        hubfs.load("hx/deps", "thing", trust_repo=True)
    for bad in ("noslash", "a/b/c", "a/b:", "../x", "a b/c"):
        with pytest.raises(ValueError):
            hubfs.list(bad)
    with pytest.raises(ValueError, match="Cannot find"):
        hubfs.list("hx/no-such-repo")
    with pytest.raises(ValueError, match="Unknown source"):
        hubfs.load("hx/zoo", "net", source="ftp")


def _mountinfo_with(tmp_path, keep):
    """A copy of /proc/self/mountinfo whose hubfs lines are only those of the
    mount points in keep (other suites' mounts come and go on this host)."""
    from hubfs import _mount
    lines = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == [_mount.FSTYPE] and _mount._unescape(left.split()[4]) not in keep:
                continue
            lines.append(line)
    p = tmp_path / ("mountinfo-%d" % len(keep))
    p.write_text("".join(lines))
    return str(p)


def test_no_mount_or_not_hubfs(env, tmp_path, monkeypatch):
    from hubfs import _mount
    monkeypatch.delenv("HUBFS_MOUNT", raising=False)
    with pytest.raises(hubfs.MountError, match="not a hubfs mount"):
        hubfs.list("hx/zoo", mount=str(tmp_path))
    monkeypatch.setenv("HUBFS_MOUNT", str(tmp_path / "nope"))
    with pytest.raises(hubfs.MountError, match="not a directory"):
        hubfs.list("hx/zoo")
    monkeypatch.setenv("HUBFS_MOUNT", str(tmp_path))
    with pytest.raises(hubfs.MountError, match="not a hubfs mount"):
        hubfs.list("hx/zoo")
    monkeypatch.delenv("HUBFS_MOUNT")
    # the single hubfs entry of /proc/self/mountinfo: the session's mount
    monkeypatch.setattr(_mount, "MOUNTINFO", _mountinfo_with(tmp_path, [env.mount]))
    assert _mount.find_mount() == env.mount
    assert hubfs.list("hx/zoo:main") == ["build_net", "lazy", "nested", "net", "net_in_thread", "touch_path", "unpickle", "version", "via_importlib"]
    # none, or several: a clear error, nothing guessed
    monkeypatch.setattr(_mount, "MOUNTINFO", _mountinfo_with(tmp_path, []))
    with pytest.raises(hubfs.MountError, match="no hubfs mount found"):
        hubfs.list("hx/zoo:main")
    other = str(tmp_path / "other-mnt")
    m = harness.Mount(other, env.hub.options(cache=str(tmp_path / "other-cache")), env=env.hub.env(),
                      logdir=str(tmp_path)).start()
    try:
        monkeypatch.setattr(_mount, "MOUNTINFO", _mountinfo_with(tmp_path, [env.mount, other]))
        with pytest.raises(hubfs.MountError, match="several hubfs mounts"):
            hubfs.list("hx/zoo:main")
        # the real /proc/self/mountinfo lists it with fstype fuse.hubfs
        assert other in _mount.hubfs_mounts("/proc/self/mountinfo")
    finally:
        m.stop()


def test_trust(env, hub_dir, monkeypatch):
    tl = os.path.join(hub_dir, "trusted_list")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        hubfs.load("hx/zoo:main", "version")
    assert any("untrusted repository" in str(x.message) for x in w)
    assert "hx_zoo" not in open(tl).read().split()
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    with pytest.raises(Exception, match="Untrusted repository."):
        hubfs.load("hx/zoo:main", "version", trust_repo=False)
    with pytest.raises(Exception, match="Untrusted repository."):
        hubfs.load("hx/zoo:main", "version", trust_repo="check")
    assert hubfs.load("hx/zoo:main", "version", trust_repo=True) == "zoo-main"
    assert open(tl).read().split() == ["hx_zoo"]

    def no_prompt(prompt=""):
        raise AssertionError("prompted for a trusted repo")
    monkeypatch.setattr("builtins.input", no_prompt)
    assert hubfs.load("hx/zoo:v2", "version", trust_repo="check") == "zoo-v2"
    monkeypatch.setattr("builtins.input", lambda prompt="": "yes")
    assert hubfs.load("hy/other", "version", trust_repo=False) == "other"
    assert open(tl).read().split() == ["hx_zoo", "hy_other"]


def test_untrusted_warning_is_torch_hubs(env, hub_dir):
    """Byte for byte the warning torch.hub's own trust check gives."""
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        hubfs.load("hy/other", "version")
    old = torch.hub.get_dir()
    torch.hub.set_dir(hub_dir)
    try:
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            torch.hub._check_repo_is_trusted("hy", "other", "hy_other_main", trust_repo=None, calling_fn="load")
    finally:
        torch.hub.set_dir(old)
    mine = [str(w.message) for w in ours if "untrusted" in str(w.message)]
    assert mine and mine == [str(w.message) for w in theirs]


def test_trust_legacy_cache_dir_and_default_branch(env, hub_dir):
    """A repo torch.hub already downloaded (<hub>/<owner>_<repo>_<branch>) is
    trusted; without a ref the branch is the remote's default (master here,
    where torch.hub would also have found master)."""
    os.makedirs(os.path.join(hub_dir, "hz_needs_master"))
    os.makedirs(os.path.join(hub_dir, "hz_needs_third"))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="Missing dependencies"):
            hubfs.load("hz/needs", "thing")
        with pytest.raises(RuntimeError, match="Missing dependencies"):
            hubfs.load("hz/needs:master", "thing")
    assert not [x for x in w if "untrusted" in str(x.message)]
    assert open(os.path.join(hub_dir, "trusted_list")).read() == ""
    os.rmdir(os.path.join(hub_dir, "hz_needs_master"))
    hubfs._trusted_seen.clear()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="Missing dependencies"):
            hubfs.load("hz/needs", "thing")
    assert [x for x in w if "untrusted" in str(x.message)]


def test_list_and_help_trust_and_force_reload(env, hub_dir, monkeypatch):
    """list/help run no code: trust_repo=None does not warn, but an explicit
    value is handled as torch.hub handles it (recorded, or prompted)."""
    tl = os.path.join(hub_dir, "trusted_list")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert hubfs.list("hy/other") == ["build_net", "lazy", "nested", "net", "net_in_thread", "touch_path", "unpickle", "version", "via_importlib"]
    assert not [x for x in w if "untrusted" in str(x.message)]
    monkeypatch.setattr("builtins.input", lambda prompt="": "no")
    with pytest.raises(Exception, match="Untrusted repository."):
        hubfs.list("hy/other", trust_repo=False)
    with pytest.raises(Exception, match="Untrusted repository."):
        hubfs.help("hy/other", "net", trust_repo="check")
    assert hubfs.help("hy/other", "version", trust_repo=True) == "The models package this commit sees."
    assert open(tl).read().split() == ["hy_other"]
    # force_reload on an immutable commit and on a branch: same answer, no error
    sha = os.path.basename(os.readlink(os.path.join(env.mount, "hy", "other:main"))).split("@")[1]
    assert hubfs.list("hy/other:" + sha[:10], force_reload=True) == hubfs.list("hy/other:main", force_reload=True)


def test_help_missing_dependencies_as_torch_hub(env, hub_dir, torch_offline):
    """torch.hub.help imports hubconf and checks `dependencies` first; hubfs
    reads .hub/dependencies: the same RuntimeError, no import."""
    with pytest.raises(RuntimeError) as theirs:
        torch.hub.help("hz/needs:master", "thing", trust_repo=True)
    before = set(sys.modules)
    with pytest.raises(RuntimeError) as ours:
        hubfs.help("hz/needs:master", "thing")
    assert str(ours.value) == str(theirs.value) == \
        "Missing dependencies: no_such_package_hubfs_a, no_such_package_hubfs_b"
    assert not [m for m in set(sys.modules) - before if "hubconf" in m or m.startswith("_hubfs_")]
    with pytest.raises(RuntimeError) as ours:
        hubfs.load("hz/needs:master", "thing", trust_repo=True)
    assert str(ours.value) == str(theirs.value)


def test_modules_imported_during_a_load_keep_torch_hub(env, hub_dir, tmp_path):
    """A third-party module first imported while an entrypoint runs, binding
    `from torch.hub import load_state_dict_from_url`, gets torch.hub's own
    function once the load returns, not hubfs's routed one."""
    d = tmp_path / "third"
    d.mkdir()
    (d / "hubfs_test_thirdparty.py").write_text(
        "from torch.hub import load_state_dict_from_url, download_url_to_file\n"
        "from torch.utils.model_zoo import load_url\n")
    sys.path.insert(0, str(d))
    try:
        mod = hubfs.load("hz/needs:third", "third", trust_repo=True)
    finally:
        sys.path.remove(str(d))
        sys.modules.pop("hubfs_test_thirdparty", None)
    assert mod.load_state_dict_from_url is torch.hub.load_state_dict_from_url
    assert mod.load_url is torch.hub.load_state_dict_from_url
    assert mod.download_url_to_file is torch.hub.download_url_to_file
    assert torch.hub.load_state_dict_from_url.__module__ == "torch.hub"


def test_weight_errors(env, hub_dir, tmp_path):
    """A URL the server does not have, and a file whose name's sha256 prefix
    does not match its bytes: errors, never a model from bad bytes."""
    import fixtures
    with pytest.raises(OSError, match="hubfs: "):
        hubfs.load_state_dict_from_url(fixtures.W_HOST + "absent-12345678.pth", progress=False)
    bad = "net-00000000.pth"
    import shutil
    shutil.copy(os.path.join(env.files, env.weight), os.path.join(env.files, bad))
    with pytest.raises((OSError, RuntimeError), match="hubfs: .*(sha256-mismatch|Input/output)"):
        hubfs.load_state_dict_from_url(fixtures.W_HOST + bad, progress=False)
    assert not os.path.exists(os.path.join(hub_dir, "checkpoints", bad))
    with pytest.raises((OSError, RuntimeError), match="hubfs: "):
        hubfs.download_url_to_file(fixtures.W_HOST + bad, str(tmp_path / "bad.pth"), progress=False)
    assert not os.path.exists(str(tmp_path / "bad.pth"))


def test_pip_install_offline(tmp_path):
    import shutil
    src = str(tmp_path / "src")  # a copy: pip's build files stay out of the tree
    shutil.copytree(os.path.join(TOP, "py"), src, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    r = subprocess.run([PY, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
                        "--target", str(tmp_path / "site"), src],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    r = subprocess.run([PY, "-c", "import hubfs, sys; print(hubfs.__file__)"],
                       env=dict(os.environ, PYTHONPATH=str(tmp_path / "site")), capture_output=True, text=True,
                       cwd=str(tmp_path))
    assert r.returncode == 0 and str(tmp_path / "site") in r.stdout, r.stderr


def test_force_reload_re_resolves_the_branch_now(env, hub_dir):
    """The mount trusts a branch for ref_ttl (60 s here); force_reload asks
    the remote now.  hx/deps is used by no other test."""
    import make_repos
    before = os.path.basename(os.path.realpath(os.path.join(env.mount, "hx", "deps:main")))
    new = make_repos.advance_branch(env.hub.base, "hx", "deps", "main", files={
        "hubconf.py": "dependencies = ['torch']\n\n\ndef thing():\n    \"\"\"Moved.\"\"\"\n    return 2\n"})
    # within ref_ttl: still the old commit, and its missing dependency
    with pytest.raises(RuntimeError, match="Missing dependencies"):
        hubfs.load("hx/deps:main", "thing", trust_repo=True)
    assert hubfs.load("hx/deps:main", "thing", trust_repo=True, force_reload=True) == 2
    after = os.path.basename(os.path.realpath(os.path.join(env.mount, "hx", "deps:main")))
    assert before != after and after.endswith("@" + new), (before, after, new)
