"""Stand-in `torch` packages with torch.hub's signatures and behaviours of
the 2.x releases, for the helper's adapters (torch 2.x cannot be installed
on the test host: Debian 12 ships 1.13).  Written from torch.hub's
documented behaviour at each cut point, not copied from torch:

  2.1   load_state_dict_from_url(..., weights_only=False), passed on to
        torch.load and to _legacy_zip_load's 4th parameter
  2.3   list(..., verbose=True)
  2.6   torch.load's own default weights_only=True (torch.hub still passes
        its own False): a checkpoint that is not plain tensors fails unless
        told weights_only=False
  2.7   the "Downloading" line of load_state_dict_from_url on stdout
  2.11  trust_repo='check' the default of list/help/load

Every stand-in's messages (trust warning and prompt, the fork error) carry
"stand-in <version>", so a test can tell its text from torch 1.13's.  Its
torch.load records what it was told in torch.CALLS and returns a dict
describing the file; its network (_read_url, download_url_to_file) raises.
A test runs the helper in a child whose PYTHONPATH puts the stand-in first.
"""
import os

CUTS = ("2.0", "2.1", "2.3", "2.6", "2.7", "2.11")


def _v(version):
    return tuple(int(x) for x in version.split("."))


INIT = '''"""Stand-in torch {version} for hubfs's tests."""
import os

__version__ = "{version}.0"
CALLS = []
LOAD_WEIGHTS_ONLY_DEFAULT = {wo_default}


def load(f, map_location=None, weights_only=None, **kwargs):
    if weights_only is None:
        weights_only = LOAD_WEIGHTS_ONLY_DEFAULT
    with open(f, "rb") as fh:
        data = fh.read()
    CALLS.append({{"fn": "load", "file": os.path.basename(str(f)), "weights_only": weights_only,
                  "map_location": map_location}})
    if weights_only and b"NONTENSOR" in data:
        raise RuntimeError("stand-in {version}: Weights only load failed")
    return {{"file": os.path.basename(str(f)), "size": len(data), "weights_only": weights_only}}
'''

HUB = '''"""Stand-in torch.hub {version} for hubfs's tests (see torch_standin.py)."""
import json
import os
import sys
import warnings
import zipfile
from urllib.request import Request

import torch

_hub_dir = None
_TRUSTED_REPO_OWNERS = ("facebookresearch", "facebookincubator", "pytorch", "fairinternal")
VERSION = "{version}"


def get_dir():
    if _hub_dir is not None:
        return _hub_dir
    return os.path.join(os.path.expanduser(os.getenv("TORCH_HOME", "~/.cache/torch")), "hub")


def set_dir(d):
    global _hub_dir
    _hub_dir = os.path.expanduser(d)


def _read_url(url):
    raise AssertionError("stand-in torch.hub: no network in tests")


def _validate_not_a_forked_repo(repo_owner, repo_name, ref):
    for kind in ("branches", "tags"):
        url = "https://api.github.com/repos/%s/%s/%s?per_page=100&page=1" % (repo_owner, repo_name, kind)
        for br in json.loads(_read_url(Request(url))):
            if br["name"] == ref or br["commit"]["sha"].startswith(ref):
                return
    raise ValueError("stand-in {version}: cannot find %s in %s/%s, a fork's commit?" % (ref, repo_owner, repo_name))


def _check_repo_is_trusted(repo_owner, repo_name, owner_name_branch, trust_repo, calling_fn="load"):
    hub_dir = get_dir()
    filepath = os.path.join(hub_dir, "trusted_list")
    if not os.path.exists(filepath):
        open(filepath, "a").close()
    with open(filepath) as f:
        trusted = tuple(line.strip() for line in f)
    owner_name = "_".join([repo_owner, repo_name])
    is_trusted = (owner_name in trusted or owner_name_branch in next(os.walk(hub_dir))[1]
                  or repo_owner in _TRUSTED_REPO_OWNERS)
    if trust_repo is None:
        if not is_trusted:
            warnings.warn("stand-in {version}: untrusted repository %s (%s)" % (owner_name, calling_fn))
        return
    if trust_repo is False or (trust_repo == "check" and not is_trusted):
        response = input("stand-in {version}: trust %s (y/N)?" % owner_name)
        if response.lower() in ("y", "yes"):
            pass
        elif response.lower() in ("n", "no", ""):
            raise Exception("Untrusted repository.")
        else:
            raise ValueError("Unrecognized response %s." % response)
    if not is_trusted:
        with open(filepath, "a") as f:
            f.write(owner_name + "\\n")


def list(github, force_reload=False, skip_validation=False, trust_repo={trust}{list_verbose}):
    raise AssertionError("stand-in: hubfs called torch.hub.list")


def help(github, model, force_reload=False, skip_validation=False, trust_repo={trust}):
    raise AssertionError("stand-in: hubfs called torch.hub.help")


def load(repo_or_dir, model, *args, source="github", trust_repo={trust}, force_reload=False, verbose=True,
         skip_validation=False, **kwargs):
    raise AssertionError("stand-in: hubfs called torch.hub.load")


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    raise AssertionError("stand-in torch.hub: no network in tests")


def _is_legacy_zip_format(filename):
    if zipfile.is_zipfile(filename):
        infolist = zipfile.ZipFile(filename).infolist()
        return len(infolist) == 1 and not infolist[0].is_dir()
    return False


def _legacy_zip_load(filename, model_dir, map_location{legacy_wo}):
    with zipfile.ZipFile(filename) as f:
        members = f.infolist()
        f.extractall(model_dir)
        extracted = os.path.join(model_dir, members[0].filename)
    torch.CALLS.append({{"fn": "_legacy_zip_load"}})
    return torch.load(extracted, map_location=map_location{legacy_wo_pass})


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                             file_name=None{lsd_wo}):
    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    cached_file = os.path.join(model_dir, file_name or os.path.basename(url))
    if not os.path.exists(cached_file):
        sys.{stream}.write('Downloading: "%s" to %s\\n' % (url, cached_file))
        download_url_to_file(url, cached_file, None, progress=progress)
    if _is_legacy_zip_format(cached_file):
        return _legacy_zip_load(cached_file, model_dir, map_location{legacy_wo_pass2})
    return torch.load(cached_file, map_location=map_location{load_wo_pass})
'''


def write(root, version):
    """A stand-in torch `version` (one of CUTS) under root/torch-<version>;
    returns the directory to put first on sys.path."""
    v = _v(version)
    d = os.path.join(root, "torch-" + version)
    os.makedirs(os.path.join(d, "torch"), exist_ok=True)
    wo = v >= (2, 1)
    fields = dict(
        version=version,
        wo_default=repr(v >= (2, 6)),
        trust=repr("check") if v >= (2, 11) else "None",
        list_verbose=", verbose=True" if v >= (2, 3) else "",
        legacy_wo=", weights_only" if wo else "",
        legacy_wo_pass=", weights_only=weights_only" if wo else "",
        legacy_wo_pass2=", weights_only" if wo else "",
        lsd_wo=", weights_only=False" if wo else "",
        load_wo_pass=", weights_only=weights_only" if wo else "",
        stream="stdout" if v >= (2, 7) else "stderr",
    )
    with open(os.path.join(d, "torch", "__init__.py"), "w") as f:
        f.write(INIT.format(**fields))
    with open(os.path.join(d, "torch", "hub.py"), "w") as f:
        f.write(HUB.format(**fields))
    return d
