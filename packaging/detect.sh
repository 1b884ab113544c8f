# Sourced by packaging/setup.sh (and by tests): which torch build this machine wants.
#
#   torch_variant      prints cpu, cu126, cu128 or cu130: the newest CUDA build of the locked
#                      torch that the NVIDIA driver (nvidia-smi's "CUDA Version") can run,
#                      else cpu. DISTILLAB_TORCH=cpu|cuXYZ overrides it (auto: detect).
#   torch_index_url V  prints the package index for variant V: the PyTorch index for that
#                      build, or nothing (pip's own sources: PyPI's torch is the CPU/MPS build
#                      on macOS). DISTILLAB_TORCH_INDEX=URL overrides it ("" = pip's sources).
#
# The table must match engine/doctor.py's CUDA_VARIANTS (tests/test_install.py checks it).
DISTILLAB_CUDA_VARIANTS="13.0:cu130 12.8:cu128 12.6:cu126"

torch_variant() {
    case "${DISTILLAB_TORCH:-auto}" in
        auto) ;;
        cpu | cu[0-9]*) echo "$DISTILLAB_TORCH"; return 0 ;;
        *) echo "distillab setup: DISTILLAB_TORCH=$DISTILLAB_TORCH: use auto, cpu or cuXYZ" \
                "(e.g. cu128)" >&2
           return 1 ;;
    esac
    if ! command -v nvidia-smi >/dev/null 2>&1; then echo cpu; return 0; fi
    local banner cuda major minor pair have want_major want_minor
    banner=$(nvidia-smi 2>/dev/null) || banner=""  # a failing nvidia-smi: no usable GPU
    cuda=$(printf '%s\n' "$banner" | awk 'match($0, /CUDA Version: *[0-9]+\.[0-9]+/) {
        s = substr($0, RSTART, RLENGTH); sub(/.*: */, "", s); print s; exit }')
    if [ -z "$cuda" ]; then echo cpu; return 0; fi
    major=${cuda%%.*}; minor=${cuda#*.}
    for pair in $DISTILLAB_CUDA_VARIANTS; do
        have=${pair%%:*}; want_major=${have%%.*}; want_minor=${have#*.}
        if [ "$major" -gt "$want_major" ] \
           || { [ "$major" -eq "$want_major" ] && [ "$minor" -ge "$want_minor" ]; }; then
            echo "${pair#*:}"; return 0
        fi
    done
    echo "distillab setup: the NVIDIA driver supports CUDA $cuda, older than every CUDA build" \
         "of this torch (oldest: ${DISTILLAB_CUDA_VARIANTS##* }); installing the CPU build." \
         "Update the driver and re-run the set-up." >&2
    echo cpu
}

torch_index_url() {
    if [ -n "${DISTILLAB_TORCH_INDEX+set}" ]; then echo "$DISTILLAB_TORCH_INDEX"; return 0; fi
    if [ "$(uname -s)" = Darwin ]; then echo ""; return 0; fi
    echo "https://download.pytorch.org/whl/$1"
}

# torch_build_of PYTHON: the torch build installed there (cpu, cuXYZ, or none)
torch_build_of() {
    "$1" -c "import torch; c = torch.version.cuda; print('cu' + c.replace('.', '')[:3] if c else 'cpu')" \
        2>/dev/null || echo none
}
