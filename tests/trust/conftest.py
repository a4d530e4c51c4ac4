"""pytest wiring for the trust suite (tests/trust): hubfs mounted with
allow_other by root, and every case tried as a second, unprivileged user
(uid/gid 65534, "nobody") through `setpriv`.

It reuses the integration suite's fixtures (pristine, hub, the watchdog, the
session-end cleanup): that conftest is loaded here under another module name
and its names re-exported, as tests/faults does.  Added here:

  trust_hub   (function) a Hub whose work dir nobody can traverse (0711 up
              to /), nothing mounted yet
  as_nobody(code, *args, timeout=)
              run Python `code` as uid 65534 with /usr/bin/python3 -I;
              argv[1:] are args; returns CompletedProcess (text)
"""
import importlib.util
import os
import subprocess
import sys

import pytest

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INTEG = os.path.join(_TESTS, "integration")
sys.path.insert(0, _INTEG)
_spec = importlib.util.spec_from_file_location("hubfs_integration_conftest_trust",
                                               os.path.join(_INTEG, "conftest.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})

import harness  # noqa: E402

NOBODY = 65534
SETPRIV = "/usr/bin/setpriv"


def _open_path_for_others(path):
    """Let other users traverse (not list) every directory from / to path."""
    p = os.path.realpath(path)
    while True:
        st = os.stat(p)
        if not st.st_mode & 0o001:
            os.chmod(p, (st.st_mode & 0o7777) | 0o011)
        if p == "/":
            break
        p = os.path.dirname(p)


def as_nobody(code, *args, timeout=60, env=None, input=None):
    """Python `code` run as uid/gid 65534 (no groups), isolated mode."""
    if os.geteuid() != 0:
        pytest.skip("the trust suite needs root (it runs a second uid with setpriv)")
    e = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    if env:
        e.update(env)
    return subprocess.run([SETPRIV, "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                           "/usr/bin/python3", "-I", "-c", code] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, env=e, input=input)


@pytest.fixture
def trust_hub(hub):
    _open_path_for_others(hub.work)
    for d in (hub.mnt,):
        os.chmod(d, 0o755)
    return hub


def secret_absent(secret, *paths):
    """Every path (file or tree) scanned byte for byte: the list of files
    where secret (str or bytes) occurs."""
    s = secret.encode() if isinstance(secret, str) else secret
    found = []
    for top in paths:
        if os.path.isfile(top):
            files = [top]
        else:
            files = [os.path.join(dp, f) for dp, _, fs in os.walk(top) for f in fs]
        for f in files:
            try:
                with open(f, "rb") as fh:
                    if s in fh.read():
                        found.append(f)
            except OSError:
                pass
    return found
