#!/usr/bin/env bash
# test_mha_cli.sh — `attograd attention --layer multi_head` on small fixtures
# (tests/data/mha/, written once by tools/compare_mha_torch.py --write-fixtures
# from a PyTorch transcription of Keras 3's MultiHeadAttention): outputs,
# scores and gradients against the expected files, the weight gradients'
# file, dtypes, dropout reproducibility, --explain, and every usage (exit 2)
# and data (exit 1) error as one line on stderr.
#
#   bash tests/test_mha_cli.sh [BIN_DIR]     (or AG_BIN=...)
set -u
BIN=${1:-${AG_BIN:-build/bin}}/attograd
SRC=${AG_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
D=$SRC/tests/data/mha
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=attention_cli_util.sh
. "$SRC/tests/attention_cli_util.sh"

# case A: 2 heads, key_dim 3, value_dim 2, output 3, a key, query/value/key masks
A=(--layer multi_head --num-heads 2 --key-dim 3 --value-dim 2 --output-dim 3
    --weights "$D/a_w.safetensors" --query "$D/a_q.npy" --value "$D/a_v.npy" --key "$D/a_k.npy"
    --query-mask "$D/a_qm.npy" --value-mask "$D/a_vm.npy" --key-mask "$D/a_km.npy")
# case B: 2 heads, key_dim 2, no bias, an attention mask with a fully masked row, causal
B=(--layer multi_head --num-heads 2 --key-dim 2 --no-bias --weights "$D/b_w.safetensors"
    --query "$D/b_q.npy" --value "$D/b_v.npy" --attention-mask "$D/b_am.npy" --causal)

# ---- values and gradients ----
run_ok "${A[@]}" --output "$TMP/a_out.npy" --scores "$TMP/a_scores.npy" --grad-output "$D/a_g.npy" \
    --grad-query "$TMP/a_gq.npy" --grad-value "$TMP/a_gv.npy" --grad-key "$TMP/a_gk.npy" \
    --grad-weights "$TMP/a_gw.safetensors"
for x in out scores gq gv gk; do expect_close "$TMP/a_$x.npy" "$D/exp_a_$x.npy" 1e-12; done
checks=$((checks + 1))
[ "$(npy_shape "$TMP/a_scores.npy")" = "'shape': (2, 2, 3, 4)" ] || fail "scores $(npy_shape "$TMP/a_scores.npy"), expected (B, H, Tq, Tv) = (2, 2, 3, 4)"
# query 1 of batch 0 is masked: its scores are zero in both heads
checks=$((checks + 1))
nz=$(npy_values "$TMP/a_scores.npy" | awk 'NR>=5 && NR<=8 || NR>=17 && NR<=20 { if ($1 != 0) n++ } END { print n + 0 }')
[ "$nz" -eq 0 ] || fail "a masked query's scores are not zero"
# the weight gradients: the eight tensors under their names and shapes
for spec in '"query/kernel":{"dtype":"F64","shape":\[4,2,3\]' '"query/bias":{"dtype":"F64","shape":\[2,3\]' \
    '"key/kernel":{"dtype":"F64","shape":\[6,2,3\]' '"value/kernel":{"dtype":"F64","shape":\[5,2,2\]' \
    '"value/bias":{"dtype":"F64","shape":\[2,2\]' '"attention_output/kernel":{"dtype":"F64","shape":\[2,2,3\]' \
    '"attention_output/bias":{"dtype":"F64","shape":\[3\]' '"key/bias":{"dtype":"F64","shape":\[2,3\]'; do
    checks=$((checks + 1))
    head -c 2000 "$TMP/a_gw.safetensors" | grep -aq "$spec" || fail "--grad-weights lacks $spec"
done
run_ok "${B[@]}" --output "$TMP/b_out.npy" --scores "$TMP/b_scores.npy" --grad-output "$D/b_g.npy" \
    --grad-query "$TMP/b_gq.npy" --grad-value "$TMP/b_gv.npy" --grad-weights "$TMP/b_gw.safetensors"
for x in out scores gq gv; do expect_close "$TMP/b_$x.npy" "$D/exp_b_$x.npy" 1e-12; done
checks=$((checks + 1))
head -c 2000 "$TMP/b_gw.safetensors" | grep -aq '/bias' && fail "--no-bias wrote bias gradients"
# without the scores the output takes the fused path: the same output to rounding
run_ok "${B[@]}" --output "$TMP/b_out2.npy"
expect_close "$TMP/b_out2.npy" "$D/exp_b_out.npy" 1e-12

# ---- dtypes ----
run_ok "${A[@]}" --dtype float32 --output "$TMP/a32.npy" --grad-output "$D/a_g.npy" --grad-key "$TMP/a32_gk.npy"
checks=$((checks + 1))
[ "$(npy_descr "$TMP/a32.npy")" = "'descr': '<f4'" ] || fail "--dtype float32 wrote $(npy_descr "$TMP/a32.npy")"
expect_close "$TMP/a32.npy" "$D/exp_a_out.npy" 1e-5
expect_close "$TMP/a32_gk.npy" "$D/exp_a_gk.npy" 1e-5

# ---- dropout: reproducible from the seed, off outside training; scores before dropout ----
drop() { run_ok "${A[@]}" --dropout 0.5 "$@"; }
drop --training --seed 7 --output "$TMP/p1.npy" --scores "$TMP/p1_s.npy"
drop --training --seed 7 --output "$TMP/p2.npy" --scores "$TMP/p2_s.npy"
drop --training --seed 8 --output "$TMP/p3.npy"
drop --seed 7 --output "$TMP/p4.npy"
run_ok "${A[@]}" --output "$TMP/p0.npy"
checks=$((checks + 4))
cmp -s "$TMP/p1.npy" "$TMP/p2.npy" || fail "dropout with the same seed differs"
cmp -s "$TMP/p1.npy" "$TMP/p3.npy" && fail "dropout with another seed is the same"
cmp -s "$TMP/p4.npy" "$TMP/p0.npy" || fail "dropout without --training changed the output"
expect_close "$TMP/p1_s.npy" "$D/exp_a_scores.npy" 1e-12

# ---- --explain: every stage, checked against the layer ----
run_ok "${A[@]}" --causal --dropout 0.5 --training --seed 3 --output "$TMP/x.npy" --explain
for stage in "1. query per head" "1. key per head" "1. value per head" "2. scaled scores" \
    "3. the mask" "3. after masking" "4. softmax over Tv" "5. after dropout" "6. per head" \
    "7. output" "agree with this reference path"; do
    checks=$((checks + 1))
    grep -q "$stage" "$TMP/stdout" || fail "--explain lacks '$stage'"
done
checks=$((checks + 1))
grep -q "^2. scaled scores .* -> (2, 2, 3, 4) float64" "$TMP/stdout" || fail "--explain does not show the scores' shape"
run_ok "${B[@]}" --dtype float32 --output "$TMP/x.npy" --explain
checks=$((checks + 1))
grep -q "agree with this reference path" "$TMP/stdout" || fail "--explain float32 does not agree"

# ---- usage errors: exit 2 ----
W=(--weights "$D/a_w.safetensors" --query "$D/a_q.npy" --value "$D/a_v.npy" --output "$TMP/o.npy")
expect_rc 2 "--num-heads is required with --layer multi_head" --layer multi_head --key-dim 3 "${W[@]}"
expect_rc 2 "--weights is required" --layer multi_head --num-heads 2 --key-dim 3 --query "$D/a_q.npy" --value "$D/a_v.npy" --output "$TMP/o.npy"
expect_rc 2 "--num-heads must be a positive integer, received '0'" --layer multi_head --num-heads 0 --key-dim 3 "${W[@]}"
expect_rc 2 "--key-dim must be a positive integer, received 'three'" --layer multi_head --num-heads 2 --key-dim three "${W[@]}"
expect_rc 2 "--score-mode applies to --layer attention or additive, not multi_head" "${A[@]}" --output "$TMP/o.npy" --score-mode dot
expect_rc 2 "unknown option '--heads'" "${A[@]}" --output "$TMP/o.npy" --heads 2
expect_rc 2 "the --grad-\* outputs need --grad-output" "${A[@]}" --output "$TMP/o.npy" --grad-weights "$TMP/gw.safetensors"
expect_rc 2 "--grad-key needs --key" "${B[@]}" --output "$TMP/o.npy" --grad-output "$D/b_g.npy" --grad-key "$TMP/gk.npy"
expect_rc 2 "--dropout with --training needs --seed N with N >= 1" "${A[@]}" --output "$TMP/o.npy" --dropout 0.2 --training
expect_rc 2 "--dropout must be a number in \[0, 1)" "${A[@]}" --output "$TMP/o.npy" --dropout 1
expect_rc 2 "--dtype must be one of {float32, float64}" "${A[@]}" --output "$TMP/o.npy" --dtype half
expect_rc 2 "--num-heads given twice" "${A[@]}" --output "$TMP/o.npy" --num-heads 3

# ---- data errors: exit 1 ----
expect_rc 1 "--weights: " --layer multi_head --num-heads 2 --key-dim 3 --weights "$TMP/none.safetensors" --query "$D/a_q.npy" --value "$D/a_v.npy" --output "$TMP/o.npy"
expect_rc 1 "'query/kernel' in '$D/b_w.safetensors' must be a float tensor of shape (4, 2, 3), received float64 (3, 2, 2)" \
    --layer multi_head --num-heads 2 --key-dim 3 --value-dim 2 --output-dim 3 --weights "$D/b_w.safetensors" --query "$D/a_q.npy" --value "$D/a_v.npy" --key "$D/a_k.npy" --output "$TMP/o.npy"
expect_rc 1 "holds 'query/bias', which this layer does not have (--no-bias)" "${A[@]}" --no-bias --output "$TMP/o.npy"
expect_rc 1 "has no tensor 'query/bias' (expected shape (2, 2))" "${B[@]/--no-bias/--causal}" --output "$TMP/o.npy"
expect_rc 1 "All dimensions of \`value\` and \`key\`, except the last one, must be equal. Received: value_shape=(None, 4, 5) and key_shape=(None, 3, 4)" \
    --layer multi_head --num-heads 2 --key-dim 3 --value-dim 2 --output-dim 3 --weights "$D/a_w.safetensors" --query "$D/a_q.npy" --value "$D/a_v.npy" --key "$D/a_q.npy" --output "$TMP/o.npy"
expect_rc 1 "value_mask must have shape (batch_size, Tv) = (2, 4), received (2, 3)" "${W[@]}" --layer multi_head --num-heads 2 --key-dim 3 --value-dim 2 --output-dim 3 --key "$D/a_k.npy" --value-mask "$D/a_qm.npy"
expect_rc 1 "attention_mask must have shape (batch_size, Tq, Tv) = (2, 3, 4), received (2, 3)" "${W[@]}" --layer multi_head --num-heads 2 --key-dim 3 --value-dim 2 --output-dim 3 --key "$D/a_k.npy" --attention-mask "$D/a_qm.npy"
expect_rc 1 "--query: query must be (batch_size, T, dim), received shape (2, 3)" --layer multi_head --num-heads 2 --key-dim 3 --weights "$D/a_w.safetensors" --query "$D/flat.npy" --value "$D/a_v.npy" --output "$TMP/o.npy"
expect_rc 1 "--query must hold float32 or float64 values, received bool" --layer multi_head --num-heads 2 --key-dim 3 --weights "$D/a_w.safetensors" --query "$D/a_qm.npy" --value "$D/a_v.npy" --output "$TMP/o.npy"
expect_rc 1 "grad_out has shape (2, 4, 6), expected (2, 3, 3)" "${A[@]}" --output "$TMP/o.npy" --grad-output "$D/a_k.npy" --grad-query "$TMP/gq.npy"
expect_rc 1 "--output" "${A[@]}" --output "$TMP/no/such/dir/o.npy"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
