#!/bin/bash
# test_dist.sh — data-parallel training over MPI gives the one-process
# weights byte for byte, and a failing rank ends the job with its message.
#   attograd train --shards 4: alone = mpirun -np 1 = -np 2 (saved model cmp)
#   --shards 1 = whole batches; dist_train (dropout, uneven shards, sharded
#   validation): alone = -np 2 = -np 3, history and weights; 2 shards on
#   3 ranks (a rank with none)
#   a bad file on rank 1, different data on rank 1, a batch failing on
#   rank 1 mid-epoch, ranks without --shards: exit 1 or 2 with the message,
#   never a hang (timeout)
# Skips (77) when attograd was built without MPI or mpirun is missing.
set -u
BIN="${1:-${AG_BIN:-build/bin}}"
AG="$BIN/attograd"
DT="$BIN/dist_train"
MPIEXEC="${AG_MPIEXEC:-$(command -v mpirun)}"
if [ -z "$MPIEXEC" ] || [ ! -x "$MPIEXEC" ] || [ "$("$DT" --has-mpi)" != 1 ]; then
    echo "SKIP: attograd built without MPI, or no mpirun (apt-get install libopenmpi-dev openmpi-bin)"
    exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
T=$(mktemp -d /tmp/ag_dist_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# mpirun -np N CMD...: a hang reads as exit 124. Under the sanitizer build
# the ranks skip leak detection only: OpenMPI's components, unloaded at
# MPI_Finalize, leave allocations LeakSanitizer cannot even name (the same
# code run alone, above and below, keeps it).
mpi() {
    local n=$1
    shift
    if [ -n "${AG_SANITIZED:-}" ]; then
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" timeout 120 "$MPIEXEC" -np "$n" "$@"
    else
        timeout 120 "$MPIEXEC" -np "$n" "$@"
    fi
}

source "$(dirname "$0")/pairs.sh"
mkdir -p "$T/syn" "$T/bad"
gen 1 500 > "$T/syn/train.tsv"
gen 2 100 > "$T/syn/val.tsv"
gen 3 100 > "$T/syn/test.tsv"
TR=(train --data "$T/syn" --epochs 2 --dim 16 --filters 16 --max-tokens 100 --threads 1)

# --- the command: alone, -np 1, -np 2 ---
"$AG" "${TR[@]}" --shards 4 --save "$T/alone.safetensors" > "$T/alone.log" 2>&1 ||
    fail "train --shards 4 alone: $(cat "$T/alone.log")"
for n in 1 2; do
    mpi $n "$AG" "${TR[@]}" --shards 4 --save "$T/np$n.safetensors" > "$T/np$n.log" 2>&1
    rc=$?
    [ $rc = 0 ] || fail "mpirun -np $n train (exit $rc): $(tail -5 "$T/np$n.log")"
    cmp "$T/alone.safetensors" "$T/np$n.safetensors" && echo "ok: mpirun -np $n: the same weights, byte for byte"
    [ -f "$T/np$n.safetensors" ] && ! cmp -s "$T/alone.safetensors" "$T/np$n.safetensors" &&
        fail "mpirun -np $n: the weights differ from the one-process run"
    grep -q "data parallel: $n rank" "$T/np$n.log" || fail "mpirun -np $n: no 'data parallel: $n rank' line"
    [ "$(grep -c '^test: ' "$T/np$n.log")" = 1 ] || fail "mpirun -np $n: the test line is not printed once"
    grep "^test: " "$T/alone.log" | cmp -s - <(grep "^test: " "$T/np$n.log") ||
        fail "mpirun -np $n: test metrics differ from the one-process run"
done

# --- one shard is the whole batch ---
"$AG" "${TR[@]}" --epochs 1 --save "$T/s0.safetensors" > /dev/null 2>&1
"$AG" "${TR[@]}" --epochs 1 --shards 1 --save "$T/s1.safetensors" > /dev/null 2>&1
cmp "$T/s0.safetensors" "$T/s1.safetensors" || fail "--shards 1 differs from whole batches"

# --- the library: dropout, 5 shards of uneven rows, -np 2 and 3 ---
"$DT" --shards 5 --out "$T/dt_alone.safetensors" > "$T/dt_alone.txt" || fail "dist_train alone"
for n in 2 3; do
    mpi $n "$DT" --shards 5 --out "$T/dt$n.safetensors" > "$T/dt$n.txt" 2> "$T/dt$n.err" || fail "dist_train -np $n"
    cmp "$T/dt_alone.safetensors" "$T/dt$n.safetensors" || fail "dist_train -np $n: weights differ"
    cmp "$T/dt_alone.txt" "$T/dt$n.txt" || fail "dist_train -np $n: history differs"
done
# two shards on three ranks: rank 0 computes none and still takes the step
"$DT" --shards 2 --out "$T/k2.safetensors" > "$T/k2.txt" || fail "dist_train --shards 2 alone"
mpi 3 "$DT" --shards 2 --out "$T/k2n3.safetensors" > "$T/k2n3.txt" 2> "$T/k2n3.err" || fail "dist_train --shards 2 -np 3"
cmp "$T/k2.safetensors" "$T/k2n3.safetensors" && cmp "$T/k2.txt" "$T/k2n3.txt" ||
    fail "2 shards on 3 ranks differ from one process"
[ "$(wc -l < "$T/dt_alone.txt")" = 3 ] || fail "dist_train: expected 3 epochs: $(cat "$T/dt_alone.txt")"

# --- failures end every rank with the failing rank's message ---
# expect NAME EXPECTED-EXIT PATTERN CMD...: exit status, the message, once
expect() {
    local name=$1 want=$2 pat=$3
    shift 3
    "$@" > "$T/f.log" 2>&1
    local rc=$?
    [ $rc = 124 ] && fail "$name: hung (killed after 120 s)"
    [ $rc = "$want" ] || [ $rc = 124 ] || fail "$name: exit $rc, expected $want: $(tail -3 "$T/f.log")"
    [ "$(grep -c -- "$pat" "$T/f.log")" = 1 ] ||
        fail "$name: expected the message '$pat' once: $(tail -5 "$T/f.log")"
}
printf 'only one column\n' > "$T/bad/train.tsv"
cp "$T/syn/val.tsv" "$T/syn/test.tsv" "$T/bad/"
on_rank1() { # rank 1 reads DIR2 instead of DIR1
    echo "if [ \"\$OMPI_COMM_WORLD_RANK\" = 1 ]; then d=$2; else d=$1; fi; exec \"$AG\" train --data \"\$d\" --epochs 1 --dim 16 --filters 16 --max-tokens 100 --threads 1 --shards 4"
}
expect "a bad file on rank 1" 1 "attograd train: rank 1: .*train.tsv" \
    mpi 2 bash -c "$(on_rank1 "$T/syn" "$T/bad")"
mkdir -p "$T/more"
gen 1 700 > "$T/more/train.tsv"
cp "$T/syn/val.tsv" "$T/syn/test.tsv" "$T/more/"
expect "other data on rank 1" 1 "disagree on the batches per epoch" \
    mpi 2 bash -c "$(on_rank1 "$T/syn" "$T/more")"
expect "a batch failing on rank 1" 1 "dist_train: rank 1: batch .*: injected failure" \
    mpi 2 "$DT" --shards 4 --fail-rank 1 --fail-batch 3
expect "two ranks without --shards" 2 "2 ranks need --shards K" mpi 2 "$AG" "${TR[@]}"

[ $fails = 0 ] && echo "test_dist: all passed"
exit $((fails > 0))
