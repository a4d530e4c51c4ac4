"""nswrites: names a module creates by writing its own namespace.

OWNS
  At a module's top level, evaluated without running anything:
    - `globals()[k] = v`, `locals()[k] = v`, `vars()[k] = v`,
      `setattr(sys.modules[__name__], k, v)` with k folding to a str;
    - `globals().update({...})` / `.update(dict(...))` / a dict
      comprehension `{k: v for x in <iterable> if <cond>}`;
    - a `for` loop whose body does one of these, over an iterable that
      folds to at most HUB_PY_CONST_ITEMS values: unrolled, one pass per
      value, the loop variables bound to it.
  Iterables fold from constants and from modules: `dir(m)` (the names m's
  namespace has, sorted, as dir() returns them), `m.__all__`,
  `filter(f, it)` with f a lambda or None, `sorted/list/tuple/set(it)`,
  `enumerate`, `zip`, `range`,
  `it.keys()` of a constant dict.  Each value v is a thunk over a scope in
  which the loop or comprehension variables are bound to that pass's value.
  What does not fold stays an errors line, as before
  (`globals()[...] = assignment: names it creates cannot be known`).
  Used by statements.py.  Uses self.const, self.ev, self.ev_safe,
  self.ensure, self.bind, self.exec_block, self.assign, self.tick.
"""

import ast

from . import limits
from .consteval import NotConst
from .values import DataV, ModuleV, Scope, Thunk, known

_NS_FUNCS = ('globals', 'locals', 'vars')


def is_ns_call(e):
    """globals() / locals() / vars() with no argument."""
    return isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and \
        e.func.id in _NS_FUNCS and not e.args and not e.keywords


def is_this_module(e):
    """sys.modules[__name__]"""
    return isinstance(e, ast.Subscript) and isinstance(e.value, ast.Attribute) and \
        e.value.attr == 'modules' and isinstance(e.value.value, ast.Name) and \
        e.value.value.id == 'sys' and isinstance(e.slice, ast.Name) and e.slice.id == '__name__'


def writes_namespace(stmts):
    """Whether statements write the module namespace in one of the ways above."""
    for st in stmts:
        for n in ast.walk(st):
            if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store) and is_ns_call(n.value):
                return True
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
                    n.func.attr == 'update' and is_ns_call(n.func.value):
                return True
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == 'setattr' and \
                    n.args and is_this_module(n.args[0]):
                return True
    return False


class NsWrites:
    """Part of the Job (job.py): namespace writes at a module's top level."""

    def _scope_with(self, mod, expr, scope, ns, binds):
        """A scope for expr in this pass: the loop/comprehension variables,
        then the names bound now."""
        sc = self.snapshot_scope(mod, expr, ns, scope)
        sc.vars.update(binds)
        return sc

    def ns_store(self, mod, key_node, value_node, ns, scope, node):
        """`globals()[key] = value` (or setattr on this module): True when
        the key folds to a str and the name is bound."""
        try:
            k = self.const(key_node, scope, 0)
        except NotConst:
            return False
        if not isinstance(k, str):
            return False
        sc = self._scope_with(mod, value_node, scope, ns, {})
        self.bind(ns, k, Thunk(lambda: self.ev(value_node, sc, 0), where=mod.where(node)), mod.where(node))
        return True

    def ns_update(self, mod, arg, ns, scope, node):
        """globals().update(<arg>): True when its keys fold."""
        where = mod.where(node)
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == 'dict' and \
                not arg.args:
            for kw in arg.keywords:
                if kw.arg is None:
                    return False
            sc = self._scope_with(mod, arg, scope, ns, {})
            for kw in arg.keywords:
                self.bind(ns, kw.arg, Thunk(lambda v=kw.value: self.ev(v, sc, 0), where=where), where)
            return True
        if isinstance(arg, ast.Dict):
            keys = []
            for k in arg.keys:
                if k is None:
                    return False
                try:
                    kv = self.const(k, scope, 0)
                except NotConst:
                    return False
                if not isinstance(kv, str):
                    return False
                keys.append(kv)
            sc = self._scope_with(mod, arg, scope, ns, {})
            for kv, v in zip(keys, arg.values):
                self.bind(ns, kv, Thunk(lambda v=v: self.ev(v, sc, 0), where=where), where)
            return True
        if isinstance(arg, ast.DictComp) and len(arg.generators) == 1:
            g = arg.generators[0]
            if g.is_async:
                return False
            passes = self.fold_passes(mod, g.target, g.iter, g.ifs, ns, scope)
            if passes is None:
                return False
            out = []
            for binds in passes:
                sc = self._scope_with(mod, arg, scope, ns, binds)
                try:
                    k = self.const(arg.key, sc, 0)
                except NotConst:
                    return False
                if not isinstance(k, str):
                    return False
                out.append((k, sc))
            for k, sc in out:
                self.bind(ns, k, Thunk(lambda sc=sc: self.ev(arg.value, sc, 0), where=where), where)
            return True
        return False

    def fold_passes(self, mod, target, it, ifs, ns, scope):
        """[{name: Thunk}] per pass of `for target in it if ifs`, or None."""
        try:
            vals = self.fold_iter(it, scope, 0)
        except NotConst:
            return None
        out = []
        for v in vals:
            self.tick()
            binds = {}
            if not self._bind_target(target, v, binds):
                return None
            sc = self._scope_with(mod, target, scope, ns, binds)
            keep = True
            for cond in ifs:
                try:
                    keep = bool(self.const(cond, sc, 0))
                except NotConst:
                    return None
                if not keep:
                    break
            if keep:
                out.append(binds)
        return out

    def _bind_target(self, target, v, binds):
        if isinstance(target, ast.Name):
            binds[target.id] = known(DataV(v))
            return True
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(v, (tuple, list)) and \
                len(v) == len(target.elts):
            return all(self._bind_target(t, x, binds) for t, x in zip(target.elts, v))
        return False

    def fold_iter(self, e, scope, depth):
        """The values an iterable expression yields, or raise NotConst."""
        if depth > limits.CONST_DEPTH:
            raise NotConst()
        self.tick()
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and not e.keywords:
            f = e.func.id
            if f == 'dir' and len(e.args) == 1:
                m = self.ev_safe(e.args[0], scope)
                if isinstance(m, ModuleV):
                    self.ensure(m.mod)
                    if m.mod.incomplete or m.mod.kind not in ('source', 'namespace'):
                        raise NotConst()
                    return self._cap(sorted(m.mod.ns))
                raise NotConst()
            if f in ('sorted', 'list', 'tuple', 'set', 'reversed') and len(e.args) == 1:
                vals = self.fold_iter(e.args[0], scope, depth + 1)
                if f == 'sorted':
                    try:
                        return sorted(vals)
                    except TypeError:
                        raise NotConst()
                if f == 'reversed':
                    return list(reversed(vals))
                if f == 'set':
                    return list(dict.fromkeys(vals))
                return vals
            if f == 'enumerate' and len(e.args) == 1:
                return list(enumerate(self.fold_iter(e.args[0], scope, depth + 1)))
            if f == 'zip' and e.args:
                return list(zip(*[self.fold_iter(a, scope, depth + 1) for a in e.args]))
            if f == 'range' and 1 <= len(e.args) <= 3:
                bounds = [self.const(a, scope, depth + 1) for a in e.args]
                if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
                    raise NotConst()
                r = range(*bounds)
                if len(r) > limits.CONST_ITEMS:
                    raise NotConst()
                return list(r)
            if f == 'filter' and len(e.args) == 2:
                vals = self.fold_iter(e.args[1], scope, depth + 1)
                fn = e.args[0]
                if isinstance(fn, ast.Constant) and fn.value is None:
                    return [v for v in vals if v]
                if isinstance(fn, ast.Lambda) and len(fn.args.args) == 1 and not fn.args.defaults:
                    p = fn.args.args[0].arg
                    out = []
                    for v in vals:
                        self.tick()
                        sc = Scope(scope.mod, {p: known(DataV(v))}, scope, True)
                        if self.const(fn.body, sc, depth + 1):
                            out.append(v)
                    return out
                raise NotConst()
        if isinstance(e, ast.Attribute) and e.attr == '__all__':
            m = self.ev_safe(e.value, scope)
            if isinstance(m, ModuleV):
                self.ensure(m.mod)
                if isinstance(m.mod.all_, list):
                    return self._cap(list(m.mod.all_))
            raise NotConst()
        v = self.const(e, scope, depth + 1)
        if isinstance(v, dict):
            return self._cap(list(v))
        if isinstance(v, (list, tuple, str, frozenset, set, range)):
            return self._cap(list(v))
        raise NotConst()

    @staticmethod
    def _cap(vals):
        if len(vals) > limits.CONST_ITEMS:
            raise NotConst()
        return vals

    def unroll_for(self, mod, st, ns, scope, top, in_try):
        """A top-level `for` that writes the namespace: one pass per value.
        Returns (True, result of the passes) or (False, None) when the
        iterable does not fold."""
        if any(isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(st)):
            return False, None
        try:
            vals = self.fold_iter(st.iter, scope, 0)
        except NotConst:
            return False, None
        for v in vals:
            self.tick()
            binds = {}
            if not self._bind_target(st.target, v, binds):
                return False, None
            for name, t in binds.items():
                self.bind(ns, name, t, mod.where(st))
            e = self.exec_block(mod, st.body, ns, scope, top, in_try)
            if e is not None:
                return True, e
        return True, self.exec_block(mod, st.orelse, ns, scope, top, in_try)
