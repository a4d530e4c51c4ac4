"""effects: what decorators do to module state besides returning a value.

OWNS
  Registry decorators, found by reading the decorator's body (never run):
    - `REG[<key>] = fn` where REG is a global of the decorator's module and
      fn its first parameter: a registry; the key is taken to be the
      decorated def's name when it is `fn.__name__` or a local bound to an
      expression reading `__name__` (a constant key is used as written);
    - `mod.__all__.append(...)` / `mod.__all__ = [...]` with
      `mod = sys.modules[fn.__module__]`: the decorated def's name joins
      its module's __all__ (so `from m import *` takes exactly those).
    - a function called at a module's top level whose body loops
      `for k, v in P.items(): ... REG[k] = <value>` over a parameter P:
      the call's argument for P, folded to a constant dict, gives the
      keys; the value is evaluated in the call's scope.
  Every decorated def or class at a module's top level is recorded
  (self.decorated) with the thunk it was bound to; the __all__ effect is
  applied as the def is evaluated, in statement order.  The registry is
  read when hubconf does `globals().update(<module>.<REG>)`: the package
  of <module> is then loaded completely (every module its imports reach,
  as importing it would), and every def registered by a writer of REG is
  bound in hubconf under its name, in registration order.
  Used by statements.py (exec_stmt, exec_expr_stmt).  Uses self.ev_safe,
  self.ensure, self.modules, self.bind, self.error, self.tick.
"""

import ast

from .consteval import NotConst
from .values import UNKNOWN_ALL, FuncV, ModuleV, Thunk, WrappedV

_NO_EFFECT = (False, frozenset(), frozenset())


def _param0(node):
    a = node.args
    pos = list(a.posonlyargs) + list(a.args)
    return pos[0].arg if pos else None


def _is_sys_modules_of(e, p):
    """sys.modules[<p>.__module__]"""
    return isinstance(e, ast.Subscript) and isinstance(e.value, ast.Attribute) and \
        e.value.attr == 'modules' and isinstance(e.value.value, ast.Name) and \
        e.value.value.id == 'sys' and isinstance(e.slice, ast.Attribute) and \
        e.slice.attr == '__module__' and isinstance(e.slice.value, ast.Name) and e.slice.value.id == p


def _reads_name_of(e, p):
    """An expression reading <p>.__name__ (fn.__name__, fn.__name__.lower())."""
    for n in ast.walk(e):
        if isinstance(n, ast.Attribute) and n.attr == '__name__' and \
                isinstance(n.value, ast.Name) and n.value.id == p:
            return True
    return False


def decorator_effects(node):
    """(adds to __all__, registry globals keyed by the def's name, registry
    globals with another key) of a decorator def, read from its body."""
    p = _param0(node)
    if p is None:
        return _NO_EFFECT
    local = {p}
    modvars, namevars = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Name):
                    local.add(t.id)
                    if _is_sys_modules_of(n.value, p):
                        modvars.add(t.id)
                    elif _reads_name_of(n.value, p):
                        namevars.add(t.id)
        elif isinstance(n, (ast.For, ast.comprehension)) and isinstance(n.target, ast.Name):
            local.add(n.target.id)
    adds_all = False
    by_name, other = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and \
                n.func.attr in ('append', 'extend') and isinstance(n.func.value, ast.Attribute) and \
                n.func.value.attr == '__all__' and isinstance(n.func.value.value, ast.Name) and \
                n.func.value.value.id in modvars:
            adds_all = True
        elif isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Attribute) and t.attr == '__all__' and \
                        isinstance(t.value, ast.Name) and t.value.id in modvars:
                    adds_all = True
                elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and \
                        t.value.id not in local and isinstance(n.value, ast.Name) and n.value.id == p:
                    k = t.slice
                    if _reads_name_of(k, p) or (isinstance(k, ast.Name) and k.id in namevars):
                        by_name.add(t.value.id)
                    else:
                        other.add(t.value.id)
    return adds_all, frozenset(by_name), frozenset(other)


def registry_loops(node, gname):
    """(parameter, key variable, value expression) of each
    `for k[, v] in P[.items()]: ... gname[k] = value` in a def's body."""
    a = node.args
    params = [p.arg for p in list(a.posonlyargs) + list(a.args) + list(a.kwonlyargs)]
    out = []
    for n in ast.walk(node):
        if not isinstance(n, ast.For):
            continue
        it, tg = n.iter, n.target
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and \
                it.func.attr in ('items', 'keys') and not it.args:
            it = it.func.value
        if not (isinstance(it, ast.Name) and it.id in params):
            continue
        if isinstance(tg, ast.Tuple) and tg.elts and isinstance(tg.elts[0], ast.Name):
            kvar = tg.elts[0].id
        elif isinstance(tg, ast.Name):
            kvar = tg.id
        else:
            continue
        for m in ast.walk(n):
            if isinstance(m, ast.Assign):
                for t in m.targets:
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and \
                            t.value.id == gname and isinstance(t.slice, ast.Name) and t.slice.id == kvar:
                        out.append((it.id, kvar, m.value))
    return out


class Effects:
    """Part of the Job (job.py): decorator side effects."""

    def _effects_of(self, dv):
        while isinstance(dv, WrappedV):
            dv = dv.wrapper
        if not isinstance(dv, FuncV) or dv.node is None or isinstance(dv.node, ast.Lambda):
            return None, _NO_EFFECT
        key = id(dv.node)
        hit = self.effects_cache.get(key)
        if hit is None:
            hit = (dv.node, decorator_effects(dv.node))
            self.effects_cache[key] = hit
        return dv, hit[1]

    def decorated_def(self, mod, st, decs, thunk):
        """A decorated def/class at mod's top level, just bound to thunk."""
        self.decorated.append((mod, st, decs, thunk))
        for d, node in zip(decs, st.decorator_list):
            # only plain names (@register_model): evaluating others now
            # (@torch.jit.script) would load large packages for nothing
            if not isinstance(node, ast.Name):
                continue
            self.tick()
            _, eff = self._effects_of(d.get())
            if eff[0]:
                if mod.all_ is None:
                    mod.all_ = [st.name]
                elif mod.all_ is not UNKNOWN_ALL:
                    mod.all_ = mod.all_ + [st.name]

    def load_package(self, root):
        """Load every module of package root that importing it reaches."""
        done = set()
        while True:
            todo = [m for n, m in list(self.modules.items())
                    if (n == root or n.startswith(root + '.')) and m.state == 'new' and n not in done]
            if not todo:
                return
            for m in todo:
                done.add(m.name)
                self.ensure(m)

    def registry_update(self, mod, st, arg, ns, scope):
        """`globals().update(<arg>)` at mod's top level: True when arg is a
        registry filled by decorators and its entries were bound in ns."""
        if not isinstance(arg, ast.Attribute):
            return False
        base = self.ev_safe(arg.value, scope)
        if not isinstance(base, ModuleV):
            return False
        dmod, gname = base.mod, arg.attr
        self.ensure(dmod)
        if dmod.tree is None or not self._is_dict_global(dmod, gname):
            return False
        self.load_package(dmod.name.split('.')[0])
        where = mod.where(st)
        n = 0
        for m, dst, decs, thunk in list(self.decorated):
            for d in decs:
                dv, eff = self._effects_of(d.get())
                if dv is None or dv.mod is not dmod:
                    continue
                if gname in eff[1]:
                    self.bind(ns, dst.name, thunk, where)
                    n += 1
                    break
                if gname in eff[2]:
                    self.error('%s: %s: a registry entry of %s.%s whose key cannot be told statically'
                               % (where, m.where(dst), dmod.name, gname))
                    break
        root = dmod.name.split('.')[0]
        for m, cst, sc in list(self.toplevel_calls):
            if m.name != root and not m.name.startswith(root + '.'):
                continue
            self.registry_call(m, cst, sc, dmod, gname, ns, where)
        return True

    def registry_call(self, m, cst, sc, dmod, gname, ns, where):
        """A top-level call in m of a function of dmod that fills gname."""
        call = cst.value
        fv = self.ev_safe(call.func, sc)
        if not isinstance(fv, FuncV) or fv.mod is not dmod or isinstance(fv.node, ast.Lambda):
            return
        loops = registry_loops(fv.node, gname)
        if not loops:
            return
        self.tick()
        a = fv.node.args
        pos = [p.arg for p in list(a.posonlyargs) + list(a.args)]
        argnode = {p: x for p, x in zip(pos, call.args)}
        argnode.update({k.arg: k.value for k in call.keywords if k.arg})
        args = [Thunk(lambda x=x: self.ev(x, sc, 0)) for x in call.args]
        kws = {k.arg: Thunk(lambda k=k: self.ev(k.value, sc, 0)) for k in call.keywords if k.arg}
        fsc = None
        for pname, _, vexpr in loops:
            node = argnode.get(pname)
            try:
                keys = self.const(node, sc, 0) if node is not None else None
            except NotConst:
                keys = None
            if not isinstance(keys, (dict, list, tuple)):
                self.error('%s: %s: registry entries of %s.%s from an argument that cannot be '
                           'evaluated statically' % (where, m.where(cst), dmod.name, gname))
                continue
            if fsc is None:
                fsc = self.call_scope(fv, args, kws, m.where(cst))
                self.bind_locals(fv, fsc, fsc.vars, 0)
            for k in keys:
                if isinstance(k, str):
                    self.bind(ns, k, Thunk(lambda v=vexpr, s=fsc: self.ev(v, s, 0), where=where), where)

    @staticmethod
    def _is_dict_global(dmod, name):
        for s in dmod.tree.body:
            if isinstance(s, (ast.Assign, ast.AnnAssign)):
                targets = s.targets if isinstance(s, ast.Assign) else [s.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    v = s.value
                    return isinstance(v, ast.Dict) or (
                        isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and
                        v.func.id in ('dict', 'OrderedDict', 'defaultdict'))
        return False
