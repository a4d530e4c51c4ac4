"""job: one analysis of one commit tree, and the order it runs in.

OWNS
  Job: the state of one analysis (its file systems, sys.path, modules,
  errors, deadlines, counts against the caps) and run(), which walks
  hubconf.py's top level, classifies each public name as torch.hub.list()
  would, and collects help, signatures, dependencies and weights.
  Cancellation and the time budget: tick(), called for every statement,
  parsed file, import, decorator and call analysed and every name
  classified, raises Cancelled when the caller's deadline passes or
  (polled every 64 ticks) the C side's cancelled() says the job was
  abandoned, and Budget when the job's own budget is spent: its steps
  (ticks, lim['steps_max']: the same input stops at the same point on any
  machine) or, as a backstop, its time (a partial result either way, with
  an errors line).

  Job is assembled from one class per concern, each in its own module
  (sources, imports, statements, expressions, calls, classes, docs,
  consteval, weights, effects, nswrites, argflow): they are parts of one object, call each other
  through self, and keep no state of their own beyond the attributes set
  here.  Each part's docstring names what it uses of the others.
"""

import builtins
import errno
import os
import time

from .argflow import ArgFlow
from .calls import Calls
from .classes import Classes
from .consteval import ConstEval
from .docs import Docs, docstring
from .effects import Effects
from .nswrites import NsWrites
from .expressions import Expressions
from .files import NOT_REGULAR, HostFS, RepoFS, host_path, not_regular_why
from .imports import Imports
from .sources import Sources, too_large
from .statements import Statements
from .values import DataV, LiveV, Mod, RepoPath, Scope, UnknownV, known
from .weights import Weights


class Cancelled(BaseException):
    """The job was cancelled (caller timeout or shutdown): abandon it."""


class Budget(BaseException):
    """The job used up its own time budget: report what is known so far."""


class Job(Sources, Imports, Statements, Expressions, Calls, Classes, Docs, ConstEval, Weights,
          Effects, NsWrites, ArgFlow):
    def __init__(self, read, listdir, lim, soft_deadline, hard_deadline, host, cancelled=None):
        """lim: the caps (limits.job_limits()); deadlines in time.monotonic()
        seconds: soft ends the job with a partial result, hard cancels it."""
        # the job
        self.lim = lim
        self.soft = soft_deadline
        self.hard = hard_deadline
        self.cancelled = cancelled
        self.ticks = 0          # steps: against lim['steps_max'], the budget results do not depend on
        self.over_steps = False
        self.errors = []
        self._err_seen = set()
        self.hub = None         # hubconf.py's Mod
        self.hub_lines = {}     # hubconf name -> 'hubconf.py:N' of its binding
        # files, sources, imports
        self.repo = RepoFS(read, listdir)
        self.host = [p for p in (host if host is not None else host_path())]
        self.hostfs = HostFS(self.host)
        self.path = [(self.repo, '')] + [(self.hostfs, p) for p in self.host]   # sys.path
        self.modules = {}       # name -> Mod, like sys.modules
        self.trees = {}         # (is_repo, path) -> parse() result, this job's
        self.src_http = {}      # repository file -> the lines of its bytes containing 'http'
        self.nparsed = 0        # files and bytes parsed, against the caps
        self.bytes = 0
        # docs: `x.__doc__ = ...` seen: id(Val) -> (Val, Thunk of the new doc)
        self.doc_override = {}
        self._doc_busy = set()
        # effects: decorated top-level defs (Mod, node, decorator thunks,
        # bound thunk), in evaluation order; id(decorator def) -> effects
        self.decorated = []
        self.effects_cache = {}
        self.toplevel_calls = []  # (Mod, Expr statement, Scope) of f(...) at a module's top level
        self.active_defs = {}     # id(def node) -> calls of it being evaluated (recursion bound)
        self.generator_defs = {}  # id(def node) -> whether it is a generator (calls)
        # weights
        self.entry_vals = {}    # entrypoint name -> Val
        self.windex = {}        # repository file -> (urls, names, url set)
        self._pyset = None      # the repository's .py files
        self.wmods = {}         # (file, module, level) of an import -> repository file or None
        self.wunresolved = []   # (kind, 'file:line: what') of the entrypoint being walked
        self.wmemo = {}         # (file, name) -> (URLs, unresolved lines, ids of the dicts
        #                         it took whole) it reaches, for any name not a key of those
        self.wbusy = {}         # (file, name) being walked -> its depth in the walk (cycles)
        self.wflags = [False, False]   # the walk in progress: [entry-dependent, cut short by depth]
        self.wlow = float('inf')       # the walk in progress: shallowest busy name a cycle met
        self.wdeps = set()             # the walk in progress: ids of dicts taken whole
        self.wtables = {}       # repository file -> name -> values of its name-keyed tables
        self.wdicts = {}        # id(dict display) -> (it, its constant keys)
        self.flow_memo = {}     # (id(def), values) -> (def, URLs) of argflow.py
        self.flow_calls = {}    # id(def) -> (def, its Call nodes)
        self.flow_shapes = {}   # id(def) -> (def, folded defaults, locals bound once) of argflow.py
        self.wnodes = {}        # id(node) -> (node, the sub-nodes the weights walk acts on)

    # -- bookkeeping
    def tick(self):
        t = time.monotonic()
        if t > self.hard:
            raise Cancelled('deadline')
        if t > self.soft:
            raise Budget()
        self.ticks += 1
        if self.ticks > self.lim['steps_max']:
            self.over_steps = True
            raise Budget()
        if not self.ticks & 63 and self.cancelled is not None and self.cancelled():
            raise Cancelled('cancelled')

    def check(self):
        """tick() without counting a step: the deadlines only (around a
        parse, which a cached tree skips; steps must not depend on caches)."""
        t = time.monotonic()
        if t > self.hard:
            raise Cancelled('deadline')
        if t > self.soft:
            raise Budget()

    def budget_text(self):
        if self.over_steps:
            return 'hubconf.py:0: analysis stopped after %d steps (step budget)' % self.lim['steps_max']
        return 'hubconf.py:0: analysis stopped after %g s (time budget)' % self.lim['job_seconds']

    def error(self, text):
        if text in self._err_seen:
            return
        self._err_seen.add(text)
        self.errors.append(text)

    def run(self):
        res = {'entrypoints': [], 'dependencies': [], 'errors': self.errors}
        names = self.repo.listdir('')
        if names is None:
            self.error('hubconf.py:0: the commit tree cannot be listed')
            return res
        if 'hubconf.py' not in names:
            self.error('hubconf.py:0: no hubconf.py at the top of this commit: no entrypoints')
            return res
        try:
            data = self.repo.read('hubconf.py', self.lim['source_max'])
        except OSError as e:
            if e.errno == errno.EFBIG:
                self.error(too_large('hubconf.py', e, self.lim['source_max']) +
                           ' (torch.hub would import it; hubfs does not analyse it: no entrypoints)')
            elif e.errno in NOT_REGULAR:
                self.error('hubconf.py:0: hubconf.py is not a regular file (%s): no entrypoints'
                           % not_regular_why(e))
            else:
                self.error('hubconf.py:0: cannot read: %s' % os.strerror(e.errno or errno.EIO))
            return res
        if data is None:
            self.error('hubconf.py:0: hubconf.py is not a regular file: no entrypoints')
            return res
        hub = Mod('hubconf.py', self.repo, 'hubconf.py', 'source')
        self.hub = hub
        tree, err = self.parse(self.repo, 'hubconf.py', 'hubconf.py', data)
        if tree is None:
            self.error(err + ' (torch.hub cannot import it: no entrypoints)')
            return res
        hub.tree = tree
        hub.state = 'loading'
        ns = hub.ns
        ns['__name__'] = known(DataV('hubconf.py'))
        ns['__file__'] = known(DataV(RepoPath('hubconf.py')))
        ns['__doc__'] = known(DataV(docstring(tree)))
        ns['__package__'] = known(DataV('hubconf'))
        ns['__builtins__'] = known(LiveV(builtins))
        for k in ('__spec__', '__loader__', '__cached__'):
            ns[k] = known(DataV())
        partial = False
        try:
            self.exec_block(hub, tree.body, ns, Scope(hub, None, None, True), top=True, in_try=False)
        except Budget:
            self.error(self.budget_text() + ': hubconf.py only partly evaluated')
            partial = True
        hub.state = 'done'
        # dependencies
        t = ns.get('dependencies')
        if t is not None and not partial:
            try:
                v = t.get()
            except Budget:
                v = UnknownV('time budget exhausted')
            deps = None
            if isinstance(v, DataV) and isinstance(v.value, (list, tuple)) and \
                    all(isinstance(x, str) for x in v.value):
                deps = list(v.value)
            if deps is None:
                self.error('%s: dependencies is not a literal list of strings: not listed' % (t.where or 'hubconf.py:0'))
            else:
                res['dependencies'] = deps
        entries = res['entrypoints']
        cap = self.lim['entrypoints_max']
        public = sorted(n for n in ns if not n.startswith('_'))
        try:
            for name in public:
                if len(entries) >= cap:
                    self.error('hubconf.py:0: more than %d entrypoints: only the first %d (sorted) are listed'
                               % (cap, cap))
                    break
                self.tick()
                th = ns[name]
                try:
                    v = th.get()
                    c, why = self.callable_of(v)
                except RecursionError:
                    c, why = None, 'definition too deep to follow'
                if c is None:
                    self.error('%s: %r: cannot tell statically whether it is callable: %s' % (
                        self.hub_lines.get(name) or th.where or 'hubconf.py:0', name, why))
                    continue
                if not c:
                    continue
                if why:
                    self.error('%s: %r: %s; listed with the undecorated docstring and signature' % (
                        self.hub_lines.get(name) or th.where or 'hubconf.py:0', name, why))
                ok, doc = self.doc_of(v)
                if not ok:
                    self.error('%s: %r: its __doc__ cannot be known statically; help left empty' % (
                        self.hub_lines.get(name) or th.where or 'hubconf.py:0', name))
                    doc = None
                entries.append({'name': name, 'help': doc if doc is not None else '',
                                'signature': self.signature(name, v)})
                self.entry_vals[name] = v
        except Budget:
            self.error(self.budget_text() + ': entrypoints listed partly')
        try:
            self.find_weights(res)
        except Budget:
            self.error(self.budget_text() + ': weights listed partly')
        return res

