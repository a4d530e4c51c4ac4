"""Weight downloads and private addresses: a root daemon must not become a
way for any user to reach loopback, private or link-local services.

Every mount here is made WITHOUT allow_private (unless the test says so), by
root, with allow_other, and a second user (nobody) tries:
  - /.hubfs/url is the mount owner's (url_access=owner, the default):
    nobody gets EACCES on lookups, listing and reads;
  - with url_access=all, or for the owner, a private URL (127.0.0.1, a
    169.254 metadata address) answers EPERM, logged with host and address
    and without the query string, and no request reaches the local server;
    allow_private lets the owner read it;
  - a weight that a repository's hubconf names on 127.0.0.1 fails with EPERM;
  - an https rewrite target (an administrator's rule: trusted, may be
    private) cannot redirect to http (EPROTONOSUPPORT) nor to another private
    host:port (EPERM); to its own host:port it may.
Servers: tests/weights/httpd.py on 127.0.0.1 (plain, and TLS with a
certificate for localhost made here, trusted through SSL_CERT_FILE), whose
/_stats counts every request that reached it.
"""
import errno
import json
import os
import random
import shutil
import ssl
import time
import urllib.request

import importlib.util

import pytest

import harness
import make_repos

HERE = os.path.dirname(os.path.abspath(__file__))
# this suite's conftest by path: run together with tests/integration, the
# module named "conftest" may be that suite's
_spec = importlib.util.spec_from_file_location("hubfs_trust_conftest_private",
                                               os.path.join(HERE, "conftest.py"))
conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conftest)
METADATA = "http://169.254.169.254/latest/meta-data/creds.bin"

# as nobody: the errno name of os.stat / of reading a path ("ok" on success)
STAT = """
import errno, os, sys
try:
    os.stat(sys.argv[1]); print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
"""
READ = """
import errno, sys
try:
    open(sys.argv[1], "rb").read(); print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
"""
LIST = """
import errno, os, sys
try:
    os.listdir(sys.argv[1]); print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
"""


class Httpd:
    """httpd.py on 127.0.0.1; TLS (https://localhost:PORT) with cert/key."""

    def __init__(self, root, work, cert=None, key=None, name="httpd"):
        self.cert = cert
        self.proc, self.port = harness.start_httpd(root, os.path.join(work, name + ".port"), cert, key)
        self.base = ("https://localhost:%d" if cert else "http://127.0.0.1:%d") % self.port

    def url(self, path):
        return "%s/%s" % (self.base, path.lstrip("/"))

    def stats(self):
        """Every request that reached the server: {path: counters}."""
        ctx = ssl.create_default_context(cafile=self.cert) if self.cert else None
        with urllib.request.urlopen(self.url("_stats"), timeout=10, context=ctx) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(10)


@pytest.fixture
def world(trust_hub):
    """Weight files, a plain server, and a work dir; servers stopped at the end."""
    work = os.path.join(trust_hub.work, "weights")
    files = os.path.join(work, "files")
    os.makedirs(files)
    data = random.Random(7).randbytes(300 * 1024)
    # one name per case: a file fetched (or failed) once is not asked again
    for n in ("x.bin", "a.bin", "b.bin", "c.bin", "good.bin", "red.bin", "down.bin", "far.bin",
              "direct.bin", "other.bin", "w.pth"):
        with open(os.path.join(files, n), "wb") as f:
            f.write(data)
    w = {"work": work, "files": files, "data": data, "servers": []}
    w["srv"] = Httpd(files, work)
    w["servers"].append(w["srv"])
    yield w
    for s in w["servers"]:
        s.stop()


def url_path(mnt, url):
    return os.path.join(mnt, ".hubfs", "url", url.replace("%", "%25").replace("/", "%2F"))


def nobody(code, path):
    r = conftest.as_nobody(code, path)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def downloads(mnt):
    return harness.read_file(os.path.join(mnt, ".hubfs", "downloads")).decode()


def test_url_dir_is_the_owners_by_default(trust_hub, world):
    m = trust_hub.mount(extra=["allow_other"], allow_private=False)
    srv = world["srv"]
    for url in (srv.url("x.bin"), METADATA):
        p = url_path(m.path, url)
        assert nobody(STAT, p) == "EACCES", url
        assert nobody(READ, p) == "EACCES", url
    assert nobody(LIST, os.path.join(m.path, ".hubfs", "url")) == "EACCES"
    assert srv.stats() == {}, "a refused user's lookup reached the server"
    # the rest of the mount is still everyone's
    assert nobody(READ, m.p(".hubfs", "version")) == "ok"
    mode = os.stat(os.path.join(m.path, ".hubfs", "url")).st_mode & 0o777
    assert mode == 0o500, oct(mode)
    # the owner's lookup of the loopback URL: refused by the address policy
    harness.expect_errno(errno.EPERM, os.stat, url_path(m.path, srv.url("x.bin")))
    assert srv.stats() == {}


def test_url_access_all_refuses_private_addresses(trust_hub, world):
    m = trust_hub.mount(extra=["allow_other", "url_access=all"], allow_private=False)
    srv = world["srv"]
    secret = "tok3n-%d" % os.getpid()
    urls = [srv.url("x.bin?sig=" + secret), "http://localhost:%d/a.bin" % srv.port, METADATA,
            "http://[::1]:%d/b.bin" % srv.port, "http://[::ffff:127.0.0.1]:%d/c.bin" % srv.port]
    for url in urls:
        t0 = time.monotonic()
        assert nobody(STAT, url_path(m.path, url)) == "EPERM", url
        assert time.monotonic() - t0 < 10, "%s: not refused at once" % url
    # reading answers the same (the failure is remembered: still no request)
    assert nobody(READ, url_path(m.path, srv.url("x.bin"))) == "EPERM"
    assert nobody(LIST, os.path.join(m.path, ".hubfs", "url")) == "ok"
    assert srv.stats() == {}, "a request reached the loopback server"
    log = m.stderr()
    assert "refused to connect to 127.0.0.1 (loopback address" in log, log[-3000:]
    assert "refused to connect to 169.254.169.254 (link-local address" in log, log[-3000:]
    assert "http://127.0.0.1:%d/x.bin" % srv.port in log
    assert secret not in log, "the query string was logged"
    assert secret not in downloads(m.path)
    failed = [l for l in downloads(m.path).splitlines() if l.startswith("failed x.bin ")]
    assert failed, downloads(m.path)


def test_downloads_names_the_private_address_reason(trust_hub, world):
    m = trust_hub.mount(allow_private=False)
    harness.expect_errno(errno.EPERM, os.stat, url_path(m.path, world["srv"].url("x.bin")))
    assert "failed x.bin private-address " in downloads(m.path)


def test_allow_private_lets_the_owner_read(trust_hub, world):
    m = trust_hub.mount(extra=["allow_other"], allow_private=True)
    srv = world["srv"]
    p = url_path(m.path, srv.url("x.bin"))
    assert harness.read_file(p, timeout=30) == world["data"]
    assert srv.stats()["/x.bin"]["get"] >= 1
    # still the owner's alone
    assert nobody(STAT, p) == "EACCES"
    assert nobody(READ, p) == "EACCES"
    opts = harness.read_file(m.p(".hubfs", "options")).decode()
    assert "allow_private=1\n" in opts and "url_access=owner\n" in opts, opts


def test_a_repo_naming_a_private_weight_fails_clearly(trust_hub, world):
    srv = world["srv"]
    make_repos.create_repo(trust_hub.base, "alice", "privw", files={
        "hubconf.py": "from torch.hub import load_state_dict_from_url\n"
                      "dependencies = ['torch']\n"
                      "def net(pretrained=False):\n"
                      "    '''Net.'''\n"
                      "    return load_state_dict_from_url('%s')\n" % srv.url("w.pth"),
    })
    m = trust_hub.mount(extra=["allow_other"], allow_private=False)
    d = harness.call(os.path.realpath, m.p("alice", "privw:main"), timeout=60)
    wdir = os.path.join(d, ".hub", "weights")
    assert harness.call(os.listdir, wdir, timeout=60) == ["w.pth"]
    w = os.path.join(wdir, "w.pth")
    harness.expect_errno(errno.EPERM, os.stat, w)
    harness.expect_errno(errno.EPERM, harness.read_file, w)
    assert nobody(READ, w) == "EPERM"
    assert srv.stats() == {}, "the repo's private weight URL was fetched"
    assert "refused to connect to 127.0.0.1 (loopback address" in m.stderr()
    trust_hub.unmount()
    # the same repo with allow_private: the weight is served
    m = trust_hub.mount(allow_private=True)
    w = os.path.join(harness.call(os.path.realpath, m.p("alice", "privw:main"), timeout=60),
                     ".hub", "weights", "w.pth")
    assert harness.read_file(w, timeout=30) == world["data"]


def _make_cert(work):
    """cert.pem/key.pem for localhost (self-signed: it is its own CA)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed for the TLS server")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    harness.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                 "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost"], check=True, timeout=60)
    return cert, key


def test_https_rewrite_target_redirects(trust_hub, world, monkeypatch):
    cert, key = _make_cert(world["work"])
    tls = Httpd(world["files"], world["work"], cert, key, name="tls")
    world["servers"].append(tls)
    other = Httpd(world["files"], world["work"], cert, key, name="tls2")
    world["servers"].append(other)
    plain = world["srv"]
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    m = trust_hub.mount(extra=["allow_other", "rewrite=https://weights.example/=%s/" % tls.base],
                        allow_private=False)

    def via_rule(path):
        return url_path(m.path, "https://weights.example/" + path)

    # the rule's target is private (localhost) and trusted: it works, and so
    # does a redirect to its own host:port
    assert harness.read_file(via_rule("good.bin"), timeout=30) == world["data"]
    assert harness.read_file(via_rule("r/red.bin"), timeout=30) == world["data"]
    assert tls.stats()["/red.bin"]["get"] >= 1
    # https -> http: refused, nothing reaches the plain server
    harness.expect_errno(errno.EPROTONOSUPPORT, os.stat,
                         via_rule("down.bin?fault=redirect&to=%s" % plain.url("down.bin")))
    assert plain.stats() == {}
    # https -> another private host:port (still https): refused before connecting
    harness.expect_errno(errno.EPERM, os.stat,
                         via_rule("far.bin?fault=redirect&to=%s" % other.url("far.bin")))
    assert other.stats() == {}
    log = m.stderr()
    assert "https is never downgraded to http" in log, log[-3000:]
    assert "not the rewrite target's host:port" in log, log[-3000:]
    # the target's own URL named directly is what the rule produces: trusted too
    assert harness.read_file(url_path(m.path, tls.url("direct.bin")), timeout=30) == world["data"]
    # but the same server under another name is not
    harness.expect_errno(errno.EPERM, os.stat,
                         url_path(m.path, "https://127.0.0.1:%d/other.bin" % tls.port))
