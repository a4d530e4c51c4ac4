"""Shared helpers for the analysis parity tests.

Backends: 'py' runs py/analysis/hubconf_scan.py in this interpreter (the same
CPython as the embedded one); 'c' runs build*/tests/hubfs-analyze, i.e. the
real embedded interpreter of py/pyrt.c.  Set HUBFS_ANALYZE=/path/to/binary to
choose the binary; without one the 'c' cases are skipped (and say so).
"""
import functools
import json
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(HERE, 'fixtures')
TORCH_PYTHON = '/usr/bin/python3'
sys.path.insert(0, os.path.join(ROOT, 'py', 'analysis'))

import hubconf_scan  # noqa: E402


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
        return hubconf_scan.analyze_dir(path)
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


@functools.lru_cache(maxsize=None)
def torch_reference(fixture):
    """The real torch.hub.list()/help() on a copy of fixture, in a temp dir."""
    if not torch_available():
        pytest.skip('%s cannot import torch: no reference to compare with' % TORCH_PYTHON)
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
