"""The installed torch.hub, as the helper follows it (docs/python.md).

hubfs's functions take exactly the parameters torch.hub's functions of the
installed version take, with its defaults, and reject what it rejects: each
call is bound against the installed function's signature.  The behaviours
that changed between versions are read from the installed torch at run
time, never copied:

- signatures and defaults (weights_only in 2.1, list's verbose in 2.3,
  trust_repo='check' in 2.11): inspect.signature of the loaded module, or,
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

_sigs = {}  # function name -> inspect.Signature


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


def _from_source(path, name):
    """inspect.Signature of module-level def `name` in path, or None when
    the file has no such def or a default that is not a literal."""
    import ast
    import inspect
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)
    if fn is None:
        return None
    a = fn.args
    P = inspect.Parameter
    params = []
    positional = [(x, P.POSITIONAL_ONLY) for x in a.posonlyargs] + [(x, P.POSITIONAL_OR_KEYWORD) for x in a.args]
    first_default = len(positional) - len(a.defaults)
    try:
        for i, (x, kind) in enumerate(positional):
            d = ast.literal_eval(a.defaults[i - first_default]) if i >= first_default else P.empty
            params.append(P(x.arg, kind, default=d))
        if a.vararg:
            params.append(P(a.vararg.arg, P.VAR_POSITIONAL))
        for x, d in zip(a.kwonlyargs, a.kw_defaults):
            params.append(P(x.arg, P.KEYWORD_ONLY, default=P.empty if d is None else ast.literal_eval(d)))
        if a.kwarg:
            params.append(P(a.kwarg.arg, P.VAR_KEYWORD))
    except ValueError:
        return None
    return inspect.Signature(params)


def signature(name, import_it=False):
    """The installed torch.hub.<name>'s signature (see the module's doc)."""
    import inspect
    th = sys.modules.get("torch.hub")
    if th is None and import_it:
        th = hub_module()
    fn = original(th, name) if th is not None else None
    if callable(fn):
        key = (id(th), name)
        s = _sigs.get(key)
        if s is None:
            s = _sigs[key] = inspect.signature(fn)
        return s
    s = _sigs.get(name)
    if s is None:
        src = _hub_source()
        s = _from_source(src, name) if src else None
        if s is None and src:  # torch is there but its source says too little
            th = hub_module()
            fn = original(th, name) if th is not None else None
            if callable(fn):
                s = inspect.signature(fn)
        if s is None:
            s = inspect.signature(_FALLBACK[name])
        _sigs[name] = s
    return s


def bind(name, args, kwargs, import_it=False):
    """args/kwargs bound as torch.hub.<name> binds them, defaults applied:
    {parameter: value}; TypeError where torch.hub's raises one."""
    s = signature(name, import_it)
    try:
        b = s.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError("%s() %s" % (name, e)) from None
    b.apply_defaults()
    return b.arguments


def has_param(fn, name):
    import inspect
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def with_globals(fn, **names):
    """fn as a new function whose module globals are fn's with names
    replaced (the module itself is not touched: thread-safe)."""
    import types
    import inspect
    fn = inspect.unwrap(fn)
    g = dict(fn.__globals__)
    g.update(names)
    f = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    f.__kwdefaults__ = fn.__kwdefaults__
    return f


def writes_to(fn):
    """The stream fn writes its messages to: sys.stdout when its code names
    stdout and not stderr, else sys.stderr."""
    import inspect
    try:
        names = inspect.unwrap(fn).__code__.co_names
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
    if th is None and importlib.util.find_spec("torch") is not None:
        th = hub_module()
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
