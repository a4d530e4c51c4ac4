"""Many hosts behind one proxy (issue 16): 8 mounts with caches of their
own (standing for 8 hosts) behind one real squid on loopback (configured as
docs/usage.md's recipe says: tests/integration/squidproxy.py), all reading
the same cold weight file at once, through `proxy=` (squid as a forward
proxy) or through `rewrite=` to squid as the origin's reverse proxy (the
recipe for https origins, here with an http one).  Half of them start
with its tail (a far read: a Range request of their own), half from the
start.  Every byte each mount reads is compared with the source, and the
origin (tests/weights/httpd.py, throttled so that all 8 arrive while the
file is still cold) counts the body bytes it sent: each byte exactly once,
in one GET.  A ninth mount afterwards is served from squid's cache alone.
And the repositories' half: a git mirror made and kept with git's own
tools, reached through rewrite=."""

import os
import shutil
import tempfile
import threading

import pytest

import harness
import make_repos
from harness import read_file, readlink
from squidproxy import SQUID, Squid
from test_weights import MiB, Server, make_weight, url_path

HOSTS = 8


@pytest.fixture(params=["forward", "accel"])
def site(request):
    if not os.path.exists(SQUID):
        pytest.fail("squid is not installed (tests/setup_deps.sh installs it)")
    work = tempfile.mkdtemp(prefix="hubfs-it-squid-", dir=os.environ.get("HUBFS_TEST_TMP", "/tmp"))
    files = os.path.join(work, "files")
    os.makedirs(files)
    state = {"work": work, "files": files, "mounts": [], "srv": None, "squid": None,
             "accel": request.param == "accel"}
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTPS_PROXY", "HTTP_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY"):
        env.pop(k, None)

    def mount(i):
        sq = state["squid"]
        if state["accel"]:  # squid as the origin's reverse proxy, reached by rewrite=
            via = "rewrite=%s/=%s/" % (state["srv"].url("").rstrip("/"), sq.url)
        else:
            via = "proxy=" + sq.url
        m = harness.Mount(os.path.join(work, "mnt%d" % i),
                          "cache=%s,%s" % (os.path.join(work, "cache%d" % i), via),
                          env=env, logdir=work, name="hubfs%d" % i).start()
        state["mounts"].append(m)
        return m
    state["mount"] = mount
    try:
        state["srv"] = Server(files)
        origin = "127.0.0.1:%d" % state["srv"].port if state["accel"] else None
        state["squid"] = Squid(work, origin=origin).start()
        yield state
    finally:
        problems = []
        for m in state["mounts"]:
            if m.alive:
                problems += m.stop() or []
        if state["squid"]:
            state["squid"].stop()
        if state["srv"]:
            state["srv"].stop()
        if not problems:
            if state["squid"]:
                state["squid"].remove()
            shutil.rmtree(work, ignore_errors=True)
    assert not problems, problems


def test_eight_hosts_one_squid_each_byte_from_upstream_once(site):
    size = 12 * MiB + 4321
    name, data = make_weight(site["files"], "fanout", size, 77)
    srv = site["srv"]
    url = srv.url(name)
    # slow enough that all mounts ask while the file is still cold
    srv.ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, 8 * MiB))
    mounts = [site["mount"](i) for i in range(HOSTS)]
    start = threading.Barrier(HOSTS)
    errors = []

    def host(i, m):
        try:
            p = url_path(m, url)
            start.wait(30)
            if i % 2:
                # the tail first: beyond the sequential stream, a Range request
                tail = size - 3 * MiB - 17

                def rd():
                    with open(p, "rb") as f:
                        f.seek(tail)
                        return f.read()
                got = harness.call(rd, timeout=120)
                assert got == data[tail:], "host %d: wrong tail bytes" % i
            got = harness.read_file(p, timeout=120)
            assert got == data, "host %d: wrong bytes" % i
        except BaseException as e:  # noqa: B902 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=host, args=(i, m)) for i, m in enumerate(mounts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors[0]
    st = srv.stats(name)
    log = "\n".join(site["squid"].access_log())
    assert st["bytes"] == size, ("origin sent %d body bytes for a %d-byte file: %r\n%s"
                                 % (st["bytes"], size, st, log))
    assert st["get"] == 1, (st, log)
    # every host went through squid (a GET each, at least)
    assert log.count(" GET ") >= HOSTS, log

    # a ninth host, later: squid's cache alone
    m = site["mount"](HOSTS)
    assert harness.read_file(url_path(m, url), timeout=60) == data
    assert srv.stats(name)["bytes"] == size


def test_repos_through_a_git_mirror(hub):
    """The repository half of the recipe, with git's own tools: a mirror
    made by `git clone --mirror`, served by `git daemon`, kept fresh by the
    cron line `git remote update --prune`; hosts reach it with `rewrite=`.
    Nothing reaches the upstream from the mount."""
    up = hub.gitdir("alice", "vision")
    mbase = os.path.join(hub.work, "mirror")
    mirror = os.path.join(mbase, "alice", "vision.git")
    os.makedirs(os.path.dirname(mirror))
    harness.run(["git", "clone", "-q", "--mirror", up, mirror], check=True)
    gd = harness.GitDaemon(mbase, logdir=hub.logs).start()
    try:
        hub.mount(rewrite=False, extra=["rewrite=https://github.com/=git://127.0.0.1:%d/"
                                        % gd.port])
        old = hub.rev("alice", "vision", "main")
        assert readlink(hub.p("alice", "vision:main")) == "vision@" + old
        tree = make_repos.git(up, "rev-parse", old + "^{tree}").decode().strip()
        new = make_repos.git(up, "commit-tree", tree, "-p", old, "-m", "moved",
                             env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                  "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
                             ).decode().strip()
        make_repos.git(up, "update-ref", "refs/heads/main", new)
        resolve = hub.p(".hubfs", "resolve", "alice%2Fvision:main")
        # the mirror has not fetched yet: still the old commit
        assert read_file(resolve, timeout=60).decode().split()[0] == old
        make_repos.git(mirror, "remote", "update", "--prune")  # the cron line
        assert read_file(resolve, timeout=60).decode().split()[0] == new
        assert read_file(hub.p("alice", "vision@" + new, ".hub", "commit")) == (
            new + "\n").encode()
        assert hub.proxy.count() == 0, "the mount reached the upstream"
    finally:
        gd.stop()


def test_hosts_behind_squid_in_front_of_an_https_origin():
    """The https recipe: squid as the reverse proxy of an https origin (TLS
    from squid to the origin, verified against the origin's CA), hosts
    reaching squid through rewrite=https://origin/=http://squid/.  Four
    mounts read one cold file at once: every byte right, and the origin
    sent each byte once, in one GET."""
    import importlib.util
    import json
    import ssl
    import urllib.request
    if not os.path.exists(SQUID) or not shutil.which("openssl"):
        pytest.fail("squid and openssl are needed (tests/setup_deps.sh installs them)")
    spec = importlib.util.spec_from_file_location(
        "hubfs_tls_git", os.path.join(harness.ROOT, "tests", "trust", "tls_git.py"))
    tls = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tls)
    work = tempfile.mkdtemp(prefix="hubfs-it-squid-tls-", dir=os.environ.get("HUBFS_TEST_TMP", "/tmp"))
    files = os.path.join(work, "files")
    os.makedirs(files)
    pki = tls.make_pki(os.path.join(work, "pki"))
    cert, key = pki["ip"]
    proc, port = harness.start_httpd(files, os.path.join(work, "tls.port"), cert=cert, key=key)
    ctx = ssl.create_default_context(cafile=pki["ca"])

    def ctl(q):
        with urllib.request.urlopen("https://127.0.0.1:%d/%s" % (port, q), timeout=10,
                                    context=ctx) as r:
            return r.read()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    sq, mounts, problems, hosts = None, [], [], 4
    try:
        size = 6 * MiB + 99
        name, data = make_weight(files, "tlsfan", size, 78)
        ctl("_fault?path=/%s&mode=throttle&rate=%d" % (name, 6 * MiB))
        sq = Squid(work, origin="127.0.0.1:%d" % port, origin_ca=pki["ca"]).start()
        origin = "https://127.0.0.1:%d" % port
        for i in range(hosts):
            mounts.append(harness.Mount(
                os.path.join(work, "mnt%d" % i),
                "cache=%s,rewrite=%s/=%s/" % (os.path.join(work, "cache%d" % i), origin, sq.url),
                env=env, logdir=work, name="hubfs%d" % i).start())
        url = "%s/%s" % (origin, name)
        got = [None] * hosts
        start = threading.Barrier(hosts)

        def host(i):
            p = url_path(mounts[i], url)
            start.wait(30)
            got[i] = harness.read_file(p, timeout=120)
        threads = [threading.Thread(target=host, args=(i,)) for i in range(hosts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        for i in range(hosts):
            assert got[i] == data, "host %d: wrong bytes\n%s" % (i, sq.log())
        st = json.loads(ctl("_stats")).get("/" + name, {})
        assert st.get("bytes") == size and st.get("get") == 1, (st, sq.access_log())
    finally:
        for m in mounts:
            if m.alive:
                problems += m.stop() or []
        if sq:
            sq.remove()
        os.killpg(proc.pid, 15)
        proc.wait(10)
        if not problems:
            shutil.rmtree(work, ignore_errors=True)
    assert not problems, problems
