#!/usr/bin/env bash
# Installs what pld-moderation needs on a fresh Debian/Ubuntu machine, then the Python venv.
# Idempotent: every step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PLD_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v cmake >/dev/null || need_apt+=(cmake)
command -v c++ >/dev/null || need_apt+=(build-essential)
if ((${#need_apt[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing system packages: ${need_apt[*]} (install them, or run this script as root)" >&2
    exit 1
  fi
  echo "installing system packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# llama-cpp-python has no wheel on PyPI. ops/llama_build.py compiles it once (~10 min on 2 cores) with
# explicit CPU flags (never -march=native, never AMX), keeps the wheel under a key of its flags, and
# installs it; the project's own install below then finds it already satisfied.
"$VENV/bin/python" ops/llama_build.py install --python "$VENV/bin/python"
"$VENV/bin/python" -m pip install -q -e ".[dev]"
