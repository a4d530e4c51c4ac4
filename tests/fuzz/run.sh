#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan+UBSan, coverage) in build-fuzz/
# and run each over its seed corpus for SECONDS (default 15, the CI run).
# A crash, a sanitizer report or a broken invariant (CHECK) fails the run;
# the input that did it is left in build-fuzz/fuzz/ (crash-*, leak-* ...)
# and should be added to tests/fuzz/corpus/<target>/ once fixed.
# Long run: bash tests/fuzz/run.sh 3600 (FUZZ_JOBS=N: N parallel workers).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECS="${1:-15}"
JOBS="${FUZZ_JOBS:-1}"
B="$ROOT/build-fuzz"
cmake -S "$ROOT" -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DHUBFS_SANITIZE=ON -DHUBFS_FUZZ=ON -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null &&
	cmake --build "$B" -j "$(nproc)" --target fuzz || exit 1
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
rc=0
for t in names options rewrite weights_url view; do
	corpus="$B/fuzz/corpus-$t" # the seeds plus what this run finds; seeds stay clean
	mkdir -p "$corpus"
	echo "=== fuzz_$t: ${SECS}s"
	# pipefail (set above): the subshell fails when the fuzzer does
	(cd "$B/fuzz" && "./fuzz_$t" -max_total_time="$SECS" -jobs="$JOBS" -workers="$JOBS" \
		-print_final_stats=1 -max_len=4096 "$corpus" "$ROOT/tests/fuzz/corpus/$t" 2>&1 | tail -4)
	st=$?
	if [ "$st" != 0 ] || ls "$B/fuzz"/crash-* "$B/fuzz"/leak-* "$B/fuzz"/timeout-* "$B/fuzz"/oom-* \
		>/dev/null 2>&1; then
		echo "fuzz_$t: FAILED (inputs in $B/fuzz)"
		rc=1
	fi
done
exit $rc
