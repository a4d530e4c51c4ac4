"""statements: a module's (or class body's) statements, in order.

OWNS
  Walking a block of statements the way executing it would bind names:
  assignments (tuple unpacking of displays, chained targets, __doc__
  writes), def / class statements (bound to FuncV / ClassV, decorators
  applied lazily), del, `if` (decided when its test is constant, else both
  branches on copies of the namespace, merged name by name), try / except
  / else / finally (a handler taken exactly when the import in the body
  would fail), with, for / while (body once), raise, and the writes the
  analysis cannot follow (globals()[...] =, setattr, exec), recorded as
  the module's incompleteness.  Imports are the imports part's; values of
  expressions the expressions part's.
"""

import ast

from .consteval import NotConst
from .nswrites import is_ns_call, is_this_module, writes_namespace
from .sources import unparse
from .weights import fast_walk
from .values import (UNKNOWN_ALL, ClassV, DataV, Exc, FuncV, ModuleV, Scope, Thunk, UnknownV,
                     WrappedV, known)

# Exception classes an `except` clause may name to catch an import failure.
_EXC_PARENTS = {
    'ModuleNotFoundError': ('ModuleNotFoundError', 'ImportError', 'Exception', 'BaseException'),
    'ImportError': ('ImportError', 'Exception', 'BaseException'),
}


class Statements:
    """Part of the Job (job.py): statements.  Uses self.hub (hubconf's Mod),
    self.hub_lines, self.doc_override, self.tick(), self.error(),
    self.exec_import(), self.exec_import_from(), self.sys_path_add(),
    self.ev(), self.ev_safe(), self.const(), self.decorate(),
    self.merge_vals()."""

    def bind(self, ns, name, thunk, where=None):
        ns[name] = thunk
        if self.hub is not None and ns is self.hub.ns:
            self.hub_lines[name] = where or thunk.where

    def snapshot_scope(self, mod, expr, ns, scope):
        """A scope holding, for each name free in expr, its binding now.  At
        module level a name bound later is a NameError (builtins still
        resolve); in a class body the enclosing scopes stay visible."""
        snap = {}
        Name = ast.Name
        for n in fast_walk(expr):     # order does not matter: one binding per name
            if type(n) is Name:
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
            if is_ns_call(target.value) and value_node is not None and \
                    self.ns_store(mod, target.slice, value_node, ns, scope, node):
                return
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
            return self.exec_import(mod, st, ns)
        if T is ast.ImportFrom:
            return self.exec_import_from(mod, st, ns, in_try)
        if T in (ast.FunctionDef, ast.AsyncFunctionDef):
            f = FuncV(st, mod, self.enclosing(mod, scope, top), st.name)
            if st.decorator_list:
                decs = [self.thunk_expr(mod, d, ns, scope, d) for d in st.decorator_list]
                th = Thunk(lambda: self.decorate(f, decs, mod.where(st), 0), where=mod.where(st))
                self.bind(ns, st.name, th)
                if top:
                    self.decorated_def(mod, st, decs, th)
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
                th = Thunk(lambda: self.decorate(c, decs, mod.where(st), 0), where=mod.where(st))
                self.bind(ns, st.name, th)
                if top:
                    self.decorated_def(mod, st, decs, th)
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
                if tgt.id == '__all__' and top and mod.all_ is not None and mod.all_ is not UNKNOWN_ALL:
                    add = self.const_all(st.value, scope, ns, mod)
                    mod.all_ = mod.all_ + add if isinstance(add, list) else UNKNOWN_ALL
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
        if T is ast.For and top and writes_namespace(st.body):
            done, e = self.unroll_for(mod, st, ns, scope, top, in_try)
            if done:
                return e
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
        if top and isinstance(f, ast.Name):
            self.toplevel_calls.append((mod, st, scope))   # registry calls (effects.py)
        if isinstance(f, ast.Attribute):
            if f.attr in ('insert', 'append') and self.is_sys_path(f.value, scope):
                arg = v.args[-1] if v.args else None
                self.sys_path_add(mod, arg, f.attr, v, scope, where)
                return
            if isinstance(f.value, ast.Name) and f.value.id == '__all__' and top:
                if f.attr in ('extend', 'append') and mod.all_ is not None and mod.all_ is not UNKNOWN_ALL:
                    if f.attr == 'append' and v.args and isinstance(v.args[0], ast.Constant) and \
                            isinstance(v.args[0].value, str):
                        mod.all_ = mod.all_ + [v.args[0].value]
                    elif f.attr == 'extend' and v.args:
                        add = self.const_all(v.args[0], scope, ns, mod)
                        mod.all_ = mod.all_ + add if isinstance(add, list) else UNKNOWN_ALL
                    else:
                        mod.all_ = UNKNOWN_ALL
                elif f.attr not in ('extend', 'append') and mod.all_ is not None:
                    mod.all_ = UNKNOWN_ALL
                return
            if f.attr == 'update' and isinstance(f.value, ast.Call) and \
                    isinstance(f.value.func, ast.Name) and f.value.func.id in ('globals', 'vars', 'locals'):
                if top and len(v.args) == 1 and not v.keywords and \
                        (self.ns_update(mod, v.args[0], ns, scope, st) or
                         self.registry_update(mod, st, v.args[0], ns, scope)):
                    return
                self.incomplete(mod, st, '%s().update(...)' % f.value.func.id)
                return
            if f.attr == 'update' and isinstance(f.value, ast.Attribute) and f.value.attr == '__dict__':
                self.incomplete(mod, st, '%s.update(...)' % unparse(f.value))
                return
        # (not in hubconf.py: torch.hub does not put it in sys.modules)
        if isinstance(f, ast.Name) and f.id == 'setattr' and top and len(v.args) == 3 and \
                mod is not self.hub and is_this_module(v.args[0]) and \
                self.ns_store(mod, v.args[1], v.args[2], ns, scope, st):
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


    def const_all(self, expr, scope, ns, mod):
        sc = self.snapshot_scope(mod, expr, ns, scope)
        try:
            v = self.const(expr, sc, 0)
        except NotConst:
            return UNKNOWN_ALL
        if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            return list(v)
        return UNKNOWN_ALL

    def decide(self, test, scope, ns, mod):
        sc = self.snapshot_scope(mod, test, ns, scope) if ns is not None else scope
        try:
            return bool(self.const(test, sc, 0))
        except NotConst:
            return None
        except Exception:
            return None

