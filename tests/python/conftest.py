"""pytest wiring for the Python helper's tests: the integration suite's
watchdog and cleanup (its conftest, loaded under another name), plus one
hub for the whole session: the helper's fixture repos on git daemon, the
weight file on the loopback HTTP server, hubfs mounted with
rewrite=https://weights.invalid/w/=<server>, and a torch.hub cache laid out
as torch.hub lays it out for the ground truth."""
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
_INTEG = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, _INTEG)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "py"))
_spec = importlib.util.spec_from_file_location("hubfs_integration_conftest", os.path.join(_INTEG, "conftest.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__") and k not in ("hub", "mounted")})

import harness  # noqa: E402
import fixtures  # noqa: E402
from test_weights import Server  # noqa: E402


class Env:
    pass


def _weights(files):
    import torch
    import torch.nn as nn
    torch.manual_seed(123)
    m = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    tmp = os.path.join(files, "tmp.pth")
    torch.save(m.state_dict(), tmp)
    with open(tmp, "rb") as f:
        h = hashlib.sha256(f.read()).hexdigest()
    name = "net-%s.pth" % h[:8]
    os.rename(tmp, os.path.join(files, name))
    return name


@pytest.fixture(scope="session")
def env():
    work = tempfile.mkdtemp(prefix="hubfs-py-", dir=os.environ.get("HUBFS_TEST_TMP", "/tmp"))
    e = Env()
    e.work = work
    e.files = os.path.join(work, "files")
    os.makedirs(e.files)
    e.weight = _weights(e.files)
    base = os.path.join(work, "repos")
    e.repos = fixtures.make(base, e.weight)
    e.srv = Server(e.files)
    e.hub = harness.Hub(os.path.join(work, "hub"), pristine=base)
    e.hub.start_upstream()
    e.weights_rewrite = "rewrite=https://weights.invalid/w/=" + e.srv.url("")
    e.mount = e.hub.mount(extra=[e.weights_rewrite]).path
    # torch.hub's own cache for the ground truth: <hub>/<owner>_<repo>_<ref>
    e.torch_hub = os.path.join(work, "torch-hub")
    for owner_repo, gitdir in e.repos.items():
        for ref in ("main", "v2", "master", "third"):
            try:
                fixtures.export(gitdir, ref, os.path.join(e.torch_hub, owner_repo.replace("/", "_") + "_" + ref))
            except RuntimeError:
                pass  # no such ref in that repo
    os.makedirs(os.path.join(e.torch_hub, "checkpoints"))
    shutil.copy(os.path.join(e.files, e.weight), os.path.join(e.torch_hub, "checkpoints", e.weight))
    yield e
    fails = e.hub.close()
    e.srv.stop()
    assert not fails, fails
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def hub_dir(env, tmp_path, monkeypatch):
    """A private torch hub dir (trusted_list, checkpoints) for one test."""
    import hubfs
    d = str(tmp_path / "torchhub")
    os.makedirs(d)
    monkeypatch.setenv("HUBFS_MOUNT", env.mount)
    old = hubfs._hub_dir
    hubfs.set_dir(d)
    yield d
    hubfs._hub_dir = old
    import torch.hub
    torch.hub._hub_dir = None
