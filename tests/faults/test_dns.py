"""A name that does not resolve costs its own request, never the mount's
later ones (issue 13: with libcurl 7.88 a handle reused after a resolve
failure refused its options, and every later download failed with EIO until
remount).

Each round asks for a weight on a host that cannot resolve (the reserved
.invalid TLD: no resolver answers it), then reads a good weight from the
loopback server on the same mount, which must arrive byte for byte.
Rounds alternate so the handle of the failed request would be the next one
taken from the pool (it is a stack)."""
import errno
import os

import harness
from test_weights import MiB, make_weight, url_path

ROUNDS = 4


def test_dns_failure_then_success_on_the_same_mount(weights_mount):
    m, srv, files = weights_mount
    for i in range(ROUNDS):
        bad = url_path(m, "https://no-such-%d.invalid/w-%d.pth" % (i, i))
        try:
            harness.call(os.stat, bad, timeout=60)
            raise AssertionError("a host that cannot resolve gave a file")
        except OSError as e:
            assert e.errno in (errno.EHOSTUNREACH, errno.ENOENT, errno.EIO), e
        # and a failing GET too, not only the HEAD of the lookup
        bad_get = url_path(m, "http://no-such-get-%d.invalid/x.pth" % i)
        try:
            harness.read_file(bad_get, timeout=60)
            raise AssertionError("a host that cannot resolve gave bytes")
        except OSError:
            pass
        name, data = make_weight(files, "ok%d" % i, MiB + i, 100 + i)
        p = url_path(m, srv.url(name))
        assert harness.call(os.stat, p, timeout=60).st_size == len(data)
        assert harness.read_file(p, timeout=60) == data, "round %d: wrong bytes" % i
    log = m.stderr()
    assert "cannot set up" not in log, "a handle refused its options after a DNS failure"
