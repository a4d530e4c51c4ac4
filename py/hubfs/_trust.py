"""Trust (docs/python.md, "Trust"): the installed torch.hub's own
_check_repo_is_trusted when torch.hub is imported (its prompt, warning text
and default), else torch 1.13's rules and texts, on the same trusted_list
file; repos found trusted are remembered per process and hub dir."""
import os
import sys

from . import _torch

_TRUSTED_OWNERS = ("facebookresearch", "facebookincubator", "pytorch", "fairinternal")


def check(owner, repo, branch, trust_repo, calling_fn, hub_dir, seen):
    """torch.hub's trust rules, on the same <hub_dir>/trusted_list.  branch:
    a function giving the ref as torch.hub names its cache directory after it
    (called only when the trusted_list is read); seen: the (hub_dir, owner,
    repo) found or made trusted in this process (not read again)."""
    if (hub_dir, owner, repo) in seen and trust_repo is not False:
        return
    os.makedirs(hub_dir, exist_ok=True)
    path = os.path.join(hub_dir, "trusted_list")
    try:
        with open(path) as f:
            trusted = tuple(line.strip() for line in f)
    except FileNotFoundError:
        open(path, "a").close()
        trusted = ()
    owner_name = "_".join([owner, repo])
    legacy = next(os.walk(hub_dir))[1]
    owner_name_branch = "_".join([owner, repo, branch().replace("/", "_")])
    th = sys.modules.get("torch.hub")
    is_trusted = (owner_name in trusted or owner_name_branch in legacy
                  or owner in getattr(th, "_TRUSTED_REPO_OWNERS", _TRUSTED_OWNERS))
    if is_trusted:
        seen.add((hub_dir, owner, repo))
    theirs = getattr(th, "_check_repo_is_trusted", None)
    if theirs is not None and all(_torch.has_param(theirs, p) for p in ("trust_repo", "calling_fn")):
        # the installed torch.hub's own rules, prompt and warning, on hubfs's hub dir
        _torch.with_globals(theirs, get_dir=lambda: hub_dir)(
            owner, repo, owner_name_branch, trust_repo=trust_repo, calling_fn=calling_fn)
        if trust_repo is not None:
            seen.add((hub_dir, owner, repo))
        return
    if trust_repo is None:
        if not is_trusted:
            # torch 1.13's text, byte for byte (its first {calling_fn} is not substituted)
            import warnings
            warnings.warn(
                "You are about to download and run code from an untrusted repository. In a future release, this "
                "won't be allowed. To add the repository to your trusted list, change the command to {calling_fn}"
                "(..., trust_repo=False) and a command prompt will appear asking for an explicit confirmation of "
                "trust, or %s(..., trust_repo=True), which will assume that the prompt is to be answered with "
                "'yes'. You can also use %s(..., trust_repo='check') which will only prompt for confirmation if "
                "the repo is not already trusted. This will eventually be the default behaviour"
                % (calling_fn, calling_fn))
        return
    if trust_repo is False or (trust_repo == "check" and not is_trusted):
        response = input(
            "The repository {} does not belong to the list of trusted repositories and as such cannot be "
            "downloaded. Do you trust this repository and wish to add it to the trusted list of "
            "repositories (y/N)?".format(owner_name))
        if response.lower() in ("y", "yes"):
            if is_trusted:
                print("The repository is already trusted.")
        elif response.lower() in ("n", "no", ""):
            raise Exception("Untrusted repository.")
        else:
            raise ValueError("Unrecognized response {}.".format(response))
    if not is_trusted:
        with open(path, "a") as f:
            f.write(owner_name + "\n")
    seen.add((hub_dir, owner, repo))
