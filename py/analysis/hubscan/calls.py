"""calls: the value a call produces, decorators, and return analysis.

OWNS
  Call expressions (arguments as thunks; path helpers os.path.* and
  pathlib.Path on __file__ for sys.path entries), the call of each kind of
  Val (a class makes an instance; functools.wraps / update_wrapper /
  lru_cache / partial, collections.namedtuple and dataclasses.dataclass
  are modelled; builtin types fold constant arguments), decorators applied
  to a def or class, and the value a Python function returns, found from
  its return statements with its parameters bound (local names bound once
  are followed; decidable `if`s choose the returns that count).
"""

import ast
import os

from . import limits
from .consteval import PURE_STR_METHODS, NotConst
from .docs import POS
from .sources import unparse
from .values import (NOVALUE, ClassV, DataV, DecorV, DescrV, FuncV, InstV, LiveV, MethodV,
                     ModuleV, RepoPath, Scope, SynthClassV, Thunk, UndecoratedV, UnknownV,
                     WrappedV, const_value_ok, functools_partial, known)

# Builtin functions whose result is plain data, never callable.
_DATA_BUILTINS = frozenset(('len', 'sorted', 'isinstance', 'issubclass', 'hasattr',
                            'repr', 'sum', 'abs', 'round', 'id', 'hash', 'ascii',
                            'bin', 'hex', 'oct', 'chr', 'ord', 'format', 'any',
                            'all', 'divmod', 'open', 'globals', 'locals', 'vars',
                            'dir', 'input', 'print', 'iter', 'callable', 'exec',
                            'eval', 'compile', 'setattr', 'delattr', 'pow'))

# Builtin types whose call with constant arguments is folded.
_CONST_TYPES = (frozenset, set, tuple, list, dict, str, int, float, bool, complex, bytes)


class Calls:
    """Part of the Job (job.py): calls.  Uses self.lim, self.tick(),
    self.ev(), self.ev_safe(), self.const(), self.decide(), self.merge_vals(),
    self.callable_of(), self.class_lookup(), self.effective_meta(),
    self.doc_override."""

    def call_expr(self, e, scope, depth):
        f = e.func
        if isinstance(f, ast.Attribute) and (f.attr in PURE_STR_METHODS or f.attr == 'format'):
            try:
                return DataV(self.const(e, scope, depth))
            except NotConst:
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
        if isinstance(fn, LiveV) and fn.obj is getattr and len(e.args) == 2 and not e.keywords:
            # getattr(module, name) with a name that folds
            try:
                name = self.const(e.args[1], scope, depth + 1)
            except NotConst:
                name = None
            if isinstance(name, str):
                return self.getattr_val(self.ev(e.args[0], scope, depth + 1), name, where)
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
            except NotConst:
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
            except NotConst:
                return None
            if vals and all(isinstance(v, str) for v in vals):
                isrepo = isinstance(vals[0], RepoPath)
                r = os.path.join(*vals)
                return DataV(RepoPath(r) if isrepo else r)
        return None

    def call_val(self, fn, args, kws, kwsrc, where, depth, node=None):
        if depth > limits.CALL_NEST:
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
            if o is functools_partial():
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
                    if all(isinstance(x, DataV) and x.value is not NOVALUE and
                           not isinstance(x.value, RepoPath) and
                           not (o in (bytes, str) and isinstance(x.value, int)) for x in vals):
                        try:
                            r = o(*[x.value for x in vals])
                        except Exception:
                            r = NOVALUE
                        if r is not NOVALUE and const_value_ok(r):
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
            if isinstance(v, DataV) and v.value is not NOVALUE:
                return v.value
            raise NotConst()
        try:
            typename = const_of(args[0] if args else kws.get('typename'))
            fields = const_of(args[1] if len(args) > 1 else kws.get('field_names'))
            rename = const_of(kws['rename']) if 'rename' in kws else False
            defaults = const_of(kws['defaults']) if 'defaults' in kws else None
        except NotConst:
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
        if isinstance(v, DataV) and v.value is not NOVALUE and not isinstance(v.value, RepoPath):
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
        gen = self.generator_defs.get(id(node))
        if gen is None:     # once per def: a walk per call cost seconds on large repos
            gen = any(isinstance(n, (ast.Yield, ast.YieldFrom)) and self.owner_is(node, n)
                      for n in ast.walk(node))
            self.generator_defs[id(node)] = gen
        if gen:
            return DataV()   # a generator object
        # A recursive function (or decorator) is not followed into itself:
        # the depth of nested calls restarts at each return expression, so
        # only this bounds `def f(x): return f(x)`.
        key = id(node)
        active = self.active_defs.get(key, 0)
        if active >= 2:
            return UnknownV('%s calls itself: recursion not followed' % self.label(f), where)
        self.active_defs[key] = active + 1
        try:
            return self.function_result(f, sc, local, where, depth)
        finally:
            self.active_defs[key] = active

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
            local[a.kwarg.arg] = known(DataV(NOVALUE, rest))
        return sc

    def tuple_of(self, thunks):
        """DataV of a tuple of argument thunks (value known if all are)."""
        vals = []
        for t in thunks:
            v = t.get()
            if isinstance(v, DataV) and v.value is not NOVALUE and const_value_ok(v.value):
                vals.append(v.value)
            else:
                return DataV(NOVALUE, list(thunks))
        return DataV(tuple(vals), list(thunks))

    def function_result(self, f, sc, local, where, depth):
        node = f.node
        self.bind_locals(f, sc, local, depth)
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

    def bind_locals(self, f, sc, local, depth):
        """The locals of a call of f, in local (its parameters already there)."""
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

