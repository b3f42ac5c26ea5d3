#!/usr/bin/env bash
# Sets up everything tessera needs on a fresh Debian 12 machine, and builds it. Idempotent: a
# second run installs nothing new and rebuilds only what changed.
#   1. Debian packages (compilers, libraries, PCRE2 and libedit, Vulkan SDK and lavapipe, clang for
#      the fuzzer).
#   2. A Python virtual environment (.venv) with the reference tools used by tests and fixtures.
#   3. The default model, Gemma 3 270M Q4_K_M, into the user cache (scripts/fetch_model.py).
#   4. A release build in build/.
# Options: --no-model skips step 3; --no-build skips step 4.
set -euo pipefail
cd "$(dirname "$0")/.."

want_model=1 want_build=1
for arg in "$@"; do
  case "$arg" in
    --no-model) want_model=0 ;;
    --no-build) want_build=0 ;;
    *) echo "setup.sh: unknown option '$arg' (known: --no-model --no-build)" >&2; exit 2 ;;
  esac
done

packages=(cmake g++ pkg-config libgtest-dev libxxhash-dev nlohmann-json3-dev libpcre2-dev libedit-dev
  libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers clang
  libclang-rt-14-dev python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The reference Python tools, pinned so that cross-checks are repeatable.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import gguf, numpy' 2>/dev/null; then
  echo "setup: installing Python tools into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
fi

if ((want_model)); then
  .venv/bin/python scripts/fetch_model.py
fi

if ((want_build)); then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release | grep -E "tessera backends|Error|error" || true
  cmake --build build -j"$(nproc)"
fi
