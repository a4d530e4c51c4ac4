"""The analyser must not read the host for a hubconf (docs/analysis.md,
"What the analyser reads").

A root daemon, mounted allow_other.  Repository eve/leak's hubconf puts a
root-only directory on sys.path (a 0600 module holding a secret), climbs
there with '..', and links to it from the commit tree; eve/fifo's hubconf
imports a FIFO there.  As nobody, every byte of `.hub/` (dependencies,
errors, every entrypoint's help and signature, the names of weights/) is
read: the secret is in none of it, nor in any file of the cache, nor in the
daemon's stderr.  After the FIFO the analyser thread still works: a clean
repository (alice/vision) is analysed as usual.
"""
import json
import os
import secrets
import time

import pytest

import conftest
import harness
import make_repos

# As nobody: every name under .hub and every byte of every file outside
# weights/ (weight files are downloads, and their names are listed).
WALK = r'''
import json, os, sys
out = {}
for top in sys.argv[1:]:
    for d, dirs, files in os.walk(top):
        dirs.sort()
        out[d] = sorted(dirs + files)
        if os.path.basename(d) == "weights":
            continue
        for f in sorted(files):
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[p] = fh.read().decode("utf-8", "replace")
print(json.dumps(out))
'''


def secret_module(secret):
    return ('"""%(s)s"""\nSECRET = %(s)r\nURL = "https://example.invalid/%(s)s.pth"\n\n\n'
            'def leak(arg=%(s)r):\n    """%(s)s"""\n' % {"s": secret})


def leaky_hubconf(sdir):
    return '''"""eve/leak: reaches for a root-only directory."""
import os
import sys

sys.path.insert(0, %(sdir)r)
sys.path.append(%(climb)r)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", %(rel)r))
try:
    from secretmod import SECRET, URL, leak
except ImportError:
    SECRET = URL = "none"
try:
    from lnk import SECRET2
except ImportError:
    SECRET2 = "none"

dependencies = [SECRET]


def model(pretrained=False):
    return URL


model.__doc__ = SECRET
''' % {"sdir": sdir, "climb": "/usr/lib/python3/dist-packages/" + "../" * 6 + sdir.lstrip("/"),
       "rel": sdir.lstrip("/")}


FIFO_HUBCONF = '''"""eve/fifo: imports a FIFO outside the tree."""
import sys

sys.path.insert(0, %r)
try:
    from fifomod import thing   # a name: the module would have to be read
except ImportError:
    thing = None


def model():
    """Listed all the same."""
'''


def add_repo(hub, owner, repo, files):
    path = make_repos.init_bare(hub.base, owner, repo, "main")
    s = make_repos.Stream()
    s.commit("refs/heads/main", files, "hubconf", *make_repos._t(1))
    s.run(path)


def read_hub_as_nobody(hub, owner_repo):
    owner, repo = owner_repo.split("/")
    top = hub.p(owner, repo + ":main", ".hub")
    r = conftest.as_nobody(WALK, top, timeout=90)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r.stdout


def make_rootonly(hub, secret):
    """hub.work/rootonly (0700): 0600 modules with the secret, a FIFO."""
    sdir = os.path.join(hub.work, "rootonly")
    os.mkdir(sdir, 0o700)
    for name in ("secretmod.py", "lnk.py"):
        p = os.path.join(sdir, name)
        with open(p, "w") as f:
            f.write(secret_module(secret).replace("SECRET =", "SECRET2 = SECRET =", 1))
        os.chmod(p, 0o600)
    os.mkfifo(os.path.join(sdir, "fifomod.py"), 0o600)
    return sdir


def check_no_secret(hub, secret):
    assert conftest.secret_absent(secret, hub.cache) == []
    assert secret not in hub.current.stderr()
    hub.unmount()
    # after the daemon ended: the cache and every log (hubfs, git daemon)
    assert conftest.secret_absent(secret, hub.cache, hub.logs) == []


@pytest.mark.timeout_s(120)
def test_hubconf_cannot_read_host_files(trust_hub):
    hub = trust_hub
    secret = "hubfs-secret-" + secrets.token_hex(8)
    sdir = make_rootonly(hub, secret)
    add_repo(hub, "eve", "leak", {
        "hubconf.py": leaky_hubconf(sdir),
        "lnk.py": make_repos.L(os.path.join(sdir, "lnk.py")),
        "lnkdir": make_repos.L(sdir),
        "models/w.py": make_repos.L(os.path.join(sdir, "secretmod.py")),
    })
    hub.mount(extra=["allow_other"])

    got, raw = read_hub_as_nobody(hub, "eve/leak")
    top = hub.p("eve", "leak:main", ".hub")
    assert secret not in raw
    assert got[os.path.join(top, "dependencies")] == "none\n"
    assert "model" in got[os.path.join(top, "entrypoints")]
    assert "is outside the repository and the installed packages: ignored" in got[os.path.join(top, "errors")]
    check_no_secret(hub, secret)


@pytest.mark.timeout_s(150)
def test_fifo_does_not_hang_the_analyser(trust_hub):
    hub = trust_hub
    secret = "hubfs-secret-" + secrets.token_hex(8)
    sdir = make_rootonly(hub, secret)
    add_repo(hub, "eve", "fifo", {"hubconf.py": FIFO_HUBCONF % sdir})
    hub.mount(extra=["allow_other"])
    try:
        # Answered at once, not after the analysis timeout (30 s) ...
        t0 = time.monotonic()
        fifo, raw = harness.call(read_hub_as_nobody, hub, "eve/fifo", timeout=60)
        took = time.monotonic() - t0
        # ... and the analyser thread is not hung: a clean repository
        # (read before anything is asserted) analyses as usual.
        clean, raw2 = harness.call(read_hub_as_nobody, hub, "alice/vision", timeout=60)
        top = hub.p("eve", "fifo:main", ".hub")
        vtop = hub.p("alice", "vision:main", ".hub")
        assert secret not in raw and secret not in raw2
        assert clean[os.path.join(vtop, "errors")] == "", \
            "alice/vision after eve/fifo: %s" % clean[os.path.join(vtop, "errors")]
        assert "mlp" in clean[os.path.join(vtop, "entrypoints")], clean
        assert "did not run" not in fifo[os.path.join(top, "errors")], fifo[os.path.join(top, "errors")]
        assert "model" in fifo[os.path.join(top, "entrypoints")]
        assert took < 20, "eve/fifo took %.1f s" % took
    finally:
        # If a reader is blocked in the FIFO (a regression), let it go, so
        # that the daemon can stop and the failure is reported cleanly.
        try:
            os.close(os.open(os.path.join(sdir, "fifomod.py"), os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass   # ENXIO: nobody reads it, as it should be
    check_no_secret(hub, secret)
