"""Weight downloads through an HTTP proxy (issue 16): `-o proxy=URL`, and
libcurl's own http_proxy / no_proxy environment, against a real forward
proxy on loopback (ForwardProxy below: absolute-form GET/HEAD relayed to
the origin, CONNECT tunnelled) in front of tests/weights/httpd.py.

The proxy is the administrator's: its address may be private (here
loopback) without allow_private, while the weight URL's own loopback host
is reached only through it (docs/usage.md, Private addresses)."""

import errno
import os
import shutil
import socket
import socketserver
import tempfile
import threading

import pytest

import harness
from test_weights import MiB, Server, make_weight, url_path


class _Handler(socketserver.BaseRequestHandler):
    def _readline(self, f):
        line = f.readline(65537)
        if not line:
            raise EOFError
        return line

    def handle(self):
        px = self.server.px
        c = self.request
        f = c.makefile("rb")
        try:
            line = self._readline(f).decode("latin-1").rstrip("\r\n")
            headers = []
            while True:
                h = self._readline(f)
                if h in (b"\r\n", b"\n"):
                    break
                headers.append(h.decode("latin-1").rstrip("\r\n"))
        except (EOFError, OSError):
            return
        method, target, _ = line.split(" ", 2)
        with px.lock:
            px.requests.append((method, target))
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            try:
                u = socket.create_connection((host, int(port)), timeout=10)
            except OSError:
                c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pump(u, c, f)
            return
        if not target.startswith("http://"):
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        hostport, _, path = target[len("http://"):].partition("/")
        host, _, port = hostport.partition(":")
        try:
            u = socket.create_connection((host, int(port or 80)), timeout=10)
        except OSError:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        keep = [h for h in headers if h.split(":", 1)[0].lower() not in
                ("connection", "proxy-connection", "keep-alive")]
        req = "%s /%s HTTP/1.1\r\n%s\r\nConnection: close\r\n\r\n" % (
            method, path, "\r\n".join(keep))
        u.sendall(req.encode("latin-1"))
        # one request per connection: the origin closes, so do we
        while True:
            b = u.recv(1 << 16)
            if not b:
                break
            c.sendall(b)
            with px.lock:
                px.bytes_to_client += len(b)
        u.close()

    def _pump(self, u, c, f):
        def up():
            try:
                while True:
                    b = f.read1(1 << 16)
                    if not b:
                        break
                    u.sendall(b)
            except OSError:
                pass
            try:
                u.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        t = threading.Thread(target=up, daemon=True)
        t.start()
        try:
            while True:
                b = u.recv(1 << 16)
                if not b:
                    break
                c.sendall(b)
                with self.server.px.lock:
                    self.server.px.bytes_to_client += len(b)
        except OSError:
            pass
        u.close()


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ForwardProxy:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.bytes_to_client = 0
        self.srv = _Server(("127.0.0.1", 0), _Handler)
        self.srv.px = self
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def world():
    work = tempfile.mkdtemp(prefix="hubfs-it-proxy-", dir=os.environ.get("HUBFS_TEST_TMP", "/tmp"))
    files = os.path.join(work, "files")
    os.makedirs(files)
    srv = Server(files)
    px = ForwardProxy()
    state = {"work": work, "files": files, "srv": srv, "px": px,
             "cache": os.path.join(work, "cache"), "mounts": []}

    def mount(opts="", env_extra=None):
        env = dict(os.environ)
        for k in ("http_proxy", "https_proxy", "HTTPS_PROXY", "HTTP_PROXY", "all_proxy",
                  "ALL_PROXY", "no_proxy", "NO_PROXY"):
            env.pop(k, None)
        env.update(env_extra or {})
        m = harness.Mount(os.path.join(work, "mnt"), "cache=%s%s" % (state["cache"], opts),
                          env=env, logdir=work).start()
        state["mounts"].append(m)
        return m
    state["mount"] = mount
    yield state
    problems = []
    for m in state["mounts"]:
        if m.alive:
            problems += m.stop() or []
    px.stop()
    srv.stop()
    assert not problems, problems
    shutil.rmtree(work, ignore_errors=True)


def _read_through(world, m, name, data):
    p = url_path(m, world["srv"].url(name))
    assert harness.read_file(p, timeout=60) == data
    px = world["px"]
    gets = [t for (meth, t) in px.requests if meth == "GET" and t.endswith("/" + name)]
    assert gets, "no GET of %s went through the proxy: %r" % (name, px.requests)
    assert px.bytes_to_client >= len(data), (px.bytes_to_client, len(data))
    s = world["srv"].stats(name)
    assert s["bytes"] >= len(data), s


def test_proxy_option_carries_the_weights(world):
    """proxy=URL: every byte through the proxy; no allow_private needed for
    a loopback proxy (the weight URL's loopback host is not connected to)."""
    name, data = make_weight(world["files"], "viaopt", 3 * MiB + 17, 31)
    m = world["mount"](",proxy=" + world["px"].url)
    _read_through(world, m, name, data)
    opts = harness.read_file(m.p(".hubfs", "options")).decode()
    assert "proxy=%s\n" % world["px"].url in opts, opts


def test_http_proxy_environment_carries_the_weights(world):
    name, data = make_weight(world["files"], "viaenv", 2 * MiB + 5, 32)
    m = world["mount"](env_extra={"http_proxy": world["px"].url})
    _read_through(world, m, name, data)


def test_without_proxy_loopback_is_refused(world):
    """The control: the same URL without a proxy and without allow_private is
    refused (EPERM), so the two tests above did go through the proxy's trust."""
    name, _ = make_weight(world["files"], "noproxy", 64 * 1024, 33)
    m = world["mount"]()
    harness.expect_errno(errno.EPERM, harness.read_file, url_path(m, world["srv"].url(name)),
                         timeout=60)
    assert world["px"].requests == []


def test_no_proxy_bypasses_the_proxy_option(world):
    """no_proxy (libcurl's handling) applies to proxy= too."""
    name, data = make_weight(world["files"], "bypass", MiB + 3, 34)
    m = world["mount"](",allow_private,proxy=" + world["px"].url,
                       env_extra={"no_proxy": "127.0.0.1"})
    assert harness.read_file(url_path(m, world["srv"].url(name)), timeout=60) == data
    assert world["px"].requests == [], world["px"].requests


def test_proxy_down_fails_the_read_not_the_mount(world):
    """A proxy that refuses connections: the read fails with a clear errno,
    nothing hangs, and the mount keeps serving."""
    name, _ = make_weight(world["files"], "down", 64 * 1024, 35)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    m = world["mount"](",proxy=http://127.0.0.1:%d" % port)
    e = harness.errno_of(harness.read_file, url_path(m, world["srv"].url(name)), timeout=120)
    assert e in (errno.ECONNREFUSED, errno.EIO), errno.errorcode.get(e, e)
    assert harness.read_file(m.p(".hubfs", "version"))


@pytest.mark.parametrize("bad", ["proxy=", "proxy"])
def test_bad_proxy_option(world, bad):
    p = harness.run([harness.HUBFS_BIN, "-f", "-o", bad, os.path.join(world["work"], "files")],
                    timeout=20)
    lines = [l for l in p.stderr.decode().splitlines() if l.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "proxy" in lines[0], (p.returncode, lines)


def _tls_fixtures():
    import importlib.util
    path = os.path.join(harness.ROOT, "tests", "trust", "tls_git.py")
    spec = importlib.util.spec_from_file_location("hubfs_tls_git", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_https_weights_through_a_connect_tunnel(world):
    """https_proxy from the environment: an https weight URL goes through a
    CONNECT tunnel, TLS verified end to end (the test CA through
    CURL_CA_BUNDLE), every byte through the proxy."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    pki = _tls_fixtures().make_pki(os.path.join(world["work"], "pki"))
    tls_root = os.path.join(world["work"], "tlsfiles")
    os.makedirs(tls_root)
    name, data = make_weight(tls_root, "tunnel", 2 * MiB + 9, 36)
    cert, key = pki["ip"]
    proc, port = harness.start_httpd(tls_root, os.path.join(world["work"], "tls.port"),
                                     cert=cert, key=key)
    try:
        m = world["mount"](env_extra={"https_proxy": world["px"].url,
                                      "CURL_CA_BUNDLE": pki["ca"]})
        url = "https://127.0.0.1:%d/%s" % (port, name)
        assert harness.read_file(url_path(m, url), timeout=60) == data
        px = world["px"]
        assert ("CONNECT", "127.0.0.1:%d" % port) in px.requests, px.requests
        assert px.bytes_to_client >= len(data)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)
