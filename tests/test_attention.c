/* test_attention.c — the fused attention op (ag_attention_weights) and the
 * attention call (ag_attention): hand-computed cases for every score mode and
 * mask, every error path, gradient checks over every option combination,
 * dropout reproducibility, thread-count independence and memory. */
#include "testutil.h"
#include "../framework/internal.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- helpers ---- */

static ag_node *var(ag_graph *g, const char *name, int rank, const int64_t *shape, const double *v)
{
    ag_node *n = ag_variable(g, name, rank, shape);
    for (int64_t i = 0; n && i < ag_value(n)->size; i++)
        ag_tensor_set(ag_value(n), i, v[i]);
    return n;
}

static ag_node *rand_var(ag_graph *g, const char *name, int rank, const int64_t *shape, double lo,
                         double hi, uint64_t stream)
{
    ag_node *n = ag_variable(g, name, rank, shape);
    if (n) ag_fill_uniform(ag_value(n), lo, hi, 42, stream);
    return n;
}

static ag_node *bool_const(ag_graph *g, int rank, const int64_t *shape, const int *v)
{
    ag_tensor *t = ag_tensor_new(AG_BOOL, rank, shape, NULL);
    for (int64_t i = 0; i < t->size; i++)
        AG_U8(t)[i] = v[i] != 0;
    ag_node *n = ag_constant(g, t);
    ag_tensor_free(t);
    return n;
}

static void run(ag_graph *g, ag_node *out)
{
    assert_non_null(out);
    AG_ASSERT_OK(g, ag_forward(g, &out, 1));
}

static void assert_values(ag_node *n, const double *want, double tol)
{
    ag_tensor *t = ag_value(n);
    assert_non_null(t);
    for (int64_t i = 0; i < t->size; i++) {
        double got = ag_tensor_get(t, i);
        if (!(fabs(got - want[i]) <= tol))
            fail_msg("%s element %lld = %.17g, expected %.17g", ag_node_name(n), (long long)i, got,
                     want[i]);
    }
}

static double sigm(double x) { return 1 / (1 + exp(-x)); }

/* ---- hand-computed cases ---- */

/* dot, B=1 Tq=2 Tv=2 D=2 Dv=3 (Dv != D): s = q·kᵀ, a = softmax, out = a·v. */
static void test_dot_basic_and_dv_differs(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        ag_graph *g = ag_graph_new();
        ag_graph_set_float(g, f ? AG_FLOAT64 : AG_FLOAT32);
        ag_node *q = var(g, "q", 3, (int64_t[]){1, 2, 2}, (double[]){1, 0, 0.5, 0.5});
        ag_node *k = var(g, "k", 3, (int64_t[]){1, 2, 2}, (double[]){1, 0, 0, 1});
        ag_node *v = var(g, "v", 3, (int64_t[]){1, 2, 3}, (double[]){1, 2, 3, 4, 5, 6});
        ag_node *w = NULL;
        ag_node *out = ag_attention(g, q, v, k, NULL, NULL, NULL, NULL, NULL, &w);
        run(g, out);
        assert_non_null(w);
        const ag_shape *s = ag_node_shape(out);
        assert_int_equal(s->rank, 3);
        assert_int_equal(s->dim[2], 3);
        /* row 0: scores (1, 0); row 1: (0.5, 0.5) */
        double a0 = sigm(1), a1 = 1 - a0;
        double want_w[4] = {a0, a1, 0.5, 0.5};
        double want_o[6] = {a0 * 1 + a1 * 4, a0 * 2 + a1 * 5, a0 * 3 + a1 * 6, 2.5, 3.5, 4.5};
        double tol = f ? 1e-12 : 1e-6;
        assert_values(w, want_w, tol);
        assert_values(out, want_o, tol);
        ag_graph_free(g);
    }
}

/* dot with use_scale and a non-default scale: s = 2.5 · q·kᵀ. */
static void test_dot_scale(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *q = var(g, "q", 3, (int64_t[]){1, 1, 2}, (double[]){0.4, -0.2});
    ag_node *k = var(g, "k", 3, (int64_t[]){1, 3, 2}, (double[]){1, 1, -1, 0.5, 0.3, 0.9});
    ag_node *sc = var(g, "scale", 0, NULL, (double[]){2.5});
    ag_node *w = ag_attention_weights(g, q, k, NULL, sc, NULL, NULL);
    run(g, w);
    double s[3] = {2.5 * (0.4 - 0.2), 2.5 * (-0.4 - 0.1), 2.5 * (0.12 - 0.18)};
    double z = exp(s[0]) + exp(s[1]) + exp(s[2]);
    assert_values(w, (double[]){exp(s[0]) / z, exp(s[1]) / z, exp(s[2]) / z}, 1e-12);
    /* scale of shape (1,) gives the same */
    ag_node *sc1 = var(g, "scale1", 1, (int64_t[]){1}, (double[]){2.5});
    ag_node *w1 = ag_attention_weights(g, q, k, NULL, sc1, NULL, NULL);
    run(g, w1);
    assert_values(w1, (double[]){exp(s[0]) / z, exp(s[1]) / z, exp(s[2]) / z}, 1e-12);
    ag_graph_free(g);
}

/* value_mask: masked keys get weight 0 (exactly: e^-1e9 underflows). */
static void test_value_mask(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *q = var(g, "q", 3, (int64_t[]){2, 1, 1}, (double[]){1, -1});
    ag_node *v = var(g, "v", 3, (int64_t[]){2, 3, 1}, (double[]){1, 2, 3, 4, 5, 6});
    ag_node *vm = bool_const(g, 2, (int64_t[]){2, 3}, (int[]){1, 0, 1, 0, 1, 1});
    ag_node *w = NULL;
    ag_node *out = ag_attention(g, q, v, NULL, NULL, vm, NULL, NULL, NULL, &w);
    run(g, out);
    /* batch 0: q=1, keys 1 and 3 kept: scores 1, 3; batch 1: q=-1, keys 5, 6 */
    double z0 = exp(1) + exp(3), z1 = exp(-5) + exp(-6);
    double want_w[6] = {exp(1) / z0, 0, exp(3) / z0, 0, exp(-5) / z1, exp(-6) / z1};
    assert_values(w, want_w, 1e-12);
    assert_values(out, (double[]){want_w[0] + 3 * want_w[2], 5 * want_w[4] + 6 * want_w[5]}, 1e-12);
    ag_graph_free(g);
}

/* MultiHeadAttention's form: heads folded into the batch (b·H + h) share a
 * (B/H,Tq,Tv) mask; zero_masked multiplies the weights by the mask, so a
 * fully masked row is all zero, while Attention's rule keeps its softmax. */
static void test_heads_attention_mask_zero_masked(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT64);
    /* B/H = 1 example, H = 2 heads, Tq = 2, Tv = 2, D = 1 */
    ag_node *q = var(g, "q", 3, (int64_t[]){2, 2, 1}, (double[]){1, 2, -1, 0.5});
    ag_node *k = var(g, "k", 3, (int64_t[]){2, 2, 1}, (double[]){1, -1, 2, 3});
    ag_node *am = bool_const(g, 3, (int64_t[]){1, 2, 2}, (int[]){0, 0, 1, 1});
    ag_attention_opts o = {.mode = AG_SCORE_DOT, .heads = 2, .zero_masked = 1};
    ag_attention_opts keep = {.mode = AG_SCORE_DOT, .heads = 2};
    ag_node *w = ag_attention_weights(g, q, k, am, NULL, NULL, &o);
    ag_node *w_keep = ag_attention_weights(g, q, k, am, NULL, NULL, &keep);
    run(g, w);
    run(g, w_keep);
    /* row 0 of each head sees no key; row 1: head 0 q=2, keys 1,-1; head 1 q=0.5, keys 2,3 */
    double a0 = exp(2) / (exp(2) + exp(-2)), a1 = exp(1) / (exp(1) + exp(1.5));
    assert_values(w, (double[]){0, 0, a0, 1 - a0, 0, 0, a1, 1 - a1}, 1e-12);
    /* without zero_masked, a fully masked row is the softmax of its shifted scores */
    double u0 = exp(1) / (exp(1) + exp(-1)), u1 = exp(-2) / (exp(-2) + exp(-3));
    assert_values(w_keep, (double[]){u0, 1 - u0, a0, 1 - a0, u1, 1 - u1, a1, 1 - a1}, 1e-6);
    /* a (B/H,Tv) mask with heads: example 0's mask serves both heads */
    ag_node *vm = bool_const(g, 2, (int64_t[]){1, 2}, (int[]){0, 1});
    ag_node *wv = ag_attention_weights(g, q, k, vm, NULL, NULL, &o);
    run(g, wv);
    assert_values(wv, (double[]){0, 1, 0, 1, 0, 1, 0, 1}, 1e-12);
    /* the mask's batch must be batch_size / heads */
    ag_node *bad = bool_const(g, 3, (int64_t[]){2, 2, 2}, (int[]){1, 1, 1, 1, 1, 1, 1, 1});
    assert_null(ag_attention_weights(g, q, k, bad, NULL, NULL, &o));
    ag_assert_msg_has(
        ag_graph_error(g),
        "the attention mask must have shape (batch_size, Tq, Tv) = (1, 2, 2), received (2, 2, 2)");
    ag_graph_clear_error(g);
    ag_attention_opts three = {.mode = AG_SCORE_DOT, .heads = 3};
    assert_null(ag_attention_weights(g, q, k, NULL, NULL, NULL, &three));
    ag_assert_msg_has(ag_graph_error(g), "the batch size 2 must be a multiple of heads = 3");
    ag_graph_free(g);
}

/* split_heads / merge_heads / unfold_heads move whole rows of K elements. */
static void test_heads_ops(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT64);
    /* x (B=1, T=2, H·K = 2·2) */
    ag_node *x = var(g, "x", 3, (int64_t[]){1, 2, 4}, (double[]){1, 2, 3, 4, 5, 6, 7, 8});
    ag_node *s = ag_split_heads(g, x, 2);
    ag_node *m = ag_merge_heads(g, s, 2);
    ag_node *u = ag_unfold_heads(g, s, 2);
    run(g, s);
    run(g, m);
    run(g, u);
    assert_values(s, (double[]){1, 2, 5, 6, 3, 4, 7, 8}, 0);
    assert_values(m, (double[]){1, 2, 3, 4, 5, 6, 7, 8}, 0);
    const ag_shape *us = ag_node_shape(u);
    assert_int_equal(us->rank, 4);
    assert_int_equal(us->dim[1], 2);
    assert_null(ag_split_heads(g, x, 3));
    ag_assert_msg_has(ag_graph_error(g), "split_heads: x's last dimension must be known and a "
                                         "multiple of heads = 3, received (1, 2, 4)");
    ag_graph_clear_error(g);
    assert_null(ag_merge_heads(g, x, 0));
    ag_assert_msg_has(ag_graph_error(g), "merge_heads: heads must be at least 1, received 0");
    ag_graph_free(g);
}

/* query_mask: output rows are zero where the mask is false; the weights are
 * unaffected. Masks may be any dtype (nonzero = true). */
static void test_query_mask_zeroes_rows(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *q = var(g, "q", 3, (int64_t[]){1, 3, 1}, (double[]){1, 2, 3});
    ag_node *k = var(g, "k", 3, (int64_t[]){1, 2, 1}, (double[]){1, 3});
    ag_node *v = var(g, "v", 3, (int64_t[]){1, 2, 2}, (double[]){1, 2, 3, 4});
    ag_tensor *qm_t = ag_tensor_new(AG_INT32, 2, (int64_t[]){1, 3}, NULL);
    AG_I32(qm_t)[0] = 1, AG_I32(qm_t)[1] = 0, AG_I32(qm_t)[2] = 1;
    ag_node *qm = ag_constant(g, qm_t);
    ag_tensor_free(qm_t);
    ag_node *w = NULL;
    ag_node *out = ag_attention(g, q, v, k, qm, NULL, NULL, NULL, NULL, &w);
    run(g, out);
    double want[6];
    for (int i = 0; i < 3; i++) {
        double s0 = (i + 1) * 1.0, s1 = (i + 1) * 3.0, a0 = sigm(s0 - s1), a1 = 1 - a0;
        assert_true(fabs(AG_F64(ag_value(w))[2 * i] - a0) < 1e-12);
        want[2 * i] = i == 1 ? 0 : a0 * 1 + a1 * 3;
        want[2 * i + 1] = i == 1 ? 0 : a0 * 2 + a1 * 4;
    }
    assert_values(out, want, 1e-12);
    ag_graph_free(g);
}

/* causal: query i attends to keys j <= i only. */
static void test_causal(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *q = var(g, "q", 3, (int64_t[]){1, 3, 1}, (double[]){1, 1, 1});
    ag_node *k = var(g, "k", 3, (int64_t[]){1, 3, 1}, (double[]){0, 1, 2});
    ag_attention_opts o = {.mode = AG_SCORE_DOT, .causal = 1};
    ag_node *w = ag_attention_weights(g, q, k, NULL, NULL, NULL, &o);
    run(g, w);
    double e0 = 1, e1 = exp(1), e2 = exp(2);
    double want[9] = {1,
                      0,
                      0,
                      e0 / (e0 + e1),
                      e1 / (e0 + e1),
                      0,
                      e0 / (e0 + e1 + e2),
                      e1 / (e0 + e1 + e2),
                      e2 / (e0 + e1 + e2)};
    assert_values(w, want, 1e-12);
    ag_graph_free(g);
}

/* causal combined (logical and) with a value mask; and a row whose every key
 * is masked keeps Keras's -1e9 shift: finite weights summing to 1. */
static void test_causal_with_value_mask(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *q = var(g, "q", 3, (int64_t[]){1, 3, 1}, (double[]){1, 1, 1});
    ag_node *k = var(g, "k", 3, (int64_t[]){1, 3, 1}, (double[]){0, 1, 2});
    ag_node *vm = bool_const(g, 2, (int64_t[]){1, 3}, (int[]){0, 1, 1});
    ag_attention_opts o = {.mode = AG_SCORE_DOT, .causal = 1};
    ag_node *w = ag_attention_weights(g, q, k, vm, NULL, NULL, &o);
    run(g, w);
    const double *a = AG_F64(ag_value(w));
    /* row 0: its only causal key is masked: all three scores shifted by -1e9
     * or more; row 1: key 1 only; row 2: keys 1, 2 */
    assert_true(isfinite(a[0]) && isfinite(a[1]) && isfinite(a[2]));
    AG_ASSERT_NEAR(a[0] + a[1] + a[2], 1, 1e-12);
    assert_values(w, (double[]){a[0], a[1], a[2], 0, 1, 0, 0, sigm(-1), sigm(1)}, 1e-12);
    ag_graph_free(g);
}

/* key absent: value is the key; the same as passing it twice. */
static void test_key_absent_is_value(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    int64_t qs[3] = {2, 3, 4}, vs[3] = {2, 5, 4};
    ag_node *q = rand_var(g, "q", 3, qs, -1, 1, 1);
    ag_node *v = rand_var(g, "v", 3, vs, -1, 1, 2);
    ag_node *o1 = ag_attention(g, q, v, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    ag_node *o2 = ag_attention(g, q, v, v, NULL, NULL, NULL, NULL, NULL, NULL);
    run(g, o1);
    run(g, o2);
    assert_memory_equal(ag_value(o1)->data, ag_value(o2)->data, 2 * 3 * 4 * sizeof(double));
    ag_graph_free(g);
}

/* concat: s = w · Σ_d tanh(scale · (q_d + k_d)), with and without scale. */
static void test_concat(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *q = var(g, "q", 3, (int64_t[]){1, 1, 2}, (double[]){0.5, -0.25});
    ag_node *k = var(g, "k", 3, (int64_t[]){1, 2, 2}, (double[]){0.5, 0.75, -0.5, 1});
    ag_node *sc = var(g, "scale", 0, NULL, (double[]){0.7});
    ag_node *cw = var(g, "cw", 0, NULL, (double[]){2});
    ag_attention_opts o = {.mode = AG_SCORE_CONCAT};
    ag_node *w1 = ag_attention_weights(g, q, k, NULL, sc, cw, &o);
    ag_node *w2 = ag_attention_weights(g, q, k, NULL, NULL, NULL, &o);
    run(g, w1);
    run(g, w2);
    double s0 = 2 * (tanh(0.7 * 1.0) + tanh(0.7 * 0.5)), s1 = 2 * (tanh(0.0) + tanh(0.7 * 0.75));
    assert_values(w1, (double[]){sigm(s0 - s1), sigm(s1 - s0)}, 1e-12);
    double t0 = tanh(1.0) + tanh(0.5), t1 = tanh(0.0) + tanh(0.75);
    assert_values(w2, (double[]){sigm(t0 - t1), sigm(t1 - t0)}, 1e-12);
    ag_graph_free(g);
}

/* additive: s = Σ_d scale_d · tanh(q_d + k_d), with and without scale. */
static void test_additive(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *q = var(g, "q", 3, (int64_t[]){1, 1, 2}, (double[]){0.2, 0.1});
    ag_node *k = var(g, "k", 3, (int64_t[]){1, 2, 2}, (double[]){0.3, -0.1, 0, 0.4});
    ag_node *v = var(g, "v", 3, (int64_t[]){1, 2, 1}, (double[]){10, 20});
    ag_node *sc = var(g, "scale", 1, (int64_t[]){2}, (double[]){1, -0.5});
    ag_attention_opts o = {.mode = AG_SCORE_ADDITIVE};
    ag_node *w1 = NULL, *w2 = NULL;
    ag_node *out1 = ag_attention(g, q, v, k, NULL, NULL, sc, NULL, &o, &w1);
    ag_node *out2 = ag_attention(g, q, v, k, NULL, NULL, NULL, NULL, &o, &w2);
    run(g, out1);
    run(g, out2);
    double s0 = tanh(0.5) - 0.5 * tanh(0.0), s1 = tanh(0.2) - 0.5 * tanh(0.5);
    assert_values(w1, (double[]){sigm(s0 - s1), sigm(s1 - s0)}, 1e-12);
    assert_values(out1, (double[]){10 * sigm(s0 - s1) + 20 * sigm(s1 - s0)}, 1e-12);
    double t0 = tanh(0.5) + tanh(0.0), t1 = tanh(0.2) + tanh(0.5);
    assert_values(w2, (double[]){sigm(t0 - t1), sigm(t1 - t0)}, 1e-12);
    assert_values(out2, (double[]){10 * sigm(t0 - t1) + 20 * sigm(t1 - t0)}, 1e-12);
    ag_graph_free(g);
}

/* How many floats apart two floats of the same sign are. */
static int64_t ulps_apart(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

/* The float32 kernels' own tanh (ops/attention.c, declared in internal.h):
 * within 1 ulp of the correctly rounded tanh for floats from 1e-30 to 20,
 * both signs. */

static void test_float32_tanh_within_one_ulp(void **state)
{
    (void)state;
    int64_t n = 0;
    for (uint32_t u = 0x0DA24260u; u < 0x41A00000u; u += 97, n++) { /* 1e-30 .. 20 */
        float x;
        memcpy(&x, &u, sizeof x);
        for (int sign = 0; sign < 2; sign++) {
            float xs = sign ? -x : x, got = ag__attention_tanhf(xs), want = (float)tanh(xs);
            if (ulps_apart(got, want) > 1)
                fail_msg("tanh(%.9g) = %.9g, expected %.9g", (double)xs, (double)got, (double)want);
        }
    }
    assert_true(n > 1000000);
    AG_ASSERT_NEAR(ag__attention_tanhf(0.0f), 0, 0);
    AG_ASSERT_NEAR(ag__attention_tanhf(100.0f), 1, 0);
    AG_ASSERT_NEAR(ag__attention_tanhf(-100.0f), -1, 0);
    /* the long fuzz run's finding: a NaN reached a float-to-int conversion
     * (undefined; UBSan stops here when it comes back) */
    assert_true(isnan(ag__attention_tanhf(NAN)));
    assert_true(isnan(ag__attention_tanhf(-NAN)));
    AG_ASSERT_NEAR(ag__attention_tanhf(INFINITY), 1, 0);
    AG_ASSERT_NEAR(ag__attention_tanhf(-INFINITY), -1, 0);
}

/* The float32 kernels' own exp: within 1 ulp of the correctly rounded e^x
 * for every 61st float from -104 to 89, subnormal results included; 0
 * below, infinity above, NaN as NaN. */
static void test_float32_exp_within_one_ulp(void **state)
{
    (void)state;
    int64_t n = 0;
    const uint32_t ranges[2][2] = {{0u, 0x42B20000u}, {0x80000000u, 0xC2D00000u}}; /* 89, -104 */
    for (int s = 0; s < 2; s++)
        for (uint32_t u = ranges[s][0]; u < ranges[s][1]; u += 61, n++) {
            float x, got, want;
            memcpy(&x, &u, sizeof x);
            got = ag__attention_expf(x);
            want = (float)exp((double)x);
            if (ulps_apart(got, want) > 1)
                fail_msg("exp(%.9g) = %.9g, expected %.9g", (double)x, (double)got, (double)want);
        }
    assert_true(n > 30000000);
    AG_ASSERT_NEAR(ag__attention_expf(0.0f), 1, 0);
    AG_ASSERT_NEAR(ag__attention_expf(-104.5f), 0, 0);
    AG_ASSERT_NEAR(ag__attention_expf(-INFINITY), 0, 0);
    assert_true(isinf(ag__attention_expf(89.5f)));
    assert_true(isinf(ag__attention_expf(INFINITY)));
    assert_true(isnan(ag__attention_expf(NAN)));
    assert_true(isnan(ag__attention_expf(-NAN)));
}

/* float32 kernels (with their own vectorisable tanh) agree with float64 over
 * sums q_d + k_d that are tiny, moderate and beyond the tanh clamp (|x| >= 9). */
static void test_float32_matches_float64(void **state)
{
    (void)state;
    const double qv[8] = {1e-6, -2e-5, 0.3, -0.7, 4.0, -6.5, 10.0, -12.0};
    const double kv[12] = {-1e-6, 3e-5, 0.25, 1.5, -2.0, 5.5, 1e-3, -0.004, 7.0, -9.0, 0.05, 2.5};
    for (int mode = 1; mode < 3; mode++) {
        ag_node *w[2];
        ag_graph *gs[2];
        ag_tensor *gq[2];
        for (int f = 0; f < 2; f++) {
            ag_graph *g = gs[f] = ag_graph_new();
            ag_graph_set_float(g, f ? AG_FLOAT64 : AG_FLOAT32);
            ag_node *q = var(g, "q", 3, (int64_t[]){1, 4, 2}, qv);
            ag_node *k = var(g, "k", 3, (int64_t[]){1, 6, 2}, kv);
            ag_node *sc = mode == AG_SCORE_ADDITIVE
                              ? var(g, "s", 1, (int64_t[]){2}, (double[]){0.9, -1.1})
                              : var(g, "s", 0, NULL, (double[]){1.3});
            ag_attention_opts o = {.mode = (ag_score_mode)mode};
            w[f] = ag_attention_weights(g, q, k, NULL, sc, NULL, &o);
            run(g, w[f]);
            AG_ASSERT_OK(g, ag_backward(g, w[f], NULL));
            gq[f] = ag_grad(q);
        }
        for (int64_t i = 0; i < 24; i++)
            AG_ASSERT_NEAR(ag_tensor_get(ag_value(w[0]), i), AG_F64(ag_value(w[1]))[i], 2e-6);
        for (int64_t i = 0; i < 8; i++)
            AG_ASSERT_NEAR(ag_tensor_get(gq[0], i), AG_F64(gq[1])[i], 2e-6);
        ag_graph_free(gs[0]);
        ag_graph_free(gs[1]);
    }
}

/* Unknown dims at build time resolve at run time. */
static void test_unknown_dims(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *q = ag_input(g, "q", AG_FLOAT32, 3, (int64_t[]){-1, -1, 4});
    ag_node *v = ag_input(g, "v", AG_FLOAT32, 3, (int64_t[]){-1, -1, 4});
    ag_node *out = ag_attention(g, q, v, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    assert_non_null(out);
    ag_tensor *qt = ag_tensor_new(AG_FLOAT32, 3, (int64_t[]){2, 3, 4}, NULL);
    ag_tensor *vt = ag_tensor_new(AG_FLOAT32, 3, (int64_t[]){2, 5, 4}, NULL);
    AG_ASSERT_OK(g, ag_feed(g, q, qt));
    AG_ASSERT_OK(g, ag_feed(g, v, vt));
    run(g, out);
    assert_int_equal(ag_value(out)->shape[1], 3);
    /* a run-time mismatch fails the run with a message */
    ag_tensor *bad = ag_tensor_new(AG_FLOAT32, 3, (int64_t[]){3, 5, 4}, NULL);
    AG_ASSERT_OK(g, ag_feed(g, v, bad));
    assert_int_not_equal(ag_forward(g, &out, 1), AG_OK);
    ag_assert_msg_has(ag_graph_error(g), "same batch size");
    ag_tensor_free(qt);
    ag_tensor_free(vt);
    ag_tensor_free(bad);
    ag_graph_free(g);
}

/* ---- errors: every one a value with a message, none an abort ---- */

static void expect_error(ag_graph *g, ag_node *n, ag_status code, const char *needle)
{
    assert_null(n);
    assert_int_equal(ag_graph_status(g), code);
    ag_assert_msg_has(ag_graph_error(g), needle);
    ag_graph_clear_error(g);
}

static void test_errors(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *q = ag_variable(g, "q", 3, (int64_t[]){2, 3, 4});
    ag_node *k = ag_variable(g, "k", 3, (int64_t[]){2, 5, 4});
    ag_node *v = ag_variable(g, "v", 3, (int64_t[]){2, 5, 6});
    ag_node *q2 = ag_variable(g, "q2", 2, (int64_t[]){3, 4});
    ag_node *kb = ag_variable(g, "kb", 3, (int64_t[]){3, 5, 4});
    ag_node *kd = ag_variable(g, "kd", 3, (int64_t[]){2, 5, 7});
    ag_node *vt = ag_variable(g, "vt", 3, (int64_t[]){2, 4, 6});
    ag_node *v2 = ag_variable(g, "v2", 2, (int64_t[]){5, 6});
    ag_node *s0 = ag_variable(g, "s0", 0, NULL);
    ag_node *s2 = ag_variable(g, "s2", 1, (int64_t[]){2});
    ag_node *s4 = ag_variable(g, "s4", 1, (int64_t[]){4});
    ag_node *vm_bad = bool_const(g, 2, (int64_t[]){2, 4}, (int[]){1, 1, 1, 1, 1, 1, 1, 1});
    ag_node *qm_bad = bool_const(g, 2, (int64_t[]){2, 5}, (int[]){1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
    ag_node *qm_r1 = bool_const(g, 1, (int64_t[]){3}, (int[]){1, 1, 1});
    ag_attention_opts dot = {.mode = AG_SCORE_DOT}, add = {.mode = AG_SCORE_ADDITIVE};
    ag_attention_opts conc = {.mode = AG_SCORE_CONCAT};

    expect_error(g, ag_attention(g, q2, v, NULL, NULL, NULL, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "query must have rank 3 (batch_size, T, dim), received rank 2 with shape (3, 4)");
    expect_error(g, ag_attention(g, q, v2, NULL, NULL, NULL, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "value must have rank 3");
    expect_error(g, ag_attention_weights(g, q, q2, NULL, NULL, NULL, &dot), AG_ERR_SHAPE,
                 "key must have rank 3");
    expect_error(g, ag_attention(g, q, v, kb, NULL, NULL, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "same batch size, received query (2, 3, 4) and key (3, 5, 4)");
    expect_error(g, ag_attention(g, kb, v, NULL, NULL, NULL, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "query and value must have the same batch size");
    expect_error(g, ag_attention(g, q, vt, k, NULL, NULL, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "key and value must have the same Tv (axis 1), received key (2, 5, 4) and value "
                 "(2, 4, 6)");
    expect_error(g, ag_attention(g, q, v, kd, NULL, NULL, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "same last dimension (dim), received query (2, 3, 4) and key (2, 5, 7)");
    expect_error(g, ag_attention(g, q, v, k, NULL, vm_bad, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "value_mask must have shape (batch_size, Tv) = (2, 5), received (2, 4)");
    expect_error(g, ag_attention(g, q, v, k, qm_bad, NULL, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "query_mask must have shape (batch_size, Tq) = (2, 3), received (2, 5)");
    expect_error(g, ag_attention(g, q, v, k, qm_r1, NULL, NULL, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "query_mask must have shape");
    expect_error(g, ag_attention(g, q, v, k, NULL, NULL, s2, NULL, &dot, NULL), AG_ERR_SHAPE,
                 "scale must have shape () or (1,) for score_mode dot, received (2,)");
    expect_error(g, ag_attention(g, q, v, k, NULL, NULL, s0, NULL, &add, NULL), AG_ERR_SHAPE,
                 "scale must have shape (dim,) = (4,) for score_mode additive, received ()");
    expect_error(g, ag_attention(g, q, v, k, NULL, NULL, s4, s0, &add, NULL), AG_ERR_ARG,
                 "concat_weight is only used by score_mode concat, received one with score_mode "
                 "additive");
    expect_error(g, ag_attention(g, q, v, k, NULL, NULL, NULL, s4, &conc, NULL), AG_ERR_SHAPE,
                 "concat_weight must have shape () or (1,), received (4,)");
    ag_attention_opts bad_mode = {.mode = (ag_score_mode)7};
    expect_error(g, ag_attention(g, q, v, k, NULL, NULL, NULL, NULL, &bad_mode, NULL), AG_ERR_ARG,
                 "score_mode must be one of {dot, concat, additive}");
    ag_graph_clear_error(g);
    double bad_rates[3] = {1.0, -0.1, NAN};
    for (int i = 0; i < 3; i++) {
        ag_attention_opts o = {.mode = AG_SCORE_DOT, .dropout = bad_rates[i]};
        expect_error(g, ag_attention(g, q, v, k, NULL, NULL, NULL, NULL, &o, NULL), AG_ERR_ARG,
                     "dropout must be in [0, 1), received");
    }
    /* a weights_out pointer is cleared on failure */
    ag_node *w = q;
    assert_null(ag_attention(g, q, v2, NULL, NULL, NULL, NULL, NULL, &dot, &w));
    assert_null(w);
    ag_graph_clear_error(g);
    /* NULL inputs from an earlier failure propagate, keeping the first message */
    ag_node *bad = ag_attention(g, q2, v, NULL, NULL, NULL, NULL, NULL, &dot, NULL);
    assert_null(bad);
    assert_null(ag_attention(g, bad, v, NULL, NULL, NULL, NULL, NULL, &dot, NULL));
    assert_null(ag_attention_weights(g, bad, k, NULL, NULL, NULL, &dot));
    ag_assert_msg_has(ag_graph_error(g), "query must have rank 3");
    ag_graph_clear_error(g);
    assert_null(ag_attention(g, q, NULL, NULL, NULL, NULL, NULL, NULL, &dot, NULL));
    ag_assert_msg_has(ag_graph_error(g), "attention: value node is NULL");
    assert_null(ag_attention(NULL, q, v, NULL, NULL, NULL, NULL, NULL, &dot, NULL));
    ag_graph_free(g);
}

/* ---- gradient checks ---- */

/* The full attention graph, float64, for one combination of options. */
static void check_combination(int mode, int vmask, int qmask, int causal, int keyed, int scaled)
{
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    /* without a key the value is the key, so Dv = D; with one, Dv != D */
    const int64_t B = 2, Tq = 3, Tv = 4, D = 3, Dv = keyed ? 2 : D;
    ag_node *q = rand_var(g, "query", 3, (int64_t[]){B, Tq, D}, -1, 1, 1);
    ag_node *v = rand_var(g, "value", 3, (int64_t[]){B, Tv, Dv}, -1, 1, 2);
    ag_node *k = keyed ? rand_var(g, "key", 3, (int64_t[]){B, Tv, D}, -1, 1, 3) : NULL;
    ag_node *vm =
        vmask ? bool_const(g, 2, (int64_t[]){B, Tv}, (int[]){1, 0, 1, 1, 1, 1, 0, 0}) : NULL;
    ag_node *qm = qmask ? bool_const(g, 2, (int64_t[]){B, Tq}, (int[]){1, 0, 1, 0, 1, 1}) : NULL;
    ag_node *sc = NULL, *cw = NULL;
    if (scaled)
        sc = mode == AG_SCORE_ADDITIVE ? rand_var(g, "scale", 1, (int64_t[]){D}, 0.5, 1.5, 4)
                                       : var(g, "scale", 0, NULL, (double[]){0.8});
    if (mode == AG_SCORE_CONCAT) cw = var(g, "concat_weight", 0, NULL, (double[]){1.3});
    ag_attention_opts o = {.mode = (ag_score_mode)mode, .causal = causal};
    ag_node *out = ag_attention(g, q, v, k, qm, vm, sc, cw, &o, NULL);
    if (!out) fail_msg("build: %s", ag_graph_error(g));
    ag_gradcheck_report rep;
    AG_ASSERT_OK(g, ag_gradcheck(g, out, 7, &rep));
    int want_n = 2 + keyed + scaled + (mode == AG_SCORE_CONCAT);
    if (rep.max_rel > 1e-6 || rep.n != want_n) {
        ag_gradcheck_print(stderr, &rep, "attention");
        fail_msg("mode %d value_mask %d query_mask %d causal %d key %d scale %d: worst relative "
                 "error %.3g over %d nodes (expected %d)",
                 mode, vmask, qmask, causal, keyed, scaled, rep.max_rel, rep.n, want_n);
    }
    ag_graph_free(g);
}

static void test_gradcheck_every_combination(void **state)
{
    (void)state;
    int n = 0;
    for (int mode = 0; mode < 3; mode++)
        for (int bits = 0; bits < 32; bits++, n++)
            check_combination(mode, bits & 1, (bits >> 1) & 1, (bits >> 2) & 1, (bits >> 3) & 1,
                              (bits >> 4) & 1);
    assert_int_equal(n, 96);
}

/* Additive and concat backward with B >= 4 evaluate each tanh once, in one
 * sweep per batch element; with B < 4 they take the rows and columns
 * passes. Both sum every gq_i over j and every gk_j over i in ascending
 * order, so a batch of 5 gives, element by element, the same bits as five
 * batches of 1; and the sweep's gradients (concat weight and scale
 * included) pass a float64 gradient check. */
typedef struct sweep_out {
    ag_tensor *out, *gq, *gk, *gs, *gw;
} sweep_out;

static sweep_out run_sweep(ag_dtype dt, int mode, int64_t b0, int64_t nb)
{
    enum { SB = 5, STQ = 6, STV = 7, SD = 5 };
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, dt);
    ag_tensor *qa = ag_tensor_new(dt, 3, (int64_t[]){SB, STQ, SD}, NULL),
              *ka = ag_tensor_new(dt, 3, (int64_t[]){SB, STV, SD}, NULL);
    ag_fill_uniform(qa, -1.5, 1.5, 9, 1);
    ag_fill_uniform(ka, -1.5, 1.5, 9, 2);
    ag_node *q = ag_variable(g, "q", 3, (int64_t[]){nb, STQ, SD}),
            *k = ag_variable(g, "k", 3, (int64_t[]){nb, STV, SD});
    size_t es = ag_dtype_size(dt);
    memcpy(ag_value(q)->data, (char *)qa->data + (size_t)(b0 * STQ * SD) * es,
           (size_t)(nb * STQ * SD) * es);
    memcpy(ag_value(k)->data, (char *)ka->data + (size_t)(b0 * STV * SD) * es,
           (size_t)(nb * STV * SD) * es);
    ag_tensor_free(qa), ag_tensor_free(ka);
    ag_node *sc = mode == AG_SCORE_ADDITIVE ? rand_var(g, "s", 1, (int64_t[]){SD}, 0.5, 1.5, 4)
                                            : var(g, "s", 0, NULL, (double[]){0.7});
    ag_node *cw = mode == AG_SCORE_CONCAT ? var(g, "cw", 0, NULL, (double[]){1.3}) : NULL;
    ag_attention_opts o = {.mode = (ag_score_mode)mode};
    ag_node *w = NULL;
    ag_node *out = ag_attention(g, q, k, k, NULL, NULL, sc, cw, &o, &w);
    run(g, out);
    AG_ASSERT_OK(g, ag_backward(g, out, NULL));
    sweep_out r = {ag_tensor_copy(ag_value(out), NULL), ag_tensor_copy(ag_grad(q), NULL),
                   ag_tensor_copy(ag_grad(k), NULL), ag_tensor_copy(ag_grad(sc), NULL),
                   cw ? ag_tensor_copy(ag_grad(cw), NULL) : NULL};
    if (dt == AG_FLOAT64 && nb == SB) {
        ag_gradcheck_report rep;
        AG_ASSERT_OK(g, ag_gradcheck(g, out, 3, &rep));
        if (rep.max_rel > 1e-6) {
            ag_gradcheck_print(stderr, &rep, "sweep");
            fail_msg("mode %d: worst relative error %.3g", mode, rep.max_rel);
        }
    }
    ag_graph_free(g);
    return r;
}

static void sweep_free(sweep_out *r)
{
    ag_tensor_free(r->out), ag_tensor_free(r->gq), ag_tensor_free(r->gk);
    ag_tensor_free(r->gs), ag_tensor_free(r->gw);
}

static void test_sweep_matches_two_passes(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++)
        for (int mode = 1; mode < 3; mode++) {
            ag_dtype dt = d ? AG_FLOAT64 : AG_FLOAT32;
            size_t es = ag_dtype_size(dt);
            sweep_out all = run_sweep(dt, mode, 0, 5);
            double gs_sum = 0, gw_sum = 0;
            for (int64_t b = 0; b < 5; b++) {
                sweep_out one = run_sweep(dt, mode, b, 1);
                const size_t nq = (size_t)one.gq->size * es, nk = (size_t)one.gk->size * es;
                if (memcmp((char *)all.out->data + (size_t)b * (size_t)one.out->size * es,
                           one.out->data, (size_t)one.out->size * es))
                    fail_msg("d %d mode %d b %lld: out %.17g vs %.17g", d, mode, (long long)b,
                             ag_tensor_get(all.out, b * one.out->size), ag_tensor_get(one.out, 0));
                assert_memory_equal((char *)all.gq->data + (size_t)b * nq, one.gq->data, nq);
                assert_memory_equal((char *)all.gk->data + (size_t)b * nk, one.gk->data, nk);
                gs_sum += ag_tensor_get(one.gs, 0);
                if (one.gw) gw_sum += ag_tensor_get(one.gw, 0);
                sweep_free(&one);
            }
            AG_ASSERT_NEAR(ag_tensor_get(all.gs, 0), gs_sum, d ? 1e-12 : 1e-5);
            if (all.gw) AG_ASSERT_NEAR(ag_tensor_get(all.gw, 0), gw_sum, d ? 1e-12 : 1e-5);
            sweep_free(&all);
        }
}

/* Dropout's gradient with a fixed mask (the checker holds the step). */
static void test_gradcheck_dropout(void **state)
{
    (void)state;
    for (int mode = 0; mode < 3; mode++) {
        ag_graph *g = ag_graph_new();
        ag_graph_set_float(g, AG_FLOAT64);
        ag_graph_set_training(g, 1);
        /* a batch of 5: additive's one-sweep backward (B >= 4) is checked too */
        ag_node *q = rand_var(g, "query", 3, (int64_t[]){5, 4, 3}, -1, 1, 1);
        ag_node *v = rand_var(g, "value", 3, (int64_t[]){5, 5, 3}, -1, 1, 2);
        ag_node *sc = mode == AG_SCORE_ADDITIVE
                          ? rand_var(g, "scale", 1, (int64_t[]){3}, 0.5, 1.5, 4)
                          : var(g, "scale", 0, NULL, (double[]){0.8});
        ag_attention_opts o = {.mode = (ag_score_mode)mode, .dropout = 0.4, .seed = 11};
        ag_node *w = NULL;
        ag_node *out = ag_attention(g, q, v, NULL, NULL, NULL, sc, NULL, &o, &w);
        ag_gradcheck_report rep;
        AG_ASSERT_OK(g, ag_gradcheck(g, out, 3, &rep));
        if (rep.max_rel > 1e-6 || rep.n != 3) {
            ag_gradcheck_print(stderr, &rep, "attention dropout");
            fail_msg("dropout mode %d: worst relative error %.3g", mode, rep.max_rel);
        }
        /* the mask really dropped something, and scaled the rest */
        int dropped = 0, kept = 0;
        for (int64_t i = 0; i < ag_value(w)->size; i++) {
            double z = AG_F64(ag_value(w))[i];
            dropped += z == 0, kept += z > 0;
        }
        assert_true(dropped > 0 && kept > 0);
        ag_graph_free(g);
    }
}

/* ---- dropout reproducibility ---- */

/* Weights from a fresh graph at a given step and training mode. */
static ag_tensor *dropout_weights(uint64_t seed, uint64_t step, int training, double rate)
{
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_graph_set_training(g, training);
    ag_graph_set_step(g, step);
    ag_node *q = rand_var(g, "q", 3, (int64_t[]){2, 6, 4}, -1, 1, 1);
    ag_node *k = rand_var(g, "k", 3, (int64_t[]){2, 7, 4}, -1, 1, 2);
    ag_attention_opts o = {.mode = AG_SCORE_DOT, .dropout = rate, .seed = seed};
    ag_node *w = ag_attention_weights(g, q, k, NULL, NULL, NULL, &o);
    run(g, w);
    ag_tensor *t = ag_tensor_copy(ag_value(w), NULL);
    ag_graph_free(g);
    return t;
}

static void test_dropout_reproducible(void **state)
{
    (void)state;
    size_t bytes = 2 * 6 * 7 * sizeof(double);
    ag_tensor *a = dropout_weights(5, 3, 1, 0.5), *b = dropout_weights(5, 3, 1, 0.5);
    ag_tensor *other_step = dropout_weights(5, 4, 1, 0.5),
              *other_seed = dropout_weights(6, 3, 1, 0.5);
    ag_tensor *off = dropout_weights(5, 3, 0, 0.5), *none = dropout_weights(5, 3, 1, 0);
    assert_memory_equal(a->data, b->data, bytes);
    assert_memory_not_equal(a->data, other_step->data, bytes);
    assert_memory_not_equal(a->data, other_seed->data, bytes);
    /* training off: no dropout, the plain softmax */
    assert_memory_equal(off->data, none->data, bytes);
    /* kept weights are the softmax's scaled by 1/(1-rate); the mask is
     * keep = u(seed, step, index) >= rate */
    int dropped = 0;
    for (int64_t i = 0; i < a->size; i++) {
        int keep = ag_rand_uniform(5, 3, (uint64_t)i) >= 0.5;
        AG_ASSERT_NEAR(AG_F64(a)[i], keep ? AG_F64(off)[i] * 2 : 0, 1e-15);
        dropped += !keep;
    }
    assert_true(dropped > 10 && dropped < 74);
    ag_tensor *tensors[6] = {a, b, other_step, other_seed, off, none};
    for (int i = 0; i < 6; i++)
        ag_tensor_free(tensors[i]);
}

/* Successive training runs of one graph draw new masks (the step advances). */
static void test_dropout_step_advances(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_training(g, 1);
    ag_node *q = rand_var(g, "q", 3, (int64_t[]){1, 8, 4}, -1, 1, 1);
    ag_attention_opts o = {.mode = AG_SCORE_DOT, .dropout = 0.5, .seed = 1};
    ag_node *w = ag_attention_weights(g, q, q, NULL, NULL, NULL, &o);
    run(g, w);
    ag_tensor *first = ag_tensor_copy(ag_value(w), NULL);
    run(g, w);
    assert_memory_not_equal(first->data, ag_value(w)->data, 64 * sizeof(float));
    ag_tensor_free(first);
    ag_graph_free(g);
}

/* ---- thread-count independence ---- */

typedef struct snapshot {
    ag_tensor *t[8];
    int n;
} snapshot;

/* Forward and backward of a graph big enough to run in parallel; copies
 * the output and every gradient. */
static snapshot run_threads(int threads, ag_dtype dt, int mode)
{
    omp_set_num_threads(threads);
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, dt);
    ag_graph_set_training(g, 1);
    /* B >= 4: additive runs its one-sweep backward */
    const int64_t B = 5, Tq = 40, Tv = 36, D = 24, Dv = 8;
    ag_node *q = rand_var(g, "q", 3, (int64_t[]){B, Tq, D}, -1, 1, 1);
    ag_node *k = rand_var(g, "k", 3, (int64_t[]){B, Tv, D}, -1, 1, 2);
    ag_node *v = rand_var(g, "v", 3, (int64_t[]){B, Tv, Dv}, -1, 1, 3);
    ag_node *sc = mode == AG_SCORE_ADDITIVE ? rand_var(g, "s", 1, (int64_t[]){D}, 0.5, 1.5, 4)
                                            : var(g, "s", 0, NULL, (double[]){0.7});
    ag_node *cw = mode == AG_SCORE_CONCAT ? var(g, "cw", 0, NULL, (double[]){1.2}) : NULL;
    ag_tensor *m = ag_tensor_new(AG_BOOL, 2, (int64_t[]){B, Tv}, NULL);
    for (int64_t i = 0; i < m->size; i++)
        AG_U8(m)[i] = i % 5 != 3;
    ag_node *vm = ag_constant(g, m);
    ag_attention_opts o = {.mode = (ag_score_mode)mode, .causal = 1, .dropout = 0.2, .seed = 9};
    ag_node *out = ag_attention(g, q, v, k, NULL, vm, sc, cw, &o, NULL);
    run(g, out);
    AG_ASSERT_OK(g, ag_backward(g, out, NULL));
    snapshot s = {.n = 0};
    s.t[s.n++] = ag_tensor_copy(ag_value(out), NULL);
    ag_node *nodes[5] = {q, k, v, sc, cw};
    for (int i = 0; i < 5; i++)
        if (nodes[i]) s.t[s.n++] = ag_tensor_copy(ag_grad(nodes[i]), NULL);
    ag_tensor_free(m);
    ag_graph_free(g);
    return s;
}

static void test_threads_bitwise_identical(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++)
        for (int mode = 0; mode < 3; mode++) {
            ag_dtype dt = f ? AG_FLOAT64 : AG_FLOAT32;
            snapshot one = run_threads(1, dt, mode), two = run_threads(2, dt, mode);
            assert_int_equal(one.n, two.n);
            for (int i = 0; i < one.n; i++) {
                assert_non_null(one.t[i]);
                assert_int_equal(one.t[i]->size, two.t[i]->size);
                if (memcmp(one.t[i]->data, two.t[i]->data,
                           (size_t)one.t[i]->size * ag_dtype_size(dt)))
                    fail_msg("%s mode %d: tensor %d differs between 1 and 2 threads",
                             ag_dtype_name(dt), mode, i);
                ag_tensor_free(one.t[i]);
                ag_tensor_free(two.t[i]);
            }
        }
    omp_set_num_threads(2);
}

/* ---- the fused dot path ----
 * ag_attention without weights_out runs the fused dot_attention op; with
 * it, attention_weights then a matmul. Both must agree (to float32
 * rounding) in value and in every gradient, over several query and key
 * blocks, with a value mask, causal, dropout (the same Philox draws), a
 * scale, and heads sharing an attention mask with zero_masked; variant 4
 * has none of them and a constant scale (the kernels' unmasked path),
 * variant 5 also a mask that is everywhere true, which must give variant
 * 4's bits. */
/* more than one block of 192 query rows and 256 keys (ops/dot_attention.c) */
enum { FUSED_B = 4, FUSED_TQ = 200, FUSED_TV = 300, FUSED_D = 9, FUSED_DV = 5 };

typedef struct fused_run {
    ag_tensor *out, *gq, *gk, *gv, *gs;
} fused_run;

static fused_run run_fused(int fused, int variant, int threads)
{
    omp_set_dynamic(0);
    omp_set_num_threads(threads);
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT32);
    const int64_t B = FUSED_B, Tq = FUSED_TQ, Tv = FUSED_TV, H = variant == 3 ? 2 : 1;
    ag_node *q = rand_var(g, "q", 3, (int64_t[]){B, Tq, FUSED_D}, -1, 1, 1);
    ag_node *k = rand_var(g, "k", 3, (int64_t[]){B, Tv, FUSED_D}, -1, 1, 2);
    ag_node *v = rand_var(g, "v", 3, (int64_t[]){B, Tv, FUSED_DV}, -1, 1, 3);
    ag_node *sc = var(g, "scale", 0, NULL, (double[]){0.7});
    ag_attention_opts o = {.mode = AG_SCORE_DOT, .seed = 5, .heads = (int)H};
    ag_tensor *m = variant == 3 ? ag_tensor_new(AG_BOOL, 3, (int64_t[]){B / H, Tq, Tv}, NULL)
                                : ag_tensor_new(AG_BOOL, 2, (int64_t[]){B, Tv}, NULL);
    /* some rows fully masked; variant 5 everywhere true */
    for (int64_t i = 0; i < m->size; i++)
        AG_U8(m)[i] = variant == 5 || (i % 7 != 3 && (i / Tv) % 5 != 4);
    ag_node *mask = variant == 4 ? NULL : ag_constant(g, m);
    ag_tensor_free(m);
    if (variant >= 4) sc = ag_scalar(g, 0.7); /* a constant: no scale gradient */
    if (variant >= 1 && variant <= 3) o.causal = 1;
    if (variant == 2) {
        o.dropout = 0.25;
        ag_graph_set_training(g, 1);
    }
    if (variant == 3) o.zero_masked = 1;
    ag_node *w = NULL;
    ag_node *out = ag_attention(g, q, v, k, NULL, mask, sc, NULL, &o, fused ? NULL : &w);
    assert_non_null(out);
    assert_string_equal(ag_node_op_name(out), fused ? "dot_attention" : "matmul");
    ag_tensor *gout = ag_tensor_new(AG_FLOAT32, 3, (int64_t[]){B, Tq, FUSED_DV}, NULL);
    ag_fill_uniform(gout, -1, 1, 9, 9);
    AG_ASSERT_OK(g, ag_forward(g, &out, 1));
    AG_ASSERT_OK(g, ag_backward(g, out, gout));
    ag_tensor_free(gout);
    fused_run r = {ag_tensor_copy(ag_value(out), NULL), ag_tensor_copy(ag_grad(q), NULL),
                   ag_tensor_copy(ag_grad(k), NULL), ag_tensor_copy(ag_grad(v), NULL),
                   variant < 4 ? ag_tensor_copy(ag_grad(sc), NULL) : NULL};
    ag_graph_free(g);
    return r;
}

static void fused_free(fused_run *r)
{
    ag_tensor_free(r->out), ag_tensor_free(r->gq), ag_tensor_free(r->gk);
    ag_tensor_free(r->gv), ag_tensor_free(r->gs); /* gs NULL without a scale */
}

static void close_to(const char *what, int variant, const ag_tensor *a, const ag_tensor *b,
                     double tol)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->size, b->size);
    double scale = 0;
    for (int64_t i = 0; i < b->size; i++)
        scale = fmax(scale, fabs(ag_tensor_get(b, i)));
    for (int64_t i = 0; i < a->size; i++)
        if (!(fabs(ag_tensor_get(a, i) - ag_tensor_get(b, i)) <= tol * (1 + scale)))
            fail_msg("variant %d: %s[%lld] fused %.9g, materialised %.9g", variant, what,
                     (long long)i, ag_tensor_get(a, i), ag_tensor_get(b, i));
}

static void test_fused_dot_matches_materialised(void **state)
{
    (void)state;
    for (int variant = 0; variant < 5; variant++) {
        fused_run f = run_fused(1, variant, 2), m = run_fused(0, variant, 2);
        close_to("out", variant, f.out, m.out, 2e-6);
        close_to("grad q", variant, f.gq, m.gq, 2e-5);
        close_to("grad k", variant, f.gk, m.gk, 2e-5);
        close_to("grad v", variant, f.gv, m.gv, 2e-5);
        if (variant < 4) close_to("grad scale", variant, f.gs, m.gs, 2e-5);
        fused_free(&f), fused_free(&m);
    }
    /* the unmasked path is the masked one's arithmetic with nothing masked */
    fused_run plain = run_fused(1, 4, 2), all_true = run_fused(1, 5, 2);
    ag_tensor *a[4] = {plain.out, plain.gq, plain.gk, plain.gv};
    ag_tensor *b[4] = {all_true.out, all_true.gq, all_true.gk, all_true.gv};
    for (int i = 0; i < 4; i++)
        if (memcmp(a[i]->data, b[i]->data, (size_t)a[i]->size * sizeof(float)))
            fail_msg("tensor %d differs between no mask and an all-true mask", i);
    fused_free(&plain), fused_free(&all_true);
    omp_set_num_threads(2);
}

static void test_fused_dot_threads_bitwise(void **state)
{
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        fused_run one = run_fused(1, variant, 1), two = run_fused(1, variant, 2);
        ag_tensor *a[5] = {one.out, one.gq, one.gk, one.gv, one.gs};
        ag_tensor *b[5] = {two.out, two.gq, two.gk, two.gv, two.gs};
        for (int i = 0; i < 5; i++)
            if (memcmp(a[i]->data, b[i]->data, (size_t)a[i]->size * sizeof(float)))
                fail_msg("variant %d: tensor %d differs between 1 and 2 threads", variant, i);
        fused_free(&one), fused_free(&two);
    }
    omp_set_num_threads(2);
}

/* The fused path keeps O(B·Tq) beyond its inputs, outputs and their
 * gradients: nothing grows with Tq·Tv; a steady step allocates nothing. */
static void test_fused_dot_memory(void **state)
{
    (void)state;
    const int64_t B = 2, Tq = 1024, Tv = 1024, D = 16;
    ag_graph *g = ag_graph_new();
    ag_node *q = rand_var(g, "q", 3, (int64_t[]){B, Tq, D}, -1, 1, 1);
    ag_node *v = rand_var(g, "v", 3, (int64_t[]){B, Tv, D}, -1, 1, 2);
    ag_node *out = ag_attention(g, q, v, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    run(g, out);
    AG_ASSERT_OK(g, ag_backward(g, out, NULL));
    uint64_t before = ag_graph_alloc_count(g);
    run(g, out);
    AG_ASSERT_OK(g, ag_backward(g, out, NULL));
    assert_int_equal(ag_graph_alloc_count(g) - before, 0);
    uint64_t bytes = ag_graph_bytes(g);
    /* q, v, out and their gradients (4 bytes each), the row statistics, and
     * per-thread tiles well under one (Tq,Tv) matrix */
    const uint64_t io = 4 * 4 * (uint64_t)(B * Tq * D) * 2, weights = 4 * (uint64_t)(B * Tq * Tv);
    if (bytes > io + weights / 4)
        fail_msg("fused dot attention holds %llu bytes; inputs and outputs are %llu, one "
                 "(B,Tq,Tv) matrix %llu",
                 (unsigned long long)bytes, (unsigned long long)io, (unsigned long long)weights);
    ag_graph_free(g);
}

/* ---- memory ---- */

/* Bytes held by the graph after forward and backward of the additive
 * weights, minus the inputs' own values and gradients. */
static uint64_t additive_bytes(int64_t B, int64_t Tq, int64_t Tv, int64_t D, uint64_t *allocs)
{
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *q = rand_var(g, "q", 3, (int64_t[]){B, Tq, D}, -1, 1, 1);
    ag_node *k = rand_var(g, "k", 3, (int64_t[]){B, Tv, D}, -1, 1, 2);
    ag_node *sc = rand_var(g, "s", 1, (int64_t[]){D}, 0.5, 1.5, 3);
    ag_attention_opts o = {.mode = AG_SCORE_ADDITIVE};
    ag_node *w = ag_attention_weights(g, q, k, NULL, sc, NULL, &o);
    run(g, w);
    AG_ASSERT_OK(g, ag_backward(g, w, NULL));
    uint64_t before = ag_graph_alloc_count(g);
    run(g, w);
    AG_ASSERT_OK(g, ag_backward(g, w, NULL));
    *allocs = ag_graph_alloc_count(g) - before;
    uint64_t bytes = ag_graph_bytes(g);
    ag_node *in[3] = {q, k, sc};
    for (int i = 0; i < 3; i++)
        bytes -= ag_value(in[i])->capacity + ag_grad(in[i])->capacity;
    ag_graph_free(g);
    return bytes;
}

static void test_additive_memory_does_not_grow_with_d(void **state)
{
    (void)state;
    const int64_t B = 2, Tq = 24, Tv = 32;
    uint64_t allocs8, allocs64;
    uint64_t m8 = additive_bytes(B, Tq, Tv, 8, &allocs8);
    uint64_t m64 = additive_bytes(B, Tq, Tv, 64, &allocs64);
    /* a steady-state step allocates nothing */
    assert_int_equal(allocs8, 0);
    assert_int_equal(allocs64, 0);
    /* what remains: the output and its gradient, the softmax, the score
     * gradients (each B·Tq·Tv), the per-row scale partials (B·Tq·D), and
     * the forward's transposed copy of the keys (B·D·Tv, Tv a multiple of
     * 32 here), with room for 64 more rows of Tv */
    const uint64_t slack = 64 * 8;
    uint64_t bound64 = 8 * (4 * B * Tq * Tv + B * Tq * 64 + B * 64 * Tv + 64 * Tv) + slack;
    if (m64 > bound64)
        fail_msg("additive, D=64: %llu bytes, bound %llu", (unsigned long long)m64,
                 (unsigned long long)bound64);
    /* growing D by 56 adds only the partials' B·Tq·56 and the keys' B·Tv·56
     * doubles */
    assert_true(m64 - m8 <= 8 * (B * Tq * 56 + B * Tv * 56) + slack);
    /* the (B,Tq,Tv,D) tensor alone would be far more */
    assert_true(m64 < (uint64_t)(8 * B * Tq * Tv * 64) / 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_basic_and_dv_differs),
        cmocka_unit_test(test_dot_scale),
        cmocka_unit_test(test_value_mask),
        cmocka_unit_test(test_query_mask_zeroes_rows),
        cmocka_unit_test(test_heads_attention_mask_zero_masked),
        cmocka_unit_test(test_heads_ops),
        cmocka_unit_test(test_causal),
        cmocka_unit_test(test_causal_with_value_mask),
        cmocka_unit_test(test_key_absent_is_value),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_additive),
        cmocka_unit_test(test_float32_tanh_within_one_ulp),
        cmocka_unit_test(test_float32_exp_within_one_ulp),
        cmocka_unit_test(test_float32_matches_float64),
        cmocka_unit_test(test_unknown_dims),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_gradcheck_every_combination),
        cmocka_unit_test(test_sweep_matches_two_passes),
        cmocka_unit_test(test_gradcheck_dropout),
        cmocka_unit_test(test_dropout_reproducible),
        cmocka_unit_test(test_dropout_step_advances),
        cmocka_unit_test(test_threads_bitwise_identical),
        cmocka_unit_test(test_additive_memory_does_not_grow_with_d),
        cmocka_unit_test(test_fused_dot_matches_materialised),
        cmocka_unit_test(test_fused_dot_threads_bitwise),
        cmocka_unit_test(test_fused_dot_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
