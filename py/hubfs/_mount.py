"""Finding the hubfs mount and naming paths in it.

The mount is `mount=`, else $HUBFS_MOUNT, else the single hubfs entry of
/proc/self/mountinfo.  A directory is accepted as hubfs when it has
/.hubfs/version (the daemon's own control directory).
"""
import os

FSTYPE = "fuse.hubfs"
MOUNTINFO = "/proc/self/mountinfo"


class MountError(RuntimeError):
    """No hubfs mount could be found, or the path given is not one."""


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def hubfs_mounts(mountinfo=None):
    """Mount points of every hubfs mount this process sees."""
    found = []
    try:
        with open(mountinfo or MOUNTINFO) as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) > 4 and right.split()[:1] == [FSTYPE]:
                    found.append(_unescape(fields[4]))
    except OSError:
        pass
    return found


def is_hubfs(path):
    return os.path.isfile(os.path.join(path, ".hubfs", "version"))


_checked = set()  # mount points found to be hubfs in this process (see forget_mount)


def forget_mount(mount):
    """Check mount again next time (a lookup in it failed: unmounted?)."""
    _checked.discard(mount)


def find_mount(mount=None):
    """The mount point to use (see the module's docstring).  A path once
    found to be hubfs is not checked again until forget_mount(path)."""
    if mount is not None and mount in _checked:
        return mount
    if mount is None:
        env = os.environ.get("HUBFS_MOUNT")
        if env and env in _checked:
            return env
    if mount is None:
        mount = os.environ.get("HUBFS_MOUNT") or None
        source = "$HUBFS_MOUNT"
    else:
        source = "mount="
    if mount is not None:
        mount = os.fspath(mount)
        if not os.path.isdir(mount):
            raise MountError("hubfs: %s (from %s) is not a directory" % (mount, source))
        if not is_hubfs(mount):
            raise MountError("hubfs: %s (from %s) is not a hubfs mount (no .hubfs/version); "
                             "mount one with `hubfs %s`" % (mount, source, mount))
        _checked.add(mount)
        return mount
    mounts = [m for m in hubfs_mounts() if is_hubfs(m)]
    if not mounts:
        raise MountError("hubfs: no hubfs mount found: mount one (`hubfs ~/hub`) and pass "
                         "mount=PATH or set HUBFS_MOUNT")
    if len(mounts) > 1:
        raise MountError("hubfs: several hubfs mounts (%s): choose one with mount=PATH or "
                         "HUBFS_MOUNT" % ", ".join(mounts))
    return mounts[0]


def escape_ref(ref):
    """A ref as a path component: '%' written %25 and '/' written %2F."""
    return ref.replace("%", "%25").replace("/", "%2F")


def url_path(mount, url):
    """/.hubfs/url/<url>: any http(s) URL as a weight file."""
    return os.path.join(mount, ".hubfs", "url", url.replace("%", "%25").replace("/", "%2F"))


def options(mount):
    """/.hubfs/options as a dict (cache=..., offline=..., ...)."""
    out = {}
    try:
        with open(os.path.join(mount, ".hubfs", "options")) as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep:
                    out[k] = v
    except OSError:
        pass
    return out
