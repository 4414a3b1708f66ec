#!/usr/bin/env bash
# Create or update the project virtualenv (.venv) from requirements.txt.
# Re-running is cheap: pip is skipped when requirements.txt is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${RAGOPS_VENV:-.venv}
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

stamp="$VENV/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt
  echo "$want" >"$stamp"
fi
echo "virtualenv ready: $VENV ($("$VENV/bin/ansible" --version | sed -n 1p))"
