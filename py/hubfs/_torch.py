"""The installed torch.hub, as the helper follows it (docs/python.md).

hubfs's functions take exactly the parameters torch.hub's functions of the
installed version take, with its defaults, and reject what it rejects: each
call is bound against the installed function's signature.  The behaviours
that changed between versions are read from the installed torch at run
time, never copied:

- signatures and defaults (weights_only in 2.1, list's verbose in 2.3,
  trust_repo='check' in 2.11): the loaded module's functions (their code
  objects), or,
  when torch is not imported yet (list/help must not import it: ~1-2 s),
  the installed torch/hub.py's source parsed with ast (nothing executed);
  without torch at all, torch 1.13's signatures;
- trust (the prompt, the warning text, trusted_list): torch.hub's own
  _check_repo_is_trusted, called with hubfs's hub dir;
- the refusal of a commit no branch or tag reaches: torch.hub's own
  _validate_not_a_forked_repo, run with its GitHub API reader answering
  "no branch, no tag", so the error is the installed version's;
- legacy zip checkpoints: torch.hub's _legacy_zip_load with the arguments
  its signature asks for (a 4th, weights_only, since 2.1);
- where "Downloading: ..." goes (stderr, stdout since 2.7): the stream
  torch.hub's load_state_dict_from_url writes to.
"""
import os
import sys

_sigs = {}  # function name, or (module id, name) -> Sig


def original(th, name):
    """torch.hub's own function `name` (hubfs's __init__ replaces this with
    one that sees through its routing, which swaps the attributes while a
    load runs)."""
    return getattr(th, name, None)


def hub_module(import_it=True):
    """torch.hub: the loaded module, else imported (import_it), else None."""
    th = sys.modules.get("torch.hub")
    if th is None and import_it:
        try:
            import torch.hub as th
        except ImportError:
            return None
    return th


# torch 1.13's signatures: what hubfs follows when no torch is installed
def _list113(github, force_reload=False, skip_validation=False, trust_repo=None):
    pass


def _help113(github, model, force_reload=False, skip_validation=False, trust_repo=None):
    pass


def _load113(repo_or_dir, model, *args, source="github", trust_repo=None, force_reload=False, verbose=True,
             skip_validation=False, **kwargs):
    pass


def _load_state_dict_from_url113(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                                 file_name=None):
    pass


def _download_url_to_file113(url, dst, hash_prefix=None, progress=True):
    pass


_FALLBACK = {"list": _list113, "help": _help113, "load": _load113,
             "load_state_dict_from_url": _load_state_dict_from_url113,
             "download_url_to_file": _download_url_to_file113}


def _hub_source():
    """The installed torch/hub.py, found without importing torch."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    p = os.path.join(os.path.dirname(spec.origin), "hub.py")
    return p if os.path.isfile(p) else None


class Sig:
    """A function's parameters, enough to bind a call as Python would:
    positional names (posonly: how many of them are positional-only),
    keyword-only names, the *args and **kwargs names (None when absent),
    and the defaults."""

    __slots__ = ("pos", "posonly", "kwonly", "var_pos", "var_kw", "defaults", "names")

    def __init__(self, pos, posonly, kwonly, var_pos, var_kw, defaults):
        self.pos, self.posonly, self.kwonly = tuple(pos), posonly, tuple(kwonly)
        self.var_pos, self.var_kw, self.defaults = var_pos, var_kw, defaults
        self.names = frozenset(self.pos[posonly:]) | frozenset(self.kwonly)

    @classmethod
    def of(cls, fn):
        """From a function object (its code object: no inspect import)."""
        while hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        c = fn.__code__
        n, k = c.co_argcount, c.co_kwonlyargcount
        names = c.co_varnames
        i = n + k
        var_pos = names[i] if c.co_flags & 0x04 else None
        var_kw = names[i + (var_pos is not None)] if c.co_flags & 0x08 else None
        d = fn.__defaults__ or ()
        defaults = dict(zip(names[n - len(d):n], d))
        defaults.update(fn.__kwdefaults__ or {})
        return cls(names[:n], c.co_posonlyargcount, names[n:i], var_pos, var_kw, defaults)

    def __contains__(self, name):
        return name in self.pos or name in self.kwonly


def _from_source(path, name):
    """The Sig of module-level `def name(...)` in path, from that header
    alone (parsed with ast, nothing executed); None when there is no such
    def or a default is not a literal."""
    try:
        with open(path, "rb") as f:
            text = "\n" + f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    start = text.find("\ndef %s(" % name)  # (no `re`: its import costs more than this)
    if start < 0:
        return None
    # the parameter list ends at the bracket that closes its "("
    depth, i = 1, start + len(name) + 6
    while i < len(text) and depth:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(text[i], 0)
        i += 1
    header = text[start + 1:i]
    import ast
    try:
        fn = ast.parse(header + ":\n    pass\n").body[0]
        a = fn.args
        pos = [x.arg for x in a.posonlyargs + a.args]
        defaults = {x: ast.literal_eval(d) for x, d in zip(pos[len(pos) - len(a.defaults):], a.defaults)}
        for x, d in zip(a.kwonlyargs, a.kw_defaults):
            if d is not None:
                defaults[x.arg] = ast.literal_eval(d)
    except (SyntaxError, ValueError, IndexError, AttributeError):
        return None
    return Sig(pos, len(a.posonlyargs), [x.arg for x in a.kwonlyargs], a.vararg and a.vararg.arg,
               a.kwarg and a.kwarg.arg, defaults)


def signature(name, import_it=False):
    """The installed torch.hub.<name>'s parameters (see the module's doc)."""
    th = sys.modules.get("torch.hub")
    if th is None and import_it:
        th = hub_module()
    if th is not None:
        key = (id(th), name)
        s = _sigs.get(key)
        if s is not None:
            return s
        fn = original(th, name)
        if callable(fn):
            s = _sigs[key] = Sig.of(fn)
            return s
    s = _sigs.get(name)
    if s is None:
        src = _hub_source()
        s = _from_source(src, name) if src else None
        if s is None and src:  # torch is there but its source says too little
            th = hub_module()
            fn = original(th, name) if th is not None else None
            if callable(fn):
                s = Sig.of(fn)
        if s is None:
            s = Sig.of(_FALLBACK[name])
        _sigs[name] = s
    return s


def bind(name, args, kwargs, import_it=False):
    """args/kwargs bound as torch.hub.<name> binds them, defaults applied:
    {parameter: value} (*args as a tuple, **kwargs as a dict, under their
    names); TypeError where torch.hub's raises one."""
    s = signature(name, import_it)
    out = dict(s.defaults)
    npos = len(s.pos)
    if len(args) > npos:
        if s.var_pos is None:
            raise TypeError("%s() takes %d positional arguments but %d were given" % (name, npos, len(args)))
        out[s.var_pos] = tuple(args[npos:])
    elif s.var_pos is not None:
        out[s.var_pos] = ()
    out.update(zip(s.pos, args))
    extra = {}
    for k, v in kwargs.items():
        if k in s.names:
            if k in s.pos[:len(args)]:
                raise TypeError("%s() got multiple values for argument '%s'" % (name, k))
            out[k] = v
        elif s.var_kw is not None:
            extra[k] = v
        else:
            raise TypeError("%s() got an unexpected keyword argument '%s'" % (name, k))
    if s.var_kw is not None:
        out[s.var_kw] = extra
    missing = [n for n in s.pos + s.kwonly if n not in out]
    if missing:
        raise TypeError("%s() missing required argument(s): %s" % (name, ", ".join("'%s'" % n for n in missing)))
    return out


def _unwrap(fn):
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def has_param(fn, name):
    try:
        return name in Sig.of(fn)
    except AttributeError:
        return False


def with_globals(fn, **names):
    """fn as a new function whose module globals are fn's with names
    replaced (the module itself is not touched: thread-safe)."""
    import types
    fn = _unwrap(fn)
    g = dict(fn.__globals__)
    g.update(names)
    f = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    f.__kwdefaults__ = fn.__kwdefaults__
    return f


def writes_to(fn):
    """The stream fn writes its messages to: sys.stdout when its code names
    stdout and not stderr, else sys.stderr."""
    try:
        names = _unwrap(fn).__code__.co_names
    except AttributeError:
        return sys.stderr
    return sys.stdout if "stdout" in names and "stderr" not in names else sys.stderr


FORKED_113 = ("Cannot find {ref} in https://github.com/{owner}/{repo}. "
              "If it's a commit from a forked repo, please call hub.load() with forked repo directly.")


def forked_error(owner, repo, ref):
    """The exception torch.hub raises for a ref that is no branch, no tag
    and no prefix of a tip commit: its own, from its own code (torch 1.13's
    ValueError when no torch is installed)."""
    import importlib.util
    th = sys.modules.get("torch.hub")
    try:
        if th is None and importlib.util.find_spec("torch") is not None:
            th = hub_module()
    except Exception:  # noqa: B902 (a torch that cannot be imported: 1.13's text)
        th = None
    f = getattr(th, "_validate_not_a_forked_repo", None)
    code = getattr(f, "__code__", None)
    if f is not None and code is not None and "_read_url" in code.co_names:
        g = with_globals(f, _read_url=lambda *a, **k: "[]")
        try:
            g(owner, repo, ref)
        except Exception as e:  # noqa: B902 (its own, whatever type it is)
            e.__traceback__ = None
            return e
    return ValueError(FORKED_113.format(ref=ref, owner=owner, repo=repo))


def load_path(th, torch, path, model_dir, map_location, load_kw):
    """torch.hub's last step: its legacy-zip helper with the arguments its
    signature takes (weights_only since 2.1), else torch.load told what
    torch.hub tells it."""
    legacy = getattr(th, "_is_legacy_zip_format", None)
    if legacy is not None and legacy(path):
        helper = th._legacy_zip_load
        if load_kw and has_param(helper, "weights_only"):
            return helper(path, model_dir, map_location, load_kw["weights_only"])
        return helper(path, model_dir, map_location)
    return torch.load(path, map_location=map_location, **load_kw)
