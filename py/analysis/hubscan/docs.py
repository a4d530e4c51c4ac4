"""docs: what torch.hub.help() and inspect.signature() show of a value.

OWNS
  __doc__ of every kind of value, character for character as Python 3.11
  would have it (raw docstrings; __doc__ assignments, including
  `f.__doc__ = ... + f.__doc__` and self.__doc__ set in __init__; the
  metaclass's; functools.partial's; dataclasses' generated one), and the
  one-line signature `name(params)` following inspect's rules (wrapped
  functions, metaclass __call__, __new__ / __init__ along the MRO minus
  self, dataclass __init__, callable instances, partial objects), with
  defaults as written in the source and no annotations.  The module-level
  helpers work on syntax trees alone.
"""

import ast

from . import limits
from .sources import unparse
from .values import (UNKNOWN_ALL, ClassV, DataV, DecorV, DescrV, FuncV, InstV, LiveV, MethodV,
                     SynthClassV, UndecoratedV, WrappedV, functools_partial, known)


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


class Docs:
    """Part of the Job (job.py): help and signatures.  Uses
    self.doc_override, self.class_ns(), self.class_mro(),
    self.class_defines(), self.effective_meta(), self.call_scope(),
    self.ev_safe(), self.decide()."""

    def doc_of(self, v, depth=0):
        """(ok, doc)."""
        if depth > limits.CLASS_DEPTH:
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
                return True, functools_partial().__doc__
            return False, None
        return False, None

    def params(self, v, depth=0):
        """Parameter list, or a ready signature string (LiveV), or None."""
        if depth > limits.CLASS_DEPTH:
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
        if found is UNKNOWN_ALL:
            return False, None
        d = self.ev_safe(found, sc)
        if isinstance(d, DataV) and (d.value is None or isinstance(d.value, str)):
            return True, d.value
        return False, None

    def find_self_doc(self, stmts, sc, selfname):
        """The expression last assigned to self.__doc__ along the decided
        path, None if none, UNKNOWN_ALL if it depends on undecidable code."""
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
                        return UNKNOWN_ALL
                else:
                    r = self.find_self_doc(st.body if d else st.orelse, sc, selfname)
                    if r is UNKNOWN_ALL:
                        return r
                    if r is not None:
                        found = r
            elif isinstance(st, (ast.Return, ast.Raise)):
                break
            elif isinstance(st, (ast.For, ast.While, ast.With, ast.Try)):
                for sub in (st.body, getattr(st, 'orelse', []), getattr(st, 'finalbody', [])):
                    if self.find_self_doc(sub, sc, selfname) is not None:
                        return UNKNOWN_ALL
        return found

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
