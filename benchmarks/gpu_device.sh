#!/usr/bin/env bash
# benchmarks/gpu.py on a lent GPU machine (issue 15). That machine has JAX, NumPy, h5py, absl,
# rich, ml_dtypes and packaging but no Keras and no TensorFlow; Keras (pure Python) and its
# missing needs (namex, pure Python; optree, a CPython 3.12 wheel) travel as wheels in .whl/.
#
#   1. here, once:   bash benchmarks/gpu_device.sh prepare          # fills .whl/ (git-ignored)
#   2. device tool:  run(command="bash benchmarks/gpu_device.sh run", carry=[".whl"], timeout_s=540)
#      -> $OUT/gpu.json and $OUT/gpu.log come back; expected wall < 5 min on an H100/H200
#         (gpu.py stops starting model configurations after --budget_s 240).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-run}" in
  prepare)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    KERAS_VERSION="$(python3 -c 'import importlib.metadata as m; print(m.version("keras"))')"
    rm -rf .whl && mkdir -p .whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
      "keras==${KERAS_VERSION}" namex optree
    ls -la .whl ;;
  run)
    ls .whl/keras-*.whl >/dev/null || { echo "no .whl/keras-*.whl: run 'prepare' here and carry .whl" >&2; exit 2; }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
    OUT="${OUT:-/tmp/gpu_bench}"; mkdir -p "$OUT"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    set -o pipefail
    python3 benchmarks/gpu.py --json "$OUT/gpu.json" "${@:2}" 2>&1 | tee "$OUT/gpu.log" ;;
  *) echo "usage: $0 prepare|run [gpu.py flags]" >&2; exit 2 ;;
esac
