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
