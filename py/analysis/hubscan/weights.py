"""weights: the weight files a repository's code downloads, statically.

OWNS
  .hub/weights and each entrypoint's weights: http(s) URLs in the
  repository's Python code that are weights (passed to a known loader, or
  ending in a weight file suffix).  .hub/weights lists them all; an
  entrypoint's are the URLs its definition reaches: its body, the
  module-level names it reads (a dict keyed by the entrypoint's name
  selects that entry), and the functions, classes and constants it uses,
  transitively, across repository modules through module-level imports
  (_WImport).  This is a syntactic walk over the repository's files, not
  the evaluation the other parts do; installed packages' URLs are not the
  repository's weights.
"""

import ast
import re
from bisect import bisect_left

from . import limits
from .sources import url_lines
from .values import ClassV, DecorV, FuncV, UndecoratedV, WrappedV

WEIGHT_LOADERS = frozenset(('load_state_dict_from_url', 'download_url_to_file', 'load_url',
                            'hf_hub_download', 'urlretrieve'))
WEIGHT_SUFFIXES = ('.pth', '.pt', '.bin', '.ckpt', '.safetensors', '.pkl', '.tar', '.pth.tar',
                   '.onnx', '.h5', '.npz')


def _is_url(s):
    return (s.startswith('http://') or s.startswith('https://')) and len(s) < limits.URL_MAX and \
        not any(c.isspace() for c in s)


class _WImport:
    """A module-level import, for following weights across repo modules."""
    __slots__ = ('src', 'module', 'level', 'name')

    def __init__(self, src, module, level, name):
        self.src, self.module, self.level, self.name = src, module, level, name


def _weight_suffix(url):
    path = url.split('#', 1)[0].split('?', 1)[0]
    return path.lower().endswith(WEIGHT_SUFFIXES)


def call_env(node):
    """Parameter values of an entrypoint called as torch.hub.load calls it
    for weights: pretrained=True when it has that parameter, the other
    parameters at their literal defaults.  None when there is nothing."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    a = node.args
    env = {}
    pos = list(a.posonlyargs) + list(a.args)
    for p, d in zip(pos[len(pos) - len(a.defaults):], a.defaults):
        if isinstance(d, ast.Constant):
            env[p.arg] = d.value
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        if isinstance(d, ast.Constant):
            env[p.arg] = d.value
    if 'pretrained' in env or any(p.arg == 'pretrained' for p in pos + list(a.kwonlyargs)):
        env['pretrained'] = True
    return env or None


_UNDECIDED = object()
_NO_CUT = float('inf')    # Weights.wlow: no cycle cut in the walk


def _test_value(e, env, depth=0):
    """The value of an `if` test over the parameters of env, or _UNDECIDED."""
    if depth > 20:
        return _UNDECIDED
    if isinstance(e, ast.Constant):
        return e.value
    if isinstance(e, ast.Name):
        return env.get(e.id, _UNDECIDED)
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
        v = _test_value(e.operand, env, depth + 1)
        return _UNDECIDED if v is _UNDECIDED else not v
    if isinstance(e, ast.BoolOp):
        vals = [_test_value(x, env, depth + 1) for x in e.values]
        if isinstance(e.op, ast.And):
            for v in vals:
                if v is _UNDECIDED:
                    return _UNDECIDED
                if not v:
                    return v
            return vals[-1]
        for v in vals:
            if v is _UNDECIDED:
                return _UNDECIDED
            if v:
                return v
        return vals[-1]
    if isinstance(e, ast.Compare) and len(e.ops) == 1:
        a = _test_value(e.left, env, depth + 1)
        b = _test_value(e.comparators[0], env, depth + 1)
        if a is _UNDECIDED or b is _UNDECIDED:
            return _UNDECIDED
        op = type(e.ops[0])
        try:
            if op is ast.Eq:
                return a == b
            if op is ast.NotEq:
                return a != b
            if op is ast.Is:
                return a is b
            if op is ast.IsNot:
                return a is not b
            if op is ast.In and isinstance(b, (str, tuple)):
                return a in b
        except TypeError:
            return _UNDECIDED
    return _UNDECIDED


def _walk_pruned(node, env, pruned):
    """ast.walk over node, except that an `if` whose test env decides
    yields only the branch taken (pruned(branch) gets the other).  A name
    the body rebinds is no longer a parameter value."""
    env = dict(env)
    Name, Store, If, AST = ast.Name, ast.Store, ast.If, ast.AST
    for n in fast_walk(node):
        if type(n) is Name and type(n.ctx) is Store:
            env.pop(n.id, None)
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if type(n) is If:
            v = _test_value(n.test, env)
            if v is not _UNDECIDED:
                yield n.test
                take, skip = (n.body, n.orelse) if v else (n.orelse, n.body)
                pruned(skip)
                todo.extend(reversed(take))
                continue
        # ast.iter_child_nodes(n), reversed onto the stack, at a third of its cost
        kids = []
        t = type(n)
        for f in _FIELDS.get(t) or _node_fields(t):
            v = getattr(n, f, None)
            if type(v) is list:
                kids.extend(x for x in v if isinstance(x, AST))
            elif isinstance(v, AST):
                kids.append(v)
        kids.reverse()
        todo.extend(kids)


# Fields that never hold a node, per node type: fast_walk skips them.  The
# expression context (ctx: Load/Store/Del) is a node of no interest to any
# walk here, and about a fifth of all nodes.
_NOT_NODES = {'Constant': ('value', 'kind'), 'Name': ('id',), 'Attribute': ('attr',),
              'keyword': ('arg',), 'arg': ('arg', 'type_comment'), 'alias': ('name', 'asname'),
              'FunctionDef': ('name', 'type_comment'), 'AsyncFunctionDef': ('name', 'type_comment'),
              'ClassDef': ('name',), 'ImportFrom': ('module', 'level'), 'Global': ('names',),
              'Nonlocal': ('names',), 'FormattedValue': ('conversion',),
              'comprehension': ('is_async',), 'ExceptHandler': ('name',)}
_FIELDS = {}


def _node_fields(t):
    skip = ('ctx', 'type_comment') + _NOT_NODES.get(t.__name__, ())
    f = _FIELDS[t] = tuple(x for x in t._fields if x not in skip)
    return f


def fast_walk(node, lines=None):
    """ast.walk's nodes but the expression contexts (ctx), in another
    order, at a third of its cost.  With lines (ascending line numbers),
    without the subtrees whose source lines (lineno..end_lineno) contain
    none of them.  One walker for both: the test of lines per node cost
    nothing measurable (best of 5 walks of 80 large model files: 0.085 s
    without it, 0.086 s with it, under load), where a per-node generator
    or predicate call would."""
    AST = ast.AST
    todo = [node]
    pop, push = todo.pop, todo.append
    fields = _FIELDS
    n_lines = len(lines) if lines is not None else 0
    while todo:
        n = pop()
        if lines is not None:
            a = getattr(n, 'lineno', None)
            if a is not None:
                i = bisect_left(lines, a)
                if i == n_lines or lines[i] > (getattr(n, 'end_lineno', None) or a):
                    continue
        yield n
        t = type(n)
        fs = fields.get(t)
        if fs is None:
            fs = _node_fields(t)
        for f in fs:
            v = getattr(n, f, None)
            if type(v) is list:
                for x in v:
                    if isinstance(x, AST):
                        push(x)
            elif isinstance(v, AST):
                push(v)


def _weights_kw(call):
    """'pretrained=...' / 'weights=...' of a call asking for weights (the
    keyword, not literally False or None), else ''."""
    for k in call.keywords:
        if k.arg in ('pretrained', 'weights', 'pretrained_backbone', 'weights_backbone'):
            if isinstance(k.value, ast.Constant) and k.value.value in (False, None):
                continue
            return '%s=%s' % (k.arg, ast.unparse(k.value)[:40])
    return ''


_HUB_REPO = re.compile(r'[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z')
_UNRESOLVED_LOAD = object()


def _hub_load(call):
    """torch.hub.load(repo_or_dir, model, ...) (or hub.load after `from torch
    import hub`) of a GitHub repository: (owner/repo, ref or None, model)
    when both are string constants, _UNRESOLVED_LOAD when they are not,
    None when call is not such a load (not one, or source= not 'github')."""
    f = call.func
    if not (isinstance(f, ast.Attribute) and f.attr == 'load' and (
            (isinstance(f.value, ast.Name) and f.value.id == 'hub') or
            (isinstance(f.value, ast.Attribute) and f.value.attr == 'hub' and
             isinstance(f.value.value, ast.Name) and f.value.value.id == 'torch'))):
        return None
    args = {'repo_or_dir': call.args[0] if call.args else None,
            'model': call.args[1] if len(call.args) > 1 else None}
    for k in call.keywords:
        if k.arg in args and args[k.arg] is None:
            args[k.arg] = k.value
        elif k.arg == 'source':
            if not (isinstance(k.value, ast.Constant) and k.value.value == 'github'):
                return None      # a local directory, or not known: not a repository link
    vals = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
            for a in (args['repo_or_dir'], args['model'])]
    if vals[0] is None or vals[1] is None:
        return _UNRESOLVED_LOAD
    repo, _, ref = vals[0].partition(':')
    if not _HUB_REPO.match(repo) or not vals[1].isidentifier():
        return _UNRESOLVED_LOAD
    return repo, ref or None, vals[1]


def _callee(call):
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


class Weights:
    """Part of the Job (job.py): weights.  Uses self.repo, self.lim,
    self.windex and self._pyset (caches of this job), self.entry_vals
    (entrypoint name -> Val), self.parse(), self.tick()."""

    def _repo_py_files(self):
        out, stack = [], ['']
        while stack and len(out) < self.lim['modules_max']:
            d = stack.pop()
            names = self.repo.listdir(d)
            for n in sorted(names or ()):
                if n.startswith('.'):
                    continue
                p = self.repo.join(d, n)
                if n.endswith('.py'):
                    out.append(p)
                elif self.repo.isdir(p):
                    stack.append(p)
        return out

    def _weights_index(self, path):
        """(weight URLs of the module, module-level name -> node) for path."""
        hit = self.windex.get(path)
        if hit is not None:
            return hit
        self.tick()
        tree, _ = self.parse(self.repo, path, path)
        urls, names, plain = [], {}, {}
        if tree is not None:
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names[node.name] = node
                elif isinstance(node, ast.ImportFrom):
                    for a in node.names:
                        if a.name != '*':
                            names[a.asname or a.name] = _WImport(path, node.module, node.level, a.name)
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        if a.asname:
                            names[a.asname] = _WImport(path, a.name, 0, None)
                        else:        # import a.b binds a: only to tell installed callees (_note_call)
                            top = a.name.partition('.')[0]
                            plain.setdefault(top, _WImport(path, top, 0, None))
                elif isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            names[t.id] = node.value
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                    names[node.target.id] = node.value
            loader, consts = set(), []
            Call, Constant = ast.Call, ast.Constant
            # one walk, of the nodes spanning a line where a URL constant
            # can be written (sources.url_lines; all of them when that
            # cannot be told): large repositories have MBs of source
            lines = self.src_http.get(path)
            for node in fast_walk(tree, lines):
                if type(node) is Constant:
                    if type(node.value) is str and node.value.startswith('http'):
                        consts.append(node.value)
                elif type(node) is Call and _callee(node) in WEIGHT_LOADERS:
                    for a in list(node.args[:1]) + [k.value for k in node.keywords if k.arg == 'url']:
                        if isinstance(a, Constant) and isinstance(a.value, str):
                            loader.add(a.value)
            for c in consts:
                if _is_url(c) and (c in loader or _weight_suffix(c)):
                    urls.append(c)
        hit = (urls, names, set(urls), plain)
        self.windex[path] = hit
        return hit

    def _entry_def(self, v, depth=0):
        if depth > limits.WEIGHT_DEF_DEPTH or v is None:
            return None, None
        if isinstance(v, (FuncV, ClassV)):
            return v.node, v.mod
        if isinstance(v, WrappedV):
            n, m = self._entry_def(v.wrapped, depth + 1)
            return (n, m) if n is not None else self._entry_def(v.wrapper, depth + 1)
        if isinstance(v, DecorV):
            return self._entry_def(v.wrapped, depth + 1)
        if isinstance(v, UndecoratedV):
            return self._entry_def(v.inner, depth + 1)
        return None, None

    def _wmodule(self, imp):
        """The repository file an import of a weights scan names, or None
        (installed packages are not the repo's weights).  Absolute names
        resolve from the repository root, as torch.hub puts it on sys.path."""
        key = (imp.src, imp.module, imp.level)
        hit = self.wmods.get(key, False)
        if hit is False:
            hit = self.wmods[key] = self._wmodule_find(imp)
        return hit

    def _wmodule_find(self, imp):
        parts = (imp.module or '').split('.') if imp.module else []
        if imp.level:
            base = self.repo.dirname(imp.src)
            for _ in range(imp.level - 1):
                base = self.repo.dirname(base)
        else:
            base = ''
        d = base
        for p in parts:
            d = self.repo.join(d, p)
        cands = [d + '.py', self.repo.join(d, '__init__.py')] if d else ['__init__.py']
        for c in cands:
            if c in self._repo_py_set():
                return c
        return None

    def _repo_py_set(self):
        if self._pyset is None:
            self._pyset = set(self._repo_py_files())
        return self._pyset

    def _reach_import(self, imp, attr, entry, seen, out, depth):
        """An imported name, or attr of an imported module, reached."""
        mod = self._wmodule(imp)
        name = attr
        if imp.name is not None:
            if mod is not None and imp.name in self._weights_index(mod)[1]:
                name = imp.name          # from X import name: a name of X
            else:                        # from X import sub: a submodule, sub.attr
                full = imp.module + '.' + imp.name if imp.module else imp.name
                mod = self._wmodule(_WImport(imp.src, full, imp.level, None))
        if mod is None or name is None:
            return
        target = self._weights_index(mod)[1].get(name)
        if target is not None:
            self._reach_name(mod, name, target, entry, seen, out, depth)

    def _reach_name(self, path, name, target, entry, seen, out, depth):
        """A module-level name reached.  Its URLs (and unresolved lines) are
        kept per (file, name) unless they depend on the entrypoint (a dict
        selected by its name) or the walk was cut short: the entrypoints of
        one repository share most helpers, and 1500 of them walking the same
        graph cost seconds.

        What is kept is exact: a walk that met dicts selected by the
        entrypoint's name but found none of their keys equal to it took the
        whole dicts, which any other name those keys do not contain would
        take too, so it is kept with those dicts (reused only for such a
        name); a cycle back to a name being walked cuts the names inside the
        cycle short, but not the outermost one, whose walk covers the cycle
        (Tarjan's low link: kept when no cut reaches above it)."""
        key = (path, name)
        if key in seen:
            return
        seen.add(key)
        memo = self.wmemo.get(key)
        if memo is not None and all(entry not in self._dict_keys(d) for d in memo[2]):
            out.extend(memo[0])
            self.wunresolved.extend(memo[1])
            self.wdeps.update(memo[2])
            return
        at = self.wbusy.get(key)
        if at is not None:           # a cycle: the outer walk has it
            if at < self.wlow:
                self.wlow = at
            return
        at = len(self.wbusy)
        self.wbusy[key] = at
        saved = (self.wflags[0], self.wflags[1], self.wlow, self.wdeps)
        self.wflags[:] = [False, False]
        self.wlow, self.wdeps = _NO_CUT, set()
        sub, u0 = [], len(self.wunresolved)
        try:
            if isinstance(target, _WImport):
                self._reach_import(target, None, entry, {key}, sub, depth + 1)
            elif isinstance(target, ast.Dict):
                self._reach_dict(target, path, entry, {key}, sub, depth, by_entry=True)
            else:
                self._reach(target, path, entry, {key}, sub, depth + 1)
        finally:
            del self.wbusy[key]
        low = self.wlow
        if not (self.wflags[0] or self.wflags[1]) and low >= at:
            self.wmemo[key] = (tuple(sub), tuple(self.wunresolved[u0:]), frozenset(self.wdeps))
        self.wflags[:] = [saved[0] or self.wflags[0], saved[1] or self.wflags[1]]
        self.wlow = min(saved[2], low if low < at else _NO_CUT)
        saved[3].update(self.wdeps)
        self.wdeps = saved[3]
        out.extend(sub)

    def _dict_keys(self, d):
        """The constant keys of a dict display (of self.wdicts, by id)."""
        return self.wdicts[d][1]

    def _reach(self, node, path, entry, seen, out, depth=0, env=None, alts=None):
        """Weight URLs that node (of module path) reaches.  env: parameter
        values of the entrypoint's own call (its def only): `if` tests
        decided by them prune the branch not taken, whose URLs go to alts."""
        if depth > self.lim['call_depth']:
            self.wflags[1] = True    # cut short: not a complete answer to keep
            return
        self.tick()
        _, names, weights, _ = self._weights_index(path)
        subs = _walk_pruned(node, env, self._pruned(path, alts)) if env else \
            self._interesting(node, names, weights)
        for sub in subs:
            if isinstance(sub, ast.Call):
                if _callee(sub) in WEIGHT_LOADERS or _weights_kw(sub) or _hub_load(sub) is not None:
                    self._note_call(sub, path, names)
            elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in weights:
                out.append(sub.value)
            elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and \
                    isinstance(names.get(sub.value.id), _WImport):
                # import pkg.mod as M / from pkg import mod: M.attr
                self._reach_import(names[sub.value.id], sub.attr, entry, seen, out, depth)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and \
                    isinstance(names.get(sub.id), _WImport):
                self._reach_import(names[sub.id], None, entry, seen, out, depth)
            elif isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and \
                    isinstance(sub.slice, ast.Constant) and isinstance(names.get(sub.value.id), ast.Dict):
                self._reach_dict(names[sub.value.id], path, sub.slice.value, seen, out, depth)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id in names:
                self._reach_name(path, sub.id, names[sub.id], entry, seen, out, depth)

    def _reach_dict(self, d, path, key, seen, out, depth, by_entry=False):
        """A module-level dict: the entry of `key` if it has one, else all."""
        if by_entry:
            hit = self.wdicts.get(id(d))
            if hit is None or hit[0] is not d:
                hit = self.wdicts[id(d)] = (d, frozenset(
                    k.value for k in d.keys if isinstance(k, ast.Constant)))
            if key in hit[1]:
                self.wflags[0] = True     # depends on the entrypoint's name
            else:                         # the whole dict, for any name not a key
                self.wdeps.add(id(d))
        for k, v in zip(d.keys, d.values):
            if isinstance(k, ast.Constant) and k.value == key:
                self._reach(v, path, key, seen, out, depth + 1)
                return
        self._reach(d, path, key, seen, out, depth + 1)

    def _interesting(self, node, names, weights):
        """The nodes below node that _reach acts on, found once per node
        (entrypoints of one repository share their helpers)."""
        key = id(node)
        hit = self.wnodes.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        # fast_walk inlined, and exact type tests (ast.parse makes no
        # subclasses): this walk visits every node of every reached def,
        # half a million on the largest corpus repository
        out = []
        Call, Constant, Name, Attribute, Subscript, Load, AST = \
            ast.Call, ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Load, ast.AST
        todo = [node]
        pop, push, keep = todo.pop, todo.append, out.append
        fields = _FIELDS
        while todo:
            sub = pop()
            t = type(sub)
            if t is Call:
                if _callee(sub) in WEIGHT_LOADERS or _weights_kw(sub) or _hub_load(sub) is not None:
                    keep(sub)
            elif t is Constant:
                if weights and type(sub.value) is str and sub.value in weights:
                    keep(sub)
            elif t is Name:
                if type(sub.ctx) is Load and sub.id in names:
                    keep(sub)
            elif t is Attribute or t is Subscript:
                v = sub.value
                if type(v) is Name and v.id in names:
                    keep(sub)
            # fast_walk's child push, inlined on purpose: one shared helper
            # called per node walked 13% slower (508k nodes of timm: 0.150 -> 0.170 s)
            fs = fields.get(t)
            if fs is None:
                fs = _node_fields(t)
            for f in fs:
                v = getattr(sub, f, None)
                if type(v) is list:
                    for x in v:
                        if isinstance(x, AST):
                            push(x)
                elif isinstance(v, AST):
                    push(v)
        self.wnodes[key] = (node, out)
        return out

    def _note_call(self, call, path, names):
        """A loader call or a pretrained=/weights= call the walk reaches:
        what it cannot resolve goes to self.wunresolved (file:line: what)."""
        where = '%s:%d' % (path, getattr(call, 'lineno', 0))
        hl = _hub_load(call)
        if hl is _UNRESOLVED_LOAD:
            self.wunresolved.append(('installed', '%s: %s(%s) of a repository or entrypoint named at '
                                     'run time: not resolved' % (where, ast.unparse(call.func)[:80],
                                                                 ast.unparse(call.args[0])[:80]
                                                                 if call.args else '')))
            return
        if hl is not None:       # a link to that repository's entrypoint (find_weights)
            self.wunresolved.append(('hubload', (where,) + hl))
            return
        if _callee(call) in WEIGHT_LOADERS:
            args = list(call.args[:1]) + [k.value for k in call.keywords if k.arg == 'url']
            if args and not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)):
                self.wunresolved.append(('loader', '%s: weight URL %s computed at run time: not resolved'
                                         % (where, ast.unparse(args[0])[:120])))
            return
        f = call.func
        head = f
        while isinstance(head, (ast.Attribute, ast.Call, ast.Subscript)):
            if isinstance(head, ast.Call):
                # getattr(torchvision.models, name)(...): the module read
                head = head.args[0] if isinstance(head.func, ast.Name) and head.func.id == 'getattr' \
                    and head.args else head.func
            else:
                head = head.value
        # only a callee imported from an installed package: the repository's
        # own code is walked, and a local or parameter is not known here
        imp = None
        if isinstance(head, ast.Name):
            imp = names.get(head.id)
            if imp is None:
                imp = self._weights_index(path)[3].get(head.id)
        if not isinstance(imp, _WImport) or self._wmodule(imp) is not None:
            return
        self.wunresolved.append(('installed', '%s: %s(%s) loads weights in code outside the repository: '
                                 'not resolved' % (where, ast.unparse(f)[:80], _weights_kw(call))))

    def _name_table(self, path, name, found, alts):
        """A table of the entrypoint's module keyed by its name: a
        module-level dict display (or one passed to a call, as in
        `cfgs = make_cfgs({...})`) with a key `name` or `name.<tag>`.  The
        first such key's weight URLs are the default, the others (other
        tags) alternatives.  For registries that look a model's weights up
        by its name at run time."""
        weights = self._weights_index(path)[2]
        if not weights:
            return
        first = True
        for val in self._name_tables(path).get(name, ()):
            urls = [n.value for n in fast_walk(val)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in weights]
            if urls and first:
                found.extend(urls)
                first = False
            else:
                alts.extend(urls)

    def _name_tables(self, path):
        """The values of path's name-keyed tables (see _name_table), by the
        name before the first '.' of their key, in source order: found once
        per file, not once per entrypoint."""
        hit = self.wtables.get(path)
        if hit is not None:
            return hit
        hit = self.wtables[path] = {}
        tree, _ = self.parse(self.repo, path, path)
        if tree is None:
            return hit
        for st in tree.body:
            if not isinstance(st, (ast.Assign, ast.AnnAssign)) or st.value is None:
                continue
            v = st.value
            if isinstance(v, ast.Call) and v.args:
                v = v.args[0]
            if not isinstance(v, ast.Dict):
                continue
            for k, val in zip(v.keys, v.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    # an entrypoint's name has no '.': `name` or `name.<tag>`
                    hit.setdefault(k.value.partition('.')[0], []).append(val)
        return hit

    def _pruned(self, path, alts):
        weights = self._weights_index(path)[2]

        def cb(branch):
            if alts is None:
                return
            for st in branch:
                for n in ast.walk(st):
                    if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in weights:
                        alts.append(n.value)
        return cb

    def find_weights(self, res):
        # every entrypoint has its list, even when the budget cuts this pass
        # short (errors says so): the view lists the repository's every
        # weight under an entrypoint without one
        for e in res['entrypoints']:
            e.setdefault('weights', [])
        res.setdefault('weights', [])
        allw = []
        for path in self._repo_py_files():
            if path not in self.windex:
                if self.src_http.get(path) == ():
                    continue
                try:      # a file where no URL constant can be written: not parsed for that
                    data = self.repo.read(path, self.lim['source_max'])
                except OSError:
                    data = None
                if data is not None and url_lines(data) == ():
                    continue
            allw.extend(self._weights_index(path)[0])
        res['weights'] = sorted(set(allw))
        extra = set()
        for e in res['entrypoints']:
            node, mod = self._entry_def(self.entry_vals.get(e['name']))
            found, alts = [], []
            self.wunresolved = []
            self.wflags[:] = [False, False]
            self.wlow, self.wdeps = _NO_CUT, set()
            if node is not None and mod is not None and mod.is_repo and mod.file:
                self._reach(node, mod.file, e['name'], set(), found, env=call_env(node), alts=alts)
            if not found and node is not None and mod is not None and mod.is_repo and mod.file:
                self._name_table(mod.file, e['name'], found, alts)
            if any(k == 'installed' or (k == 'loader' and not found) for k, _ in self.wunresolved):
                # weights asked of an installed package, or a URL computed
                # from arguments: follow the call's values (argflow.py)
                flow = []
                self.flow_weights(node, mod.file, call_env(node) or {}, flow)
                if flow:
                    found.extend(flow)
                    self.wunresolved = [x for x in self.wunresolved if x[0] not in ('installed', 'loader')]
            e['weights'] = sorted(set(found))
            # torch.hub.load(other_repo, model) calls reached: links to that
            # repository's entrypoint (whose weights are its own)
            loads = {}
            for kind, x in self.wunresolved:
                if kind == 'hubload':
                    loads.setdefault((x[1], x[2] or '', x[3]), x[0])
            if loads:
                e['loads'] = [{'repo': r, 'ref': ref or None, 'entrypoint': m, 'where': w}
                              for (r, ref, m), w in sorted(loads.items())]
            # what the walk could not resolve, per entrypoint: a computed URL
            # only when nothing was found (else its value is likely among
            # them), weights of installed code always
            for kind, text in self.wunresolved:
                if kind == 'hubload':
                    continue
                if kind == 'installed' or not found:
                    path, line, rest = text.split(':', 2)
                    self.error('%s:%s: %s:%s' % (path, line, e['name'], rest))
            alts = sorted(set(alts) - set(found))
            if alts:
                e['alternatives'] = alts
            # .hub/weights/ names every file an entrypoint lists, also those
            # of an installed package it asks for (argflow.py)
            extra.update(found)
        res['weights'] = sorted(set(res['weights']) | extra)
