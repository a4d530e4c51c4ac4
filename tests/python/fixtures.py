"""Fixture repositories of the Python helper's tests (our own, built with
make_repos's fast-import Stream): two refs of one repo and a second repo that
all have a top-level `models` package and `utils` module of their own, an
entrypoint that imports lazily, one with weights, one with a missing
dependency."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fixtures"))
import make_repos  # noqa: E402
from make_repos import Stream, _t, init_bare  # noqa: E402

W_HOST = "https://weights.invalid/w/"

HUBCONF = '''"""Zoo {tag}: hubfs helper test fixture."""
import utils
from models import build_net

dependencies = ['torch']


def net(pretrained=False, width=8):
    """A small net of zoo {tag}.

    pretrained (bool): load the weights of {weight}
    """
    m = build_net(width)
    if pretrained:
        import torch.hub
        sd = torch.hub.load_state_dict_from_url("{url}", progress=False)
        m.load_state_dict(sd)
    m.zoo_version = utils.VERSION
    return m


def version():
    """The models package this commit sees."""
    import models
    return models.VERSION


def lazy():
    """A function that imports a repo module only when called."""
    def later():
        from models.late import WHO
        return WHO
    return later


def nested(**kwargs):
    """An entrypoint that loads another hub repo (as dino -> xcit)."""
    import torch.hub
    return torch.hub.load("{nested}", "version", trust_repo=True)


def net_in_thread():
    """Loads its weights from a thread it starts (as download workers do)."""
    import threading
    import torch.hub
    out = []
    t = threading.Thread(target=lambda: out.append(torch.hub.load_state_dict_from_url("{url}", progress=False)))
    t.start()
    t.join()
    m = build_net(8)
    m.load_state_dict(out[0])
    return m


def via_importlib():
    """Imports repo modules by name with importlib."""
    import importlib
    import importlib.util
    from importlib import import_module
    assert importlib.util.find_spec("os") is not None
    return importlib.import_module("models.late").WHO, import_module("models").VERSION


def unpickle():
    """torch.load of a checkpoint that names a repo object by its plain
    module path (as yolov5's checkpoints name models.yolo.Model)."""
    import os
    import torch
    return torch.load(os.path.join(os.path.dirname(__file__), "plain.pt"))


def touch_path():
    """Adds its own directory to sys.path while it runs, as some repos do."""
    import os
    import sys
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    return len(sys.path)


def _private():
    return 0
'''

MODELS = '''"""models of zoo {tag}."""
VERSION = "{tag}"


def build_net(width):
    import torch
    import torch.nn as nn
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3))
'''


def plain_checkpoint():
    """A torch zip checkpoint whose pickle refers to `models.late.WHO` by
    that plain name (torch.save would write the namespaced name)."""
    import io
    import zipfile
    import torch
    buf = io.BytesIO()
    torch.save({}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as w:
        for i in src.infolist():
            data = src.read(i.filename)
            if i.filename.endswith("/data.pkl"):
                data = b"\x80\x02cmodels.late\nWHO\nq\x00."
            w.writestr(i.filename, data)
    return out.getvalue()


_PLAIN = []


def zoo_files(tag, weight, nested):
    if not _PLAIN:
        _PLAIN.append(plain_checkpoint())
    return {
        "plain.pt": _PLAIN[0],
        "hubconf.py": HUBCONF.format(tag=tag, weight=weight, url=W_HOST + weight, nested=nested),
        "models/__init__.py": MODELS.format(tag=tag),
        "models/late.py": 'WHO = "late {tag}"\n'.format(tag=tag),
        "utils.py": 'VERSION = "utils {tag}"\n'.format(tag=tag),
    }


def make(base, weight):
    """hx/zoo (main and v2), hy/other (main), hx/deps (main).  weight: the
    name of the weight file every `net` loads (served by the test)."""
    out = {}
    p = init_bare(base, "hx", "zoo", "main")
    s = Stream()
    c1 = s.commit("refs/heads/main", zoo_files("zoo-main", weight, "hy/other"), "zoo main", *_t(70))
    s.commit("refs/heads/v2", zoo_files("zoo-v2", weight, "hy/other"), "zoo v2", *_t(71), parent=c1)
    s.run(p)
    out["hx/zoo"] = p
    p = init_bare(base, "hy", "other", "main")
    s = Stream()
    s.commit("refs/heads/main", zoo_files("other", weight, "hx/zoo:v2"), "other", *_t(72))
    s.run(p)
    out["hy/other"] = p
    p = init_bare(base, "hx", "deps", "main")
    s = Stream()
    s.commit("refs/heads/main", {
        "hubconf.py": "dependencies = ['torch', 'no_such_package_hubfs_xyz']\n\n\n"
                      "def thing():\n    \"\"\"Needs a package nobody has.\"\"\"\n    return 1\n"},
        "deps", *_t(73))
    s.run(p)
    out["hx/deps"] = p
    p = init_bare(base, "hz", "needs", "master")
    s = Stream()
    s.commit("refs/heads/master", {
        "hubconf.py": "dependencies = ['torch', 'no_such_package_hubfs_a', 'no_such_package_hubfs_b']\n\n\n"
                      "def thing():\n    \"\"\"Needs packages nobody has.\"\"\"\n    return 1\n"},
        "needs", *_t(74))
    s.commit("refs/heads/third", {
        "hubconf.py": "dependencies = ['torch']\n\n\n"
                      "def third():\n    \"\"\"Imports a third-party module that binds torch.hub's function.\"\"\"\n"
                      "    import hubfs_test_thirdparty\n    return hubfs_test_thirdparty\n"},
        "third", *_t(75))
    s.run(p)
    out["hz/needs"] = p
    p = init_bare(base, "hx", "paths", "main")
    s = Stream()
    c = s.commit("refs/heads/main", paths_files("p1"), "paths main", *_t(76))
    s.commit("refs/heads/v2", paths_files("p2"), "paths v2", *_t(77), parent=c)
    s.run(p)
    out["hx/paths"] = p
    # hx/forked: a commit in the object store that no branch or tag reaches,
    # as GitHub serves a fork's commit under the upstream's name (git daemon
    # sends it: uploadpack.allowAnySHA1InWant), beside main's tip and an
    # ancestor of it, and a tag on the ancestor's parent
    p = init_bare(base, "hx", "forked", "main")
    s = Stream()
    root = s.commit("refs/heads/main", forked_files("root"), "forked root", *_t(78))
    old = s.commit("refs/heads/main", forked_files("old"), "forked old", *_t(79), parent=root)
    tip = s.commit("refs/heads/main", forked_files("tip"), "forked tip", *_t(80), parent=old)
    fork = s.commit("refs/heads/fork-only", forked_files("fork"), "fork only", *_t(81), parent=tip)
    marks = s.run(p)
    make_repos.git(p, "update-ref", "-d", "refs/heads/fork-only")
    make_repos.git(p, "tag", "v0", marks[root])
    FORKED.update(root=marks[root], old=marks[old], tip=marks[tip], fork=marks[fork])
    out["hx/forked"] = p
    return out


FORKED = {}  # hx/forked: name -> commit id (root: tag v0, old: an ancestor of main, tip, fork)


def forked_files(tag):
    return {"hubconf.py": "dependencies = []\n\n\ndef who():\n    \"\"\"Which commit this is.\"\"\"\n"
                          "    return %r\n" % tag}


PATHS_HUBCONF = '''"""A repo that puts directories of its own tree on sys.path."""
import os
import sys

dependencies = []
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
from mylib import NAME  # noqa: E402  (src/mylib/__init__.py)


def name():
    """mylib.NAME and mylib.layers.LAYER of this commit."""
    from mylib.layers import LAYER
    return NAME, LAYER


def later():
    """A function that imports from src/ when called, after load."""
    def f():
        import mylib.late
        from other_mod import OTHER
        return mylib.late.LATE, OTHER
    return f
'''


def paths_files(tag):
    return {
        "hubconf.py": PATHS_HUBCONF,
        "src/mylib/__init__.py": "NAME = 'mylib {0}'\n".format(tag),
        "src/mylib/layers.py": "from mylib import NAME\nLAYER = 'layer of ' + NAME\n",
        "src/mylib/late.py": "LATE = 'late {0}'\n".format(tag),
        "src/other_mod.py": "OTHER = 'other {0}'\n".format(tag),
    }


def export(gitdir, ref, dest):
    """The tree of ref as files in dest (torch.hub's cache layout)."""
    import io
    import tarfile
    data = make_repos.git(gitdir, "archive", "--format=tar", ref)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(dest)
