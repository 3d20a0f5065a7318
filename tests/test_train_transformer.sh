#!/bin/bash
# test_train_transformer.sh — `attograd train --model transformer` on a small
# slice of synthetic paraphrase pairs (tests/pairs.sh): it learns (test
# accuracy clearly above chance), saves, and `evaluate` on the loaded model
# gives the same test figures; texts longer than --max-len are cut; the
# transformer's option errors.
set -u
BIN="${1:-${AG_BIN:-build/bin}}"
AG="$BIN/attograd"
T=$(mktemp -d /tmp/ag_train_tf_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

source "$(dirname "$0")/pairs.sh"
mkdir -p "$T/syn"
gen 1 3000 > "$T/syn/train.tsv"
gen 2 300 > "$T/syn/val.tsv"
gen 3 300 > "$T/syn/test.tsv"

out=$("$AG" train --data "$T/syn" --model transformer --epochs 3 --learning-rate 0.003 --dim 16 \
    --heads 2 --ff-dim 32 --units 16 --max-tokens 100 --max-len 8 --threads 2 \
    --save "$T/tf.safetensors" 2>&1) || fail "train: $out"
echo "$out" | grep -q "multi_head_attention\|attention (MultiHeadAttention)" || fail "train: no MultiHeadAttention in the summary"
echo "$out" | grep -q "^transformer: 1 block, 2 heads, dim 16, ff 32, units 16, dropout 0.1, texts cut to 8 tokens" ||
    fail "train: no transformer settings line"
test_line=$(echo "$out" | grep "^test: ")
echo "train --model transformer: $test_line"
acc=$(echo "$test_line" | awk '{ print $3 }')
awk -v a="$acc" 'BEGIN { exit !(a > 0.65) }' || fail "train: test accuracy $acc is not clearly above chance"
ev=$("$AG" evaluate --model "$T/tf.safetensors" --data "$T/syn/test.tsv") || fail "evaluate: $ev"
want=$(echo "$test_line" | awk '{ print $3, $6, $9 }')
got=$(echo "$ev" | awk '{ print $6, $9, $12 }')
[ "$want" = "$got" ] || fail "evaluate after load gives '$got', train gave '$want'"
# a text longer than the position table is cut to it, not refused
long="w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12"
p=$("$AG" predict --model "$T/tf.safetensors" "$long" "$long") || fail "predict a long text: $p"
echo "$p" | grep -Eq '^[01]\.[0-9]{6}$' || fail "predict: '$p' is not a probability"

msg=$("$AG" train --data "$T/syn" --model transformer --dim 10 --heads 4 2>&1) && fail "dim 10 with 4 heads accepted"
echo "$msg" | grep -q "^attograd train: --dim 10 must be a multiple of --heads 4" || fail "message '$msg'"
msg=$("$AG" train --data "$T/syn" --model transformer --attention additive 2>&1) && fail "--attention accepted"
echo "$msg" | grep -q "^attograd train: --attention is cnn-attention's option" || fail "message '$msg'"
msg=$("$AG" train --data "$T/syn" --model gpt 2>&1) && fail "--model gpt accepted"
echo "$msg" | grep -q "^attograd train: --model must be" || fail "message '$msg'"

[ "$fails" = 0 ] && echo "transformer training ran as documented"
exit $((fails > 0))
