"""hubfs(1) (docs/hubfs.1, issue 16): every option and flag the binary
accepts (the templates of fs/options.c, the config keys of
fs/options_config.c) is documented in it, man(1) and groff render it
without a warning, and `cmake --install` puts it in share/man/man1."""

import os
import re
import shutil
import subprocess

import pytest

import harness

ROOT = harness.ROOT
PAGE = os.path.join(ROOT, "docs", "hubfs.1")


def _src(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def accepted_options():
    """The -o options (OWN("name", KEY) templates) and the flags of fs/options.c."""
    src = _src("fs/options.c")
    opts = re.findall(r'OWN\("([a-z_]+)"', src)
    assert len(opts) >= 10, "no OWN(...) templates found in fs/options.c: %r" % opts
    flags = re.findall(r'FUSE_OPT_KEY\("(-[-a-zA-Z]+)"', src)
    m = re.search(r'strspn\(arg \+ 1, "([a-z]+)"\)', src)
    assert m, "the grouped flags (-f, -d, -s) were not found in fs/options.c"
    flags += ["-" + c for c in m.group(1)]
    return opts, flags


def config_keys():
    return set(re.findall(r'strcmp\(key, "([a-z_]+)"\)', _src("fs/options_config.c")))


def render(width=80):
    env = dict(os.environ, LC_ALL="C", MANWIDTH=str(width), MAN_KEEP_FORMATTING="")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    p = subprocess.run(["man", "--warnings", "-l", PAGE], env=env, capture_output=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return p.stdout.decode(), p.stderr.decode(errors="replace")


def section(text, title):
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]+\n)" % re.escape(title), text, re.S | re.M)
    assert m, "no %s section in hubfs(1)" % title
    return m.group(1)


def test_manpage_renders_without_warnings():
    if not shutil.which("man") or not shutil.which("groff"):
        pytest.skip("man or groff not installed")
    text, err = render()
    assert err.strip() == "", "man --warnings -l docs/hubfs.1 warned:\n" + err
    g = subprocess.run(["groff", "-man", "-ww", "-z", PAGE], capture_output=True, timeout=60)
    assert g.returncode == 0 and not g.stderr.strip(), g.stderr.decode(errors="replace")
    for title in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "THE TREE", "THE CACHE",
                  "ERRORS", "EXIT STATUS", "ENVIRONMENT", "EXAMPLES"):
        assert re.search(r"^%s$" % title, text, re.M), "hubfs(1) has no %s section" % title


def test_every_accepted_option_is_in_the_manpage():
    if not shutil.which("man"):
        pytest.skip("man not installed")
    text, _ = render()
    opts_text = section(text, "OPTIONS")
    opts, flags = accepted_options()
    missing = []
    for o in opts:
        # an option's entry starts its line: "name=VALUE", "name" or "name=a|b"
        if not re.search(r"^\s+%s(=|\s*$|\s)" % re.escape(o), opts_text, re.M):
            missing.append(o)
    for f in flags:
        if not re.search(r"(^|[\s,])%s($|[\s,])" % re.escape(f), opts_text, re.M):
            missing.append(f)
    assert not missing, "accepted by the binary but not documented in hubfs(1): %s" % missing
    # the config file's keys are the -o options'
    extra = config_keys() - set(opts)
    assert not extra, "config keys that are no -o option (document them): %s" % extra


def test_help_and_manpage_agree():
    """--help and hubfs(1) name the same options (one is not left behind)."""
    if not shutil.which("man"):
        pytest.skip("man not installed")
    p = subprocess.run([harness.HUBFS_BIN, "--help"], capture_output=True, timeout=20)
    assert p.returncode == 0
    out = p.stdout.decode()
    text, _ = render()
    opts, _ = accepted_options()
    for o in opts:
        assert re.search(r"\b%s\b" % o, out), "--help does not mention %s" % o
    assert "status MOUNTPOINT" in out and "status MOUNTPOINT" in text
    # the cache subcommands fs/cache_cmd.c accepts, in both
    src = _src("fs/cache_cmd.c")
    subs = set(re.findall(r'strcmp\(sub, "([a-z]+)"\)', src))
    flags = set(re.findall(r'strcmp\(argv\[i\], "(-[-a-z]+)"\)', src))
    assert {"ls", "du", "verify"} <= subs and "--repair" in flags, (subs, flags)
    for s in subs:
        assert re.search(r"cache %s\b" % s, text), "hubfs(1) lacks 'cache %s'" % s
        assert re.search(r"cache %s\b" % s, out), "--help lacks 'cache %s'" % s
    for f in flags:
        assert f in text and f in out, "%s of hubfs cache is undocumented" % f


def test_cmake_install_puts_the_manpage_in_man1(tmp_path):
    build = os.path.dirname(os.path.realpath(harness.HUBFS_BIN))
    if not os.path.exists(os.path.join(build, "cmake_install.cmake")):
        pytest.skip("%s is not a CMake build directory" % build)
    prefix = tmp_path / "prefix"
    p = subprocess.run(["cmake", "--install", build, "--prefix", str(prefix)],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    page = prefix / "share" / "man" / "man1" / "hubfs.1"
    assert page.exists(), "cmake --install did not install share/man/man1/hubfs.1"
    with open(page, "rb") as a, open(PAGE, "rb") as b:
        assert a.read() == b.read()
    assert os.access(prefix / "bin" / "hubfs", os.X_OK)
    if shutil.which("man"):
        # man finds it by name under the prefix, as `man hubfs` does once installed
        env = dict(os.environ, LC_ALL="C", MANWIDTH="80", MANPATH=str(prefix / "share" / "man"))
        r = subprocess.run(["man", "hubfs"], env=env, capture_output=True, timeout=60)
        assert r.returncode == 0 and b"mount PyTorch Hub" in r.stdout, r.stderr
