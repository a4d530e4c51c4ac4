"""pytest wiring for the hubfs integration suite (see harness.py).

Fixtures:
  pristine   (session) the fixture repos built once by make_repos.make_all:
             (path, manifest); tests never modify it
  hub        (function) a Hub: a private copy of the repos, git daemon + counting
             proxy started, nothing mounted yet; teardown unmounts, stops
             everything and FAILS the test on a bad daemon exit or error
             output on its stderr
  mounted    (function) hub, mounted with the default options

Every test has a watchdog (default 90 s, @pytest.mark.timeout_s(N) to change):
when it fires, the FUSE connections of our mounts are aborted and our
processes killed, so a hung daemon fails the test instead of hanging CI.
"""

import faulthandler
import os
import shutil
import sys
import tempfile
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import make_repos  # noqa: E402

DEFAULT_TEST_TIMEOUT = 90
TMP = os.environ.get("HUBFS_TEST_TMP", "/tmp")



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _watchdog(request):
    m = request.node.get_closest_marker("timeout_s")
    limit = m.args[0] if m else DEFAULT_TEST_TIMEOUT
    fired = []

    def fire():
        fired.append(True)
        sys.stderr.write("\n*** watchdog: %s still running after %ss: aborting FUSE "
                         "connections and killing hubfs/git daemon\n" % (request.node.nodeid, limit))
        faulthandler.dump_traceback(all_threads=True)
        harness.abort_all_mounts()
        harness.kill_all_children()

    t = threading.Timer(limit, fire)
    t.daemon = True
    t.start()
    # If even that does not free the main thread, end the whole process.
    faulthandler.dump_traceback_later(limit + 60, exit=True)
    yield
    t.cancel()
    faulthandler.cancel_dump_traceback_later()
    if fired:
        pytest.fail("test exceeded its %ss watchdog" % limit)


def _mkwork(name):
    safe = "".join(c if c.isalnum() else "-" for c in name)[-40:]
    return tempfile.mkdtemp(prefix="hubfs-it-%s-" % safe, dir=TMP)


@pytest.fixture(scope="session")
def pristine():
    d = tempfile.mkdtemp(prefix="hubfs-fixtures-", dir=TMP)
    base = os.path.join(d, "repos")
    manifest = make_repos.make_all(base)
    # store paths relative to base: each test gets its own copy
    for v in manifest.values():
        v["path"] = os.path.relpath(v["path"], base)
    yield base, manifest
    shutil.rmtree(d, ignore_errors=True)


def _failed(node):
    return any(getattr(node, "rep_" + w, None) is not None and getattr(node, "rep_" + w).failed
               for w in ("setup", "call"))


@pytest.fixture
def hub(request, pristine):
    base, manifest = pristine
    h = harness.Hub(_mkwork(request.node.name), pristine=base, manifest=manifest)
    try:
        h.start_upstream()
    except BaseException:
        h.close(keep=True)
        raise
    yield h
    fails = h.close(keep=_failed(request.node))
    if _failed(request.node) or fails:
        sys.stderr.write("hubfs test work dir kept: %s\n" % h.work)
    if fails:
        pytest.fail("\n".join(fails), pytrace=False)


@pytest.fixture
def mounted(hub):
    hub.mount()
    return hub


def pytest_sessionfinish(session, exitstatus):
    harness.abort_all_mounts()
    for m in list(harness._mounts):
        if harness.is_mounted(m.path):
            harness.unmount(m.path)
    harness.kill_all_children()
