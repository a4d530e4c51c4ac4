"""Per-commit module namespaces: the repo's code imported under a package of
its own, so two refs of one repo, or two repos with a top-level `models`,
load side by side, and the user's `models` is neither shadowed nor shadows.

How: a commit directory D gets a synthetic package `_hubfs_<key>` whose
__path__ is [D]; Python's own path finder then loads D/models/... as
`_hubfs_<key>.models...`.  Every module loaded under that package runs with
a private `__builtins__` whose `__import__` rewrites absolute imports of D's
top-level names (`import models.resnet`, `from utils import x`) to the
prefixed names, so the repo's code, also when it imports lazily inside a
function long after load, sees its own modules.  Code outside the repo
(torch, torchvision, the user's) keeps the real `__import__`.  Nothing is
added to sys.path; the only sys.modules entries are under `_hubfs_<key>`.

`importlib.import_module("models.x")` called by repo code is rewritten
the same way: the repo's modules see a per-namespace `importlib` whose
import_module knows the prefix.

Plain names while the repo runs: code outside the repo that imports one of
the repo's top-level names while an entrypoint (or hubconf) of that commit
runs in the same thread -- pickle's find_class under torch.load, for
checkpoints that name classes as `models.yolo.Model` -- gets the repo's
module, under the plain name, for the duration of the call only (see
activate()); a plain name already in sys.modules is left alone.

Directories of its own tree that the repo puts on sys.path
(`sys.path.insert(0, ROOT / "src")`) are namespaced too: see Space.
"""
import builtins
import importlib
import importlib.machinery
import os
import sys
import threading
import types

_PREFIX = "_hubfs_"
_lock = threading.RLock()
_spaces = {}  # package name -> Space


def _top_names(root):
    """Names D's absolute imports can mean: packages, namespace dirs, modules."""
    names = set()
    try:
        entries = os.listdir(root)
    except OSError:
        return names
    for e in entries:
        if e.startswith("."):
            continue
        if e.endswith(".py") and e[:-3].isidentifier():
            names.add(e[:-3])
        elif e.isidentifier() and os.path.isdir(os.path.join(root, e)):
            names.add(e)
        else:
            for suf in importlib.machinery.EXTENSION_SUFFIXES:
                if e.endswith(suf) and e[:-len(suf)].isidentifier():
                    names.add(e[:-len(suf)])
    return names


class _ImportlibShim(types.ModuleType):
    """importlib as a repo sees it: every attribute the real package's, but
    import_module (set per namespace)."""

    def __getattr__(self, name):
        return getattr(importlib, name)


class Space:
    """One commit (or local directory) imported under its own package.

    Names the repo's absolute imports are rewritten for: its top-level
    modules and packages (tops), and the modules found in directories of its
    own tree that its code put on sys.path (`sys.path.insert(0, ROOT/"src")`):
    each such directory becomes a sub-package `_hubfs_<key>._p<N>` whose
    __path__ is that directory, and is remembered, so that lazy imports after
    sys.path was restored still find them (extra)."""

    def __init__(self, root, key):
        self.root = root
        self.root_slash = os.path.join(root, "")
        self.package = _PREFIX + key
        self.tops = _top_names(root)
        self.extra = {}           # top name -> namespaced name, through the repo's own sys.path dirs
        self.extra_dirs = []      # [(directory, sub-package name)], in the order they were seen
        self.path_seen = None     # sys.path as last scanned for the repo's dirs
        self.not_extra = set()    # names looked up in extra_dirs and not there (reset on a new dir)
        real_import = builtins.__import__

        def repo_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0:
                top = name.partition(".")[0]
                mapped = self.mapped(top)
                if mapped is not None:
                    full = mapped + name[len(top):]
                    mod = real_import(full, globals, locals, fromlist, 0)
                    if not fromlist:
                        # `import models.x` binds `models`: the prefixed top package
                        return sys.modules[mapped]
                    return mod
                if top == "importlib":
                    mod = real_import(name, globals, locals, fromlist, 0)
                    return shim if name == "importlib" or not fromlist else mod
            return real_import(name, globals, locals, fromlist, level)

        real_import_module = importlib.import_module

        def repo_import_module(name, package=None):
            if not name.startswith("."):
                top = name.partition(".")[0]
                mapped = self.mapped(top)
                if mapped is not None:
                    name = mapped + name[len(top):]
            return real_import_module(name, package)

        # `import importlib` / `from importlib import import_module` in the
        # repo: the real package with import_module knowing the prefix
        shim = _ImportlibShim("importlib")
        shim.import_module = repo_import_module
        self.importlib = shim

        self.builtins = dict(builtins.__dict__)
        self.builtins["__import__"] = repo_import
        pkg = types.ModuleType(self.package, "hubfs namespace of %s" % root)
        pkg.__path__ = [root]
        pkg.__package__ = self.package
        pkg.__file__ = None
        pkg.__spec__ = importlib.machinery.ModuleSpec(self.package, None, is_package=True)
        pkg.__spec__.submodule_search_locations = [root]
        self.module = pkg

    def mapped(self, top):
        """The namespaced name of the repo's top-level name `top`, or None
        when `top` is not the repo's (torch, os, the user's ...)."""
        if top in self.tops:
            return self.package + "." + top
        m = self.extra.get(top)
        if m is not None:
            return m
        if sys.path != self.path_seen:
            self._scan_path()
        if not self.extra_dirs or top in self.not_extra:
            return None
        with _lock:
            for d, sub in self.extra_dirs:
                if importlib.machinery.PathFinder.find_spec(top, [d]) is not None:
                    self.extra[top] = sub + "." + top
                    return self.extra[top]
            self.not_extra.add(top)
        return None

    def _scan_path(self):
        """Directories inside the repo's tree on sys.path (put there by its
        code) become sub-packages of the namespace."""
        with _lock:
            path = _builtin_list(sys.path)
            for d in path:
                if not isinstance(d, str):
                    continue
                d = os.path.normpath(d)
                if d == self.root or not d.startswith(self.root_slash):
                    continue
                if any(d == known for known, _ in self.extra_dirs):
                    continue
                sub = "%s._p%d" % (self.package, len(self.extra_dirs))
                m = types.ModuleType(sub, "hubfs: %s, put on sys.path by the repo" % d)
                m.__path__ = [d]
                m.__package__ = sub
                m.__file__ = None
                m.__spec__ = importlib.machinery.ModuleSpec(sub, None, is_package=True)
                m.__spec__.submodule_search_locations = [d]
                sys.modules[sub] = m
                self.extra_dirs.append((d, sub))
                self.not_extra.clear()
            self.path_seen = path

    def import_module(self, name):
        """D's module `name` (e.g. "hubconf"), loaded in this namespace."""
        full = self.package + "." + name
        with _lock:
            mod = sys.modules.get(full)
            if mod is None:
                mod = __import__(full, fromlist=["_"])
        return mod


class _Finder:
    """Finds `_hubfs_<key>.x.y` with the path finder and gives the module the
    namespace's __builtins__ before its code runs."""

    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(_PREFIX):
            return _alias_spec(fullname)
        pkg = fullname.partition(".")[0]
        space = _spaces.get(pkg)
        if space is None:
            return None
        if fullname == pkg:
            return space.module.__spec__
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, space)
        return spec


class _Loader:
    def __init__(self, inner, space):
        self.inner = inner
        self.space = space

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        module.__dict__["__builtins__"] = self.space.builtins
        self.inner.exec_module(module)

    def __getattr__(self, name):  # get_source, get_filename ... for tracebacks
        return getattr(self.inner, name)


_active = threading.local()  # .spaces: the namespaces whose code this thread is running


def _alias_spec(fullname):
    """A plain name of the namespace this thread is running, imported by code
    outside it (pickle's find_class): a spec handing out the repo's module."""
    stack = getattr(_active, "spaces", None)
    if not stack:
        return None
    space = stack[-1]
    top, dot, _ = fullname.partition(".")
    mapped = space.mapped(top)
    if mapped is None:
        return None
    target = mapped + fullname[len(top):]
    if dot:  # a submodule: only below a plain name that is this alias
        parent = fullname.rpartition(".")[0]
        if getattr(sys.modules.get(parent), "__name__", None) != target.rpartition(".")[0]:
            return None
    _active.made[-1].append((fullname, target))
    return importlib.machinery.ModuleSpec(fullname, _AliasLoader(target))


class _AliasLoader:
    def __init__(self, target):
        self.target = target
        self.saved_spec = None

    def create_module(self, spec):
        mod = importlib.import_module(self.target)
        self.saved_spec = mod.__spec__
        return mod

    def exec_module(self, module):
        module.__spec__ = self.saved_spec  # the import system set the alias's


class activate:
    """with activate(space): the thread runs space's code (hubconf's import,
    an entrypoint); plain-name aliases made meanwhile are removed after."""

    def __init__(self, space):
        self.space = space

    def __enter__(self):
        stack = getattr(_active, "spaces", None)
        if stack is None:
            stack = _active.spaces = []
            _active.made = []
        stack.append(self.space)
        _active.made.append([])
        return self

    def __exit__(self, *exc):
        _active.spaces.pop()
        for name, target in _active.made.pop():
            if getattr(sys.modules.get(name), "__name__", "") == target:
                del sys.modules[name]
        return False


_builtin_list = list
_finder = _Finder()


def space_for(root, key=None):
    """The namespace of directory root (created once per process).  key: the
    commit's sha for a mount's commit directory (immutable; root is taken as
    given), else None for a local directory (keyed by its real path)."""
    if key is None:
        import hashlib
        root = os.path.realpath(root)
        key = hashlib.sha256(root.encode()).hexdigest()[:16]
    package = _PREFIX + key
    space = _spaces.get(package)
    if space is not None and space.root == root and sys.modules.get(package) is space.module \
            and _finder in sys.meta_path:
        return space  # the warm path: no lock, no file system
    with _lock:
        space = _spaces.get(package)
        if space is None or space.root != root:
            space = Space(root, key)
            _spaces[package] = space
        sys.modules[package] = space.module
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
    return space
