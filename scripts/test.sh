#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the whole test suite:
#   1. the GoogleTest suite through ctest on the release build (unit tests, bit-exactness against
#      llama.cpp's quantized files, cross-checks against PyPI gguf, the real default model);
#   2. the same suite built with AddressSanitizer and UndefinedBehaviorSanitizer;
#   3. the fuzzers: the GGUF reader for FUZZ_SECONDS (default 60), the chat-template interpreter
#      and the tokenizer for half that each, from seed corpora.
# Any failure stops the script with a non-zero status.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== tests (release build)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
echo "== tests under AddressSanitizer and UndefinedBehaviorSanitizer"
scripts/sanitize.sh
echo "== fuzzing the GGUF reader, the chat-template interpreter and the tokenizer"
scripts/fuzz.sh
