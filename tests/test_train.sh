#!/bin/bash
# test_train.sh — the text-similarity commands end to end on synthetic pairs
# (no diatheke, no downloads): dataset from two small exports, baseline,
# train -> save -> evaluate gives the same test metrics, a short run learns
# (test accuracy clearly above chance), predict, heatmap, and errors.
set -u
BIN="${1:-${AG_BIN:-build/bin}}"
AG="$BIN/attograd"
T=$(mktemp -d /tmp/ag_train_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Synthetic paraphrase pairs: gen SEED N
source "$(dirname "$0")/pairs.sh"
mkdir -p "$T/syn"
gen 1 4000 > "$T/syn/train.tsv"
gen 2 400 > "$T/syn/val.tsv"
gen 3 400 > "$T/syn/test.tsv"

# --- dataset from two tiny exports ---
{
    for c in 1 2 3 4 5 6 7 8 9 10 11 12; do
        echo "A Psalm of David."
        for v in 1 2 3 4 5; do echo "Song of Solomon $c:$v: thou hast spoken $c $v"; done
    done
    echo "(engKJV2006eb)"
} > "$T/kjv.txt"
sed -e 's/thou hast spoken/you have said/' -e '/^A Psalm/d' "$T/kjv.txt" > "$T/web.txt"
out=$("$AG" dataset bible --kjv "$T/kjv.txt" --web "$T/web.txt" --out "$T/bible" --seed 5) ||
    fail "dataset: $out"
echo "$out" | grep -q "60 in both" || fail "dataset: expected 60 common verses: $out"
n=$(cat "$T/bible/train.tsv" "$T/bible/val.tsv" "$T/bible/test.tsv" | wc -l)
[ "$n" = 120 ] || fail "dataset: expected 120 pairs, found $n"
"$AG" dataset bible --kjv "$T/kjv.txt" --out "$T/x" >/dev/null 2>&1 && fail "dataset: --kjv without --web accepted"

# --- baseline ---
out=$("$AG" baseline --data "$T/syn") || fail "baseline: $out"
acc=$(echo "$out" | awk '/^  test:/ { print $5 }')
awk -v a="$acc" 'BEGIN { exit !(a > 0.9) }' || fail "baseline: test accuracy $acc on overlap data"

# --- train, save, evaluate ---
out=$("$AG" train --data "$T/syn" --epochs 4 --learning-rate 0.003 --dim 16 --filters 16 \
    --max-tokens 100 --threads 2 --save "$T/m.safetensors" --heatmaps "$T/hm/dot" 2>&1) ||
    fail "train: $out"
echo "$out" | grep -q "^Epoch 4/4" || fail "train: no 4th epoch"
echo "$out" | grep -q "val_loss: .* - val_accuracy: " || fail "train: no validation metrics"
test_line=$(echo "$out" | grep "^test: ")
acc=$(echo "$test_line" | awk '{ print $3 }')
echo "train: $test_line"
awk -v a="$acc" 'BEGIN { exit !(a > 0.65) }' || fail "train: test accuracy $acc is not clearly above chance"
echo "$out" | grep -q "pairs per second" || fail "train: no throughput"
[ -s "$T/m.safetensors" ] || fail "train: no model written"
[ "$(ls "$T/hm/dot" | wc -l)" = 4 ] || fail "train: expected 4 heatmaps in $T/hm/dot (made with its parent)"
touch "$T/file"
msg=$("$AG" train --data "$T/syn" --heatmaps "$T/file/hm" 2>&1) && fail "train: heatmaps under a file accepted"
echo "$msg" | grep -q "^attograd train: --heatmaps: cannot create directory" || fail "train: message '$msg'"

ev=$("$AG" evaluate --model "$T/m.safetensors" --data "$T/syn/test.tsv") || fail "evaluate: $ev"
want=$(echo "$test_line" | awk '{ print $3, $6, $9 }')
got=$(echo "$ev" | awk '{ print $6, $9, $12 }')
[ "$want" = "$got" ] || fail "evaluate after load gives '$got', train gave '$want'"

# --- predict ---
p=$("$AG" predict --model "$T/m.safetensors" --data "$T/syn/test.tsv") || fail "predict --data"
[ "$(echo "$p" | wc -l)" = 400 ] || fail "predict --data: expected 400 lines"
echo "$p" | awk '$1 < 0 || $1 > 1 { bad = 1 } END { exit bad }' || fail "predict: a value outside [0, 1]"
one=$("$AG" predict --model "$T/m.safetensors" "w1 w2 w3 w4 w5 w6" "w1 w2 w3 w4 w5 w7") ||
    fail "predict two texts"
echo "$one" | grep -Eq '^[01]\.[0-9]{6}$' || fail "predict: '$one' is not a probability"

# --- heatmap ---
"$AG" heatmap --model "$T/m.safetensors" --out "$T/pair.png" "w1 w2 w3, w4!" "w1 w9 w3 zzz" >/dev/null ||
    fail "heatmap"
[ "$(head -c 8 "$T/pair.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "heatmap: not a PNG"

# --- the decomposable attention model: train, save, evaluate, heatmap ---
out=$("$AG" train --data "$T/syn" --model decomposable --epochs 3 --learning-rate 0.003 --dim 16 \
    --units 16 --max-tokens 100 --threads 2 --save "$T/d.safetensors" 2>&1) ||
    fail "train --model decomposable: $out"
echo "$out" | grep -q "decomposable attention, dim 16, units 16" || fail "decomposable: no settings line"
echo "$out" | grep -q "^word-overlap baseline (Jaccard" || fail "decomposable: no baseline before training"
echo "$out" | grep -q "^      word-overlap baseline: accuracy" || fail "decomposable: no baseline beside the test figures"
test_line=$(echo "$out" | grep "^test: ")
acc=$(echo "$test_line" | awk '{ print $3 }')
echo "train --model decomposable: $test_line"
awk -v a="$acc" 'BEGIN { exit !(a > 0.65) }' || fail "decomposable: test accuracy $acc is not clearly above chance"
ev=$("$AG" evaluate --model "$T/d.safetensors" --data "$T/syn/test.tsv") || fail "evaluate decomposable: $ev"
want=$(echo "$test_line" | awk '{ print $3, $6, $9 }')
got=$(echo "$ev" | awk '{ print $6, $9, $12 }')
[ "$want" = "$got" ] || fail "decomposable: evaluate after load gives '$got', train gave '$want'"
"$AG" heatmap --model "$T/d.safetensors" --out "$T/d.png" "w1 w2 w3 w4" "w3 w1 w9" >/dev/null ||
    fail "heatmap of the decomposable model"
[ "$(head -c 8 "$T/d.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "decomposable heatmap: not a PNG"
msg=$("$AG" train --data "$T/syn" --model lstm 2>&1) && fail "train: unknown model accepted"
echo "$msg" | grep -q "model must be cnn-attention, decomposable or transformer, received 'lstm'" || fail "train: message '$msg'"
msg=$("$AG" train --data "$T/syn" --model decomposable --attention additive 2>&1) &&
    fail "train: --attention with --model decomposable accepted"
echo "$msg" | grep -q "cnn-attention's option" || fail "train: message '$msg'"

# --- errors: exit status and a message naming the problem ---
printf 'a\tb\t1\nc\td\n' > "$T/bad.tsv"
msg=$("$AG" evaluate --model "$T/m.safetensors" --data "$T/bad.tsv" 2>&1) && fail "evaluate: bad TSV accepted"
echo "$msg" | grep -q "bad.tsv:2: expected 3 tab-separated fields, found 2" || fail "evaluate: message '$msg'"
msg=$("$AG" predict --model "$T/none.safetensors" a b 2>&1) && fail "predict: missing model accepted"
echo "$msg" | grep -q "none.safetensors" || fail "predict: message '$msg'"
"$AG" train >/dev/null 2>&1; [ $? = 2 ] || fail "train without --data: exit status is not 2"
msg=$("$AG" train --data "$T/syn" --attention cosine 2>&1) && fail "train: unknown attention accepted"
echo "$msg" | grep -q "cosine" || fail "train: message '$msg'"
msg=$("$AG" train --data "$T/nowhere" 2>&1) && fail "train: missing directory accepted"
echo "$msg" | grep -q "nowhere/train.tsv" || fail "train: message '$msg'"

if [ $fails -gt 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all checks passed"
