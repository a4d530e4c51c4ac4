"""Right bytes per URL, and a cache nobody else can plant files in (trust
issue, items 1 and 5), tried as a second user (uid 65534) against a root
daemon's allow_other mount.

Weights come from tests/weights/httpd.py on loopback, reached through an
admin's rewrite (https://weights.mirror.test/ -> http://127.0.0.1:PORT/), the
way a mirror is used.  Each test says what the old, name-keyed store did.
"""
import hashlib
import os
import subprocess
import sys

import pytest

import conftest
import harness
import make_repos

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
from test_weights import Server  # noqa: E402  (the integration suite's httpd wrapper)

MIRROR = "https://weights.mirror.test/"
TORCH_PYTHON = "/usr/bin/python3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def url_node(mount, url):
    return mount.p(".hubfs", "url", url.replace("%", "%25").replace("/", "%2F"))


def key(fetch_url):
    """The store's name of a URL (sha256 of the URL fetched, 32 hex digits)."""
    return hashlib.sha256(fetch_url.encode()).hexdigest()[:32]


@pytest.fixture
def srv(trust_hub):
    files = os.path.join(trust_hub.work, "files")
    os.makedirs(files)
    s = Server(files)
    s.files = files
    yield s
    s.stop()


def put(srv, path, data):
    p = os.path.join(srv.files, path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)


def mount(hub, srv, extra=(), cache=None):
    return hub.mount(cache=cache, allow_private=False, extra=["allow_other", "url_access=all",
                                         "rewrite=%s=http://127.0.0.1:%d/" % (MIRROR, srv.port)]
                     + list(extra))


def nobody_read(path):
    """The bytes uid 65534 reads at path, or the errno name it gets."""
    r = conftest.as_nobody(
        "import os,sys\n"
        "try:\n"
        "    sys.stdout.write(open(sys.argv[1],'rb').read().hex())\n"
        "except OSError as e:\n"
        "    sys.stdout.write('errno:' + __import__('errno').errorcode[e.errno])\n",
        path, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip()
    return out if out.startswith("errno:") else bytes.fromhex(out)


def weights_repo(hub, owner, repo, entrypoints):
    """A repo whose hubconf entrypoints each download one URL: {name: url}."""
    lines = ['"""Trust suite fixture."""', "dependencies = ['torch']", ""]
    for name, url in entrypoints.items():
        lines += ["", "def %s(pretrained=True):" % name,
                  '    """Loads %s."""' % url,
                  "    import torch.hub",
                  "    return torch.hub.load_state_dict_from_url(%r)" % url, ""]
    make_repos.create_repo(hub.base, owner, repo, files={"hubconf.py": "\n".join(lines) + "\n"})


def test_planted_weight_is_not_served_to_another_url(trust_hub, srv):
    """nobody reads their own URL .../evil/pytorch_model.bin; a repo naming
    another URL with the same base name must still get its own bytes (the
    name-keyed store served the planted file from checkpoints/)."""
    evil, good = os.urandom(200000), os.urandom(300000)
    put(srv, "evil/pytorch_model.bin", evil)
    put(srv, "good/pytorch_model.bin", good)
    weights_repo(trust_hub, "carol", "bert", {"net": MIRROR + "good/pytorch_model.bin"})
    m = mount(trust_hub, srv)
    assert nobody_read(url_node(m, MIRROR + "evil/pytorch_model.bin")) == evil
    ck = os.path.join(trust_hub.cache, "checkpoints", "pytorch_model.bin")
    harness.poll_until(lambda: os.path.exists(ck), 20, what="checkpoints/pytorch_model.bin")

    commit = trust_hub.p("carol", "bert:main")
    assert harness.listdir(os.path.join(commit, ".hub", "weights")) == ["pytorch_model.bin"]
    for p in (os.path.join(commit, ".hub", "weights", "pytorch_model.bin"),
              os.path.join(commit, ".hub", "entrypoints", "net", "weights", "pytorch_model.bin")):
        assert harness.stat_(p).st_size == len(good)
        assert nobody_read(p) == good, p
    # torch.hub's name stays the first comer's (documented); hubfs never reads it for good's URL
    assert open(ck, "rb").read() == evil

    # a new daemon on the same cache: still each URL its own bytes, no new download
    gets = srv.stats("good/pytorch_model.bin")["get"]
    trust_hub.unmount()
    m = mount(trust_hub, srv)
    assert nobody_read(os.path.join(trust_hub.p("carol", "bert:main"), ".hub", "weights",
                                    "pytorch_model.bin")) == good
    assert nobody_read(url_node(m, MIRROR + "evil/pytorch_model.bin")) == evil
    assert srv.stats("good/pytorch_model.bin")["get"] == gets


def test_same_name_urls_in_one_repo(trust_hub, srv):
    """Two URLs, one base name, one repo: model.pth and model~<hash>.pth, each
    its own URL's bytes (both served the second URL's bytes before)."""
    a, b = os.urandom(150000), os.urandom(170000)
    put(srv, "a/model.pth", a)
    put(srv, "b/model.pth", b)
    weights_repo(trust_hub, "carol", "twins", {"first": MIRROR + "a/model.pth",
                                               "second": MIRROR + "b/model.pth"})
    mount(trust_hub, srv)
    ep = os.path.join(trust_hub.p("carol", "twins:main"), ".hub", "entrypoints")
    names = {e: harness.listdir(os.path.join(ep, e, "weights")) for e in ("first", "second")}
    assert len(names["first"]) == len(names["second"]) == 1
    assert names["first"] != names["second"], names
    # read b first, then a, then b again: no order lets one serve the other's bytes
    pb = os.path.join(ep, "second", "weights", names["second"][0])
    pa = os.path.join(ep, "first", "weights", names["first"][0])
    assert nobody_read(pb) == b
    assert nobody_read(pa) == a
    assert nobody_read(pb) == b
    allw = os.path.join(trust_hub.p("carol", "twins:main"), ".hub", "weights")
    got = {n: nobody_read(os.path.join(allw, n)) for n in harness.listdir(allw)}
    assert sorted(got.values()) == sorted([a, b])


def test_checkpoint_of_another_url_used_only_when_its_hash_verifies(trust_hub, srv):
    """A file at checkpoints/<name> (torch.hub's, or planted): used for a URL
    only when <name>'s sha256 prefix verifies it."""
    real = os.urandom(120000)
    h = hashlib.sha256(real).hexdigest()[:8]
    ok_name, bad_name = "net-%s.pth" % h, "other-%s.pth" % h
    put(srv, ok_name, real)
    put(srv, bad_name, real)
    ckdir = os.path.join(trust_hub.cache, "checkpoints")
    os.makedirs(ckdir)
    with open(os.path.join(ckdir, ok_name), "wb") as f:     # torch.hub downloaded it
        f.write(real)
    with open(os.path.join(ckdir, bad_name), "wb") as f:    # planted: name says h, bytes differ
        f.write(b"planted" * 1000)
    m = mount(trust_hub, srv)
    assert nobody_read(url_node(m, MIRROR + ok_name)) == real
    assert srv.stats(ok_name)["get"] == 0, "a verified torch.hub file was downloaded again"
    assert nobody_read(url_node(m, MIRROR + bad_name)) == real
    assert srv.stats(bad_name)["get"] >= 1


def test_helper_load_state_dict_ignores_a_planted_checkpoint(trust_hub, srv):
    """hubfs.load_state_dict_from_url with torch.hub's default model_dir (the
    mount's checkpoints/): a planted pickle under the URL's base name is not
    loaded; the URL's own state dict is (torch.hub would load the plant)."""
    work = trust_hub.work
    marker = os.path.join(work, "pwned")
    mk = subprocess.run([TORCH_PYTHON, "-c", """
import sys, torch
class Evil:
    def __reduce__(self):
        return (open, (sys.argv[1], "w"))
torch.save({"w": Evil()}, sys.argv[2])
torch.save({"w": torch.arange(10.0)}, sys.argv[3])
""", marker, os.path.join(work, "evil.pth"), os.path.join(work, "good.pth")],
                        capture_output=True, text=True, timeout=120)
    if mk.returncode:
        pytest.skip("torch unavailable: %s" % mk.stderr[-300:])
    put(srv, "evil/state.pth", open(os.path.join(work, "evil.pth"), "rb").read())
    put(srv, "good/state.pth", open(os.path.join(work, "good.pth"), "rb").read())
    torch_home = os.path.join(work, "torch")
    cache = os.path.join(torch_home, "hub")
    os.makedirs(cache)
    m = mount(trust_hub, srv, cache=cache)
    # the plant: nobody's URL of the same base name reaches checkpoints/ first
    nobody_read(url_node(m, MIRROR + "evil/state.pth"))
    harness.poll_until(lambda: os.path.exists(os.path.join(cache, "checkpoints", "state.pth")), 20,
                       what="checkpoints/state.pth")
    env = dict(trust_hub.env(), TORCH_HOME=torch_home, PYTHONPATH=os.path.join(ROOT, "py"),
               HUBFS_MOUNT=m.path)
    r = subprocess.run([TORCH_PYTHON, "-c", """
import sys, hubfs
sd = hubfs.load_state_dict_from_url(sys.argv[1], progress=False)
print(sd["w"].tolist())
""", MIRROR + "good/state.pth"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str([float(i) for i in range(10)])
    assert not os.path.exists(marker), "the planted pickle ran"


def test_cache_root_others_can_write_is_refused(trust_hub):
    """A cache root (or hubfs/ in it) writable by other users, not sticky and
    ours: one clear line, non-zero exit, nothing mounted."""
    def refused(cache, why):
        os.makedirs(trust_hub.mnt, exist_ok=True)
        r = subprocess.run([harness.HUBFS_BIN, "-f", "-o", "cache=" + cache, trust_hub.mnt],
                           capture_output=True, text=True, timeout=30, env=trust_hub.env())
        assert r.returncode != 0, (cache, r.stderr)
        assert not harness.is_mounted(trust_hub.mnt)
        assert "cache directory refused" in r.stderr and why in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr

    shared = os.path.join(trust_hub.work, "shared")
    os.makedirs(shared)
    os.chmod(shared, 0o777)
    refused(shared, "writable by every user")
    os.chmod(shared, 0o775)
    refused(shared, "writable by its group")

    inner = os.path.join(trust_hub.work, "inner")
    os.makedirs(os.path.join(inner, "hubfs"))
    os.chmod(os.path.join(inner, "hubfs"), 0o777)
    refused(inner, "hubfs is writable")

    planted = os.path.join(trust_hub.work, "planted")
    os.makedirs(planted)
    os.symlink("/etc", os.path.join(planted, "hubfs"))
    refused(planted, "is a symlink")

    # sticky and ours (as /tmp is root's): accepted, the mount works
    sticky = os.path.join(trust_hub.work, "sticky")
    os.makedirs(sticky)
    os.chmod(sticky, 0o1777)
    trust_hub.mount(cache=sticky, extra=["allow_other"])
    assert len(nobody_read(trust_hub.p("alice", "vision:main", ".hub", "commit"))) == 41


def test_planted_symlinks_in_the_cache_are_not_followed(trust_hub, srv):
    """Symlinks standing in the store (planted while the cache was open to
    others, or by hand): the daemon neither serves the file they point at nor
    writes through them."""
    secret = os.path.join(trust_hub.work, "root-only")
    with open(secret, "wb") as f:
        f.write(b"TOP-SECRET-" * 100)
    os.chmod(secret, 0o600)
    victim = os.path.join(trust_hub.work, "victim")
    with open(victim, "wb") as f:
        f.write(b"untouched")
    data = os.urandom(90000)
    put(srv, "sym/a.bin", data)
    put(srv, "sym/b.bin", data)
    wdir = os.path.join(trust_hub.cache, "hubfs", "weights")
    os.makedirs(wdir)
    base = "http://127.0.0.1:%d/sym/" % srv.port
    os.symlink(secret, os.path.join(wdir, key(base + "a.bin") + ".data"))   # "complete"
    os.symlink(victim, os.path.join(wdir, key(base + "b.bin") + ".part"))   # "partial"
    # a checkpoints/ name whose hash prefix the secret would satisfy
    sh = hashlib.sha256(open(secret, "rb").read()).hexdigest()[:8]
    os.makedirs(os.path.join(trust_hub.cache, "checkpoints"))
    os.symlink(secret, os.path.join(trust_hub.cache, "checkpoints", "leak-%s.bin" % sh))
    m = mount(trust_hub, srv)
    got_a = nobody_read(url_node(m, MIRROR + "sym/a.bin"))
    assert got_a == data, got_a if isinstance(got_a, str) else got_a[:20]
    got_b = nobody_read(url_node(m, MIRROR + "sym/b.bin"))
    assert isinstance(got_b, str) or got_b == data
    got_c = nobody_read(url_node(m, MIRROR + "leak-%s.bin" % sh))
    assert isinstance(got_c, str), "served the file a checkpoints/ symlink points at"
    assert open(victim, "rb").read() == b"untouched"
    assert conftest.secret_absent("TOP-SECRET", os.path.join(trust_hub.cache, "hubfs"),
                                  m.stderr_path) == []


def test_helper_as_another_user_loads_a_repos_weights(trust_hub, srv):
    """hubfs.load run by nobody on a mount where /.hubfs/url is the owner's
    only (url_access=owner, the default): the entrypoint's weight still loads,
    found among the commit's .hub/weights/ by its user.hubfs.url; a URL no
    loaded repo names fails with EACCES, saying why."""
    work = trust_hub.work
    mk = subprocess.run([TORCH_PYTHON, "-c", "import sys, torch; torch.save({'w': torch.arange(5.0)}, sys.argv[1])",
                         os.path.join(work, "sd.pth")], capture_output=True, text=True, timeout=120)
    if mk.returncode:
        pytest.skip("torch unavailable: %s" % mk.stderr[-300:])
    put(srv, "zoo/sd.pth", open(os.path.join(work, "sd.pth"), "rb").read())
    put(srv, "zoo/other.pth", b"x" * 1000)
    weights_repo(trust_hub, "carol", "zoo", {"net": MIRROR + "zoo/sd.pth"})
    m = trust_hub.mount(allow_private=False,
                        extra=["allow_other", "rewrite=%s=http://127.0.0.1:%d/" % (MIRROR, srv.port)])
    home = os.path.join(work, "nobody-home")
    os.makedirs(home)
    os.chown(home, conftest.NOBODY, conftest.NOBODY)
    code = """
import sys, errno
sys.path.insert(0, sys.argv[1])
import hubfs
sd = hubfs.load("carol/zoo:main", "net", trust_repo=True, mount=sys.argv[2])
print(sd["w"].tolist())
try:
    hubfs.load_state_dict_from_url(sys.argv[3], mount=sys.argv[2])
    print("read")
except PermissionError as e:
    print("EACCES", e)
"""
    r = conftest.as_nobody(code, os.path.join(ROOT, "py"), m.path, MIRROR + "zoo/other.pth",
                           env={"TORCH_HOME": home, "HOME": home}, timeout=180)
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip().splitlines()
    assert out[0] == str([float(i) for i in range(5)]), r.stdout
    assert out[1].startswith("EACCES") and "url_access=owner" in out[1], r.stdout
    assert srv.stats("zoo/other.pth")["get"] == 0
