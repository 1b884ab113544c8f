#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, slow and GUI tests included.
set -euo pipefail
cd "$(dirname "$0")"
. packaging/setup.sh
export QT_QPA_PLATFORM=offscreen
ruff check engine gui tests bench
mypy
exec python -m pytest "$@"
