"""sources: Python source text in and out of syntax trees, within the caps.

OWNS
  Sources.parse() (part of the Job): reading one module's source through
  its file system, the per-file and per-job caps (size, bracket nesting,
  modules and bytes per job), ast.parse, and the reports when a file
  cannot be analysed; the parse cache kept between jobs (_AST_CACHE);
  unparse() (source text of a node, for messages and signatures).
"""

import ast
import errno
import os
import re
import warnings

from .files import NOT_REGULAR, not_regular_why

try:    # compiled into Debian's libpython: no need to load OpenSSL for a cache key
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover
    from hashlib import blake2b as _blake2b

# Parsed ASTs kept between jobs, LRU by insertion order, bounded in source
# bytes: host path -> (stat key, tree, size); 'b2:<blake2b hex>' of a repository
# file's bytes -> (None, tree, size).  Trees are never mutated.
_AST_CACHE = {}
_AST_CACHE_BYTES = [0]

_SCAN_RE = re.compile(
    rb'#[^\n]*'
    rb'|[rRbBuUfF]{0,2}(?:\'\'\'(?:[^\\]|\\.)*?(?:\'\'\'|\Z)|"""(?:[^\\]|\\.)*?(?:"""|\Z)'
    rb'|\'(?:[^\'\\\n]|\\.)*\'?|"(?:[^"\\\n]|\\.)*"?)'
    rb'|[()\[\]{}]', re.S)


# The strings and comments of _SCAN_RE alone, without the prefix letters
# (which do not change where a string ends) and with the loops unrolled
# (three times faster than _SCAN_RE's lazy ones): removed by one re.sub (in
# C), they leave the brackets _SCAN_RE's matches would find, in order
# (checked against the exact scan on the corpus and random input).
_STR_RE = re.compile(
    rb'#[^\n]*'
    rb"|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*(?:'''|\Z)"
    rb'|"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:"""|\Z)'
    rb"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'?"
    rb'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"?', re.S)
_BRACKETS = bytes.maketrans(b'[{]}', b'(())')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b'()[]{}')


def _nesting_bound(data, limit):
    """An upper bound of the bracket depth nesting_error's scan finds, at
    C speed: strings and comments removed, the brackets alone, each pass
    deletes the innermost pairs `()` (one level of every nest); what stays
    after p passes is at most `)..)(..(`, whose b unclosed openers add at
    most b.  Stops once the bound passes limit."""
    s = _STR_RE.sub(b'', data).translate(_BRACKETS, _NOT_BRACKETS)
    p = 0
    while b'()' in s:
        p += 1
        if p > limit:
            return p
        s = s.replace(b'()', b'')
    return p + s.count(b'(')


def nesting_error(data, limit):
    """Line of the first bracket nested deeper than limit, else 0.  Strings
    and comments are skipped.  A bound computed in C settles it for any
    ordinary file; the exact scan (a Python loop over every bracket, ~0.25
    s for 4.7 MB) runs only when the bound is over the limit."""
    if _nesting_bound(data, limit) <= limit:
        return 0
    depth = 0
    for m in _SCAN_RE.finditer(data):
        c = data[m.start()]
        if c in b'([{' and m.end() - m.start() == 1:
            depth += 1
            if depth > limit:
                return data.count(b'\n', 0, m.start()) + 1
        elif c in b')]}' and m.end() - m.start() == 1:
            depth = max(0, depth - 1)
    return 0


# Where a string constant whose value contains 'http' can come from: a
# literal spelling it ('http'), an escape or a backslash-newline inside a
# literal ('\\x68ttps://', 'ht\\<newline>tps://'), or literals joined by
# implicit concatenation that splits the word ('ht' 'tps://', over lines
# and comments): then a piece ends with 'h' or 't' (or an escape, matched
# already), so a quote after h or t followed by a quote, through blanks
# and comments, marks the junction; empty strings and docstrings' quotes
# do not match.  Over-matching only widens the walk.  The blanks and
# comments are matched possessively (*+): a failed match never backtracks
# into them (`'x' ####...` would try every split of the #s).  Written as
# one character class first, then the rest by what it was (lookbehind):
# twice as fast as the plain alternation.
_URL_SRC_RE = re.compile(rb'[h\\\'"](?:(?<=h)ttp|(?<=\\)|(?<=[ht][\'"])(?:[ \t\f\r\n]+|#[^\n]*)*+'
                         rb'[rRbBuUfF]{0,2}[\'"])')
_COOKIE_RE = re.compile(rb'^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)', re.M)


def url_lines(data):
    """Numbers (1-based, ascending) of the lines of data a string constant
    containing 'http' can span one of (see _URL_SRC_RE): () when there is
    none, None when lines cannot be told from the bytes (a bare CR ends a
    line for the parser but not for this count; a coding cookie other than
    UTF-8/ASCII may spell 'http' otherwise, e.g. UTF-7).  The weights index
    walks only the subtrees spanning one of these lines (weights.py)."""
    head = data.split(b'\n', 2)[:2]
    for line in head:
        m = _COOKIE_RE.match(line)
        if m and m.group(1).lower().replace(b'_', b'-') not in (b'utf-8', b'utf8', b'ascii', b'us-ascii'):
            return None
    if b'\r' in data and re.search(rb'\r(?!\n)', data):
        return None
    out, line, at = [], 1, 0
    for m in _URL_SRC_RE.finditer(data):
        i, j = m.span()
        line += data.count(b'\n', at, i)
        if not out or out[-1] != line:
            out.append(line)
        end = line + data.count(b'\n', i, j)
        if end != line:
            out.append(end)
        line, at = end, j
    return tuple(out)


def unparse(node):
    """Source text of node, '...' when it cannot be printed."""
    try:
        return ast.unparse(node)
    except (RecursionError, ValueError, AttributeError):
        return '...'


def too_large(display, e, cap):
    """Message for an OSError(EFBIG, '<size>') from the tree reader."""
    size = e.strerror if e.strerror and e.strerror.isdigit() else 'more than %d' % cap
    return '%s:0: file too large (%s bytes, limit %d): not analysed' % (display, size, cap)


class Sources:
    """Part of the Job (job.py): parsing.  Uses self.lim, self.tick(),
    self.nparsed and self.bytes (the job's counts)."""

    def parse(self, fs, path, display, data=None):
        """(tree, None) or (None, 'file:line: reason')."""
        self.tick()
        memo = (fs.is_repo, path)
        hit = self.trees.get(memo)
        if hit is not None:     # parsed in this job already: never twice
            return hit
        res = self._parse(fs, path, display, data)
        self.trees[memo] = res
        return res

    def _parse(self, fs, path, display, data):
        lim = self.lim
        key = ckey = None
        if not fs.is_repo:
            key = fs.key(path)
            hit = _AST_CACHE.get(path)
            if hit is not None and key is not None and hit[0] == key:
                _AST_CACHE[path] = _AST_CACHE.pop(path)
                return hit[1], None
        if self.nparsed >= lim['modules_max']:
            return None, '%s:0: not analysed: more than %d modules in one analysis' % (
                display, lim['modules_max'])
        if data is None:
            try:
                data = fs.read(path, lim['source_max'])
            except OSError as e:
                if e.errno == errno.EFBIG:
                    return None, too_large(display, e, lim['source_max'])
                if e.errno in NOT_REGULAR:
                    return None, '%s:0: not read: not a regular file (%s)' % (display, not_regular_why(e))
                return None, '%s:0: cannot read: %s' % (display, os.strerror(e.errno or errno.EIO))
            if data is None:
                return None, '%s:0: cannot read: file not found' % display
        if len(data) > lim['source_max']:
            size = '%d bytes' % len(data) if fs.is_repo else 'more than %d bytes' % lim['source_max']
            return None, '%s:0: file too large (%s, limit %d): not analysed' % (display, size, lim['source_max'])
        if fs.is_repo:
            # the weights index walks only the subtrees spanning a line
            # where a URL constant can be written (weights.py)
            self.src_http[path] = url_lines(data)
            # different commits of a repository share most files
            ckey = 'b2:' + _blake2b(data, digest_size=20).hexdigest()
            hit = _AST_CACHE.get(ckey)
            if hit is not None:
                _AST_CACHE[ckey] = _AST_CACHE.pop(ckey)
                return hit[1], None
        if self.bytes + len(data) > lim['bytes_max']:
            return None, '%s:0: not analysed: more than %d bytes of source in one analysis' % (
                display, lim['bytes_max'])
        self.nparsed += 1
        self.bytes += len(data)
        nul = data.find(b'\0')
        if nul >= 0:
            return None, '%s:%d: source contains NUL bytes: not a Python file' % (
                display, data.count(b'\n', 0, nul) + 1)
        line = nesting_error(data, lim['depth_max'])
        if line:
            return None, '%s:%d: brackets nested more than %d deep: not analysed' % (
                display, line, lim['depth_max'])
        self.check()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                tree = ast.parse(data, filename=display)
        except SyntaxError as e:   # IndentationError, TabError, decoding errors
            msg = e.msg or 'invalid syntax'
            return None, '%s:%d: %s: %s' % (display, e.lineno or 0, type(e).__name__, msg)
        except (ValueError, UnicodeError) as e:
            return None, '%s:0: cannot parse: %s' % (display, e)
        except MemoryError:
            return None, '%s:0: cannot parse: expression too complex (MemoryError)' % display
        except RecursionError:
            return None, '%s:0: cannot parse: nesting too deep (RecursionError)' % display
        self.check()
        ckey = ckey if fs.is_repo else (path if key is not None else None)
        if ckey is not None:
            cap = lim['ast_cache_bytes']
            if len(data) <= lim['ast_cache_file_max']:
                old = _AST_CACHE.pop(ckey, None)
                if old is not None:
                    _AST_CACHE_BYTES[0] -= old[2]
                while _AST_CACHE and _AST_CACHE_BYTES[0] + len(data) > cap:
                    _AST_CACHE_BYTES[0] -= _AST_CACHE.pop(next(iter(_AST_CACHE)))[2]
                _AST_CACHE[ckey] = (key, tree, len(data))
                _AST_CACHE_BYTES[0] += len(data)
        return tree, None
