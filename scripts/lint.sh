#!/usr/bin/env bash
# Lint, format check and type check, as configured in pyproject.toml. Exit code non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
status=0
"$PY" -m ruff check . || status=1
"$PY" -m ruff format --check . || status=1
"$PY" -m mypy exo_vision || status=1
exit $status
