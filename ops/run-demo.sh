#!/usr/bin/env bash
# The main job on the embedded default: set up, then `pld demo` (Kafka, Redis, a worker, sample traffic).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/bootstrap.sh
exec "${PLD_VENV:-.venv}/bin/pld" demo "$@"
