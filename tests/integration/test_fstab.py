"""fstab and systemd (issue 16): the fstab line of docs/usage.md mounted by
mount(8) itself (`mount MOUNTPOINT` with that line, through mount.fuse3),
`mount -t fuse.hubfs`, and the systemd units shipped in docs/systemd/.

mount(8) runs its helpers with its own PATH (/usr/local/sbin:...:/bin), so
`fuse.hubfs` finds hubfs only when it is installed there.  These tests do
not install anything: each runs in a private mount namespace (unshare -m)
where a directory holding a `hubfs` link to the binary under test is
bind-mounted on /usr/local/sbin; the FUSE mount lives in that namespace
too, so the checks run there, in one shell script, which unmounts on exit.

systemd is not PID 1 on the test machines: the units are checked with
`systemd-analyze verify` (when installed), and what they would run is run
by hand: the .mount unit's What/Where/Type/Options through mount(8), the
.service unit's ExecStart and ExecStop."""

import os
import re
import shlex
import shutil
import subprocess

import pytest

import harness
from harness import HUBFS_BIN

ROOT = harness.ROOT
UNITS = os.path.join(ROOT, "docs", "systemd")
README = b"# vision\n\nA hubfs test fixture.\n"


def documented_fstab_line():
    with open(os.path.join(ROOT, "docs", "usage.md")) as f:
        lines = [l for l in f.read().splitlines() if re.match(r"^\S+\s+/\S+\s+fuse\.hubfs\s", l)]
    assert len(lines) == 1, "expected one fstab line (type fuse.hubfs) in docs/usage.md: %r" % lines
    return lines[0].split()


def _need(*tools):
    for t in tools:
        if not shutil.which(t):
            pytest.skip("%s not installed" % t)


def in_namespace(hub, script, timeout=60):
    """Run script (sh) in a private mount namespace where hubfs is on mount's
    PATH; returns CompletedProcess.  $MNT is hub.mnt; the mount is undone on
    exit whatever happens."""
    _need("unshare", "mount", "mount.fuse3")
    bindir = os.path.join(hub.work, "sbin")
    os.makedirs(bindir, exist_ok=True)
    link = os.path.join(bindir, "hubfs")
    if not os.path.lexists(link):
        os.symlink(os.path.realpath(HUBFS_BIN), link)
    full = ("set -eu\n"
            "trap 'umount -l \"$MNT\" 2>/dev/null || true' EXIT\n"
            "mount --bind %s /usr/local/sbin\n" % shlex.quote(bindir)) + script
    env = dict(hub.env(), MNT=hub.mnt)
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", full],
                          env=env, capture_output=True, timeout=timeout)


# What the script checks once mounted: the mount's type and flags, a file
# read through it, the options the daemon took; then unmounts with umount(8)
# and waits for the daemon to exit.
CHECK = r"""
grep " $MNT " /proc/self/mountinfo
cat "$MNT/.hubfs/options"
echo "README:"
cat "$MNT/alice/vision/README.md"
umount "$MNT"
i=0
while grep -qs -- "$MNT" /proc/[0-9]*/cmdline; do
  i=$((i+1)); [ $i -lt 150 ] || { echo "hubfs still running after umount"; exit 3; }
  sleep 0.1
done
echo "daemon gone"
"""


def check_output(p, hub, want_opts=()):
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, "rc %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, out, err)
    mi = out.splitlines()[0].split()
    sep = mi.index("-")
    assert mi[4] == hub.mnt and mi[sep + 1] == "fuse.hubfs", mi
    assert "ro" in mi[5].split(","), "not mounted read-only: %s" % mi[5]
    super_opts = mi[sep + 3].split(",")
    for o in want_opts:
        assert o in super_opts, "%s not in the superblock options %s" % (o, super_opts)
    assert "cache=%s\n" % hub.cache in out, out
    assert out.split("README:\n", 1)[1].startswith(README.decode()), out
    assert "daemon gone" in out
    assert not harness.BAD_STDERR.search(err), err


def test_the_documented_fstab_line_mounts_with_mount(hub):
    """`mount MOUNTPOINT` with docs/usage.md's line in the fstab (mount -T
    FILE: /etc/fstab is not edited), plus the options a test needs and the
    usual fstab flags."""
    hub.start_upstream()
    src, _mnt, typ, opts, freq, passno = documented_fstab_line()
    opts = re.sub(r"cache=[^,]*", "cache=" + hub.cache, opts)
    opts += ",nofail,nodev,nosuid,noatime," + hub.options(cache=hub.cache).split(",", 1)[1]
    fstab = os.path.join(hub.work, "fstab")
    with open(fstab, "w") as f:
        f.write("# test fstab\n%s %s %s %s %s %s\n" % (src, hub.mnt, typ, opts, freq, passno))
    p = in_namespace(hub, 'mount -T %s "$MNT"\n' % shlex.quote(fstab) + CHECK)
    check_output(p, hub, want_opts=("allow_other",))
    assert hub.proxy.count("/alice/vision.git") >= 1, "nothing was fetched from upstream"


def test_mount_t_fuse_hubfs(hub):
    hub.start_upstream()
    p = in_namespace(hub, 'mount -t fuse.hubfs -o %s hub "$MNT"\n'
                     % shlex.quote(hub.options()) + CHECK)
    check_output(p, hub)


def test_mount_t_fuse_hubfs_bad_option_fails_cleanly(hub):
    """A bad option through mount(8): non-zero, hubfs's one line, nothing mounted."""
    p = in_namespace(hub, 'rc=0; mount -t fuse.hubfs -o cache=%s,ref_ttl=soon hub "$MNT" || rc=$?\n'
                     'echo rc=$rc\n'
                     'grep -c " $MNT " /proc/self/mountinfo || true\n' % shlex.quote(hub.cache))
    out = p.stdout.decode()
    assert "rc=0" not in out and re.search(r"rc=\d+", out), out
    assert out.strip().endswith("0"), "something is mounted: %s" % out
    assert "bad value for ref_ttl" in p.stderr.decode(), p.stderr


def unit_section(path, section):
    kv, cur = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                cur = line.strip("[]")
                continue
            if cur == section:
                k, v = line.split("=", 1)
                kv.setdefault(k, []).append(v)
    return kv


def test_systemd_units_verify(tmp_path):
    """systemd-analyze verify: no warning for either unit (the man page it
    names, hubfs(1), is put on MANPATH; the service's binary is this build's)."""
    _need("systemd-analyze")
    man1 = tmp_path / "man" / "man1"
    man1.mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "docs", "hubfs.1"), man1)
    units = []
    for name in sorted(os.listdir(UNITS)):
        with open(os.path.join(UNITS, name)) as f:
            text = f.read().replace("/usr/local/bin/hubfs", os.path.realpath(HUBFS_BIN))
        (tmp_path / name).write_text(text)
        units.append("./" + name)
    assert "./mnt-hub.mount" in units and "./hubfs.service" in units, units
    env = dict(os.environ, MANPATH=str(tmp_path / "man"), SYSTEMD_LOG_LEVEL="notice")
    p = subprocess.run(["systemd-analyze", "verify"] + units, cwd=tmp_path, env=env,
                       capture_output=True, timeout=120)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 0 and not out.strip(), "systemd-analyze verify:\n" + out


def test_mount_unit_mounts(hub):
    """What systemd does for mnt-hub.mount: mount -t Type -o Options What Where
    (Where and the cache replaced by the test's)."""
    hub.start_upstream()
    m = unit_section(os.path.join(UNITS, "mnt-hub.mount"), "Mount")
    assert m["Where"] == ["/mnt/hub"] and m["Type"] == ["fuse.hubfs"], m
    opts = re.sub(r"cache=[^,]*", "cache=" + hub.cache, m["Options"][0])
    opts += "," + hub.options().split(",", 1)[1]
    p = in_namespace(hub, 'mount -t %s -o %s %s "$MNT"\n' % (
        m["Type"][0], shlex.quote(opts), shlex.quote(m["What"][0])) + CHECK)
    check_output(p, hub, want_opts=("allow_other",))


def test_service_unit_runs_and_stops(hub):
    """hubfs.service's ExecStart (binary, mount point and cache replaced by
    the test's) mounts in the foreground; its ExecStop unmounts and hubfs
    exits 0, as systemd expects of Type=simple."""
    hub.start_upstream()
    s = unit_section(os.path.join(UNITS, "hubfs.service"), "Service")
    start = shlex.split(s["ExecStart"][0])
    stop = shlex.split(s["ExecStop"][0])
    assert start[0] == "/usr/local/bin/hubfs" and start[-1] == "/mnt/hub", start
    assert stop[-1] == "/mnt/hub", stop
    o = start.index("-o")
    start[o + 1] = re.sub(r"cache=[^,]*", "cache=" + hub.cache, start[o + 1]) + "," + \
        hub.options().split(",", 1)[1]
    m = hub.mount(args=start[1:-1] + [hub.mnt])
    assert "-f" in start, "the service must keep hubfs in the foreground"
    assert harness.read_file(os.path.join(hub.mnt, "alice", "vision", "README.md")) == README
    p = subprocess.run([shutil.which(os.path.basename(stop[0])) or stop[0]] + stop[1:-1] +
                       [hub.mnt], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    m.proc.wait(15)
    assert m.proc.returncode == 0, "hubfs exited %s after ExecStop" % m.proc.returncode
    problems = m.stop()  # already unmounted and exited: collects stderr reports
    assert not problems, problems
