"""hubscan: what torch.hub.list() and torch.hub.help() return for one
commit tree, found without running a line of it.

DESIGN
  torch.hub.list() imports hubconf.py and keeps
      [f for f in dir(m) if callable(getattr(m, f)) and not f.startswith('_')]
  and torch.hub.help() returns getattr(m, f).__doc__.  This package
  computes the same two things by evaluating hubconf.py's namespace
  symbolically: it parses sources with `ast`, walks the top-level
  statements in order and binds every name to a lazily computed abstract
  value (Thunk -> Val).  Nothing is ever imported or executed: repository
  modules are read through the caller's tree callbacks, installed packages
  (torch, torchvision, the stdlib, ...) are read as source files found on
  the host's Python path, through Confined (files.py), and nothing else
  on the host is read.  The only live objects consulted are those of
  CPython itself: `builtins` and the modules compiled into the interpreter
  (sys.builtin_module_names).  See docs/analysis.md.

  Modules, one concern each:
    __init__     this entry point: analyze(), analyze_json() (called by
                 py/pyrt.c), analyze_dir() (tests, tools), embedded_init()
    limits       the caps, handed over from base/limits.h (no value here)
    files        confinement, the commit tree and the installed sources
    sources      reading and parsing one file within the caps; AST cache
    values       abstract values (Val...), Thunk, Scope, Mod
    job          one analysis: its state, tick(), run(); Job combines:
      imports      import resolution, modules, sys.path
      statements   statements in order, if/try, incompleteness
      expressions  the value of an expression, attributes, subscripts
      calls        calls, decorators, return analysis
      classes      class namespaces, MRO, metaclasses, callability
      docs         __doc__ and signatures as torch.hub.help/inspect
      consteval    constant folding (if tests, __all__, sys.path entries)
      effects      decorator side effects: registries, __all__
      nswrites     globals()[k] = v, globals().update, setattr(this module),
                   loops of them, over folded iterables (dir(m), filter, ...)
      weights      weight URLs of the repository and of each entrypoint
      argflow      weights asked of installed builders (torchvision), by
                   following an entrypoint's call with argument values

  Threading: called only on the py/ interpreter thread; the parse cache
  (sources._AST_CACHE) and the listings of installed-package directories
  (files._HOST_DIRS) are the only state kept between jobs.

  Loading: py/pyrt.c embeds every .py file of this package in the binary
  and imports it from there (an import hook restricted to these sources),
  never from disk; tests/analysis imports it from the source tree.
"""

import gc
import json
import os
import sys
import time
import warnings

from . import limits
from .files import Confined, host_path, set_user_path
from .job import Budget, Cancelled, Job
from .limits import job_limits as _caps

__all__ = ['analyze', 'analyze_json', 'analyze_dir', 'after_job', 'embedded_init', 'configure', 'Cancelled',
           'Confined', 'host_path']


def configure(caps):
    """Set the caps (see limits.py): a mapping with every key of limits.KEYS."""
    limits.configure(caps)


def embedded_init(caps, recursion_limit=None, user_path=''):
    """Called once by py/pyrt.c after loading this package into the embedded
    interpreter: the caps of base/limits.h are set, the directories of
    analysis_path= (user_path, ':'-separated) are searched first, sys.path gains the
    host's dist-packages (searched as files, never imported from), warnings
    are silenced (nobody reads them in a daemon), and the recursion limit
    fits the big thread stack."""
    limits.configure(caps)
    set_user_path(user_path)
    for p in host_path():
        if p not in sys.path:
            sys.path.append(p)
    warnings.simplefilter('ignore')
    if recursion_limit:
        sys.setrecursionlimit(int(recursion_limit))
    sys.dont_write_bytecode = True
    return list(sys.path)


def analyze(read, listdir, limits=None, hard_deadline=None, host=None, cancelled=None):
    """Analyse one commit tree.

    read(path) -> bytes, or None when path is absent or a directory (raise
    OSError for other failures); listdir(path) -> list of names, or None when
    path is absent or not a directory.  Paths are relative, '/'-separated,
    '' is the root.  limits: overrides of the configured caps (tests).
    Returns {'entrypoints': [{'name','help','signature','weights'}],
    'weights': [urls],
    'dependencies': [...], 'errors': [...]}.  Raises Cancelled when
    hard_deadline (time.monotonic() seconds) passes or cancelled() returns
    true (polled).  The cyclic collector is off from here until the
    caller calls after_job() (as py/pyrt.c and analyze_dir() do)."""
    lim = _caps(limits)
    # soft: the job's own budget -> partial result with an errors line;
    # hard: the caller's deadline -> Cancelled (the caller has given up).
    soft = time.monotonic() + float(lim['job_seconds'])
    hard = hard_deadline if hard_deadline is not None else float('inf')
    job = Job(read, listdir, lim, soft, hard, host, cancelled)
    # No cyclic collection during a job: parsing allocates millions of AST
    # nodes, and the collections they trigger (each walking everything
    # young) doubled the parse time of a large repository.  Nor right after
    # it: re-enabled here, the collector would run at the next allocation
    # (the JSON of the answer) over every object the job made (~0.4 s on
    # the largest corpus repository) before the caller has its answer.  It
    # is re-enabled by after_job(), which frees the job's cycles; the job's
    # memory is bounded by bytes_max.
    if gc.isenabled():
        _GC_WAS_ON[0] = True
        gc.disable()
    try:
        res = job.run()
    except Budget:
        job.error(job.budget_text())
        res = {'entrypoints': [], 'dependencies': [], 'errors': job.errors}
    except RecursionError:
        job.error('hubconf.py:0: analysis aborted: definitions nested too deep (RecursionError)')
        res = {'entrypoints': [], 'dependencies': [], 'errors': job.errors}
    except MemoryError:
        job.error('hubconf.py:0: analysis aborted: out of memory')
        res = {'entrypoints': [], 'dependencies': [], 'errors': job.errors}
    finally:
        _LAST_JOB[:] = [job]     # freed by after_job(), once the caller has its answer
    errs = res['errors']
    cap = lim['errors_max']
    if len(errs) > cap:
        n = len(errs) - cap
        res['errors'] = errs[:cap] + ['hubconf.py:0: ... and %d more errors' % n]
    return res


_LAST_JOB = []
_GC_WAS_ON = [False]    # the collector was enabled when analyze() disabled it


def after_job():
    """Free the last job's objects and collect its cycles (py/pyrt.c calls
    this after handing the result over; analyze_dir() before returning),
    then enable the collector again if analyze() disabled it."""
    _LAST_JOB.clear()
    _collect()
    if _GC_WAS_ON[0]:
        _GC_WAS_ON[0] = False
        gc.enable()


def _collect():
    """Free this job's reference cycles now, then freeze what survives (the
    host AST cache) so later collections do not walk millions of cached
    nodes: a full collection over them costs ~200 ms.  Frozen ASTs are still
    freed by reference counting when they leave the cache."""
    gc.collect()
    gc.freeze()


def analyze_json(read, listdir, limits=None, hard_deadline=None, host=None, cancelled=None):
    """analyze() as JSON text (ASCII, so any docstring survives the trip to C)."""
    try:
        res = analyze(read, listdir, limits, hard_deadline, host, cancelled)
    except (Cancelled, KeyboardInterrupt, SystemExit):
        raise
    except MemoryError:
        raise
    except Exception as e:   # a bug here must not take the daemon down
        res = {'entrypoints': [], 'dependencies': [],
               'errors': ['hubconf.py:0: internal error in the analysis: %s: %s' % (type(e).__name__, e)]}
    return json.dumps(res, ensure_ascii=True)


def analyze_dir(root, limits=None, timeout=None, host=None):
    """analyze() over a plain directory (tests, tools), read as the daemon
    reads a commit: through Confined with the directory as its only root, so
    symbolic links are not followed, FIFOs and devices are not opened, and
    nothing outside it is read."""
    root = os.path.abspath(root)
    conf = Confined([root])
    cap = _caps(limits)['source_max']

    def full(p):
        return root + '/' + p if p else root

    def read(p):
        if conf.locate(full(p)) is None:
            return None
        try:
            return conf.read(full(p), cap, exact=True)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def listdir(p):
        return conf.listdir(full(p))

    hard = time.monotonic() + timeout if timeout else None
    try:
        return analyze(read, listdir, limits, hard, host)
    finally:
        after_job()
