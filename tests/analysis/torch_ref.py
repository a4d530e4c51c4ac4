"""Reference answers from the real torch.hub, run offline.

Usage: /usr/bin/python3 torch_ref.py FIXTURE_DIR WORK_DIR
Copies FIXTURE_DIR to WORK_DIR/hub/hubfstest_<name>_main (the layout
torch.hub uses for 'hubfstest/<name>:main'), runs torch.hub.list() and
torch.hub.help() for every entrypoint with the cache, skip_validation and
trust_repo, and prints JSON:
  {"ok": true, "entrypoints": [{"name", "help" (or null), "help_error",
   "params": [[kind, name, default_repr, default_is_literal]] or null,
   "signature": str or null}]}
or {"ok": false, "error": "..."} when hubconf cannot be imported.
Run it with cwd=WORK_DIR: hubconf files may write there.
"""
import ast
import inspect
import json
import os
import shutil
import sys
import warnings


def literal(v):
    try:
        r = repr(v)
        return ast.literal_eval(r) == v and type(ast.literal_eval(r)) is type(v)
    except Exception:
        return False


def params_of(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None, None
    out = []
    for p in sig.parameters.values():
        has = p.default is not p.empty
        out.append([int(p.kind), p.name, repr(p.default) if has else None,
                    literal(p.default) if has else None])
    bare = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                       return_annotation=sig.empty)
    return out, str(bare)


def main():
    fixture, work = sys.argv[1], sys.argv[2]
    name = os.path.basename(os.path.normpath(fixture)).replace('_', '-')
    hub = os.path.join(work, 'hub')
    repo = os.path.join(hub, 'hubfstest_%s_main' % name)
    shutil.copytree(fixture, repo, symlinks=True)
    warnings.simplefilter('ignore')
    import torch.hub
    torch.hub.set_dir(hub)
    spec = 'hubfstest/%s:main' % name
    captured = []
    real_import = torch.hub._import_module

    def capture(name, path):
        mod = real_import(name, path)
        if not captured:
            captured.append(mod)
        return mod
    torch.hub._import_module = capture
    try:
        entries = torch.hub.list(spec, skip_validation=True, trust_repo=True)
    except BaseException as e:   # noqa: B902 - a broken hubconf may raise anything
        print(json.dumps({'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}))
        return
    m = captured[-1] if captured else None
    out = []
    for e in entries:
        rec = {'name': e}
        try:
            doc = torch.hub.help(spec, e, skip_validation=True, trust_repo=True)
            if doc is None or isinstance(doc, str):
                rec['help'] = doc
            else:   # __doc__ can be anything, e.g. a descriptor
                rec['help'] = None
                rec['help_error'] = '__doc__ is a %s, not a str' % type(doc).__name__
        except BaseException as ex:  # noqa: B902
            rec['help'] = None
            rec['help_error'] = '%s: %s' % (type(ex).__name__, ex)
        obj = getattr(m, e, None) if m is not None else None
        if obj is not None:
            rec['params'], rec['signature'] = params_of(obj)
        else:
            rec['params'], rec['signature'] = None, None
        out.append(rec)
    print(json.dumps({'ok': True, 'entrypoints': out}))


if __name__ == '__main__':
    main()
