/* test_mha.c — MultiHeadAttention: weights and parameter counts as Keras's,
 * values against a direct loop implementation of Keras 3's formulas (masks,
 * causal, attention masks, fully masked rows), one head against Attention,
 * every gradient in float64, thread-count independence, configs, save/load,
 * errors. */
#include "testutil.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- a direct implementation of Keras 3's MultiHeadAttention ---- */

typedef struct ref_case {
    int64_t B, Tq, Tv, Dq, Dv, Dk, H, K, V, O;
    const double *q, *v, *k;          /* (B,Tq,Dq), (B,Tv,Dv), (B,Tv,Dk) */
    const double *wq, *bq, *wk, *bk;  /* (Dq,H,K), (H,K), (Dk,H,K), (H,K) */
    const double *wv, *bv, *wo, *bo;  /* (Dv,H,V), (H,V), (H,V,O), (O); biases may be NULL */
    const uint8_t *qm, *vm, *km, *am; /* (B,Tq), (B,Tv), (B,Tv), (B,Tq,Tv), or NULL */
    int causal;
} ref_case;

/* out (B,Tq,O), scores (B,H,Tq,Tv) */
static void reference(const ref_case *c, double *out, double *scores)
{
    const int64_t H = c->H, K = c->K, V = c->V;
    double *qh = calloc((size_t)K, sizeof *qh), *kh = calloc((size_t)(c->Tv * K), sizeof *kh);
    double *vh = calloc((size_t)(c->Tv * V), sizeof *vh), *s = calloc((size_t)c->Tv, sizeof *s);
    double *o = calloc((size_t)(H * V), sizeof *o);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t i = 0; i < c->Tq; i++) {
            for (int64_t h = 0; h < H; h++) {
                for (int64_t kk = 0; kk < K; kk++) {
                    double acc = c->bq ? c->bq[h * K + kk] : 0;
                    for (int64_t d = 0; d < c->Dq; d++)
                        acc += c->q[(b * c->Tq + i) * c->Dq + d] * c->wq[(d * H + h) * K + kk];
                    qh[kk] = acc / sqrt((double)K);
                }
                for (int64_t j = 0; j < c->Tv; j++) {
                    for (int64_t kk = 0; kk < K; kk++) {
                        double acc = c->bk ? c->bk[h * K + kk] : 0;
                        for (int64_t d = 0; d < c->Dk; d++)
                            acc += c->k[(b * c->Tv + j) * c->Dk + d] * c->wk[(d * H + h) * K + kk];
                        kh[j * K + kk] = acc;
                    }
                    for (int64_t vv = 0; vv < V; vv++) {
                        double acc = c->bv ? c->bv[h * V + vv] : 0;
                        for (int64_t d = 0; d < c->Dv; d++)
                            acc += c->v[(b * c->Tv + j) * c->Dv + d] * c->wv[(d * H + h) * V + vv];
                        vh[j * V + vv] = acc;
                    }
                }
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < c->Tv; j++) {
                    double dot = 0;
                    for (int64_t kk = 0; kk < K; kk++)
                        dot += qh[kk] * kh[j * K + kk];
                    int on = (!c->qm || c->qm[b * c->Tq + i]) && (!c->vm || c->vm[b * c->Tv + j]) &&
                             (!c->km || c->km[b * c->Tv + j]) && (!c->causal || i >= j) &&
                             (!c->am || c->am[(b * c->Tq + i) * c->Tv + j]);
                    s[j] = dot + (on ? 0 : -1e9);
                    if (s[j] > mx) mx = s[j];
                }
                for (int64_t j = 0; j < c->Tv; j++)
                    sum += exp(s[j] - mx);
                for (int64_t vv = 0; vv < V; vv++)
                    o[h * V + vv] = 0;
                for (int64_t j = 0; j < c->Tv; j++) {
                    int on = (!c->qm || c->qm[b * c->Tq + i]) && (!c->vm || c->vm[b * c->Tv + j]) &&
                             (!c->km || c->km[b * c->Tv + j]) && (!c->causal || i >= j) &&
                             (!c->am || c->am[(b * c->Tq + i) * c->Tv + j]);
                    double a = on ? exp(s[j] - mx) / sum : 0;
                    if (scores) scores[((b * H + h) * c->Tq + i) * c->Tv + j] = a;
                    for (int64_t vv = 0; vv < V; vv++)
                        o[h * V + vv] += a * vh[j * V + vv];
                }
            }
            for (int64_t oo = 0; oo < c->O; oo++) {
                double acc = c->bo ? c->bo[oo] : 0;
                for (int64_t hv = 0; hv < H * V; hv++)
                    acc += o[hv] * c->wo[hv * c->O + oo];
                out[(b * c->Tq + i) * c->O + oo] = acc;
            }
        }
    free(qh), free(kh), free(vh), free(s), free(o);
}

/* ---- models ---- */

typedef struct mha_model {
    ag_model *m;
    ag_layer *mha;
    ag_node *out, *scores;
    int n_in;
} mha_model;

enum {
    WITH_KEY = 1,
    WITH_QM = 2,
    WITH_VM = 4,
    WITH_KM = 8,
    WITH_AM = 16,
    CAUSAL = 32,
    SCORES = 64
};

/* Inputs: query (Tq,Dq), value (Tv,Dv), [key (Tv,Dk)], then the masks asked
 * for (bool), in the order qm, vm, km, am. */
static mha_model build(ag_dtype dt, const ag_mha_config *cfg, int64_t Dq, int64_t Dv, int64_t Dk,
                       unsigned flags)
{
    mha_model r = {0};
    r.m = ag_model_new(dt, 7);
    ag_node *in[8];
    int n = 0;
    ag_node *q = in[n++] = ag_model_input(r.m, "query", AG_FLOAT32, 2, (int64_t[]){-1, Dq});
    ag_node *v = in[n++] = ag_model_input(r.m, "value", AG_FLOAT32, 2, (int64_t[]){-1, Dv});
    ag_node *k = flags & WITH_KEY
                     ? (in[n++] = ag_model_input(r.m, "key", AG_FLOAT32, 2, (int64_t[]){-1, Dk}))
                     : NULL;
    ag_node *qm =
        flags & WITH_QM ? (in[n++] = ag_model_input(r.m, "qm", AG_BOOL, 1, (int64_t[]){-1})) : NULL;
    ag_node *vm =
        flags & WITH_VM ? (in[n++] = ag_model_input(r.m, "vm", AG_BOOL, 1, (int64_t[]){-1})) : NULL;
    ag_node *km =
        flags & WITH_KM ? (in[n++] = ag_model_input(r.m, "km", AG_BOOL, 1, (int64_t[]){-1})) : NULL;
    ag_node *am = flags & WITH_AM
                      ? (in[n++] = ag_model_input(r.m, "am", AG_BOOL, 2, (int64_t[]){-1, -1}))
                      : NULL;
    r.mha = ag_layer_multi_head_attention(r.m, cfg);
    ag_node *masks[2] = {qm, vm};
    ag_attention_call call = {.mask = masks,
                              .n_mask = qm || vm ? 2 : 0,
                              .use_causal_mask = (flags & CAUSAL) != 0,
                              .attention_scores = flags & SCORES ? &r.scores : NULL,
                              .key_mask = km,
                              .attention_mask = am};
    r.out = ag_call_attention(r.mha, (ag_node *[]){q, v, k}, k ? 3 : 2, &call);
    if (!r.out) fail_msg("call: %s", ag_model_error(r.m));
    ag_node *outs[2] = {r.out, r.scores};
    if (ag_model_build(r.m, in, n, outs, r.scores ? 2 : 1))
        fail_msg("build: %s", ag_model_error(r.m));
    r.n_in = n;
    return r;
}

static ag_tensor *rand_tensor(int rank, const int64_t *shape, uint64_t stream)
{
    ag_tensor *t = ag_tensor_new(AG_FLOAT64, rank, shape, NULL);
    ag_fill_uniform(t, -1, 1, 99, stream);
    return t;
}

static ag_tensor *bool_tensor(int rank, const int64_t *shape, const uint8_t *v)
{
    return ag_tensor_from(AG_BOOL, rank, shape, v, NULL);
}

/* The layer's weights as double arrays, in Keras's order (biases NULL when absent). */
static void weights_of(const ag_layer *l, const double *w[8])
{
    ag_node *nodes[8];
    int n = ag_layer_weights(l, -1, nodes, 8);
    int bias = n == 8;
    for (int i = 0, j = 0; i < 8; i++) {
        if (i % 2 && !bias) {
            w[i] = NULL;
            continue;
        }
        w[i] = AG_F64(ag_value(nodes[j++]));
    }
}

static void assert_close(const ag_tensor *t, const double *want, int64_t n, double tol,
                         const char *what)
{
    assert_int_equal(t->size, n);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(ag_tensor_get(t, i) - want[i]) <= tol))
            fail_msg("%s[%lld] = %.17g, expected %.17g", what, (long long)i, ag_tensor_get(t, i),
                     want[i]);
}

/* ---- weights and counts ---- */

static void test_weights_and_count_params(void **state)
{
    (void)state;
    ag_mha_config c = ag_mha_defaults(2, 2);
    mha_model r = build(AG_FLOAT32, &c, 5, 5, 5, 0);
    /* Keras: MultiHeadAttention(num_heads=2, key_dim=2) on width 5 has 97 */
    assert_int_equal(ag_layer_count_params(r.mha), 97);
    assert_int_equal(ag_model_count_params(r.m, -1), 97);
    static const char *const names[8] = {"multi_head_attention/query/kernel",
                                         "multi_head_attention/query/bias",
                                         "multi_head_attention/key/kernel",
                                         "multi_head_attention/key/bias",
                                         "multi_head_attention/value/kernel",
                                         "multi_head_attention/value/bias",
                                         "multi_head_attention/attention_output/kernel",
                                         "multi_head_attention/attention_output/bias"};
    static const int ranks[8] = {3, 2, 3, 2, 3, 2, 3, 1};
    static const int64_t shapes[8][3] = {{5, 2, 2}, {2, 2}, {5, 2, 2}, {2, 2},
                                         {5, 2, 2}, {2, 2}, {2, 2, 5}, {5}};
    ag_node *w[8];
    assert_int_equal(ag_layer_weights(r.mha, -1, w, 8), 8);
    for (int i = 0; i < 8; i++) {
        assert_string_equal(ag_node_name(w[i]), names[i]);
        const ag_shape *s = ag_node_shape(w[i]);
        assert_int_equal(s->rank, ranks[i]);
        for (int d = 0; d < s->rank; d++)
            assert_int_equal(s->dim[d], shapes[i][d]);
    }
    /* glorot-uniform with Keras's fans: query/kernel (5,2,2): fan_in 10, fan_out 10 */
    double lim = sqrt(6.0 / 20), mx = 0;
    for (int64_t i = 0; i < ag_value(w[0])->size; i++)
        mx = fmax(mx, fabs(ag_tensor_get(ag_value(w[0]), i)));
    assert_true(mx <= lim && mx > lim / 4);
    for (int64_t i = 0; i < ag_value(w[1])->size; i++)
        assert_true(ag_tensor_get(ag_value(w[1]), i) == 0);
    ag_model_free(r.m);
    /* value_dim, output_shape, no bias: (7·3·4) + (6·3·4) + (6·3·2) + (3·2·9) = 282 */
    c = ag_mha_defaults(3, 4);
    c.value_dim = 2;
    c.output_shape = 9;
    c.use_bias = 0;
    r = build(AG_FLOAT32, &c, 7, 6, 6, 0);
    assert_int_equal(ag_layer_count_params(r.mha), 7 * 12 + 6 * 12 + 6 * 6 + 6 * 9);
    assert_int_equal(ag_node_shape(r.out)->dim[2], 9);
    FILE *f = tmpfile();
    ag_model_summary(r.m, f);
    rewind(f);
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = 0;
    fclose(f);
    ag_assert_msg_has(buf, "multi_head_attention (MultiHeadAttention)");
    ag_assert_msg_has(buf, "246");
    ag_model_free(r.m);
}

/* ---- values ---- */

/* One case through the model and the reference; returns the worst |diff|. */
static void check_case(const ag_mha_config *cfg, unsigned flags, int64_t B, int64_t Tq, int64_t Tv,
                       int64_t D, const uint8_t *qm, const uint8_t *vm, const uint8_t *km,
                       const uint8_t *am)
{
    mha_model r = build(AG_FLOAT64, cfg, D, D + 1, D + 2, flags | SCORES);
    const int64_t Dk = flags & WITH_KEY ? D + 2 : D + 1;
    ag_tensor *q = rand_tensor(3, (int64_t[]){B, Tq, D}, 1);
    ag_tensor *v = rand_tensor(3, (int64_t[]){B, Tv, D + 1}, 2);
    ag_tensor *k = rand_tensor(3, (int64_t[]){B, Tv, D + 2}, 3);
    const ag_tensor *x[8] = {q, v};
    int n = 2;
    if (flags & WITH_KEY) x[n++] = k;
    ag_tensor *qmt = qm ? bool_tensor(2, (int64_t[]){B, Tq}, qm) : NULL;
    ag_tensor *vmt = vm ? bool_tensor(2, (int64_t[]){B, Tv}, vm) : NULL;
    ag_tensor *kmt = km ? bool_tensor(2, (int64_t[]){B, Tv}, km) : NULL;
    ag_tensor *amt = am ? bool_tensor(3, (int64_t[]){B, Tq, Tv}, am) : NULL;
    if (qmt) x[n++] = qmt;
    if (vmt) x[n++] = vmt;
    if (kmt) x[n++] = kmt;
    if (amt) x[n++] = amt;
    if (ag_model_run(r.m, x, NULL, 0)) fail_msg("run: %s", ag_model_error(r.m));
    const double *w[8];
    weights_of(r.mha, w);
    const int64_t H = cfg->num_heads, K = cfg->key_dim, V = cfg->value_dim ? cfg->value_dim : K;
    ref_case c = {.B = B,
                  .Tq = Tq,
                  .Tv = Tv,
                  .Dq = D,
                  .Dv = D + 1,
                  .Dk = Dk,
                  .H = H,
                  .K = K,
                  .V = V,
                  .O = cfg->output_shape ? cfg->output_shape : D,
                  .q = AG_F64(q),
                  .v = AG_F64(v),
                  .k = flags & WITH_KEY ? AG_F64(k) : AG_F64(v),
                  .wq = w[0],
                  .bq = w[1],
                  .wk = w[2],
                  .bk = w[3],
                  .wv = w[4],
                  .bv = w[5],
                  .wo = w[6],
                  .bo = w[7],
                  .qm = qm,
                  .vm = vm,
                  .km = km,
                  .am = am,
                  .causal = (flags & CAUSAL) != 0};
    double *want = calloc((size_t)(B * Tq * c.O), sizeof *want);
    double *want_s = calloc((size_t)(B * H * Tq * Tv), sizeof *want_s);
    reference(&c, want, want_s);
    assert_close(ag_value(r.out), want, B * Tq * c.O, 1e-12, "output");
    assert_close(ag_value(r.scores), want_s, B * H * Tq * Tv, 1e-12, "scores");
    const ag_shape *ss = ag_node_shape(r.scores);
    assert_int_equal(ss->rank, 4);
    assert_int_equal(ss->dim[1], H);
    /* the output carries the query's mask */
    assert_true(ag_model_mask(r.m, r.out) ==
                (qm ? ag_model_input_node(r.m, flags & WITH_KEY ? 3 : 2) : NULL));
    free(want), free(want_s);
    ag_tensor_free(q), ag_tensor_free(v), ag_tensor_free(k);
    ag_tensor_free(qmt), ag_tensor_free(vmt), ag_tensor_free(kmt), ag_tensor_free(amt);
    ag_model_free(r.m);
}

static void test_values_against_keras_formulas(void **state)
{
    (void)state;
    ag_mha_config c = ag_mha_defaults(2, 3);
    c.bias_initializer = "ones"; /* so the biases matter */
    check_case(&c, 0, 2, 3, 4, 4, NULL, NULL, NULL, NULL);
    check_case(&c, WITH_KEY, 2, 3, 4, 4, NULL, NULL, NULL, NULL);
    c.value_dim = 2;
    c.output_shape = 3;
    check_case(&c, WITH_KEY | CAUSAL, 2, 4, 4, 3, NULL, NULL, NULL, NULL);
    /* masks: query row 2 of batch 0 masked; value masks; a key mask */
    const uint8_t qm[6] = {1, 1, 0, 1, 1, 1}, vm[8] = {1, 0, 1, 1, 0, 1, 1, 1};
    const uint8_t km[8] = {1, 1, 1, 0, 1, 1, 0, 1};
    check_case(&c, WITH_KEY | WITH_QM | WITH_VM | WITH_KM, 2, 3, 4, 3, qm, vm, km, NULL);
    /* an attention mask with a fully masked row (batch 1, query 0) and causal */
    const uint8_t am[24] = {1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1};
    check_case(&c, WITH_AM | CAUSAL, 2, 3, 4, 3, NULL, NULL, NULL, am);
    check_case(&c, WITH_QM | WITH_VM | WITH_AM, 2, 3, 4, 3, qm, vm, NULL, am);
    /* value masks leaving a query no key: that row is all zero */
    const uint8_t none[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    check_case(&c, WITH_VM, 2, 3, 4, 3, NULL, none, NULL, NULL);
    c.use_bias = 0;
    check_case(&c, WITH_KEY | WITH_VM | CAUSAL, 2, 3, 4, 3, NULL, vm, NULL, NULL);
}

/* A literal case: H = 1, K = 1, identity projections, no bias.
 * q = [[1], [2]], v = k = [[1], [-1]], scale 1: scores e^{±q}/(e^q + e^-q). */
static void test_hand_computed(void **state)
{
    (void)state;
    ag_mha_config c = ag_mha_defaults(1, 1);
    c.use_bias = 0;
    c.kernel_initializer = "ones";
    mha_model r = build(AG_FLOAT64, &c, 1, 1, 1, SCORES);
    ag_tensor *q = ag_test_tensor(AG_FLOAT64, 3, (int64_t[]){1, 2, 1}, (double[]){1, 2});
    ag_tensor *v = ag_test_tensor(AG_FLOAT64, 3, (int64_t[]){1, 2, 1}, (double[]){1, -1});
    if (ag_model_run(r.m, (const ag_tensor *[]){q, v}, NULL, 0))
        fail_msg("%s", ag_model_error(r.m));
    double a1 = exp(1) / (exp(1) + exp(-1)), a2 = exp(2) / (exp(2) + exp(-2));
    assert_close(ag_value(r.scores), (double[]){a1, 1 - a1, a2, 1 - a2}, 4, 1e-14, "scores");
    assert_close(ag_value(r.out), (double[]){2 * a1 - 1, 2 * a2 - 1}, 2, 1e-14, "output");
    ag_tensor_free(q), ag_tensor_free(v);
    ag_model_free(r.m);
}

/* One head is Attention with scale 1/√K on the projected inputs (then the
 * output projection): the same fused op, so the same bits. */
static void test_one_head_is_attention(void **state)
{
    (void)state;
    ag_mha_config c = ag_mha_defaults(1, 3);
    mha_model r = build(AG_FLOAT32, &c, 4, 4, 4, WITH_VM);
    ag_graph *g = ag_model_graph(r.m);
    ag_node *w[8];
    ag_layer_weights(r.mha, -1, w, 8);
    ag_node *q = ag_model_input_node(r.m, 0), *v = ag_model_input_node(r.m, 1);
    ag_node *vm = ag_model_input_node(r.m, 2);
    ag_node *proj[3];
    ag_node *xs[3] = {q, v, v};
    int slot[3] = {0, 4, 2};
    for (int i = 0; i < 3; i++)
        proj[i] =
            ag_add(g, ag_matmul(g, xs[i], ag_reshape(g, w[slot[i]], 2, (int64_t[]){4, 3}), 0, 0),
                   ag_reshape(g, w[slot[i] + 1], 1, (int64_t[]){3}));
    ag_layer *att = ag_layer_attention(r.m, 1, "dot", 0.0, 0);
    ag_node *a =
        ag_call_attention(att, (ag_node *[]){proj[0], proj[1], proj[2]}, 3,
                          &(ag_attention_call){.mask = (ag_node *[]){NULL, vm}, .n_mask = 2});
    assert_non_null(a);
    ag_node *scale = NULL;
    ag_layer_weights(att, -1, &scale, 1);
    ag_tensor_set(ag_value(scale), 0, 1.0 / sqrt(3.0));
    ag_node *ref =
        ag_add(g, ag_matmul(g, a, ag_reshape(g, w[6], 2, (int64_t[]){3, 4}), 0, 0), w[7]);
    ag_tensor *qt = rand_tensor(3, (int64_t[]){2, 3, 4}, 5),
              *vt = rand_tensor(3, (int64_t[]){2, 5, 4}, 6);
    ag_tensor *qf = ag_tensor_cast(qt, AG_FLOAT32, NULL),
              *vf = ag_tensor_cast(vt, AG_FLOAT32, NULL);
    ag_tensor *vmt =
        bool_tensor(2, (int64_t[]){2, 5}, (const uint8_t[]){1, 1, 0, 1, 0, 0, 1, 1, 1, 1});
    if (ag_model_run(r.m, (const ag_tensor *[]){qf, vf, vmt}, &ref, 1))
        fail_msg("%s", ag_model_error(r.m));
    const ag_tensor *o = ag_value(r.out), *e = ag_value(ref);
    for (int64_t i = 0; i < o->size; i++)
        AG_ASSERT_NEAR(ag_tensor_get(o, i), ag_tensor_get(e, i), 1e-6);
    ag_tensor_free(qt), ag_tensor_free(vt), ag_tensor_free(qf), ag_tensor_free(vf);
    ag_tensor_free(vmt);
    ag_model_free(r.m);
}

/* Asking for the scores does not change the output (beyond rounding), in
 * training mode with dropout too (the same Philox mask either way). */
static void test_scores_do_not_change_output(void **state)
{
    (void)state;
    ag_mha_config c = ag_mha_defaults(2, 2);
    c.dropout = 0.4;
    c.seed = 11;
    ag_tensor *q = rand_tensor(3, (int64_t[]){2, 3, 4}, 7),
              *v = rand_tensor(3, (int64_t[]){2, 3, 5}, 8);
    const uint8_t vm[6] = {1, 1, 0, 1, 0, 1};
    ag_tensor *vmt = bool_tensor(2, (int64_t[]){2, 3}, vm);
    ag_tensor *outs[2];
    for (int with = 0; with < 2; with++) {
        mha_model r = build(AG_FLOAT64, &c, 4, 5, 5, WITH_VM | CAUSAL | (with ? SCORES : 0));
        ag_graph_set_training(ag_model_graph(r.m), 1);
        if (ag_model_run(r.m, (const ag_tensor *[]){q, v, vmt}, NULL, 0))
            fail_msg("%s", ag_model_error(r.m));
        outs[with] = ag_tensor_copy(ag_value(r.out), NULL);
        if (with) {
            /* the scores are taken before dropout: rows sum to 1 */
            const ag_tensor *s = ag_value(r.scores);
            for (int64_t row = 0; row < s->size / 3; row++) {
                double sum = 0;
                for (int j = 0; j < 3; j++)
                    sum += ag_tensor_get(s, row * 3 + j);
                AG_ASSERT_NEAR(sum, 1.0, 1e-12);
            }
        }
        ag_model_free(r.m);
    }
    /* without the scores the call runs fused (ops/dot_attention.c), which
     * sums in another order: equal to rounding */
    for (int64_t i = 0; i < outs[0]->size; i++)
        AG_ASSERT_NEAR(ag_tensor_get(outs[0], i), ag_tensor_get(outs[1], i), 1e-12);
    ag_tensor_free(outs[0]), ag_tensor_free(outs[1]);
    ag_tensor_free(q), ag_tensor_free(v), ag_tensor_free(vmt);
}

/* ---- gradients ---- */

static void gradcheck_case(unsigned flags, double dropout)
{
    ag_mha_config c = ag_mha_defaults(2, 2);
    c.value_dim = 3;
    c.dropout = dropout;
    c.bias_initializer = "ones";
    mha_model r = build(AG_FLOAT64, &c, 3, 2, 4, flags);
    ag_graph *g = ag_model_graph(r.m);
    ag_tensor *q = rand_tensor(3, (int64_t[]){2, 3, 3}, 9),
              *v = rand_tensor(3, (int64_t[]){2, 4, 2}, 10);
    ag_tensor *k = rand_tensor(3, (int64_t[]){2, 4, 4}, 11);
    const uint8_t qm[6] = {1, 0, 1, 1, 1, 1}, vm[8] = {1, 1, 0, 1, 0, 0, 0, 0};
    const uint8_t am[24] = {1, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0};
    ag_tensor *qmt = bool_tensor(2, (int64_t[]){2, 3}, qm),
              *vmt = bool_tensor(2, (int64_t[]){2, 4}, vm);
    ag_tensor *amt = bool_tensor(3, (int64_t[]){2, 3, 4}, am);
    const ag_tensor *x[8] = {q, v};
    int n = 2;
    if (flags & WITH_KEY) x[n++] = k;
    if (flags & WITH_QM) x[n++] = qmt;
    if (flags & WITH_VM) x[n++] = vmt;
    if (flags & WITH_AM) x[n++] = amt;
    for (int i = 0; i < (flags & WITH_KEY ? 3 : 2); i++)
        ag_set_requires_grad(ag_model_input_node(r.m, i), 1);
    if (dropout > 0) ag_graph_set_training(g, 1);
    if (ag_model_run(r.m, x, NULL, 0)) fail_msg("%s", ag_model_error(r.m));
    ag_gradcheck_report rep;
    AG_ASSERT_OK(g, ag_gradcheck(g, r.scores ? r.scores : r.out, 3, &rep));
    if (rep.max_rel > 1e-6) {
        ag_gradcheck_print(stderr, &rep, "MultiHeadAttention");
        fail_msg("flags %u dropout %g: worst relative error %g", flags, dropout, rep.max_rel);
    }
    /* every weight and float input; the scores depend on query and key only */
    const int want = flags & SCORES ? 6 : 8 + (flags & WITH_KEY ? 3 : 2);
    if (rep.n != want) fail_msg("flags %u: %d nodes checked", flags, rep.n);
    ag_tensor_free(q), ag_tensor_free(v), ag_tensor_free(k);
    ag_tensor_free(qmt), ag_tensor_free(vmt), ag_tensor_free(amt);
    ag_model_free(r.m);
}

static void test_gradients_float64(void **state)
{
    (void)state;
    gradcheck_case(0, 0);
    gradcheck_case(WITH_KEY, 0);
    gradcheck_case(WITH_KEY | WITH_QM | WITH_VM | CAUSAL, 0);
    gradcheck_case(WITH_QM | WITH_AM, 0);
    gradcheck_case(WITH_KEY | WITH_VM | WITH_AM, 0.3);
    gradcheck_case(WITH_KEY | WITH_VM | CAUSAL, 0.3);
    gradcheck_case(WITH_KEY | WITH_QM | WITH_VM | SCORES, 0); /* through the scores */
}

/* ---- threads ---- */

static void test_threads_bitwise_identical(void **state)
{
    (void)state;
    ag_mha_config c = ag_mha_defaults(4, 16);
    c.dropout = 0.2;
    ag_tensor *q = rand_tensor(3, (int64_t[]){8, 33, 24}, 12),
              *v = rand_tensor(3, (int64_t[]){8, 41, 24}, 13);
    ag_tensor *qf = ag_tensor_cast(q, AG_FLOAT32, NULL), *vf = ag_tensor_cast(v, AG_FLOAT32, NULL);
    ag_tensor *res[2][3];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        mha_model r = build(AG_FLOAT32, &c, 24, 24, 24, CAUSAL);
        ag_graph *g = ag_model_graph(r.m);
        ag_set_requires_grad(ag_model_input_node(r.m, 0), 1);
        ag_set_requires_grad(ag_model_input_node(r.m, 1), 1);
        ag_graph_set_training(g, 1);
        if (ag_model_run(r.m, (const ag_tensor *[]){qf, vf}, NULL, 0))
            fail_msg("%s", ag_model_error(r.m));
        AG_ASSERT_OK(g, ag_backward(g, r.out, NULL));
        ag_node *w[8];
        ag_layer_weights(r.mha, -1, w, 8);
        res[t][0] = ag_tensor_copy(ag_value(r.out), NULL);
        res[t][1] = ag_tensor_copy(ag_grad(ag_model_input_node(r.m, 0)), NULL);
        res[t][2] = ag_tensor_copy(ag_grad(w[0]), NULL);
        ag_model_free(r.m);
    }
    omp_set_num_threads(2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[0][i]->size, res[1][i]->size);
        assert_memory_equal(res[0][i]->data, res[1][i]->data, (size_t)res[0][i]->size * 4);
        ag_tensor_free(res[0][i]), ag_tensor_free(res[1][i]);
    }
    ag_tensor_free(q), ag_tensor_free(v), ag_tensor_free(qf), ag_tensor_free(vf);
}

/* ---- configs, save and load ---- */

/* ids -> Embedding(mask_zero) -> MultiHeadAttention (self-attention) ->
 * GlobalAveragePooling1D -> Dense(1, sigmoid) */
static ag_model *text_model(uint64_t seed)
{
    ag_model *m = ag_model_new(AG_FLOAT32, seed);
    ag_node *x = ag_model_input(m, "ids", AG_INT32, 1, (int64_t[]){-1});
    ag_node *e = ag_call(ag_layer_embedding(m, 20, 8, 1), x);
    ag_mha_config c = ag_mha_defaults(2, 4);
    c.value_dim = 3;
    c.output_shape = 6;
    c.dropout = 0.1;
    c.seed = 5;
    ag_node *a = ag_call_attention(ag_layer_multi_head_attention(m, &c), (ag_node *[]){e, e}, 2,
                                   &(ag_attention_call){.use_causal_mask = 1});
    ag_node *p = ag_call(ag_layer_global_average_pooling1d(m), a);
    ag_node *o = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), p);
    if (ag_model_build(m, &x, 1, &o, 1)) fail_msg("%s", ag_model_error(m));
    return m;
}

static void test_config_round_trip(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT32, 1);
    ag_mha_config c = ag_mha_defaults(3, 5);
    c.value_dim = 2;
    c.output_shape = 7;
    c.use_bias = 0;
    c.dropout = 0.25;
    c.seed = 42;
    c.kernel_initializer = "ones";
    ag_layer *l = ag_layer_multi_head_attention(m, &c);
    char *cfg = ag_layer_get_config(l);
    ag_assert_msg_has(cfg, "\"num_heads\":3,\"key_dim\":5,\"value_dim\":2,\"dropout\":0.25,"
                           "\"use_bias\":false,\"output_shape\":[7],\"attention_axes\":null,"
                           "\"kernel_initializer\":\"ones\",\"bias_initializer\":\"zeros\","
                           "\"seed\":42");
    ag_model *other = ag_model_new(AG_FLOAT32, 1);
    ag_layer *l2 = ag_layer_from_config(other, "MultiHeadAttention", cfg);
    if (!l2) fail_msg("%s", ag_model_error(other));
    char *cfg2 = ag_layer_get_config(l2);
    assert_string_equal(cfg, cfg2);
    free(cfg), free(cfg2);
    ag_model_free(other);
    /* Keras's own serialised forms are read too */
    ag_layer *l3 = ag_layer_from_config(
        m, "MultiHeadAttention",
        "{\"name\":\"mha_k\",\"num_heads\":2,\"key_dim\":4,\"value_dim\":null,\"output_shape\":6,"
        "\"attention_axes\":[1],\"kernel_initializer\":{\"module\":\"keras.initializers\","
        "\"class_name\":\"GlorotUniform\",\"config\":{\"seed\":null}},\"bias_initializer\":"
        "{\"class_name\":\"Zeros\",\"config\":{}}}");
    if (!l3) fail_msg("%s", ag_model_error(m));
    assert_null(ag_layer_from_config(m, "MultiHeadAttention",
                                     "{\"num_heads\":2,\"key_dim\":4,\"attention_axes\":[2]}"));
    ag_assert_msg_has(ag_model_error(m), "attention over axis 1 of rank-3 inputs only");
    ag_model_free(m);
    /* a whole model */
    m = text_model(3);
    char *mc = ag_model_get_config(m);
    if (!mc) fail_msg("%s", ag_model_error(m));
    ag_assert_msg_has(mc, "\"use_causal_mask\":true");
    ag_error err;
    ag_model *m2 = ag_model_from_config(mc, &err);
    if (!m2) fail_msg("%s", err.msg);
    char *mc2 = ag_model_get_config(m2);
    assert_string_equal(mc, mc2);
    assert_int_equal(ag_model_count_params(m, -1), ag_model_count_params(m2, -1));
    free(mc), free(mc2);
    ag_model_free(m), ag_model_free(m2);
}

static void test_save_load_identical_predictions(void **state)
{
    (void)state;
    ag_model *m = text_model(4);
    char path[] = "/tmp/ag_mha_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const int32_t ids[12] = {3, 4, 5, 0, 0, 0, 7, 8, 9, 10, 11, 2};
    ag_tensor *x = ag_tensor_from(AG_INT32, 2, (int64_t[]){2, 6}, ids, NULL);
    ag_tensor *p1 = NULL, *p2 = NULL;
    AG_ASSERT_OK(ag_model_graph(m), ag_model_predict(m, (const ag_tensor *[]){x}, 2, &p1));
    AG_ASSERT_OK(ag_model_graph(m), ag_model_save(m, path, NULL, NULL, 0));
    ag_error err;
    ag_model *m2 = ag_model_load(path, &err);
    if (!m2) fail_msg("%s", err.msg);
    AG_ASSERT_OK(ag_model_graph(m2), ag_model_predict(m2, (const ag_tensor *[]){x}, 2, &p2));
    assert_memory_equal(p1->data, p2->data, (size_t)p1->size * sizeof(float));
    /* padding does not change a row's prediction (the masks ride along) */
    ag_tensor *x1 = ag_tensor_from(AG_INT32, 2, (int64_t[]){1, 3}, ids, NULL), *p3 = NULL;
    AG_ASSERT_OK(ag_model_graph(m2), ag_model_predict(m2, (const ag_tensor *[]){x1}, 1, &p3));
    AG_ASSERT_NEAR(ag_tensor_get(p3, 0), ag_tensor_get(p1, 0), 1e-6);
    ag_tensor_free(x), ag_tensor_free(x1), ag_tensor_free(p1), ag_tensor_free(p2);
    ag_tensor_free(p3);
    ag_model_free(m), ag_model_free(m2);
    unlink(path);
}

/* PositionEmbedding: rows 0..T-1 of its table for every example, the
 * input's mask carried along, and a batch longer than the table refused. */
static void test_position_embedding(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT64, 2);
    ag_node *ids = ag_model_input(m, "ids", AG_INT32, 1, (int64_t[]){-1});
    ag_node *e = ag_call(ag_layer_embedding(m, 10, 3, 1), ids);
    ag_layer *pl = ag_layer_position_embedding(m, 4);
    ag_node *p = ag_call(pl, e);
    assert_non_null(p);
    assert_true(ag_model_mask(m, p) == ag_model_mask(m, e));
    assert_int_equal(ag_layer_count_params(pl), 12);
    AG_ASSERT_OK(ag_model_graph(m), ag_model_build(m, &ids, 1, &p, 1));
    ag_tensor *x =
        ag_tensor_from(AG_INT32, 2, (int64_t[]){2, 3}, (int32_t[]){1, 2, 0, 3, 4, 5}, NULL);
    if (ag_model_run(m, (const ag_tensor *[]){x}, &p, 1)) fail_msg("%s", ag_model_error(m));
    ag_node *w;
    ag_layer_weights(pl, -1, &w, 1);
    const ag_tensor *t = ag_value(w), *z = ag_value(p);
    for (int64_t b = 0; b < 2; b++)
        for (int64_t i = 0; i < 9; i++)
            AG_ASSERT_NEAR(ag_tensor_get(z, b * 9 + i), ag_tensor_get(t, i), 0);
    ag_tensor *longer = ag_tensor_new(AG_INT32, 2, (int64_t[]){1, 5}, NULL);
    assert_int_not_equal(ag_model_run(m, (const ag_tensor *[]){longer}, &p, 1), AG_OK);
    ag_assert_msg_has(ag_model_error(m), "the sequence has 5 steps, more than the table's "
                                         "sequence_length 4");
    char *cfg = ag_layer_get_config(pl);
    ag_assert_msg_has(cfg, "\"sequence_length\":4");
    free(cfg);
    assert_null(ag_layer_position_embedding(m, 0));
    ag_assert_msg_has(ag_model_error(m), "sequence_length must be a positive integer, received 0");
    ag_tensor_free(x), ag_tensor_free(longer);
    ag_model_free(m);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT32, 1);
    ag_mha_config c = ag_mha_defaults(0, 2);
    assert_null(ag_layer_multi_head_attention(m, &c));
    ag_assert_msg_has(ag_model_error(m), "num_heads must be a positive integer, received 0");
    c = ag_mha_defaults(2, -1);
    assert_null(ag_layer_multi_head_attention(m, &c));
    ag_assert_msg_has(ag_model_error(m), "key_dim must be a positive integer, received -1");
    c = ag_mha_defaults(2, 2);
    c.kernel_initializer = "he_normal";
    assert_null(ag_layer_multi_head_attention(m, &c));
    ag_assert_msg_has(ag_model_error(m), "kernel_initializer must be one of");
    c = ag_mha_defaults(2, 2);
    c.dropout = 1;
    assert_null(ag_layer_multi_head_attention(m, &c));
    ag_assert_msg_has(ag_model_error(m), "dropout must be a float in [0, 1), received 1");
    c = ag_mha_defaults(2, 2);
    ag_node *q = ag_model_input(m, "q", AG_FLOAT32, 2, (int64_t[]){3, 4});
    ag_node *v = ag_model_input(m, "v", AG_FLOAT32, 2, (int64_t[]){5, 4});
    ag_node *k = ag_model_input(m, "k", AG_FLOAT32, 2, (int64_t[]){6, 4});
    ag_node *flat = ag_model_input(m, "flat", AG_FLOAT32, 1, (int64_t[]){4});
    ag_node *bm = ag_model_input(m, "bm", AG_BOOL, 1, (int64_t[]){4});
    ag_layer *l = ag_layer_multi_head_attention(m, &c);
    assert_null(ag_call_n(l, (ag_node *[]){q, v, k}, 3));
    ag_assert_msg_has(ag_model_error(m),
                      "All dimensions of `value` and `key`, except the last one, must be equal. "
                      "Received: value_shape=(None, 5, 4) and key_shape=(None, 6, 4)");
    l = ag_layer_multi_head_attention(m, &c);
    assert_null(ag_call_n(l, (ag_node *[]){flat, v}, 2));
    ag_assert_msg_has(ag_model_error(m), "query must be a float tensor (batch_size, T, dim)");
    assert_null(ag_call_n(l, (ag_node *[]){q}, 1));
    ag_assert_msg_has(ag_model_error(m), "expects a list of 2 to 3 inputs, received 1");
    l = ag_layer_multi_head_attention(m, &c);
    assert_null(
        ag_call_attention(l, (ag_node *[]){q, v}, 2,
                          &(ag_attention_call){.mask = (ag_node *[]){NULL, bm}, .n_mask = 2}));
    ag_assert_msg_has(
        ag_model_error(m),
        "value_mask must have shape (batch_size, Tv) = (None, 5), received (None, 4)");
    assert_null(
        ag_call_attention(l, (ag_node *[]){q, v}, 2, &(ag_attention_call){.attention_mask = bm}));
    ag_assert_msg_has(ag_model_error(m), "attention_mask must have shape (batch_size, Tq, Tv) = "
                                         "(None, 3, 5), received (None, 4)");
    /* the layer was built on width 4: a later call on width 5 is refused */
    assert_non_null(ag_call_n(l, (ag_node *[]){q, v}, 2));
    ag_node *w5 = ag_model_input(m, "w5", AG_FLOAT32, 2, (int64_t[]){3, 5});
    assert_null(ag_call_n(l, (ag_node *[]){w5, v}, 2));
    ag_assert_msg_has(ag_model_error(m), "query must be a float tensor (batch_size, T, 4)");
    /* a run-time batch whose key length differs from the value's */
    ag_model_free(m);
    m = ag_model_new(AG_FLOAT32, 1);
    q = ag_model_input(m, "q", AG_FLOAT32, 2, (int64_t[]){-1, 2});
    v = ag_model_input(m, "v", AG_FLOAT32, 2, (int64_t[]){-1, 2});
    k = ag_model_input(m, "k", AG_FLOAT32, 2, (int64_t[]){-1, 2});
    ag_node *out = ag_call_n(ag_layer_multi_head_attention(m, &c), (ag_node *[]){q, v, k}, 3);
    assert_int_equal(ag_model_build(m, (ag_node *[]){q, v, k}, 3, &out, 1), AG_OK);
    ag_tensor *a = ag_tensor_new(AG_FLOAT32, 3, (int64_t[]){1, 2, 2}, NULL);
    ag_tensor *b = ag_tensor_new(AG_FLOAT32, 3, (int64_t[]){1, 3, 2}, NULL);
    assert_int_not_equal(ag_model_run(m, (const ag_tensor *[]){a, a, b}, NULL, 0), AG_OK);
    assert_true(strlen(ag_model_error(m)) > 0);
    ag_tensor_free(a), ag_tensor_free(b);
    ag_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_and_count_params),
        cmocka_unit_test(test_values_against_keras_formulas),
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_one_head_is_attention),
        cmocka_unit_test(test_scores_do_not_change_output),
        cmocka_unit_test(test_gradients_float64),
        cmocka_unit_test(test_threads_bitwise_identical),
        cmocka_unit_test(test_config_round_trip),
        cmocka_unit_test(test_save_load_identical_predictions),
        cmocka_unit_test(test_position_embedding),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
