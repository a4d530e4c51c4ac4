"""Differential check on real-world code: stdlib modules used verbatim as
hubconf.py, compared with the real torch.hub.  The analysis may miss names,
but never silently: no name torch does not list, every missing name and
every help that differs is named in errors (or a globals()/star-import line
explains it)."""
import os
import shutil
import sys

import pytest

from conftest import run_ours, torch_reference

STDLIB = '/usr/lib/python%d.%d' % sys.version_info[:2]
MODULES = ['textwrap', 'heapq', 'functools', 'operator', 'enum', 'dataclasses', 'typing', 'statistics',
           'base64', 'difflib', 'contextlib', 'selectors', 'inspect', 'ast', 'keyword', 'logging/__init__',
           'dis', 'hashlib', 'queue', 'random', 'uuid', 'tokenize', 'calendar']


@pytest.mark.parametrize('module', MODULES)
def test_stdlib_as_hubconf(module, tmp_path):
    src = os.path.join(STDLIB, module + '.py')
    if not os.path.exists(src):
        pytest.skip('no %s' % src)
    repo = tmp_path / module.replace('/', '_')
    repo.mkdir()
    shutil.copy(src, repo / 'hubconf.py')
    ref = torch_reference(str(repo))
    assert ref['ok'], ref
    ours = run_ours('py', str(repo))
    theirs = {e['name']: e for e in ref['entrypoints']}
    mine = {e['name']: e for e in ours['entrypoints']}
    errors = '\n'.join(ours['errors'])
    assert set(mine) <= set(theirs), 'listed but not callable in torch: %s' % sorted(set(mine) - set(theirs))
    bulk = 'globals()[...]' in errors or 'star import' in errors
    for n in set(theirs) - set(mine):
        assert repr(n) in errors or bulk, '%s: missing and not reported' % n
    for n in mine:
        if theirs[n].get('help_error'):
            continue
        if mine[n]['help'] != (theirs[n]['help'] or ''):
            assert repr(n) in errors, '%s: help differs and is not reported' % n
