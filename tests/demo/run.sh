#!/usr/bin/env bash
# The hubfs demo: installs what it needs (Debian 12, root), builds hubfs,
# starts a small demo hub (git daemon on 127.0.0.1 serving repos of our own),
# mounts it with hubfs and shows a browse session.  At the end it unmounts and
# stops the hub, unless --keep is given (then it says how to do both).
#
#   tests/demo/run.sh [--keep] [--mountpoint DIR]
#   (HUBFS_BIN=path/to/hubfs skips the build and uses that binary)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KEEP=0
MNT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--keep) KEEP=1 ;;
	--mountpoint) MNT="$2"; shift ;;
	-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown argument: $1" >&2; exit 2 ;;
	esac
	shift
done

# shellcheck source=tests/setup_deps.sh
source "$ROOT/tests/setup_deps.sh"
hubfs_setup_deps || { echo "demo: could not install the dependencies" >&2; exit 1; }

if [ -n "${HUBFS_BIN:-}" ]; then
	HUBFS="$HUBFS_BIN" # a binary built elsewhere (e.g. build-asan/hubfs)
else
	echo "== building hubfs"
	cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
		cmake --build "$ROOT/build" -j "$(nproc)" >/dev/null ||
		{ echo "demo: build failed (run: cmake --build build)" >&2; exit 1; }
	HUBFS="$ROOT/build/hubfs"
fi
[ -x "$HUBFS" ] || { echo "demo: $HUBFS was not built" >&2; exit 1; }

WORK="$(mktemp -d /tmp/hubfs-demo.XXXXXX)"
HUB="$WORK/hub"
CACHE="$WORK/cache"
MNT="${MNT:-$WORK/mnt}"
mkdir -p "$MNT" "$CACHE"

echo "== creating the demo hub in $HUB"
/usr/bin/python3 "$ROOT/tests/fixtures/make_repos.py" --demo "$HUB" >/dev/null ||
	{ echo "demo: make_repos.py failed" >&2; exit 1; }

PORT="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
git daemon --reuseaddr --base-path="$HUB" --export-all --enable=upload-pack \
	--listen=127.0.0.1 --port="$PORT" --pid-file="$WORK/git-daemon.pid" --detach ||
	{ echo "demo: git daemon did not start" >&2; exit 1; }
for _ in $(seq 100); do
	git ls-remote "git://127.0.0.1:$PORT/demo/tiny-vision.git" >/dev/null 2>&1 && break
	sleep 0.1
done
echo "== git daemon serves the demo hub on git://127.0.0.1:$PORT/ (pid $(cat "$WORK/git-daemon.pid"))"

# Weights: a repo whose hubconf.py downloads pretrained weights from
# https://weights.demo.invalid/, served by a local HTTP server (Range, counters).
WFILES="$WORK/weights"
mkdir -p "$WFILES"
/usr/bin/python3 - "$WFILES" "$WORK/tiny-weights" <<'PY' || { echo "demo: weights setup failed" >&2; exit 1; }
import hashlib, os, random, subprocess, sys
files, src = sys.argv[1], sys.argv[2]
names = {}
for stem, size in (("tinynet", 3 << 20), ("bignet", 48 << 20)):
    data = random.Random(stem).randbytes(size)
    name = "%s-%s.pth" % (stem, hashlib.sha256(data).hexdigest()[:8])
    open(os.path.join(files, name), "wb").write(data)
    names[stem] = name
# a real state_dict, for the last step (hubfs.load runs the model)
import torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
torch.save(net.state_dict(), os.path.join(files, "sd.tmp"))
h = hashlib.sha256(open(os.path.join(files, "sd.tmp"), "rb").read()).hexdigest()[:8]
names["classifier"] = "classifier-%s.pth" % h
os.rename(os.path.join(files, "sd.tmp"), os.path.join(files, names["classifier"]))
os.makedirs(src)
open(os.path.join(src, "hubconf.py"), "w").write(
    '"""tiny-weights: entrypoints that download pretrained weights."""\n'
    "from torch.hub import load_state_dict_from_url\n\n"
    "dependencies = ['torch']\n\n"
    "URLS = {\n"
    "    'tinynet': 'https://weights.demo.invalid/%s',\n"
    "    'bignet': 'https://weights.demo.invalid/%s',\n"
    "}\n\n\n"
    "def tinynet(pretrained=True):\n"
    "    \"\"\"A tiny network with 3 MiB of pretrained weights.\"\"\"\n"
    "    return load_state_dict_from_url(URLS['tinynet']) if pretrained else None\n\n\n"
    "def bignet(pretrained=True):\n"
    "    \"\"\"A bigger one: 48 MiB.\"\"\"\n"
    "    return load_state_dict_from_url(URLS['bignet']) if pretrained else None\n\n\n"
    "def classifier(pretrained=True):\n"
    "    \"\"\"A 3-class classifier of 4 features, with trained weights.\"\"\"\n"
    "    import torch.nn as nn\n"
    "    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))\n"
    "    if pretrained:\n"
    "        m.load_state_dict(load_state_dict_from_url('https://weights.demo.invalid/%s'))\n"
    "    return m\n"
    % (names["tinynet"], names["bignet"], names["classifier"]))
env = dict(os.environ, GIT_AUTHOR_NAME="demo", GIT_AUTHOR_EMAIL="demo@example.invalid",
           GIT_COMMITTER_NAME="demo", GIT_COMMITTER_EMAIL="demo@example.invalid")
for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "tiny-weights"]):
    subprocess.run(cmd, cwd=src, check=True, env=env, stdout=subprocess.DEVNULL)
PY
git clone -q --bare "$WORK/tiny-weights" "$HUB/demo/tiny-weights.git"
/usr/bin/python3 "$ROOT/tests/weights/httpd.py" --root "$WFILES" --port 0 --port-file "$WORK/httpd.port" \
	>/dev/null 2>&1 &
echo $! >"$WORK/httpd.pid"
for _ in $(seq 100); do [ -s "$WORK/httpd.port" ] && break; sleep 0.1; done
WPORT="$(cat "$WORK/httpd.port")"
echo "== weights served on http://127.0.0.1:$WPORT/ (pid $(cat "$WORK/httpd.pid"))"

OPTS="cache=$CACHE,rewrite=https://github.com/=git://127.0.0.1:$PORT/,rewrite=https://weights.demo.invalid/=http://127.0.0.1:$WPORT/"
stop_hub() {
	if grep -qF " $MNT " /proc/self/mountinfo; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	[ -f "$WORK/git-daemon.pid" ] && kill "$(cat "$WORK/git-daemon.pid")" 2>/dev/null
	[ -f "$WORK/httpd.pid" ] && kill "$(cat "$WORK/httpd.pid")" 2>/dev/null
	rm -f "$WORK/git-daemon.pid" "$WORK/httpd.pid"
	# remove the demo's files, never through a live mount
	if ! grep -qF " $MNT " /proc/self/mountinfo; then
		rm -rf "$WORK"
	fi
}
if [ "$KEEP" = 0 ]; then
	trap stop_hub EXIT
fi

echo "== mounting: $HUBFS -o $OPTS $MNT"
"$HUBFS" -o "$OPTS" "$MNT" || { echo "demo: hubfs failed to mount" >&2; exit 1; }
for _ in $(seq 100); do
	grep -qF " $MNT " /proc/self/mountinfo && break
	sleep 0.1
done
grep -qF " $MNT " /proc/self/mountinfo || { echo "demo: $MNT is not mounted" >&2; exit 1; }

# The browse session: each command is shown, then run (with a time limit, so a
# demo never hangs on a broken mount).
FAILED=0
run() {
	printf '\n$ %s\n' "$*"
	timeout 60 "$@"
	local rc=$?
	if [ $rc != 0 ]; then
		echo "(exit status $rc)"
		FAILED=$((FAILED + 1))
	fi
}
run_refused() { # a command that must fail (the mount is read-only)
	printf '\n$ %s\n' "$*"
	if timeout 60 "$@"; then
		echo "(unexpectedly succeeded)"
		FAILED=$((FAILED + 1))
	fi
}
note() { printf '\n# %s\n' "$*"; }

cd "$MNT" || exit 1
echo
echo "== browsing $MNT"
note "a GitHub repo appears as <owner>/<repo>; here the demo hub stands in for github.com"
note "the cache is empty: the root lists no owner yet"
run ls
note "first access fetches the repo (its default branch) and shows its files"
run ls demo/tiny-vision/
run readlink demo/tiny-vision
run readlink demo/tiny-vision:main
run ls -l demo/
run cat demo/tiny-vision/hubconf.py
run cat demo/tiny-vision/.hub/commit
note "any tag, branch (with %2F for /) or commit id"
run readlink demo/tiny-vision:v1.0
run ls -l demo/tiny-vision:v1.0/
run ls demo/tiny-vision:experiment%2Fwide/models/
note "a repo whose default branch is master"
run readlink demo/tiny-text
run cat demo/tiny-text/README.md
note "what is in the cache now"
run ls
run ls demo/
note "entrypoints and their help, found without running hubconf.py"
run ls demo/tiny-weights/.hub/entrypoints/
run cat demo/tiny-weights/.hub/entrypoints/tinynet/help
run cat demo/tiny-weights/.hub/entrypoints/tinynet/signature
note "weight files: the true size before any byte is downloaded"
run ls -l demo/tiny-weights/.hub/weights/ demo/tiny-weights/.hub/entrypoints/tinynet/weights/
note "a streamed read: the first bytes arrive without waiting for the rest"
W="$(ls demo/tiny-weights/.hub/entrypoints/tinynet/weights/)"
run sh -c "head -c 32 demo/tiny-weights/.hub/entrypoints/tinynet/weights/$W | od -An -tx1"
note "a slow download in flight, as hubfs status draws it"
/usr/bin/python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()' \
	"http://127.0.0.1:$WPORT/_fault?path=/$(ls demo/tiny-weights/.hub/entrypoints/bignet/weights/)&mode=throttle&rate=8000000"
(cat demo/tiny-weights/.hub/entrypoints/bignet/weights/* >/dev/null &)
sleep 2
run "$HUBFS" status "$MNT"
note "complete files land where torch.hub looks for them"
wait_done() { for _ in $(seq 100); do [ "$(ls "$CACHE/checkpoints" 2>/dev/null | wc -l)" -ge 2 ] && return 0; sleep 0.2; done; }
wait_done
run ls -l "$CACHE/checkpoints/"
note "the daemon's own state"
run ls .hubfs
run cat .hubfs/version
note "read-only"
run_refused touch demo/tiny-vision/new-file
cd / || exit 1
note "the Python helper: torch.hub's API, the repo imported from the mount, weights through it"
run env PYTHONPATH="$ROOT/py" /usr/bin/python3 -c "
import torch, hubfs
print(hubfs.list('demo/tiny-weights', mount='$MNT'))
m = hubfs.load('demo/tiny-weights', 'classifier', trust_repo=True, mount='$MNT')
x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
print('classifier(%s) = %s' % (x.tolist(), m(x).detach().numpy().round(4).tolist()))"

echo
echo "== to unmount:   fusermount3 -u $MNT"
echo "== to stop the demo hub:   kill \$(cat $WORK/git-daemon.pid)"
if [ "$KEEP" = 1 ]; then
	echo "== --keep: $MNT stays mounted and the demo hub keeps running"
else
	echo "== unmounting and stopping the demo hub now (use --keep to explore further)"
fi
if [ "$FAILED" != 0 ]; then
	echo "demo: $FAILED command(s) of the session failed" >&2
	exit 1
fi
exit 0
