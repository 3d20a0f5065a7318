#!/usr/bin/env bash
# test_attention_cli.sh — `attograd attention` on small .npy fixtures
# (tests/data/attention/, made once by make_fixtures.py with PyTorch from
# Keras's formulas): outputs, weights and gradients against the expected
# files, dtypes, defaults, dropout reproducibility, --explain, and every
# usage (exit 2) and data (exit 1) error as one line on stderr.
#
#   bash tests/test_attention_cli.sh [BIN_DIR]     (or AG_BIN=...)
set -u
BIN=${1:-${AG_BIN:-build/bin}}/attograd
SRC=${AG_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
D=$SRC/tests/data/attention
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=attention_cli_util.sh
. "$SRC/tests/attention_cli_util.sh"

# ---- A: dot, key, both masks, scale 0.5, gradients ----
run_ok --query "$D/q.npy" --value "$D/v.npy" --key "$D/k.npy" --query-mask "$D/qm.npy" \
    --value-mask "$D/vm.npy" --use-scale --scale "$D/scale_dot.npy" --output "$TMP/a_out.npy" \
    --scores "$TMP/a_scores.npy" --grad-output "$D/g.npy" --grad-query "$TMP/a_gq.npy" \
    --grad-value "$TMP/a_gv.npy" --grad-key "$TMP/a_gk.npy" --grad-scale "$TMP/a_gs.npy"
for x in out scores gq gv gk gs; do expect_close "$TMP/a_$x.npy" "$D/exp_a_$x.npy" 1e-12; done
# the masked query rows (qm = [[1,0,1],[1,1,0]]) are zero
checks=$((checks + 1))
rows=$(npy_values "$TMP/a_out.npy" | awk 'NR>=4 && NR<=6 || NR>=16 && NR<=18 { if ($1 != 0) n++ } END { print n + 0 }')
[ "$rows" -eq 0 ] || fail "query-masked rows are not zero"
# a float 0/1 value mask is the same mask
run_ok --query "$D/q.npy" --value "$D/v.npy" --key "$D/k.npy" --query-mask "$D/qm.npy" \
    --value-mask "$D/vm_float.npy" --scale "$D/scale_dot.npy" --output "$TMP/a_out2.npy"
checks=$((checks + 1))
cmp -s "$TMP/a_out.npy" "$TMP/a_out2.npy" || fail "a float 0/1 value mask differs from a bool one"

# ---- B: additive, no key (the value's gradient includes its use as the key) ----
run_ok --query "$D/q.npy" --value "$D/vself.npy" --layer additive --causal \
    --value-mask "$D/vm.npy" --scale "$D/scale_add.npy" --output "$TMP/b_out.npy" \
    --scores "$TMP/b_scores.npy" --grad-output "$D/gself.npy" --grad-query "$TMP/b_gq.npy" \
    --grad-value "$TMP/b_gv.npy" --grad-scale "$TMP/b_gs.npy"
for x in out scores gq gv gs; do expect_close "$TMP/b_$x.npy" "$D/exp_b_$x.npy" 1e-12; done

# ---- C: concat, key, causal, scale and concat weight ----
run_ok --query "$D/q.npy" --value "$D/v.npy" --key "$D/k.npy" --score-mode concat --causal \
    --use-scale --scale "$D/scale_dot.npy" --concat-score-weight "$D/cw.npy" \
    --output "$TMP/c_out.npy" --scores "$TMP/c_scores.npy" --grad-output "$D/g.npy" \
    --grad-query "$TMP/c_gq.npy" --grad-value "$TMP/c_gv.npy" --grad-key "$TMP/c_gk.npy" \
    --grad-scale "$TMP/c_gs.npy" --grad-concat-score-weight "$TMP/c_gw.npy"
for x in out scores gq gv gk gs gw; do expect_close "$TMP/c_$x.npy" "$D/exp_c_$x.npy" 1e-12; done

# ---- dtypes: --dtype float32 writes float32, close to the float64 result ----
run_ok --query "$D/q.npy" --value "$D/v.npy" --key "$D/k.npy" --score-mode concat --causal \
    --use-scale --scale "$D/scale_dot.npy" --concat-score-weight "$D/cw.npy" --dtype float32 \
    --output "$TMP/c32_out.npy" --grad-output "$D/g.npy" --grad-key "$TMP/c32_gk.npy"
checks=$((checks + 1))
[ "$(npy_descr "$TMP/c32_out.npy")" = "'descr': '<f4'" ] || fail "--dtype float32 wrote $(npy_descr "$TMP/c32_out.npy")"
expect_close "$TMP/c32_out.npy" "$D/exp_c_out.npy" 1e-5
expect_close "$TMP/c32_gk.npy" "$D/exp_c_gk.npy" 1e-5

# ---- defaults: AdditiveAttention's scale is glorot-uniform from --seed ----
add_default() { run_ok --query "$D/q.npy" --value "$D/vself.npy" --layer additive "$@"; }
add_default --output "$TMP/d0.npy" --grad-output "$D/gself.npy" --grad-scale "$TMP/d0_gs.npy"
add_default --seed 0 --output "$TMP/d0b.npy"
add_default --seed 1 --output "$TMP/d1.npy"
add_default --no-scale --output "$TMP/dn.npy"
checks=$((checks + 3))
cmp -s "$TMP/d0.npy" "$TMP/d0b.npy" || fail "the default seed is not 0"
cmp -s "$TMP/d0.npy" "$TMP/d1.npy" && fail "--seed does not change AdditiveAttention's initial scale"
cmp -s "$TMP/d0.npy" "$TMP/dn.npy" && fail "--no-scale does not change AdditiveAttention"
checks=$((checks + 1))
[ "$(npy_shape "$TMP/d0_gs.npy")" = "'shape': (4,)" ] || fail "--grad-scale shape $(npy_shape "$TMP/d0_gs.npy"), expected (4,)"
# Attention's scale starts at 1: --use-scale alone changes nothing
run_ok --query "$D/q.npy" --value "$D/vself.npy" --output "$TMP/e0.npy"
run_ok --query "$D/q.npy" --value "$D/vself.npy" --use-scale --output "$TMP/e1.npy" \
    --grad-output "$D/gself.npy" --grad-scale "$TMP/e1_gs.npy"
checks=$((checks + 2))
cmp -s "$TMP/e0.npy" "$TMP/e1.npy" || fail "Attention's default scale is not 1"
[ "$(npy_shape "$TMP/e1_gs.npy")" = "'shape': ()" ] || fail "Attention's --grad-scale shape $(npy_shape "$TMP/e1_gs.npy"), expected ()"

# ---- dropout: reproducible from the seed, off outside training ----
drop() { run_ok --query "$D/q.npy" --value "$D/vself.npy" --dropout 0.5 "$@"; }
drop --training --seed 7 --output "$TMP/p1.npy" --scores "$TMP/p1_w.npy"
drop --training --seed 7 --output "$TMP/p2.npy"
drop --training --seed 8 --output "$TMP/p3.npy"
drop --seed 7 --output "$TMP/p4.npy"
checks=$((checks + 4))
cmp -s "$TMP/p1.npy" "$TMP/p2.npy" || fail "dropout with the same seed differs"
cmp -s "$TMP/p1.npy" "$TMP/p3.npy" && fail "dropout with another seed is the same"
cmp -s "$TMP/p4.npy" "$TMP/e0.npy" || fail "dropout without --training changed the output"
zeros=$(npy_values "$TMP/p1_w.npy" | awk '$1 == 0 { n++ } END { print n + 0 }')
[ "$zeros" -gt 0 ] || fail "dropout 0.5 dropped no weight"

# ---- --explain: every stage with its shape, checked against the kernel ----
run_ok --query "$D/q.npy" --value "$D/vself.npy" --value-mask "$D/vm.npy" --causal --dropout 0.5 \
    --training --seed 3 --output "$TMP/x.npy" --explain
for stage in "1. raw scores" "2. after the scale" "3. after masking" "4. softmax weights" \
    "5. after dropout" "6. output" "agree with this reference path"; do
    checks=$((checks + 1))
    grep -q "$stage" "$TMP/stdout" || fail "--explain lacks '$stage'"
done
checks=$((checks + 1))
grep -q "^4. softmax weights over Tv  -> (2, 3, 4) float64" "$TMP/stdout" || fail "--explain does not show the weights' shape"

# ---- usage errors: exit 2 ----
Q=(--query "$D/q.npy" --value "$D/v.npy" --key "$D/k.npy")
expect_rc 2 "unknown option '--bogus'" "${Q[@]}" --output "$TMP/o.npy" --bogus
expect_rc 2 "--output is required" "${Q[@]}"
expect_rc 2 "--query is required" --value "$D/v.npy" --output "$TMP/o.npy"
expect_rc 2 "--value is required" --query "$D/q.npy" --output "$TMP/o.npy"
expect_rc 2 "--key needs a value" --query "$D/q.npy" --value "$D/v.npy" --output "$TMP/o.npy" --key
expect_rc 2 "--layer must be one of {attention, additive}, received 'luong'" "${Q[@]}" --output "$TMP/o.npy" --layer luong
expect_rc 2 "--score-mode must be one of {dot, concat}, received 'general'" "${Q[@]}" --output "$TMP/o.npy" --score-mode general
expect_rc 2 "--score-mode applies to --layer attention only" "${Q[@]}" --output "$TMP/o.npy" --layer additive --score-mode dot
expect_rc 2 "contradict" "${Q[@]}" --output "$TMP/o.npy" --use-scale --no-scale
expect_rc 2 "--no-scale" "${Q[@]}" --output "$TMP/o.npy" --no-scale --scale "$D/scale_dot.npy"
expect_rc 2 "--concat-score-weight needs --score-mode concat" "${Q[@]}" --output "$TMP/o.npy" --concat-score-weight "$D/cw.npy"
expect_rc 2 "--dropout must be a number in \[0, 1), received '1.5'" "${Q[@]}" --output "$TMP/o.npy" --dropout 1.5
expect_rc 2 "--dropout must be a number" "${Q[@]}" --output "$TMP/o.npy" --dropout half
expect_rc 2 "--seed must be an integer in \[0, 18446744073709551615\], received .-3." "${Q[@]}" --output "$TMP/o.npy" --seed -3
expect_rc 2 "--dtype must be one of {float32, float64}" "${Q[@]}" --output "$TMP/o.npy" --dtype float16
expect_rc 2 "need --grad-output" "${Q[@]}" --output "$TMP/o.npy" --grad-query "$TMP/gq.npy"
expect_rc 2 "--grad-key needs --key" --query "$D/q.npy" --value "$D/vself.npy" --output "$TMP/o.npy" --grad-output "$D/gself.npy" --grad-key "$TMP/gk.npy"
expect_rc 2 "--grad-scale needs use_scale" "${Q[@]}" --output "$TMP/o.npy" --grad-output "$D/g.npy" --grad-scale "$TMP/gs.npy"
expect_rc 2 "--output given twice" "${Q[@]}" --output "$TMP/o.npy" --output "$TMP/o.npy"

# ---- data errors: exit 1 ----
printf 'not a numpy file at all' >"$TMP/garbage.npy"
expect_rc 1 "--query" --query "$TMP/missing.npy" --value "$D/v.npy" --output "$TMP/o.npy"
expect_rc 1 "--value" --query "$D/q.npy" --value "$TMP/garbage.npy" --output "$TMP/o.npy"
expect_rc 1 "--query must hold float32 or float64 values, received int32" --query "$D/q_int.npy" --value "$D/v.npy" --key "$D/k.npy" --output "$TMP/o.npy"
expect_rc 1 "same last dimension (dim), received query (2, 3, 4) and key (2, 4, 5)" --query "$D/q.npy" --value "$D/v.npy" --key "$D/k_bad.npy" --output "$TMP/o.npy"
expect_rc 1 "query and key must have the same last dimension" --query "$D/q.npy" --value "$D/v.npy" --output "$TMP/o.npy"
expect_rc 1 "key and value must have the same Tv" --query "$D/q.npy" --value "$D/gself.npy" --key "$D/k.npy" --output "$TMP/o.npy"
expect_rc 1 "query must have rank 3" --query "$D/scale_add.npy" --value "$D/v.npy" --output "$TMP/o.npy"
expect_rc 1 "value_mask must have shape (batch_size, Tv) = (2, 4), received (2, 3)" "${Q[@]}" --output "$TMP/o.npy" --value-mask "$D/vm_bad_shape.npy"
expect_rc 1 "query_mask must have shape (batch_size, Tq) = (2, 3), received (2, 4)" "${Q[@]}" --output "$TMP/o.npy" --query-mask "$D/vm.npy"
expect_rc 1 "must hold bool or 0/1 values, found 2" "${Q[@]}" --output "$TMP/o.npy" --value-mask "$D/vm_bad_values.npy"
expect_rc 1 "scale must have shape () or (1,) for score_mode dot, received (3,)" "${Q[@]}" --output "$TMP/o.npy" --scale "$D/scale_bad.npy"
expect_rc 1 "scale must have shape (dim,) = (4,) for score_mode additive, received (3,)" "${Q[@]}" --output "$TMP/o.npy" --layer additive --scale "$D/scale_bad.npy"
expect_rc 1 "concat_weight must have shape () or (1,), received (3,)" "${Q[@]}" --output "$TMP/o.npy" --score-mode concat --concat-score-weight "$D/scale_bad.npy"
expect_rc 1 "grad_out has shape (2, 3, 4), expected (2, 3, 3)" "${Q[@]}" --output "$TMP/o.npy" --grad-output "$D/gself.npy" --grad-query "$TMP/gq.npy"
expect_rc 1 "--output" "${Q[@]}" --output "$TMP/no/such/dir/o.npy"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
