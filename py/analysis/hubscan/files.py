"""files: every read of a file or directory the analysis makes.

OWNS
  Confinement (below), the two file systems modules are found in and read
  from -- RepoFS (the commit tree, through the caller's callbacks) and
  HostFS (installed packages' sources, through Confined) -- and host_path(),
  the installed packages' directories (the roots HostFS may read).  Nothing
  outside this module opens, lists or stats a path of the host.  Listings of
  installed-package directories are kept between jobs (_HOST_DIRS).
"""

import errno
import os
import stat
import sys


# analysis_path= of the mount (set_user_path()): installed-packages
# directories the user names (a venv's or conda env's site-packages), searched
# first, as PYTHONPATH entries are.
_USER_PATH = []


def set_user_path(dirs):
    """dirs: ':'-separated absolute directories ('' for none)."""
    _USER_PATH[:] = [d for d in (dirs or '').split(':') if d and os.path.isabs(d)]


def host_path():
    """The host's module search path: the directories of analysis_path=,
    then the interpreter's sys.path plus Debian's dist-packages (site is
    never imported, so .pth files are not run)."""
    v = '%d.%d' % sys.version_info[:2]
    extra = ['/usr/local/lib/python%s/dist-packages' % v,
             '/usr/lib/python3/dist-packages',
             '/usr/lib/python%s/dist-packages' % v]
    out = []
    for p in _USER_PATH + list(sys.path) + extra:
        if p and os.path.isabs(p) and p not in out and os.path.isdir(p):
            out.append(p)
    return out


# Confinement.  The daemon runs as root and its results are world-readable,
# so what the analysis may read is fixed: (a) the commit tree, through the
# caller's callbacks (git blobs in the daemon, where no file of the host is
# involved), and (b) the directories of the installed packages of the
# interpreter it models, host_path(): the stdlib and dist-packages, the roots.
# Every other access to the host's file system in the analysis goes through
# Confined (analyze_dir() uses it for its directory tree too; host_path()
# only asks isdir() of the interpreter's own search path):
#   - a path is accepted only when, normalised lexically, it lies under a
#     root; the rest is walked from the root one component at a time with
#     O_NOFOLLOW|O_DIRECTORY, so no symbolic link is followed below a root
#     and no '..' or link leads out of it;
#   - the last component must be a regular file (fstatat without following
#     links) before it is opened, so a FIFO, device or socket is never
#     opened and never blocks; it is opened O_NOFOLLOW|O_NONBLOCK and the
#     descriptor is checked again with fstat (regular, the same inode);
#   - at most cap + 1 bytes are read.
# A sys.path entry hubconf adds outside the roots is ignored, with an errors
# line naming the expression (never anything read there).  Symbolic links are
# not followed anywhere: in the daemon a link in the commit tree is not a
# regular file either (cache/analysis.c answers ELOOP).

_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = _ROOT_FLAGS | os.O_NOFOLLOW
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# errnos meaning "not a regular file" from the tree readers and Confined:
# ELOOP a symbolic link (not followed), ENXIO a FIFO, device or socket.
NOT_REGULAR = (errno.ELOOP, errno.ENXIO)


def not_regular_why(e):
    return 'a symbolic link, not followed' if e.errno == errno.ELOOP else 'a FIFO, device or socket'


def _check_regular(st):
    m = st.st_mode
    if stat.S_ISREG(m):
        return
    if stat.S_ISDIR(m):
        raise IsADirectoryError(errno.EISDIR, 'is a directory')
    if stat.S_ISLNK(m):
        raise OSError(errno.ELOOP, 'a symbolic link: not followed')
    raise OSError(errno.ENXIO, 'not a regular file')


class Confined:
    """Read-only access to directories and regular files below fixed root
    directories (see Confinement above); the one place the analysis opens,
    lists or stats a path of the host.  Paths are absolute."""

    def __init__(self, roots):
        rs = []
        for r in roots:
            if isinstance(r, str) and os.path.isabs(r) and '\0' not in r:
                r = os.path.normpath(r)
                if r not in rs:
                    rs.append(r)
        self.roots = tuple(sorted(rs, key=len, reverse=True))   # the most specific first

    def locate(self, path):
        """(root, [names below root]) when path lies under a root, else None."""
        if not isinstance(path, str) or '\0' in path or not os.path.isabs(path):
            return None
        p = os.path.normpath(path)
        for r in self.roots:
            if p == r:
                return r, []
            pre = r if r.endswith('/') else r + '/'
            if p.startswith(pre):
                names = [n for n in p[len(pre):].split('/') if n and n != '.']
                if '..' in names:   # normpath leaves none below a root; be strict anyway
                    return None
                return r, names
        return None

    def _open_dir(self, path, parent):
        """fd of path's directory (parent) or of path itself, and the last name."""
        loc = self.locate(path)
        if loc is None:
            raise PermissionError(errno.EACCES, 'outside the directories the analysis may read')
        root, names = loc
        last = None
        if parent:
            if not names:
                raise IsADirectoryError(errno.EISDIR, 'is a directory')
            names, last = names[:-1], names[-1]
        fd = os.open(root, _ROOT_FLAGS)   # a root is trusted configuration
        try:
            for n in names:
                nfd = os.open(n, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd, last

    def listdir(self, path):
        """The names in directory path, or None (absent, not a directory, a
        link, outside the roots, unreadable)."""
        try:
            fd, _ = self._open_dir(path, False)
        except OSError:
            return None
        try:
            return os.listdir(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def stat(self, path):
        """os.stat_result of path when it is a regular file, else None."""
        try:
            fd, name = self._open_dir(path, True)
        except OSError:
            return None
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            return None
        finally:
            os.close(fd)
        return st if stat.S_ISREG(st.st_mode) else None

    def read(self, path, cap, exact=False):
        """At most cap + 1 bytes of regular file path.  Raises OSError:
        FileNotFoundError, IsADirectoryError, NotADirectoryError, errno
        ELOOP (a link) or ENXIO (FIFO, device, socket), EACCES (outside the
        roots), EFBIG with the size as strerror when exact and the file is
        larger than cap."""
        fd, name = self._open_dir(path, True)
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            _check_regular(st)
            if exact and st.st_size > cap:
                raise OSError(errno.EFBIG, str(st.st_size))
            f = os.open(name, _FILE_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        try:
            st2 = os.fstat(f)
            if not stat.S_ISREG(st2.st_mode) or (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino):
                raise OSError(errno.ENXIO, 'replaced while opened')
            chunks, n = [], 0
            while n <= cap:
                b = os.read(f, cap + 1 - n)
                if not b:
                    break
                chunks.append(b)
                n += len(b)
            return b''.join(chunks)
        finally:
            os.close(f)


class RepoFS:
    """The commit tree, through the caller's callbacks; paths are relative,
    '/'-separated, '' is the root."""
    is_repo = True

    def __init__(self, read, listdir):
        self._read = read
        self._listdir = listdir
        self._dirs = {}

    def listdir(self, d):
        try:
            return self._dirs[d]
        except KeyError:
            pass
        try:
            names = self._listdir(d)
        except OSError:
            names = None
        r = frozenset(names) if names is not None else None
        self._dirs[d] = r
        return r

    def isdir(self, p):
        return self.listdir(p) is not None

    def read(self, p, cap):
        return self._read(p)

    @staticmethod
    def join(d, n):
        return n if not d else d + '/' + n

    @staticmethod
    def dirname(p):
        return p.rpartition('/')[0]

    @staticmethod
    def key(p):
        return None


# Listings of installed-package directories, kept between jobs: path -> frozenset | None.
_HOST_DIRS = {}


class HostFS:
    """The host's installed sources (below the job's roots), read as files
    through Confined."""
    is_repo = False

    def __init__(self, roots):
        self._conf = Confined(roots)
        self._ok = {}

    def allowed(self, p):
        """Whether p lies under the roots (may be read at all)."""
        r = self._ok.get(p)
        if r is None:
            r = self._ok[p] = self._conf.locate(p) is not None
        return r

    def listdir(self, d):
        if not self.allowed(d):
            return None
        try:
            return _HOST_DIRS[d]
        except KeyError:
            pass
        names = self._conf.listdir(d)
        r = frozenset(names) if names is not None else None
        _HOST_DIRS[d] = r
        return r

    def isdir(self, p):
        return self.listdir(p) is not None

    def read(self, p, cap):
        try:
            return self._conf.read(p, cap)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    join = staticmethod(os.path.join)
    dirname = staticmethod(os.path.dirname)

    def key(self, p):
        st = self._conf.stat(p)
        if st is None:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)
