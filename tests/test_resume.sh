#!/bin/bash
# test_resume.sh — checkpoints and resume (issue 10): a real training run is
# killed with kill -9 at several moments (during epochs and during
# checkpoint writes alike), resumed with --resume each time, and must end
# with a model file byte-identical to an uninterrupted run's. A damaged
# newest checkpoint is skipped for the one before; a run whose weights go
# non-finite exits 1, saves nothing and keeps the checkpoints it had.
set -u
BIN="${1:-${AG_BIN:-build/bin}}"
AG="$(cd "$BIN" && pwd)/attograd"
T=$(mktemp -d /tmp/ag_resume_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

gen() {
    awk -v S="$1" -v N="$2" '
    function rnd(n) { seed = (seed * 1103515245 + 12345) % 2147483648; return int(seed / 65536) % n }
    function sentence(   k, n, s) { n = 6 + rnd(5); s = "w" rnd(V); for (k = 1; k < n; k++) s = s " w" rnd(V); return s }
    function para(s,   k, n, w, out) { n = split(s, w, " "); out = ""
        for (k = 1; k <= n; k++) out = out (k > 1 ? " " : "") (rnd(4) == 0 ? "w" rnd(V) : w[k]); return out }
    BEGIN { V = 60; seed = S
        for (i = 0; i < N; i++) a[i] = sentence()
        for (i = 0; i < N; i++)
            if (rnd(2)) print a[i] "\t" para(a[i]) "\t1"
            else { j = (i + 1 + rnd(N - 1)) % N; print a[i] "\t" para(a[j]) "\t0" } }'
}
mkdir -p "$T/syn"
gen 1 1200 > "$T/syn/train.tsv"
gen 2 200 > "$T/syn/val.tsv"
gen 3 200 > "$T/syn/test.tsv"
ARGS=(train --data "$T/syn" --epochs 5 --dim 8 --filters 8 --max-tokens 100 --threads 2
    --batch-size 32 --learning-rate 0.003)

# the uninterrupted run
"$AG" "${ARGS[@]}" --checkpoint "$T/ref_ck" --save "$T/ref.safetensors" > "$T/ref.log" 2>&1 ||
    fail "reference run: $(tail -3 "$T/ref.log")"
ls "$T/ref_ck" | grep -q "epoch-000005.safetensors" || fail "no checkpoint of epoch 5"
[ "$(ls "$T/ref_ck" | wc -l)" = 2 ] || fail "more than the newest two checkpoints: $(ls "$T/ref_ck")"

# killed at several moments, resumed each time; then to the end
kills=0
for delay in 0.2 0.5 0.8 1.2 1.7 2.3; do
    "$AG" "${ARGS[@]}" --checkpoint "$T/ck" --resume > "$T/k.log" 2>&1 &
    pid=$!
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null
done
"$AG" "${ARGS[@]}" --checkpoint "$T/ck" --resume --save "$T/resumed.safetensors" > "$T/r.log" 2>&1 ||
    fail "resumed run: $(tail -3 "$T/r.log")"
cmp -s "$T/ref.safetensors" "$T/resumed.safetensors" ||
    fail "after $kills kills the resumed model differs from the uninterrupted run's"
[ "$kills" -ge 2 ] || echo "note: only $kills of the runs were still going when killed"
ls "$T/ck" | grep -q "\.tmp\." && fail "a temporary file was left: $(ls "$T/ck")"

# a damaged newest checkpoint: the one before it is used, with a note
mkdir -p "$T/ck2"
"$AG" "${ARGS[@]}" --epochs 3 --checkpoint "$T/ck2" > /dev/null 2>&1 || fail "3-epoch run"
f="$T/ck2/epoch-000003.safetensors"
size=$(wc -c < "$f")
printf '\xff' | dd of="$f" bs=1 seek=$((size - 5)) conv=notrunc 2>/dev/null
out=$("$AG" "${ARGS[@]}" --checkpoint "$T/ck2" --resume --save "$T/r2.safetensors" 2>&1) ||
    fail "resume past a damaged checkpoint: $out"
echo "$out" | grep -q "skipping checkpoint .*epoch-000003.safetensors: .*is damaged" ||
    fail "no note about the damaged checkpoint: $out"
echo "$out" | grep -q "resuming from .*epoch-000002.safetensors (2 epochs done)" ||
    fail "did not resume from epoch 2: $out"
cmp -s "$T/ref.safetensors" "$T/r2.safetensors" ||
    fail "resumed past a damaged checkpoint, the model differs from the uninterrupted run's"
# a checkpoint of another run is not resumed
out=$("$AG" "${ARGS[@]}" --seed 5 --epochs 1 --checkpoint "$T/ck2" --resume 2>&1)
echo "$out" | grep -q "written by another run\|written for another model" || fail "another run's checkpoint was not refused: $out"

# non-finite weights: exit 1, nothing saved, the checkpoints kept
mkdir -p "$T/nan"
out=$("$AG" "${ARGS[@]}" --learning-rate 1e30 --checkpoint "$T/nan" --save "$T/nan.safetensors" 2>&1)
rc=$?
[ "$rc" = 1 ] || fail "non-finite training exited $rc"
echo "$out" | grep -q "fit: epoch [0-9]*, batch [0-9]* of [0-9]*: .*non-finite values stop training" ||
    fail "no non-finite message: $out"
[ -e "$T/nan.safetensors" ] && fail "a model with non-finite weights was saved"

[ "$fails" = 0 ] && echo "all checks passed (killed $kills times)"
exit $((fails > 0))
