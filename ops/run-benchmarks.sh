#!/usr/bin/env bash
# Every throughput figure of docs/scaling.md and docs/engine.md, for the default student and the embedded
# Gemma, one after the other on this machine; each bench's JSON goes to reports/benchmarks/<student>/.
# Run it on a quiet machine (nothing else decoding): it takes 30-60 min on 2 cores.
#   bash ops/run-benchmarks.sh                 # both students
#   bash ops/run-benchmarks.sh gemma-270m      # one
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/bootstrap.sh
pld="${PLD_VENV:-.venv}/bin/pld"
python="${PLD_VENV:-.venv}/bin/python"
"$python" -m ops.services start
python3 ops/llama_server.py build >/dev/null  # the peer: compiled once per machine (~15 min on 2 cores)
students=("$@")
[ ${#students[@]} -gt 0 ] || students=(qwen-1.5b gemma-270m)
for student in "${students[@]}"; do
    out="reports/benchmarks/$student"
    mkdir -p "$out"
    case "$student" in
        gemma-270m) requests=1000 ;;
        *) requests=300 ;;
    esac
    run() {  # name, then the bench's arguments
        local name=$1
        shift
        echo "== $student: pld bench $*" >&2
        PLD_STUDENT="$student" "$pld" bench "$@" --json >"$out/$name.json"
    }
    run stream-1-process stream --requests "$requests" --processes 1
    run stream-default stream --requests "$requests"
    run stream-4-processes stream --requests "$requests" --processes 4
    run peers peers
    run policy policy
done
echo "figures in reports/benchmarks/" >&2
