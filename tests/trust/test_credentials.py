"""Credentials: where GITHUB_TOKEN goes, and what other users and the log see.

GITHUB_TOKEN (fetch/git.h): the token goes to github.com, or to a host that
token_host= names, judged on the host actually fetched after the rewrite
rules.  Here "github.com" is a local TLS git server (its certificate says
github.com, signed by a test CA given through SSL_CERT_FILE and
GIT_SSL_CAINFO) reached through an HTTPS CONNECT proxy named by https_proxy,
and the mirror another TLS git server on 127.0.0.1; both record every request
header and answer 401 "WWW-Authenticate: Basic" to a request without the
token, as GitHub does (tls_git.py).

Redaction (base/redact.h): user:password@ of a rewrite target or git_url, the
query of a signed weight URL and control characters never reach
/.hubfs/options, /.hubfs/downloads, `hubfs status` (run as another user)
nor the daemon's log.
"""
import errno
import importlib.util
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import harness
import tls_git


def _trust_conftest():
    """tests/trust/conftest.py as a module: "import conftest" names whichever
    conftest pytest imported last (the integration suite's, when both run)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conftest.py")
    for m in list(sys.modules.values()):
        if getattr(m, "__file__", None) == path:
            return m
    spec = importlib.util.spec_from_file_location("hubfs_trust_conftest_credentials", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


conftest = _trust_conftest()

TOKEN = "s3cr3t-GITHUB-TOKEN-4711"
WANT = tls_git.basic("x-access-token", TOKEN)
B64 = WANT.split()[1]
PASSWORD = "pa55word"
SIG = "SECRETSIG"
HTTPD = os.path.join(conftest._TESTS, "weights", "httpd.py")
PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")


class World:
    """The CA, "github.com", the mirror and the proxy for one test."""

    def __init__(self, hub, mirror_auth=WANT):
        self.hub = hub
        self.pki = tls_git.make_pki(os.path.join(hub.work, "pki"))
        self.github = tls_git.GitHTTPS(hub.base, *self.pki["github"], want_auth=WANT)
        self.mirror = tls_git.GitHTTPS(hub.base, *self.pki["ip"], want_auth=mirror_auth)
        self.proxy = tls_git.ConnectProxy({"github.com:443": self.github.port})

    def env(self, token=True, proxy=False):
        e = self.hub.env()
        for k in PROXY_VARS:
            e.pop(k, None)
        e["SSL_CERT_FILE"] = e["GIT_SSL_CAINFO"] = e["CURL_CA_BUNDLE"] = self.pki["ca"]
        if token:
            e["GITHUB_TOKEN"] = TOKEN
        if proxy:
            e["https_proxy"] = e["HTTPS_PROXY"] = self.proxy.url
        return e

    def mirror_url(self, userinfo=""):
        return "https://%s127.0.0.1:%d/" % (userinfo, self.mirror.port)

    def stop(self):
        for s in (self.github, self.mirror, self.proxy):
            s.stop()


@pytest.fixture
def world(trust_hub):
    w = World(trust_hub)
    yield w
    w.stop()


def mount(hub, env, extra):
    """hub.mount with our environment (Hub.env() drops GITHUB_TOKEN) and no
    rewrite of the harness's own."""
    m = harness.Mount(hub.mnt, hub.options(rewrite=False, extra=extra), env=env,
                      logdir=hub.logs)
    hub.mounts.append(m)
    m.start()
    hub.current = m
    return m


def token_in(requests):
    """Requests (method, target, headers) that carry the token in any form."""
    return [(m, p) for m, p, hs in requests
            if any(TOKEN in v or B64 in v or TOKEN in p for _, v in hs)]


def log_of(m):
    with open(m.stderr_path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# GITHUB_TOKEN
# --------------------------------------------------------------------------

@pytest.mark.timeout_s(120)
def test_token_never_goes_to_a_rewrite_mirror(trust_hub, world):
    m = mount(trust_hub, world.env(), ["rewrite=https://github.com/=" + world.mirror_url()])
    t0 = time.monotonic()
    harness.expect_errno((errno.ENOENT, errno.EACCES), os.readlink,
                         trust_hub.p("alice", "vision"), timeout=40)
    assert time.monotonic() - t0 < 30, "the refused lookup took %.1fs" % (time.monotonic() - t0)
    assert world.mirror.requests, "the mirror was never asked"
    assert world.mirror.header_values("Authorization") == []
    assert token_in(world.mirror.requests) == []
    assert world.github.requests == [] and world.proxy.requests == []
    trust_hub.unmount()
    log = log_of(m)
    assert TOKEN.encode() not in log and B64.encode() not in log
    assert b"GITHUB_TOKEN was not sent" in log, log.decode(errors="replace")[-3000:]


@pytest.mark.timeout_s(120)
def test_token_goes_to_github_through_a_proxy(trust_hub, world):
    m = mount(trust_hub, world.env(proxy=True), [])
    assert harness.readlink(trust_hub.p("alice", "vision")) == "vision:main"
    sha = harness.read_file(trust_hub.p("alice", "vision:main", ".hub", "commit"), timeout=60)
    assert sha.decode().strip() == trust_hub.rev("alice", "vision", "main")
    reqs = world.github.requests
    assert any(method == "POST" for method, _, _ in reqs), "no fetch reached github.com"
    for method, path, hs in reqs:  # from the first request on
        assert dict((k.lower(), v) for k, v in hs).get("authorization") == WANT, (method, path)
    assert {(mth, target) for mth, target, _ in world.proxy.requests} == {
        ("CONNECT", "github.com:443")}
    assert token_in(world.proxy.requests) == [], "the proxy saw the token"
    assert world.mirror.requests == []
    trust_hub.unmount()
    log = log_of(m)
    assert TOKEN.encode() not in log and B64.encode() not in log


@pytest.mark.timeout_s(120)
def test_token_host_names_the_mirror(trust_hub, world):
    m = mount(trust_hub, world.env(), ["rewrite=https://github.com/=" + world.mirror_url(),
                                       "token_host=127.0.0.1"])
    assert harness.readlink(trust_hub.p("alice", "vision")) == "vision:main"
    sha = harness.read_file(trust_hub.p("alice", "vision:main", ".hub", "commit"), timeout=60)
    assert sha.decode().strip() == trust_hub.rev("alice", "vision", "main")
    assert world.mirror.requests
    assert set(world.mirror.header_values("Authorization")) == {WANT}
    assert len(world.mirror.header_values("Authorization")) == len(world.mirror.requests)
    assert world.github.requests == [] and world.proxy.requests == []
    opts = harness.read_file(trust_hub.p(".hubfs", "options")).decode()
    assert "token_host=127.0.0.1\n" in opts
    trust_hub.unmount()
    assert TOKEN.encode() not in log_of(m)


# --------------------------------------------------------------------------
# redaction
# --------------------------------------------------------------------------

class WeightServer:
    """tests/weights/httpd.py on 127.0.0.1 (plain http, for weight files)."""

    def __init__(self, work):
        self.root = os.path.join(work, "files")
        os.makedirs(self.root, exist_ok=True)
        port_file = os.path.join(work, "httpd.port")
        self.proc = subprocess.Popen(["/usr/bin/python3", HTTPD, "--root", self.root,
                                      "--port", "0", "--port-file", port_file],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        harness.poll_until(lambda: os.path.exists(port_file) and open(port_file).read().strip(),
                           15, what="httpd port file")
        self.port = int(open(port_file).read().strip())
        harness.wait_accepting(self.port, 10)

    def add(self, name, size):
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(os.urandom(size))

    def ctl(self, q):
        with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (self.port, q), timeout=10) as r:
            return r.read()

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


@pytest.fixture
def weights(trust_hub):
    s = WeightServer(trust_hub.work)
    yield s
    s.stop()


def url_path(hub, url):
    return hub.p(".hubfs", "url", url.replace("%", "%25").replace("/", "%2F"))


def redaction_mount(hub, world, weights):
    """Credentials in git_url and in a rewrite target; weight URLs of
    https://weights.example/ go to the weight server with user:password@."""
    extra = ["allow_other", "allow_private",
             "git_url=https://gituser:%s@127.0.0.1:%d/{owner}/{repo}.git"
             % (PASSWORD, world.mirror.port),
             "rewrite=https://github.com/=" + world.mirror_url("user:%s@" % PASSWORD),
             "rewrite=https://weights.example/=http://wuser:%s@127.0.0.1:%d/"
             % (PASSWORD, weights.port)]
    return mount(hub, world.env(), extra)


def nobody_reads(path):
    r = conftest.as_nobody("import sys; sys.stdout.write(open(sys.argv[1], 'rb').read().hex())",
                           path)
    assert r.returncode == 0, r.stderr
    return bytes.fromhex(r.stdout)


def nobody_status(mnt):
    r = conftest.as_nobody(
        "import subprocess, sys\n"
        "p = subprocess.run([sys.argv[1], 'status', sys.argv[2]], capture_output=True, timeout=30)\n"
        "sys.stdout.write('%d %s %s' % (p.returncode, p.stdout.hex(), p.stderr.hex()))",
        harness.HUBFS_BIN, mnt)
    assert r.returncode == 0, r.stderr
    rc, out, err = r.stdout.split(" ")
    return int(rc), bytes.fromhex(out), bytes.fromhex(err)


def raw_controls(data):
    """Control bytes other than the newlines that end lines."""
    return sorted({b for b in data if (b < 0x20 and b != 0x0a) or b == 0x7f})


SECRETS = (PASSWORD, SIG, TOKEN, B64)


def assert_clean(what, data):
    for s in SECRETS:
        assert s.encode() not in data, "%s shows %r:\n%s" % (what, s, data.decode(errors="replace"))


@pytest.mark.timeout_s(150)
def test_secrets_redacted_in_options_status_and_log(trust_hub, weights):
    w = World(trust_hub, mirror_auth=None)
    try:
        m = redaction_mount(trust_hub, w, weights)
        # git: a fetch through git_url's credentials (logged with its URL)
        assert harness.readlink(trust_hub.p("alice", "vision")) == "vision:main"
        harness.read_file(trust_hub.p("alice", "vision:main", ".hub", "commit"), timeout=60)
        # weights: a signed URL that works, and some that fail and are logged
        weights.add("w.pth", 64 * 1024)
        good = "https://weights.example/w.pth?X-Amz-Signature=%s&X-Amz-Credential=AK" % SIG
        assert len(harness.read_file(url_path(trust_hub, good), timeout=60)) == 64 * 1024
        for bad in ("https://weights.example/missing.pth?X-Amz-Signature=%s" % SIG,
                    "https://weights.example/d%%1bir/e.pth?X-Amz-Signature=%s%%1b[2J" % SIG,
                    "https://weights.example/c.pth?X-Amz-Signature=%s\x1b[31m" % SIG,
                    "https://weights.example/d\x1b[2Jir/c2.pth?sig=%s" % SIG):
            assert harness.errno_of(os.stat, url_path(trust_hub, bad), timeout=60) != 0, bad

        opts = nobody_reads(trust_hub.p(".hubfs", "options"))
        assert_clean("/.hubfs/options", opts)
        assert raw_controls(opts) == []
        text = opts.decode()
        assert "git_url=https://***@127.0.0.1:%d/{owner}/{repo}.git\n" % w.mirror.port in text
        assert "rewrite=https://github.com/=https://***@127.0.0.1:%d/\n" % w.mirror.port in text
        assert ("rewrite=https://weights.example/=http://***@127.0.0.1:%d/\n" % weights.port
                in text)

        rc, out, err = nobody_status(trust_hub.mnt)
        assert rc == 0, err
        assert_clean("hubfs status", out + err)
        assert raw_controls(out + err) == [], out

        trust_hub.unmount()
        log = log_of(m)
        assert_clean("the daemon's log", log)
        assert raw_controls(log) == [], [l for l in log.splitlines() if raw_controls(l)][:5]
        assert b"***@127.0.0.1" in log, "no git URL was logged at all"
        assert b"?***" in log, "no weight URL was logged at all"
        assert conftest.secret_absent(PASSWORD, trust_hub.logs, trust_hub.mnt) == []
    finally:
        w.stop()


@pytest.mark.timeout_s(150)
def test_downloads_redacted_for_other_users(trust_hub, weights):
    """/.hubfs/downloads: an in-flight and a failed signed URL, read by nobody
    and drawn by `hubfs status` run as nobody: no secret, no raw control
    byte."""
    w = World(trust_hub, mirror_auth=None)
    try:
        redaction_mount(trust_hub, w, weights)
        weights.add("slow.pth", 3 << 20)
        weights.add("denied.pth", 1024)
        weights.ctl("_fault?path=/slow.pth&mode=throttle&rate=%d" % (512 << 10))
        weights.ctl("_fault?path=/denied.pth&mode=status&code=403&times=1000")
        slow = "https://weights.example/slow.pth?X-Amz-Signature=%s" % SIG
        denied = "https://weights.example/denied.pth?X-Amz-Signature=%s" % SIG
        assert harness.errno_of(harness.read_file, url_path(trust_hub, denied), timeout=60) != 0
        t = threading.Thread(target=lambda: harness.errno_of(
            harness.read_file, url_path(trust_hub, slow), timeout=120), daemon=True)
        t.start()
        try:
            path = trust_hub.p(".hubfs", "downloads")
            harness.poll_until(lambda: b"slow.pth" in harness.read_file(path), 30,
                               what="slow.pth in flight in /.hubfs/downloads")
            dl = nobody_reads(path)
            rc, out, err = nobody_status(trust_hub.mnt)
        finally:
            t.join(120)
        assert b"denied.pth" in dl, dl
        assert rc == 0, err
        assert raw_controls(dl) == [] and raw_controls(out + err) == []
        assert b"slow.pth" in out and b"denied.pth" in out, out
    finally:
        w.stop()
    leaks = ["%s in %s" % (s, where) for where, data in (("downloads", dl), ("status", out + err))
             for s in SECRETS if s.encode() in data]
    assert not leaks, leaks


def test_status_escapes_control_characters(trust_hub):
    """`hubfs status` prints what /.hubfs/ files hold with control bytes
    escaped: a forged file tree stands in for a daemon that reports a
    hostile name (hubfs status reads files, whoever serves them)."""
    d = pathlib.Path(trust_hub.work) / "fake"
    (d / ".hubfs").mkdir(parents=True)
    (d / ".hubfs" / "version").write_bytes(b"hubfs 0.1.0\x1b]0;title\x07\n")
    (d / ".hubfs" / "downloads").write_bytes(
        b"ev\x1b[2Jil.pth 10 100 5 https://h/x\n"
        b"failed bad\rname.pth not-found https://h/y?\x1b[31mred\n"
        b"garbage \x7f\x08 line\n")
    (d / ".hubfs" / "counters").write_bytes(b"ls_remote 1\x1b[A\n")
    (d / ".hubfs" / "stale").write_bytes(b"a/b:main\x1bc 0123\n")
    for p in (d, d / ".hubfs"):
        os.chmod(p, 0o755)
    for f in (d / ".hubfs").iterdir():
        os.chmod(f, 0o644)
    rc, out, err = nobody_status(str(d))
    assert rc == 0, err
    assert raw_controls(out) == [], out
    text = out.decode()
    for want in ("ev\\x1b[2Jil.pth", "bad\\x0dname.pth", "\\x1b[31mred", "\\x7f\\x08",
                 "\\x1b]0;title\\x07", "ls_remote 1\\x1b[A", "main\\x1bc"):
        assert want in text, (want, text)
