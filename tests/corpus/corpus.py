"""The development corpus: real hub repositories and torch.hub's answers.

DESIGN
  The corpus (outside this project: ../shared/corpus next to the checkout,
  or HUBFS_CORPUS) holds one git bundle per real repository and truth.json,
  what the real torch.hub (Debian's torch 1.13, offline) answered for each:
  entrypoints, help texts and the URLs each entrypoint downloads when called
  as entrypoint(pretrained=True) (or with no arguments), traced; a
  `with_timm` block gives the answers with the corpus's own
  pytorch-image-models tree on the import path.  Nothing of it is copied
  into the project: this module reads it in place.

  Two ways of getting hubfs's answers, one comparison:
    mounted()   the user's path: the bundles cloned bare under a work dir,
                served by `git daemon` on loopback, hubfs mounted with a
                rewrite of github.com to it, `.hub/` read through the mount
                (entrypoints/, help, weights/ with each file's
                user.hubfs.url).  Cold time: the first listing of
                `.hub/entrypoints` of a fetched commit (the analysis runs
                then); warm: the median second `cat help` of its entrypoints.
    direct()    the analyser package in this interpreter over checked-out
                trees (the development loop; no mount, no daemon).
  score() compares one repository's answers with truth.json.

  Scoring (docs/analysis.md, "Real repositories"):
    entrypoints exact   the set equals torch.hub.list()'s, for repositories
                        where list succeeded (with the analyser given the
                        timm tree for the with_timm ones);
    help equal          per entrypoint both list, the bytes are equal;
    weights             per entrypoint that the tracer ran: the truth is the
                        files asked for in the first and the continued pass;
                        ours the names in the entrypoint's weights/ (both
                        by URL basename, hubfs's ~hash suffix dropped).
                        recall = found / truth, precision = found / listed,
                        summed over all of them.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def corpus_dir():
    env = os.environ.get('HUBFS_CORPUS')
    if env:
        return env
    # ../shared/corpus beside the checkout (a worktree lives one level deeper)
    for up in (os.path.dirname(ROOT), os.path.dirname(os.path.dirname(ROOT))):
        p = os.path.join(up, 'shared', 'corpus')
        if os.path.exists(os.path.join(p, 'truth.json')):
            return p
    return None


def load_truth(cdir):
    with open(os.path.join(cdir, 'truth.json')) as f:
        return json.load(f)


def bundle_path(cdir, repo):
    return os.path.join(cdir, 'repos', repo.replace('/', '__') + '.bundle')


TIMM = 'huggingface/pytorch-image-models'


def expected(truth, repo):
    """The block of truth.json to compare with, and whether it needs the timm
    tree given to the analyser.  None when torch.hub.list failed even so."""
    t = truth[repo]
    if isinstance(t['entrypoints'], list):
        return t, False
    w = t.get('with_timm')
    if w and isinstance(w['entrypoints'], list):
        return w, True
    return None, False


def _git(*args, cwd=None):
    env = dict(os.environ, GIT_TERMINAL_PROMPT='0')
    subprocess.run(['git'] + list(args), cwd=cwd, check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_bare(cdir, repo, base):
    """BASE/<owner>/<repo>.git, a bare clone of the bundle."""
    dst = os.path.join(base, repo + '.git')
    if not os.path.exists(dst):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        _git('clone', '-q', '--bare', bundle_path(cdir, repo), dst)
    return dst


def checkout(cdir, repo, base):
    """A checked-out tree of the bundle's one commit (BASE/<owner>__<repo>)."""
    dst = os.path.join(base, repo.replace('/', '__'))
    if not os.path.exists(dst):
        _git('clone', '-q', bundle_path(cdir, repo), dst)
    return dst


def url_name(url):
    """The name hubfs gives a weight URL in weights/ (and torch.hub its
    checkpoint): the basename of the URL's path."""
    return urllib.parse.unquote(urllib.parse.urlparse(url).path.rsplit('/', 1)[-1])


def view_name(name):
    """A weights/ entry's name without the ~hash hubfs adds when two URLs of
    one repository share a basename (model~1a2b3c4d.pth -> model.pth)."""
    return re.sub(r'~[0-9a-f]{8}(?=(\.[^.]*)?$|\.)', '', name, count=1)


def truth_files(w):
    """Weight files one traced entrypoint asked for (first pass + continued),
    named by their URL's basename, or None when it was not run."""
    if 'not_run' in w:
        return None
    urls = list(w.get('urls', []))
    urls += (w.get('continued') or {}).get('urls', [])
    return {url_name(u) for u in urls}


def score(repo, exp, ours):
    """Compare ours = {'entrypoints': {name: {'help': bytes, 'weights': set,
    'alternatives': set}}, 'errors': str, 'cold': s, 'warm': s} with exp."""
    te = set(exp['entrypoints'])
    oe = set(ours['entrypoints'])
    r = {'repo': repo, 'entrypoints_exact': te == oe, 'missing': sorted(te - oe),
         'extra': sorted(oe - te), 'help_total': 0, 'help_equal': 0, 'help_diff': [],
         'truth_w': 0, 'found_w': 0, 'listed_w': 0, 'missed_w': [], 'wrong_w': [],
         'alt_w': 0, 'alt_traced': 0,
         'cold': ours.get('cold'), 'cold_cpu': ours.get('cold_cpu'), 'warm': ours.get('warm')}
    for name in sorted(te & oe):
        h = exp['help'].get(name)
        if isinstance(h, str):
            r['help_total'] += 1
            if ours['entrypoints'][name]['help'] == h.encode():
                r['help_equal'] += 1
            else:
                r['help_diff'].append(name)
    for name, w in sorted(exp['weights'].items()):
        tu = truth_files(w)
        if tu is None:
            continue
        mine = ours['entrypoints'].get(name, {}).get('weights', set())
        # alternatives/ (what another argument value selects) is not counted
        # in recall or precision: those are of weights/, the default call's
        alts = ours['entrypoints'].get(name, {}).get('alternatives', set()) - mine
        r['alt_w'] += len(alts)
        r['alt_traced'] += len(alts & tu)
        r['truth_w'] += len(tu)
        r['listed_w'] += len(mine)
        r['found_w'] += len(tu & mine)
        r['missed_w'] += ['%s: %s' % (name, u) for u in sorted(tu - mine)]
        r['wrong_w'] += ['%s: %s' % (name, u) for u in sorted(mine - tu)]
    return r


def ratio(a, b):
    return a / b if b else 1.0


def totals(rows):
    t = {k: sum(r[k] for r in rows) for k in ('help_total', 'help_equal', 'truth_w', 'found_w',
                                                'listed_w', 'alt_w', 'alt_traced')}
    t['repos'] = len(rows)
    t['entrypoints_exact'] = sum(1 for r in rows if r['entrypoints_exact'])
    t['recall'] = ratio(t['found_w'], t['truth_w'])
    t['precision'] = ratio(t['found_w'], t['listed_w'])
    cold = [r['cold'] for r in rows if r['cold'] is not None]
    warm = [r['warm'] for r in rows if r['warm'] is not None]
    t['cold_max'] = max(cold) if cold else None
    t['warm_max'] = max(warm) if warm else None    # the slowest repository's median
    return t


def format_report(rows, verbose=False):
    out = ['%-36s %5s %9s %13s %9s %9s %8s %8s %8s' % ('repo', 'eps', 'help', 'weights', 'recall',
                                                        'precis.', 'cold s', 'cpu s', 'warm ms')]
    for r in rows:
        out.append('%-36s %5s %4d/%-4d %6d/%-6d %9.2f %9.2f %8s %8s %8s' % (
            r['repo'][:36], 'yes' if r['entrypoints_exact'] else 'NO', r['help_equal'],
            r['help_total'], r['found_w'], r['truth_w'], ratio(r['found_w'], r['truth_w']),
            ratio(r['found_w'], r['listed_w']),
            '%.3f' % r['cold'] if r['cold'] is not None else '-',
            '%.2f' % r['cold_cpu'] if r.get('cold_cpu') is not None else '-',
            '%.3f' % (r['warm'] * 1000) if r['warm'] is not None else '-'))
        if verbose:
            for k in ('missing', 'extra', 'help_diff', 'missed_w', 'wrong_w'):
                for x in r[k][:40]:
                    out.append('    %s %s' % (k, x))
                if len(r[k]) > 40:
                    out.append('    %s ... %d more' % (k, len(r[k]) - 40))
    t = totals(rows)
    out.append('TOTAL: entrypoints exact %d/%d repos, help equal %d/%d, weights (default set, '
               'weights/) recall %.3f (%d/%d) precision %.3f (%d/%d); alternatives/ %d files '
               '(%d of them traced), cold max %s s, warm max %s ms' % (
                   t['entrypoints_exact'], t['repos'], t['help_equal'], t['help_total'],
                   t['recall'], t['found_w'], t['truth_w'], t['precision'], t['found_w'],
                   t['listed_w'], t['alt_w'], t['alt_traced'],
                   '%.3f' % t['cold_max'] if t['cold_max'] is not None else '-',
                   '%.3f' % (t['warm_max'] * 1000) if t['warm_max'] is not None else '-'))
    return '\n'.join(out)


def repos_to_score(truth, only=None):
    out = []
    for repo in sorted(truth, key=str.lower):
        if only and repo not in only:
            continue
        exp, needs_timm = expected(truth, repo)
        if exp is not None:
            out.append((repo, exp, needs_timm))
    return out


# ---------------------------------------------------------------- direct

def direct(cdir, work, only=None):
    """Rows from the analyser package run in this interpreter (no mount)."""
    sys.path.insert(0, os.path.join(ROOT, 'py', 'analysis'))
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'analysis'))
    import conftest  # noqa: F401  (configures the limits from base/limits.h)
    import hubscan
    truth = load_truth(cdir)
    timm = checkout(cdir, TIMM, work)
    rows = []
    for repo, exp, needs_timm in repos_to_score(truth, only):
        tree = checkout(cdir, repo, work)
        host = ([timm] if needs_timm else []) + hubscan.host_path()
        t0 = time.monotonic()
        res = hubscan.analyze_dir(tree, host=host)
        cold = time.monotonic() - t0
        ours = {'entrypoints': {}, 'errors': '\n'.join(res['errors']), 'cold': cold, 'warm': None}
        for e in res['entrypoints']:
            ours['entrypoints'][e['name']] = {
                'help': e['help'].encode('utf-8', 'surrogateescape'),
                'weights': {url_name(u) for u in e.get('weights', [])},
                'alternatives': {url_name(u) for u in e.get('alternatives', [])}}
        rows.append(score(repo, exp, ours))
    return rows


# ---------------------------------------------------------------- mounted

def _harness():
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
    import harness
    return harness


def proc_cpu(pid):
    """CPU seconds (user + system) process pid has used, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rpartition(')')[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError):
        return None


def read_hub(commit_dir, harness, pid=None):
    """The .hub/ view of one commit as score() takes it; cold = the first
    listing of .hub/entrypoints (runs the analysis), warm = the median of
    the second `cat help` of each entrypoint (answered from the view)."""
    hub = os.path.join(commit_dir, '.hub')
    c0 = proc_cpu(pid) if pid else None
    t0 = time.monotonic()
    names = harness.call(os.listdir, os.path.join(hub, 'entrypoints'), timeout=120)
    cold = time.monotonic() - t0
    c1 = proc_cpu(pid) if pid else None
    # CPU the daemon spent on it (the analysis, mostly): what load changes least
    cpu = c1 - c0 if c0 is not None and c1 is not None else None
    ours = {'entrypoints': {}, 'cold': cold, 'cold_cpu': cpu, 'warm': None}
    warm = []
    for n in names:
        d = os.path.join(hub, 'entrypoints', n)
        with open(os.path.join(d, 'help'), 'rb') as f:
            helptext = f.read()
        t0 = time.monotonic()           # warm: the same cat again
        with open(os.path.join(d, 'help'), 'rb') as f:
            f.read()
        warm.append(time.monotonic() - t0)
        # names only: a lookup of a weight file asks its server for the size
        ws = {view_name(f) for f in os.listdir(os.path.join(d, 'weights'))}
        alt = os.path.join(d, 'alternatives')     # present only when there are some
        alts = {view_name(f) for f in os.listdir(alt)} if os.path.isdir(alt) else set()
        ours['entrypoints'][n] = {'help': helptext, 'weights': ws, 'alternatives': alts}
    if warm:
        ours['warm'] = sorted(warm)[len(warm) // 2]
    with open(os.path.join(hub, 'errors'), 'rb') as f:
        ours['errors'] = f.read().decode(errors='replace')
    return ours


class MountedCorpus:
    """The bundles served by git daemon on loopback, hubfs mounted over a
    fresh cache with github.com rewritten to it.  Two mounts: a plain one,
    and one given the corpus's timm tree as an installed-packages directory
    (analysis_path=), for the with_timm repositories."""

    def __init__(self, cdir, work, binary=None):
        self.h = _harness()
        self.cdir, self.work = cdir, work
        self.truth = load_truth(cdir)
        self.hub = self.h.Hub(os.path.join(work, 'hub'))
        for repo in self.truth:
            make_bare(cdir, repo, self.hub.base)
        self.timm = checkout(cdir, TIMM, work)
        if binary:
            self.h.HUBFS_BIN = binary
        self.hub.start_upstream()
        self.plain = self._mount('plain', [])
        self.with_timm = self._mount('timm', ['analysis_path=' + self.timm])

    def _mount(self, name, extra):
        m = self.h.Mount(os.path.join(self.work, 'mnt-' + name),
                         self.hub.options(extra=extra, cache=os.path.join(self.work, 'cache-' + name)),
                         env=self.hub.env(), logdir=self.hub.logs, name='hubfs-' + name)
        self.hub.mounts.append(m)
        return m.start()

    def commit_dir(self, m, repo):
        owner, name = repo.split('/')
        link = os.path.join(m.path, owner, name)
        target = self.h.call(os.path.realpath, link, timeout=300)
        self.h.call(os.listdir, target, timeout=300)    # the fetch, not timed
        return target

    def rows(self, only=None):
        out = []
        for repo, exp, needs_timm in repos_to_score(self.truth, only):
            m = self.with_timm if needs_timm else self.plain
            ours = read_hub(self.commit_dir(m, repo), self.h, m.proc.pid if m.proc else None)
            out.append(score(repo, exp, ours))
        return out

    def close(self):
        return self.hub.close(keep=False)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description='hubfs on the real-repository corpus: '
                                 'entrypoints, help, weights and times against torch.hub')
    ap.add_argument('--direct', action='store_true',
                    help='run the analyser in this interpreter over checkouts (no mount)')
    ap.add_argument('--bin', help='the hubfs binary (default build/hubfs)')
    ap.add_argument('-v', '--verbose', action='store_true', help='list every difference')
    ap.add_argument('--json', help='write the rows as JSON to this file')
    ap.add_argument('repos', nargs='*', help='only these owner/repo')
    a = ap.parse_args(argv)
    cdir = corpus_dir()
    if cdir is None:
        print('corpus: not found (../shared/corpus or HUBFS_CORPUS): nothing to report')
        return 0
    work = tempfile.mkdtemp(prefix='hubfs-corpus-', dir=os.environ.get('HUBFS_TEST_TMP', '/tmp'))
    mc = None
    try:
        if a.direct:
            rows = direct(cdir, work, a.repos)
        else:
            mc = MountedCorpus(cdir, work, a.bin)
            rows = mc.rows(a.repos)
        print(format_report(rows, a.verbose))
        if a.json:
            with open(a.json, 'w') as f:
                json.dump(rows, f, indent=1)
    finally:
        if mc is not None:
            fails = mc.close()
            if fails:
                print('\n'.join(fails), file=sys.stderr)
        if os.path.exists(work) and not any(
                os.path.ismount(os.path.join(work, d)) for d in os.listdir(work)):
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
