#!/usr/bin/env bash
# Speculative decoding against plain greedy decoding in the same run, on input-grounded prompts
# (repeat or edit a ~300-token code block), with `tessera bench --spec`: for each prompt and
# drafter, both generation speeds, the speed-up, acceptance by draft position and tokens per
# target pass; `tessera bench` exits 1 when a speculative output differs from the plain one.
#   bench/speculative/run_bench.sh [TARGET.gguf] [DRAFT.gguf] [extra tessera bench flags...]
# Defaults: the default model as target, no draft model; -t 2, 256 tokens (N_PREDICT), -r 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
tool=build/bin/tessera
target=${1:-$HOME/.cache/tessera/models/gemma-3-270m-q4_k_m.gguf}
draft=${2:-}
shift $(( $# > 2 ? 2 : $# )) || true
extra=("$@")
n=${N_PREDICT:-256}

modes=(ngram)
[ -n "$draft" ] && modes+=(draft)
for prompt in repeat edit; do
  for mode in "${modes[@]}"; do
    flags=(--spec "$mode")
    [ "$mode" = draft ] && flags+=(--draft-model "$draft")
    echo "## $prompt prompt, --spec $mode"
    "$tool" bench -m "$target" -f "bench/speculative/${prompt}_prompt.txt" -n "$n" -r 1 -t 2 \
      "${flags[@]}" "${extra[@]}"
    echo
  done
done
