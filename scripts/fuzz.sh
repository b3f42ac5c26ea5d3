#!/usr/bin/env bash
# Builds tessera's fuzzers with clang (libFuzzer, AddressSanitizer, UndefinedBehaviorSanitizer) in
# build-fuzz/ and runs each from a seed corpus generated here:
#   - gguf_reader_fuzz, the GGUF reader, for FUZZ_SECONDS (default 60), from tessera's hostile and
#     valid test files, plus files from PyPI gguf's GGUFWriter when the .venv exists;
#   - chat_template_fuzz, the chat-template interpreter, for FUZZ_TEMPLATE_SECONDS (default half
#     of FUZZ_SECONDS), from the shared model templates and the jinja2 construct fixtures;
#   - tokenizer_fuzz, the tokenizers over the shared vocabularies, for FUZZ_TOKENIZER_SECONDS
#     (default half of FUZZ_SECONDS), from the strings of llama.cpp's vocabulary tests.
# Each keeps what it finds in its own corpus folder, build-fuzz/fuzz-corpus*, between runs. Runs
# them all, then exits non-zero if any found a crash, sanitizer report, leak, timeout or
# out-of-memory; the input that caused it is left in build-fuzz/fuzz-artifacts/, named after the
# fuzzer (rerun it with: build-fuzz/bin/NAME FILE).
#   FUZZ_SECONDS=300 scripts/fuzz.sh
# Settings: FUZZ_SECONDS, FUZZ_TEMPLATE_SECONDS, FUZZ_TOKENIZER_SECONDS, FUZZ_BUILD_DIR
# (build-fuzz), FUZZ_BUILD_JOBS (nproc), TESSERA_TESTDATA (../shared/testdata: the templates and
# vocabularies).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
half=$(( seconds / 2 > 0 ? seconds / 2 : 1 ))  # libFuzzer reads 0 seconds as no limit
template_seconds=${FUZZ_TEMPLATE_SECONDS:-$half}
tokenizer_seconds=${FUZZ_TOKENIZER_SECONDS:-$half}
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}
export TESSERA_TESTDATA=${TESSERA_TESTDATA:-$PWD/../shared/testdata}

for tool in clang clang++; do
  command -v "$tool" >/dev/null || { echo "fuzz: $tool not found (scripts/setup.sh installs it)" >&2; exit 2; }
done

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DTESSERA_FUZZ=ON -DTESSERA_VULKAN=OFF -DTESSERA_CUDA=OFF \
  -DTESSERA_TESTDATA="$TESSERA_TESTDATA" >/dev/null
cmake --build "$build" -j"$jobs" --target gguf_reader_fuzz chat_template_fuzz tokenizer_fuzz \
  gguf_fuzz_seed_corpus text_fuzz_seed_corpus

seeds="$build/tests/fuzz"
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
gguf_seeds=("$seeds/seeds")
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import gguf' 2>/dev/null; then
  .venv/bin/python tests/refgen/gguf_fuzz_seeds.py "$seeds/seeds-gguf-py"
  gguf_seeds+=("$seeds/seeds-gguf-py")
else
  echo "fuzz: no .venv with gguf (scripts/setup.sh makes it); fuzzing without GGUFWriter seeds"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
# fuzz NAME SECONDS CORPUS [LIBFUZZER OPTIONS...] -- SEED FOLDERS...
fuzz() {
  local name=$1 time=$2 corpus=$3
  shift 3
  local options=()
  while [ "$1" != "--" ]; do options+=("$1"); shift; done
  shift
  mkdir -p "$corpus"
  echo "fuzz: running $name for $time s"
  local status=0
  "$build/bin/$name" -max_total_time="$time" -artifact_prefix="$artifacts/$name-" \
    -print_final_stats=1 "${options[@]}" "$corpus" "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $name FAILED (exit $status); the input is in $artifacts/$name-*" >&2
    failed+=("$name")
  fi
}

# The limits. -rss_limit_mb is the whole process, AddressSanitizer's shadow memory and its 256 MiB
# quarantine of freed blocks included, so it is libFuzzer's default, 2 GiB: only a leak or memory
# that grows without bound reaches it. -malloc_limit_mb is any one allocation, sized to what the
# target's input justifies. -timeout is one input, at least ten times what the slowest legitimate
# one needs on a slow CI machine.
#
# GGUF: the reader's budget is 8x the file plus 1 MiB, so a 256 MiB allocation from a 64 KiB input
# is a count that slipped past it.
fuzz gguf_reader_fuzz "$seconds" "$build/fuzz-corpus" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -malloc_limit_mb=256 -dict=tests/fuzz/gguf.dict -- "${gguf_seeds[@]}"
# Templates: the target renders with limits of 100000 steps, 16 KiB strings and 4096 items, which
# take well under a second with the sanitizers (3 renders an input), and no string or list within
# them comes near 64 MiB: a render that passes either limit did work or made data that its
# budget did not count. 8 KiB holds the largest shared template with a message.
fuzz chat_template_fuzz "$template_seconds" "$build/fuzz-corpus-chat-template" -max_len=8192 \
  -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=64 -dict=tests/fuzz/jinja.dict \
  -- "$seeds/seeds-chat-template"
# Tokenizer: 1 KiB of text encodes in milliseconds, 4 ways, with no allocation near 64 MiB; the
# vocabularies (about 150 MiB with the sanitizers) are loaded in LLVMFuzzerInitialize, before
# libFuzzer limits allocations.
fuzz tokenizer_fuzz "$tokenizer_seconds" "$build/fuzz-corpus-tokenizer" -max_len=1024 \
  -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=64 -- "$seeds/seeds-tokenizer"

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}; the inputs are in $artifacts/" >&2
  exit 1
fi
echo "fuzz: no failures (gguf_reader_fuzz $seconds s, chat_template_fuzz $template_seconds s," \
  "tokenizer_fuzz $tokenizer_seconds s)"
