"""The crash suite reuses the integration suite's fixtures (hub, the per-test
watchdog, the session-end cleanup): that conftest is loaded here under
another module name and its names re-exported, as tests/faults does.

`pristine` is replaced: the fixture repos of make_repos.make_all plus
alice/big (a clone slow enough to be killed in the middle) and
alice/slowconf (a hubconf.py whose analysis takes a second or more), built
once per session."""
import importlib.util
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
_INTEG = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, _INTEG)
sys.path.insert(0, HERE)
_spec = importlib.util.spec_from_file_location("hubfs_integration_conftest",
                                               os.path.join(_INTEG, "conftest.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items()
                  if not k.startswith("__") and k != "pristine"})

import crashlib  # noqa: E402
import make_repos  # noqa: E402


@pytest.fixture(scope="session")
def pristine():
    d = tempfile.mkdtemp(prefix="hubfs-crash-fixtures-", dir=_mod.TMP)
    base = os.path.join(d, "repos")
    manifest = make_repos.make_all(base)
    manifest["alice/big"] = make_repos.make_big(base, **crashlib.BIG)
    manifest["alice/slowconf"] = crashlib.make_slowconf(base)
    for v in manifest.values():
        v["path"] = os.path.relpath(v["path"], base)
    yield base, manifest
    shutil.rmtree(d, ignore_errors=True)
