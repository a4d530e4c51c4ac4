"""The fault suite reuses the integration suite's fixtures (pristine, hub,
the per-test watchdog, the session-end cleanup): that conftest is loaded
here under another module name and its names re-exported."""
import importlib.util
import os
import shutil
import sys
import tempfile

import pytest

_INTEG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration")
sys.path.insert(0, _INTEG)
_spec = importlib.util.spec_from_file_location("hubfs_integration_conftest",
                                               os.path.join(_INTEG, "conftest.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})

import harness  # noqa: E402  (on the path set above)


@pytest.fixture
def weights_mount():
    """A fresh mount with its own cache and a loopback weights server:
    yields (mount, server, files dir). The mount is stopped afterwards and
    the test fails if it did not stop cleanly (leaks, sanitizer reports)."""
    from test_weights import Server
    work = tempfile.mkdtemp(prefix="hubfs-wmount-", dir=os.environ.get("HUBFS_TEST_TMP", "/tmp"))
    files = os.path.join(work, "files")
    os.makedirs(files)
    srv = Server(files)
    m = None
    try:
        m = harness.Mount(os.path.join(work, "mnt"),
                          "cache=%s,allow_private" % os.path.join(work, "cache"),
                          logdir=work).start()
        yield m, srv, files
    finally:
        problems = m.stop() if m and m.alive else []
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    assert not problems, problems
