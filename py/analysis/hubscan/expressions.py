"""expressions: the abstract value of an expression.

OWNS
  Job.ev() (a Val for an expression in a scope: names, attributes,
  subscripts, displays, conditional and boolean expressions, operators;
  calls are the calls part's), attribute access on every kind of Val
  (getattr_val: modules, classes and their descriptors, instances, live
  objects, data, paths), subscripts, and merging the values an undecided
  condition may produce (same / merge_vals).  Constant folding is the
  constant evaluator's (consteval.py); it is tried first where the value
  may be plain data.
"""

import ast
import os
import sys

from . import limits
from .consteval import NotConst
from .imports import BUILTIN_MODULES
from .sources import unparse
from .values import (NOVALUE, ClassV, DataV, DescrV, FuncV, InstV, LiveV, MethodV, ModuleV,
                     RepoPath, SysPathV, Thunk, UnknownV, WrappedV, const_value_ok)

# Attributes of the live `sys` that are the same in the torch.hub process.
_SYS_SAFE = frozenset(('version_info', 'version', 'hexversion', 'platform',
                       'byteorder', 'maxsize', 'builtin_module_names',
                       'implementation', 'float_info', 'int_info', 'maxunicode',
                       'api_version', 'abiflags', 'thread_info'))


class Expressions:
    """Part of the Job (job.py): expressions.  Uses self.path, self.const(),
    self.decide(), self.call_expr(), self.module_attr(), self.class_lookup(),
    self.callable_of(), self.doc_of()."""

    def ev_safe(self, expr, scope):
        return self.ev(expr, scope, 0)

    def where_of(self, scope, node):
        return scope.mod.where(node)

    def ev(self, e, scope, depth):
        if depth > limits.EXPR_DEPTH:
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
            except NotConst:
                val = NOVALUE
            return DataV(val, elts if T is not ast.Set else None)
        if T is ast.Dict:
            elts = {}
            for k, x in zip(e.keys, e.values):
                if isinstance(k, ast.Constant):
                    elts[k.value] = Thunk(lambda x=x: self.ev(x, scope, depth + 1))
            try:
                val = self.const(e, scope, depth)
            except NotConst:
                val = NOVALUE
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
            except NotConst:
                pass
            vals = [self.ev(x, scope, depth + 1) for x in e.values]
            return self.merge_vals(vals, '`%s` cannot be decided statically' % unparse(e)[:100],
                                   self.where_of(scope, e))
        if T in (ast.BinOp, ast.UnaryOp, ast.Compare, ast.JoinedStr, ast.FormattedValue):
            try:
                return DataV(self.const(e, scope, depth))
            except (NotConst, Exception):
                pass
            if T is ast.BinOp and isinstance(e.op, ast.Div):
                lv = self.ev(e.left, scope, depth + 1)
                if isinstance(lv, DataV) and isinstance(lv.value, RepoPath):
                    try:
                        r = self.const(e.right, scope, depth)
                        if isinstance(r, str):
                            return DataV(RepoPath(os.path.join(lv.value, r)))
                    except NotConst:
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
            return (isinstance(a, DataV) and isinstance(b, DataV) and a.value is not NOVALUE and
                    b.value is not NOVALUE and type(a.value) is type(b.value) and a.value == b.value)
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
            except NotConst:
                return DataV() if base.elts is None else UnknownV(
                    'subscript `%s` cannot be evaluated statically' % unparse(e)[:100], where)
            if base.elts is not None:
                try:
                    t = base.elts[k]
                except (KeyError, IndexError, TypeError):
                    t = None
                if t is not None:
                    return t.get()
            if base.value is not NOVALUE:
                try:
                    r = base.value[k]
                except Exception:
                    return UnknownV('subscript `%s` fails' % unparse(e)[:100], where)
                if const_value_ok(r):
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
                if const_value_ok(r):
                    return DataV(r)
            except Exception:
                pass
        if isinstance(base, SysPathV):
            try:
                k = self.const(e.slice, scope, depth)
                fs, d = self.path[k]
            except (NotConst, IndexError, TypeError):
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
            if isinstance(o, type(sys)) and o.__name__ not in BUILTIN_MODULES:
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
            if base.value is not NOVALUE and base.value is not None and not isinstance(base.value, RepoPath) \
                    and const_value_ok(base.value):
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
        if const_value_ok(o):
            return DataV(o)
        return LiveV(o)
