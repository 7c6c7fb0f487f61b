#!/usr/bin/env bash
# Non-blocking drift check: install the newest versions pyproject.toml allows (ignoring the lock)
# into a throw-away venv and run the test suite, so that a new release that breaks us is seen
# before requirements/lock.txt is bumped. Prints what differs from the lock; exits with pytest's status.
#   bash scripts/check_latest.sh [pytest args...]
set -uo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -e ".[test]" || exit 2
echo "== versions that differ from requirements/lock.txt"
"$venv/bin/python" - <<'PY'
from exo_vision.environment import lock_status
status = lock_status()
print("\n".join(status["differences"]) or "none: the newest versions are the locked ones")
PY
EXO_VISION_UNLOCKED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
