#!/usr/bin/env bash
# Builds the GGUF reader's fuzzer with clang (libFuzzer, AddressSanitizer, UndefinedBehavior-
# Sanitizer) in build-fuzz/ and runs it for FUZZ_SECONDS (default 60) from a seed corpus that is
# generated here: tessera's hostile and valid test files, plus files from PyPI gguf's GGUFWriter
# when the .venv exists. Exits non-zero on any crash, sanitizer report, leak, timeout or
# out-of-memory; the input that caused it is left in build-fuzz/fuzz-artifacts/.
#   FUZZ_SECONDS=300 scripts/fuzz.sh
# Settings: FUZZ_SECONDS, FUZZ_BUILD_DIR (build-fuzz), FUZZ_BUILD_JOBS (nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "fuzz: $tool not found (scripts/setup.sh installs it)" >&2; exit 2; }
done

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DTESSERA_FUZZ=ON -DTESSERA_VULKAN=OFF -DTESSERA_CUDA=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target gguf_reader_fuzz gguf_fuzz_seed_corpus

fuzzer="$build/bin/gguf_reader_fuzz"
seeds="$build/tests/fuzz/seeds"
corpus="$build/fuzz-corpus"      # what the fuzzer finds; kept between runs
artifacts="$build/fuzz-artifacts"
mkdir -p "$corpus" "$artifacts"
corpora=("$corpus" "$seeds")
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import gguf' 2>/dev/null; then
  .venv/bin/python tests/refgen/gguf_fuzz_seeds.py "$build/tests/fuzz/seeds-gguf-py"
  corpora+=("$build/tests/fuzz/seeds-gguf-py")
else
  echo "fuzz: no .venv with gguf (scripts/setup.sh makes it); fuzzing without GGUFWriter seeds"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz: running $fuzzer for $seconds s"
# -malloc_limit_mb: no single allocation may come near what a 64 KiB input justifies; the reader's
# budget is 8x the file plus 1 MiB, so 256 MiB catches a count that slipped past it.
status=0
"$fuzzer" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -malloc_limit_mb=256 -dict=tests/fuzz/gguf.dict -artifact_prefix="$artifacts/" \
  -print_final_stats=1 "${corpora[@]}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status); the input is in $artifacts/" >&2
  exit "$status"
fi
echo "fuzz: no failures in $seconds s"
