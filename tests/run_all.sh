#!/usr/bin/env bash
# The one test command (README, CI): on a fresh Debian 12 as root it installs
# what it needs, then
#   1. builds build/ (RelWithDebInfo), runs ctest, the integration suite,
#      the multi-user trust suite (tests/trust, a second uid through
#      setpriv), the fault suite (tests/faults) and the Python helper's tests
#      (tests/python, against the real torch.hub), the real-repository
#      corpus (tests/corpus, when ../shared/corpus or HUBFS_CORPUS exists);
#      the crash suite and the short soak (tests/crash, release build only);
#   2. builds build-asan/ (-DHUBFS_SANITIZE=ON), runs ctest, the integration
#      and the fault suites, the Python helper's tests and the crash suite's
#      stop, full-disk and short soak tests again against that binary (all
#      but the kill -9 runs: a killed process reports nothing).
#   3. builds the libFuzzer targets (tests/fuzz) and runs each briefly.
# Exits non-zero if anything failed; the last line is the summary.
#
# Environment: JOBS (parallel build jobs), HUBFS_SKIP_ASAN=1 (step 2 off, for
# quick local runs; CI always runs it), PYTEST_ARGS (extra pytest arguments).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
PY=/usr/bin/python3
SUITE_TIMEOUT="${SUITE_TIMEOUT:-1200}"

# shellcheck source=tests/setup_deps.sh
source "$ROOT/tests/setup_deps.sh"

passed=0
failed=0
failed_steps=()

step() { # step NAME CMD...
	local name="$1"
	shift
	echo
	echo "=== run_all: $name"
	local t0=$SECONDS
	if "$@"; then
		echo "=== run_all: $name: ok ($((SECONDS - t0))s)"
		passed=$((passed + 1))
		return 0
	fi
	echo "=== run_all: $name: FAILED ($((SECONDS - t0))s)"
	failed=$((failed + 1))
	failed_steps+=("$name")
	return 1
}

skip() { # a step that cannot run because an earlier one failed counts as failed
	echo "=== run_all: $1: not run ($2)"
	failed=$((failed + 1))
	failed_steps+=("$1")
}

build() { # build DIR [cmake args...]
	local dir="$1"
	shift
	cmake -S "$ROOT" -B "$ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" &&
		cmake --build "$ROOT/$dir" -j "$JOBS" &&
		[ -x "$ROOT/$dir/hubfs" ]
}

unit() { # unit DIR
	ctest --test-dir "$ROOT/$1" --output-on-failure --no-tests=error --timeout 300 -j 2
}

pytest_suite() { # pytest_suite DIR PYTEST-ARGS...: a pytest suite against DIR's hubfs
	local dir="$1" rc
	shift
	# shellcheck disable=SC2086
	HUBFS_BIN="$ROOT/$dir/hubfs" timeout -k 30 "$SUITE_TIMEOUT" \
		"$PY" -m pytest "$@" -v --durations=8 ${PYTEST_ARGS:-}
	rc=$?
	# 5 = no tests collected: that is a failure, not a pass
	[ "$rc" = 5 ] && echo "run_all: pytest collected no tests from $*"
	[ "$rc" = 0 ]
}

integration() { # integration DIR
	pytest_suite "$1" "$ROOT/tests/integration" || return 1
	# The weight engine's process-level tests (kill -9, several processes),
	# driven through the test_weights tool of the same build.
	local rc
	HUBFS_TEST_WEIGHTS="$ROOT/$1/tests/test_weights" timeout -k 30 "$SUITE_TIMEOUT" \
		"$PY" -m pytest "$ROOT/tests/weights" -v -p no:cacheprovider
	rc=$?
	[ "$rc" = 5 ] && echo "run_all: pytest collected no weights tests"
	[ "$rc" = 0 ]
}

faults() { # faults DIR: the fault suite (tests/faults) against that build
	pytest_suite "$1" "$ROOT/tests/faults" -p no:hypothesispytest
}

crash_soak() { # crash_soak DIR: kill -9/SIGTERM/unmount/full-disk suite + the short soak (tests/crash)
	pytest_suite "$1" "$ROOT/tests/crash"
}

crash_stop() { # crash_stop DIR: the crash suite's unmount/signal/full-disk tests and the short soak (not the kill -9 runs)
	pytest_suite "$1" "$ROOT/tests/crash/test_stop.py" "$ROOT/tests/crash/test_full_disk.py" \
		"$ROOT/tests/crash/test_soak_short.py"
}

trust() { # trust DIR: the multi-user trust suite (tests/trust): a second uid against an allow_other mount
	pytest_suite "$1" "$ROOT/tests/trust" -p no:hypothesispytest
}

python_helper() { # python_helper DIR: the hubfs Python package (tests/python)
	pytest_suite "$1" "$ROOT/tests/python" -p no:hypothesispytest
}

corpus() { # corpus DIR: real repositories against torch.hub's answers (tests/corpus; skips, saying so, without the corpus)
	pytest_suite "$1" "$ROOT/tests/corpus" -rs -p no:cacheprovider
}

# The suites of this run work under their own directory (HUBFS_TEST_TMP), so
# that a mount left behind is this run's and not another one's on the machine.
RUN_TMP="$(mktemp -d /tmp/hubfs-run.XXXXXX)"
export HUBFS_TEST_TMP="$RUN_TMP"
# torch.hub's reference answers (tests/analysis), asked once per run
export HUBFS_TORCH_REF_CACHE="$RUN_TMP/torch-ref"

check_no_leftover_mounts() {
	if grep -qF " $RUN_TMP/" /proc/self/mountinfo; then
		echo "run_all: test mounts left behind:"
		grep -F " $RUN_TMP/" /proc/self/mountinfo
		return 1
	fi
	return 0
}

if ! step "dependencies" hubfs_setup_deps; then
	echo "run_all: 0 passed, 1 failed"
	exit 1
fi

export CI="${CI:-}"
if step "build (RelWithDebInfo)" build build; then
	step "unit tests (ctest)" unit build
	step "integration tests" integration build
	step "trust suite (multi-user)" trust build
	step "python helper tests" python_helper build
	step "real-repository corpus" corpus build
	step "crash and soak tests" crash_soak build
	step "fault suite" faults build
else
	skip "unit tests (ctest)" "build failed"
	skip "integration tests" "build failed"
	skip "trust suite (multi-user)" "build failed"
	skip "crash and soak tests" "build failed"
	skip "fault suite" "build failed"
	skip "python helper tests" "build failed"
	skip "real-repository corpus" "build failed"
fi

if [ "${HUBFS_SKIP_ASAN:-0}" = 1 ] && [ -z "${CI:-}" ]; then
	echo "=== run_all: sanitizer build skipped (HUBFS_SKIP_ASAN=1)"
else
	export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
	# CPython does not free all of itself at Py_FinalizeEx; the daemon embeds
	# it (py/), so leaks under libpython frames are not ours.  See the file.
	export LSAN_OPTIONS="suppressions=$ROOT/tests/analysis/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
	# the resume-under-fsync-load race is counted in the release pass (100
	# runs); the sanitizer pass looks for memory errors, which 25 runs of the
	# same code exercise (saves ~80 s of CI)
	export HUBFS_RESUME_RUNS="${HUBFS_RESUME_RUNS:-25}"
	if step "build (ASan+UBSan)" build build-asan -DHUBFS_SANITIZE=ON; then
		step "unit tests (ctest, ASan+UBSan)" unit build-asan
		step "integration tests (ASan+UBSan)" integration build-asan
		step "trust suite (multi-user, ASan+UBSan)" trust build-asan
		step "fault suite (ASan+UBSan)" faults build-asan
		step "python helper tests (ASan+UBSan)" python_helper build-asan
		# a killed daemon reports nothing: the kill -9 runs stay release-only
		step "stop, full-disk and soak tests (ASan+UBSan)" crash_stop build-asan
	else
		skip "unit tests (ctest, ASan+UBSan)" "build failed"
		skip "integration tests (ASan+UBSan)" "build failed"
		skip "trust suite (multi-user, ASan+UBSan)" "build failed"
		skip "fault suite (ASan+UBSan)" "build failed"
		skip "python helper tests (ASan+UBSan)" "build failed"
		skip "stop, full-disk and soak tests (ASan+UBSan)" "build failed"
	fi
fi
# libFuzzer targets (clang, ASan+UBSan), 15 s each over the seed corpus
step "fuzz (short)" bash "$ROOT/tests/fuzz/run.sh" "${FUZZ_SECONDS:-15}"
step "no hubfs mount left behind" check_no_leftover_mounts

echo
if [ "$failed" -ne 0 ]; then
	printf 'run_all: failed steps: %s\n' "$(IFS=';'; echo "${failed_steps[*]}")"
	echo "run_all: work dirs and hubfs logs of failed tests kept under $RUN_TMP"
elif ! grep -qF " $RUN_TMP/" /proc/self/mountinfo; then
	rm -rf "$RUN_TMP"
fi
echo "run_all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
