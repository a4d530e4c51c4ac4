"""Integration-test harness for hubfs.

Pieces, each usable on its own:
  call(fn, *a, timeout=)      run a filesystem call in a thread: a hung FUSE
                              request fails the test instead of hanging CI
  errno_of / expect_errno     what errno a call fails with
  GitDaemon                   `git daemon` on loopback serving BASE/<owner>/<repo>.git
  CountingProxy               a TCP proxy in front of the git daemon that records
                              every connection (repository path, whether the
                              client asked for objects, bytes each way) and can
                              refuse, drop, delay or throttle connections
  Mount                       build/hubfs in the foreground, mounted and checked:
                              teardown fails on a non-zero exit, a crash, or
                              sanitizer / ERROR output on stderr
  Hub                         all of the above for one test: a private copy of
                              the fixture repos, daemon, proxy, cache, mounts
  git_tree / compare_tree     the ground truth from the bare fixture repos

What the proxy counts: one Conn per TCP connection hubfs opens to the git
"server".  Conn.path is the repository ("/alice/vision.git") from the git://
request line; Conn.want is True when the client sent a `want` line (protocol
v0/v1) or `command=fetch` (v2), i.e. the connection fetched objects.  A
connection without `want` only listed refs (ls-remote).
"""

import errno
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
import make_repos  # noqa: E402

HUBFS_BIN = os.environ.get("HUBFS_BIN") or os.path.join(ROOT, "build", "hubfs")
FS_TIMEOUT = float(os.environ.get("HUBFS_TEST_FS_TIMEOUT", "20"))
MOUNT_TIMEOUT = 15.0
FUSERMOUNT = shutil.which("fusermount3") or "fusermount3"

# What must never appear on the daemon's stderr (sanitizer builds run the same
# suite; hubfs's own log has no level words, so ERROR is an explicit report).
BAD_STDERR = re.compile(r"ERROR|AddressSanitizer|LeakSanitizer|runtime error|"
                        r"UndefinedBehaviorSanitizer|ThreadSanitizer|Segmentation fault")

_children = []          # every Popen we started, killed at exit if still alive
_children_lock = threading.Lock()
_mounts = []            # every Mount started, for the watchdog and session end


class HungFilesystem(AssertionError):
    pass


def _register(p):
    with _children_lock:
        _children.append(p)
    return p


def abort_all_mounts():
    """Watchdog: abort the FUSE connection of every live mount we made, so
    that every request hung in it returns (ENOTCONN) and the test fails."""
    with _children_lock:
        mounts = list(_mounts)
    for m in mounts:
        if m.alive:
            fuse_abort(m.path, m.dev)


def kill_all_children():
    """Last resort (watchdog / session end): SIGKILL whatever we started."""
    with _children_lock:
        procs = list(_children)
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    p.kill()
                except ProcessLookupError:
                    pass


# --------------------------------------------------------------------------
# calls with timeouts
# --------------------------------------------------------------------------

def call(fn, *args, timeout=None, **kwargs):
    """fn(*args) in a thread; re-raise its exception; HungFilesystem after timeout."""
    timeout = FS_TIMEOUT if timeout is None else timeout
    box = {}

    def run():
        try:
            box["r"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["e"] = e

    t = threading.Thread(target=run, daemon=True, name="fs-call")
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise HungFilesystem("filesystem call %s%r did not return within %.0fs"
                             % (getattr(fn, "__name__", fn), args, timeout))
    if "e" in box:
        raise box["e"]
    return box.get("r")


def errno_of(fn, *args, timeout=None):
    """0 if fn(*args) succeeds, else the OSError's errno (other exceptions propagate)."""
    try:
        call(fn, *args, timeout=timeout)
        return 0
    except OSError as e:
        return e.errno


def ename(e):
    return errno.errorcode.get(e, str(e)) if e else "success"


def expect_errno(expected, fn, *args, timeout=None):
    if isinstance(expected, int):
        expected = (expected,)
    got = errno_of(fn, *args, timeout=timeout)
    assert got in expected, "%s%r: expected %s, got %s" % (
        getattr(fn, "__name__", fn), args, "/".join(ename(e) for e in expected), ename(got))


def read_file(path, timeout=None):
    def rd():
        with open(path, "rb") as f:
            return f.read()
    return call(rd, timeout=timeout)


def poll_until(pred, timeout, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def run(cmd, timeout=60, check=False, **kw):
    """subprocess.run with a timeout and captured output (bytes)."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.run([str(c) for c in cmd], timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (cmd, p.returncode,
                                                   (p.stderr or b"").decode(errors="replace")))
    return p


# --------------------------------------------------------------------------
# mounts
# --------------------------------------------------------------------------

def _unescape_mountinfo(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mountinfo(path):
    """The /proc/self/mountinfo entry for mount point path, or None:
    {'dev': 'maj:min', 'fstype': ..., 'source': ..., 'options': ...}."""
    path = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if _unescape_mountinfo(fields[4]) == path:
                r = right.split()
                found = {"dev": fields[2], "options": fields[5], "fstype": r[0],
                         "source": _unescape_mountinfo(r[1]) if len(r) > 1 else "",
                         "super_options": r[2] if len(r) > 2 else ""}
    return found  # the last one is the top of the stack


def is_mounted(path):
    return mountinfo(path) is not None


def fuse_abort(path, dev=None):
    """Abort the FUSE connection of path, or of device dev ("0:NN") once path
    is no longer mounted (lazy unmount): releases every hung request."""
    mi = mountinfo(path)
    if mi:
        dev = mi["dev"]
    if not dev:
        return False
    minor = dev.split(":")[1]
    conn = "/sys/fs/fuse/connections/%s/abort" % minor
    if not os.path.exists("/sys/fs/fuse/connections/%s" % minor):
        subprocess.run(["mount", "-t", "fusectl", "none", "/sys/fs/fuse/connections"],
                       stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=10)
    try:
        with open(conn, "w") as f:
            f.write("1")
        return True
    except OSError:
        return False


def unmount(path, timeout=15):
    """fusermount3 -u, then -uz; True if path is no longer a mount point."""
    if not is_mounted(path):
        return True
    p = run([FUSERMOUNT, "-u", path], timeout=timeout)
    if p.returncode != 0 and is_mounted(path):
        run([FUSERMOUNT, "-uz", path], timeout=timeout)
    try:
        poll_until(lambda: not is_mounted(path), 5, what="unmount of %s" % path)
    except AssertionError:
        return False
    return True


class Mount:
    """One hubfs process (foreground, -f) mounted at mountpoint."""

    def __init__(self, mountpoint, options, bin=None, env=None, args=None, logdir=None,
                 name="hubfs"):
        self.path = os.path.realpath(mountpoint)
        self.options = options
        self.bin = bin or HUBFS_BIN
        self.env = env
        self.args = args  # full argv override (after the binary), else -f -o OPTS MNT
        self.logdir = logdir or tempfile.mkdtemp(prefix="hubfs-log-")
        self.name = name
        self.proc = None
        self.killed = False
        self.stopped = False
        self.stderr_path = None
        self.dev = None  # "major:minor" of the FUSE connection

    def argv(self):
        if self.args is not None:
            return [self.bin] + list(self.args)
        return [self.bin, "-f", "-o", self.options, self.path]

    def start(self, timeout=MOUNT_TIMEOUT):
        if not os.path.exists(self.bin):
            raise AssertionError("hubfs binary not found at %s (build it: cmake -S . -B build "
                                 "&& cmake --build build, or set HUBFS_BIN)" % self.bin)
        assert not is_mounted(self.path), "%s is already a mount point" % self.path
        os.makedirs(self.path, exist_ok=True)
        n = len([f for f in os.listdir(self.logdir) if f.endswith(".stderr")])
        self.stderr_path = os.path.join(self.logdir, "%s-%d.stderr" % (self.name, n))
        self.stdout_path = os.path.join(self.logdir, "%s-%d.stdout" % (self.name, n))
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = _register(subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                               stdout=self._out, stderr=self._err,
                                               env=self.env, start_new_session=True))
        with _children_lock:
            _mounts.append(self)
        deadline = time.monotonic() + timeout
        while not is_mounted(self.path):
            if self.proc.poll() is not None:
                raise AssertionError("hubfs exited with %s before mounting %s\nargv: %s\n"
                                     "stderr:\n%s" % (self.proc.returncode, self.path,
                                                      self.argv(), self.stderr()))
            if time.monotonic() > deadline:
                self.kill9()
                raise AssertionError("hubfs did not mount %s within %.0fs\nstderr:\n%s"
                                     % (self.path, timeout, self.stderr()))
            time.sleep(0.02)
        self.dev = mountinfo(self.path)["dev"]
        return self

    def stderr(self):
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return ""
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """SIGKILL the daemon (the mount stays, dead: ENOTCONN) and clean the mount up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.killed = True
        unmount(self.path)
        self._close_files()

    def _close_files(self):
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f and not f.closed:
                f.close()

    def problems(self):
        """Sanitizer reports or ERROR lines on stderr (checked even after kill -9)."""
        bad = [l for l in self.stderr().splitlines() if BAD_STDERR.search(l)]
        return bad

    def stop(self, check=True):
        """Unmount, wait for the daemon to exit; return a list of failures."""
        if self.stopped or self.proc is None:
            return []
        self.stopped = True
        fails = []
        if not self.killed:
            if not unmount(self.path):
                fails.append("could not unmount %s" % self.path)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                fails.append("hubfs did not exit within 20s after unmount; killed")
                fuse_abort(self.path, self.dev)
                self.proc.kill()
                self.proc.wait(10)
                unmount(self.path)
            rc = self.proc.returncode
            if rc != 0:
                what = ("killed by signal %s" % signal.Signals(-rc).name if rc < 0
                        else "exit status %d" % rc)
                fails.append("hubfs ended with %s" % what)
        self._close_files()
        bad = self.problems()
        if bad:
            fails.append("hubfs stderr has error reports:\n  " + "\n  ".join(bad[:40]))
        if fails and check:
            fails.append("stderr of %s:\n%s" % (self.stderr_path, self.stderr()[-6000:]))
        return fails if check else []


# --------------------------------------------------------------------------
# git daemon and the counting proxy
# --------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_accepting(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise AssertionError("process exited (%s) before listening on %d"
                                     % (proc.returncode, port))
            if time.monotonic() > deadline:
                raise AssertionError("nothing accepts on 127.0.0.1:%d after %.0fs"
                                     % (port, timeout))
            time.sleep(0.02)


HTTPD = os.path.join(ROOT, "tests", "weights", "httpd.py")


def start_httpd(root, port_file, cert=None, key=None):
    """tests/weights/httpd.py serving root on 127.0.0.1 (HTTPS with
    cert/key); returns (Popen, port) once it accepts connections."""
    cmd = ["/usr/bin/python3", HTTPD, "--root", root, "--port", "0", "--port-file", port_file]
    if cert:
        cmd += ["--cert", cert, "--key", key]
    proc = _register(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
    deadline = time.monotonic() + 15
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        assert time.monotonic() < deadline and proc.poll() is None, "httpd did not start"
        time.sleep(0.05)
    port = int(open(port_file).read().strip())
    wait_accepting(port, 10, proc)
    return proc, port


class GitDaemon:
    def __init__(self, base, port=None, logdir=None):
        self.base = os.path.realpath(base)
        self.port = port
        self.proc = None
        self.logdir = logdir or tempfile.mkdtemp(prefix="gitd-log-")

    def start(self):
        for attempt in range(5):
            port = self.port or free_port()
            log = open(os.path.join(self.logdir, "git-daemon.log"), "ab")
            self.proc = _register(subprocess.Popen(
                ["git", "daemon", "--reuseaddr", "--base-path=" + self.base, "--export-all",
                 "--enable=upload-pack", "--listen=127.0.0.1", "--port=%d" % port],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env=make_repos._git_env()))
            log.close()
            try:
                wait_accepting(port, 10, self.proc)
                self.port = port
                return self
            except AssertionError:
                self.stop()
                if self.port:  # a fixed port that is busy: give it a moment
                    time.sleep(0.5)
        raise AssertionError("git daemon did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Conn:
    def __init__(self, n):
        self.n = n
        self.path = None       # "/alice/vision.git"
        self.service = None    # "git-upload-pack"
        self.want = False      # asked for objects (a fetch), not just the ref list
        self.c2s = 0           # bytes client -> server
        self.s2c = 0           # bytes server -> client
        self.opened = time.monotonic()
        self.closed = None
        self.dropped = False

    def __repr__(self):
        return "<conn %d %s %s want=%s c2s=%d s2c=%d%s>" % (
            self.n, self.service, self.path, self.want, self.c2s, self.s2c,
            " dropped" if self.dropped else "")


class CountingProxy:
    """TCP proxy 127.0.0.1:port -> 127.0.0.1:upstream_port that records every
    connection.  mode: 'forward'; 'drop' (accept, read the request, close: a
    broken connection); 'refuse' (nothing listens: connection refused).
    throttle: {repo path: bytes/s} for server->client data; latency: seconds
    before the server's first bytes are forwarded."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.port = None
        self.mode = "forward"
        self.throttle = {}
        self.latency = 0.0
        self.conns = []
        self.lock = threading.Lock()
        self.sock = None
        self.thread = None
        self.live = set()

    # -- control
    def start(self, port=None):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port or self.port or 0))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.sock = s
        self.thread = threading.Thread(target=self._accept_loop, args=(s,), daemon=True,
                                       name="proxy-accept")
        self.thread.start()
        return self

    def _close_listener(self):
        s, self.sock = self.sock, None
        if s:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        if self.thread:
            self.thread.join(5)
            self.thread = None

    def set_mode(self, mode, cut=False):
        """Switch mode; 'refuse' closes the listener, leaving it re-opens it.
        cut=True also breaks the connections in flight."""
        assert mode in ("forward", "drop", "refuse")
        if mode == "refuse" and self.sock:
            self._close_listener()
        elif mode != "refuse" and not self.sock:
            self.start(self.port)
        self.mode = mode
        if cut:
            self.cut()

    def cut(self):
        with self.lock:
            live = list(self.live)
        for s in live:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self._close_listener()
        self.cut()

    def reset(self):
        with self.lock:
            self.conns = []

    # -- what happened
    def connections(self, path=None):
        with self.lock:
            cs = list(self.conns)
        return [c for c in cs if path is None or c.path == path]

    def count(self, path=None):
        return len(self.connections(path))

    def fetches(self, path=None):
        return [c for c in self.connections(path) if c.want]

    def bytes_to_client(self, path=None):
        return sum(c.s2c for c in self.connections(path))

    # -- plumbing
    def _accept_loop(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            with self.lock:
                conn = Conn(len(self.conns) + 1)
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(c, conn), daemon=True,
                             name="proxy-conn").start()

    @staticmethod
    def _read_request(c):
        """The git:// request pkt-line: b'git-upload-pack /x.git\\0host=..\\0'."""
        buf = b""
        c.settimeout(10)
        while len(buf) < 4:
            d = c.recv(4 - len(buf))
            if not d:
                return buf, None
            buf += d
        try:
            n = int(buf[:4], 16)
        except ValueError:
            return buf, None
        while len(buf) < n:
            d = c.recv(n - len(buf))
            if not d:
                break
            buf += d
        c.settimeout(None)
        return buf, buf[4:n]

    def _serve(self, c, conn):
        u = None
        with self.lock:
            self.live.add(c)
        try:
            raw, req = self._read_request(c)
            if req:
                head = req.split(b"\0")[0].decode(errors="replace")
                service, _, path = head.partition(" ")
                conn.service, conn.path = service, path
                if b"command=fetch" in req:
                    conn.want = True
            if self.mode != "forward":
                conn.dropped = True
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                u.settimeout(None)
            except OSError:
                conn.dropped = True
                return
            with self.lock:
                self.live.add(u)
            u.sendall(raw)
            conn.c2s += len(raw)
            t = threading.Thread(target=self._pump_s2c, args=(u, c, conn), daemon=True,
                                 name="proxy-s2c")
            t.start()
            tail = b""
            while True:
                try:
                    d = c.recv(65536)
                except OSError:
                    break
                if not d:
                    break
                conn.c2s += len(d)
                window = tail + d
                if b"want " in window or b"command=fetch" in window:
                    conn.want = True
                tail = window[-16:]
                try:
                    u.sendall(d)
                except OSError:
                    break
            try:
                u.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            t.join(120)
        except OSError:
            pass
        finally:
            conn.closed = time.monotonic()
            with self.lock:
                self.live.discard(c)
                if u is not None:
                    self.live.discard(u)
            for s in (c, u):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def _pump_s2c(self, u, c, conn):
        first = True
        start = time.monotonic()
        sent = 0
        try:
            while True:
                rate = self.throttle.get(conn.path)
                d = u.recv(min(65536, max(1024, int(rate / 20))) if rate else 65536)
                if not d:
                    break
                if first and self.latency:
                    time.sleep(self.latency)
                first = False
                c.sendall(d)
                conn.s2c += len(d)
                sent += len(d)
                if rate:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
        except OSError:
            pass
        finally:
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass


# --------------------------------------------------------------------------
# ground truth from the bare repositories
# --------------------------------------------------------------------------

class Entry:
    __slots__ = ("mode", "type", "sha", "size")

    def __init__(self, mode, type_, sha, size):
        self.mode, self.type, self.sha, self.size = mode, type_, sha, size

    def __repr__(self):
        return "<%s %s %s %s>" % (self.mode, self.type, self.sha[:10], self.size)


def git_tree(gitdir, rev):
    """{path (bytes, relative): Entry} for every entry of rev's tree, trees included."""
    out = make_repos.git(gitdir, "ls-tree", "-r", "-t", "-l", "-z", "--full-tree", rev)
    res = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, type_, sha, size = meta.split()
        res[path] = Entry(mode.decode(), type_.decode(), sha.decode(),
                          None if size == b"-" else int(size))
    return res


def git_blobs(gitdir, shas):
    """{sha: bytes} via one `git cat-file --batch`."""
    shas = sorted(set(shas))
    if not shas:
        return {}
    out = make_repos.git(gitdir, "cat-file", "--batch", input=("\n".join(shas) + "\n").encode())
    res = {}
    i = 0
    for sha in shas:
        nl = out.index(b"\n", i)
        header = out[i:nl].split()
        assert header[0].decode() == sha and header[1] == b"blob", header
        size = int(header[2])
        res[sha] = out[nl + 1:nl + 1 + size]
        i = nl + 1 + size + 1
    return res


def commit_time(gitdir, rev):
    return make_repos.commit_time(gitdir, rev)


def compare_tree(commit_dir, gitdir, sha, check_mtime=True):
    """Compare the mount's commit directory with the git tree of sha.
    Returns a list of human-readable mismatches (empty when identical).
    Runs plain os calls: wrap it in call(..., timeout=) on a live mount."""
    tree = git_tree(gitdir, sha)
    blobs = git_blobs(gitdir, [e.sha for e in tree.values() if e.type == "blob"])
    ctime = commit_time(gitdir, sha)
    root = os.fsencode(commit_dir)
    bad = []

    # 1. the set of names, directory by directory (the generated .hub excepted)
    seen = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel = os.path.relpath(dirpath, root)
        rel = b"" if rel == b"." else rel + b"/"
        if rel == b"":
            if b".hub" in dirnames:
                dirnames.remove(b".hub")
            else:
                bad.append("no .hub directory in %s" % commit_dir)
        names = dirnames + filenames
        if len(names) != len(set(names)):
            bad.append("duplicate names in readdir of %r" % rel)
        for n in names:
            seen.add(rel + n)
    want = set(tree)
    for p in sorted(want - seen):
        bad.append("missing in mount: %r" % p)
    for p in sorted(seen - want):
        bad.append("extra in mount: %r" % p)

    # 2. every entry: type, mode, size, bytes, link target, mtime
    st = os.lstat(root)
    if check_mtime and int(st.st_mtime) != ctime:
        bad.append("commit dir mtime %d != commit time %d" % (st.st_mtime, ctime))
    for path, e in sorted(tree.items()):
        full = os.path.join(root, path)
        try:
            st = os.lstat(full)
        except OSError as ex:
            bad.append("lstat %r: %s" % (path, ex))
            continue
        perm = stat.S_IMODE(st.st_mode)
        if check_mtime and int(st.st_mtime) != ctime:
            bad.append("%r mtime %d != commit time %d" % (path, st.st_mtime, ctime))
        if e.mode == "040000":
            if not stat.S_ISDIR(st.st_mode):
                bad.append("%r is not a directory (mode %o)" % (path, st.st_mode))
            elif perm & 0o555 != 0o555 or perm & 0o222:
                bad.append("%r directory permissions %o (want r-x, no w)" % (path, perm))
        elif e.mode == "160000":
            if not stat.S_ISDIR(st.st_mode):
                bad.append("submodule %r is not a directory (mode %o)" % (path, st.st_mode))
            else:
                ls = os.listdir(full)
                if ls:
                    bad.append("submodule %r not empty: %r" % (path, ls[:5]))
        elif e.mode == "120000":
            if not stat.S_ISLNK(st.st_mode):
                bad.append("%r is not a symlink (mode %o)" % (path, st.st_mode))
                continue
            target = os.readlink(full)
            if target != blobs[e.sha]:
                bad.append("%r -> %r, want %r" % (path, target, blobs[e.sha]))
            if st.st_size != len(blobs[e.sha]):
                bad.append("symlink %r st_size %d != target length %d"
                           % (path, st.st_size, len(blobs[e.sha])))
        elif e.mode in ("100644", "100755"):
            if not stat.S_ISREG(st.st_mode):
                bad.append("%r is not a regular file (mode %o)" % (path, st.st_mode))
                continue
            want_perm = 0o555 if e.mode == "100755" else 0o444
            if perm != want_perm:
                bad.append("%r permissions %o, want %o (git mode %s)"
                           % (path, perm, want_perm, e.mode))
            if st.st_size != e.size:
                bad.append("%r size %d, want %d" % (path, st.st_size, e.size))
            with open(full, "rb") as f:
                data = f.read()
            if data != blobs[e.sha]:
                bad.append("%r content differs (%d bytes read, %d expected)"
                           % (path, len(data), len(blobs[e.sha])))
        else:
            bad.append("unexpected git mode %s for %r" % (e.mode, path))
    return bad


# --------------------------------------------------------------------------
# one test's world
# --------------------------------------------------------------------------

class Hub:
    """A private copy of the fixture repos, served by git daemon behind a
    CountingProxy, a cache directory, and hubfs mounts on them.

    hub.mount(ref_ttl=, neg_ttl=, offline=, allow_private=, extra=[...]) mounts
    (default ref_ttl=60, neg_ttl=30, allow_private on); hub.p('alice', 'vision') is a path in the
    current mount; hub.gitdir('alice', 'vision') the upstream bare repo."""

    def __init__(self, workdir, pristine=None, manifest=None):
        self.work = os.path.realpath(workdir)
        os.makedirs(self.work, exist_ok=True)
        self.base = os.path.join(self.work, "upstream")
        if pristine:
            shutil.copytree(pristine, self.base, symlinks=True)
        else:
            os.makedirs(self.base)
        self.manifest = manifest or {}
        self.cache = os.path.join(self.work, "cache")
        os.makedirs(self.cache, exist_ok=True)
        self.mnt = os.path.join(self.work, "mnt")
        os.makedirs(self.mnt, exist_ok=True)
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.home = os.path.join(self.work, "home")
        for d in ("config", "cache", "torch"):
            os.makedirs(os.path.join(self.home, d), exist_ok=True)
        self.daemon = GitDaemon(self.base, logdir=self.logs)
        self.proxy = None
        self.mounts = []
        self.current = None
        self.failures = []

    # -- upstream
    def start_upstream(self):
        self.daemon.start()
        self.proxy = CountingProxy(self.daemon.port).start()
        return self

    def stop_daemon(self):
        self.daemon.stop()

    def start_daemon(self):
        self.daemon.start()

    @property
    def url_prefix(self):
        return "git://127.0.0.1:%d/" % self.proxy.port

    def gitdir(self, owner, repo):
        return make_repos.repo_path(self.base, owner, repo)

    def rev(self, owner, repo, rev):
        return make_repos.git(self.gitdir(owner, repo), "rev-parse", "--verify",
                              rev + "^{commit}").decode().strip()

    # -- hubfs
    def env(self):
        env = dict(os.environ)
        for k in ("GITHUB_TOKEN", "HUBFS_MOUNT", "TORCH_HOME"):
            env.pop(k, None)
        env["XDG_CONFIG_HOME"] = os.path.join(self.home, "config")
        env["XDG_CACHE_HOME"] = os.path.join(self.home, "cache")
        env["HOME"] = self.home
        return env

    def options(self, ref_ttl=60, neg_ttl=30, offline=False, extra=(), cache=None,
                rewrite=True, allow_private=True):
        """allow_private (default on): the suites' weight servers are on
        127.0.0.1; the trust suite mounts without it."""
        opts = ["cache=" + (cache or self.cache)]
        if rewrite:
            opts.append("rewrite=https://github.com/=" + self.url_prefix)
        if ref_ttl is not None:
            opts.append("ref_ttl=%d" % ref_ttl)
        if neg_ttl is not None:
            opts.append("neg_ttl=%d" % neg_ttl)
        if offline:
            opts.append("offline")
        if allow_private:
            opts.append("allow_private")
        opts.extend(extra)
        return ",".join(opts)

    def mount(self, mountpoint=None, args=None, **kw):
        m = Mount(mountpoint or self.mnt, self.options(**kw), env=self.env(), args=args,
                  logdir=self.logs)
        self.mounts.append(m)
        m.start()
        self.current = m
        return m

    def unmount(self, m=None):
        m = m or self.current
        fails = m.stop()
        if fails:
            raise AssertionError("\n".join(fails))
        if m is self.current:
            self.current = None

    def p(self, *parts):
        assert self.current is not None, "nothing mounted"
        return self.current.p(*parts)

    # -- end
    def close(self, keep=False):
        """Stop everything; return the failures found (daemon exit status,
        stderr reports).  The work dir is kept when anything failed."""
        fails = list(self.failures)
        for m in self.mounts:
            if not m.stopped:
                if m.alive is False and not m.killed and m.proc is not None:
                    fails.append("hubfs died during the test (exit %s)" % m.proc.returncode)
                fails.extend(m.stop())
        if self.proxy:
            self.proxy.stop()
        self.daemon.stop()
        self.failures = []
        # keep the logs of failing runs; the rest is deleted
        if not fails and not keep:
            for m in self.mounts:
                if is_mounted(m.path):
                    return fails  # never rm -rf through a live mount
            shutil.rmtree(self.work, ignore_errors=True)
        return fails


# --------------------------------------------------------------------------
# short forms of the filesystem calls, all with timeouts
# --------------------------------------------------------------------------

def readlink(p):
    return call(os.readlink, p)


def listdir(p):
    return sorted(call(os.listdir, p))


def lstat(p):
    return call(os.lstat, p)


def stat_(p):
    return call(os.stat, p)


def isdir(p):
    return call(os.path.isdir, p)


def exists(p):
    return call(os.path.lexists, p)
