#!/usr/bin/env bash
# ThreadSanitizer run of the concurrency tests: builds build-tsan/
# (-DHUBFS_TSAN=ON) and runs the threaded unit tests (weights engine, HTTP
# client, cache, interpreter thread, git) and the daemon under the
# multi-reader integration tests (weights, namespace, crash) and the fault
# suite.  Any ThreadSanitizer report fails: the unit tests exit non-zero
# (exitcode=66), the integration harness fails a test whose daemon printed
# one.  Libraries (libfuse, libcurl, libgit2, libpython) are not
# instrumented: races inside them are not seen, their locks are.
# Usage: bash tests/tsan.sh   (after tests/setup_deps.sh; ~5 minutes)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 report_signal_unsafe=0${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
cmake -S "$ROOT" -B "$ROOT/build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUBFS_TSAN=ON >/dev/null &&
	cmake --build "$ROOT/build-tsan" -j "$JOBS" || exit 1
rc=0
for t in test_weights test_http test_cache test_pyrt test_git; do
	echo "=== tsan: $t"
	"$ROOT/build-tsan/tests/$t" || { echo "tsan: $t FAILED"; rc=1; }
done
echo "=== tsan: daemon under the integration and fault tests"
HUBFS_BIN="$ROOT/build-tsan/hubfs" timeout -k 30 1200 /usr/bin/python3 -m pytest -q \
	-p no:cacheprovider -p no:hypothesispytest \
	"$ROOT/tests/integration/test_weights.py" "$ROOT/tests/integration/test_namespace.py" \
	"$ROOT/tests/integration/test_crash.py" "$ROOT/tests/faults" || rc=1
echo "tsan: $([ $rc = 0 ] && echo ok || echo FAILED)"
exit $rc
