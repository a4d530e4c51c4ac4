"""hubconf_scan: what torch.hub.list() and torch.hub.help() return for one
commit tree, found without running a line of it.

DESIGN
  torch.hub.list() imports hubconf.py and keeps
      [f for f in dir(m) if callable(getattr(m, f)) and not f.startswith('_')]
  and torch.hub.help() returns getattr(m, f).__doc__.  This module computes
  the same two things by evaluating hubconf.py's namespace symbolically: it
  parses sources with `ast`, walks the top-level statements in order and binds
  every name to a lazily computed abstract value (Thunk -> Val).  Nothing is
  ever imported or executed: repository modules are read through the caller's
  tree callbacks, installed packages (torch, torchvision, the stdlib, ...) are
  read as source files found on the host's Python path.  Nothing else on the
  host is read: every host file access goes through Confined (regular files
  below the installed packages' directories, no link followed, never
  blocking; see "Confinement" below), and sys.path entries hubconf adds
  outside them are ignored.  The only live
  objects consulted are those of CPython itself: `builtins` and the modules
  compiled into the interpreter (sys.builtin_module_names).

  Values (class Val and subclasses) model what a name would be bound to:
  a module, a function (FuncV), a class (ClassV), an instance of a class
  (InstV, callable iff its class has __call__), a functools.wraps-style
  wrapper (WrappedV), a method (MethodV), a builtin object (LiveV), plain data
  (DataV) or UnknownV with the reason and file:line it could not be settled.
  UnknownV values of public names become lines of `errors`; nothing is
  guessed silently.

  Import resolution follows importlib's PathFinder/FileFinder order
  (package dir with __init__, extension module, .py, .pyc, namespace
  portions), with sys.path = [repo root] + host path as torch.hub sets it,
  plus the sys.path.insert/append calls hubconf makes.  Modules torch has
  already imported when torch.hub runs (PRELOADED) resolve to the host first,
  as they would from sys.modules.  Repository modules are executed (i.e.
  symbolically evaluated) eagerly when imported, host modules lazily when a
  name from them is needed.

  Caps (source size, bracket nesting, modules, bytes, entrypoints, time) come
  from the caller (base/limits.h).  Cancellation is cooperative: tick(),
  called for every statement, parsed file, import, decorator and call
  analysed and every name classified, raises
  Cancelled when the caller's deadline passes or (polled every 64 ticks) the
  C side's `cancelled()` says the job was abandoned; _Budget when the job's
  own time budget is spent (a partial result, with an errors line).

  Threading: called only on the py/ interpreter thread; the parse cache
  (_AST_CACHE: installed files by path and stat, repository files by BLAKE2
  hash of their bytes, LRU bounded in source bytes) is the only state kept
  between jobs.
"""

import ast
import builtins
import errno
import gc
import importlib.machinery
import json
import os
import re
import stat
import sys
import time
import warnings

__all__ = ['analyze', 'analyze_json', 'analyze_dir', 'embedded_init', 'Cancelled', 'DEFAULT_LIMITS',
           'host_path']


class Cancelled(BaseException):
    """The job was cancelled (caller timeout or shutdown): abandon it."""


class _Budget(BaseException):
    """The job used up its own time budget: report what is known so far."""


DEFAULT_LIMITS = {
    'source_max': 1 << 20,        # bytes of one source file
    'depth_max': 100,             # bracket nesting before ast.parse
    'entrypoints_max': 10000,     # entrypoints reported
    'modules_max': 1000,          # source modules parsed per job
    'bytes_max': 8 << 20,         # source bytes parsed per job
    'errors_max': 200,            # lines of errors
    'call_depth': 12,             # nested decorator / call-return analysis
    'job_seconds': 10.0,          # time budget of one job
    'ast_cache_bytes': 4 << 20,   # source bytes whose AST is kept between jobs (~27x in memory)
}

# Top-level modules already in sys.modules when torch.hub imports hubconf.py
# (measured: `import torch` under Debian's python3.11, torch 1.13): an import
# of these finds the host's module even if the repository has a file of that
# name.
PRELOADED = frozenset('''
__future__ _abc _ast _bisect _blake2 _bz2 _codecs _collections _collections_abc
_compat_pickle _compression _contextvars _ctypes _datetime _frozen_importlib
_frozen_importlib_external _functools _hashlib _heapq _imp _io _json _locale
_lzma _multiprocessing _opcode _operator _pickle _posixsubprocess _queue _random
_sha512 _signal _sitebuiltins _socket _sre _ssl _stat _string _struct _thread
_typing _warnings _weakref _weakrefset abc array ast atexit base64 binascii
bisect builtins bz2 calendar cmath codecs collections contextlib contextvars copy
copyreg ctypes dataclasses datetime difflib dis email encodings enum errno fcntl
fnmatch functools gc genericpath glob grp gzip hashlib heapq hmac http importlib
inspect io ipaddress itertools json keyword linecache locale logging lzma
marshal math multiprocessing ntpath numbers opcode operator os pathlib pickle
pickletools platform posix posixpath pwd queue quopri random re reprlib secrets
select selectors shutil signal site socket ssl stat string struct subprocess sys
tarfile tempfile textwrap threading time token tokenize traceback types typing
urllib warnings weakref zipfile zipimport zlib
numpy torch typing_extensions six certifi
'''.split())

# Modules that exist only as sys.modules entries made by their parent.
_MODULE_ALIASES = {'os.path': 'posixpath'}

EXT_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)

try:    # compiled into Debian's libpython: no need to load OpenSSL for a cache key
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b as _blake2b
_BUILTIN_MODULES = frozenset(sys.builtin_module_names)

# Attributes of the live `sys` that are the same in the torch.hub process.
_SYS_SAFE = frozenset(('version_info', 'version', 'hexversion', 'platform',
                       'byteorder', 'maxsize', 'builtin_module_names',
                       'implementation', 'float_info', 'int_info', 'maxunicode',
                       'api_version', 'abiflags', 'thread_info'))
# Builtin functions whose result is plain data, never callable.
_DATA_BUILTINS = frozenset(('len', 'sorted', 'isinstance', 'issubclass', 'hasattr',
                            'repr', 'sum', 'abs', 'round', 'id', 'hash', 'ascii',
                            'bin', 'hex', 'oct', 'chr', 'ord', 'format', 'any',
                            'all', 'divmod', 'open', 'globals', 'locals', 'vars',
                            'dir', 'input', 'print', 'iter', 'callable', 'exec',
                            'eval', 'compile', 'setattr', 'delattr', 'pow'))


def host_path():
    """The host's module search path: the interpreter's sys.path plus Debian's
    dist-packages (site is never imported, so .pth files are not run)."""
    v = '%d.%d' % sys.version_info[:2]
    extra = ['/usr/local/lib/python%s/dist-packages' % v,
             '/usr/lib/python3/dist-packages',
             '/usr/lib/python%s/dist-packages' % v]
    out = []
    for p in list(sys.path) + extra:
        if p and os.path.isabs(p) and p not in out and os.path.isdir(p):
            out.append(p)
    return out


def embedded_init(recursion_limit=None):
    """Called once by py/pyrt.c after loading this module into the embedded
    interpreter: sys.path gains the host's dist-packages (searched as files,
    never imported from), warnings are silenced (nobody reads them in a
    daemon), and the recursion limit fits the big thread stack."""
    for p in host_path():
        if p not in sys.path:
            sys.path.append(p)
    warnings.simplefilter('ignore')
    if recursion_limit:
        sys.setrecursionlimit(int(recursion_limit))
    sys.dont_write_bytecode = True
    return list(sys.path)


# --------------------------------------------------------------- file systems
#
# Confinement.  The daemon runs as root and its results are world-readable,
# so what the analysis may read is fixed: (a) the commit tree, through the
# caller's callbacks (git blobs in the daemon, where no file of the host is
# involved), and (b) the directories of the installed packages of the
# interpreter it models, host_path(): the stdlib and dist-packages, the roots.
# Every other access to the host's file system in this module goes through
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
_NOT_REGULAR = (errno.ELOOP, errno.ENXIO)


def _not_regular_why(e):
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
    directories (see Confinement above); the one place this module opens,
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


# Parsed ASTs kept between jobs, LRU by insertion order, bounded in source
# bytes: host path -> (stat key, tree, size); 'b2:<blake2b hex>' of a repository
# file's bytes -> (None, tree, size).  Trees are never mutated.
_AST_CACHE = {}
_AST_CACHE_BYTES = [0]


class RepoPath(str):
    """A path inside the commit tree (value of __file__ and friends)."""
    __slots__ = ()


# --------------------------------------------------------------------- values

class Val:
    __slots__ = ('__weakref__',)


class ModuleV(Val):
    __slots__ = ('mod',)

    def __init__(self, mod):
        self.mod = mod


class FuncV(Val):
    """A def or lambda; scope resolves its free names (closure + globals)."""
    __slots__ = ('node', 'mod', 'scope', 'qual')

    def __init__(self, node, mod, scope, qual=None):
        self.node, self.mod, self.scope = node, mod, scope
        self.qual = qual


class ClassV(Val):
    __slots__ = ('node', 'mod', 'bases', 'scope', 'ns', 'mro', 'mro_c', 'meta', 'qual')

    def __init__(self, node, mod, bases, scope, meta, qual=None):
        self.node, self.mod, self.bases, self.scope = node, mod, bases, scope
        self.ns = None
        self.mro = None
        self.mro_c = None
        self.meta = meta
        self.qual = qual


class InstV(Val):
    """An instance of cls (ClassV or LiveV of a type).  partial: for
    functools.partial objects, (func Val, [arg Thunk], {kw: Thunk}, {kw: src}).
    args: ([arg Thunk], {kw: Thunk}) of the constructor call, when known."""
    __slots__ = ('cls', 'partial', 'args')

    def __init__(self, cls, partial=None, args=None):
        self.cls = cls
        self.partial = partial
        self.args = args


class MethodV(Val):
    """A bound method: func with its first parameter bound."""
    __slots__ = ('func',)

    def __init__(self, func):
        self.func = func


class WrappedV(Val):
    """wrapper after functools.update_wrapper(wrapper, wrapped): callable,
    __doc__ copied from wrapped, inspect.signature follows __wrapped__."""
    __slots__ = ('wrapper', 'wrapped')

    def __init__(self, wrapper, wrapped):
        self.wrapper, self.wrapped = wrapper, wrapped


class DecorV(Val):
    """Decorator objects of functools: kind 'wraps' (wrapped=Val) or 'lru'."""
    __slots__ = ('kind', 'wrapped')

    def __init__(self, kind, wrapped=None):
        self.kind, self.wrapped = kind, wrapped


class DescrV(Val):
    """classmethod/staticmethod/property applied to a function in a class body."""
    __slots__ = ('kind', 'func')

    def __init__(self, kind, func):
        self.kind, self.func = kind, func


class LiveV(Val):
    """A live object of CPython itself (builtins, builtin modules)."""
    __slots__ = ('obj',)

    def __init__(self, obj):
        self.obj = obj


_NOVALUE = object()


class DataV(Val):
    """Plain data: never callable.  value: the Python value when known;
    elts: for dict/list/tuple displays, element Thunks for subscripts."""
    __slots__ = ('value', 'elts')

    def __init__(self, value=_NOVALUE, elts=None):
        self.value, self.elts = value, elts


class SysPathV(Val):
    __slots__ = ()


class UnknownV(Val):
    """cext: the value is an attribute of a C extension module."""
    __slots__ = ('reason', 'where', 'cext')

    def __init__(self, reason, where=None, cext=False):
        self.reason, self.where, self.cext = reason, where, cext

    def text(self):
        return '%s: %s' % (self.where, self.reason) if self.where else self.reason


class CBaseV(Val):
    """A base class from a C extension, opaque: in the lenient MRO used for
    signatures (inspect never counts C-level methods as user-defined)."""
    __slots__ = ('what',)

    def __init__(self, what):
        self.what = what


class SynthClassV(Val):
    """A class made by a factory whose result is known exactly
    (collections.namedtuple): its name, __doc__ and constructor parameters."""
    __slots__ = ('name', 'doc', 'params')

    def __init__(self, name, doc, params):
        self.name, self.doc, self.params = name, doc, params


class UndecoratedV(Val):
    """A def/class whose decorator could not be followed: assumed callable,
    reported in errors, described by the undecorated object."""
    __slots__ = ('inner', 'why')

    def __init__(self, inner, why):
        self.inner, self.why = inner, why


class Thunk:
    """A lazily computed Val; `line` is where the binding was made."""
    __slots__ = ('fn', 'val', 'state', 'where')

    def __init__(self, fn=None, val=None, where=None):
        self.fn = fn
        self.val = val
        self.state = 2 if fn is None else 0
        self.where = where

    def get(self):
        if self.state == 2:
            return self.val
        if self.state == 1:
            return UnknownV('circular definition', self.where)
        self.state = 1
        try:
            v = self.fn()
        except RecursionError:
            v = UnknownV('definition too deep to follow', self.where)
        except _Unknown as e:
            v = e.val
        self.val, self.state, self.fn = v, 2, None
        return v


def known(v, where=None):
    return Thunk(None, v, where)


class _Unknown(Exception):
    def __init__(self, val):
        Exception.__init__(self)
        self.val = val


class _NotConst(Exception):
    pass


class _Opaque:
    """A non-data value in constant evaluation: truthy, never None."""
    __slots__ = ('v',)

    def __init__(self, v):
        self.v = v


_UNKNOWN_ALL = object()


class Mod:
    """One module of the job (like an entry of sys.modules)."""
    __slots__ = ('name', 'fs', 'file', 'kind', 'pkg_dirs', 'ns', 'state',
                 'incomplete', 'all_', 'failure', 'getattr_where', 'live', 'tree')

    def __init__(self, name, fs, file, kind, pkg_dirs=None):
        self.name, self.fs, self.file, self.kind = name, fs, file, kind
        self.pkg_dirs = pkg_dirs
        self.ns = {}
        self.state = 'new'
        self.incomplete = []
        self.all_ = None
        self.failure = None
        self.getattr_where = None
        self.live = None
        self.tree = None

    @property
    def is_repo(self):
        return self.fs is not None and self.fs.is_repo

    def show(self):
        return self.file if self.file is not None else self.name

    def where(self, node):
        line = getattr(node, 'lineno', 0) if node is not None else 0
        return '%s:%d' % (self.show(), line)


class Exc:
    """An exception a statement would raise (at import time)."""
    __slots__ = ('kind', 'where', 'msg')

    def __init__(self, kind, where, msg):
        self.kind, self.where, self.msg = kind, where, msg


_EXC_PARENTS = {
    'ModuleNotFoundError': ('ModuleNotFoundError', 'ImportError', 'Exception', 'BaseException'),
    'ImportError': ('ImportError', 'Exception', 'BaseException'),
}


class Scope:
    """Name resolution: vars (dict name -> Thunk) chained to parent scopes,
    then the module's namespace as it finally is (when live_globals), then
    builtins."""
    __slots__ = ('mod', 'vars', 'parent', 'live_globals')

    def __init__(self, mod, vars=None, parent=None, live_globals=True):
        self.mod, self.vars, self.parent, self.live_globals = mod, vars, parent, live_globals

    def lookup(self, name):
        s = self
        live = False
        while s is not None:
            if s.vars is not None:
                t = s.vars.get(name)
                if t is not None:
                    return t
            live = live or s.live_globals
            s = s.parent
        if live:
            t = self.mod.ns.get(name)
            if t is not None:
                return t
        if hasattr(builtins, name):
            return known(LiveV(getattr(builtins, name)))
        return None


# ------------------------------------------------------------------ utilities

_SCAN_RE = re.compile(
    rb'#[^\n]*'
    rb'|[rRbBuUfF]{0,2}(?:\'\'\'(?:[^\\]|\\.)*?(?:\'\'\'|\Z)|"""(?:[^\\]|\\.)*?(?:"""|\Z)'
    rb'|\'(?:[^\'\\\n]|\\.)*\'?|"(?:[^"\\\n]|\\.)*"?)'
    rb'|[()\[\]{}]', re.S)


def nesting_error(data, limit):
    """Line of the first bracket nested deeper than limit, else 0.  Strings
    and comments are skipped; the scan is a single regex pass (C speed)."""
    depth = 0
    for m in _SCAN_RE.finditer(data):
        c = data[m.start()]
        if c in b'([{' and m.end() - m.start() == 1:
            depth += 1
            if depth > limit:
                return data.count(b'\n', 0, m.start()) + 1
        elif c in b')]}' and m.end() - m.start() == 1:
            depth = max(0, depth - 1)
    return 0


def docstring(node):
    """The raw docstring (Python 3.11: not dedented) or None."""
    if isinstance(node, ast.Lambda):
        return None
    body = getattr(node, 'body', None)
    if body and isinstance(body[0], ast.Expr):
        v = body[0].value
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            return v.value
    return None


def unparse(node):
    try:
        return ast.unparse(node)
    except (RecursionError, ValueError, AttributeError):
        return '...'


# Parameter kinds, as inspect.Parameter.
POSONLY, POS, VARPOS, KWONLY, VARKW = range(5)


def params_of(node):
    a = node.args
    out = []
    pos = list(a.posonlyargs) + list(a.args)
    defaults = [None] * (len(pos) - len(a.defaults)) + [unparse(d) for d in a.defaults]
    for i, p in enumerate(pos):
        out.append((POSONLY if i < len(a.posonlyargs) else POS, p.arg, defaults[i]))
    if a.vararg is not None:
        out.append((VARPOS, a.vararg.arg, None))
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((KWONLY, p.arg, unparse(d) if d is not None else None))
    if a.kwarg is not None:
        out.append((VARKW, a.kwarg.arg, None))
    return out


def format_params(params):
    """As str(inspect.Signature) without annotations."""
    out = []
    pos_sep = False
    kw_sep = True
    for kind, name, default in params:
        if kind == POSONLY:
            pos_sep = True
        elif pos_sep:
            out.append('/')
            pos_sep = False
        if kind == VARPOS:
            kw_sep = False
        elif kind == KWONLY and kw_sep:
            out.append('*')
            kw_sep = False
        s = '*' + name if kind == VARPOS else '**' + name if kind == VARKW else name
        if default is not None:
            s += '=' + default
        out.append(s)
    if pos_sep:
        out.append('/')
    return '(' + ', '.join(out) + ')'


def bound_params(params):
    """inspect._signature_bound_method: drop self."""
    if params is None or not params:
        return None
    if params[0][0] in (POSONLY, POS):
        return params[1:]
    if params[0][0] == VARPOS:
        return params
    return None


def partial_params(params, nargs, kwnames, kwsrc):
    """inspect._signature_get_partial for nargs positional arguments and
    keywords kwnames (source of their values in kwsrc)."""
    if params is None:
        return None
    new = []
    bound = set()
    i = 0
    for kind, name, default in params:
        if kind in (POSONLY, POS) and i < nargs:
            bound.add(name)
            i += 1
    transform = False
    order = []
    tail = []
    for kind, name, default in params:
        if name in bound:
            continue
        if name in kwnames and kind in (POS, KWONLY):
            if kind == POS:
                transform = True
            default = kwsrc.get(name, '...')
        if transform:
            if kind == POS:
                tail.append((KWONLY, name, default))
                continue
            if kind in (KWONLY, VARKW):
                tail.append((kind, name, default))
                continue
            if kind == VARPOS:
                continue
        order.append((kind, name, default))
    new = order + tail
    return new


def _const_value_ok(v, depth=0):
    if depth > 20:
        return False
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
        return not (isinstance(v, (str, bytes)) and len(v) > 1 << 16)
    if isinstance(v, (tuple, list, frozenset, set)):
        return len(v) <= 4096 and all(_const_value_ok(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return len(v) <= 4096 and all(_const_value_ok(k, depth + 1) and _const_value_ok(x, depth + 1)
                                      for k, x in v.items())
    return False


# ------------------------------------------------------------------------ job

WEIGHT_LOADERS = frozenset(('load_state_dict_from_url', 'download_url_to_file', 'load_url',
                            'hf_hub_download', 'urlretrieve'))
WEIGHT_SUFFIXES = ('.pth', '.pt', '.bin', '.ckpt', '.safetensors', '.pkl', '.tar', '.pth.tar',
                   '.onnx', '.h5', '.npz')


def _is_url(s):
    return (s.startswith('http://') or s.startswith('https://')) and len(s) < 4096 and \
        not any(c.isspace() for c in s)


class _WImport:
    """A module-level import, for following weights across repo modules."""
    __slots__ = ('src', 'module', 'level', 'name')

    def __init__(self, src, module, level, name):
        self.src, self.module, self.level, self.name = src, module, level, name


def _weight_suffix(url):
    path = url.split('#', 1)[0].split('?', 1)[0]
    return path.lower().endswith(WEIGHT_SUFFIXES)


def _callee(call):
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


class Job:
    def __init__(self, read, listdir, limits, soft_deadline, hard_deadline, host, cancelled=None):
        self.entry_vals = {}
        self.windex = {}
        self._pyset = None
        self.repo = RepoFS(read, listdir)
        self.lim = dict(DEFAULT_LIMITS)
        if limits:
            self.lim.update(limits)
        self.soft = soft_deadline
        self.hard = hard_deadline
        self.cancelled = cancelled
        self.ticks = 0
        self.host = [p for p in (host if host is not None else host_path())]
        self.hostfs = HostFS(self.host)
        self.path = [(self.repo, '')] + [(self.hostfs, p) for p in self.host]
        self.modules = {}
        self.errors = []
        self._err_seen = set()
        self.doc_override = {}
        self._doc_busy = set()
        self.nparsed = 0
        self.bytes = 0
        self.hub = None
        self.hub_lines = {}     # hubconf name -> 'hubconf.py:N' of its binding

    # -- bookkeeping
    def tick(self):
        t = time.monotonic()
        if t > self.hard:
            raise Cancelled('deadline')
        if t > self.soft:
            raise _Budget()
        self.ticks += 1
        if not self.ticks & 63 and self.cancelled is not None and self.cancelled():
            raise Cancelled('cancelled')

    def error(self, text):
        if text in self._err_seen:
            return
        self._err_seen.add(text)
        self.errors.append(text)

    # -- parsing
    def parse(self, fs, path, display, data=None):
        """(tree, None) or (None, 'file:line: reason')."""
        self.tick()
        lim = self.lim
        key = ckey = None
        if not fs.is_repo:
            key = fs.key(path)
            hit = _AST_CACHE.get(path)
            if hit is not None and key is not None and hit[0] == key:
                _AST_CACHE[path] = _AST_CACHE.pop(path)
                return hit[1], None
        if self.nparsed >= lim['modules_max']:
            return None, '%s:0: not analysed: more than %d modules in one analysis' % (
                display, lim['modules_max'])
        if data is None:
            try:
                data = fs.read(path, lim['source_max'])
            except OSError as e:
                if e.errno == errno.EFBIG:
                    return None, too_large(display, e, lim['source_max'])
                if e.errno in _NOT_REGULAR:
                    return None, '%s:0: not read: not a regular file (%s)' % (display, _not_regular_why(e))
                return None, '%s:0: cannot read: %s' % (display, os.strerror(e.errno or errno.EIO))
            if data is None:
                return None, '%s:0: cannot read: file not found' % display
        if len(data) > lim['source_max']:
            size = '%d bytes' % len(data) if fs.is_repo else 'more than %d bytes' % lim['source_max']
            return None, '%s:0: file too large (%s, limit %d): not analysed' % (display, size, lim['source_max'])
        if fs.is_repo:
            # different commits of a repository share most files
            ckey = 'b2:' + _blake2b(data, digest_size=20).hexdigest()
            hit = _AST_CACHE.get(ckey)
            if hit is not None:
                _AST_CACHE[ckey] = _AST_CACHE.pop(ckey)
                return hit[1], None
        if self.bytes + len(data) > lim['bytes_max']:
            return None, '%s:0: not analysed: more than %d bytes of source in one analysis' % (
                display, lim['bytes_max'])
        self.nparsed += 1
        self.bytes += len(data)
        nul = data.find(b'\0')
        if nul >= 0:
            return None, '%s:%d: source contains NUL bytes: not a Python file' % (
                display, data.count(b'\n', 0, nul) + 1)
        line = nesting_error(data, lim['depth_max'])
        if line:
            return None, '%s:%d: brackets nested more than %d deep: not analysed' % (
                display, line, lim['depth_max'])
        self.tick()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                tree = ast.parse(data, filename=display)
        except SyntaxError as e:   # IndentationError, TabError, decoding errors
            msg = e.msg or 'invalid syntax'
            return None, '%s:%d: %s: %s' % (display, e.lineno or 0, type(e).__name__, msg)
        except (ValueError, UnicodeError) as e:
            return None, '%s:0: cannot parse: %s' % (display, e)
        except MemoryError:
            return None, '%s:0: cannot parse: expression too complex (MemoryError)' % display
        except RecursionError:
            return None, '%s:0: cannot parse: nesting too deep (RecursionError)' % display
        self.tick()
        ckey = ckey if fs.is_repo else (path if key is not None else None)
        if ckey is not None:
            cap = lim['ast_cache_bytes']
            if len(data) <= cap // 4:
                old = _AST_CACHE.pop(ckey, None)
                if old is not None:
                    _AST_CACHE_BYTES[0] -= old[2]
                while _AST_CACHE and _AST_CACHE_BYTES[0] + len(data) > cap:
                    _AST_CACHE_BYTES[0] -= _AST_CACHE.pop(next(iter(_AST_CACHE)))[2]
                _AST_CACHE[ckey] = (key, tree, len(data))
                _AST_CACHE_BYTES[0] += len(data)
        return tree, None

    # -- module finding (importlib PathFinder + FileFinder order)
    def _find_in(self, entries, name, tail):
        portions = []
        for fs, d in entries:
            names = fs.listdir(d)
            if names is None:
                continue
            if tail in names:
                sub = fs.join(d, tail)
                subnames = fs.listdir(sub)
                if subnames is not None:
                    for suf in EXT_SUFFIXES:
                        if '__init__' + suf in subnames:
                            return Mod(name, fs, fs.join(sub, '__init__' + suf), 'ext', [(fs, sub)])
                    if '__init__.py' in subnames:
                        return Mod(name, fs, fs.join(sub, '__init__.py'), 'source', [(fs, sub)])
                    if '__init__.pyc' in subnames:
                        return Mod(name, fs, fs.join(sub, '__init__.pyc'), 'pyc', [(fs, sub)])
                    portions.append((fs, sub))
            for suf in EXT_SUFFIXES:
                if tail + suf in names:
                    return Mod(name, fs, fs.join(d, tail + suf), 'ext')
            if tail + '.py' in names:
                return Mod(name, fs, fs.join(d, tail + '.py'), 'source')
            if tail + '.pyc' in names:
                return Mod(name, fs, fs.join(d, tail + '.pyc'), 'pyc')
        if portions:
            return Mod(name, None, None, 'namespace', portions)
        return None

    def import_dotted(self, name, where):
        """Import `name` and its parents; (Mod, None) or (None, reason)."""
        mod = self.modules.get(name)
        if mod is not None:
            return mod, None
        if name in _MODULE_ALIASES:     # put in sys.modules by their parent
            parent_name = name.rpartition('.')[0]
            self.import_dotted(parent_name, where)
            mod, err = self.import_dotted(_MODULE_ALIASES[name], where)
            if mod is not None:
                self.modules[name] = mod
            return mod, err
        parent_name, _, tail = name.rpartition('.')
        if parent_name:
            parent, err = self.import_dotted(parent_name, where)
            if parent is None:
                return None, err
            if parent.pkg_dirs is None:
                return None, "No module named '%s'; '%s' is not a package" % (name, parent_name)
            mod = self._find_in(parent.pkg_dirs, name, tail)
        else:
            if name in _BUILTIN_MODULES:
                mod = Mod(name, None, None, 'live')
                try:
                    mod.live = sys.modules.get(name) or __import__(name)
                except Exception:
                    mod.live = None
                    mod.kind = 'ext'
            else:
                entries = self.path
                if name in PRELOADED:
                    entries = [e for e in self.path if not e[0].is_repo] + \
                              [e for e in self.path if e[0].is_repo]
                mod = self._find_in(entries, name, tail)
        if mod is None:
            return None, "No module named '%s'" % name
        self.modules[name] = mod
        self.tick()
        if mod.kind == 'source' and mod.is_repo:
            self.load(mod)
        if parent_name:
            parent = self.modules[parent_name]
            # importing a submodule binds it in its parent, once
            parent.ns[tail] = known(ModuleV(mod))
        return mod, None

    def load(self, mod):
        """Evaluate a source module's top level, once."""
        if mod.state != 'new':
            return
        if mod.kind != 'source':
            mod.state = 'done'
            return
        mod.state = 'loading'
        tree, err = self.parse(mod.fs, mod.file, mod.show())
        if tree is None:
            mod.state = 'failed'
            mod.failure = err
            if mod.is_repo:
                self.error(err)
            return
        mod.tree = tree
        ns = mod.ns
        ns['__name__'] = known(DataV(mod.name))
        f = RepoPath(mod.file) if mod.is_repo else mod.file
        ns['__file__'] = known(DataV(f))
        ns['__doc__'] = known(DataV(docstring(tree)))
        if mod.pkg_dirs is not None:
            ns['__path__'] = known(DataV())
            ns['__package__'] = known(DataV(mod.name))
        else:
            ns['__package__'] = known(DataV(mod.name.rpartition('.')[0]))
        ns['__builtins__'] = known(LiveV(builtins))
        for k in ('__spec__', '__loader__', '__cached__'):
            ns[k] = known(DataV())
        self.exec_block(mod, tree.body, ns, Scope(mod, None, None, True), top=True, in_try=False)
        mod.state = 'done'

    def ensure(self, mod):
        if mod.state == 'new':
            self.load(mod)

    # -- module attributes
    def module_attr(self, mod, name, where, submodules=True):
        """Thunk for mod.name, or None when the name does not exist."""
        self.ensure(mod)
        t = mod.ns.get(name)
        if t is not None:
            return t
        if mod.kind == 'live' and mod.live is not None:
            if hasattr(mod.live, name):
                return known(LiveV(getattr(mod.live, name)))
            return None
        if submodules and mod.pkg_dirs is not None:
            sub, _ = self.import_dotted(mod.name + '.' + name, where)
            if sub is not None:
                return known(ModuleV(sub))
        if mod.kind == 'ext':
            return known(UnknownV("'%s' would come from C extension module %s" % (name, mod.name), where,
                                  cext=True))
        if mod.kind == 'pyc':
            return known(UnknownV("'%s' would come from %s, which has only bytecode" % (name, mod.name), where))
        if mod.state == 'failed':
            return known(UnknownV('%s could not be analysed: %s' % (mod.name, mod.failure), where))
        if mod.getattr_where:
            return known(UnknownV("'%s' would come from the module __getattr__ of %s at %s" % (
                name, mod.name, mod.getattr_where), where))
        if mod.incomplete:
            return known(UnknownV("'%s' is not bound statically in %s; it may be created by %s" % (
                name, mod.name, mod.incomplete[0]), where))
        return None

    def module_attr_val(self, mod, name, where):
        t = self.module_attr(mod, name, where)
        if t is None:
            return UnknownV("cannot import name '%s' from '%s'" % (name, mod.name), where)
        return t.get()

    def star_names(self, mod, where, importer):
        """Names `from mod import *` binds; notes incompleteness on importer."""
        self.ensure(mod)
        if mod.kind == 'live' and mod.live is not None:
            names = getattr(mod.live, '__all__', None)
            if names is None:
                names = [n for n in dir(mod.live) if not n.startswith('_')]
            return list(names)
        if mod.kind in ('ext', 'pyc'):
            importer.incomplete.append('%s: star import from %s module %s' % (
                where, 'C extension' if mod.kind == 'ext' else 'bytecode-only', mod.name))
            return []
        if mod.state == 'failed':
            importer.incomplete.append('%s: star import from %s, which could not be analysed (%s)' % (
                where, mod.name, mod.failure))
            return []
        for inc in mod.incomplete:
            importer.incomplete.append('%s: star import from %s: %s' % (where, mod.name, inc))
        if mod.all_ is _UNKNOWN_ALL:
            importer.incomplete.append('%s: star import from %s, whose __all__ is not known statically' % (
                where, mod.name))
        elif mod.all_ is not None:
            return list(mod.all_)
        return [n for n in mod.ns if not n.startswith('_')]

    # ------------------------------------------------------------ statements
    def bind(self, ns, name, thunk, where=None):
        ns[name] = thunk
        if self.hub is not None and ns is self.hub.ns:
            self.hub_lines[name] = where or thunk.where

    def snapshot_scope(self, mod, expr, ns, scope):
        """A scope holding, for each name free in expr, its binding now.  At
        module level a name bound later is a NameError (builtins still
        resolve); in a class body the enclosing scopes stay visible."""
        snap = {}
        for n in ast.walk(expr):
            if isinstance(n, ast.Name):
                t = ns.get(n.id)
                if t is not None:
                    snap[n.id] = t
        if scope is None or scope.vars is None:
            return Scope(mod, snap, None, False)
        return Scope(mod, snap, scope.parent, True)

    @staticmethod
    def enclosing(mod, scope, top):
        """The scope functions and classes defined here close over (a class
        body is not visible from the methods defined in it)."""
        if top or scope is None or scope.parent is None:
            return Scope(mod, None, None, True)
        return scope.parent

    def exec_block(self, mod, stmts, ns, scope, top, in_try):
        """Evaluate statements binding into ns.  Returns None, or an Exc that
        propagates (only when in_try; at top level failures are reported)."""
        for st in stmts:
            self.tick()
            exc = self.exec_stmt(mod, st, ns, scope, top, in_try)
            if exc is not None:
                if exc == 'stop':
                    return 'stop'
                if in_try:
                    return exc
                self.report_failure(mod, exc)
                if exc.kind == 'raise':
                    return 'stop'
        return None

    def report_failure(self, mod, exc):
        text = '%s: %s' % (exc.where, exc.msg)
        if mod.failure is None:
            mod.failure = text
        if mod.is_repo:
            self.error(text + ' (the import of hubconf.py would fail)' if mod is self.hub else text)

    def thunk_expr(self, mod, expr, ns, scope, node):
        sc = self.snapshot_scope(mod, expr, ns, scope)
        where = mod.where(node)
        return Thunk(lambda: self.ev(expr, sc, 0), where=where)

    def assign(self, mod, target, value_thunk, value_node, ns, scope, node):
        if isinstance(target, ast.Name):
            self.bind(ns, target.id, value_thunk)
        elif isinstance(target, (ast.Tuple, ast.List)):
            elts = target.elts
            if isinstance(value_node, (ast.Tuple, ast.List)) and len(value_node.elts) == len(elts) \
                    and not any(isinstance(e, ast.Starred) for e in elts + value_node.elts):
                for t, v in zip(elts, value_node.elts):
                    self.assign(mod, t, self.thunk_expr(mod, v, ns, scope, node), v, ns, scope, node)
            else:
                for t in elts:
                    if isinstance(t, ast.Starred):
                        t = t.value
                    self.assign(mod, t, known(UnknownV('bound by unpacking %s' % unparse(value_node)
                                                       if value_node is not None else 'bound by unpacking',
                                                       mod.where(node))), None, ns, scope, node)
        elif isinstance(target, ast.Starred):
            self.assign(mod, target.value, known(DataV([])), None, ns, scope, node)
        elif isinstance(target, ast.Attribute):
            if target.attr == '__doc__':
                base = self.ev_safe(target.value, scope)
                self.doc_override[id(base)] = (base, value_thunk)
        elif isinstance(target, ast.Subscript):
            self.subscript_store(mod, target, node, ns)

    def subscript_store(self, mod, target, node, ns):
        b = target.value
        if isinstance(b, ast.Call) and isinstance(b.func, ast.Name) and \
                b.func.id in ('globals', 'vars', 'locals') and not b.args:
            self.incomplete(mod, node, '%s()[...] = assignment' % b.func.id)
        elif isinstance(b, ast.Attribute) and b.attr == '__dict__':
            self.incomplete(mod, node, 'assignment into %s' % unparse(b))

    def incomplete(self, mod, node, what):
        text = '%s: %s' % (mod.where(node), what)
        mod.incomplete.append(text)
        if mod is self.hub:
            self.error(text + ': names it creates cannot be known statically')

    def exec_stmt(self, mod, st, ns, scope, top, in_try):
        T = type(st)
        if T is ast.Import:
            for a in st.names:
                m, err = self.import_dotted(a.name, mod.where(st))
                if m is None:
                    return Exc('ModuleNotFoundError', mod.where(st), err)
                if a.asname:
                    self.bind(ns, a.asname, known(ModuleV(m), mod.where(st)), mod.where(st))
                else:
                    top_name = a.name.partition('.')[0]
                    self.bind(ns, top_name, known(ModuleV(self.modules[top_name]), mod.where(st)), mod.where(st))
            return None
        if T is ast.ImportFrom:
            return self.exec_import_from(mod, st, ns, in_try)
        if T in (ast.FunctionDef, ast.AsyncFunctionDef):
            f = FuncV(st, mod, self.enclosing(mod, scope, top), st.name)
            if st.decorator_list:
                decs = [self.thunk_expr(mod, d, ns, scope, d) for d in st.decorator_list]
                self.bind(ns, st.name, Thunk(lambda: self.decorate(f, decs, mod.where(st), 0),
                                             where=mod.where(st)))
            else:
                self.bind(ns, st.name, known(f, mod.where(st)))
            return None
        if T is ast.ClassDef:
            bases = []
            for b in st.bases:
                if isinstance(b, ast.Starred):
                    bases.append(known(UnknownV('star base class', mod.where(st))))
                    continue
                if isinstance(b, ast.Subscript):   # Generic[T] -> Generic
                    b = b.value
                bases.append(self.thunk_expr(mod, b, ns, scope, st))
            meta = None
            for kw in st.keywords:
                if kw.arg == 'metaclass':
                    meta = self.thunk_expr(mod, kw.value, ns, scope, st)
            c = ClassV(st, mod, bases, self.enclosing(mod, scope, top), meta, st.name)
            if st.decorator_list:
                decs = [self.thunk_expr(mod, d, ns, scope, d) for d in st.decorator_list]
                self.bind(ns, st.name, Thunk(lambda: self.decorate(c, decs, mod.where(st), 0),
                                             where=mod.where(st)))
            else:
                self.bind(ns, st.name, known(c, mod.where(st)))
            return None
        if T is ast.Assign:
            v = st.value
            th = self.thunk_expr(mod, v, ns, scope, st)
            for tgt in st.targets:
                if isinstance(tgt, ast.Name) and tgt.id == '__all__' and top:
                    mod.all_ = self.const_all(v, scope, ns, mod)
                self.assign(mod, tgt, th, v, ns, scope, st)
            return None
        if T is ast.AnnAssign:
            if st.value is not None:
                th = self.thunk_expr(mod, st.value, ns, scope, st)
                if isinstance(st.target, ast.Name) and st.target.id == '__all__' and top:
                    mod.all_ = self.const_all(st.value, scope, ns, mod)
                self.assign(mod, st.target, th, st.value, ns, scope, st)
            return None
        if T is ast.AugAssign:
            tgt = st.target
            if isinstance(tgt, ast.Name):
                if tgt.id == '__all__' and top and mod.all_ is not None and mod.all_ is not _UNKNOWN_ALL:
                    add = self.const_all(st.value, scope, ns, mod)
                    mod.all_ = mod.all_ + add if isinstance(add, list) else _UNKNOWN_ALL
                old = ns.get(tgt.id)
                if old is None:
                    return None
                self.bind(ns, tgt.id, known(DataV(), mod.where(st)))
            elif isinstance(tgt, ast.Subscript):
                self.subscript_store(mod, tgt, st, ns)
            return None
        if T is ast.Delete:
            for tgt in st.targets:
                if isinstance(tgt, ast.Name):
                    ns.pop(tgt.id, None)
            return None
        if T is ast.Expr:
            self.exec_expr_stmt(mod, st, ns, scope, top)
            return None
        if T is ast.If:
            d = self.decide(st.test, scope, ns, mod)
            if d is True:
                return self.exec_block(mod, st.body, ns, scope, top, in_try)
            if d is False:
                return self.exec_block(mod, st.orelse, ns, scope, top, in_try)
            return self.exec_undecided_if(mod, st, ns, scope, top)
        if T is ast.Try or T.__name__ == 'TryStar':
            return self.exec_try(mod, st, ns, scope, top, in_try)
        if T in (ast.With, ast.AsyncWith):
            for item in st.items:
                if item.optional_vars is not None:
                    self.assign(mod, item.optional_vars,
                                known(UnknownV('bound by `with %s as ...`' % unparse(item.context_expr)[:100],
                                               mod.where(st))), None, ns, scope, st)
            return self.exec_block(mod, st.body, ns, scope, top, in_try)
        if T in (ast.For, ast.AsyncFor):
            it = st.iter
            tv = known(UnknownV('loop variable of `for ... in %s`' % unparse(it)[:100], mod.where(st)))
            if isinstance(it, (ast.List, ast.Tuple, ast.Set)) and it.elts and \
                    all(isinstance(e, ast.Constant) for e in it.elts):
                tv = known(DataV(it.elts[-1].value), mod.where(st))
            elif isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == 'range':
                tv = known(DataV(), mod.where(st))
            self.assign(mod, st.target, tv, None, ns, scope, st)
            e = self.exec_block(mod, st.body, ns, scope, top, in_try)
            if e == 'stop':
                return e
            return self.exec_block(mod, st.orelse, ns, scope, top, in_try)
        if T is ast.While:
            if self.decide(st.test, scope, ns, mod) is False:
                return self.exec_block(mod, st.orelse, ns, scope, top, in_try)
            e = self.exec_block(mod, st.body, ns, scope, top, in_try)
            if e == 'stop':
                return e
            return self.exec_block(mod, st.orelse, ns, scope, top, in_try)
        if T is ast.Raise:
            kind = 'raise'
            x = st.exc
            if isinstance(x, ast.Call):
                x = x.func
            if isinstance(x, ast.Name):
                kind = x.id
            return Exc(kind if in_try else 'raise', mod.where(st),
                       'raises %s at import time' % (unparse(st.exc)[:100] if st.exc else 'an exception'))
        if T is ast.Match:
            if mod.is_repo and self.binds_any([st]):
                self.error('%s: `match` statement at top level is not evaluated statically' % mod.where(st))
            return None
        if T is ast.Return:
            return 'stop'
        return None   # Pass, Global, Nonlocal, Assert, Break, Continue

    def exec_undecided_if(self, mod, st, ns, scope, top):
        """An `if` whose test cannot be evaluated: run both branches on copies
        of the namespace and merge.  A name both branches leave alike keeps
        its value; one they bind differently (or only one binds) becomes
        UnknownV naming the test, so it is reported only if a public hubconf
        name depends on it."""
        cond = '`if %s` at %s' % (unparse(st.test)[:120], mod.where(st))
        nb, no = dict(ns), dict(ns)
        eb = self.exec_block(mod, st.body, nb, scope, top, True)
        eo = self.exec_block(mod, st.orelse, no, scope, top, True)
        if isinstance(eb, Exc) and not isinstance(eo, Exc):
            nb = no   # only the else branch can complete
        elif isinstance(eo, Exc) and not isinstance(eb, Exc):
            no = nb
        for name in set(nb) | set(no) | set(ns):
            a, b = nb.get(name), no.get(name)
            if a is b:
                if a is None:
                    ns.pop(name, None)
                elif ns.get(name) is not a:
                    self.bind(ns, name, a, a.where)
                continue
            where = (a or b).where
            self.bind(ns, name, Thunk(lambda a=a, b=b: self.merge_branches(a, b, cond), where=where), where)
        if isinstance(eb, Exc) and isinstance(eo, Exc):
            return eb
        return None

    def merge_branches(self, a, b, cond):
        if a is None or b is None:
            return UnknownV('bound only in one branch of %s, which cannot be decided statically' % cond)
        return self.merge_vals([a.get(), b.get()],
                               'bound differently by the branches of %s, which cannot be decided statically' % cond)

    def binds_any(self, stmts):
        for st in stmts:
            for n in ast.walk(st):
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                  ast.Import, ast.ImportFrom)):
                    return True
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    return True
        return False

    def exec_import_from(self, mod, st, ns, in_try):
        where = mod.where(st)
        if st.level:
            if mod is self.hub:
                return Exc('ImportError', where,
                           'relative import in hubconf.py (torch.hub imports it as a top-level module)')
            pkg = mod.name if mod.pkg_dirs is not None else mod.name.rpartition('.')[0]
            parts = pkg.split('.') if pkg else []
            if st.level - 1 > len(parts) - 1 or not pkg:
                return Exc('ImportError', where, 'attempted relative import beyond top-level package')
            base = '.'.join(parts[:len(parts) - (st.level - 1)])
            name = base + ('.' + st.module if st.module else '')
        else:
            name = st.module
        m, err = self.import_dotted(name, where)
        if m is None:
            return Exc('ModuleNotFoundError', where, err)
        # Resolve now when the answer is needed now (try), cheap (repo, live)
        # or must see the module as it is at this point (a circular import:
        # Python then falls back to importing the submodule).
        check = in_try or m.is_repo or m.kind == 'live' or m.state == 'loading'
        for a in st.names:
            if a.name == '*':
                names = self.star_names(m, where, mod)
                if mod is self.hub:
                    for inc in mod.incomplete:
                        if inc.startswith(where + ': star import'):
                            self.error(inc + ': names it creates cannot be known statically')
                for n in names:
                    self.bind(ns, n, Thunk(lambda n=n: self.module_attr_val(m, n, where), where=where), where)
                continue
            if check:
                t = self.module_attr(m, a.name, where)
                if t is None:
                    return Exc('ImportError', where, "cannot import name '%s' from '%s'" % (a.name, m.name))
            else:
                t = Thunk(lambda n=a.name: self.module_attr_val(m, n, where), where=where)
            self.bind(ns, a.asname or a.name, t, where)
        return None

    def exec_try(self, mod, st, ns, scope, top, in_try):
        exc = self.exec_block(mod, st.body, ns, scope, top, True)
        result = None
        if exc == 'stop':
            return 'stop'
        if exc is None:
            r = self.exec_block(mod, st.orelse, ns, scope, top, in_try)
            if r is not None:
                result = r
        else:
            handled = False
            for h in st.handlers:
                if self.handler_matches(h, exc):
                    if h.name:
                        self.bind(ns, h.name, known(DataV(), exc.where))
                    r = self.exec_block(mod, h.body, ns, scope, top, in_try)
                    if r is not None:
                        result = r
                    if h.name:
                        ns.pop(h.name, None)
                    handled = True
                    break
            if not handled:
                result = exc
        r = self.exec_block(mod, st.finalbody, ns, scope, top, in_try)
        if r is not None:
            result = r
        return result

    def handler_matches(self, h, exc):
        if h.type is None:
            return True
        types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
        names = set()
        for t in types:
            if isinstance(t, ast.Name):
                names.add(t.id)
            elif isinstance(t, ast.Attribute):
                names.add(t.attr)
        parents = _EXC_PARENTS.get(exc.kind, (exc.kind, 'Exception', 'BaseException'))
        return bool(names.intersection(parents))

    def exec_expr_stmt(self, mod, st, ns, scope, top):
        v = st.value
        if not isinstance(v, ast.Call):
            return
        f = v.func
        where = mod.where(st)
        if isinstance(f, ast.Attribute):
            if f.attr in ('insert', 'append') and self.is_sys_path(f.value, scope):
                arg = v.args[-1] if v.args else None
                self.sys_path_add(mod, arg, f.attr, v, scope, where)
                return
            if isinstance(f.value, ast.Name) and f.value.id == '__all__' and top:
                if f.attr in ('extend', 'append') and mod.all_ is not None and mod.all_ is not _UNKNOWN_ALL:
                    if f.attr == 'append' and v.args and isinstance(v.args[0], ast.Constant) and \
                            isinstance(v.args[0].value, str):
                        mod.all_ = mod.all_ + [v.args[0].value]
                    elif f.attr == 'extend' and v.args:
                        add = self.const_all(v.args[0], scope, ns, mod)
                        mod.all_ = mod.all_ + add if isinstance(add, list) else _UNKNOWN_ALL
                    else:
                        mod.all_ = _UNKNOWN_ALL
                elif f.attr not in ('extend', 'append') and mod.all_ is not None:
                    mod.all_ = _UNKNOWN_ALL
                return
            if f.attr == 'update' and isinstance(f.value, ast.Call) and \
                    isinstance(f.value.func, ast.Name) and f.value.func.id in ('globals', 'vars', 'locals'):
                self.incomplete(mod, st, '%s().update(...)' % f.value.func.id)
                return
            if f.attr == 'update' and isinstance(f.value, ast.Attribute) and f.value.attr == '__dict__':
                self.incomplete(mod, st, '%s.update(...)' % unparse(f.value))
                return
        if isinstance(f, ast.Name) and f.id in ('setattr', 'exec'):
            self.incomplete(mod, st, '%s(...) at import time' % f.id)
            if f.id == 'setattr' and v.args:
                target = self.ev_safe(v.args[0], scope)
                if isinstance(target, ModuleV) and target.mod is not mod:
                    target.mod.incomplete.append('%s: setattr(%s, ...)' % (where, unparse(v.args[0])[:80]))
            return
        if mod is self.hub:
            # a call of a repo function that writes globals or setattr()s
            fv = self.ev_safe(f, scope)
            while isinstance(fv, WrappedV):
                fv = fv.wrapped
            if isinstance(fv, FuncV) and fv.mod.is_repo and self.mutates_namespace(fv.node):
                self.incomplete(mod, st, 'call of %s(), which uses globals()/setattr()/exec()' % unparse(f)[:80])

    def mutates_namespace(self, node):
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and \
                    n.func.id in ('globals', 'setattr', 'exec', 'vars'):
                return True
            if isinstance(n, ast.Attribute) and n.attr == '__dict__':
                return True
        return False

    def is_sys_path(self, expr, scope):
        return isinstance(self.ev_safe(expr, scope), SysPathV)

    def sys_path_add(self, mod, arg, how, call, scope, where):
        p = None
        if arg is not None:
            try:
                p = self.const(arg, scope, 0)
            except _NotConst:
                p = None
        if isinstance(p, RepoPath):
            rel = os.path.normpath(p) if p else ''
            if rel == '.':
                rel = ''
            if rel.startswith('..') or rel.startswith('/'):
                self.error('%s: sys.path entry %s is outside the repository: ignored' % (where, unparse(arg)))
                return
            entry = (self.repo, rel)
        elif isinstance(p, str) and os.path.isabs(p):
            if not self.hostfs.allowed(p):
                # Confinement (see the file systems section): never looked at.
                if mod.is_repo:
                    self.error('%s: sys.path entry %s is outside the repository and the installed packages: ignored'
                               % (where, unparse(arg)[:200]))
                return
            entry = (self.hostfs, p)
        else:
            if mod.is_repo:
                self.error('%s: cannot evaluate sys.path entry %s statically; imports through it are not resolved'
                           % (where, unparse(arg)[:200] if arg is not None else '?'))
            return
        if how == 'insert':
            idx = 0
            if len(call.args) == 2:
                try:
                    idx = int(self.const(call.args[0], scope, 0))
                except (_NotConst, TypeError, ValueError):
                    idx = 0
            if idx < 0:
                idx = max(0, len(self.path) + idx)
            self.path.insert(min(idx, len(self.path)), entry)
        else:
            self.path.append(entry)

    def const_all(self, expr, scope, ns, mod):
        sc = self.snapshot_scope(mod, expr, ns, scope)
        try:
            v = self.const(expr, sc, 0)
        except _NotConst:
            return _UNKNOWN_ALL
        if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            return list(v)
        return _UNKNOWN_ALL

    def decide(self, test, scope, ns, mod):
        sc = self.snapshot_scope(mod, test, ns, scope) if ns is not None else scope
        try:
            return bool(self.const(test, sc, 0))
        except _NotConst:
            return None
        except Exception:
            return None

    # ----------------------------------------------------------- expressions
    def ev_safe(self, expr, scope):
        try:
            return self.ev(expr, scope, 0)
        except _Unknown as e:
            return e.val

    def where_of(self, scope, node):
        return scope.mod.where(node)

    def ev(self, e, scope, depth):
        if depth > 200:
            return UnknownV('expression too deep', self.where_of(scope, e))
        T = type(e)
        if T is ast.Constant:
            return DataV(e.value)
        if T is ast.Name:
            t = scope.lookup(e.id)
            if t is None:
                return UnknownV("name '%s' is not defined" % e.id, self.where_of(scope, e))
            return t.get()
        if T is ast.Attribute:
            return self.getattr_val(self.ev(e.value, scope, depth + 1), e.attr, self.where_of(scope, e))
        if T is ast.Call:
            return self.call_expr(e, scope, depth)
        if T is ast.Lambda:
            return FuncV(e, scope.mod, scope, '<lambda>')
        if T in (ast.List, ast.Tuple, ast.Set):
            elts = [Thunk(lambda x=x: self.ev(x, scope, depth + 1)) for x in e.elts]
            try:
                val = self.const(e, scope, depth)
            except _NotConst:
                val = _NOVALUE
            return DataV(val, elts if T is not ast.Set else None)
        if T is ast.Dict:
            elts = {}
            for k, x in zip(e.keys, e.values):
                if isinstance(k, ast.Constant):
                    elts[k.value] = Thunk(lambda x=x: self.ev(x, scope, depth + 1))
            try:
                val = self.const(e, scope, depth)
            except _NotConst:
                val = _NOVALUE
            return DataV(val, elts)
        if T is ast.Subscript:
            return self.subscript_val(e, scope, depth)
        if T is ast.IfExp:
            d = self.decide(e.test, scope, None, scope.mod)
            if d is True:
                return self.ev(e.body, scope, depth + 1)
            if d is False:
                return self.ev(e.orelse, scope, depth + 1)
            return self.merge_vals(
                [self.ev(e.body, scope, depth + 1), self.ev(e.orelse, scope, depth + 1)],
                'conditional expression `%s` cannot be decided statically' % unparse(e.test)[:100],
                self.where_of(scope, e))
        if T is ast.BoolOp:
            try:
                return DataV(self.const(e, scope, depth))
            except _NotConst:
                pass
            vals = [self.ev(x, scope, depth + 1) for x in e.values]
            return self.merge_vals(vals, '`%s` cannot be decided statically' % unparse(e)[:100],
                                   self.where_of(scope, e))
        if T in (ast.BinOp, ast.UnaryOp, ast.Compare, ast.JoinedStr, ast.FormattedValue):
            try:
                return DataV(self.const(e, scope, depth))
            except (_NotConst, Exception):
                pass
            if T is ast.BinOp and isinstance(e.op, ast.Div):
                lv = self.ev(e.left, scope, depth + 1)
                if isinstance(lv, DataV) and isinstance(lv.value, RepoPath):
                    try:
                        r = self.const(e.right, scope, depth)
                        if isinstance(r, str):
                            return DataV(RepoPath(os.path.join(lv.value, r)))
                    except _NotConst:
                        pass
            return DataV()
        if T in (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp):
            return DataV()
        if T is ast.NamedExpr:
            return self.ev(e.value, scope, depth + 1)
        if T is ast.Starred:
            return UnknownV('starred expression', self.where_of(scope, e))
        return UnknownV('`%s` is not evaluated statically' % unparse(e)[:100], self.where_of(scope, e))

    def same(self, a, b):
        """a and b are interchangeable: identical, equal known data, or
        callables with the same docstring (what entrypoints show)."""
        if a is b:
            return True
        if isinstance(a, DataV) or isinstance(b, DataV):
            return (isinstance(a, DataV) and isinstance(b, DataV) and a.value is not _NOVALUE and
                    b.value is not _NOVALUE and type(a.value) is type(b.value) and a.value == b.value)
        ca, cb = self.callable_of(a)[0], self.callable_of(b)[0]
        if ca is None or cb is None or ca != cb or not ca:
            return False
        return self.doc_of(a) == self.doc_of(b)

    def merge_vals(self, vals, reason, where=None):
        """One value standing for whichever of vals the program produces:
        the common one; a value-less DataV when all are non-callable (a
        condition on it stays undecided); UnknownV(reason) otherwise."""
        first = vals[0]
        if all(self.same(first, v) for v in vals[1:]):
            return first
        if all(self.callable_of(v)[0] is False for v in vals):
            return DataV()
        return UnknownV(reason, where)

    def subscript_val(self, e, scope, depth):
        base = self.ev(e.value, scope, depth + 1)
        where = self.where_of(scope, e)
        if isinstance(base, DataV):
            try:
                k = self.const(e.slice, scope, depth)
            except _NotConst:
                return DataV() if base.elts is None else UnknownV(
                    'subscript `%s` cannot be evaluated statically' % unparse(e)[:100], where)
            if base.elts is not None:
                try:
                    t = base.elts[k]
                except (KeyError, IndexError, TypeError):
                    t = None
                if t is not None:
                    return t.get()
            if base.value is not _NOVALUE:
                try:
                    r = base.value[k]
                except Exception:
                    return UnknownV('subscript `%s` fails' % unparse(e)[:100], where)
                if _const_value_ok(r):
                    return DataV(r)
            return UnknownV('subscript `%s` cannot be evaluated statically' % unparse(e)[:100], where)
        if isinstance(base, LiveV) and base.obj in (list, dict, tuple, set, frozenset, type):
            # list[int]: a types.GenericAlias, computed live from builtin types
            parts = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
            keys = [self.ev(x, scope, depth + 1) for x in parts]
            if all(isinstance(k, LiveV) and isinstance(k.obj, type) and k.obj.__module__ == 'builtins'
                   for k in keys):
                ks = tuple(k.obj for k in keys)
                try:
                    return LiveV(base.obj[ks if len(ks) > 1 else ks[0]])
                except Exception:
                    pass
        if isinstance(base, LiveV) and isinstance(base.obj, (tuple, str, bytes)):
            try:
                k = self.const(e.slice, scope, depth)
                r = base.obj[k]
                if _const_value_ok(r):
                    return DataV(r)
            except Exception:
                pass
        if isinstance(base, SysPathV):
            try:
                k = self.const(e.slice, scope, depth)
                fs, d = self.path[k]
            except (_NotConst, IndexError, TypeError):
                return UnknownV('subscript `%s` is not evaluated statically' % unparse(e)[:100], where)
            return DataV(RepoPath(d) if fs.is_repo else d)
        if isinstance(base, UnknownV):
            return base
        return UnknownV('subscript `%s` is not evaluated statically' % unparse(e)[:100], where)

    def getattr_val(self, base, attr, where):
        if isinstance(base, UnknownV):
            return base
        if isinstance(base, ModuleV):
            mod = base.mod
            if mod.kind == 'live' and mod.name == 'sys':
                if attr == 'path':
                    return SysPathV()
                if attr in _SYS_SAFE:
                    return self.live_wrap(getattr(sys, attr))
                return UnknownV('sys.%s differs between processes' % attr, where)
            t = self.module_attr(mod, attr, where, submodules=True)
            if t is None:
                return UnknownV("module '%s' has no attribute '%s'" % (mod.name, attr), where)
            return t.get()
        if isinstance(base, ClassV):
            if attr == '__doc__':
                return DataV(self.doc_of(base)[1])
            r = self.class_lookup(base, attr)
            if r is None:
                return UnknownV("class %s has no attribute '%s' statically" % (base.qual, attr), where)
            if isinstance(r, UnknownV):
                return r
            v = r.get()
            if isinstance(v, DescrV):
                if v.kind == 'classmethod':
                    return MethodV(v.func)
                if v.kind == 'staticmethod':
                    return v.func
                return UnknownV('property %s.%s' % (base.qual, attr), where)
            return v
        if isinstance(base, InstV):
            if attr == '__doc__':
                return DataV(self.doc_of(base)[1])
            if isinstance(base.cls, ClassV):
                r = self.class_lookup(base.cls, attr)
                if r is not None and not isinstance(r, UnknownV):
                    v = r.get()
                    if isinstance(v, (FuncV, WrappedV)):
                        return MethodV(v)
                    if isinstance(v, DescrV):
                        if v.kind == 'staticmethod':
                            return v.func
                        if v.kind == 'classmethod':
                            return MethodV(v.func)
                        return UnknownV('property %s.%s' % (base.cls.qual, attr), where)
                    if isinstance(v, DataV):
                        return v
            return UnknownV("instance attribute '%s' is not known statically" % attr, where)
        if isinstance(base, LiveV):
            o = base.obj
            if isinstance(o, type(sys)) and o.__name__ not in _BUILTIN_MODULES:
                return UnknownV('attribute of live module', where)
            if o is sys:
                if attr == 'path':
                    return SysPathV()
                if attr not in _SYS_SAFE:
                    return UnknownV('sys.%s differs between processes' % attr, where)
            try:
                return self.live_wrap(getattr(o, attr))
            except Exception:
                return UnknownV("'%s' has no attribute '%s'" % (getattr(o, '__name__', type(o).__name__), attr),
                                where)
        if isinstance(base, DataV):
            if base.value is not _NOVALUE and base.value is not None and not isinstance(base.value, RepoPath) \
                    and _const_value_ok(base.value):
                try:
                    return self.live_wrap(getattr(base.value, attr))
                except Exception:
                    pass
            if isinstance(base.value, RepoPath):
                if attr == 'parent':
                    return DataV(RepoPath(os.path.dirname(base.value)))
                if attr == 'name':
                    return DataV(os.path.basename(base.value))
                return UnknownV('attribute %s of a path' % attr, where)
            return UnknownV("attribute '%s' of data is not known statically" % attr, where)
        if isinstance(base, (FuncV, WrappedV, MethodV)):
            if attr == '__doc__':
                return DataV(self.doc_of(base)[1])
            if attr == '__wrapped__' and isinstance(base, WrappedV):
                return base.wrapped
            if attr == '__name__' and isinstance(base, FuncV):
                return DataV(getattr(base.node, 'name', '<lambda>'))
            return UnknownV("function attribute '%s' is not known statically" % attr, where)
        return UnknownV("attribute '%s' is not known statically" % attr, where)

    @staticmethod
    def live_wrap(o):
        if _const_value_ok(o):
            return DataV(o)
        return LiveV(o)

    # -- calls
    def call_expr(self, e, scope, depth):
        f = e.func
        if isinstance(f, ast.Attribute) and (f.attr in _PURE_STR_METHODS or f.attr == 'format'):
            try:
                return DataV(self.const(e, scope, depth))
            except _NotConst:
                pass
        if isinstance(f, ast.Attribute) and f.attr in ('resolve', 'absolute', 'expanduser') and not e.args:
            base = self.ev(f.value, scope, depth + 1)
            if isinstance(base, DataV) and isinstance(base.value, RepoPath):
                return base
        fn = self.ev(e.func, scope, depth + 1)
        if isinstance(fn, LiveV) and fn.obj in (str, os.fspath) and len(e.args) == 1 and not e.keywords:
            a = self.ev(e.args[0], scope, depth + 1)
            if isinstance(a, DataV) and isinstance(a.value, str):
                return a
        where = self.where_of(scope, e)
        args = []
        for a in e.args:
            if isinstance(a, ast.Starred):
                return self.call_unknown(fn, e, where)
            args.append(Thunk(lambda a=a: self.ev(a, scope, depth + 1)))
        kws = {}
        kwsrc = {}
        for k in e.keywords:
            if k.arg is None:
                return self.call_unknown(fn, e, where)
            kws[k.arg] = Thunk(lambda k=k: self.ev(k.value, scope, depth + 1))
            kwsrc[k.arg] = unparse(k.value)
        # path helpers for sys.path
        pv = self.path_call(fn, e, scope)
        if pv is not None:
            return pv
        return self.call_val(fn, args, kws, kwsrc, where, depth, e)

    def call_unknown(self, fn, e, where):
        if isinstance(fn, ClassV):
            return InstV(fn)
        return UnknownV('result of the call %s' % unparse(e)[:100], where)

    def qualname(self, v):
        if isinstance(v, FuncV) and isinstance(v.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return '%s.%s' % (v.mod.name, v.qual)
        if isinstance(v, ClassV):
            return '%s.%s' % (v.mod.name, v.qual)
        return None

    def path_call(self, fn, e, scope):
        q = self.qualname(fn)
        if q is None:
            return None
        if q in ('posixpath.dirname', 'posixpath.abspath', 'posixpath.realpath', 'posixpath.normpath',
                 'posixpath.join', 'posixpath.basename', 'posixpath.expanduser'):
            try:
                vals = [self.const(a, scope, 0) for a in e.args]
            except _NotConst:
                return None
            if not vals or not all(isinstance(v, str) for v in vals):
                return None
            op = q.rpartition('.')[2]
            isrepo = isinstance(vals[0], RepoPath)
            if op == 'join':
                for v in vals[1:]:
                    if isinstance(v, RepoPath) or v.startswith('/'):
                        isrepo = isinstance(v, RepoPath)
                r = os.path.join(*vals)
            elif op in ('abspath', 'realpath', 'normpath'):
                r = os.path.normpath(vals[0]) if isrepo or os.path.isabs(vals[0]) else None
                if r == '.':
                    r = ''
            elif op == 'dirname':
                r = os.path.dirname(vals[0])
            elif op == 'basename':
                return DataV(os.path.basename(vals[0]))
            else:
                r = vals[0]
            if r is None:
                return None
            return DataV(RepoPath(r) if isrepo else r)
        if q in ('pathlib.Path', 'pathlib.PurePath', 'pathlib.PosixPath'):
            try:
                vals = [self.const(a, scope, 0) for a in e.args]
            except _NotConst:
                return None
            if vals and all(isinstance(v, str) for v in vals):
                isrepo = isinstance(vals[0], RepoPath)
                r = os.path.join(*vals)
                return DataV(RepoPath(r) if isrepo else r)
        return None

    def call_val(self, fn, args, kws, kwsrc, where, depth, node=None):
        if depth > 400:
            return UnknownV('calls nested too deep', where)
        if isinstance(fn, UnknownV):
            return fn
        if isinstance(fn, ClassV):
            return InstV(fn, None, (args, kws))
        q = self.qualname(fn)
        if q is not None and isinstance(fn, FuncV):
            if q == 'functools.wraps':
                w = args[0] if args else kws.get('wrapped')
                return DecorV('wraps', w.get() if w is not None else UnknownV('wraps()', where))
            if q == 'functools.update_wrapper':
                w = args[0] if args else kws.get('wrapper')
                x = args[1] if len(args) > 1 else kws.get('wrapped')
                if w is None or x is None:
                    return UnknownV('update_wrapper() without arguments', where)
                return WrappedV(w.get(), x.get())
            if q in ('functools.lru_cache', 'functools.cache'):
                if args:
                    a0 = args[0].get()
                    if self.callable_of(a0)[0]:
                        return WrappedV(LiveV(None), a0)
                return DecorV('lru')
            if q == 'collections.namedtuple':
                return self.namedtuple_val(args, kws, where)
            if q == 'dataclasses.dataclass':
                # returns the class itself (a new one only with slots=True)
                if 'slots' in kws:
                    return UnknownV('dataclass(slots=...) creates a new class', where)
                if args:
                    a0 = args[0].get()
                    return a0 if isinstance(a0, ClassV) else UnknownV('dataclass() of a non-class', where)
                return DecorV('identity')
        if isinstance(fn, DecorV):
            if len(args) == 1 and not kws:
                return self.apply_decorator(fn, args[0].get(), where, depth + 1)
            return UnknownV('call of a decorator object', where)
        if isinstance(fn, LiveV):
            o = fn.obj
            if o is _functools_partial():
                if not args:
                    return UnknownV('partial() without a function', where)
                func = args[0].get()
                pargs = args[1:]
                if isinstance(func, InstV) and func.partial is not None:
                    f0, a0, k0, s0 = func.partial
                    func, pargs = f0, a0 + pargs
                    kw2 = dict(k0)
                    kw2.update(kws)
                    s2 = dict(s0)
                    s2.update(kwsrc)
                    kws, kwsrc = kw2, s2
                return InstV(fn, (func, list(pargs), dict(kws), dict(kwsrc)))
            if isinstance(o, type):
                if o is type and len(args) == 3:
                    return UnknownV('class created by type()', where)
                if o is type and len(args) == 1 and not kws:
                    return self.type_of(args[0].get(), where)
                if o in _CONST_TYPES and not kws and len(args) <= 1:
                    # frozenset(kwlist), tuple(...), str(...): data, computed
                    vals = [a.get() for a in args]
                    if all(isinstance(x, DataV) and x.value is not _NOVALUE and
                           not isinstance(x.value, RepoPath) and
                           not (o in (bytes, str) and isinstance(x.value, int)) for x in vals):
                        try:
                            r = o(*[x.value for x in vals])
                        except Exception:
                            r = _NOVALUE
                        if r is not _NOVALUE and _const_value_ok(r):
                            return DataV(r)
                if issubclass(o, (staticmethod, classmethod, property)) and args:
                    return DescrV(o.__name__ if o in (staticmethod, classmethod) else 'property',
                                  args[0].get())
                return InstV(fn)
            name = getattr(o, '__name__', None)
            if getattr(o, '__module__', None) == 'builtins' and name in _DATA_BUILTINS:
                return DataV()
            return UnknownV('result of the call %s' % (unparse(node)[:100] if node is not None else name), where)
        if isinstance(fn, InstV):
            if fn.partial is not None:
                func, pargs, pk, ps = fn.partial
                kw2 = dict(pk)
                kw2.update(kws)
                s2 = dict(ps)
                s2.update(kwsrc)
                return self.call_val(func, pargs + args, kw2, s2, where, depth + 1, node)
            call = self.instance_call_method(fn)
            if isinstance(call, (FuncV, WrappedV)):
                return self.apply_function(call, [known(fn)] + args, kws, where, depth + 1)
            return UnknownV('result of calling an instance', where)
        if isinstance(fn, MethodV):
            return self.apply_function(fn.func, [known(UnknownV('self', where))] + args, kws, where, depth + 1)
        if isinstance(fn, (FuncV, WrappedV)):
            return self.apply_function(fn, args, kws, where, depth + 1)
        if isinstance(fn, UndecoratedV):
            return UnknownV('result of calling %s' % self.describe(fn), where)
        return UnknownV('result of the call %s' % (unparse(node)[:100] if node is not None else '?'), where)

    def namedtuple_val(self, args, kws, where):
        """collections.namedtuple(typename, field_names, *, rename, defaults):
        class doc 'T(a, b)', signature of its __new__ minus _cls."""
        def const_of(t):
            v = t.get() if t is not None else None
            if isinstance(v, DataV) and v.value is not _NOVALUE:
                return v.value
            raise _NotConst()
        try:
            typename = const_of(args[0] if args else kws.get('typename'))
            fields = const_of(args[1] if len(args) > 1 else kws.get('field_names'))
            rename = const_of(kws['rename']) if 'rename' in kws else False
            defaults = const_of(kws['defaults']) if 'defaults' in kws else None
        except _NotConst:
            return UnknownV('collections.namedtuple() with arguments not known statically', where)
        if isinstance(fields, str):
            fields = fields.replace(',', ' ').split()
        if not isinstance(typename, str) or not isinstance(fields, (list, tuple)) or \
                not all(isinstance(f, str) for f in fields):
            return UnknownV('collections.namedtuple() with arguments not known statically', where)
        fields = list(fields)
        if rename:
            import keyword
            seen = set()
            for i, n in enumerate(fields):
                if not n.isidentifier() or keyword.iskeyword(n) or n.startswith('_') or n in seen:
                    fields[i] = '_%d' % i
                seen.add(fields[i])
        defaults = tuple(defaults) if defaults is not None else ()
        if len(defaults) > len(fields):
            return UnknownV('collections.namedtuple() would raise: too many defaults', where)
        arg_list = ', '.join(fields) + (',' if len(fields) == 1 else '')
        nd = len(fields) - len(defaults)
        params = [(POS, f, None if i < nd else repr(defaults[i - nd])) for i, f in enumerate(fields)]
        return SynthClassV(typename, '%s(%s)' % (typename, arg_list), params)

    def type_of(self, v, where):
        """type(v) for one argument."""
        import types
        if isinstance(v, DataV) and v.value is not _NOVALUE and not isinstance(v.value, RepoPath):
            return LiveV(type(v.value))
        if isinstance(v, LiveV):
            return LiveV(type(v.obj))
        if isinstance(v, InstV):
            return v.cls
        if isinstance(v, FuncV):
            return LiveV(types.FunctionType)
        if isinstance(v, MethodV):
            return LiveV(types.MethodType)
        if isinstance(v, ModuleV):
            return LiveV(types.ModuleType)
        if isinstance(v, ClassV):
            m = self.effective_meta(v)
            return m if m is not None else LiveV(type)
        if isinstance(v, UnknownV):
            return v
        return UnknownV('type() of a value not known statically', where)

    def describe(self, v):
        return type(v).__name__

    def instance_call_method(self, inst):
        if isinstance(inst.cls, ClassV):
            r = self.class_lookup(inst.cls, '__call__')
            if r is None or isinstance(r, UnknownV):
                return r
            return r.get()
        return None

    # -- decorators and return analysis
    def decorate(self, target, decs, where, depth):
        v = target
        for d in reversed(decs):
            dv = d.get()
            nv = self.apply_decorator(dv, v, where, depth + 1)
            if isinstance(nv, UnknownV):
                inner = target if not isinstance(v, UndecoratedV) else v.inner
                return UndecoratedV(inner, nv.text())
            v = nv
        return v

    def apply_decorator(self, dv, target, where, depth):
        if depth > self.lim['call_depth']:
            return UnknownV('decorators nested too deep to follow', where)
        self.tick()
        if isinstance(dv, DecorV):
            if dv.kind == 'wraps':
                return WrappedV(target, dv.wrapped)
            if dv.kind == 'lru':
                return WrappedV(LiveV(None), target)
            if dv.kind == 'identity':
                return target
            return UnknownV('decorator', where)
        if isinstance(dv, LiveV):
            o = dv.obj
            if o in (staticmethod, classmethod):
                return DescrV(o.__name__, target)
            if o is property:
                return DescrV('property', target)
            return self.call_val(dv, [known(target)], {}, {}, where, depth + 1)
        if isinstance(dv, (FuncV, WrappedV, InstV, ClassV, MethodV)):
            return self.call_val(dv, [known(target)], {}, {}, where, depth + 1)
        if isinstance(dv, UnknownV):
            return dv
        return UnknownV('decorator of unknown kind', where)

    def apply_function(self, f, args, kws, where, depth):
        """The value a call of f returns, from its return statements."""
        if depth > self.lim['call_depth']:
            return UnknownV('calls nested too deep to follow', where)
        self.tick()
        while isinstance(f, WrappedV):
            if isinstance(f.wrapper, FuncV):
                f = f.wrapper
                break
            return UnknownV('result of calling a wrapped function', where)
        if isinstance(f, UndecoratedV):
            return UnknownV('result of calling a function with unresolved decorators', where)
        if not isinstance(f, FuncV):
            return self.call_val(f, args, kws, {}, where, depth + 1)
        node = f.node
        sc = self.call_scope(f, args, kws, where)
        local = sc.vars
        if isinstance(node, ast.Lambda):
            return self.ev(node.body, sc, 0)
        if isinstance(node, ast.AsyncFunctionDef):
            return DataV()   # a coroutine object
        for n in ast.walk(node):
            if isinstance(n, (ast.Yield, ast.YieldFrom)) and self.owner_is(node, n):
                return DataV()   # a generator object
        return self.function_result(f, sc, local, where, depth)

    def call_scope(self, f, args, kws, where):
        """Scope of a call of f with its parameters bound."""
        local = {}
        sc = Scope(f.mod, local, f.scope, True)
        a = f.node.args
        pos = list(a.posonlyargs) + list(a.args)
        defaults = [None] * (len(pos) - len(a.defaults)) + list(a.defaults)
        for i, p in enumerate(pos):
            if i < len(args):
                local[p.arg] = args[i]
            elif p.arg in kws:
                local[p.arg] = kws[p.arg]
            elif defaults[i] is not None:
                d = defaults[i]
                local[p.arg] = Thunk(lambda d=d: self.ev(d, f.scope, 0))
            else:
                local[p.arg] = known(UnknownV("parameter '%s' not given" % p.arg, where))
        if a.vararg is not None:
            extra = list(args[len(pos):])
            local[a.vararg.arg] = Thunk(lambda extra=extra: self.tuple_of(extra))
        for p, d in zip(a.kwonlyargs, a.kw_defaults):
            if p.arg in kws:
                local[p.arg] = kws[p.arg]
            elif d is not None:
                local[p.arg] = Thunk(lambda d=d: self.ev(d, f.scope, 0))
            else:
                local[p.arg] = known(UnknownV("parameter '%s' not given" % p.arg, where))
        if a.kwarg is not None:
            names = set(p.arg for p in pos) | set(p.arg for p in a.kwonlyargs)
            rest = {k: t for k, t in kws.items() if k not in names}
            local[a.kwarg.arg] = known(DataV(_NOVALUE, rest))
        return sc

    def tuple_of(self, thunks):
        """DataV of a tuple of argument thunks (value known if all are)."""
        vals = []
        for t in thunks:
            v = t.get()
            if isinstance(v, DataV) and v.value is not _NOVALUE and _const_value_ok(v.value):
                vals.append(v.value)
            else:
                return DataV(_NOVALUE, list(thunks))
        return DataV(tuple(vals), list(thunks))

    def function_result(self, f, sc, local, where, depth):
        node = f.node
        mod = f.mod
        # local bindings (flow-insensitive: names bound once)
        counts = {}
        stores = []
        self.collect_local_stores(node.body, counts, stores)
        params = set(local)
        for name, st, kind in stores:
            if name in params:
                local[name] = known(UnknownV("local '%s' is reassigned" % name, mod.where(st)))
                continue
            if counts[name] > 1:
                local[name] = known(UnknownV("local '%s' is bound more than once" % name, mod.where(st)))
                continue
            if kind == 'def':
                fv = FuncV(st, mod, sc, st.name)
                if st.decorator_list:
                    decs = [Thunk(lambda d=d: self.ev(d, sc, 0)) for d in st.decorator_list]
                    local[name] = Thunk(lambda fv=fv, decs=decs, st=st:
                                        self.decorate_local(fv, decs, mod.where(st), depth))
                else:
                    local[name] = known(fv)
            elif kind == 'class':
                bases = [Thunk(lambda b=b: self.ev(b, sc, 0)) for b in st.bases]
                local[name] = known(ClassV(st, mod, bases, sc, None, st.name))
            elif kind == 'assign':
                val = st.value
                local[name] = Thunk(lambda val=val: self.ev(val, sc, 0))
            else:
                local[name] = known(UnknownV("local '%s' bound by %s" % (name, kind), mod.where(st)))
        # __doc__ assignments to locals, update_wrapper(local, wrapped) statements
        for st in node.body:
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and \
                    isinstance(st.targets[0], ast.Attribute) and st.targets[0].attr == '__doc__' and \
                    isinstance(st.targets[0].value, ast.Name):
                base = self.ev_safe(st.targets[0].value, sc)
                self.doc_override[id(base)] = (base, Thunk(lambda v=st.value: self.ev(v, sc, 0)))
            elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and \
                    len(st.value.args) >= 2 and isinstance(st.value.args[0], ast.Name) and \
                    st.value.args[0].id in local and st.value.args[0].id not in params:
                fv = self.ev_safe(st.value.func, sc)
                if self.qualname(fv) == 'functools.update_wrapper':
                    name = st.value.args[0].id
                    w, x = local[name], st.value.args[1]
                    local[name] = Thunk(lambda w=w, x=x: WrappedV(w.get(), self.ev(x, sc, 0)))
        returns = []
        self.collect_returns(node.body, sc, returns)
        if not returns:
            return DataV(None)
        vals = []
        for r in returns:
            if r.value is None:
                vals.append(DataV(None))
            else:
                vals.append(self.ev(r.value, sc, 0))
        first = self.merge_vals(vals, '%s returns different kinds of values' % self.label(f), where)
        if isinstance(first, UnknownV) and first is vals[0]:
            return UnknownV('%s returns %s' % (self.label(f), first.reason), first.where or where)
        return first

    def label(self, f):
        return '%s()' % (self.qualname(f) or getattr(f.node, 'name', '<lambda>'))

    def decorate_local(self, fv, decs, where, depth):
        v = self.decorate(fv, decs, where, depth + 1)
        if isinstance(v, UndecoratedV):
            return UnknownV(v.why, where)
        return v

    @staticmethod
    def owner_is(fn, node):
        # Yield directly in fn (not in a nested def/lambda)
        stack = list(fn.body)
        while stack:
            n = stack.pop()
            if n is node:
                return True
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            stack.extend(ast.iter_child_nodes(n))
        return False

    def collect_local_stores(self, stmts, counts, out):
        for st in stmts:
            T = type(st)
            names = []
            if T in (ast.FunctionDef, ast.AsyncFunctionDef):
                names = [(st.name, 'def')]
            elif T is ast.ClassDef:
                names = [(st.name, 'class')]
            elif T is ast.Assign:
                if len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                    names = [(st.targets[0].id, 'assign')]
                else:
                    for t in st.targets:
                        for n in ast.walk(t):
                            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                                names.append((n.id, 'unpacking'))
            elif T is ast.AnnAssign and isinstance(st.target, ast.Name) and st.value is not None:
                st2 = ast.Assign(targets=[st.target], value=st.value, lineno=st.lineno)
                names = [(st.target.id, 'assign')]
                st = st2
            elif T in (ast.Import, ast.ImportFrom):
                for a in st.names:
                    if a.name != '*':
                        names.append(((a.asname or a.name).partition('.')[0], 'import'))
            elif T in (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.AugAssign):
                tg = [st.target] if T in (ast.For, ast.AsyncFor, ast.AugAssign) else \
                    [i.optional_vars for i in st.items if i.optional_vars is not None]
                for t in tg:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            names.append((n.id, 'a loop, with or augmented assignment'))
                            counts[n.id] = counts.get(n.id, 0) + 1
            for name, kind in names:
                counts[name] = counts.get(name, 0) + 1
                out.append((name, st, kind))
            for field in ('body', 'orelse', 'finalbody'):
                sub = getattr(st, field, None)
                if sub and T not in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
                    self.collect_local_stores(sub, counts, out)
            if T is ast.Try or T.__name__ == 'TryStar':
                for h in st.handlers:
                    self.collect_local_stores(h.body, counts, out)
            if T is ast.Match:
                for c in st.cases:
                    self.collect_local_stores(c.body, counts, out)

    def collect_returns(self, stmts, sc, out):
        """Return statements reachable in stmts (decidable ifs followed);
        True when the block always ends in return/raise."""
        for st in stmts:
            T = type(st)
            if T is ast.Return:
                out.append(st)
                return True
            if T is ast.Raise:
                return True
            if T is ast.If:
                d = self.decide(st.test, sc, None, sc.mod)
                if d is True:
                    if self.collect_returns(st.body, sc, out):
                        return True
                elif d is False:
                    if self.collect_returns(st.orelse, sc, out):
                        return True
                else:
                    a = self.collect_returns(st.body, sc, out)
                    b = self.collect_returns(st.orelse, sc, out)
                    if a and b:
                        return True
            elif T in (ast.For, ast.AsyncFor, ast.While):
                self.collect_returns(st.body, sc, out)
                self.collect_returns(st.orelse, sc, out)
            elif T in (ast.With, ast.AsyncWith):
                if self.collect_returns(st.body, sc, out):
                    return True
            elif T is ast.Try or T.__name__ == 'TryStar':
                a = self.collect_returns(st.body, sc, out)
                for h in st.handlers:
                    self.collect_returns(h.body, sc, out)
                self.collect_returns(st.orelse, sc, out)
                if self.collect_returns(st.finalbody, sc, out):
                    return True
                if a and not st.handlers:
                    return True
            elif T is ast.Match:
                for c in st.cases:
                    self.collect_returns(c.body, sc, out)
        return False

    # -- classes
    def class_ns(self, c):
        if c.ns is None:
            c.ns = {}
            ns = c.ns
            d = docstring(c.node)
            ns['__doc__'] = known(DataV(d))
            ns['__module__'] = c.mod.ns.get('__name__') or known(DataV(c.mod.name))
            ns['__qualname__'] = known(DataV(c.qual))
            sc = Scope(c.mod, ns, c.scope, True)
            self.exec_block(c.mod, c.node.body, ns, sc, top=False, in_try=True)
        return c.ns

    def class_mro(self, c, depth=0, lenient=False):
        """C3 linearisation: list of ClassV / LiveV(type) (and, when lenient,
        CBaseV for C-extension bases); None if a base is unknown."""
        attr = 'mro_c' if lenient else 'mro'
        cached = getattr(c, attr)
        if cached is not None:
            return cached or None
        if depth > 50:
            return None
        setattr(c, attr, [])   # guards cycles
        seqs = []
        heads = []
        for b in c.bases:
            bv = b.get()
            if isinstance(bv, UndecoratedV):
                bv = bv.inner
            if isinstance(bv, ClassV):
                m = self.class_mro(bv, depth + 1, lenient)
                if m is None:
                    return None
                seqs.append(list(m))
            elif isinstance(bv, LiveV) and isinstance(bv.obj, type):
                seqs.append([LiveV(k) for k in bv.obj.__mro__])
            elif lenient and isinstance(bv, UnknownV) and bv.cext:
                bv = CBaseV(bv.reason)
                seqs.append([bv])
            else:
                return None
            heads.append(bv)
        seqs.append(heads)
        result = [c]
        key = lambda v: id(v.obj) if isinstance(v, LiveV) else id(v)   # noqa: E731
        while True:
            seqs = [q for q in seqs if q]
            if not seqs:
                break
            cand = None
            for q in seqs:
                h = q[0]
                if not any(key(h) in [key(x) for x in t[1:]] for t in seqs):
                    cand = h
                    break
            if cand is None:
                return None
            result.append(cand)
            seqs = [[x for x in q if key(x) != key(cand)] for q in seqs]
        if not any(isinstance(x, LiveV) and x.obj is object for x in result):
            result.append(LiveV(object))
        setattr(c, attr, result)
        return result

    def class_lookup(self, c, name):
        """Thunk of the first definition of name along the MRO; None when no
        class defines it; UnknownV when the MRO is unknown.  Builtin types
        give a LiveV thunk."""
        mro = self.class_mro(c)
        if mro is None:
            return UnknownV('base classes of %s cannot be resolved statically' % c.qual, c.mod.where(c.node))
        for k in mro:
            if isinstance(k, ClassV):
                ns = self.class_ns(k)
                if name in ns:
                    return ns[name]
            else:
                if name in vars(k.obj):
                    return known(LiveV(vars(k.obj)[name]))
        return None

    def class_defines(self, c, name, lenient=False):
        """(owner, Thunk) for name along the MRO, (None, None) if absent,
        None if unknown.  lenient: C-extension bases are opaque; a Python
        definition after one of them is unknown (the C class may define the
        name first), none after one counts as not user-defined."""
        mro = self.class_mro(c, 0, lenient)
        if mro is None:
            return None
        seen_c = False
        for k in mro:
            if isinstance(k, CBaseV):
                seen_c = True
            elif isinstance(k, ClassV):
                ns = self.class_ns(k)
                if name in ns:
                    return None if seen_c else (k, ns[name])
            elif name in vars(k.obj):
                return k, known(LiveV(vars(k.obj)[name]))
        return None, None

    # ------------------------------------------------------- classification
    def callable_of(self, v):
        """(True|False|None, reason)."""
        if isinstance(v, (FuncV, ClassV, MethodV, WrappedV, DecorV, SynthClassV)):
            return True, None
        if isinstance(v, (ModuleV, DataV, SysPathV)):
            return False, None
        if isinstance(v, DescrV):
            return (v.kind == 'staticmethod'), None
        if isinstance(v, UndecoratedV):
            return True, v.why
        if isinstance(v, LiveV):
            return callable(v.obj), None
        if isinstance(v, InstV):
            if isinstance(v.cls, LiveV):
                t = v.cls.obj
                return any('__call__' in vars(k) for k in t.__mro__), None
            r = self.class_defines(v.cls, '__call__')
            if r is None:
                return None, 'instance of %s, whose base classes cannot be resolved statically (%s)' % (
                    v.cls.qual, v.cls.mod.where(v.cls.node))
            return r[0] is not None, None
        if isinstance(v, UnknownV):
            return None, v.text()
        return None, 'value of unknown kind'

    def doc_of(self, v, depth=0):
        """(ok, doc)."""
        if depth > 50:
            return False, None
        ov = self.doc_override.get(id(v))
        if ov is not None and ov[0] is v and id(v) not in self._doc_busy:
            # `f.__doc__ = ... + f.__doc__`: inside, f.__doc__ is the old doc
            self._doc_busy.add(id(v))
            try:
                d = ov[1].get()
            finally:
                self._doc_busy.discard(id(v))
            if isinstance(d, DataV) and (d.value is None or isinstance(d.value, str)):
                return True, d.value
            return False, None
        if isinstance(v, FuncV):
            return True, docstring(v.node)
        if isinstance(v, SynthClassV):
            return True, v.doc
        if isinstance(v, ClassV):
            mv = self.effective_meta(v)
            if isinstance(mv, ClassV):   # e.g. ast.Num: its metaclass __init__ sets cls.__doc__
                r = self.instance_doc(InstV(mv, None, ([], {})))
                if r is not None:
                    return r
            t = self.class_ns(v).get('__doc__')
            d = t.get() if t is not None else DataV(None)
            if isinstance(d, DataV) and (d.value is None or isinstance(d.value, str)):
                if not d.value and self.dataclass_decorator(v) is not None:
                    return self.dataclass_doc(v)
                return True, d.value
            return False, None
        if isinstance(v, InstV):
            if isinstance(v.cls, LiveV):
                return True, v.cls.obj.__doc__
            r = self.instance_doc(v)
            if r is not None:
                return r
            return self.doc_of(v.cls, depth + 1)
        if isinstance(v, MethodV):
            return self.doc_of(v.func, depth + 1)
        if isinstance(v, WrappedV):
            return self.doc_of(v.wrapped, depth + 1)
        if isinstance(v, UndecoratedV):
            return self.doc_of(v.inner, depth + 1)
        if isinstance(v, DescrV):
            return self.doc_of(v.func, depth + 1)
        if isinstance(v, LiveV):
            d = getattr(v.obj, '__doc__', None)
            return True, d if isinstance(d, str) else None
        if isinstance(v, DecorV):
            if v.kind == 'wraps':
                return True, _functools_partial().__doc__
            return False, None
        return False, None

    def params(self, v, depth=0):
        """Parameter list, or a ready signature string (LiveV), or None."""
        if depth > 50:
            return None
        if isinstance(v, FuncV):
            return params_of(v.node)
        if isinstance(v, SynthClassV):
            return list(v.params)
        if isinstance(v, WrappedV):
            return self.params(v.wrapped, depth + 1)
        if isinstance(v, UndecoratedV):
            return self.params(v.inner, depth + 1)
        if isinstance(v, MethodV):
            p = self.params(v.func, depth + 1)
            return bound_params(p) if isinstance(p, list) else None
        if isinstance(v, DescrV) and v.kind == 'staticmethod':
            return self.params(v.func, depth + 1)
        if isinstance(v, ClassV):
            return self.class_params(v, depth)
        if isinstance(v, InstV):
            if v.partial is not None:
                func, pargs, kws, kwsrc = v.partial
                p = self.params(func, depth + 1)
                if not isinstance(p, list):
                    return None
                return partial_params(p, len(pargs), set(kws), kwsrc)
            if isinstance(v.cls, ClassV):
                r = self.class_defines(v.cls, '__call__')
                if r and r[0] is not None and isinstance(r[0], ClassV):
                    p = self.params(r[1].get(), depth + 1)
                    return bound_params(p) if isinstance(p, list) else None
            return None
        if isinstance(v, LiveV):
            try:
                import inspect
                return str(inspect.signature(v.obj))
            except Exception:
                return None
        return None

    def instance_doc(self, inst):
        """(ok, doc) when the class's __init__ sets self.__doc__, else None."""
        r = self.class_defines(inst.cls, '__init__')
        if not r or r[0] is None or not isinstance(r[0], ClassV):
            return None
        f = r[1].get()
        if not isinstance(f, FuncV) or isinstance(f.node, ast.Lambda):
            return None
        pos = f.node.args.posonlyargs + f.node.args.args
        if not pos:
            return None
        selfname = pos[0].arg
        if not any(isinstance(n, ast.Attribute) and n.attr == '__doc__' and isinstance(n.ctx, ast.Store)
                   and isinstance(n.value, ast.Name) and n.value.id == selfname for n in ast.walk(f.node)):
            return None
        args, kws = inst.args if inst.args is not None else ([], {})
        where = f.mod.where(f.node)
        sc = self.call_scope(f, [known(inst)] + list(args), kws, where)
        found = self.find_self_doc(f.node.body, sc, selfname)
        if found is None:
            return None
        if found is _UNKNOWN_ALL:
            return False, None
        d = self.ev_safe(found, sc)
        if isinstance(d, DataV) and (d.value is None or isinstance(d.value, str)):
            return True, d.value
        return False, None

    def find_self_doc(self, stmts, sc, selfname):
        """The expression last assigned to self.__doc__ along the decided
        path, None if none, _UNKNOWN_ALL if it depends on undecidable code."""
        found = None
        for st in stmts:
            if isinstance(st, ast.Assign):
                for t in st.targets:
                    if isinstance(t, ast.Attribute) and t.attr == '__doc__' and \
                            isinstance(t.value, ast.Name) and t.value.id == selfname:
                        found = st.value
            elif isinstance(st, ast.If):
                d = self.decide(st.test, sc, None, sc.mod)
                if d is None:
                    a = self.find_self_doc(st.body, sc, selfname)
                    b = self.find_self_doc(st.orelse, sc, selfname)
                    if a is not None or b is not None:
                        return _UNKNOWN_ALL
                else:
                    r = self.find_self_doc(st.body if d else st.orelse, sc, selfname)
                    if r is _UNKNOWN_ALL:
                        return r
                    if r is not None:
                        found = r
            elif isinstance(st, (ast.Return, ast.Raise)):
                break
            elif isinstance(st, (ast.For, ast.While, ast.With, ast.Try)):
                for sub in (st.body, getattr(st, 'orelse', []), getattr(st, 'finalbody', [])):
                    if self.find_self_doc(sub, sc, selfname) is not None:
                        return _UNKNOWN_ALL
        return found

    def effective_meta(self, c, depth=0):
        """The metaclass of c (declared or inherited), None for `type`."""
        if depth > 50:
            return None
        if c.meta is not None:
            return c.meta.get()
        for b in c.bases:
            bv = b.get()
            if isinstance(bv, UndecoratedV):
                bv = bv.inner
            if isinstance(bv, ClassV):
                m = self.effective_meta(bv, depth + 1)
                if m is not None:
                    return m
            elif isinstance(bv, LiveV) and isinstance(bv.obj, type) and type(bv.obj) is not type:
                return LiveV(type(bv.obj))
        return None

    def class_params(self, c, depth):
        mv = self.effective_meta(c)
        if mv is not None:
            # inspect: a metaclass __call__ defined in Python gives the signature
            if isinstance(mv, ClassV):
                r = self.class_defines(mv, '__call__', lenient=True)
                if r is None:
                    return None
                if r[0] is not None and isinstance(r[0], ClassV):
                    f = r[1].get()
                    p = self.params(f, depth + 1)
                    return bound_params(p) if isinstance(p, list) else None
            elif not (isinstance(mv, LiveV) and isinstance(mv.obj, type)):
                return None
        new = self.class_defines(c, '__new__', lenient=True)
        init = self.class_defines(c, '__init__', lenient=True)
        if new is None or init is None:
            return None
        ns = self.class_ns(c)
        new_user = new[0] is not None and isinstance(new[0], ClassV)
        init_user = init[0] is not None and isinstance(init[0], ClassV)
        if '__new__' in ns:
            m = new if new_user else None
        elif '__init__' in ns:
            m = init if init_user else None
        elif new_user:
            m = new
        elif init_user:
            m = init
        else:
            m = None
        if m is None:
            mro = self.class_mro(c) or []
            dc = self.dataclass_params(c, mro)
            if dc is not False:
                return dc
            if mro and all(isinstance(k, ClassV) or k.obj is object for k in mro):
                if any(isinstance(k, ClassV) and k.node.decorator_list for k in mro):
                    return None   # a decorator may have added __init__
                return []
            return None
        fv = m[1].get()
        if isinstance(fv, DescrV):
            fv = fv.func
        p = self.params(fv, depth + 1)
        return bound_params(p) if isinstance(p, list) else None

    @staticmethod
    def dataclass_decorator(c):
        """The @dataclass decorator node of class c, or None."""
        for d in c.node.decorator_list:
            f = d.func if isinstance(d, ast.Call) else d
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', None)
            if name == 'dataclass':
                return d
        return None

    def dataclass_params(self, c, mro):
        """The generated __init__'s parameters of a dataclass (as inspect
        shows them: default_factory as <factory>), None if they cannot be
        told, False if c is not a dataclass with a generated __init__."""
        d = self.dataclass_decorator(c)
        if d is None:
            return False
        if isinstance(d, ast.Call):
            for k in d.keywords:
                if k.arg == 'init':
                    return False if isinstance(k.value, ast.Constant) and k.value.value is False else None
                if k.arg == 'kw_only':
                    return None
        fields = {}
        for k in reversed(mro):
            if not isinstance(k, ClassV) or self.dataclass_decorator(k) is None:
                continue
            for st in k.node.body:
                if not (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)):
                    continue
                ann = unparse(st.annotation)
                if 'ClassVar' in ann:
                    continue
                if ann.endswith('KW_ONLY'):
                    return None
                default = None
                if st.value is not None:
                    default = unparse(st.value)
                    v = st.value
                    if isinstance(v, ast.Call) and unparse(v.func).rpartition('.')[2] == 'field':
                        default = None
                        for kw in v.keywords:
                            if kw.arg == 'default':
                                default = unparse(kw.value)
                            elif kw.arg == 'default_factory':
                                default = '<factory>'
                            elif kw.arg == 'init' and isinstance(kw.value, ast.Constant) and kw.value.value is False:
                                default = False
                            elif kw.arg == 'kw_only':
                                return None
                fields.pop(st.target.id, None)
                fields[st.target.id] = default
        return [(POS, n, dflt) for n, dflt in fields.items() if dflt is not False]

    def dataclass_doc(self, c):
        """dataclasses' generated __doc__: Name + str(inspect.signature) with
        annotations; (False, None) unless every annotation is one whose
        inspect formatting is known here (builtins, strings, typing names)."""
        mro = self.class_mro(c) or []
        params = self.dataclass_params(c, mro)
        if not isinstance(params, list):
            return False, None
        anns = {}
        for k in reversed(mro):
            if isinstance(k, ClassV) and self.dataclass_decorator(k) is not None:
                for st in k.node.body:
                    if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                        anns[st.target.id] = st.annotation
        out = []
        for kind, name, default in params:
            a = _format_annotation(anns.get(name))
            if a is None:
                return False, None
            if default is not None and default != '<factory>':
                try:
                    lit = ast.literal_eval(default)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    return False, None
                default = repr(lit)
            out.append('%s: %s = %s' % (name, a, default) if default is not None else '%s: %s' % (name, a))
        return True, '%s(%s)' % (c.node.name, ', '.join(out))

    def signature(self, name, v):
        try:
            p = self.params(v)
        except RecursionError:
            p = None
        if isinstance(p, str):
            return name + p
        if p is None:
            return name + '(...)'
        return name + format_params(p)

    # ------------------------------------------------------------- analysis
    def run(self):
        res = {'entrypoints': [], 'dependencies': [], 'errors': self.errors}
        names = self.repo.listdir('')
        if names is None:
            self.error('hubconf.py:0: the commit tree cannot be listed')
            return res
        if 'hubconf.py' not in names:
            self.error('hubconf.py:0: no hubconf.py at the top of this commit: no entrypoints')
            return res
        try:
            data = self.repo.read('hubconf.py', self.lim['source_max'])
        except OSError as e:
            if e.errno == errno.EFBIG:
                self.error(too_large('hubconf.py', e, self.lim['source_max']) +
                           ' (torch.hub would import it; hubfs does not analyse it: no entrypoints)')
            elif e.errno in _NOT_REGULAR:
                self.error('hubconf.py:0: hubconf.py is not a regular file (%s): no entrypoints'
                           % _not_regular_why(e))
            else:
                self.error('hubconf.py:0: cannot read: %s' % os.strerror(e.errno or errno.EIO))
            return res
        if data is None:
            self.error('hubconf.py:0: hubconf.py is not a regular file: no entrypoints')
            return res
        hub = Mod('hubconf.py', self.repo, 'hubconf.py', 'source')
        self.hub = hub
        tree, err = self.parse(self.repo, 'hubconf.py', 'hubconf.py', data)
        if tree is None:
            self.error(err + ' (torch.hub cannot import it: no entrypoints)')
            return res
        hub.tree = tree
        hub.state = 'loading'
        ns = hub.ns
        ns['__name__'] = known(DataV('hubconf.py'))
        ns['__file__'] = known(DataV(RepoPath('hubconf.py')))
        ns['__doc__'] = known(DataV(docstring(tree)))
        ns['__package__'] = known(DataV('hubconf'))
        ns['__builtins__'] = known(LiveV(builtins))
        for k in ('__spec__', '__loader__', '__cached__'):
            ns[k] = known(DataV())
        partial = False
        try:
            self.exec_block(hub, tree.body, ns, Scope(hub, None, None, True), top=True, in_try=False)
        except _Budget:
            self.error('hubconf.py:0: analysis stopped after %g s (time budget): hubconf.py only partly evaluated'
                       % self.lim['job_seconds'])
            partial = True
        hub.state = 'done'
        # dependencies
        t = ns.get('dependencies')
        if t is not None and not partial:
            try:
                v = t.get()
            except _Budget:
                v = UnknownV('time budget exhausted')
            deps = None
            if isinstance(v, DataV) and isinstance(v.value, (list, tuple)) and \
                    all(isinstance(x, str) for x in v.value):
                deps = list(v.value)
            if deps is None:
                self.error('%s: dependencies is not a literal list of strings: not listed' % (t.where or 'hubconf.py:0'))
            else:
                res['dependencies'] = deps
        entries = res['entrypoints']
        cap = self.lim['entrypoints_max']
        public = sorted(n for n in ns if not n.startswith('_'))
        try:
            for name in public:
                if len(entries) >= cap:
                    self.error('hubconf.py:0: more than %d entrypoints: only the first %d (sorted) are listed'
                               % (cap, cap))
                    break
                self.tick()
                th = ns[name]
                try:
                    v = th.get()
                    c, why = self.callable_of(v)
                except RecursionError:
                    c, why = None, 'definition too deep to follow'
                if c is None:
                    self.error('%s: %r: cannot tell statically whether it is callable: %s' % (
                        self.hub_lines.get(name) or th.where or 'hubconf.py:0', name, why))
                    continue
                if not c:
                    continue
                if why:
                    self.error('%s: %r: %s; listed with the undecorated docstring and signature' % (
                        self.hub_lines.get(name) or th.where or 'hubconf.py:0', name, why))
                ok, doc = self.doc_of(v)
                if not ok:
                    self.error('%s: %r: its __doc__ cannot be known statically; help left empty' % (
                        self.hub_lines.get(name) or th.where or 'hubconf.py:0', name))
                    doc = None
                entries.append({'name': name, 'help': doc if doc is not None else '',
                                'signature': self.signature(name, v)})
                self.entry_vals[name] = v
        except _Budget:
            self.error('hubconf.py:0: analysis stopped after %g s (time budget): entrypoints listed partly'
                       % self.lim['job_seconds'])
        try:
            self.find_weights(res)
        except _Budget:
            self.error('hubconf.py:0: analysis stopped after %g s (time budget): weights listed partly'
                       % self.lim['job_seconds'])
        return res

    # -------------------------------------------------------------- weights
    # Weight files, statically: http(s) URLs in the repository's Python code
    # that are weights (passed to a loader, or ending in a weight suffix).
    # .hub/weights lists them all; an entrypoint's weights are the URLs its
    # definition reaches: its body, the module-level names it reads (a dict
    # keyed by the entrypoint's name selects that entry), and the functions,
    # classes and constants it uses, transitively, across repo modules
    # through module-level imports (_WImport).
    def _repo_py_files(self):
        out, stack = [], ['']
        while stack and len(out) < self.lim['modules_max']:
            d = stack.pop()
            names = self.repo.listdir(d)
            for n in sorted(names or ()):
                if n.startswith('.'):
                    continue
                p = self.repo.join(d, n)
                if n.endswith('.py'):
                    out.append(p)
                elif self.repo.isdir(p):
                    stack.append(p)
        return out

    def _weights_index(self, path):
        """(weight URLs of the module, module-level name -> node) for path."""
        hit = self.windex.get(path)
        if hit is not None:
            return hit
        self.tick()
        tree, _ = self.parse(self.repo, path, path)
        urls, names = [], {}
        if tree is not None:
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names[node.name] = node
                elif isinstance(node, ast.ImportFrom):
                    for a in node.names:
                        if a.name != '*':
                            names[a.asname or a.name] = _WImport(path, node.module, node.level, a.name)
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        if a.asname:
                            names[a.asname] = _WImport(path, a.name, 0, None)
                elif isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            names[t.id] = node.value
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                    names[node.target.id] = node.value
            loader = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _callee(node) in WEIGHT_LOADERS:
                    for a in list(node.args[:1]) + [k.value for k in node.keywords if k.arg == 'url']:
                        if isinstance(a, ast.Constant) and isinstance(a.value, str):
                            loader.add(a.value)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                        _is_url(node.value) and (node.value in loader or _weight_suffix(node.value)):
                    urls.append(node.value)
        hit = (urls, names, set(urls))
        self.windex[path] = hit
        return hit

    def _entry_def(self, v, depth=0):
        if depth > 8 or v is None:
            return None, None
        if isinstance(v, (FuncV, ClassV)):
            return v.node, v.mod
        if isinstance(v, WrappedV):
            n, m = self._entry_def(v.wrapped, depth + 1)
            return (n, m) if n is not None else self._entry_def(v.wrapper, depth + 1)
        if isinstance(v, DecorV):
            return self._entry_def(v.wrapped, depth + 1)
        if isinstance(v, UndecoratedV):
            return self._entry_def(v.inner, depth + 1)
        return None, None

    def _wmodule(self, imp):
        """The repository file an import of a weights scan names, or None
        (installed packages are not the repo's weights).  Absolute names
        resolve from the repository root, as torch.hub puts it on sys.path."""
        parts = (imp.module or '').split('.') if imp.module else []
        if imp.level:
            base = self.repo.dirname(imp.src)
            for _ in range(imp.level - 1):
                base = self.repo.dirname(base)
        else:
            base = ''
        d = base
        for p in parts:
            d = self.repo.join(d, p)
        cands = [d + '.py', self.repo.join(d, '__init__.py')] if d else ['__init__.py']
        for c in cands:
            if c in self._repo_py_set():
                return c
        return None

    def _repo_py_set(self):
        if self._pyset is None:
            self._pyset = set(self._repo_py_files())
        return self._pyset

    def _reach_import(self, imp, attr, entry, seen, out, depth):
        """An imported name, or attr of an imported module, reached."""
        mod = self._wmodule(imp)
        name = attr
        if imp.name is not None:
            if mod is not None and imp.name in self._weights_index(mod)[1]:
                name = imp.name          # from X import name: a name of X
            else:                        # from X import sub: a submodule, sub.attr
                full = imp.module + '.' + imp.name if imp.module else imp.name
                mod = self._wmodule(_WImport(imp.src, full, imp.level, None))
        if mod is None or name is None:
            return
        key = (mod, name)
        if key in seen:
            return
        seen.add(key)
        _, names, weights = self._weights_index(mod)
        target = names.get(name)
        if target is None:
            return
        if isinstance(target, _WImport):
            self._reach_import(target, None, entry, seen, out, depth + 1)
        elif isinstance(target, ast.Dict):
            self._reach_dict(target, mod, entry, seen, out, depth)
        else:
            self._reach(target, mod, entry, seen, out, depth + 1)

    def _reach(self, node, path, entry, seen, out, depth=0):
        """Weight URLs that node (of module path) reaches."""
        if depth > self.lim['call_depth']:
            return
        self.tick()
        _, names, weights = self._weights_index(path)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in weights:
                out.append(sub.value)
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and \
                    isinstance(names.get(sub.value.id), _WImport):
                # import pkg.mod as M / from pkg import mod: M.attr
                self._reach_import(names[sub.value.id], sub.attr, entry, seen, out, depth)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and \
                    isinstance(names.get(sub.id), _WImport):
                self._reach_import(names[sub.id], None, entry, seen, out, depth)
            elif isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and \
                    isinstance(sub.slice, ast.Constant) and isinstance(names.get(sub.value.id), ast.Dict):
                self._reach_dict(names[sub.value.id], path, sub.slice.value, seen, out, depth)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id in names:
                key = (path, sub.id)
                if key in seen:
                    continue
                seen.add(key)
                target = names[sub.id]
                if isinstance(target, ast.Dict):
                    self._reach_dict(target, path, entry, seen, out, depth)
                else:
                    self._reach(target, path, entry, seen, out, depth + 1)

    def _reach_dict(self, d, path, key, seen, out, depth):
        """A module-level dict: the entry of `key` if it has one, else all."""
        for k, v in zip(d.keys, d.values):
            if isinstance(k, ast.Constant) and k.value == key:
                self._reach(v, path, key, seen, out, depth + 1)
                return
        self._reach(d, path, key, seen, out, depth + 1)

    def find_weights(self, res):
        allw = []
        for path in self._repo_py_files():
            allw.extend(self._weights_index(path)[0])
        res['weights'] = sorted(set(allw))
        for e in res['entrypoints']:
            node, mod = self._entry_def(self.entry_vals.get(e['name']))
            found = []
            if node is not None and mod is not None and mod.is_repo and mod.file:
                self._reach(node, mod.file, e['name'], set(), found)
            e['weights'] = sorted(set(found))


def too_large(display, e, cap):
    """Message for an OSError(EFBIG, '<size>') from the tree reader."""
    size = e.strerror if e.strerror and e.strerror.isdigit() else 'more than %d' % cap
    return '%s:0: file too large (%s bytes, limit %d): not analysed' % (display, size, cap)


def _functools_partial():
    import functools
    return functools.partial


# The const evaluator lives on Job as a method; defined here for length.
def _const(self, e, scope, depth):
    """The Python value of a constant expression, or raise _NotConst."""
    if depth > 100:
        raise _NotConst()
    T = type(e)
    if T is ast.Constant:
        return e.value
    if T in (ast.Tuple, ast.List, ast.Set):
        if len(e.elts) > 4096:
            raise _NotConst()
        vals = []
        for x in e.elts:
            if isinstance(x, ast.Starred):
                v = self.const(x.value, scope, depth + 1)
                if not isinstance(v, (list, tuple)):
                    raise _NotConst()
                vals.extend(v)
            else:
                vals.append(self.const(x, scope, depth + 1))
        if T is ast.Tuple:
            return tuple(vals)
        if T is ast.List:
            return vals
        try:
            return frozenset(vals)
        except TypeError:
            raise _NotConst()
    if T is ast.Dict:
        if len(e.keys) > 4096 or any(k is None for k in e.keys):
            raise _NotConst()
        try:
            return {self.const(k, scope, depth + 1): self.const(v, scope, depth + 1)
                    for k, v in zip(e.keys, e.values)}
        except TypeError:
            raise _NotConst()
    if T in (ast.Name, ast.Attribute, ast.Subscript, ast.Call):
        if T is ast.Call:
            f = e.func
            if isinstance(f, ast.Name) and scope.lookup(f.id) is not None and \
                    f.id in ('hasattr', 'callable', 'str', 'len') and len(e.args) in (1, 2) and not e.keywords:
                fv = scope.lookup(f.id).get()
                if isinstance(fv, LiveV) and fv.obj is getattr(builtins, f.id):
                    if f.id == 'callable':
                        c = self.callable_of(self.ev(e.args[0], scope, depth + 1))[0]
                        if c is None:
                            raise _NotConst()
                        return c
                    if f.id == 'hasattr':
                        base = self.ev(e.args[0], scope, depth + 1)
                        attr = self.const(e.args[1], scope, depth + 1)
                        if not isinstance(attr, str):
                            raise _NotConst()
                        if (isinstance(base, ModuleV) and base.mod.live is sys) or \
                                (isinstance(base, LiveV) and base.obj is sys):
                            return hasattr(sys, attr)   # which attributes exist is the same
                        r = self.getattr_val(base, attr, None)
                        if isinstance(base, (ModuleV, LiveV, ClassV)):
                            if isinstance(r, UnknownV):
                                if 'has no attribute' in r.reason:
                                    return False
                                raise _NotConst()
                            return True
                        raise _NotConst()
                    if f.id == 'str':
                        v = self.const(e.args[0], scope, depth + 1)
                        if isinstance(v, RepoPath):
                            return v
                        if isinstance(v, (str, int, float, bool)) or v is None:
                            return str(v)
                        raise _NotConst()
                    if f.id == 'len':
                        v = self.const(e.args[0], scope, depth + 1)
                        try:
                            return len(v)
                        except TypeError:
                            raise _NotConst()
            if isinstance(f, ast.Attribute) and f.attr in ('resolve', 'absolute') and not e.args:
                v = self.const(f.value, scope, depth + 1)
                if isinstance(v, RepoPath):
                    return v
                raise _NotConst()
            if isinstance(f, ast.Attribute) and (f.attr in _PURE_STR_METHODS or f.attr == 'format'):
                base = self.const(f.value, scope, depth + 1)
                if isinstance(base, (str, bytes)) and not isinstance(base, RepoPath) and len(base) < 1 << 16:
                    args = [self.const(a, scope, depth + 1) for a in e.args if not isinstance(a, ast.Starred)]
                    if len(args) != len(e.args):
                        raise _NotConst()
                    kw = {}
                    for k in e.keywords:
                        v = self.const(k.value, scope, depth + 1)
                        if k.arg is None:
                            if not isinstance(v, dict):
                                raise _NotConst()
                            kw.update(v)
                        else:
                            kw[k.arg] = v
                    return _str_call(base, f.attr, args, kw)
        v = self.ev(e, scope, depth + 1)
        if isinstance(v, DataV):
            if v.value is _NOVALUE:
                raise _NotConst()
            return v.value
        if isinstance(v, LiveV):
            if _const_value_ok(v.obj) or isinstance(v.obj, type(sys.version_info)):
                return v.obj
            return _Opaque(v)
        if isinstance(v, (UnknownV,)):
            raise _NotConst()
        if T is ast.Attribute and e.attr == 'parent':
            raise _NotConst()
        return _Opaque(v)
    if T is ast.UnaryOp:
        v = self.const(e.operand, scope, depth + 1)
        op = type(e.op)
        if op is ast.Not:
            return not v
        if isinstance(v, _Opaque):
            raise _NotConst()
        if op is ast.USub and isinstance(v, (int, float, complex)):
            return -v
        if op is ast.UAdd and isinstance(v, (int, float, complex)):
            return +v
        if op is ast.Invert and isinstance(v, int):
            return ~v
        raise _NotConst()
    if T is ast.BoolOp:
        isand = isinstance(e.op, ast.And)
        unknown = False
        last = None
        for x in e.values:
            try:
                v = self.const(x, scope, depth + 1)
            except _NotConst:
                unknown = True
                continue
            last = v
            if isand and not v:
                return v
            if not isand and v:
                if unknown:
                    raise _NotConst()
                return v
        if unknown:
            raise _NotConst()
        return last
    if T is ast.Compare:
        left = self.const(e.left, scope, depth + 1)
        for op, r in zip(e.ops, e.comparators):
            right = self.const(r, scope, depth + 1)
            ok = _compare(op, left, right)
            if not ok:
                return False
            left = right
        return True
    if T is ast.BinOp:
        if isinstance(e.op, ast.Div):
            left = self.const(e.left, scope, depth + 1)
            if isinstance(left, RepoPath):
                r = self.const(e.right, scope, depth + 1)
                if isinstance(r, str):
                    return RepoPath(os.path.join(left, r))
            raise _NotConst()
        left = self.const(e.left, scope, depth + 1)
        right = self.const(e.right, scope, depth + 1)
        if isinstance(left, _Opaque) or isinstance(right, _Opaque):
            raise _NotConst()
        op = type(e.op)
        try:
            if op is ast.Add:
                if isinstance(left, (str, bytes, list, tuple)) and len(left) + len(right) > 1 << 16:
                    raise _NotConst()
                r = left + right
                if isinstance(left, RepoPath):
                    r = RepoPath(r)
                return r
            if op is ast.Sub and isinstance(left, (int, float)):
                return left - right
            if op is ast.Mult and isinstance(left, (int, float)) and isinstance(right, (int, float)):
                if abs(left) < 1 << 64 and abs(right) < 1 << 64:
                    return left * right
            if op is ast.Mult and isinstance(left, (list, tuple)) and type(right) is int and \
                    0 <= len(left) * right <= 4096:
                return left * right
            if op is ast.Mod and isinstance(left, str) and len(left) < 4096 and not _BIG_FIELD.search(left):
                r = left % right
                if len(r) < 1 << 16:
                    return r
            if op in (ast.BitOr, ast.BitAnd) and isinstance(left, int) and isinstance(right, int):
                return left | right if op is ast.BitOr else left & right
        except _NotConst:
            raise
        except Exception:
            raise _NotConst()
        raise _NotConst()
    if T is ast.JoinedStr:
        out = []
        for x in e.values:
            if isinstance(x, ast.Constant):
                out.append(x.value)
            elif isinstance(x, ast.FormattedValue) and x.conversion == -1 and x.format_spec is None:
                v = self.const(x.value, scope, depth + 1)
                if not isinstance(v, (str, int)) or isinstance(v, bool):
                    raise _NotConst()
                out.append(str(v))
            else:
                raise _NotConst()
        r = ''.join(out)
        if e.values and isinstance(e.values[0], ast.FormattedValue):
            try:
                v0 = self.const(e.values[0].value, scope, depth + 1)
                if isinstance(v0, RepoPath):
                    return RepoPath(r)
            except _NotConst:
                pass
        return r
    if T is ast.IfExp:
        c = self.const(e.test, scope, depth + 1)
        return self.const(e.body if c else e.orelse, scope, depth + 1)
    raise _NotConst()


_CONST_TYPES = (frozenset, set, tuple, list, dict, str, int, float, bool, complex, bytes)
_PURE_STR_METHODS = frozenset((
    'startswith', 'endswith', 'lower', 'upper', 'strip', 'lstrip', 'rstrip', 'split',
    'rsplit', 'partition', 'rpartition', 'isdigit', 'isalpha', 'isalnum', 'isidentifier',
    'count', 'find', 'rfind', 'casefold', 'title', 'capitalize', 'splitlines', 'replace', 'join'))
_BIG_FIELD = re.compile(r'\d{5,}')


def _str_call(base, meth, args, kw):
    """base.meth(*args, **kw) for immutable str/bytes with output bounded."""
    for v in list(args) + list(kw.values()):
        if not _const_value_ok(v) or isinstance(v, RepoPath):
            raise _NotConst()
    if meth == 'format':
        if not isinstance(base, str) or _BIG_FIELD.search(base):
            raise _NotConst()
        if sum(len(v) for v in list(args) + list(kw.values()) if isinstance(v, str)) + len(base) > 1 << 20:
            raise _NotConst()
    if meth == 'join':
        if len(args) != 1 or not isinstance(args[0], (list, tuple)) or \
                sum(len(x) for x in args[0] if isinstance(x, (str, bytes))) + len(base) * len(args[0]) > 1 << 20:
            raise _NotConst()
    if meth == 'replace':
        if len(args) < 2 or not isinstance(args[1], (str, bytes)) or \
                len(base) * max(1, len(args[1])) > 1 << 20:
            raise _NotConst()
    try:
        r = getattr(base, meth)(*args, **kw)
    except Exception:
        raise _NotConst()
    if not _const_value_ok(r):
        raise _NotConst()
    return r


_TYPING_NAMES = frozenset(('List', 'Dict', 'Set', 'FrozenSet', 'Tuple', 'Optional', 'Union', 'Any',
                           'Callable', 'Sequence', 'Mapping', 'Iterable', 'Type'))
_BUILTIN_TYPES = frozenset(('int', 'float', 'str', 'bool', 'bytes', 'complex', 'object', 'list', 'dict',
                            'set', 'tuple', 'frozenset', 'bytearray'))


def _format_annotation(node):
    """inspect.formatannotation() of a simple annotation, else None."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return repr(node.value)
    if isinstance(node, ast.Constant) and node.value is None:
        return 'None'
    if isinstance(node, ast.Name) and node.id in _BUILTIN_TYPES:
        return node.id
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
            node.value.id in _TYPING_NAMES and node.value.id not in ('Optional', 'Union'):
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        inner = [_format_annotation(x) for x in parts]
        if any(x is None or x.startswith("'") for x in inner):
            return None
        return '%s[%s]' % (node.value.id, ', '.join(inner))
    return None


def _compare(op, a, b):
    T = type(op)
    if T is ast.Is:
        if isinstance(a, _Opaque) or isinstance(b, _Opaque):
            if a is None or b is None:
                return False
            raise _NotConst()
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return a is b
        raise _NotConst()
    if T is ast.IsNot:
        return not _compare(ast.Is(), a, b)
    if isinstance(a, _Opaque) or isinstance(b, _Opaque):
        raise _NotConst()
    try:
        if T is ast.Eq:
            return a == b
        if T is ast.NotEq:
            return a != b
        if T is ast.Lt:
            return a < b
        if T is ast.LtE:
            return a <= b
        if T is ast.Gt:
            return a > b
        if T is ast.GtE:
            return a >= b
        if T is ast.In:
            return a in b
        if T is ast.NotIn:
            return a not in b
    except TypeError:
        raise _NotConst()
    raise _NotConst()


Job.const = _const


# ------------------------------------------------------------------ entry points

def analyze(read, listdir, limits=None, hard_deadline=None, host=None, cancelled=None):
    """Analyse one commit tree.

    read(path) -> bytes, or None when path is absent or a directory (raise
    OSError for other failures); listdir(path) -> list of names, or None when
    path is absent or not a directory.  Paths are relative, '/'-separated,
    '' is the root.  Returns {'entrypoints': [{'name','help','signature','weights'}],
    'weights': [urls],
    'dependencies': [...], 'errors': [...]}.  Raises Cancelled when
    hard_deadline (time.monotonic() seconds) passes or cancelled() returns
    true (polled)."""
    lim = dict(DEFAULT_LIMITS)
    if limits:
        lim.update(limits)
    # soft: the job's own budget -> partial result with an errors line;
    # hard: the caller's deadline -> Cancelled (the caller has given up).
    soft = time.monotonic() + float(lim['job_seconds'])
    hard = hard_deadline if hard_deadline is not None else float('inf')
    job = Job(read, listdir, lim, soft, hard, host, cancelled)
    try:
        res = job.run()
    except _Budget:
        job.error('hubconf.py:0: analysis stopped after %g s (time budget)' % lim['job_seconds'])
        res = {'entrypoints': [], 'dependencies': [], 'errors': job.errors}
    except RecursionError:
        job.error('hubconf.py:0: analysis aborted: definitions nested too deep (RecursionError)')
        res = {'entrypoints': [], 'dependencies': [], 'errors': job.errors}
    except MemoryError:
        job.error('hubconf.py:0: analysis aborted: out of memory')
        res = {'entrypoints': [], 'dependencies': [], 'errors': job.errors}
    del job
    _collect()
    errs = res['errors']
    cap = lim['errors_max']
    if len(errs) > cap:
        n = len(errs) - cap
        res['errors'] = errs[:cap] + ['hubconf.py:0: ... and %d more errors' % n]
    return res


def _collect():
    """Free this job's reference cycles now, then freeze what survives (the
    host AST cache) so later collections do not walk millions of cached
    nodes: a full collection over them costs ~200 ms.  Frozen ASTs are still
    freed by reference counting when they leave the cache."""
    gc.collect()
    gc.freeze()


def analyze_json(read, listdir, limits=None, hard_deadline=None, host=None, cancelled=None):
    """analyze() as JSON text (ASCII, so any docstring survives the trip to C)."""
    try:
        res = analyze(read, listdir, limits, hard_deadline, host, cancelled)
    except (Cancelled, KeyboardInterrupt, SystemExit):
        raise
    except MemoryError:
        raise
    except Exception as e:   # a bug here must not take the daemon down
        res = {'entrypoints': [], 'dependencies': [],
               'errors': ['hubconf.py:0: internal error in the analysis: %s: %s' % (type(e).__name__, e)]}
    return json.dumps(res, ensure_ascii=True)


def analyze_dir(root, limits=None, timeout=None, host=None):
    """analyze() over a plain directory (tests, tools), read as the daemon
    reads a commit: through Confined with the directory as its only root, so
    symbolic links are not followed, FIFOs and devices are not opened, and
    nothing outside it is read."""
    root = os.path.abspath(root)
    conf = Confined([root])
    cap = dict(DEFAULT_LIMITS, **(limits or {}))['source_max']

    def full(p):
        return root + '/' + p if p else root

    def read(p):
        if conf.locate(full(p)) is None:
            return None
        try:
            return conf.read(full(p), cap, exact=True)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def listdir(p):
        return conf.listdir(full(p))

    hard = time.monotonic() + timeout if timeout else None
    return analyze(read, listdir, limits, hard, host)


if __name__ == '__main__':
    print(json.dumps(analyze_dir(sys.argv[1] if len(sys.argv) > 1 else '.'), indent=1))
