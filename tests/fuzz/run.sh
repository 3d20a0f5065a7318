#!/bin/bash
# run.sh — build and run the libFuzzer harnesses of tests/fuzz.
#
#   tests/fuzz/run.sh [SECONDS]          each harness for SECONDS (default 30)
#   tests/fuzz/run.sh --runs N           each harness for N executions (the long run:
#                                        nice -n 10 tests/fuzz/run.sh --runs 10000000)
#   tests/fuzz/run.sh ... HARNESS...     only these (npy safetensors model config tsv bible)
#
# Builds build-fuzz/ with clang (-fsanitize=fuzzer,address,undefined, leak
# checks on) unless AG_FUZZ_BUILD names another build directory. Each
# harness starts from its committed seed corpus (tests/fuzz/corpus/NAME,
# copied: new inputs go to build-fuzz/corpus/NAME) with its dictionary, one
# process, one thread. Any crash, leak, sanitizer report, timeout (10 s) or
# 2 GB of memory is a finding: its input is kept in build-fuzz/findings/ and
# the script exits 1. Prints each harness's executions and speed.
set -u
cd "$(dirname "$0")/../.."
limit=(-max_total_time=30)
names=()
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) limit=(-runs="$2"); shift 2 ;;
    [0-9]*) limit=(-max_total_time="$1"); shift ;;
    *) names+=("$1"); shift ;;
    esac
done
[ ${#names[@]} -gt 0 ] || names=(npy safetensors model config tsv bible)
B="${AG_FUZZ_BUILD:-build-fuzz}"
if ! command -v clang >/dev/null; then
    echo "run.sh: clang is needed (Debian: apt-get install clang libclang-rt-14-dev libomp-dev)" >&2
    exit 2
fi
CC=clang cmake -S . -B "$B" -DAG_FUZZ=ON -DAG_NATIVE=OFF -DAG_TESTS=OFF -DAG_MPI=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$B" -j2 --target "${targets[@]}" >/dev/null || exit 2
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
for n in "${names[@]}"; do
    mkdir -p "$B/corpus/$n" "$B/findings/$n"
    cp -n tests/fuzz/corpus/"$n"/* "$B/corpus/$n/" 2>/dev/null
    log="$B/fuzz_$n.log"
    "$B/bin/fuzz_$n" "${limit[@]}" -dict=tests/fuzz/"$n".dict -max_len=16384 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$B/findings/$n/" \
        "$B/corpus/$n" > "$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    echo "fuzz_$n: ${runs:-?} executions in ${secs:-?} s, exit $status"
    if [ "$status" != 0 ]; then
        rc=1
        grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -20
    fi
done
exit $rc
