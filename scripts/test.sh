#!/usr/bin/env bash
# Every test: installs what is missing, builds three ways and runs the tests.
#   build/asan  ASan+UBSan, every test            (ctest in build/asan)
#   build/tsan  ThreadSanitizer, concurrency tests (ctest -L concurrency in build/tsan)
#   build/rel   RelWithDebInfo: the tools and benchmarks must build; its tests are not rerun
# Configuring fails if a *_test.cc exists that no errseq_add_test() registers.
# Ends with one line: "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1
jobs=$(nproc)

build() {  # dir, cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null || return 1
  cmake --build "$dir" -j "$jobs" || return 1
}

passed=0; failed=0
run_ctest() {  # dir, ctest args...
  local dir=$1; shift
  local log
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") 2>&1 | tee "$log"
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [[ -z $line ]]; then
    echo "errseq: ctest in $dir printed no summary" >&2
    failed=$((failed + 1))
  else
    local f t
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + t - f)); failed=$((failed + f))
  fi
  rm -f "$log"
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

echo "== build: ASan+UBSan"
build build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DERRSEQ_SANITIZE=address \
  -DERRSEQ_BUILD_BENCH=OFF || { echo "tests: 0 passed, 1 failed"; exit 1; }
echo "== build: ThreadSanitizer (concurrency tests)"
build build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DERRSEQ_SANITIZE=thread \
  -DERRSEQ_TEST_LABEL=concurrency -DERRSEQ_BUILD_BENCH=OFF || { echo "tests: 0 passed, 1 failed"; exit 1; }
echo "== build: RelWithDebInfo (tools, benchmarks)"
build build/rel -DCMAKE_BUILD_TYPE=RelWithDebInfo || { echo "tests: 0 passed, 1 failed"; exit 1; }

echo "== tests under ASan+UBSan"
run_ctest build/asan
echo "== concurrency tests under ThreadSanitizer"
run_ctest build/tsan -L concurrency

echo "tests: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
