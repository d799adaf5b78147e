#!/usr/bin/env bash
# Runs the test suite (CPU) in the project's virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${GROMA_VENV:-.venv}
exec "$VENV/bin/python" -m pytest -q "$@"
