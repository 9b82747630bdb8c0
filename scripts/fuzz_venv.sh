#!/usr/bin/env bash
# The schema fuzzer's own virtualenv (.venv-fuzz), with requirements-fuzz.txt's pins; reinstalled only when they change.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON_BIN="${PYTHON_BIN:-$(command -v python3.11 || command -v python3)}"
[ -x .venv-fuzz/bin/python ] || "$PYTHON_BIN" -m venv .venv-fuzz
wanted=$(sha256sum requirements-fuzz.txt | cut -d' ' -f1)
if [ "$(cat .venv-fuzz/.requirements.sha256 2>/dev/null)" != "$wanted" ]; then
  .venv-fuzz/bin/python -m pip install --quiet -r requirements-fuzz.txt
  echo "$wanted" > .venv-fuzz/.requirements.sha256
fi
