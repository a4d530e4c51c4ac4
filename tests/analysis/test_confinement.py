"""Confinement of the analyser (docs/analysis.md, "What the analyser reads").

The daemon runs the analysis as root and stores its results world-readable,
so a hubconf must not make it read the host: sys.path entries outside the
repository and the installed packages, '..' climbing out of them, symbolic
links in the tree pointing outside, FIFOs (which would block the one
analyser thread).  Each case builds a repository next to an `outside`
directory holding a secret (a root-only file, a FIFO) and checks that the
secret appears nowhere in what the analysis prints (entrypoints, help,
signatures, dependencies, weights, errors, stderr) and that it finishes
promptly.

Both backends run in a child process with a timeout, so a blocked open()
fails the case instead of hanging the suite: 'py' is hubscan.analyze_dir
in /usr/bin/python3, 'c' is hubfs-analyze (the embedded interpreter).
"""
import errno
import json
import os
import secrets
import stat
import subprocess
import sys
import threading
import time

import pytest

from conftest import HERE, LIMITS, SCAN_DIR, analyze_binary, hubscan

TIMEOUT = 30        # a child still running then is blocked: the case fails
PROMPT = 15         # seconds an analysis of these tiny trees may take at most
IGNORED = 'is outside the repository and the installed packages: ignored'

_PY = ('import json, sys; sys.path.insert(0, sys.argv[1]); import hubscan; '
       'hubscan.configure(json.loads(sys.argv[3])); '
       'print(json.dumps(hubscan.analyze_dir(sys.argv[2])))')


def run_backend(backend, repo):
    """(result dict, every byte the child wrote)."""
    if backend == 'py':
        cmd = [sys.executable, '-c', _PY, SCAN_DIR, str(repo), json.dumps(LIMITS)]
    else:
        binary = analyze_binary()
        if binary is None:
            pytest.skip('no hubfs-analyze binary built (set HUBFS_ANALYZE)')
        cmd = [binary, str(repo)]
    env = dict(os.environ)
    env.setdefault('LSAN_OPTIONS', 'suppressions=%s:print_suppressions=0' % os.path.join(HERE, 'lsan.supp'))
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, env=env, cwd=os.path.dirname(str(repo)))
    except subprocess.TimeoutExpired:
        pytest.fail('%s backend: the analysis did not finish within %d s (blocked on a FIFO?)' % (backend, TIMEOUT))
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr.decode(errors='replace')[-3000:]
    assert took < PROMPT, 'the analysis took %.1f s' % took
    return json.loads(r.stdout), r.stdout + r.stderr


def secret_module(secret):
    return '''"""Module docstring: %(s)s"""
SECRET = %(s)r
URL = 'https://example.invalid/%(s)s/weights.pth'
__all__ = ['SECRET', 'URL', 'leak', 'Leak']


def leak(arg=%(s)r):
    """%(s)s"""


class Leak:
    """%(s)s"""
''' % {'s': secret}


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)


@pytest.fixture
def world(tmp_path):
    """tmp/outside: root-only sources with a secret, a FIFO; tmp/repo: empty."""
    secret = 'hubfs-secret-' + secrets.token_hex(8)
    out = tmp_path / 'outside'
    write(str(out / 'secretmod.py'), secret_module(secret), 0o600)
    write(str(out / 'pkg' / '__init__.py'), secret_module(secret), 0o600)
    write(str(out / 'wsecret.py'), 'URLS = {"m": "https://example.invalid/%s.pth"}\n' % secret, 0o600)
    write(str(out / 'hubconf.py'), 'dependencies = [%r]\n\ndef model():\n    """%s"""\n' % (secret, secret), 0o600)
    os.mkfifo(str(out / 'fifomod.py'))
    os.mkdir(str(out / 'fifopkg'))
    os.mkfifo(str(out / 'fifopkg' / '__init__.py'))
    os.chmod(str(out), 0o700)
    repo = tmp_path / 'repo'
    repo.mkdir()
    return {'secret': secret, 'outside': str(out), 'repo': repo}


def check(backend, w, *, expect_ignored=False, expect_model=True):
    res, raw = run_backend(backend, w['repo'])
    assert w['secret'].encode() not in raw, 'the secret reached the output: %s' % raw.decode(errors='replace')
    if expect_model:
        assert 'model' in [e['name'] for e in res['entrypoints']], res
    if expect_ignored:
        assert any(IGNORED in e for e in res['errors']), res['errors']
    return res


LEAKY_BODY = '''
from secretmod import SECRET, URL, leak, Leak
import pkg

dependencies = [SECRET]


def model(pretrained=False):
    return load_state_dict_from_url(URL)


model.__doc__ = SECRET
PKG = pkg.__doc__


def load_state_dict_from_url(url):
    """Stand-in."""
'''


def test_syspath_insert_outside(backend, world):
    """sys.path.insert / append of an absolute directory outside: ignored."""
    write(str(world['repo'] / 'hubconf.py'), '''import sys
sys.path.insert(0, %r)
sys.path.append(%r)
''' % (world['outside'], world['outside'] + '/pkg/..') + LEAKY_BODY)
    res = check(backend, world, expect_ignored=True)
    assert res['dependencies'] == []
    assert 'leak' not in [e['name'] for e in res['entrypoints']]


def test_syspath_climbing_out(backend, world):
    """'..' out of an installed-packages directory or out of the repository."""
    stdlib = os.path.dirname(os.__file__)       # an allowed root in both backends
    climb = stdlib + '/..' * stdlib.count('/') + world['outside']
    write(str(world['repo'] / 'hubconf.py'), '''import os
import sys
from pathlib import Path
sys.path.insert(0, %r)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'outside'))
sys.path.insert(0, str(Path(__file__).resolve().parent / '../outside'))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'sub/../../../repo/../outside'))
''' % climb + LEAKY_BODY)
    res = check(backend, world, expect_ignored=True)
    assert res['dependencies'] == []


def test_fifo_outside_never_blocks(backend, world):
    write(str(world['repo'] / 'hubconf.py'), '''import sys
sys.path.insert(0, %r)
try:
    import fifomod
except ImportError:
    fifomod = None
try:
    from fifopkg import thing
except ImportError:
    thing = None


def model():
    """Listed all the same."""
''' % world['outside'])
    check(backend, world, expect_ignored=True)


def test_fifo_in_tree_never_blocks(backend, world):
    repo = world['repo']
    os.mkfifo(str(repo / 'fifo.py'))
    os.mkdir(str(repo / 'fpkg'))
    os.mkfifo(str(repo / 'fpkg' / '__init__.py'))
    write(str(repo / 'hubconf.py'), '''try:
    import fifo
except ImportError:
    fifo = None
try:
    import fpkg
except ImportError:
    fpkg = None


def model():
    """Listed all the same."""
''')
    res = check(backend, world)
    assert any('fifo.py:0: not read: not a regular file' in e for e in res['errors']), res['errors']


def test_hubconf_is_a_fifo(backend, world):
    os.mkfifo(str(world['repo'] / 'hubconf.py'))
    res = check(backend, world, expect_model=False)
    assert res['entrypoints'] == []
    assert any('hubconf.py is not a regular file' in e for e in res['errors']), res['errors']


def test_symlinks_in_tree_to_outside(backend, world):
    """Links to a file and to a directory outside are not followed."""
    repo = world['repo']
    os.symlink(os.path.join(world['outside'], 'secretmod.py'), str(repo / 'lnk.py'))
    os.symlink(world['outside'], str(repo / 'lnkdir'))
    os.symlink('../outside/pkg', str(repo / 'relpkg'))
    os.symlink(os.path.join(world['outside'], 'wsecret.py'), str(repo / 'wmod.py'))
    os.symlink(os.path.join(world['outside'], 'fifomod.py'), str(repo / 'lfifo.py'))
    write(str(repo / 'hubconf.py'), '''import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lnkdir'))
try:
    from lnk import SECRET, leak
except ImportError:
    SECRET = None
try:
    from lnkdir.secretmod import URL, Leak
except ImportError:
    URL = None
try:
    import relpkg
    import lfifo
    from wmod import URLS
except ImportError:
    pass

dependencies = [SECRET]


def model():
    """Listed all the same."""
''')
    res = check(backend, world)
    assert res['weights'] == []
    assert any('lnk.py:0: not read: not a regular file (a symbolic link' in e for e in res['errors']), \
        res['errors']


def test_hubconf_is_a_symlink_to_outside(backend, world):
    os.symlink(os.path.join(world['outside'], 'hubconf.py'), str(world['repo'] / 'hubconf.py'))
    res = check(backend, world, expect_model=False)
    assert res['entrypoints'] == [] and res['dependencies'] == []
    assert any('hubconf.py is not a regular file' in e for e in res['errors']), res['errors']


def test_installed_packages_still_read(backend, world):
    """An entry inside an installed-packages directory is kept (the
    'installed' parity fixture covers the default path)."""
    stdlib = os.path.dirname(os.__file__)
    write(str(world['repo'] / 'hubconf.py'), '''import sys
sys.path.insert(0, %r)
from json import dumps as model
''' % (stdlib + '/json/..'))
    res = check(backend, world)
    assert not any(IGNORED in e for e in res['errors']), res['errors']


# ------------------------------------------------------- Confined on its own

def _in_thread(fn, timeout=10):
    box = {}

    def run():
        try:
            box['r'] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            box['e'] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), 'Confined blocked'
    if 'e' in box:
        raise box['e']
    return box.get('r')


def test_confined_unit(world):
    repo = str(world['repo'])
    os.mkdir(os.path.join(repo, 'd'))
    write(os.path.join(repo, 'd', 'ok.py'), 'X = 1\n')
    os.symlink(os.path.join(world['outside'], 'secretmod.py'), os.path.join(repo, 'd', 'lnk.py'))
    os.symlink(world['outside'], os.path.join(repo, 'ldir'))
    os.symlink('d', os.path.join(repo, 'inside_link'))
    os.mkfifo(os.path.join(repo, 'd', 'fifo.py'))
    c = hubscan.Confined([repo])
    assert _in_thread(lambda: c.read(repo + '/d/ok.py', 100)) == b'X = 1\n'
    assert _in_thread(lambda: c.read(repo + '/d/ok.py', 3)) == b'X = '        # cap + 1 bytes
    with pytest.raises(OSError) as e:
        c.read(repo + '/d/ok.py', 3, exact=True)
    assert e.value.errno == errno.EFBIG and e.value.strerror == '6'
    for p, err in (('/d/lnk.py', errno.ELOOP), ('/d/fifo.py', errno.ENXIO), ('/ldir/secretmod.py', errno.ENOTDIR),
                   ('/inside_link/ok.py', errno.ENOTDIR), ('/../outside/secretmod.py', errno.EACCES),
                   ('/d/../../outside/secretmod.py', errno.EACCES), ('/d', errno.EISDIR)):
        with pytest.raises(OSError) as e:
            _in_thread(lambda: c.read(repo + p, 100))
        assert e.value.errno == err, (p, e.value)
    with pytest.raises(OSError) as e:
        c.read(world['outside'] + '/secretmod.py', 100)
    assert e.value.errno == errno.EACCES
    assert sorted(c.listdir(repo + '/d')) == ['fifo.py', 'lnk.py', 'ok.py']
    assert c.listdir(repo + '/ldir') is None and c.listdir(repo + '/inside_link') is None
    assert c.listdir(world['outside']) is None and c.listdir(repo + '/..') is None
    assert c.stat(repo + '/d/ok.py').st_size == 6
    assert c.stat(repo + '/d/fifo.py') is None and c.stat(repo + '/d/lnk.py') is None
    assert c.locate(repo + '/d/../d/ok.py') == (repo, ['d', 'ok.py'])
    assert c.locate(repo + 'x/ok.py') is None and c.locate('d/ok.py') is None


def test_confined_never_opens_a_device(world):
    """A character device below a root is refused before open()."""
    if os.geteuid() != 0:
        pytest.skip('mknod needs root')
    dev = os.path.join(str(world['repo']), 'null.py')
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with pytest.raises(OSError) as e:
        hubscan.Confined([str(world['repo'])]).read(dev, 100)
    assert e.value.errno == errno.ENXIO
