"""hubfs's static analysis against the real torch.hub.list()/help().

For every fixture repo: the entrypoint set equals torch.hub.list() (minus
names the analysis reports as unsettled, each of which must appear in
errors), every help equals torch.hub.help() byte for byte, and signatures
equal inspect.signature() where the defaults are literals.
"""
import ast
import os

import pytest

from conftest import fixture_path, run_ours, torch_reference

# fixture -> {name torch lists that static analysis must report, not list:
#             text that must appear in errors}
PARITY = {
    'basic': {},
    'decorators': {},
    'packages': {},
    'syspath': {},
    'installed': {},
    'conditionals': {
        'differ': "hubconf.py:82: 'differ': cannot tell statically whether it is callable: bound differently by "
                  "the branches of `if os.environ.get('HUBFS_TEST_VARIABLE_NEVER_SET')` at hubconf.py:79",
    },
    # gen_a, gen_b (a `for` over a literal list writing globals()) and reg_a,
    # reg_b (the same with setattr(sys.modules[__name__], ...) in
    # registry_mod) are settled since issue 14 (hubscan/nswrites.py)
    'unsettled': {
        'set_a': "hubconf.py:31: 'set_a': cannot tell statically whether it is callable",
        'set_b': 'hubconf.py:25: setattr(...)',
        'made_by_call': "hubconf.py:27: 'made_by_call': cannot tell",
    },
    'malicious': {},
    'torch_star': {},
    'weights': {},
    'effects': {},
    'nswrites': {},
}

KINDS = {'POSONLY': 0, 'POS': 1, 'VARPOS': 2, 'KWONLY': 3, 'VARKW': 4}


def parse_signature(sig, name):
    """Our 'name(a, b=1, *c, d, **e)' -> [[kind, name, default_src]]."""
    assert sig.startswith(name + '('), sig
    params = sig[len(name):].replace('=<factory>', '=_factory_')   # dataclass default_factory
    tree = ast.parse('def f%s: pass' % params)
    a = tree.body[0].args
    out = []
    pos = a.posonlyargs + a.args
    defaults = [None] * (len(pos) - len(a.defaults)) + a.defaults
    for i, p in enumerate(pos):
        out.append([0 if i < len(a.posonlyargs) else 1, p.arg, defaults[i]])
    if a.vararg:
        out.append([2, a.vararg.arg, None])
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append([3, p.arg, d])
    if a.kwarg:
        out.append([4, a.kwarg.arg, None])
    return out


def check_signature(entry, ref):
    if ref.get('params') is None:
        return   # inspect.signature() has no answer: nothing to compare
    sig = entry['signature']
    assert not sig.endswith('(...)'), '%s: signature unknown but inspect has %s' % (entry['name'], ref['signature'])
    ours = parse_signature(sig, entry['name'])
    theirs = ref['params']
    assert [(k, n) for k, n, _ in ours] == [(k, n) for k, n, _, _ in theirs], \
        '%s: %s vs inspect %s' % (entry['name'], sig, ref['signature'])
    comparable = True
    for (k, n, d), (_, _, rd, lit) in zip(ours, theirs):
        assert (d is None) == (rd is None), '%s: default of %s' % (entry['name'], n)
        if d is None:
            continue
        try:
            mine = ast.literal_eval(d)
        except ValueError:      # written as an expression (e.g. a name): as written, not repr()
            comparable = False
            continue
        if lit:
            assert mine == ast.literal_eval(rd), \
                '%s: default of %s: %s vs %s' % (entry['name'], n, ast.unparse(d), rd)
        else:
            comparable = False
    if comparable:
        assert sig[len(entry['name']):] == ref['signature'], (sig, ref['signature'])


def compare(name, ours, ref, unsettled):
    assert ref['ok'], 'torch.hub.list failed on fixture %s: %s' % (name, ref.get('error'))
    theirs = {e['name']: e for e in ref['entrypoints']}
    mine = {e['name']: e for e in ours['entrypoints']}
    assert set(mine) == set(theirs) - set(unsettled), \
        'only ours: %s; only torch: %s; errors: %s' % (
            sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine) - set(unsettled)), ours['errors'])
    for n, text in unsettled.items():
        assert any(text in line for line in ours['errors']), '%s: %r not in errors %s' % (n, text, ours['errors'])
    if not unsettled:
        assert ours['errors'] == [], ours['errors']
    for n, e in mine.items():
        r = theirs[n]
        assert r.get('help_error') is None, r
        assert e['help'].encode('utf-8', 'surrogatepass') == (r['help'] or '').encode('utf-8', 'surrogatepass'), \
            'help of %s differs:\nours:  %r\ntorch: %r' % (n, e['help'], r['help'])
        check_signature(e, r)


@pytest.mark.parametrize('name', sorted(PARITY))
def test_parity(name, backend):
    path = fixture_path(name)
    ref = torch_reference(path)
    ours = run_ours(backend, path)
    compare(name, ours, ref, PARITY[name])


def test_dependencies(backend):
    assert run_ours(backend, fixture_path('installed'))['dependencies'] == ['torch', 'torchvision']
    assert run_ours(backend, fixture_path('basic'))['dependencies'] == ['torch']


def test_unsettled_lines(backend):
    ours = run_ours(backend, fixture_path('unsettled'))
    text = '\n'.join(ours['errors'])
    assert 'hubconf.py:22: globals()[...] = assignment' not in text, text   # settled: nswrites.py
    assert 'hubconf.py:25: setattr(...) at import time' in text, text
    assert "hubconf.py:27: 'made_by_call'" in text, text
    assert 'hubconf.py:30: star import from registry_mod: hubconf.py:25: setattr(registry_mod, ...)' in text, text
    assert 'registry_mod.py:11: setattr(...)' not in text, text     # settled: nswrites.py
    names = {e['name'] for e in ours['entrypoints']}
    assert names == {'known_entry', 'plain_entry', 'static_one', 'gen_a', 'gen_b', 'reg_a', 'reg_b'}
    plain = [e for e in ours['entrypoints'] if e['name'] == 'plain_entry'][0]
    assert plain['help'] == 'generated entry plain'


def test_malicious_leaves_no_trace(backend, tmp_path):
    import shutil
    repo = tmp_path / 'repo'
    shutil.copytree(fixture_path('malicious'), repo)
    before = sorted(os.listdir(repo))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ours = run_ours(backend, str(repo))
    finally:
        os.chdir(cwd)
    assert sorted(os.listdir(repo)) == before
    assert sorted(os.listdir(tmp_path)) == ['repo']
    assert not os.path.exists('/tmp/hubfs-PWNED-BY-CALL')
    assert [e['name'] for e in ours['entrypoints']] == ['innocent']
    assert ours['entrypoints'][0]['help'] == 'Looks harmless.'
    # and torch.hub, run on a copy in a temp dir, does run it (the fixture is real)
    ref = torch_reference(fixture_path('malicious'))
    assert [e['name'] for e in ref['entrypoints']] == ['innocent']
    assert not os.path.exists(os.path.join(fixture_path('malicious'), 'PWNED_BY_OPEN'))


def test_undecidable_if(backend):
    ours = run_ours(backend, fixture_path('conditionals'))
    names = {e['name'] for e in ours['entrypoints']}
    assert 'agree' in names and 'differ' not in names and 'only_if' not in names
    text = '\n'.join(ours['errors'])
    assert "'only_if': cannot tell statically whether it is callable: bound only in one branch" in text, text
    assert len(ours['errors']) == 2, text
