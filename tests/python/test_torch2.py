"""The helper follows the installed torch (issue 15): against stand-in torch
2.x packages (torch_standin.py; torch 2.x cannot be installed here), each
loaded in a child whose sys.path puts the stand-in first, on the session's
real mount; and against the real torch 1.13 in this process.  Each test
fails when the adapter it covers is removed (the stand-in's signatures,
defaults, texts or streams differ from 1.13's exactly there)."""
import io
import json
import os
import subprocess
import warnings
import zipfile

import pytest

import fixtures
import hubfs
import torch_standin

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"


@pytest.fixture(scope="module")
def standins(env, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("standins"))
    files = {}
    with open(os.path.join(env.files, "nontensor.pth"), "wb") as f:
        f.write(b"NONTENSOR: a pickle of a dict with a string, not weights-only loadable\n")
    files["nontensor"] = fixtures.W_HOST + "nontensor.pth"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner.bin", b"a torch < 1.6 checkpoint, zipped by hand\n")
    with open(os.path.join(env.files, "legacyzip.pth"), "wb") as f:
        f.write(buf.getvalue())
    files["legacy"] = fixtures.W_HOST + "legacyzip.pth"
    files["net"] = fixtures.W_HOST + env.weight
    return {"root": root, "urls": files, "dirs": {v: torch_standin.write(root, v) for v in torch_standin.CUTS}}


def run(env, standins, version, code, tmp_path, stdin=""):
    """code in a child that sees stand-in torch `version`; its `out` printed
    as JSON (exceptions as [type name, message]).  (result, stdout, stderr)."""
    hub = tmp_path / ("torchhome-" + version)
    hub.mkdir(exist_ok=True)
    envp = dict(os.environ, PYTHONPATH=standins["dirs"][version] + os.pathsep + os.path.join(TOP, "py"),
                HUBFS_MOUNT=env.mount, TORCH_HOME=str(hub))
    prelude = ("import json, sys, warnings\nimport hubfs\nURLS = json.loads(sys.argv[1])\nMD = sys.argv[2]\n"
               "def err(f):\n    try:\n        return ['ok', f()]\n"
               "    except BaseException as e:\n        return [type(e).__name__, str(e)]\n")
    epilogue = ("\nimport torch\nassert torch.__version__ == %r, torch.__file__\n"
                "print('RESULT ' + json.dumps(out, default=repr))\n" % (version + ".0"))
    r = subprocess.run([PY, "-c", prelude + code + epilogue, json.dumps(standins["urls"]), str(tmp_path / "md")],
                       input=stdin, capture_output=True, text=True, timeout=120, env=envp)
    # (an input() prompt leaves no newline before it)
    assert r.returncode == 0 and "RESULT " in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout.rpartition("RESULT ")[2]), r.stdout, r.stderr


# ---------------------------------------------------------------- weights_only (2.1, 2.6)

WEIGHTS_ONLY = """
import torch
a = hubfs.load_state_dict_from_url(URLS['net'], model_dir=MD, progress=False, weights_only=True)
b = hubfs.load_state_dict_from_url(URLS['net'], MD, None, False, False, 'b.pth', False)  # 7th positional
c = hubfs.load_state_dict_from_url(URLS['net'], model_dir=MD, progress=False, file_name='c.pth')
d = err(lambda: hubfs.load_state_dict_from_url(URLS['net'], MD, None, False, False, 'd.pth', False, MD))
out = [a['weights_only'], b['weights_only'], c['weights_only'], d[0]]
"""


@pytest.mark.parametrize("version", ["2.1", "2.6", "2.11"])
def test_weights_only_keyword_since_2_1(env, standins, tmp_path, version):
    """weights_only (added in 2.1, 7th positional) is accepted and what
    torch.load is told; without it, torch.hub's default (False); an 8th
    positional is a TypeError (mount is keyword-only)."""
    out, _, _ = run(env, standins, version, WEIGHTS_ONLY, tmp_path)
    assert out == [True, False, False, "TypeError"]


def test_weights_only_rejected_before_2_1(env, standins, tmp_path, hub_dir):
    out, _, _ = run(env, standins, "2.0", "out = err(lambda: hubfs.load_state_dict_from_url("
                    "URLS['net'], model_dir=MD, progress=False, weights_only=True))[0]", tmp_path)
    assert out == "TypeError"
    # the real torch 1.13 alike
    with pytest.raises(TypeError):
        hubfs.load_state_dict_from_url(standins["urls"]["net"], progress=False, weights_only=True)


def test_non_tensor_checkpoint_on_2_6(env, standins, tmp_path):
    """torch >= 2.6's torch.load defaults to weights_only=True; torch.hub
    passes its own False, and so does hubfs: a checkpoint torch.hub loads
    loads.  Told weights_only=True it fails as torch.hub's would."""
    code = ("a = hubfs.load_state_dict_from_url(URLS['nontensor'], model_dir=MD, progress=False)\n"
            "b = err(lambda: hubfs.load_state_dict_from_url(URLS['nontensor'], model_dir=MD, progress=False, "
            "weights_only=True))\nout = [a['weights_only'], a['file'], b]\n")
    out, _, _ = run(env, standins, "2.6", code, tmp_path)
    assert out[:2] == [False, "nontensor.pth"]
    assert out[2][0] == "RuntimeError" and "Weights only load failed" in out[2][1]


@pytest.mark.parametrize("version", ["2.1", "2.6"])
def test_legacy_zip_helper_gets_weights_only(env, standins, tmp_path, version):
    """torch.hub's _legacy_zip_load takes a 4th argument since 2.1."""
    code = ("import torch\n"
            "a = hubfs.load_state_dict_from_url(URLS['legacy'], model_dir=MD, progress=False)\n"
            "b = hubfs.load_state_dict_from_url(URLS['legacy'], model_dir=MD, progress=False, weights_only=True)\n"
            "out = [a['file'], a['weights_only'], b['weights_only'], [c['fn'] for c in torch.CALLS]]\n")
    out, _, _ = run(env, standins, version, code, tmp_path)
    assert out == ["inner.bin", False, True, ["_legacy_zip_load", "load", "_legacy_zip_load", "load"]]


# ---------------------------------------------------------------- list(verbose=) (2.3)

LIST = """
a = err(lambda: hubfs.list('hx/zoo:main', verbose=False))
b = err(lambda: hubfs.list('hx/zoo:main', False, False, None, False))
c = err(lambda: hubfs.list('hx/zoo:main', mount=hubfs._mount.find_mount()))
out = [a[0], b[0], c[0], 'torch.hub' in sys.modules]
"""


def test_list_verbose_since_2_3(env, standins, tmp_path):
    out, _, _ = run(env, standins, "2.3", LIST, tmp_path)
    assert out == ["ok", "ok", "ok", False]  # and list imported no torch


def test_list_verbose_rejected_before_2_3(env, standins, tmp_path, hub_dir):
    out, _, _ = run(env, standins, "2.1", LIST, tmp_path)
    assert out == ["TypeError", "TypeError", "ok", False]
    with pytest.raises(TypeError):
        hubfs.list("hx/zoo:main", verbose=False)
    with pytest.raises(TypeError):  # a 5th positional is not the mount
        hubfs.list("hx/zoo:main", False, False, None, env.mount)
    assert hubfs.list("hx/zoo:main", False, False, None, mount=env.mount)


# ---------------------------------------------------------------- "Downloading" line (2.7)

@pytest.mark.parametrize("version,stream", [("2.3", "stderr"), ("2.7", "stdout")])
def test_downloading_line_stream(env, standins, tmp_path, version, stream):
    name = "fresh%s.bin" % version.replace(".", "")
    with open(os.path.join(env.files, name), "wb") as f:
        f.write(os.urandom(4096))
    code = ("u = URLS['net'].rsplit('/', 1)[0] + '/%s'\n"
            "out = hubfs.load_state_dict_from_url(u, model_dir=MD, progress=False)['size']\n" % name)
    out, stdout, stderr = run(env, standins, version, code, tmp_path)
    assert out == 4096
    line = 'Downloading: "%s%s"' % (fixtures.W_HOST, name)
    assert (line in stdout, line in stderr) == (stream == "stdout", stream == "stderr"), (stdout, stderr)


# ---------------------------------------------------------------- trust (2.11 default, texts)

def test_trust_default_check_on_2_11(env, standins, tmp_path):
    """trust_repo='check' is 2.11's default: an untrusted repo prompts
    (torch.hub's own prompt) in load, and in list/help, which import no
    torch; 'n' refuses, 'y' records it."""
    code = ("a = err(lambda: hubfs.load('hy/other', 'version'))\n"
            "b = err(lambda: hubfs.list('hy/other'))\n"
            "c = err(lambda: hubfs.help('hy/other', 'version'))\n"
            "out = [a, b[0], c[0]]\n")
    out, stdout, _ = run(env, standins, "2.11", code, tmp_path, stdin="n\nn\nn\n")
    assert out == [["Exception", "Untrusted repository."], "Exception", "Exception"]
    assert "stand-in 2.11: trust hy_other (y/N)?" in stdout
    out, _, _ = run(env, standins, "2.11", "out = [hubfs.load('hy/other', 'version'), hubfs.list('hy/other')[-1]]",
                    tmp_path, stdin="y\n")
    assert out == ["other", "via_importlib"]
    assert open(str(tmp_path / "torchhome-2.11" / "hub" / "trusted_list")).read().split() == ["hy_other"]


def test_trust_warning_is_the_installed_torchs(env, standins, tmp_path, hub_dir):
    """trust_repo=None (the default before 2.11): the warning is the
    installed torch.hub's own text; list/help do not warn."""
    code = ("with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    v = hubfs.load('hy/other', 'version')\n"
            "    n = hubfs.list('hy/other')\n"
            "out = [v, [str(x.message) for x in w]]\n")
    out, _, _ = run(env, standins, "2.3", code, tmp_path)
    assert out == ["other", ["stand-in 2.3: untrusted repository hy_other (load)"]]
    # real torch 1.13: its text (with its unsubstituted {calling_fn})
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        hubfs.load("hy/other", "version")
    msgs = [str(x.message) for x in w if "untrusted" in str(x.message)]
    assert msgs and "change the command to {calling_fn}(..., trust_repo=False)" in msgs[0]


# ---------------------------------------------------------------- fork commits

def test_fork_error_is_the_installed_torchs(env, standins, tmp_path):
    sha = fixtures.FORKED["fork"]
    code = ("s = %r\n"
            "a = err(lambda: hubfs.load('hx/forked:' + s, 'who', trust_repo=True))\n"
            "b = err(lambda: hubfs.list('hx/forked:' + s[:8]))\n"
            "c = err(lambda: hubfs.load('hx/forked:' + s, 'who', trust_repo=True, skip_validation=True))\n"
            "out = [a, b, c]\n" % sha)
    out, _, _ = run(env, standins, "2.3", code, tmp_path)
    assert out == [["ValueError", "stand-in 2.3: cannot find %s in hx/forked, a fork's commit?" % sha],
                   ["ValueError", "stand-in 2.3: cannot find %s in hx/forked, a fork's commit?" % sha[:8]],
                   ["ok", "fork"]]


# ---------------------------------------------------------------- the binder itself (no mount)

def test_source_signatures_equal_the_loaded_modules():
    """list/help read the installed hub.py's def headers without importing
    torch: the same parameters and defaults as the loaded functions (the
    real torch 1.13's hub.py)."""
    import torch.hub
    from hubfs import _torch
    for name in ("list", "help", "load", "load_state_dict_from_url", "download_url_to_file"):
        a = _torch._from_source(torch.hub.__file__, name)
        b = _torch.Sig.of(getattr(torch.hub, name))
        assert a is not None, name
        assert (a.pos, a.posonly, a.kwonly, a.var_pos, a.var_kw, a.defaults) == \
            (b.pos, b.posonly, b.kwonly, b.var_pos, b.var_kw, b.defaults), name


def test_bind_as_python_binds():
    import inspect
    from hubfs import _torch

    def f(a, b=1, *rest, c=2, d, **kw):
        pass

    def g(a, /, b, c=3):
        pass
    calls = [((1,), {"d": 4}), ((1, 2, 3, 4), {"d": 4, "x": 5}), ((), {"a": 1, "d": 2}),
             ((1,), {}), ((1,), {"a": 2, "d": 1}), ((1, 2), {"b": 3, "d": 1})]
    gcalls = [((1, 2), {}), ((1,), {"b": 2}), ((), {"a": 1, "b": 2}), ((1, 2, 3, 4), {}), ((1, 2), {"z": 1})]
    for fn, cs in ((f, calls), (g, gcalls)):
        _torch._sigs[fn.__name__] = _torch.Sig.of(fn)
        try:
            for args, kwargs in cs:
                try:
                    want = inspect.signature(fn).bind(*args, **kwargs)
                    want.apply_defaults()
                    want = dict(want.arguments)
                except TypeError:
                    want = TypeError
                try:
                    got = _torch.bind(fn.__name__, args, kwargs)
                except TypeError:
                    got = TypeError
                assert got == want, (fn.__name__, args, kwargs)
        finally:
            del _torch._sigs[fn.__name__]
