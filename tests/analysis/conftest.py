"""Shared helpers for the analysis parity tests.

Backends: 'py' runs the package py/analysis/hubscan in this interpreter (the
same CPython as the embedded one), with the limits read from base/limits.h as
py/pyrt.c passes them; 'c' runs build*/tests/hubfs-analyze, i.e. the
real embedded interpreter of py/pyrt.c.  Set HUBFS_ANALYZE=/path/to/binary to
choose the binary; without one the 'c' cases are skipped (and say so).
"""
import ast
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(HERE, 'fixtures')
TORCH_PYTHON = '/usr/bin/python3'
SCAN_DIR = os.path.join(ROOT, 'py', 'analysis')   # holds the package hubscan
sys.path.insert(0, SCAN_DIR)

import hubscan  # noqa: E402


def _c_int(expr):
    """Value of a limits.h constant expression: numbers (1u, 10.0), <<, *,
    +, -, /, parentheses."""
    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return n.value
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left), ev(n.right)
            ops = {ast.LShift: lambda: a << b, ast.Mult: lambda: a * b, ast.Add: lambda: a + b,
                   ast.Sub: lambda: a - b,
                   ast.Div: lambda: a // b if isinstance(a, int) and isinstance(b, int) else a / b}
            if type(n.op) in ops:
                return ops[type(n.op)]()
        raise ValueError('not a limits.h constant: %s' % expr)
    return ev(ast.parse(re.sub(r'\b(\d+)[uUlL]+\b', r'\1', expr), mode='eval'))


def limits_h():
    """The analysis limits as py/pyrt.c hands them to the package: every
    HUB_PY_* of base/limits.h (key: the name without HUB_PY_, lower case),
    and HUB_URL_MAX as url_max."""
    for rel in ('base/limits.h', 'fs/limits.h'):
        path = os.path.join(ROOT, rel)
        if os.path.exists(path):
            break
    with open(path) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r'^#define\s+HUB_(PY_\w+|URL_MAX)\s+(.+?)\s*$', text, re.M):
        name, expr = m.groups()
        key = 'url_max' if name == 'URL_MAX' else name[3:].lower()
        out[key] = _c_int(expr)
    return out


LIMITS = limits_h()
hubscan.configure(LIMITS)


def analyze_binary():
    env = os.environ.get('HUBFS_ANALYZE')
    if env:
        return env
    for b in ('build', 'build-py', 'build-py-asan'):
        p = os.path.join(ROOT, b, 'tests', 'hubfs-analyze')
        if os.access(p, os.X_OK):
            return p
    return None


def run_ours(backend, path, timeout=60):
    if backend == 'py':
        return hubscan.analyze_dir(path)
    binary = analyze_binary()
    if binary is None:
        pytest.skip('no hubfs-analyze binary built (set HUBFS_ANALYZE)')
    env = dict(os.environ)
    supp = os.path.join(HERE, 'lsan.supp')
    env.setdefault('LSAN_OPTIONS', 'suppressions=%s:print_suppressions=0' % supp)
    r = subprocess.run([binary, path], capture_output=True, timeout=timeout, env=env)
    assert r.returncode == 0, 'hubfs-analyze failed (%d): %s' % (r.returncode, r.stderr.decode(errors='replace'))
    return json.loads(r.stdout)


@functools.lru_cache(maxsize=None)
def torch_available():
    try:
        r = subprocess.run([TORCH_PYTHON, '-c', 'import torch.hub'], capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def _tree_key(fixture):
    """A hash of what the reference depends on: the fixture tree (names,
    contents, symlink targets), torch_ref.py and the interpreter."""
    h = hashlib.sha256()
    with open(os.path.join(HERE, 'torch_ref.py'), 'rb') as f:
        h.update(f.read())
    h.update(os.path.realpath(TORCH_PYTHON).encode())
    for d, dirs, files in os.walk(fixture):
        dirs.sort()
        for n in sorted(files + [x for x in dirs if os.path.islink(os.path.join(d, x))]):
            p = os.path.join(d, n)
            h.update(b'\0' + os.path.relpath(p, fixture).encode(errors='surrogateescape') + b'\0')
            if os.path.islink(p):
                h.update(b'L' + os.readlink(p).encode(errors='surrogateescape'))
            else:
                with open(p, 'rb') as f:
                    h.update(b'F' + f.read())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def torch_reference(fixture):
    """The real torch.hub.list()/help() on a copy of fixture, in a temp dir.
    With HUBFS_TORCH_REF_CACHE set (tests/run_all.sh sets it per run, so the
    sanitizer pass reuses what the release pass asked torch.hub), answers are
    kept there by a hash of the fixture's content: the same input, the same
    torch, the same answer."""
    if not torch_available():
        pytest.skip('%s cannot import torch: no reference to compare with' % TORCH_PYTHON)
    cache = os.environ.get('HUBFS_TORCH_REF_CACHE')
    if cache:
        path = os.path.join(cache, _tree_key(fixture) + '.json')
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
        ref = _torch_reference(fixture)
        os.makedirs(cache, exist_ok=True)
        tmp = '%s.%d.tmp' % (path, os.getpid())
        with open(tmp, 'w') as f:
            json.dump(ref, f)
        os.replace(tmp, path)
        return ref
    return _torch_reference(fixture)


def _torch_reference(fixture):
    with tempfile.TemporaryDirectory(prefix='hubfs-torchref-') as work:
        env = {'PATH': '/usr/bin:/bin', 'HOME': work, 'TORCH_HOME': os.path.join(work, 'torch'),
               'XDG_CACHE_HOME': os.path.join(work, 'cache'), 'PYTHONDONTWRITEBYTECODE': '1',
               'LANG': 'C.UTF-8', 'http_proxy': 'http://127.0.0.1:9', 'https_proxy': 'http://127.0.0.1:9'}
        r = subprocess.run([TORCH_PYTHON, os.path.join(HERE, 'torch_ref.py'), fixture, work],
                           cwd=work, env=env, capture_output=True, timeout=600)
        assert r.returncode == 0, r.stderr.decode(errors='replace')[-3000:]
        return json.loads(r.stdout)


def fixture_path(name):
    return os.path.join(FIXTURES, name)


@pytest.fixture(params=['py', 'c'])
def backend(request):
    return request.param


def pytest_report_header(config):
    return 'hubfs-analyze: %s' % (analyze_binary() or 'not built: the c backend cases are skipped')
