"""The CI version of the soak (tests/soak/soak.py, issue 6 part 5): 4 readers
for SOAK_SECONDS (default 30) over the fixture repos, a moving branch and
weight files, every byte checked; fails on any wrong byte, unexpected errno,
call over its deadline, or a daemon that does not exit cleanly.  The long
run is documented in docs/testing.md."""
import os
import signal
import subprocess
import sys

import pytest

from crashlib import SEED

HERE = os.path.dirname(os.path.abspath(__file__))
SOAK = os.path.join(os.path.dirname(HERE), "soak", "soak.py")
SECONDS = float(os.environ.get("SOAK_SECONDS", "30"))


@pytest.mark.timeout_s(SECONDS + 120)
def test_soak_short():
    cmd = [sys.executable, SOAK, "--readers", "4", "--seconds", str(SECONDS),
           "--seed", str(SEED), "--deadline", "30"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=SECONDS + 90)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        pytest.fail("soak.py did not finish:\n" + out.decode(errors="replace")[-5000:])
    text = out.decode(errors="replace")
    print(text)
    assert p.returncode == 0, "soak failed (exit %d):\n%s" % (p.returncode, text[-5000:])
    assert "soak: ok" in text
