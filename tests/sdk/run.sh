#!/usr/bin/env bash
# Runs the SDK compatibility suite (tests/sdk) against real Parley servers, SQLite and
# PostgreSQL, through the official Telnyx Python SDK.
#
# Creates the virtualenv <repo>/.venv-sdk on first use and keeps it in line with
# tests/sdk/requirements.txt (re-installing only when that file changed). Extra arguments go
# to pytest. The environment is passed through: PARLEY_BIN (default
# <repo>/target/debug/parley) and PARLEY_TEST_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/postgres). Exits with pytest's status.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.venv-sdk"
requirements="$here/requirements.txt"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    echo "run.sh: creating $venv" >&2
    "$python" -m venv "$venv"
fi

# Install when the requirements changed since the last successful install (or never ran).
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "run.sh: installing $requirements" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" >"$stamp"
fi

cd "$repo"
set +e
"$venv/bin/python" -m pytest tests/sdk -q "$@"
status=$?
set -e
exit "$status"
