"""hubfs: torch.hub's API over a hubfs mount.

    import hubfs
    hubfs.list("pytorch/vision:v0.14.1")             # read from the mount, nothing imported
    hubfs.help("pytorch/vision:v0.14.1", "resnet18")
    model = hubfs.load("pytorch/vision:v0.14.1", "resnet18", weights="DEFAULT")

list/help read the daemon's static analysis (.hub/entrypoints/); load imports
the commit's hubconf from the mount in a module namespace of its own (see
_isolate.py) and, while the entrypoint runs, serves its torch.hub weight
downloads through the mount (/.hubfs/url/): one download per file across
processes, verified, shared with torch.hub's checkpoints/.  Pure Python;
torch is needed only by load and the weight functions.  docs/python.md.
"""
# Imports are kept to what `import hubfs; hubfs.list(...)` needs (os, sys,
# errno: ~1 ms); the rest is imported where it is used.
import _thread
import errno
import os
import sys

from . import _published, _torch, _trust
from ._mount import MountError, escape_ref, find_mount, forget_mount, options, url_path

__all__ = ["list", "help", "load", "load_state_dict_from_url", "download_url_to_file", "get_dir",
           "set_dir", "MountError"]
__version__ = "0.1.0"

_builtin_list = list
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_OWNER_CHARS = _ALNUM | {"-"}
_REPO_CHARS = _ALNUM | {"-", "_", "."}


def _valid_owner(s):
    """GitHub's owner names: 1-39 of [A-Za-z0-9-], not starting with '-'."""
    return 0 < len(s) <= 39 and s[0] in _ALNUM and _OWNER_CHARS.issuperset(s)


def _valid_repo(s):
    return 0 < len(s) <= 100 and _REPO_CHARS.issuperset(s) and s not in (".", "..")


def _hash_prefix(name):
    """torch.hub's HASH_REGEX r'-([a-f0-9]*)\\.' searched in name: the hex
    digits, or None."""
    import re
    r = re.search(r"-([a-f0-9]*)\.", name)
    return r.group(1) if r else None
_hub_dir = None


# ------------------------------------------------------------------ repos

def _parse_repo(github):
    """(owner, repo, ref or None) of "owner/repo[:ref]"; ValueError otherwise."""
    if not isinstance(github, str):
        raise ValueError("Invalid input: repo should be a string 'owner/repo[:ref]', got %r" % (github,))
    info, sep, ref = github.partition(":")
    if sep and (not ref or ":" in ref):
        raise ValueError("Invalid repo %r: expected 'owner/repo[:ref]'" % github)
    parts = info.split("/")
    if len(parts) != 2 or not _valid_owner(parts[0]) or not _valid_repo(parts[1]):
        raise ValueError("Invalid repo %r: expected 'owner/repo[:ref]' with a GitHub owner and "
                         "repository name" % github)
    return parts[0], parts[1], (ref if sep else None)


def _commit_dir(github, mount):
    """The mount's directory of the commit github names (resolving the ref)."""
    owner, repo, ref = _parse_repo(github)
    m = find_mount(mount)
    link = os.path.join(m, owner, repo if ref is None else "%s:%s" % (repo, escape_ref(ref)))
    try:
        # the owner directory's links: <repo> -> <repo>:<branch> -> <repo>@<sha>
        # (two readlinks at most; cheaper than realpath's walk of every component)
        name = os.path.basename(link)
        at = repo + "@"
        for _ in range(3):
            if name.startswith(at):
                break
            name = os.readlink(os.path.join(m, owner, name))
        if not name.startswith(at) or "/" in name:
            raise FileNotFoundError(errno.ENOENT, name)
        d = os.path.join(m, owner, name)
        if d not in _seen_commits:
            if not os.path.isdir(d):
                raise FileNotFoundError(errno.ENOENT, d)
            _seen_commits.add(d)
    except FileNotFoundError:
        forget_mount(m)
        find_mount(m)  # unmounted since it was found: MountError, not "no such repo"
        raise ValueError("Cannot find %s%s on the hub (no such repository or ref, or offline "
                         "and not cached)" % ("%s/%s" % (owner, repo), ":" + ref if ref else "")) from None
    except OSError as e:
        raise RuntimeError("hubfs: %s: %s (the daemon logs why)" % (github, os.strerror(e.errno))) from None
    sha = os.path.basename(d).rpartition("@")[2]
    return owner, repo, ref, d, sha


_seen_commits = set()  # commit directories known to exist (a commit's tree never changes)


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8")


def list(*args, mount=None, **kwargs):
    """torch.hub.list(github, force_reload=False, skip_validation=False,
    trust_repo=None[, verbose=True]) -- the installed torch's parameters
    and defaults: the entrypoints of the repo's hubconf, read from the
    mount (the daemon's static analysis; nothing is imported or run).
    force_reload re-resolves a branch now; a trust_repo other than None is
    handled as torch.hub does (None does not warn: no code runs); a commit
    no branch or tag reaches is refused unless skip_validation."""
    a = _torch.bind("list", args, kwargs)
    d = _repo_dir(a["github"], mount, a["force_reload"], a["trust_repo"], "list", a["skip_validation"])
    names = _list_memo.get(d)
    if names is None:
        names = sorted(os.listdir(os.path.join(d, ".hub", "entrypoints")))
        if not names:
            _check_analysis(d)
        else:  # a commit's tree and its analysis never change: remembered
            _list_memo[d] = names
    return _builtin_list(names)


_list_memo = {}  # commit directory -> its entrypoints (non-empty answers only)


def help(*args, mount=None, **kwargs):
    """torch.hub.help(github, model, force_reload=False,
    skip_validation=False, trust_repo=None) (the installed torch's
    parameters): the entrypoint's docstring (None when it has none).
    As torch.hub, a missing dependency of hubconf's `dependencies` is a
    RuntimeError (checked with importlib.util.find_spec, as torch.hub does;
    the repo is not imported)."""
    a = _torch.bind("help", args, kwargs)
    model = a["model"]
    d = _repo_dir(a["github"], mount, a["force_reload"], a["trust_repo"], "help", a["skip_validation"])
    if not isinstance(model, str):
        raise ValueError("Invalid input: model should be a string of function name")
    _check_dependency_names(_dependencies(d))
    try:
        text = _read(os.path.join(d, ".hub", "entrypoints", model, "help"))
    except FileNotFoundError:
        _check_analysis(d)
        raise RuntimeError("Cannot find callable {} in hubconf".format(model)) from None
    return text if text else None


def _repo_dir(github, mount, force_reload, trust_repo, calling_fn, skip_validation):
    """list/help: the commit directory, re-resolved when force_reload, with
    an explicit trust_repo checked as torch.hub does, and refused when no
    branch or tag reaches it (unless skip_validation)."""
    owner, repo, ref, d, sha = _commit_dir(github, mount)
    if trust_repo is not None:
        _check_trusted(owner, repo, lambda: _branch_of(owner, repo, ref, mount), trust_repo, calling_fn)
    if force_reload:
        d, sha = _force_resolve(owner, repo, ref, mount, d, sha)
    _published.check(owner, repo, ref, d, sha, skip_validation)
    return d


def _dependencies(d):
    """hubconf's `dependencies` as the daemon read it (.hub/dependencies)."""
    try:
        return [n for n in _read(os.path.join(d, ".hub", "dependencies")).splitlines() if n]
    except FileNotFoundError:
        return []


def _check_analysis(d):
    """A hubconf the daemon could not analyse: say why, as importing would."""
    try:
        errors = _read(os.path.join(d, ".hub", "errors")).strip()
    except OSError:
        return
    if errors and not os.listdir(os.path.join(d, ".hub", "entrypoints")):
        raise RuntimeError("hubfs: hubconf.py of %s could not be analysed:\n%s" % (d, errors))


# ------------------------------------------------------------------ trust

def get_dir():
    """torch.hub.get_dir: set_dir's value, else $TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub (hubfs's default cache)."""
    if _hub_dir is not None:
        return _hub_dir
    torch_hub = sys.modules.get("torch.hub")
    if torch_hub is not None:
        return torch_hub.get_dir()
    if os.getenv("TORCH_HOME"):
        return os.path.join(os.path.expanduser(os.getenv("TORCH_HOME")), "hub")
    xdg = os.getenv("XDG_CACHE_HOME") or "~/.cache"
    return os.path.join(os.path.expanduser(xdg), "torch", "hub")


def set_dir(d):
    """torch.hub.set_dir, for hubfs and (when imported) torch.hub alike."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))
    torch_hub = sys.modules.get("torch.hub")
    if torch_hub is not None:
        torch_hub.set_dir(_hub_dir)


_trusted_seen = set()  # (hub_dir, owner_repo) found or made trusted in this process


def _branch_of(owner, repo, ref, mount):
    """The ref torch.hub would name the cache directory after: ref, else the
    remote's default branch (the mount's <repo> -> <repo>:<branch> link;
    torch.hub guesses main, else master)."""
    if ref is not None:
        return ref
    try:
        target = os.readlink(os.path.join(find_mount(mount), owner, repo))
    except OSError:
        return "main"
    name, sep, branch = target.partition(":")
    return _unescape_ref(branch) if sep and name == repo else "main"


def _unescape_ref(s):
    return s.replace("%2F", "/").replace("%2f", "/").replace("%25", "%")


def _check_trusted(owner, repo, branch, trust_repo, calling_fn="load"):
    """torch.hub's trust rules on <get_dir()>/trusted_list (_trust.py)."""
    _trust.check(owner, repo, branch, trust_repo, calling_fn, get_dir(), _trusted_seen)


# ------------------------------------------------------------------ load

def _check_dependency_names(deps):
    import importlib.util
    missing = [p for p in deps if importlib.util.find_spec(p) is None]
    if missing:
        raise RuntimeError("Missing dependencies: {}".format(", ".join(missing)))


def _check_dependencies(m):
    deps = getattr(m, "dependencies", None)
    if deps is not None:
        _check_dependency_names(deps)


def _entry(hub_module, model):
    if not isinstance(model, str):
        raise ValueError("Invalid input: model should be a string of function name")
    _check_dependencies(hub_module)
    func = getattr(hub_module, model, None)
    if func is None or not callable(func):
        raise RuntimeError("Cannot find callable {} in hubconf".format(model))
    return func


def _space_of(directory, key):
    if key is None or key not in _hubconf_seen:
        if not os.path.isfile(os.path.join(directory, "hubconf.py")):
            raise FileNotFoundError(errno.ENOENT, "No hubconf.py in %s" % directory)
        if key is not None:
            _hubconf_seen.add(key)
    from ._isolate import space_for
    return space_for(directory, key)


_hubconf_seen = set()  # commits whose hubconf.py is known to exist


def load(*args, mount=None, **kwargs):
    """torch.hub.load(repo_or_dir, model, *args, source='github',
    trust_repo=None, force_reload=False, verbose=True,
    skip_validation=False, **kwargs) -- the installed torch's parameters
    and defaults -- the repo imported from the mount in its own module
    namespace; its torch.hub weight downloads go through the mount."""
    a = _torch.bind("load", args, kwargs)
    sig = _torch.signature("load")
    var_pos, var_kw = sig.var_pos, sig.var_kw
    repo_or_dir, model = a["repo_or_dir"], a["model"]
    entry_args = a.get(var_pos, ()) if var_pos else ()
    entry_kwargs = a.get(var_kw, {}) if var_kw else {}
    source, trust_repo, force_reload = a["source"], a["trust_repo"], a["force_reload"]
    source = source.lower()
    if source not in ("github", "local"):
        raise ValueError('Unknown source: "{}". Allowed values: "github" | "local".'.format(source))
    if source == "github":
        owner, repo, ref, d, sha = _commit_dir(repo_or_dir, mount)
        if force_reload:
            d, sha = _force_resolve(owner, repo, ref, mount, d, sha)
        _torch.hub_module()  # its trust rules are the ones to follow (None: no torch, hubfs's own)
        _check_trusted(owner, repo, lambda: _branch_of(owner, repo, ref, mount), trust_repo, "load")
        _published.check(owner, repo, ref, d, sha, a["skip_validation"])
        key, m = sha, find_mount(mount)
    else:
        d, key = repo_or_dir, None
        try:
            m = find_mount(mount)
        except MountError:
            if mount is not None:
                raise
            m = None  # a local directory and no mount: weights as torch.hub fetches them
    from ._isolate import activate
    space = _space_of(d, key)
    saved_path = _builtin_list(sys.path)
    try:
        with _routed(m, d if source == "github" else None), activate(space):
            entry = _entry(space.import_module("hubconf"), model)
            return entry(*entry_args, **entry_kwargs)
    finally:
        if sys.path != saved_path:
            sys.path[:] = saved_path  # whatever the repo's code did to it


def _force_resolve(owner, repo, ref, mount, d, sha):
    """force_reload: the daemon resolves the ref now, not after ref_ttl
    (/.hubfs/resolve/).  A tag or commit is immutable: nothing is refetched."""
    m = find_mount(mount)
    name = "%s%%2F%s" % (owner, repo if ref is None else "%s:%s" % (repo, escape_ref(ref)))
    try:
        new = _read(os.path.join(m, ".hubfs", "resolve", name)).strip()
    except OSError as e:
        raise RuntimeError("hubfs: cannot re-resolve %s/%s%s: %s" % (
            owner, repo, ":" + ref if ref else "", os.strerror(e.errno))) from None
    return os.path.join(m, owner, "%s@%s" % (repo, new)), new


# ------------------------------------------------------------------ weights

_route_lock = _thread.RLock()  # guards the four below
_route_depth = 0               # loads running, in every thread
_route_saved = {}              # (module, attr) -> torch's function, while _route_depth > 0
_route_last = None             # the last sys.modules key when the routing began
_route_tls = _thread._local()  # .mounts: this thread's stack of mounts of running loads
_route_all = []                # the mounts of running loads, every thread's, in entry order
_route_dirs = []               # their commit directories (None for source="local"), same order


def _torch_targets():
    """(module, attribute) pairs through which code reaches torch.hub's
    download functions (torch.hub itself, model_zoo, torchvision's copy)."""
    out = []
    th = sys.modules.get("torch.hub")
    if th is None:
        return out
    for name in ("load_state_dict_from_url", "download_url_to_file", "load"):
        out.append((th, name))
    mz = sys.modules.get("torch.utils.model_zoo")
    if mz is not None and hasattr(mz, "load_url"):
        out.append((mz, "load_url"))
    for modname in ("torchvision._internally_replaced_utils", "torchvision.models._utils",
                    "torchvision.models._api"):
        tv = sys.modules.get(modname)
        if tv is not None and hasattr(tv, "load_state_dict_from_url"):
            out.append((tv, "load_state_dict_from_url"))
    return out


def _new_modules(last):
    """Names added to sys.modules after the key `last` (a dict keeps
    insertion order; when last is gone, every name: a superset)."""
    out = []
    for name in reversed(_builtin_list(sys.modules)):
        if name == last:
            break
        out.append(name)
    return out


def _unbind_new_modules(names):
    """Modules first imported while the routing was in place (torchvision,
    say, imported by a hubconf) bound hubfs's replacements with `from
    torch.hub import ...`: give them torch.hub's functions back.  The repo's
    own modules (_hubfs_*) keep hubfs's versions (docs/python.md)."""
    originals = {}
    for (mod, attr), v in _route_saved.items():
        originals.setdefault(id(_REPLACEMENTS[attr]), v)
    for name in names:
        if name.startswith("_hubfs_"):
            continue
        d = getattr(sys.modules.get(name), "__dict__", None)
        if not isinstance(d, dict):
            continue
        for k, v in _builtin_list(d.items()):
            o = originals.get(id(v))
            if o is not None:
                d[k] = o


class _routed:
    """While the block runs, torch.hub's downloads go through the mount;
    afterwards every patched attribute is what it was.  Nested loads (a repo
    whose entrypoint calls torch.hub.load) share one routing; each thread
    sees the mount of its own innermost load."""

    def __init__(self, mount, commit_dir=None):
        self.mount = mount
        self.commit_dir = commit_dir

    def __enter__(self):
        global _route_depth, _route_last
        if self.mount is None:
            return self
        if "torch.hub" not in sys.modules or "torch.utils.model_zoo" not in sys.modules:
            try:
                import torch.hub  # noqa: F401 (load needs torch anyway)
                import torch.utils.model_zoo  # noqa: F401
            except ImportError:
                pass
        with _route_lock:
            stack = getattr(_route_tls, "mounts", None)
            if stack is None:
                stack = _route_tls.mounts = []
            stack.append(self.mount)
            _route_all.append(self.mount)
            _route_dirs.append(self.commit_dir)
            _route_depth += 1
            if _route_depth == 1:
                _route_last = next(reversed(sys.modules), None)
                for mod, attr in _torch_targets():
                    _route_saved[(mod, attr)] = getattr(mod, attr)
                    setattr(mod, attr, _REPLACEMENTS[attr])
        return self

    def __exit__(self, *exc):
        global _route_depth, _route_last
        if self.mount is None:
            return False
        with _route_lock:
            _route_tls.mounts.pop()
            _route_all.remove(self.mount)
            _route_dirs.remove(self.commit_dir)
            _route_depth -= 1
            if _route_depth == 0:
                for (mod, attr), v in _route_saved.items():
                    setattr(mod, attr, v)
                if next(reversed(sys.modules), None) != _route_last:
                    _unbind_new_modules(_new_modules(_route_last))
                _route_saved.clear()
                _route_last = None
        return False


def _current_mount():
    """The mount of this thread's innermost load; in a thread an entrypoint
    started (download workers), the latest load's of any thread."""
    stack = getattr(_route_tls, "mounts", None)
    if stack:
        return stack[-1]
    with _route_lock:
        return _route_all[-1] if _route_all else None


def _routed_load_state_dict(*args, **kwargs):
    return load_state_dict_from_url(*args, mount=_current_mount(), **kwargs)


def _routed_download(*args, **kwargs):
    return download_url_to_file(*args, mount=_current_mount(), **kwargs)


def _routed_hub_load(*args, **kwargs):
    return load(*args, mount=_current_mount(), **kwargs)


def _original(th, name):
    with _route_lock:
        return _route_saved.get((th, name)) or getattr(th, name, None)


_torch.original = _original

_REPLACEMENTS = {"load_state_dict_from_url": _routed_load_state_dict, "load_url": _routed_load_state_dict,
                 "download_url_to_file": _routed_download, "load": _routed_hub_load}


def _mount_for_weights(mount):
    try:
        return find_mount(mount)
    except MountError:
        if mount is not None:
            raise
        return None


def _copy_verified(src, dst, hash_prefix=None, before_rename=None):
    """src (a mounted weight file) to dst: temp file, fsync, rename.
    before_rename: called once every byte is copied (hubfs's verification)."""
    import hashlib
    import tempfile
    dst = os.path.expanduser(dst)
    d = os.path.dirname(os.path.abspath(dst))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(dst) + ".", suffix=".partial", dir=d)
    try:
        sha = hashlib.sha256() if hash_prefix else None
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                if sha:
                    sha.update(b)
                out.write(b)
            out.flush()
            os.fsync(out.fileno())
        if sha:
            digest = sha.hexdigest()
            if digest[:len(hash_prefix)] != hash_prefix:
                raise RuntimeError('invalid hash value (expected "{}", got "{}")'.format(hash_prefix, digest))
        if before_rename is not None:
            before_rename()
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask():
    u = os.umask(0)
    os.umask(u)
    return u


_mount_caches = {}


def _mount_cache(m):
    """The mount's cache root (/.hubfs/options), read once per mount point."""
    c = _mount_caches.get(m)
    if c is None:
        c = _mount_caches[m] = options(m).get("cache") or ""
    return c


_weight_paths = {}  # (mount, url) -> the mounted file that is url, when not under /.hubfs/url


def _wpath(mount, url):
    return _weight_paths.get((mount, url)) or url_path(mount, url)


def _in_loaded_commits(mount, url):
    """url as a weight file of a commit being loaded (its .hub/weights/, the
    file whose user.hubfs.url is url): the way to it for a user the daemon
    does not let use /.hubfs/url (url_access=owner on a shared mount)."""
    with _route_lock:
        dirs = [d for d in reversed(_route_dirs) if d and d.startswith(mount + os.sep)]
    for d in dirs:
        w = os.path.join(d, ".hub", "weights")
        try:
            names = os.listdir(w)
        except OSError:
            continue
        for n in names:
            p = os.path.join(w, n)
            try:
                if os.getxattr(p, "user.hubfs.url").decode() == url:
                    return p
            except OSError:
                continue
    return None


def _open_weight(mount, url):
    """The mounted path of url and its size, with a clear error for what the
    daemon refuses."""
    p = url_path(mount, url)
    try:
        size = os.stat(p).st_size
    except PermissionError as e:
        q = _in_loaded_commits(mount, url)
        if q is None:
            raise PermissionError(e.errno, "hubfs: %s: %s: this mount lets only its owner read any URL "
                                  "(url_access=owner), and no repo being loaded names it"
                                  % (url, os.strerror(e.errno))) from None
        p, size = q, os.stat(q).st_size
        _weight_paths[(mount, url)] = p
    except OSError as e:
        raise OSError(e.errno, "hubfs: %s: %s (see %s/.hubfs/downloads and the daemon's log)"
                      % (url, os.strerror(e.errno), mount)) from None
    return p, size


def _weight_state(path):
    """The daemon's verdict on a mounted weight file, per URL (getxattr
    user.hubfs.state): ("complete", None), ("failed", reason), ("pending",
    None); (None, None) when the daemon does not say (an older hubfs)."""
    try:
        v = os.getxattr(path, "user.hubfs.state").decode("ascii", "replace")
    except OSError:
        return None, None
    word, _, rest = v.partition(" ")
    return word, (rest or None)


def _download_line(mount, name):
    """(done, total, failure reason) of name in /.hubfs/downloads."""
    try:
        text = _read(os.path.join(mount, ".hubfs", "downloads"))
    except OSError:
        return None, None, None
    for line in text.splitlines():
        f = line.split(" ")
        if f[0] == "failed" and len(f) >= 3 and f[1] == name:
            return None, None, f[2]
        if len(f) >= 5 and f[0] == name and f[1].isdigit():
            return int(f[1]), int(f[2]), None
    return None, None, None


class _progress:
    """torch.hub's 'Downloading: ...' line and progress bar (stderr), drawn
    from the daemon's /.hubfs/downloads while the block reads a weight file
    the mount has not finished downloading.  The block's read is what makes
    the daemon download; this only watches."""

    def __init__(self, mount, url, name, total, enabled):
        self.mount, self.url, self.name, self.total, self.enabled = mount, url, name, total, enabled
        self.bar = self.thread = None

    def __enter__(self):
        cache = _mount_cache(self.mount)
        done_file = cache and os.path.join(cache, "checkpoints", self.name)
        if _weight_state(_wpath(self.mount, self.url))[0] == "complete":
            return self  # complete in the cache: nothing to show (torch.hub neither)
        th = sys.modules.get("torch.hub")
        out = _torch.writes_to(_original(th, "load_state_dict_from_url")) if th is not None else sys.stderr
        out.write('Downloading: "{}" to {}\n'.format(self.url, done_file or url_path(self.mount, self.url)))
        if not self.enabled:
            return self
        try:
            from torch.hub import tqdm
        except ImportError:
            return self
        import threading
        self.stop = threading.Event()
        self.bar = tqdm(total=self.total, unit="B", unit_scale=True, unit_divisor=1024)
        self.thread = threading.Thread(target=self._watch, name="hubfs-progress", daemon=True)
        self.thread.start()
        return self

    def _watch(self):
        while not self.stop.wait(0.1):
            done, _, _ = _download_line(self.mount, self.name)
            if done is not None and done > self.bar.n:
                self.bar.update(done - self.bar.n)

    def __exit__(self, etype, e, tb):
        if self.bar is not None:
            self.stop.set()
            self.thread.join()
            if etype is None and self.bar.n < self.total:
                self.bar.update(self.total - self.bar.n)
            self.bar.close()
        return False


VERIFY_WAIT_S = 600.0  # a read can finish before the daemon has hashed the last bytes


def _await_verified(mount, url, name):
    """With verify=stream a reader may have every byte of a `name-<hex>.ext`
    file before the daemon has checked its sha256; wait for the daemon's
    verdict on this URL's file (user.hubfs.state: complete or failed) so that
    no model is built from unverified bytes."""
    import time
    if not _hash_prefix(name):
        return
    path = _wpath(mount, url)
    deadline = time.monotonic() + VERIFY_WAIT_S
    delay = 0.002
    while True:
        state, reason = _weight_state(path)
        if state == "complete":
            return
        if state == "failed":
            raise RuntimeError('hubfs: %s failed verification (%s): the daemon discarded it; see %s/.hubfs/downloads '
                               "and the daemon's log" % (url, reason, mount))
        if state is None:
            raise RuntimeError("hubfs: %s: the daemon at %s tells no verdict (user.hubfs.state); "
                               "this helper needs the hubfs of the same version" % (url, mount))
        if time.monotonic() > deadline:
            raise RuntimeError("hubfs: %s: no verification verdict after %.0f s" % (url, VERIFY_WAIT_S))
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _read_error(mount, url, name, e):
    """An OSError reading a mounted weight file, with the daemon's reason."""
    state, reason = _weight_state(_wpath(mount, url))
    if state != "failed":
        reason = None
    return OSError(e.errno, "hubfs: %s: %s%s (see %s/.hubfs/downloads and the daemon's log)" % (
        url, os.strerror(e.errno) if e.errno else e, " (%s)" % reason if reason else "", mount))


def download_url_to_file(*args, mount=None, **kwargs):
    """torch.hub.download_url_to_file(url, dst, hash_prefix=None,
    progress=True) (the installed torch's parameters) through the mount:
    the bytes are those the daemon downloaded once (and verified when the
    name says a hash)."""
    from urllib.parse import urlparse
    m = _mount_for_weights(mount)
    if m is None:
        import torch.hub
        return _route_saved.get((torch.hub, "download_url_to_file"),
                                torch.hub.download_url_to_file)(*args, **kwargs)
    a = _torch.bind("download_url_to_file", args, kwargs, import_it=True)
    url, dst, hash_prefix, progress = a["url"], a["dst"], a.get("hash_prefix"), a.get("progress", True)
    src, size = _open_weight(m, url)
    name = os.path.basename(urlparse(url).path)
    try:
        with _progress(m, url, name, size, progress):
            _copy_verified(src, dst, hash_prefix, lambda: _await_verified(m, url, name))
    except OSError as e:
        if e.errno in (errno.EIO, errno.ENOENT, errno.ETIMEDOUT, errno.EAGAIN):
            raise _read_error(m, url, name, e) from None
        raise


def load_state_dict_from_url(*args, mount=None, **kwargs):
    """torch.hub.load_state_dict_from_url(url, model_dir=None,
    map_location=None, progress=True, check_hash=False, file_name=None
    [, weights_only=False]) (the installed torch's parameters) through the
    mount.  A file already at model_dir/file_name is loaded as torch.hub
    would, unless that is the mount's own <cache>/checkpoints/<url basename>
    (torch.hub's default): that name may hold another URL's file, so the
    file is always read through the mount, where the daemon keeps one file
    per URL (streamed, verified, one download per host); with another
    model_dir or file_name it is copied there once (temp file, rename), its
    hash checked when check_hash.  torch.load is told what torch.hub tells
    it (weights_only, where the installed torch.hub has it)."""
    import torch
    import torch.hub as th
    from urllib.parse import urlparse
    m = _mount_for_weights(mount)
    if m is None:
        orig = _route_saved.get((th, "load_state_dict_from_url"), th.load_state_dict_from_url)
        return orig(*args, **kwargs)
    a = _torch.bind("load_state_dict_from_url", args, kwargs, import_it=True)
    url, model_dir, map_location = a["url"], a.get("model_dir"), a.get("map_location")
    progress, check_hash, file_name = a.get("progress", True), a.get("check_hash", False), a.get("file_name")
    load_kw = {"weights_only": a["weights_only"]} if "weights_only" in a else {}
    url_name = os.path.basename(urlparse(url).path)
    name = url_name if file_name is None else file_name
    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    cached = os.path.join(model_dir, name)
    mount_cache = _mount_cache(m)
    # the mount's own checkpoints/<name> may hold another URL's file of that
    # name (torch.hub's collision): the daemon, which stores by URL, decides
    own = bool(mount_cache and name == url_name and os.path.realpath(
        os.path.join(mount_cache, "checkpoints", name)) == os.path.realpath(cached))
    if os.path.exists(cached) and not own:
        path = cached
    else:
        src, size = _open_weight(m, url)
        try:
            with _progress(m, url, url_name, size, progress):
                if own:  # the daemon's own file: torch reads it through the mount
                    sd = _torch.load_path(th, torch, src, model_dir, map_location, load_kw)
                    _await_verified(m, url, url_name)
                    return sd
                hp = None
                if check_hash:
                    hp = _hash_prefix(name)
                _copy_verified(src, cached, hp, lambda: _await_verified(m, url, url_name))
                path = cached
        except OSError as e:
            if e.errno in (errno.EIO, errno.ENOENT, errno.ETIMEDOUT, errno.EAGAIN):
                raise _read_error(m, url, url_name, e) from None
            raise
    return _torch.load_path(th, torch, path, model_dir, map_location, load_kw)
