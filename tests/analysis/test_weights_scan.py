"""The static weight-URL finder (issue 4) on the `weights` fixture: every
weight URL of the repository's code, and per entrypoint the ones its
definition reaches (literal in the body; a module-level dict keyed by the
entrypoint's name through a helper; a constant of another repo module)."""
from conftest import fixture_path, run_ours

W = 'https://example.invalid/w/'


def test_all_weight_urls_of_the_repo(backend):
    ours = run_ours(backend, fixture_path('weights'))
    assert ours['weights'] == [W + 'big.pth', W + 'other.pth', W + 'small.pth', W + 'tiny.safetensors',
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
