#!/usr/bin/env bash
# test_examples.sh BIN_DIR — the programs in examples/ are what users copy:
# each one runs and shows what its header comment promises.
set -u
bin="${1:?usage: test_examples.sh BIN_DIR}"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

out=$("$bin/custom_op" 2>&1) || fail "custom_op exited non-zero: $out"
echo "$out" | grep -q "^swish: .*gradient correct" || fail "custom_op: swish not accepted"
echo "$out" | grep -q "^swish_wrong: .*GRADIENT WRONG" || fail "custom_op: wrong backward not caught"

out=$("$bin/cnn_attention" --summary 2>&1) || fail "cnn_attention --summary: $out"
echo "$out" | grep -q "Total params: 678,629 (2.59 MB)" || fail "cnn_attention: Keras counts 678,629 parameters"
out=$("$bin/cnn_attention" --summary --additive 2>&1) || fail "cnn_attention --additive: $out"
echo "$out" | grep -q "Total params: 678,729" || fail "cnn_attention --additive: expected 678,729 parameters"
out=$("$bin/cnn_attention" --epochs 2 --examples 2000 2>&1) || fail "cnn_attention training: $out"
echo "$out" | grep -q "loss by epoch" || fail "cnn_attention: no loss history"
echo "$out" | awk '/^loss by epoch:/ { if (!($5 < $4)) exit 1 }' || fail "cnn_attention: loss did not fall"

out=$("$bin/decomposable_attention" --gradcheck 2>&1) || fail "decomposable_attention --gradcheck: $out"
echo "$out" | grep -q "gradient check (float64): 9 of 9 weights, .*: passed" ||
    fail "decomposable_attention: gradient check: $out"
out=$("$bin/decomposable_attention" --summary 2>&1) || fail "decomposable_attention --summary: $out"
echo "$out" | grep -q "Total params: 10,529" || fail "decomposable_attention: expected 10,529 parameters"
out=$("$bin/decomposable_attention" --epochs 3 --examples 3000 2>&1) || fail "decomposable_attention training: $out"
echo "$out" | awk '/^val_accuracy by epoch:/ { if (!($6 > $4 && $6 > 0.7)) exit 1; found = 1 }
    END { exit !found }' || fail "decomposable_attention: did not learn the translation task: $out"

out=$("$bin/sequential_xor" 2>&1) || fail "sequential_xor: $out"
echo "$out" | grep -q "xor(1, 0) = 0.9" || fail "sequential_xor: xor(1, 0) not learned: $out"

out=$("$bin/train_mlp" --epochs 100 2>&1) || fail "train_mlp: $out"
echo "$out" | grep -qi "accuracy" || fail "train_mlp: no accuracy reported"

out=$("$bin/transformer_similarity" --gradcheck 2>&1) || fail "transformer_similarity --gradcheck: $out"
echo "$out" | grep -q "22 of 22 weights, .*: passed" || fail "transformer_similarity: gradient check: $out"
out=$("$bin/transformer_similarity" 2>&1) || fail "transformer_similarity did not learn: $(echo "$out" | tail -3)"
echo "$out" | grep -q "^validation: accuracy" || fail "transformer_similarity: no validation figures"

[ "$fails" = 0 ] && echo "all examples ran as documented"
exit $((fails > 0))
