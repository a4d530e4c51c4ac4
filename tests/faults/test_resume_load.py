"""The resume of a cut download under heavy disk writes (issue 13, item 7).

Runs the weight store's resume case (tests/unit/cache/test_weights.c,
test_resume with HUB_TEST_RESUME_RUNS) many times while `dd conv=fsync`
loops write to the same filesystem: each run cuts a throttled download,
checks that the record claims everything written (the holder's shared page
adds nothing) and that the resume fetches exactly the rest.  Before the fix
the last record gave way to the flusher's slow fdatasync under this load,
and the resume fetched up to 1.5 MiB less than the record said was missing.

HUBFS_RESUME_RUNS sets the number of runs (default 100: ~2 minutes).
"""
import os
import subprocess
import threading

import pytest

import harness

RUNS = int(os.environ.get("HUBFS_RESUME_RUNS", "100"))


def unit_binary():
    b = os.path.join(os.path.dirname(harness.HUBFS_BIN), "tests", "test_weights")
    if not os.path.exists(b):
        pytest.skip("no %s (build the unit tests)" % b)
    return b


@pytest.mark.timeout_s(900)
def test_resume_under_fsync_load(tmp_path):
    binary = unit_binary()
    stop = threading.Event()
    sink = tmp_path / "load"
    sink.mkdir()

    def load():
        i = 0
        while not stop.is_set():
            subprocess.run(["dd", "if=/dev/zero", "of=%s/f%d" % (sink, i % 2), "bs=1M",
                            "count=64", "conv=fsync"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            i += 1
    env = dict(os.environ, HUB_TEST_FILTER="test_resume", HUB_TEST_RESUME_RUNS=str(RUNS))
    env.setdefault("TMPDIR", str(tmp_path))
    t = threading.Thread(target=load)
    t.start()
    try:
        p = subprocess.run([binary], env=env, capture_output=True, text=True, timeout=840)
    finally:
        stop.set()
        t.join(120)
    tail = "\n".join((p.stdout + p.stderr).splitlines()[-30:])
    assert p.returncode == 0, tail
    assert ("resume run %d of %d" % (RUNS, RUNS)) in p.stdout + p.stderr, tail
