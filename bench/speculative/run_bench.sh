#!/usr/bin/env bash
# Speculative decoding against plain greedy decoding in the same run, on input-grounded prompts
# (repeat or edit a ~300-token code block). Prints each configuration's generation tokens/s,
# the speed-up over plain decoding and the speculation statistics, and checks that every
# speculative output is byte for byte the plain one.
#   bench/speculative/run_bench.sh [TARGET.gguf] [DRAFT.gguf] [extra tessera run flags...]
# Defaults: the default model as target, no draft model; -t 2, 256 tokens, greedy.
set -euo pipefail
cd "$(dirname "$0")/../.."
tool=build/bin/tessera
target=${1:-$HOME/.cache/tessera/models/gemma-3-270m-q4_k_m.gguf}
draft=${2:-}
shift $(( $# > 2 ? 2 : $# )) || true
extra=("$@")
n=${N_PREDICT:-256}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

rate() { sed -n 's/.*generation: .*(\s*\([0-9.]*\) tokens\/s).*/\1/p' "$1"; }

for prompt in repeat edit; do
  file=bench/speculative/${prompt}_prompt.txt
  modes=(none ngram)
  [ -n "$draft" ] && modes+=(draft)
  for mode in "${modes[@]}"; do
    flags=(--spec "$mode")
    [ "$mode" = draft ] && flags+=(--draft-model "$draft")
    "$tool" run -m "$target" -f "$file" -n "$n" --temp 0 -t 2 --ignore-eos --verbose \
      "${flags[@]}" "${extra[@]}" > "$out/$prompt.$mode.txt" 2> "$out/$prompt.$mode.err"
    r=$(rate "$out/$prompt.$mode.err")
    base=$(rate "$out/$prompt.none.err")
    same=same
    cmp -s "$out/$prompt.$mode.txt" "$out/$prompt.none.txt" || same=DIFFERENT
    speedup=$(awk -v a="$r" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
    printf '%-7s %-6s %8s tok/s  x%s  output %s\n' "$prompt" "$mode" "$r" "$speedup" "$same"
    grep -h "speculation\|acceptance by" "$out/$prompt.$mode.err" | sed 's/^/        /' || true
  done
done
