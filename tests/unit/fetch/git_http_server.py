#!/usr/bin/python3
"""Smart-HTTP git server for test_git.c: git http-backend behind a tiny
HTTP/1.1 server, plus paths that fail on purpose.  Stdlib only.

    git_http_server.py ROOT PORTFILE [--tls CERT KEY]

Binds 127.0.0.1 on a free port, writes the port to PORTFILE, serves until
killed.  URL paths:
    /status/CODE/...       answers CODE (404, 500, 503 ...) to everything
    /auth/TOKEN/REPO...    needs HTTP Basic x-access-token:TOKEN, else 401
    /REPO...               git http-backend on ROOT/REPO (export-all)
"""

import base64
import http.server
import os
import socketserver
import ssl
import subprocess
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: ctest output stays readable
        pass

    def _reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _handle(self):
        body = self._body() if self.command == "POST" else b""
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        if len(parts) > 2 and parts[1] == "status":
            self._reply(int(parts[2]), b"failing on purpose\n")
            return
        if len(parts) > 2 and parts[1] == "auth":
            want = "Basic " + base64.b64encode(
                ("x-access-token:" + parts[2]).encode()).decode()
            if self.headers.get("Authorization") != want:
                self._reply(401, b"auth\n", [("WWW-Authenticate", 'Basic realm="t"')])
                return
            path = "/" + "/".join(parts[3:])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             stdout=subprocess.PIPE, check=False).stdout
        head, _, content = out.partition(b"\r\n\r\n")
        if not _:
            head, _, content = out.partition(b"\n\n")
        code, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                code = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self._reply(code, content, headers)

    do_GET = _handle
    do_POST = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    ROOT = sys.argv[1]
    srv = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) > 5 and sys.argv[3] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, sys.argv[2])
    srv.serve_forever()
