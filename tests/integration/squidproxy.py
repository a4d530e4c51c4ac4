"""A real squid (Debian's package) on a loopback port, unprivileged, with a
generated configuration in a temporary directory: the site cache of
docs/usage.md ("Many hosts behind one proxy"), for tests/integration/
test_squid.py and tests/bench/bench_fanout.py.

The configuration is the recipe's (see config()): every byte of a weight
file fetched from the origin once, whatever ranges and how many clients ask
for it at once."""

import os
import tempfile
import pwd
import shutil
import signal
import subprocess
import time

import harness

SQUID = shutil.which("squid") or "/usr/sbin/squid"


def config(d, port, user, cache_mb=1024, mem_mb=256, dirs=(16, 256), origin=None,
           origin_ca=None):
    """squid.conf for a weights cache in directory d, listening on
    127.0.0.1:port.  What each line is for: docs/usage.md.  origin
    ("host:port"): a reverse proxy (accelerator) of that origin instead of a
    forward proxy (the recipe for https origins); origin_ca: the origin
    speaks TLS, verified against that CA file."""
    if origin:
        host, oport = origin.rsplit(":", 1)
        # TLS to the origin, pinned to TLS 1.2: Debian 12's squid (5.7,
        # GnuTLS) fails every read after a TLS 1.3 handshake whose server
        # sends session tickets (502 ERR_READ_ERROR; docs/usage.md)
        tls = (" tls tls-options=NORMAL:-VERS-TLS1.3 tls-cafile=%s" % origin_ca
               if origin_ca else "")
        front = ["http_port 127.0.0.1:%d accel defaultsite=%s no-vhost" % (port, origin),
                 "cache_peer %s parent %s 0 no-query originserver name=origin%s"
                 % (host, oport, tls),
                 "cache_peer_access origin allow all"]
    else:
        front = ["http_port 127.0.0.1:%d" % port]
    return "\n".join(front + [
        "http_access allow localhost",
        "http_access deny all",
        # a cold file asked for by many clients at once: one origin fetch,
        # the others wait for it and are fed from it as it arrives
        "collapsed_forwarding on",
        # a Range request for an object not cached: fetch the whole object
        # from the origin (and cache it) instead of forwarding the range
        "range_offset_limit -1",
        # and keep fetching it when the client that started it has what it
        # wanted and goes away (else the next range starts over)
        "quick_abort_min -1 KB",
        "maximum_object_size 64 GB",
        "cache_dir ufs %s/cache %d %d %d" % (d, cache_mb, dirs[0], dirs[1]),
        "cache_mem %d MB" % mem_mb,
        "maximum_object_size_in_memory 64 MB",
        # weight files are immutable: fresh for a year, no revalidation
        "refresh_pattern . 525600 100% 525600 override-expire override-lastmod "
        "ignore-reload ignore-no-store ignore-private",
        "cache_effective_user %s" % user,
        "pid_filename %s/squid.pid" % d,
        "cache_log %s/cache.log" % d,
        "access_log stdio:%s/access.log squid" % d,
        "cache_store_log none",
        "coredump_dir %s" % d,
        "netdb_filename none",
        "pinger_enable off",
        "visible_hostname hubfs-squid",
        "shutdown_lifetime 1 seconds",
        "workers 1",
        "",
    ])


class Squid:
    def __init__(self, workdir, user=None, dirs=(1, 1), origin=None, origin_ca=None):
        """dirs: cache_dir's L1 and L2 directory counts (squid's default
        16 x 256 directories take seconds to create and remove: a test's
        cache holds a few files)."""
        # as root, squid drops to cache_effective_user: the directory is its,
        # and every directory above it must let that user through.  The
        # test's workdir may sit in a private (0700) run directory, so
        # squid's own directory is a fresh one in /tmp, removed by stop().
        self.user = user or ("proxy" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)
        pw = pwd.getpwnam(self.user)
        self.dir = tempfile.mkdtemp(prefix="hubfs-squid-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        with open(os.path.join(workdir, "squid-dir"), "w") as f:
            f.write(self.dir + "\n")  # where to look when a test fails
        self.port = harness.free_port()
        if origin_ca:  # a copy squid's user can read
            shutil.copy(origin_ca, os.path.join(self.dir, "origin-ca.pem"))
            origin_ca = os.path.join(self.dir, "origin-ca.pem")
            os.chmod(origin_ca, 0o644)
        self.conf = os.path.join(self.dir, "squid.conf")
        with open(self.conf, "w") as f:
            f.write(config(self.dir, self.port, self.user, dirs=dirs, origin=origin,
                           origin_ca=origin_ca))
        self.proc = None
        self.url = "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30):
        if not os.path.exists(SQUID):
            raise AssertionError("squid not installed (tests/setup_deps.sh installs it)")
        # the cache directories (squid -z returns once they exist)
        subprocess.run([SQUID, "-z", "-N", "-f", self.conf], check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = open(os.path.join(self.dir, "squid.stderr"), "wb")
        # -N: no daemon (our child, killed with the test), -d1: errors to stderr
        self.proc = subprocess.Popen([SQUID, "-N", "-d1", "-f", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        try:
            harness.wait_accepting(self.port, timeout, self.proc)
        except AssertionError:
            raise AssertionError("squid did not start:\n" + self.log())
        return self

    def log(self):
        out = []
        for n in ("squid.stderr", "cache.log"):
            p = os.path.join(self.dir, n)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append(f.read()[-4000:])
        return "\n".join(out)

    def access_log(self):
        p = os.path.join(self.dir, "access.log")
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return f.read().splitlines()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # SIGINT: shut down now (SIGTERM waits shutdown_lifetime)
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def remove(self):
        """stop(), then remove squid's directory (its cache, its logs)."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
