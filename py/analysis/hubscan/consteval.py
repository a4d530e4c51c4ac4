"""consteval: the Python value of a constant expression.

OWNS
  ConstEval.const() (part of the Job): folding an expression to the value
  Python would compute -- literals, displays, names bound to constants,
  sys.version_info / sys.platform and other attributes the same in any
  process, comparisons, and/or/not, arithmetic, f-strings, pure str
  methods, hasattr / callable / str / len on resolvable objects, paths
  built from __file__ (RepoPath) -- or raising NotConst.  It decides `if`
  tests, evaluates __all__ and sys.path entries.  Every input and result is
  bounded first (limits.CONST_*, base/limits.h): the host's own operations
  compute the values, so a hostile hubconf must not make them allocate or
  loop without end.  Non-data values take part as Opaque (truthy, never
  None, compared by identity only).
"""

import ast
import builtins
import os
import re
import sys

from . import limits
from .values import NOVALUE, ClassV, DataV, LiveV, ModuleV, RepoPath, UnknownV, const_value_ok


class NotConst(Exception):
    """The expression is not a constant the evaluator can fold."""


class Opaque:
    """A non-data value in constant evaluation: truthy, never None."""
    __slots__ = ('v',)

    def __init__(self, v):
        self.v = v


# Methods of str/bytes without side effects, folded when their arguments are.
PURE_STR_METHODS = frozenset((
    'startswith', 'endswith', 'lower', 'upper', 'strip', 'lstrip', 'rstrip', 'split',
    'rsplit', 'partition', 'rpartition', 'isdigit', 'isalpha', 'isalnum', 'isidentifier',
    'count', 'find', 'rfind', 'casefold', 'title', 'capitalize', 'splitlines', 'replace', 'join'))

_BIG_FIELD = {}   # limits.CONST_FIELD_DIGITS -> compiled regex


def _big_field():
    """A regex finding a number of limits.CONST_FIELD_DIGITS digits or more."""
    n = limits.CONST_FIELD_DIGITS
    rx = _BIG_FIELD.get(n)
    if rx is None:
        rx = _BIG_FIELD[n] = re.compile(r'\d{%d,}' % n)
    return rx


class ConstEval:
    """Part of the Job (job.py): constant folding.  Uses self.ev(),
    self.getattr_val(), self.callable_of()."""

    def const(self, e, scope, depth):
        """The Python value of a constant expression, or raise NotConst."""
        if depth > limits.CONST_DEPTH:
            raise NotConst()
        T = type(e)
        if T is ast.Constant:
            return e.value
        if T in (ast.Tuple, ast.List, ast.Set):
            if len(e.elts) > limits.CONST_ITEMS:
                raise NotConst()
            vals = []
            for x in e.elts:
                if isinstance(x, ast.Starred):
                    v = self.const(x.value, scope, depth + 1)
                    if not isinstance(v, (list, tuple)):
                        raise NotConst()
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
                raise NotConst()
        if T is ast.Dict:
            if len(e.keys) > limits.CONST_ITEMS or any(k is None for k in e.keys):
                raise NotConst()
            try:
                return {self.const(k, scope, depth + 1): self.const(v, scope, depth + 1)
                        for k, v in zip(e.keys, e.values)}
            except TypeError:
                raise NotConst()
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
                                raise NotConst()
                            return c
                        if f.id == 'hasattr':
                            base = self.ev(e.args[0], scope, depth + 1)
                            attr = self.const(e.args[1], scope, depth + 1)
                            if not isinstance(attr, str):
                                raise NotConst()
                            if (isinstance(base, ModuleV) and base.mod.live is sys) or \
                                    (isinstance(base, LiveV) and base.obj is sys):
                                return hasattr(sys, attr)   # which attributes exist is the same
                            r = self.getattr_val(base, attr, None)
                            if isinstance(base, (ModuleV, LiveV, ClassV)):
                                if isinstance(r, UnknownV):
                                    if 'has no attribute' in r.reason:
                                        return False
                                    raise NotConst()
                                return True
                            raise NotConst()
                        if f.id == 'str':
                            v = self.const(e.args[0], scope, depth + 1)
                            if isinstance(v, RepoPath):
                                return v
                            if isinstance(v, (str, int, float, bool)) or v is None:
                                return str(v)
                            raise NotConst()
                        if f.id == 'len':
                            v = self.const(e.args[0], scope, depth + 1)
                            try:
                                return len(v)
                            except TypeError:
                                raise NotConst()
                if isinstance(f, ast.Attribute) and f.attr in ('resolve', 'absolute') and not e.args:
                    v = self.const(f.value, scope, depth + 1)
                    if isinstance(v, RepoPath):
                        return v
                    raise NotConst()
                if isinstance(f, ast.Attribute) and (f.attr in PURE_STR_METHODS or f.attr == 'format'):
                    base = self.const(f.value, scope, depth + 1)
                    if isinstance(base, (str, bytes)) and not isinstance(base, RepoPath) and \
                            len(base) < limits.CONST_STR:
                        args = [self.const(a, scope, depth + 1) for a in e.args if not isinstance(a, ast.Starred)]
                        if len(args) != len(e.args):
                            raise NotConst()
                        kw = {}
                        for k in e.keywords:
                            v = self.const(k.value, scope, depth + 1)
                            if k.arg is None:
                                if not isinstance(v, dict):
                                    raise NotConst()
                                kw.update(v)
                            else:
                                kw[k.arg] = v
                        return _str_call(base, f.attr, args, kw)
            v = self.ev(e, scope, depth + 1)
            if isinstance(v, DataV):
                if v.value is NOVALUE:
                    raise NotConst()
                return v.value
            if isinstance(v, LiveV):
                if const_value_ok(v.obj) or isinstance(v.obj, type(sys.version_info)):
                    return v.obj
                return Opaque(v)
            if isinstance(v, (UnknownV,)):
                raise NotConst()
            if T is ast.Attribute and e.attr == 'parent':
                raise NotConst()
            return Opaque(v)
        if T is ast.UnaryOp:
            v = self.const(e.operand, scope, depth + 1)
            op = type(e.op)
            if op is ast.Not:
                return not v
            if isinstance(v, Opaque):
                raise NotConst()
            if op is ast.USub and isinstance(v, (int, float, complex)):
                return -v
            if op is ast.UAdd and isinstance(v, (int, float, complex)):
                return +v
            if op is ast.Invert and isinstance(v, int):
                return ~v
            raise NotConst()
        if T is ast.BoolOp:
            isand = isinstance(e.op, ast.And)
            unknown = False
            last = None
            for x in e.values:
                try:
                    v = self.const(x, scope, depth + 1)
                except NotConst:
                    unknown = True
                    continue
                last = v
                if isand and not v:
                    return v
                if not isand and v:
                    if unknown:
                        raise NotConst()
                    return v
            if unknown:
                raise NotConst()
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
                raise NotConst()
            left = self.const(e.left, scope, depth + 1)
            right = self.const(e.right, scope, depth + 1)
            if isinstance(left, Opaque) or isinstance(right, Opaque):
                raise NotConst()
            op = type(e.op)
            try:
                if op is ast.Add:
                    if isinstance(left, (str, bytes, list, tuple)) and len(left) + len(right) > limits.CONST_STR:
                        raise NotConst()
                    r = left + right
                    if isinstance(left, RepoPath):
                        r = RepoPath(r)
                    return r
                if op is ast.Sub and isinstance(left, (int, float)):
                    return left - right
                if op is ast.Mult and isinstance(left, (int, float)) and isinstance(right, (int, float)):
                    if abs(left) < 1 << limits.CONST_MUL_BITS and abs(right) < 1 << limits.CONST_MUL_BITS:
                        return left * right
                if op is ast.Mult and isinstance(left, (list, tuple)) and type(right) is int and \
                        0 <= len(left) * right <= limits.CONST_ITEMS:
                    return left * right
                if op is ast.Mod and isinstance(left, str) and len(left) < limits.CONST_FORMAT_MAX and \
                        not _big_field().search(left):
                    r = left % right
                    if len(r) < limits.CONST_STR:
                        return r
                if op in (ast.BitOr, ast.BitAnd) and isinstance(left, int) and isinstance(right, int):
                    return left | right if op is ast.BitOr else left & right
            except NotConst:
                raise
            except Exception:
                raise NotConst()
            raise NotConst()
        if T is ast.JoinedStr:
            out = []
            for x in e.values:
                if isinstance(x, ast.Constant):
                    out.append(x.value)
                elif isinstance(x, ast.FormattedValue) and x.conversion == -1 and x.format_spec is None:
                    v = self.const(x.value, scope, depth + 1)
                    if not isinstance(v, (str, int)) or isinstance(v, bool):
                        raise NotConst()
                    out.append(str(v))
                else:
                    raise NotConst()
                if sum(len(x) for x in out) > limits.CONST_STR:
                    raise NotConst()  # a doubling f-string chain stops here
            r = ''.join(out)
            if e.values and isinstance(e.values[0], ast.FormattedValue):
                try:
                    v0 = self.const(e.values[0].value, scope, depth + 1)
                    if isinstance(v0, RepoPath):
                        return RepoPath(r)
                except NotConst:
                    pass
            return r
        if T is ast.IfExp:
            c = self.const(e.test, scope, depth + 1)
            return self.const(e.body if c else e.orelse, scope, depth + 1)
        raise NotConst()


def _str_call(base, meth, args, kw):
    """base.meth(*args, **kw) for immutable str/bytes with output bounded."""
    for v in list(args) + list(kw.values()):
        if not const_value_ok(v) or isinstance(v, RepoPath):
            raise NotConst()
    if meth == 'format':
        if not isinstance(base, str) or _big_field().search(base):
            raise NotConst()
        if sum(len(v) for v in list(args) + list(kw.values()) if isinstance(v, str)) + len(base) > limits.CONST_STR_OP:
            raise NotConst()
    if meth == 'join':
        if len(args) != 1 or not isinstance(args[0], (list, tuple)) or \
                sum(len(x) for x in args[0] if isinstance(x, (str, bytes))) + len(base) * len(args[0]) > \
                limits.CONST_STR_OP:
            raise NotConst()
    if meth == 'replace':
        if len(args) < 2 or not isinstance(args[1], (str, bytes)) or \
                len(base) * max(1, len(args[1])) > limits.CONST_STR_OP:
            raise NotConst()
    try:
        r = getattr(base, meth)(*args, **kw)
    except Exception:
        raise NotConst()
    if not const_value_ok(r):
        raise NotConst()
    return r


def _compare(op, a, b):
    T = type(op)
    if T is ast.Is:
        if isinstance(a, Opaque) or isinstance(b, Opaque):
            if a is None or b is None:
                return False
            raise NotConst()
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return a is b
        raise NotConst()
    if T is ast.IsNot:
        return not _compare(ast.Is(), a, b)
    if isinstance(a, Opaque) or isinstance(b, Opaque):
        raise NotConst()
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
        raise NotConst()
    raise NotConst()

