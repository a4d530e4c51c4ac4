"""imports: finding, loading and reading modules as importlib would.

OWNS
  Import resolution in importlib's PathFinder/FileFinder order (package
  directory with __init__, extension module, .py, .pyc, namespace
  portions) over the job's path, which starts as [repository root] + the
  installed packages' directories, as torch.hub sets sys.path, and grows
  with the sys.path.insert/append calls hubconf makes (confined: entries
  outside the repository and those directories are ignored); loading a
  module (evaluating its top level once, through the statements part);
  `import` / `from ... import` statements, star imports and __all__; the
  attributes of a module (submodules, C extensions, bytecode-only modules,
  module __getattr__, names left unknown by globals()/setattr writes).
  Modules torch has already imported when torch.hub runs (PRELOADED)
  resolve to the host first, as they would from sys.modules.  Repository
  modules are evaluated when imported, installed ones lazily when a name
  from them is needed.
"""

import builtins
import importlib.machinery
import os
import sys

from .consteval import NotConst
from .docs import docstring
from .sources import unparse
from .values import (UNKNOWN_ALL, DataV, Exc, LiveV, Mod, ModuleV, RepoPath, Scope, SysPathV,
                     Thunk, UnknownV, known)

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

BUILTIN_MODULES = frozenset(sys.builtin_module_names)


class Imports:
    """Part of the Job (job.py): modules.  Uses self.path (the job's
    sys.path: [(fs, dir)]), self.modules (name -> Mod), self.repo,
    self.hostfs, self.hub, self.tick(), self.error(), self.parse(),
    self.exec_block(), self.bind(), self.const()."""

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
            if name in BUILTIN_MODULES:
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
        if mod.all_ is UNKNOWN_ALL:
            importer.incomplete.append('%s: star import from %s, whose __all__ is not known statically' % (
                where, mod.name))
        elif mod.all_ is not None:
            return list(mod.all_)
        return [n for n in mod.ns if not n.startswith('_')]

    # -- import statements
    def exec_import(self, mod, st, ns):
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

    # -- sys.path.insert / append
    def is_sys_path(self, expr, scope):
        return isinstance(self.ev_safe(expr, scope), SysPathV)

    def sys_path_add(self, mod, arg, how, call, scope, where):
        p = None
        if arg is not None:
            try:
                p = self.const(arg, scope, 0)
            except NotConst:
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
                # Confinement (see files.py): never looked at.
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
                except (NotConst, TypeError, ValueError):
                    idx = 0
            if idx < 0:
                idx = max(0, len(self.path) + idx)
            self.path.insert(min(idx, len(self.path)), entry)
        else:
            self.path.append(entry)
