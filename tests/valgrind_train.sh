#!/usr/bin/env bash
# valgrind_train.sh BIN_DIR — a short training run (examples/train_mlp, a few
# epochs on two threads) under valgrind's memcheck. Fails on any invalid
# read or write, use of uninitialised memory, or leak (definite, indirect or
# possible). Builds nothing: BIN_DIR is an existing build's bin directory.
# That build must be portable (cmake -DAG_NATIVE=OFF): valgrind cannot run
# the AVX-512 instructions a -march=native build uses on such CPUs.
# Run by .ci/run, not by ctest (valgrind makes it slow).
set -euo pipefail

bin="${1:-}"
if [[ -z "$bin" || ! -x "$bin/train_mlp" ]]; then
    echo "valgrind_train.sh: expected a build's bin directory holding train_mlp, received '${bin}'" >&2
    exit 2
fi
if ! command -v valgrind >/dev/null; then
    echo "valgrind_train.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The one block not ours: the thread-local storage glibc gives each OpenMP
# worker thread, which libgomp keeps alive until exit.
cat >"$work/libgomp.supp" <<'SUPP'
{
   libgomp-worker-thread-tls
   Memcheck:Leak
   match-leak-kinds: possible
   ...
   fun:_dl_allocate_tls
   ...
   obj:*/libgomp.so*
}
SUPP
status=0
OMP_NUM_THREADS=2 valgrind --quiet --error-exitcode=1 --leak-check=full \
    --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
    --suppressions="$work/libgomp.supp" --log-file="$work/log" \
    "$bin/train_mlp" --epochs 3 --hidden 16 || status=$?
cat "$work/log"
if grep -q "Illegal opcode\|unhandled instruction" "$work/log"; then
    echo "valgrind_train.sh: FAILED: valgrind cannot decode an instruction of $bin/train_mlp;" \
        "build it with cmake -DAG_NATIVE=OFF and pass that build's bin directory" >&2
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "valgrind_train.sh: FAILED (exit status $status)" >&2
    exit 1
fi
echo "valgrind_train.sh: no leaks, no memory errors"
