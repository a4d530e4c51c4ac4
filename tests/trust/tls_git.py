"""TLS fixtures of the credentials tests (test_credentials.py), stdlib and
the openssl command only:

  make_pki(dir)     a private CA and two server certificates signed by it:
                    "github.com" (DNS:github.com) and "127.0.0.1" (IP and DNS
                    127.0.0.1: mbedTLS, under Debian's libgit2, matches names
                    only).  Returns {"ca", "github": (cert, key), "ip": (cert, key)}.
  GitHTTPS          git smart HTTP over TLS on 127.0.0.1 (git http-backend,
                    through tests/unit/fetch/git_http_server.py's handler),
                    recording every request line and header.  With want_auth
                    set, a request without exactly that Authorization gets
                    401 and "WWW-Authenticate: Basic", as GitHub answers, so
                    that libgit2 asks its credentials callback.
  ConnectProxy      an HTTP proxy that only does CONNECT, recording each
                    request; CONNECT to a routed "host:port" is tunnelled to a
                    local port (github.com:443 -> a GitHTTPS), anything else
                    gets 403.  Names reach hubfs's libgit2 through https_proxy,
                    so no /etc/hosts entry and no DNS are needed.
"""
import base64
import importlib.util
import os
import select
import socket
import socketserver
import ssl
import subprocess
import threading

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "hubfs_git_http_server", os.path.join(_TESTS, "unit", "fetch", "git_http_server.py"))
gitsrv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gitsrv)


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, timeout=60)


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "2", "-subj", "/CN=hubfs test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    out = {"ca": os.path.join(d, "ca.pem")}
    for name, cn, san in (("github", "github.com", "DNS:github.com"),
                          ("ip", "127.0.0.1", "IP:127.0.0.1,DNS:127.0.0.1")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                    % san)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
                 "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
                 "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
        out[name] = (os.path.join(d, name + ".pem"), os.path.join(d, name + ".key"))
    return out


class _Handler(gitsrv.Handler):
    def _handle(self):
        srv = self.server
        with srv.lock:
            srv.requests.append((self.command, self.path, list(self.headers.items())))
        if srv.want_auth is not None and self.headers.get("Authorization") != srv.want_auth:
            if self.command == "POST":
                self._body()
            self._reply(401, b"authentication required\n",
                        [("WWW-Authenticate", 'Basic realm="hubfs-test"')])
            return
        super()._handle()

    do_GET = _handle  # the base class bound its own _handle
    do_POST = _handle


class _TLSServer(socketserver.ThreadingMixIn, gitsrv.http.server.HTTPServer):
    daemon_threads = True


class GitHTTPS:
    """Serves the bare repositories under root (root/<owner>/<repo>.git)."""

    def __init__(self, root, cert, key, want_auth=None):
        gitsrv.ROOT = root  # the handler's module global: one root for every server
        self.srv = _TLSServer(("127.0.0.1", 0), _Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.srv.requests = []
        self.srv.lock = threading.Lock()
        self.srv.want_auth = want_auth
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True,
                                       name="git-https-%d" % self.port)
        self.thread.start()

    @property
    def requests(self):
        """[(method, path, [(header, value), ...]), ...] in arrival order."""
        with self.srv.lock:
            return list(self.srv.requests)

    def header_values(self, name):
        return [v for _, _, hs in self.requests for k, v in hs if k.lower() == name.lower()]

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class _ProxyHandler(socketserver.BaseRequestHandler):
    def handle(self):
        c = self.request
        c.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = c.recv(4096)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, _, target = lines[0].partition(" ")
        target = target.rsplit(" ", 1)[0]
        headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]
        with self.server.lock:
            self.server.requests.append((method, target, headers))
        route = self.server.routes.get(target.lower()) if method == "CONNECT" else None
        if route is None:
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        try:
            u = socket.create_connection(("127.0.0.1", route), timeout=10)
        except OSError:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            u.sendall(rest)
        socks = [c, u]
        try:
            while True:
                r, _, _ = select.select(socks, [], [], 30)
                if not r:
                    break
                for s in r:
                    b = s.recv(65536)
                    if not b:
                        return
                    (u if s is c else c).sendall(b)
        except OSError:
            pass
        finally:
            u.close()


class _ThreadingTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ConnectProxy:
    def __init__(self, routes):
        """routes: {"github.com:443": local_port}."""
        self.srv = _ThreadingTCP(("127.0.0.1", 0), _ProxyHandler)
        self.srv.routes = {k.lower(): v for k, v in routes.items()}
        self.srv.requests = []
        self.srv.lock = threading.Lock()
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True,
                                       name="connect-proxy")
        self.thread.start()

    @property
    def requests(self):
        with self.srv.lock:
            return list(self.srv.requests)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
