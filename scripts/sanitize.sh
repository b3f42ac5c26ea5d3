#!/usr/bin/env bash
# Builds tessera with AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/ and runs the
# test suite there; any sanitizer report fails the test that caused it. Arguments go to ctest
# (e.g. scripts/sanitize.sh -R GgufHostile).
# Settings: SANITIZE_BUILD_DIR (build-asan), SANITIZE_BUILD_JOBS (nproc), SANITIZE_CMAKE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${SANITIZE_BUILD_DIR:-build-asan}
jobs=${SANITIZE_BUILD_JOBS:-$(nproc)}

# shellcheck disable=SC2086  # SANITIZE_CMAKE_ARGS is a list of arguments
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_SANITIZE=ON \
  ${SANITIZE_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$jobs"

# allocator_may_return_null: an impossible allocation must fail as it does in production (the
# library reports it as an error), not abort the process.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j"$jobs" "$@"
