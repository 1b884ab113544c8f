#!/usr/bin/env bash
# Set up (idempotent) and start Distillab: the GUI when a display is available,
# otherwise the headless demo run on the embedded default model.
set -euo pipefail
cd "$(dirname "$0")"
. packaging/setup.sh
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "${QT_QPA_PLATFORM:-}" != "offscreen" ]; then
    exec distillab gui "$@"
else
    echo "No display found: running the headless demo (distillab demo)."
    exec distillab demo "$@"
fi
