#!/usr/bin/env bash
# The test command: set up, start Kafka and Redis (if not already up), lint, type-check, build the docs,
# run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PLD_VENV:-.venv}"

bash ops/bootstrap.sh
PY="$VENV/bin/python"

started_services=0
if ! "$PY" -m ops.services status >/dev/null 2>&1; then
  "$PY" -m ops.services start
  started_services=1
fi
stop_services() {
  if ((started_services)); then "$PY" -m ops.services stop || true; fi
}
trap stop_services EXIT

"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy" .
NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --quiet  # the docs site: a broken link or page fails
"$VENV/bin/pytest" "$@"
