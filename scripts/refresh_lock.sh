#!/usr/bin/env bash
# Refresh requirements/lock.txt: install the newest versions that pyproject.toml allows into a
# throw-away venv, run the test suite there, and only if it passes write the exact versions.
#   bash scripts/refresh_lock.sh            # from the repository root
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -e ".[test]"
"$venv/bin/python" -m pytest -q -p no:cacheprovider
{
    echo "# Exact versions the test suite passed with (Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'), $(uname -m) Linux)."
    echo "# Made by scripts/refresh_lock.sh on $(date -u +%Y-%m-%d); install with"
    echo "#   pip install -c requirements/lock.txt -e \".[test]\""
    # a local build label (torch's +cpu) is dropped: '==2.13.0' still accepts 2.13.0+cpu
    "$venv/bin/pip" freeze --exclude-editable | sed -E 's/^([A-Za-z0-9_.-]+==[^+]+)\+[A-Za-z0-9.]+$/\1/'
} > requirements/lock.txt.new
mv requirements/lock.txt.new requirements/lock.txt
echo "requirements/lock.txt refreshed: $(grep -c '==' requirements/lock.txt) pinned packages"
