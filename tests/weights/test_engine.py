"""Process-level tests of the weight download engine (cache/weights*.c).

Drives the engine through the "cat" tool of tests/unit/cache/test_weights.c
(one process = one store, like one hubfs mount) against tests/weights/httpd.py:
  - kill -9 mid-download, then a new process resumes from the range record and
    fetches only the missing bytes; the record never claims a byte that is not
    in the partial file;
  - two processes on one cache root download once; when the downloading one is
    killed, the other takes over and finishes;
  - torch.hub shares the cache both ways (when torch is importable): a file the
    engine completed is loaded by torch.hub.load_state_dict_from_url with the
    server gone, and a file torch.hub downloaded is served with no request.

The tool: $HUBFS_TEST_WEIGHTS, else the first of build*/tests/test_weights.
Run: /usr/bin/python3 -m pytest -q tests/weights
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MiB = 1 << 20


def tool_path():
    p = os.environ.get("HUBFS_TEST_WEIGHTS")
    if p:
        return p
    for c in sorted(glob.glob(os.path.join(REPO, "build*", "tests", "test_weights"))):
        if os.access(c, os.X_OK):
            return c
    pytest.skip("test_weights not built (set HUBFS_TEST_WEIGHTS)")


class Server:
    def __init__(self, root):
        self.root = root
        portfile = os.path.join(root, "..", "port")
        if os.path.exists(portfile):
            os.unlink(portfile)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "httpd.py"), "--root", root, "--port-file", portfile],
            stdout=subprocess.DEVNULL)
        for _ in range(500):
            if os.path.exists(portfile):
                break
            time.sleep(0.01)
        self.port = int(open(portfile).read())
        self.base = "http://127.0.0.1:%d" % self.port

    def get(self, path):
        with urllib.request.urlopen(self.base + path) as r:
            return r.read()

    def fault(self, path, spec):
        self.get("/_fault?path=%s&%s" % (path, spec))

    def reset(self):
        self.get("/_reset")

    def stat(self, path, what):
        return json.loads(self.get("/_stats")).get(path, {}).get(what, 0)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def env(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    srv = Server(str(files))
    yield tmp_path, files, srv
    srv.stop()


def make(files, name, n, seed):
    data = os.urandom(n) if seed is None else bytes((i * seed + (i >> 9)) & 0xFF for i in range(n))
    (files / name).write_bytes(data)
    return data


def start_cat(root, url, out, *extra):
    e = dict(os.environ, HUB_TEST_FAST="1", HUB_TEST_WAIT_COMPLETE="1")
    return subprocess.Popen([tool_path(), "cat", str(root), url, str(out)] + list(extra),
                            env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err
    return out


def key(url):
    """The store's name of a URL's files: sha256 of the URL, 32 hex digits."""
    import hashlib
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def record(root, url):
    """(ranges claimed, total bytes claimed) of <root>/hubfs/weights/<key>.ranges"""
    path = os.path.join(root, "hubfs", "weights", key(url) + ".ranges")
    rs = []
    with open(path) as f:
        for line in f:
            if line.startswith("r "):
                a, b = map(int, line.split()[1:])
                rs.append((a, b))
    return rs, sum(b - a for a, b in rs)


def test_kill9_resume(env):
    tmp, files, srv = env
    n = 32 * MiB
    data = make(files, "k9.bin", n, None)
    srv.fault("/k9.bin", "mode=throttle&rate=8000000")
    root = tmp / "root"
    p = start_cat(root, srv.base + "/k9.bin", tmp / "out1")
    time.sleep(1.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    first = srv.stat("/k9.bin", "bytes")
    rs, claimed = record(root, srv.base + "/k9.bin")
    assert 0 < claimed < n
    assert claimed <= first
    # every claimed byte is in the partial file, equal to the source
    part = open(os.path.join(root, "hubfs", "weights", key(srv.base + "/k9.bin") + ".part"), "rb").read()
    for a, b in rs:
        assert part[a:b] == data[a:b]
    assert not os.path.exists(root / "checkpoints" / "k9.bin")

    srv.reset()  # and no more throttle
    time.sleep(0.2)  # the killed connection's last writes are counted before the reset
    srv.reset()
    finish(start_cat(root, srv.base + "/k9.bin", tmp / "out2"))
    assert (tmp / "out2").read_bytes() == data
    assert (root / "checkpoints" / "k9.bin").read_bytes() == data
    second = srv.stat("/k9.bin", "bytes")
    # at most what the record did not claim (the killed process's shared page
    # may tell about a few more bytes it wrote after its last record)
    assert second <= n - claimed + MiB
    assert srv.stat("/k9.bin", "head") == 0  # size and ETag from the sidecar
    left = os.listdir(root / "hubfs" / "weights")
    assert not [x for x in left if x.startswith("k9.bin")], left


def test_two_processes_one_download(env):
    tmp, files, srv = env
    n = 24 * MiB
    data = make(files, "two.bin", n, None)
    srv.fault("/two.bin", "mode=throttle&rate=30000000")
    root = tmp / "root"
    ps = [start_cat(root, srv.base + "/two.bin", tmp / ("o%d" % i)) for i in range(3)]
    for p in ps:
        finish(p)
    for i in range(3):
        assert (tmp / ("o%d" % i)).read_bytes() == data
    assert srv.stat("/two.bin", "bytes") <= n + MiB
    assert (root / "checkpoints" / "two.bin").read_bytes() == data


def test_holder_killed_other_takes_over(env):
    tmp, files, srv = env
    n = 32 * MiB
    data = make(files, "take.bin", n, None)
    srv.fault("/take.bin", "mode=throttle&rate=10000000")
    root = tmp / "root"
    a = start_cat(root, srv.base + "/take.bin", tmp / "a")
    time.sleep(0.5)  # a holds the download
    b = start_cat(root, srv.base + "/take.bin", tmp / "b")
    time.sleep(1.0)
    a.send_signal(signal.SIGKILL)
    a.wait()
    finish(b)
    assert (tmp / "b").read_bytes() == data
    assert (root / "checkpoints" / "take.bin").read_bytes() == data
    # the killed holder's bytes were not fetched again (a little slack for
    # what was in flight when it died)
    assert srv.stat("/take.bin", "bytes") <= n + 2 * MiB


def torch_or_skip():
    try:
        import torch  # noqa: F401
        import torch.hub  # noqa: F401
    except Exception:
        pytest.skip("torch not importable")
    return sys.modules["torch"]


def test_torch_hub_shares_the_cache(env, tmp_path):
    tmp, files, srv = env
    torch = torch_or_skip()
    import hashlib
    root = tmp / "root"
    # a real state dict, named the torch way (name-<sha256 prefix>.pth)
    sd = {"w": torch.arange(100000, dtype=torch.float32)}
    raw = tmp / "sd.pth"
    torch.save(sd, raw)
    h = hashlib.sha256(raw.read_bytes()).hexdigest()
    name = "model-%s.pth" % h[:8]
    (files / name).write_bytes(raw.read_bytes())
    url = srv.base + "/" + name
    # the engine downloads and verifies it...
    finish(start_cat(root, url, tmp / "o"))
    srv.stop()
    # ...and torch.hub finds it with no network
    got = torch.hub.load_state_dict_from_url(url, model_dir=str(root / "checkpoints"),
                                             check_hash=True, progress=False)
    assert torch.equal(got["w"], sd["w"])

    # the other way: torch.hub downloads, the engine serves it with no request
    srv2 = Server(str(files))
    try:
        url2 = srv2.base + "/" + name
        root2 = tmp / "root2"
        (root2 / "checkpoints").mkdir(parents=True)
        torch.hub.download_url_to_file(url2, str(root2 / "checkpoints" / name), progress=False)
        srv2.reset()
        finish(start_cat(root2, url2, tmp / "o2"))
        assert (tmp / "o2").read_bytes() == raw.read_bytes()
        assert srv2.stat("/" + name, "get") == 0
        assert srv2.stat("/" + name, "head") == 0
    finally:
        srv2.stop()
