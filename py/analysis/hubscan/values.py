"""values: the abstract values a name can be bound to, and the job's
bookkeeping objects that hold them.

OWNS
  Val and its subclasses (what a name would be bound to: a module, a
  function, a class, an instance, a wrapper, a method, a builtin object,
  plain data, or UnknownV with the reason it could not be settled), Thunk
  (a lazily computed Val, so that only what a public name needs is ever
  evaluated), Scope (name resolution: locals, closures, module globals,
  builtins), Mod (one module of the job, like an entry of sys.modules),
  Exc (an exception a statement would raise at import time), RepoPath (a
  path inside the commit tree), const_value_ok() (whether a Python value
  is plain bounded data that may be held as a DataV value) and the live
  functools.partial type.  No logic of evaluation: that is the Job's
  (job.py and the modules it combines).
"""

import builtins

from . import limits


class RepoPath(str):
    """A path inside the commit tree (value of __file__ and friends)."""
    __slots__ = ()


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


NOVALUE = object()


class DataV(Val):
    """Plain data: never callable.  value: the Python value when known;
    elts: for dict/list/tuple displays, element Thunks for subscripts."""
    __slots__ = ('value', 'elts')

    def __init__(self, value=NOVALUE, elts=None):
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
        self.val, self.state, self.fn = v, 2, None
        return v


def known(v, where=None):
    return Thunk(None, v, where)


# Marker: a module's __all__ (or an assignment to self.__doc__) that cannot
# be known statically.
UNKNOWN_ALL = object()


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


def const_value_ok(v, depth=0):
    """Whether v is plain data small enough to hold as a constant."""
    if depth > limits.CONST_NEST:
        return False
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
        return not (isinstance(v, (str, bytes)) and len(v) > limits.CONST_STR)
    if isinstance(v, (tuple, list, frozenset, set)):
        return len(v) <= limits.CONST_ITEMS and all(const_value_ok(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return len(v) <= limits.CONST_ITEMS and all(const_value_ok(k, depth + 1) and const_value_ok(x, depth + 1)
                                                    for k, x in v.items())
    return False


def functools_partial():
    """The live functools.partial type (InstV of it models partial objects)."""
    import functools
    return functools.partial
