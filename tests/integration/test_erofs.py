"""Every mutating call answers EROFS (SPEC "Namespace"), at every level of the
tree: the root, an owner directory, the ref symlinks, a commit directory, its
files and subdirectories, .hub/ and /.hubfs/."""

import errno
import os

import pytest

import harness
from harness import errno_of, ename, read_file

RW = os.O_WRONLY
CREAT = os.O_CREAT | os.O_WRONLY


def _open(path, flags):
    fd = os.open(path, flags, 0o644)
    os.close(fd)


def _open_and_write(path, flags):
    fd = os.open(path, flags)
    try:
        os.write(fd, b"x")
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_existing(path):
    with open(path, "r+b") as f:
        f.write(b"x")


def _ops(h):
    main = h.manifest["alice/vision"]["refs"]["main"]
    c = h.p("alice", "vision@" + main)
    f = os.path.join(c, "hubconf.py")
    sub = os.path.join(c, "models")
    root = h.p()
    owner = h.p("alice")
    return [
        # commit directory, files, subdirectories
        ("open O_WRONLY", _open, f, RW),
        ("open O_RDWR", _open, f, os.O_RDWR),
        ("open O_WRONLY|O_TRUNC", _open, f, RW | os.O_TRUNC),
        ("open O_WRONLY|O_APPEND", _open, f, RW | os.O_APPEND),
        ("write r+b", _write_existing, f),
        ("create file", _open, os.path.join(c, "new.txt"), CREAT),
        ("create O_EXCL", _open, os.path.join(sub, "new.py"), CREAT | os.O_EXCL),
        ("mkdir", os.mkdir, os.path.join(c, "newdir")),
        ("mkdir in subdir", os.mkdir, os.path.join(sub, "newdir")),
        ("rmdir", os.rmdir, os.path.join(c, "third_party", "sub")),
        ("unlink", os.unlink, f),
        ("unlink symlink", os.unlink, os.path.join(c, "link_file")),
        ("rename file", os.rename, f, os.path.join(c, "renamed.py")),
        ("rename over file", os.rename, f, os.path.join(c, "README.md")),
        ("rename dir", os.rename, sub, os.path.join(c, "models2")),
        ("hard link", os.link, f, os.path.join(c, "hard")),
        ("symlink", os.symlink, "hubconf.py", os.path.join(c, "newlink")),
        ("mkfifo", os.mkfifo, os.path.join(c, "fifo")),
        ("chmod file", os.chmod, f, 0o777),
        ("chmod dir", os.chmod, sub, 0o777),
        ("chmod commit dir", os.chmod, c, 0o777),
        ("chown", os.chown, f, 1, 1),
        ("lchown symlink", os.lchown, os.path.join(c, "link_file"), 1, 1),
        ("utime", os.utime, f, (0, 0)),
        ("truncate", os.truncate, f, 0),
        ("setxattr", os.setxattr, f, "user.test", b"1"),
        ("setxattr dir", os.setxattr, c, "user.test", b"1"),
        ("removexattr", os.removexattr, f, "user.test"),
        # generated files
        ("write .hub/commit", _open, os.path.join(c, ".hub", "commit"), RW),
        ("unlink .hub/commit", os.unlink, os.path.join(c, ".hub", "commit")),
        ("create in .hub", _open, os.path.join(c, ".hub", "x"), CREAT),
        ("write /.hubfs/version", _open, h.p(".hubfs", "version"), RW),
        # owner directory and ref symlinks
        ("unlink repo symlink", os.unlink, h.p("alice", "vision")),
        ("unlink ref symlink", os.unlink, h.p("alice", "vision:main")),
        ("rmdir commit dir", os.rmdir, c),
        ("rename repo symlink", os.rename, h.p("alice", "vision"), h.p("alice", "vision2x y")),
        ("symlink in owner", os.symlink, "vision@" + main, os.path.join(owner, "my link")),
        ("create in owner", _open, os.path.join(owner, "x y"), CREAT),
        ("mkdir in owner", os.mkdir, os.path.join(owner, "new dir")),
        ("chmod owner", os.chmod, owner, 0o777),
        ("lchown ref symlink", os.lchown, h.p("alice", "vision:main"), 1, 1),
        # root
        ("mkdir in root", os.mkdir, os.path.join(root, "new.dir")),
        ("create in root", _open, os.path.join(root, "new.file"), CREAT),
        ("symlink in root", os.symlink, "alice", os.path.join(root, "a.link")),
        ("rmdir owner", os.rmdir, owner),
        ("rename owner", os.rename, owner, os.path.join(root, "al.ice")),
        ("chmod root", os.chmod, root, 0o777),
        ("setxattr root", os.setxattr, root, "user.test", b"1"),
    ]


@pytest.fixture(params=["kernel-ro", "handlers"])
def mounted_ro_or_rw(request, hub, monkeypatch):
    """kernel-ro: the normal mount (the kernel refuses most mutations
    itself). handlers: the test-only HUBFS_TEST_KERNEL_RW=1 leaves out the
    kernel's "ro", so every call reaches fs/ops.c, whose handlers must answer
    EROFS (a missing one would show as ENOSYS)."""
    if request.param == "handlers":
        monkeypatch.setenv("HUBFS_TEST_KERNEL_RW", "1")
    hub.mount()
    if request.param == "handlers":
        with open("/proc/self/mounts") as f:
            opts = [l.split()[3] for l in f if l.split()[1] == hub.current.path]
        assert opts and "rw" in opts[-1].split(","), opts
    return hub


def test_every_mutation_is_erofs(mounted_ro_or_rw):
    h = mounted_ro_or_rw
    # bring the repo in first, so that each call reaches an existing object
    assert "hubconf.py" in harness.listdir(h.p("alice", "vision") + "/")
    main = h.manifest["alice/vision"]["refs"]["main"]
    before = read_file(h.p("alice", "vision@" + main, "hubconf.py"))
    handlers = os.environ.get("HUBFS_TEST_KERNEL_RW") == "1"
    bad = []
    for name, fn, *args in _ops(h):
        e = errno_of(fn, *args)
        if e == 0 and handlers and fn is _open and not args[1] & os.O_CREAT:
            # The first read-only OPEN answered ENOSYS (fs/ops.c), so the
            # kernel no longer asks: on a mount without the kernel's "ro" an
            # open for writing succeeds, and the write is what gets EROFS.
            e = errno_of(_open_and_write, *args)
        if e != errno.EROFS:
            bad.append("%-24s %s: %s, want EROFS" % (name, args[0], ename(e)))
    assert not bad, "\n".join(bad)
    # nothing changed
    assert read_file(h.p("alice", "vision@" + main, "hubconf.py")) == before
    assert harness.readlink(h.p("alice", "vision")) == "vision:main"
    assert "new.txt" not in harness.listdir(h.p("alice", "vision@" + main))


def test_reads_still_work_on_read_only_open(mounted):
    h = mounted
    main = h.manifest["alice/vision"]["refs"]["main"]
    f = h.p("alice", "vision@" + main, "README.md")
    assert read_file(f) == b"# vision\n\nA hubfs test fixture.\n"
    assert errno_of(os.access, f, os.R_OK) == 0
