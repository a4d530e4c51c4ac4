"""Command line (SPEC "Command line", issue 2 item 6): --help, --version, the
error cases (one clear line, non-zero exit, nothing mounted), -d, config=FILE,
the default config file, the `hubfs SOURCE MOUNTPOINT -o ...` form, and /.hubfs/."""

import json
import os
import re
import shutil
import stat
import subprocess
import time

import pytest

import harness
from harness import HUBFS_BIN, call, is_mounted, readlink, listdir, run

ROOT = harness.ROOT


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\s*\(\s*hubfs\s+VERSION\s+([0-9][0-9.]*)", f.read())
    assert m, "no project(hubfs VERSION x.y.z) in CMakeLists.txt"
    return m.group(1)


def hubfs(args, env=None, timeout=20):
    assert os.path.exists(HUBFS_BIN), "hubfs binary not found at %s" % HUBFS_BIN
    return run([HUBFS_BIN] + list(args), env=env, timeout=timeout)


def nonempty_lines(b):
    return [l for l in b.decode(errors="replace").splitlines() if l.strip()]


def test_help(hub):
    p = hubfs(["--help"], env=hub.env())
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "hubfs" in out
    # every option of the spec is documented
    for opt in ("cache=", "git_url=", "rewrite=", "offline", "ref_ttl=", "neg_ttl=",
                "verify=", "config="):
        assert opt in out, "--help does not mention %s" % opt
    assert not is_mounted(hub.mnt)


def test_version(hub):
    p = hubfs(["--version"], env=hub.env())
    assert p.returncode == 0, p.stderr
    assert project_version() in p.stdout.decode()


def _expect_usage_error(hub, args, mentions=None, mountpoint=None):
    mountpoint = mountpoint or hub.mnt
    p = hubfs(args, env=hub.env())
    lines = nonempty_lines(p.stderr)
    assert p.returncode != 0, "hubfs %s exited 0 (stderr: %r)" % (args, lines)
    assert len(lines) == 1, "hubfs %s: expected one line on stderr, got %d:\n%s" % (
        args, len(lines), "\n".join(lines[:20]))
    if mentions:
        assert re.search(mentions, lines[0], re.I), (
            "error line does not say what is wrong (%s): %r" % (mentions, lines[0]))
    assert not is_mounted(mountpoint), "something got mounted on %s" % mountpoint
    assert not harness.BAD_STDERR.search(p.stderr.decode(errors="replace"))
    return lines[0]


BAD_OPTIONS = [
    ("unknown", "nosuchoption=1", "nosuchoption"),
    ("ref_ttl_word", "ref_ttl=abc", "ref_ttl"),
    ("ref_ttl_negative", "ref_ttl=-5", "ref_ttl"),
    ("neg_ttl_word", "neg_ttl=soon", "neg_ttl"),
    ("verify_bogus", "verify=sometimes", "verify"),
    ("rewrite_no_to", "rewrite=https://github.com/", "rewrite"),
    ("config_missing", "config=/nonexistent/hubfs/config.json", "config|nonexistent"),
]


@pytest.mark.parametrize("name,opt,mentions", BAD_OPTIONS, ids=[b[0] for b in BAD_OPTIONS])
def test_bad_option(hub, name, opt, mentions):
    _expect_usage_error(hub, ["-f", "-o", "cache=%s,%s" % (hub.cache, opt), hub.mnt], mentions)


def test_bad_flag(hub):
    _expect_usage_error(hub, ["-f", "--no-such-flag", hub.mnt], "no-such-flag")


def test_config_file_invalid_json(hub):
    cfg = os.path.join(hub.work, "bad.json")
    with open(cfg, "w") as f:
        f.write('{"ref_ttl": 5,,}')
    _expect_usage_error(hub, ["-f", "-o", "cache=%s,config=%s" % (hub.cache, cfg), hub.mnt],
                        "config|json|bad.json")


def test_missing_mountpoint(hub):
    _expect_usage_error(hub, ["-f", "-o", "cache=" + hub.cache], "mount")


def test_nonexistent_mountpoint(hub):
    mp = os.path.join(hub.work, "no", "such", "dir")
    _expect_usage_error(hub, ["-f", "-o", "cache=" + hub.cache, mp], mountpoint=mp)
    assert not os.path.exists(mp)


def test_mountpoint_is_a_file(hub):
    mp = os.path.join(hub.work, "plainfile")
    open(mp, "w").close()
    _expect_usage_error(hub, ["-f", "-o", "cache=" + hub.cache, mp], mountpoint=mp)


def test_too_many_arguments(hub):
    other = os.path.join(hub.work, "other")
    os.mkdir(other)
    _expect_usage_error(hub, ["-f", "-o", "cache=" + hub.cache, "src", hub.mnt, other])
    assert not is_mounted(other)


def test_unwritable_cache_under_a_file(hub):
    f = os.path.join(hub.work, "afile")
    open(f, "w").close()
    _expect_usage_error(hub, ["-f", "-o", "cache=%s/sub" % f, hub.mnt], "cache")


def test_unwritable_cache_read_only_fs(hub):
    ro = os.path.join(hub.work, "ro")
    os.mkdir(ro)
    p = run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro], timeout=10)
    if p.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here: %s" % p.stderr.decode().strip())
    try:
        _expect_usage_error(hub, ["-f", "-o", "cache=%s/cache" % ro, hub.mnt], "cache")
        _expect_usage_error(hub, ["-f", "-o", "cache=" + ro, hub.mnt], "cache")
    finally:
        run(["umount", ro], timeout=10)


def test_unusable_dev_fuse(hub):
    """/dev/fuse replaced by /dev/null in a private mount namespace."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare")
    script = ('mount --bind /dev/null /dev/fuse || exit 99; exec "$0" "$@"')
    p = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, HUBFS_BIN,
             "-f", "-o", "cache=" + hub.cache, hub.mnt], env=hub.env(), timeout=20)
    if p.returncode == 99:
        pytest.skip("cannot bind-mount over /dev/fuse here")
    lines = nonempty_lines(p.stderr)
    assert p.returncode != 0
    assert len(lines) == 1, lines
    assert not is_mounted(hub.mnt)


def test_debug_flag_runs_in_foreground(hub):
    m = hub.mount(args=["-d", "-o", hub.options(), hub.mnt])
    assert readlink(hub.p("alice", "vision")) == "vision:main"
    hub.unmount(m)
    assert m.stderr().strip(), "-d printed nothing"


def test_source_mountpoint_form_foreground(hub):
    """hubfs SOURCE MOUNTPOINT -o OPTS (mount.fuse3 / fstab), kept in the foreground."""
    hub.mount(args=["hub", hub.mnt, "-o", hub.options(), "-f"])
    assert readlink(hub.p("alice", "vision")) == "vision:main"
    assert "hubconf.py" in listdir(hub.p("alice", "vision") + "/")


def _processes_with(arg):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if arg.encode() in argv:
            pids.append(int(d))
    return pids


def _daemonized_mount(hub, argv, env):
    p = run(argv, env=env, timeout=30)
    try:
        assert p.returncode == 0, "%s exited %d: %s" % (argv, p.returncode,
                                                         p.stderr.decode(errors="replace"))
        assert is_mounted(hub.mnt), "exit 0 but nothing mounted on %s" % hub.mnt
        assert readlink(os.path.join(hub.mnt, "alice", "vision")) == "vision:main"
        data = harness.read_file(os.path.join(hub.mnt, "alice", "vision", "README.md"))
        assert data == b"# vision\n\nA hubfs test fixture.\n"
        pids = _processes_with(hub.mnt)
        assert pids, "no process holds the mount"
    finally:
        harness.unmount(hub.mnt)
    harness.poll_until(lambda: not _processes_with(hub.mnt), 15,
                       what="the daemonized hubfs to exit after unmount")
    assert not p.stderr.strip() or not harness.BAD_STDERR.search(p.stderr.decode())


def test_source_mountpoint_form_daemonizes(hub):
    _daemonized_mount(hub, [HUBFS_BIN, "hub", hub.mnt, "-o", hub.options()], hub.env())


def test_mount_fuse3_helper(hub):
    """As fstab would run it: mount.fuse3 /path/to/hubfs#SOURCE MOUNTPOINT -o OPTS
    (mount.fuse3 resets PATH, hence the absolute path)."""
    helper = shutil.which("mount.fuse3")
    if not helper:
        pytest.skip("no mount.fuse3")
    _daemonized_mount(hub, [helper, os.path.abspath(HUBFS_BIN) + "#hub", hub.mnt, "-o",
                            hub.options()], hub.env())


def test_config_file_option(hub):
    cfg = os.path.join(hub.work, "hubfs.json")
    with open(cfg, "w") as f:
        json.dump({"rewrite": ["https://github.com/=" + hub.url_prefix], "ref_ttl": 5,
                   "neg_ttl": 5}, f)
    hub.mount(args=["-f", "-o", "cache=%s,config=%s" % (hub.cache, cfg), hub.mnt])
    assert readlink(hub.p("alice", "vision:main")) == "vision@" + hub.rev("alice", "vision",
                                                                          "main")
    assert hub.proxy.count("/alice/vision.git") >= 1


def test_default_config_file(hub):
    d = os.path.join(hub.home, "config", "hubfs")
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"rewrite": {"https://github.com/": hub.url_prefix}}, f)
    hub.mount(args=["-f", "-o", "cache=" + hub.cache, hub.mnt])
    assert readlink(hub.p("bob", "legacy")) == "legacy:master"


def test_command_line_overrides_config(hub):
    """The config file's git_url points where nothing listens, the command
    line's at the proxy: the command line wins."""
    cfg = os.path.join(hub.work, "hubfs.json")
    with open(cfg, "w") as f:
        json.dump({"git_url": "git://127.0.0.1:1/{owner}/{repo}.git"}, f)
    opts = "cache=%s,config=%s,git_url=%s{owner}/{repo}.git" % (hub.cache, cfg, hub.url_prefix)
    hub.mount(args=["-f", "-o", opts, hub.mnt])
    assert readlink(hub.p("carol", "trunk")) == "trunk:trunk"


def test_hubfs_state_dir_has_version(mounted):
    h = mounted
    st = harness.lstat(h.p(".hubfs"))
    assert stat.S_ISDIR(st.st_mode)
    assert "version" in listdir(h.p(".hubfs"))
    v = harness.read_file(h.p(".hubfs", "version")).decode()
    assert project_version() in v


def test_root_is_a_read_only_directory(mounted):
    st = harness.lstat(mounted.p())
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) & 0o222 == 0, "root is shown writable: %o" % st.st_mode
