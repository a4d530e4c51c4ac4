#!/usr/bin/python3
"""HTTP/1.1 file server for hubfs's weight-download tests (stdlib only).

Serves the files of --root on 127.0.0.1 with Range support (one range per
request), keep-alive, ETag and Accept-Ranges, and fault modes per path, set
through a control endpoint or the request's query string:

  GET /_fault?path=/f.bin&mode=MODE[&times=N][&PARAMS]   add a fault (several may be set)
  GET /_reset                                          clear faults and counters
  GET /_stats                                          JSON: per path {get, head, bytes, ranges, faults}
  GET /f.bin?fault=MODE&PARAMS                          a fault for this request only

path=* sets a fault for every path.  prob=P applies a fault to each request
with probability P (only applied requests use up times); seed=S makes that
(and at=rand) reproducible.  cut at=rand cuts at a random offset of the body.
times: how many requests the fault applies to (default: every request for
norange, nolen, chunked, throttle, nohead, etag, slowstart; 1 for the others).
on: which requests it applies to (and counts): get, head or any.  Default:
head for nohead; any for nolen, chunked, redirect, etag; get for the others
(so a HEAD before the download does not use up a fault meant for the body).
A cut, stall or wrong fault at an offset a closed Range (bytes=A-B) cannot
reach is not applied to that request either (hubfs's lookup GETs a file's
first 64 KiB: that request does not use up a fault meant for the download).
Modes and their parameters:
  cut      at=N          send N body bytes (of this response), then close the connection
  status   code=C [retry_after=S]  answer C (503, 429, 404...) with an empty body
  stall    at=N secs=S   send N body bytes, sleep S seconds, go on
  slowstart secs=S       sleep S seconds before the status line
  wrong    at=N          the byte at file offset N is served inverted
  nolen                  no Content-Length; the body ends when the connection closes
  chunked                Transfer-Encoding: chunked, no Content-Length
  norange                ignore Range: always 200 with the whole file
  redirect to=/path      302 to another path (or absolute URL)
  throttle rate=B        send at most B bytes per second
  nohead                 HEAD answers 405
  etag     value=V       send ETag V instead of the file's
  badrange               a 206 whose Content-Range starts 1 byte later than asked
Also: /r/<path> always redirects (302) to /<path>.

Usage: httpd.py --root DIR [--port 0] [--port-file FILE] [--cert PEM --key PEM]
With --cert/--key it speaks HTTPS (for the TLS verification tests).
The port actually bound is printed on stdout (and written to --port-file).
"""
import argparse
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 256 * 1024
ALWAYS = {"norange", "nolen", "chunked", "throttle", "nohead", "etag", "slowstart"}
ON_DEFAULT = {"nohead": "head", "nolen": "any", "chunked": "any", "redirect": "any", "etag": "any"}


class State:
    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.lock = threading.Lock()
        self.faults = {}  # path -> list of dicts (mode, times, params); "*": every path
        self.stats = {}
        self.rng = random.Random(0)

    def stat(self, path):
        return self.stats.setdefault(path, {"get": 0, "head": 0, "bytes": 0, "ranges": []})

    def take_faults(self, path, head, range_hdr=None):
        """The faults that apply to this request (consuming their counts)."""
        out = []
        kind = "head" if head else "get"
        closed = parse_range(range_hdr, 1 << 62)  # bytes=A-B: (A, B)
        with self.lock:
            for key in (path, "*"):
                lst = self.faults.get(key, [])
                for f in lst:
                    if f["on"] not in ("any", kind):
                        continue
                    if isinstance(closed, tuple) and unreachable(f, closed):
                        continue
                    if "prob" in f and self.rng.random() >= float(f["prob"]):
                        continue
                    if f["times"] != 0:
                        out.append(dict(f))
                        if f["times"] > 0:
                            f["times"] -= 1
                if key in self.faults:
                    self.faults[key] = [f for f in lst if f["times"] != 0]
        return out

    def rand_below(self, n):
        with self.lock:
            return self.rng.randrange(max(1, n))


def unreachable(f, rng):
    """A fault at a body offset (cut, stall) or file offset (wrong) that a
    request for the closed range rng=(a, b) cannot reach (hubfs's GET of a
    file's first bytes at lookup): not applied, its count not used up."""
    at = f.get("at")
    if at is None or at == "rand":
        return False
    at = int(at)
    a, b = rng
    if f["mode"] in ("cut", "stall"):
        return at >= b - a + 1
    if f["mode"] == "wrong":
        return not a <= at <= b
    return False


def parse_range(h, size):
    """(start, end) inclusive, None for no/ignored Range, 'bad' if unsatisfiable."""
    if not h or not h.startswith("bytes=") or "," in h:
        return None
    a, _, b = h[6:].strip().partition("-")
    try:
        if a == "":
            n = int(b)
            if n <= 0:
                return "bad"
            return (max(0, size - n), size - 1)
        start = int(a)
        end = int(b) if b else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "bad"
    return (start, min(end, size - 1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubfs-test-httpd"

    def log_message(self, fmt, *args):  # quiet
        pass

    @property
    def st(self):
        return self.server.state

    def send_json(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self, path, q):
        if path == "/_reset":
            with self.st.lock:
                self.st.faults.clear()
                self.st.stats.clear()
            return self.send_json({"ok": True})
        if path == "/_stats":
            with self.st.lock:
                return self.send_json(self.st.stats)
        if path == "/_fault":
            f = {k: v[0] for k, v in q.items()}
            p = f.pop("path")
            mode = f["mode"]
            f["times"] = int(f.get("times", -1 if mode in ALWAYS else 1))
            f["on"] = f.get("on", ON_DEFAULT.get(mode, "get"))
            with self.st.lock:
                if "seed" in f:
                    self.st.rng.seed(int(f["seed"]))
                self.st.faults.setdefault(p, []).append(f)
            return self.send_json({"ok": True})
        return self.send_json({"error": "unknown"}, 404)

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def serve(self, head):
        u = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(u.path)
        q = urllib.parse.parse_qs(u.query)
        if path.startswith("/_"):
            return self.control(path, q)
        if path.startswith("/r/"):
            self.send_response(302)
            self.send_header("Location", path[2:])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        faults = self.st.take_faults(path, head, self.headers.get("Range"))
        if "fault" in q:
            f = {k: v[0] for k, v in q.items()}
            f["mode"] = f.pop("fault")
            faults.append(f)
        modes = {f["mode"]: f for f in faults}
        with self.st.lock:
            s = self.st.stat(path)
            s["head" if head else "get"] += 1
            s["faults"] = s.get("faults", 0) + len(faults)
            s["ranges"].append(self.headers.get("Range") or "")
        if "slowstart" in modes:
            time.sleep(float(modes["slowstart"].get("secs", 1)))
        if "redirect" in modes:
            self.send_response(302)
            self.send_header("Location", modes["redirect"]["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "status" in modes:
            f = modes["status"]
            self.send_response(int(f.get("code", 503)))
            if "retry_after" in f:
                self.send_header("Retry-After", f["retry_after"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if head and "nohead" in modes:
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        full = os.path.realpath(os.path.join(self.st.root, path.lstrip("/")))
        if not full.startswith(self.st.root + os.sep) or not os.path.isfile(full):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        stt = os.stat(full)
        size = stt.st_size
        etag = modes["etag"].get("value") if "etag" in modes else '"%x-%x"' % (stt.st_mtime_ns, size)
        rng = None if "norange" in modes else parse_range(self.headers.get("Range"), size)
        if rng == "bad":
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % size)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if rng is None:
            start, end, code = 0, size - 1, 200
        else:
            start, end, code = rng[0], rng[1], 206
        n = end - start + 1 if size else 0
        self.send_response(code)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Content-Type", "application/octet-stream")
        if code == 206:
            shown = start + 1 if "badrange" in modes else start
            self.send_header("Content-Range", "bytes %d-%d/%d" % (shown, end, size))
        chunked = "chunked" in modes
        if "nolen" in modes:
            self.send_header("Connection", "close")
            self.close_connection = True
        elif chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        if head:
            return
        self.send_body(full, path, start, n, modes, chunked)

    def send_body(self, full, path, start, n, modes, chunked):
        cut = modes["cut"].get("at", "0") if "cut" in modes else None
        if cut == "rand":
            cut = self.st.rand_below(n)
        elif cut is not None:
            cut = int(cut)
        stall = modes.get("stall")
        stall_at = int(stall.get("at", 0)) if stall else None
        wrong = int(modes["wrong"]["at"]) if "wrong" in modes else None
        rate = float(modes["throttle"]["rate"]) if "throttle" in modes else None
        sent = 0
        t0 = time.monotonic()
        try:
            with open(full, "rb") as fh:
                while sent < n:
                    if stall_at is not None and sent >= stall_at:
                        time.sleep(float(stall.get("secs", 1)))
                        stall_at = None
                    want = min(CHUNK, n - sent)
                    if rate:
                        want = min(want, max(1, int(rate / 20)))
                    if cut is not None:
                        want = min(want, cut - sent)
                    if stall_at is not None and sent < stall_at:
                        want = min(want, stall_at - sent)
                    if want > 0:
                        data = bytearray(os.pread(fh.fileno(), want, start + sent))
                        if not data:
                            break
                        if wrong is not None and start + sent <= wrong < start + sent + len(data):
                            data[wrong - start - sent] ^= 0xFF
                        if chunked:
                            self.wfile.write(b"%x\r\n" % len(data) + bytes(data) + b"\r\n")
                        else:
                            self.wfile.write(data)
                        sent += len(data)
                        with self.st.lock:
                            self.st.stat(path)["bytes"] += len(data)
                    if cut is not None and sent >= cut:
                        self.close_connection = True
                        try:
                            self.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        return
                    if rate:
                        ahead = sent / rate - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        if "nolen" in modes:
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # clients that hang up (cancelled, aborted, stalled) are normal here
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    if a.cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.state = State(a.root)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    print(port, flush=True)
    try:
        srv.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
