"""Commits no branch or tag reaches: the helper's side of .hub/reachable
(docs/python.md, "Commits no branch or tag reaches")."""
import os

from . import _torch


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8")


_HEX = frozenset("0123456789abcdefABCDEF")
_seen = set()  # commit directories found reachable from a branch or tag


def check(owner, repo, ref, d, sha, skip_validation):
    """torch.hub refuses a ref that is neither a branch, a tag nor a prefix
    of a tip commit (GitHub serves a fork's commits under the upstream's
    name).  A ref given as a commit (hex, a prefix of the commit it names)
    is accepted when the daemon finds it reachable from an advertised branch
    or tag (.hub/reachable); else torch.hub's own error, unless
    skip_validation.  A branch or tag name is published by definition."""
    if skip_validation or ref is None or d in _seen:
        return
    if len(ref) < 7 or not _HEX.issuperset(ref) or not sha.startswith(ref.lower()):
        return
    try:
        verdict = _read(os.path.join(d, ".hub", "reachable")).strip()
    except OSError as e:
        verdict = "unknown %s (reading .hub/reachable: a hubfs daemon of this version is needed)" % (
            os.strerror(e.errno) if e.errno else e)
    word, _, why = verdict.partition(" ")
    if word == "reachable":
        _seen.add(d)
        return
    if word == "unreachable":
        raise _torch.forked_error(owner, repo, ref)
    raise RuntimeError("hubfs: cannot tell whether commit %s is reachable from a branch or tag of %s/%s (%s); "
                       "skip_validation=True loads it without this check" % (sha, owner, repo, why or verdict))
