#!/bin/bash
# bench_ops.sh [BUILD_DIR [matmul|conv1d]] — compiles bench/bench_ops.c against the static
# library of BUILD_DIR (default build) and runs it on 2 threads, then runs
# bench/bench_ops.py (PyTorch) on 2 threads when torch is available.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
which=${2:-}
lib=$build/lib/libattograd.a
[ -f "$lib" ] || { echo "bench_ops.sh: $lib not found; build first (cmake --build $build)" >&2; exit 1; }
out=$build/bin/bench_ops
mkdir -p "$build/bin"
cc -std=c11 -O3 -march=native -fopenmp -D_POSIX_C_SOURCE=200809L -I"$root" \
    "$root/bench/bench_ops.c" "$lib" -lstb -lm -o "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
"$out" $which
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 "$root/bench/bench_ops.py"
else
    echo "PyTorch not available: skipping bench_ops.py"
fi
