"""argflow: weights an entrypoint asks an installed package for.

OWNS
  The weights walk (weights.py) is syntactic and does not know argument
  values; this part follows one entrypoint's call with values: from its
  def, with the values of call_env() (pretrained=True, the other literal
  defaults), into the repository functions and classes (their __init__) it
  calls, binding each parameter to the argument when that is a constant or
  a parameter whose value is known, at most HUB_PY_CALL_DEPTH calls deep.
  A call of an installed model builder with `pretrained=<not False/None>`
  or `weights=...` -- `torchvision.models.resnet50(...)`,
  `getattr(torchvision.models, name)(...)` with `name` known -- is resolved
  from the package's source (never imported; only the module files that
  lead to the builder's def by `from .x import *` / `import name` are
  read): the builder's
  `@handle_legacy_interface(weights=("pretrained", E.MEMBER))` decorator
  names the enum member pretrained=True selects; `weights="DEFAULT"`,
  `weights=E.MEMBER` name it directly; the member's `Weights(url=...)` in
  the enum class's body gives the URL (`DEFAULT = MEMBER` aliases are
  followed).  A loader call on the way (load_state_dict_from_url, ...)
  whose URL is computed gets it folded from the call's values and the
  modules' constants: f-strings, `+`, `%`, `.format`, `.join`, `.replace`,
  `os.path.join`, `urljoin` (each result under 4 KiB).  Used by weights.py (find_weights); uses self.import_dotted
  (which finds an installed module without evaluating it), self.parse,
  self._weights_index, self._wmodule.
"""

import ast

from . import limits
from .consteval import _big_field
from .weights import WEIGHT_LOADERS, _WImport, fast_walk

_UNKNOWN = object()


def _capped(v):
    """v, or _UNKNOWN past limits.CONST_STR: a chain of doublings
    (x = x + x, f"{x}{x}") stays bounded in memory."""
    return v if len(v) <= limits.CONST_STR else _UNKNOWN


def _const(e, env):
    if isinstance(e, ast.Constant):
        return e.value
    if isinstance(e, ast.Name) and e.id in env:
        return env[e.id]
    return _UNKNOWN


def _dotted(e):
    """'a.b.c' of an attribute chain of names, else None."""
    parts = []
    while isinstance(e, ast.Attribute):
        parts.append(e.attr)
        e = e.value
    if not isinstance(e, ast.Name):
        return None
    parts.append(e.id)
    return '.'.join(reversed(parts))


def _bind(fn, call, env, skip_self):
    """Parameter values of fn for call (constants and known names)."""
    a = fn.args
    pos = [p.arg for p in list(a.posonlyargs) + list(a.args)]
    if skip_self and pos:
        pos = pos[1:]
    out = {}
    for p, d in zip(pos[len(pos) - len(a.defaults):] if a.defaults else [], a.defaults):
        if isinstance(d, ast.Constant):
            out[p] = d.value
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        if isinstance(d, ast.Constant):
            out[p.arg] = d.value
    for p, x in zip(pos, call.args):
        if isinstance(x, ast.Starred):
            break
        v = _const(x, env)
        if v is _UNKNOWN:
            out.pop(p, None)
        else:
            out[p] = v
    for k in call.keywords:
        if k.arg is None:
            continue
        v = _const(k.value, env)
        if v is _UNKNOWN:
            out.pop(k.arg, None)
        else:
            out[k.arg] = v
    return out


class ArgFlow:
    """Part of the Job (job.py): installed builders' weights by argument flow."""

    def flow_weights(self, node, path, env, out, depth=0, seen=None):
        """URLs of installed builders and computed loader URLs that node's
        call with these values reaches (into out).  Kept per (def, values)
        for the job: the entrypoints of a repository share their helpers."""
        try:
            key = (id(node), tuple(sorted(env.items())))
            hash(key)
        except TypeError:                 # an unhashable value: not kept
            key = None
        if key is not None:
            hit = self.flow_memo.get(key)
            if hit is not None:
                if hit[0] is node:
                    out.extend(hit[1])
                return
            if depth > self.lim['call_depth']:
                return
            self.flow_memo[key] = (node, ())   # in progress: a cycle adds nothing
        elif depth > self.lim['call_depth']:
            return
        sub = []
        self._flow(node, path, env, sub, depth)
        if key is not None:
            self.flow_memo[key] = (node, tuple(sub))
        out.extend(sub)

    def _flow(self, node, path, env, out, depth):
        seen = None
        self.tick()
        _, names, _, plain = self._weights_index(path)
        env = self._with_locals(node, env, names, path)
        calls = self.flow_calls.get(id(node))
        if calls is None or calls[0] is not node:
            calls = (node, [c for c in fast_walk(node) if isinstance(c, ast.Call)])
            self.flow_calls[id(node)] = calls
        for call in calls[1]:
            f = call.func
            if _loader_name(f) in WEIGHT_LOADERS:
                # load_state_dict_from_url(f"{BASE}/{arch}.pth"): the URL
                # folded from the call's values and the module's constants
                args = list(call.args[:1]) + [k.value for k in call.keywords if k.arg == 'url']
                if args:
                    url = self._fold_str(args[0], env, names, path, 0)
                    if isinstance(url, str) and url.startswith(('http://', 'https://')):
                        out.append(url)
                continue
            # getattr(<installed module>, <name>)(...) / <installed>.builder(...)
            if isinstance(f, ast.Call) and isinstance(f.func, ast.Name) and f.func.id == 'getattr' and \
                    len(f.args) == 2:
                name = _const(f.args[1], env)
                modname = self._installed_module(_dotted(f.args[0]), names, plain)
                if isinstance(name, str) and modname:
                    self._installed_call(modname, name, call, env, names, plain, out)
                continue
            d = _dotted(f)
            if d is None:
                continue
            head = d.split('.')[0]
            target = names.get(head)
            if '.' not in d and isinstance(target, (ast.FunctionDef, ast.ClassDef)):
                self._flow_into(target, path, call, env, out, depth, seen)
                continue
            imp = target if isinstance(target, _WImport) else plain.get(head)
            if not isinstance(imp, _WImport):
                continue
            rmod = self._wmodule(imp)
            if rmod is not None:
                if '.' not in d and imp.name is not None:
                    t = self._weights_index(rmod)[1].get(imp.name)
                    if isinstance(t, (ast.FunctionDef, ast.ClassDef)):
                        self._flow_into(t, rmod, call, env, out, depth, seen)
                continue
            full = self._installed_module(d, names, plain)
            if full:
                mod, _, attr = full.rpartition('.')
                self._installed_call(mod, attr, call, env, names, plain, out)

    def _installed_module(self, d, names, plain):
        """The dotted name an expression `a.b.c` names when `a` is an import
        of an installed package (`import torchvision`, `import x.y as a`,
        `from pkg import a`), else None."""
        if not d:
            return None
        head, _, rest = d.partition('.')
        imp = names.get(head)
        if not isinstance(imp, _WImport):
            imp = plain.get(head)
        if not isinstance(imp, _WImport) or self._wmodule(imp) is not None or imp.level:
            return None
        base = imp.module if imp.name is None else \
            (imp.module + '.' + imp.name if imp.module else imp.name)
        return base + ('.' + rest if rest else '')

    def _with_locals(self, node, env, names, path):
        """env plus the parameter defaults that fold (`ver=VERSION`) and
        the locals a def binds once to a value that folds (`url = f"..."`)."""
        if not isinstance(node, ast.FunctionDef):
            return env
        shape = self._def_shape(node, names, path)
        env = dict(env)
        for p, v in shape[1]:
            if p not in env:
                env[p] = v
        for n in shape[2]:
            name = n.targets[0].id
            if name not in env:
                v = self._fold_str(n.value, env, names, path, 0)
                if isinstance(v, str):
                    env[name] = v
        return env

    def _def_shape(self, node, names, path):
        """What _with_locals needs of a def, found once per def for the job
        (the entrypoints of a repository call the same helpers with other
        values): (node, [(parameter, folded non-literal default)], [the
        `name = value` assignments of names the def binds once]).  The
        defaults fold without the call's values, so they are kept too."""
        hit = self.flow_shapes.get(id(node))
        if hit is not None and hit[0] is node:
            return hit
        a = node.args
        pos = list(a.posonlyargs) + list(a.args)
        pairs = list(zip(pos[len(pos) - len(a.defaults):] if a.defaults else [], a.defaults)) + \
            [(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
        defaults = []
        for p, d in pairs:
            if not isinstance(d, ast.Constant):
                v = self._fold_str(d, {}, names, path, 0)
                if v is not _UNKNOWN:
                    defaults.append((p.arg, v))
        counts, assigns = {}, []
        Name, Store, Assign = ast.Name, ast.Store, ast.Assign
        for n in fast_walk(node):
            t = type(n)
            if t is Name and type(n.ctx) is Store:
                counts[n.id] = counts.get(n.id, 0) + 1
            elif t is Assign and len(n.targets) == 1 and type(n.targets[0]) is Name:
                assigns.append(n)
        # fast_walk's order is not the source's: the assignments in source order
        assigns.sort(key=lambda n: (n.lineno, n.col_offset))
        once = [n for n in assigns if counts.get(n.targets[0].id) == 1]
        hit = (node, defaults, once)
        self.flow_shapes[id(node)] = hit
        return hit

    def _fold_str(self, e, env, names, path, depth):
        """The str value of e with the call's values (env) and the
        module's constant assignments, or _UNKNOWN: literals, names,
        f-strings, +, %, str.format, .join, .replace, os.path.join."""
        if depth > 12:
            return _UNKNOWN
        self.tick()
        if isinstance(e, ast.Constant):
            return e.value
        if isinstance(e, ast.Name):
            if e.id in env:
                return env[e.id]
            t = names.get(e.id)
            if isinstance(t, ast.expr) and not isinstance(t, (ast.Lambda, ast.Dict)):
                return self._fold_str(t, {}, names, path, depth + 1)     # a module constant
            if isinstance(t, _WImport):
                rmod = self._wmodule(t)
                if rmod is not None and t.name is not None:
                    _, rn, _, _ = self._weights_index(rmod)
                    tt = rn.get(t.name)
                    if isinstance(tt, ast.expr):
                        return self._fold_str(tt, {}, rn, rmod, depth + 1)
            return _UNKNOWN
        if isinstance(e, ast.JoinedStr):
            parts = []
            for v in e.values:
                if isinstance(v, ast.Constant):
                    parts.append(str(v.value))
                elif isinstance(v, ast.FormattedValue) and v.format_spec is None and v.conversion in (-1, 115):
                    x = self._fold_str(v.value, env, names, path, depth + 1)
                    if x is _UNKNOWN or not isinstance(x, (str, int, float, bool)):
                        return _UNKNOWN
                    parts.append(str(x))
                else:
                    return _UNKNOWN
            return _capped(''.join(parts))
        if isinstance(e, ast.BinOp):
            a = self._fold_str(e.left, env, names, path, depth + 1)
            b = self._fold_str(e.right, env, names, path, depth + 1)
            if a is _UNKNOWN or b is _UNKNOWN:
                return _UNKNOWN
            try:
                if isinstance(e.op, ast.Add) and isinstance(a, str) and isinstance(b, str):
                    return _capped(a + b)
                if isinstance(e.op, ast.Mod) and isinstance(a, str) and len(a) < 1000:
                    r = a % b
                    return r if len(r) < 4096 else _UNKNOWN
            except (TypeError, ValueError, KeyError):
                return _UNKNOWN
            return _UNKNOWN
        if isinstance(e, ast.Tuple):
            vals = [self._fold_str(x, env, names, path, depth + 1) for x in e.elts]
            return _UNKNOWN if any(v is _UNKNOWN for v in vals) else tuple(vals)
        if isinstance(e, ast.Call) and not any(k.arg is None for k in e.keywords):
            f = e.func
            args = [self._fold_str(x, env, names, path, depth + 1) for x in e.args]
            if any(a is _UNKNOWN or isinstance(a, ast.AST) for a in args):
                return _UNKNOWN
            if _dotted(f) in ('os.path.join', 'posixpath.join', 'urljoin', 'urllib.parse.urljoin',
                              'parse.urljoin') and all(isinstance(a, str) for a in args) and args:
                import posixpath
                from urllib.parse import urljoin
                return urljoin(*args[:2]) if f_is_urljoin(f) else posixpath.join(*args)
            if isinstance(f, ast.Attribute):
                base = self._fold_str(f.value, env, names, path, depth + 1)
                if not isinstance(base, str) or len(base) > 4096:
                    return _UNKNOWN
                kws = {}
                for k in e.keywords:
                    v = self._fold_str(k.value, env, names, path, depth + 1)
                    if v is _UNKNOWN:
                        return _UNKNOWN
                    kws[k.arg] = v
                # the output's size is bounded before it is built
                given = sum(len(str(a)) for a in list(args) + list(kws.values()))
                try:
                    if f.attr == 'format' and all(isinstance(a, (str, int)) for a in args) and \
                            not _big_field().search(base) and len(base) + given <= limits.CONST_STR_OP:
                        r = base.format(*args, **kws)
                    elif f.attr == 'join' and len(args) == 1 and isinstance(args[0], tuple) and \
                            all(isinstance(a, str) for a in args[0]) and \
                            given + len(base) * len(args[0]) <= limits.CONST_STR_OP:
                        r = base.join(args[0])
                    elif f.attr == 'replace' and len(args) == 2 and all(isinstance(a, str) for a in args) and \
                            len(base) * max(1, len(args[1])) <= limits.CONST_STR_OP:
                        r = base.replace(*args)
                    elif f.attr in ('lower', 'upper', 'strip', 'rstrip', 'lstrip') and not args:
                        r = getattr(base, f.attr)()
                    else:
                        return _UNKNOWN
                except (IndexError, KeyError, ValueError, AttributeError):
                    return _UNKNOWN
                return r if isinstance(r, str) and len(r) < 4096 else _UNKNOWN
        return _UNKNOWN

    def _flow_into(self, target, path, call, env, out, depth, seen):
        if isinstance(target, ast.ClassDef):
            init = next((s for s in target.body if isinstance(s, ast.FunctionDef) and s.name == '__init__'),
                        None)
            if init is None:
                return
            self.flow_weights(init, path, _bind(init, call, env, True), out, depth + 1, seen)
        else:
            self.flow_weights(target, path, _bind(target, call, env, False), out, depth + 1, seen)

    def _installed_call(self, modname, attr, call, env, names, plain, out):
        """modname.attr(...) of an installed package, asked for weights."""
        want = None
        for k in call.keywords:
            if k.arg == 'pretrained':
                v = _const(k.value, env)
                if v is False or v is None:
                    return
                want = 'pretrained'
            elif k.arg == 'weights':
                v = _const(k.value, env)
                if v is None:
                    return
                want = ('weights', k.value, v)
        if want is None or not modname:
            return
        found = self._find_def(modname, attr, 0)
        if found is None:
            return
        fnode, ftree = found
        member = None
        if want == 'pretrained':
            member = _legacy_default(fnode)
        elif isinstance(want[2], str) and want[2] == 'DEFAULT':
            member = self._weights_enum_of(fnode)
        elif isinstance(want[1], ast.Attribute):
            member = want[1]
        if member is None:
            return
        url = _enum_url(ftree, member)
        if url:
            out.append(url)

    def _find_def(self, modname, attr, depth):
        """(def node, module tree) of modname.attr in an installed package,
        read syntactically: a top-level def of that module, or one it
        imports by name or by `*` (a few levels).  Nothing else of the
        package is evaluated, so a large package costs a few files."""
        if depth > 4:
            return None
        self.tick()
        mod, _ = self.import_dotted(modname, 'hubconf.py:0')
        if mod is None or mod.is_repo or mod.kind != 'source':
            return None
        tree, _ = self.parse(mod.fs, mod.file, mod.show())
        if tree is None:
            return None
        pkg = modname if mod.pkg_dirs is not None else modname.rpartition('.')[0]
        for st in tree.body:
            if isinstance(st, ast.FunctionDef) and st.name == attr:
                return st, tree
        for st in reversed(tree.body):
            if not isinstance(st, ast.ImportFrom):
                continue
            names = [a for a in st.names if a.name == '*' or (a.asname or a.name) == attr]
            if not names:
                continue
            if st.level:
                base = pkg.split('.')
                base = base[:len(base) - (st.level - 1)] if st.level > 1 else base
                src = '.'.join(base + ([st.module] if st.module else []))
            else:
                src = st.module
            if not src:
                continue
            for a in names:
                r = self._find_def(src, attr if a.name == '*' else a.name, depth + 1)
                if r is not None:
                    return r
        return None

    @staticmethod
    def _weights_enum_of(fnode):
        """E.DEFAULT for a builder whose `weights` parameter is annotated E."""
        a = fnode.args
        for p in list(a.args) + list(a.kwonlyargs):
            if p.arg == 'weights' and p.annotation is not None:
                ann = p.annotation
                if isinstance(ann, ast.Subscript):      # Optional[E]
                    ann = ann.slice
                if isinstance(ann, ast.Name):
                    return ast.Attribute(value=ann, attr='DEFAULT', ctx=ast.Load())
        return None


def _loader_name(f):
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def f_is_urljoin(f):
    return _loader_name(f) == 'urljoin'


def _legacy_default(fnode):
    """E.MEMBER of @handle_legacy_interface(weights=("pretrained", E.MEMBER))."""
    for d in fnode.decorator_list:
        if not isinstance(d, ast.Call):
            continue
        for k in d.keywords:
            if k.arg == 'weights' and isinstance(k.value, ast.Tuple) and len(k.value.elts) == 2 and \
                    isinstance(k.value.elts[0], ast.Constant) and k.value.elts[0].value == 'pretrained' and \
                    isinstance(k.value.elts[1], ast.Attribute):
                return k.value.elts[1]
    return None


def _enum_url(tree, member, depth=0):
    """url= of E.MEMBER = Weights(url=...) in the class E of tree."""
    if depth > 4 or not isinstance(member.value, ast.Name):
        return None
    cls = next((s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == member.value.id), None)
    if cls is None:
        return None
    for s in cls.body:
        if isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == member.attr for t in s.targets):
            v = s.value
            if isinstance(v, ast.Name):                        # DEFAULT = IMAGENET1K_V2
                return _enum_url(tree, ast.Attribute(value=member.value, attr=v.id), depth + 1)
            if isinstance(v, ast.Call):
                for k in v.keywords:
                    if k.arg == 'url' and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str):
                        return k.value.value
    return None
