"""classes: class namespaces, method resolution, metaclasses, callability.

OWNS
  A class body evaluated once into its namespace (lazily, when an attribute
  is needed), its C3 linearisation (strict: every base known; lenient: a
  base from a C extension is opaque, as inspect sees it), lookups along
  the MRO, the effective metaclass, and callable_of(): whether a value is
  callable as torch.hub.list() asks (callable(getattr(m, f))), or why that
  cannot be told.
"""

from . import limits
from .docs import docstring
from .values import (CBaseV, ClassV, DataV, DecorV, DescrV, FuncV, InstV, LiveV, MethodV,
                     ModuleV, Scope, SynthClassV, SysPathV, UndecoratedV, UnknownV, WrappedV,
                     known)


class Classes:
    """Part of the Job (job.py): classes.  Uses self.exec_block()."""

    def class_ns(self, c):
        if c.ns is None:
            c.ns = {}
            ns = c.ns
            d = docstring(c.node)
            ns['__doc__'] = known(DataV(d))
            ns['__module__'] = c.mod.ns.get('__name__') or known(DataV(c.mod.name))
            ns['__qualname__'] = known(DataV(c.qual))
            sc = Scope(c.mod, ns, c.scope, True)
            self.exec_block(c.mod, c.node.body, ns, sc, top=False, in_try=True)
        return c.ns

    def class_mro(self, c, depth=0, lenient=False):
        """C3 linearisation: list of ClassV / LiveV(type) (and, when lenient,
        CBaseV for C-extension bases); None if a base is unknown."""
        attr = 'mro_c' if lenient else 'mro'
        cached = getattr(c, attr)
        if cached is not None:
            return cached or None
        if depth > limits.CLASS_DEPTH:
            return None
        setattr(c, attr, [])   # guards cycles
        seqs = []
        heads = []
        for b in c.bases:
            bv = b.get()
            if isinstance(bv, UndecoratedV):
                bv = bv.inner
            if isinstance(bv, ClassV):
                m = self.class_mro(bv, depth + 1, lenient)
                if m is None:
                    return None
                seqs.append(list(m))
            elif isinstance(bv, LiveV) and isinstance(bv.obj, type):
                seqs.append([LiveV(k) for k in bv.obj.__mro__])
            elif lenient and isinstance(bv, UnknownV) and bv.cext:
                bv = CBaseV(bv.reason)
                seqs.append([bv])
            else:
                return None
            heads.append(bv)
        seqs.append(heads)
        result = [c]
        key = lambda v: id(v.obj) if isinstance(v, LiveV) else id(v)   # noqa: E731
        while True:
            seqs = [q for q in seqs if q]
            if not seqs:
                break
            cand = None
            for q in seqs:
                h = q[0]
                if not any(key(h) in [key(x) for x in t[1:]] for t in seqs):
                    cand = h
                    break
            if cand is None:
                return None
            result.append(cand)
            seqs = [[x for x in q if key(x) != key(cand)] for q in seqs]
        if not any(isinstance(x, LiveV) and x.obj is object for x in result):
            result.append(LiveV(object))
        setattr(c, attr, result)
        return result

    def class_lookup(self, c, name):
        """Thunk of the first definition of name along the MRO; None when no
        class defines it; UnknownV when the MRO is unknown.  Builtin types
        give a LiveV thunk."""
        mro = self.class_mro(c)
        if mro is None:
            return UnknownV('base classes of %s cannot be resolved statically' % c.qual, c.mod.where(c.node))
        for k in mro:
            if isinstance(k, ClassV):
                ns = self.class_ns(k)
                if name in ns:
                    return ns[name]
            else:
                if name in vars(k.obj):
                    return known(LiveV(vars(k.obj)[name]))
        return None

    def class_defines(self, c, name, lenient=False):
        """(owner, Thunk) for name along the MRO, (None, None) if absent,
        None if unknown.  lenient: C-extension bases are opaque; a Python
        definition after one of them is unknown (the C class may define the
        name first), none after one counts as not user-defined."""
        mro = self.class_mro(c, 0, lenient)
        if mro is None:
            return None
        seen_c = False
        for k in mro:
            if isinstance(k, CBaseV):
                seen_c = True
            elif isinstance(k, ClassV):
                ns = self.class_ns(k)
                if name in ns:
                    return None if seen_c else (k, ns[name])
            elif name in vars(k.obj):
                return k, known(LiveV(vars(k.obj)[name]))
        return None, None

    def effective_meta(self, c, depth=0):
        """The metaclass of c (declared or inherited), None for `type`."""
        if depth > limits.CLASS_DEPTH:
            return None
        if c.meta is not None:
            return c.meta.get()
        for b in c.bases:
            bv = b.get()
            if isinstance(bv, UndecoratedV):
                bv = bv.inner
            if isinstance(bv, ClassV):
                m = self.effective_meta(bv, depth + 1)
                if m is not None:
                    return m
            elif isinstance(bv, LiveV) and isinstance(bv.obj, type) and type(bv.obj) is not type:
                return LiveV(type(bv.obj))
        return None

    # -- classification
    def callable_of(self, v):
        """(True|False|None, reason)."""
        if isinstance(v, (FuncV, ClassV, MethodV, WrappedV, DecorV, SynthClassV)):
            return True, None
        if isinstance(v, (ModuleV, DataV, SysPathV)):
            return False, None
        if isinstance(v, DescrV):
            return (v.kind == 'staticmethod'), None
        if isinstance(v, UndecoratedV):
            return True, v.why
        if isinstance(v, LiveV):
            return callable(v.obj), None
        if isinstance(v, InstV):
            if isinstance(v.cls, LiveV):
                t = v.cls.obj
                return any('__call__' in vars(k) for k in t.__mro__), None
            r = self.class_defines(v.cls, '__call__')
            if r is None:
                return None, 'instance of %s, whose base classes cannot be resolved statically (%s)' % (
                    v.cls.qual, v.cls.mod.where(v.cls.node))
            return r[0] is not None, None
        if isinstance(v, UnknownV):
            return None, v.text()
        return None, 'value of unknown kind'

