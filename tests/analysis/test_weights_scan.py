"""The static weight-URL finder (issue 4) on the `weights` fixture: every
weight URL of the repository's code, and per entrypoint the ones its
definition reaches (literal in the body; a module-level dict keyed by the
entrypoint's name through a helper; a constant of another repo module;
builders and dicts of other repo modules, reached through imports)."""
from conftest import fixture_path, run_ours

W = 'https://example.invalid/w/'


def test_all_weight_urls_of_the_repo(backend):
    ours = run_ours(backend, fixture_path('weights'))
    assert ours['weights'] == [W + 'big.pth', W + 'head.pth', W + 'other.pth', W + 'small.pth',
                               W + 'tiny.safetensors', W + 'vit_base.pth', W + 'vit_small.pth',
                               'https://mirror.invalid/w/small.pth']
    assert ours['errors'] == []


def test_weights_per_entrypoint(backend):
    ours = run_ours(backend, fixture_path('weights'))
    per = {e['name']: e['weights'] for e in ours['entrypoints']}
    assert per['small'] == [W + 'small.pth']
    assert per['big'] == [W + 'big.pth']          # the dict entry of its own name only
    assert per['tiny'] == [W + 'tiny.safetensors']
    assert per['no_weights'] == []                # a non-weight URL is not a weight
    assert per['load_state_dict_from_url'] == []  # installed code: not the repo's weights
    # across repository modules: a builder imported from models/zoo.py
    # reading a dict of models/urls.py keyed by the entrypoint's name
    assert per['vit_small'] == [W + 'vit_small.pth']
    assert per['vit_base'] == [W + 'vit_base.pth']   # U.VIT_URLS['vit_base'], U = models.urls
    assert per['with_head'] == [W + 'head.pth']      # urls.HEAD_URL after `from . import urls`


def test_weights_pruned_by_parameter_defaults(backend):
    """`if pretrained: if dist: ... elif in_22k: ... else: ...` on the
    entrypoint's own parameters: the call with pretrained=True and the
    other defaults takes the else branch; the other URLs are alternatives."""
    ours = run_ours(backend, fixture_path('effects'))
    big = [e for e in ours['entrypoints'] if e['name'] == 'big'][0]
    X = 'https://example.invalid/w/'
    assert big['weights'] == [X + 'big_plain.pth']
    assert big['alternatives'] == [X + 'big_22k.pth', X + 'big_dist.pth']
    assert ours['weights'] == [X + 'big_22k.pth', X + 'big_dist.pth', X + 'big_plain.pth']


def test_weights_of_installed_builders(backend):
    """Weights an entrypoint asks torchvision for, read from torchvision's
    installed source (Debian's 0.14): the builder's
    @handle_legacy_interface default for pretrained=True, weights="DEFAULT"
    through the enum's DEFAULT alias, a builder named by a string passed
    down two calls into getattr(torchvision.models, name)."""
    ours = run_ours(backend, fixture_path('tvweights'))
    per = {e['name']: e['weights'] for e in ours['entrypoints']}
    M = 'https://download.pytorch.org/models/'
    assert per['by_name'] == [M + 'resnet50-0676ba61.pth']
    assert per['direct'] == [M + 'resnet18-f37072fd.pth']
    assert per['imported'] == [M + 'resnet34-b627a593.pth']
    assert per['no_weights'] == []
    # Backbone (a class entrypoint too) is called without a name: unresolved, and said so
    assert [e for e in ours['errors'] if 'not resolved' in e] == [
        'nets/backbone.py:8: Backbone: getattr(torchvision.models, name)(pretrained=True) loads weights '
        'in code outside the repository: not resolved']


def test_weights_computed_from_arguments(backend):
    """URLs built with f-strings, str.format, os.path.join and + from an
    entrypoint's arguments, their defaults and module constants, through
    helper calls; what cannot be folded is an errors line naming the
    entrypoint, never a silently empty weights/."""
    ours = run_ours(backend, fixture_path('fstrings'))
    per = {e['name']: e['weights'] for e in ours['entrypoints']}
    B = 'https://example.invalid/ckpt/'
    assert per['vit_small'] == [B + 'vit_small/vit_small16_pretrain.pth']
    assert per['formatted'] == [B + 'v2/model.pth']
    assert per['joined'] == [B + 'nets/resnet.pth']
    assert per['unknown'] == []
    # build (imported into hubconf, so an entrypoint too) gets no arch: unresolved
    assert sorted(e for e in ours['errors'] if 'not resolved' in e) == [
        'builders.py:11: build: weight URL url computed at run time: not resolved',
        'hubconf.py:31: unknown: weight URL path computed at run time: not resolved']
    assert B + 'v2/model.pth' in ours['weights']


def test_torch_hub_load_of_another_repository(backend):
    """torch.hub.load('owner/repo:ref', 'model', ...) inside an entrypoint
    is a link to that repository's entrypoint (`loads`), not an installed
    package's unresolved weights (issue 14)."""
    ours = run_ours(backend, fixture_path('weights'))
    e = [e for e in ours['entrypoints'] if e['name'] == 'linked'][0]
    assert e['loads'] == [{'repo': 'hubfstest/basic', 'ref': 'main', 'entrypoint': 'model_a',
                           'where': 'hubconf.py:61'}]
    assert e['weights'] == []
    assert not [x for x in ours['errors'] if 'linked' in x], ours['errors']
    assert all('loads' not in x for x in ours['entrypoints'] if x['name'] != 'linked')


def test_shared_helper_walk_reused_only_where_exact(backend):
    """The weights walk of a helper is kept and reused across entrypoints
    (speed, issue 14), but a walk that took a name-keyed dict whole (`huge`:
    no key of its name) is not reused for a name that is a key (`other`,
    walked after it), and one that selected a key (`big`) is not reused."""
    ours = run_ours(backend, fixture_path('weights'))
    per = {e['name']: e['weights'] for e in ours['entrypoints']}
    assert per['big'] == [W + 'big.pth']
    assert per['huge'] == [W + 'big.pth', W + 'other.pth']
    assert per['other'] == [W + 'other.pth']


def test_weight_urls_not_spelled_on_their_line(backend):
    """A URL constant whose lines never contain 'http' (implicit
    concatenation over lines or on one, an escape, a backslash-newline, a
    split base URL of another module): the weights index walks only the
    lines a URL can be written on, and those are among them."""
    ours = run_ours(backend, fixture_path('urlspell'))
    per = {e['name']: e['weights'] for e in ours['entrypoints']}
    X = 'https://example.invalid/'
    assert per == {'split': [X + 'w/split.pth'], 'escaped': [X + 'w/escaped.pth'],
                   'continued': [X + 'w/continued.pth'], 'based': [X + 'base/based.pth'],
                   'inline': [X + 'w/inline.pth'], 'noted': [X + 'w/noted.pth']}
    # .hub/weights: also the one no entrypoint reaches
    assert ours['weights'] == sorted([X + 'w/split.pth', X + 'w/escaped.pth', X + 'w/continued.pth',
                                      X + 'w/inline.pth', X + 'base/based.pth', X + 'w/noted.pth',
                                      X + 'w/unused.pth'])
    assert ours['errors'] == []


def test_url_lines_and_nesting_bound_direct():
    """The byte-level pre-filters (in-process): url_lines marks a line of
    every spelling of a URL constant, refuses to guess under a bare CR or a
    non-UTF-8 coding cookie, and ends fast on input built to make its regex
    backtrack; the bracket-depth bound is never below the exact scan's."""
    import ast
    import random
    import time
    from hubscan import sources as S
    assert S.url_lines(b'a = 1\n') == ()
    assert S.url_lines(b'a = 1\nb = "\\x68ttps://x/y.pth"\n') == (2,)
    assert S.url_lines(b'a = ("ht"  # c\n     "tps://x")\n')[0] == 1
    assert S.url_lines(b'# -*- coding: utf-7 -*-\nu = "+AGg-ttps://x/y.pth"\n') is None
    assert S.url_lines(b'a = 1\rb = "http://x"\r') is None
    t = time.process_time()
    S.url_lines((b"'x' " + b'#' * 4000 + b'\n') * 200 + b"'" + b'#\n' * 200000)
    assert time.process_time() - t < 2.0
    assert S.url_lines(b'"""doc"""\nx = ""\n') == ()    # no junction splitting a word
    rnd = random.Random(14)
    for _ in range(400):   # URLs cut into literals, escapes, backslash-newlines, separators
        url = 'https://x.invalid/w.pth'
        cuts = sorted(rnd.sample(range(1, len(url)), rnd.randrange(4)))
        body = ''
        for i, j in zip([0] + cuts, cuts + [len(url)]):
            q = rnd.choice(['"', "'", '"""'])
            text = ''.join('\\x%02x' % ord(c) if rnd.random() < 0.05 else
                           c + '\\\n' if rnd.random() < 0.05 and len(q) == 1 else c for c in url[i:j])
            body += rnd.choice(['', 'r', 'u']) * ('\\' not in text) + q + text + q + \
                rnd.choice([' ', '', '\n  ', '  # c "q"\n '])
        src = 'x = 1\nu = (\n' + body + '\n)\n'
        lines = S.url_lines(src.encode())
        for n in ast.walk(ast.parse(src)):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and 'http' in n.value:
                assert any(n.lineno <= x <= n.end_lineno for x in lines), src
    for _ in range(3000):
        d = bytes(rnd.choice(b'()[]{}"\'#\n\\ab') for _ in range(rnd.randrange(40)))
        depth = deepest = 0
        for m in S._SCAN_RE.finditer(d):
            if m.end() - m.start() == 1 and d[m.start()] in b'([{':
                depth += 1
                deepest = max(deepest, depth)
            elif m.end() - m.start() == 1 and d[m.start()] in b')]}':
                depth = max(0, depth - 1)
        for limit in range(4):
            assert (S.nesting_error(d, limit) != 0) == (deepest > limit), d
