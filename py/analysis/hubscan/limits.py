"""limits: the caps of the analysis, as base/limits.h defines them.

OWNS
  The values of every cap the analysis applies (sizes, depths, counts, its
  time budget).  base/limits.h is their only definition, each with its
  reason; none is written here.  py/pyrt.c hands them over once, before the
  first job (embedded_init(limits) -> configure()); the in-process backend
  of tests/analysis reads base/limits.h and calls configure() the same way.
  An analysis refuses to run before that.

  Keys are the macros' names without the HUB_PY_ prefix, lower case
  (HUB_PY_SOURCE_MAX -> 'source_max'; 'url_max' is HUB_URL_MAX).  After
  configure() each is also an attribute of this module in upper case
  (limits.SOURCE_MAX), which the other modules read where they apply it
  (as `limits.X`, never copied at import, so a later configure() holds).
  Job.lim is the same dict, with a caller's per-job overrides (tests).
"""

# What the analysis needs: configure() refuses a dict without one of these.
KEYS = (
    'source_max',        # bytes of one source file parsed
    'depth_max',         # bracket nesting before ast.parse
    'entrypoints_max',   # entrypoints reported
    'modules_max',       # source modules parsed per job
    'bytes_max',         # source bytes parsed per job
    'errors_max',        # lines of errors
    'call_depth',        # nested decorator / call-return analysis
    'job_seconds',       # the job's own time budget (float), a backstop
    'steps_max',         # the job's step budget (statements, calls, ... evaluated)
    'ast_cache_bytes',   # source bytes whose AST is kept between jobs
    'ast_cache_file_max',  # largest source kept in that cache
    'expr_depth',        # nesting of one expression evaluated
    'call_nest',         # evaluation depth past which a call is not followed
    'class_depth',       # class / metaclass / wrapper chains followed
    'weight_def_depth',  # wrappers unwrapped to an entrypoint's definition
    'url_max',           # a weight URL is shorter than this (HUB_URL_MAX)
    'const_depth',       # nesting of a constant expression folded
    'const_nest',        # nesting of a data value kept as constant
    'const_items',       # elements of a container folded or kept
    'const_str',         # length of a str/bytes constant
    'const_str_op',      # estimated output of str.format/join/replace
    'const_format_max',  # length of a %-format string folded
    'const_field_digits',  # digits of a format field width refused
    'const_mul_bits',    # operands of a folded multiplication below 2**this
)

_current = None


def configure(values):
    """Take the caps (a mapping with every key of KEYS; others are
    ignored).  Raises ValueError when one is missing or not a number."""
    global _current
    lim = {}
    for k in KEYS:
        v = values.get(k) if hasattr(values, 'get') else None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError('analysis limit %r missing or not a number' % k)
        lim[k] = v
    g = globals()
    for k, v in lim.items():
        g[k.upper()] = v
    _current = lim


def configured():
    return _current is not None


def job_limits(overrides=None):
    """A copy of the caps for one job, with overrides (tests) applied."""
    if _current is None:
        raise RuntimeError('analysis limits not configured: py/pyrt.c passes base/limits.h '
                           'to embedded_init(); standalone, call hubscan.configure()')
    lim = dict(_current)
    if overrides:
        lim.update(overrides)
    return lim
