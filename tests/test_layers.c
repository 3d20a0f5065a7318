/* test_layers.c — the Keras-style layers: parameter counts and output
 * shapes against Keras's numbers, names, initialisers, shared weights, mask
 * flow and padding invariance, configs, errors, and a float64 gradient check
 * of the whole CNN+Attention model. */
#include "testutil.h"
#include "model_util.h"

#include <stdio.h>
#include <stdlib.h>

#define ASSERT_MODEL_OK(m)                                                                         \
    do {                                                                                           \
        if (ag_model_status(m) != AG_OK) fail_msg("model error: %s", ag_model_error(m));           \
    } while (0)

static void assert_shape(ag_node *n, const char *want)
{
    char buf[96];
    const ag_shape *s = ag_node_shape(n);
    assert_non_null(s);
    ag_shape_str(s->rank, s->dim, buf, sizeof buf);
    if (strcmp(buf, want)) fail_msg("shape %s, expected %s", buf, want);
}

/* Keras's counts: Embedding(10000, 64) = 640000, Conv1D(100, 4) on 64
 * channels = 25700, Dense(64) on 200 = 12864, Dense(1) on 64 = 65, and the
 * whole network 678629. */
static void test_cnn_attention_counts_and_shapes(void **state)
{
    (void)state;
    cnn_size s = {10000, 64, 100, 64, 0, 0, 0};
    ag_model *m = cnn_attention_model(&s, AG_FLOAT32, 1);
    ASSERT_MODEL_OK(m);
    static const struct {
        const char *name, *cls, *shape;
        int64_t params;
    } want[] = {
        {"query", "InputLayer", "(None, None)", 0},
        {"value", "InputLayer", "(None, None)", 0},
        {"embedding", "Embedding", "(None, None, 64)", 640000},
        {"conv1d", "Conv1D", "(None, None, 100)", 25700},
        {"attention", "Attention", "(None, None, 100)", 0},
        {"global_average_pooling1d", "GlobalAveragePooling1D", "(None, 100)", 0},
        {"global_average_pooling1d_1", "GlobalAveragePooling1D", "(None, 100)", 0},
        {"concatenate", "Concatenate", "(None, 200)", 0},
        {"dense", "Dense", "(None, 64)", 12864},
        {"dense_1", "Dense", "(None, 1)", 65},
    };
    assert_int_equal(ag_model_layer_count(m), 10);
    for (int i = 0; i < 10; i++) {
        ag_layer *l = ag_model_layer(m, i);
        assert_string_equal(ag_layer_name(l), want[i].name);
        assert_string_equal(ag_layer_class_name(l), want[i].cls);
        assert_int_equal(ag_layer_count_params(l), want[i].params);
        assert_shape(ag_layer_output(l, 0), want[i].shape);
    }
    assert_int_equal(ag_model_count_params(m, -1), 678629);
    assert_int_equal(ag_model_count_params(m, 1), 678629);
    assert_int_equal(ag_model_count_params(m, 0), 0);
    /* the weights, by name, each once although embedding and conv1d are shared */
    ag_node *w[16];
    int n = ag_model_weights(m, -1, w, 16);
    static const char *const names[] = {"embedding/embeddings", "conv1d/kernel", "conv1d/bias",
                                        "dense/kernel",         "dense/bias",    "dense_1/kernel",
                                        "dense_1/bias"};
    assert_int_equal(n, 7);
    for (int i = 0; i < n; i++)
        assert_string_equal(ag_node_name(w[i]), names[i]);
    assert_shape(w[1], "(4, 64, 100)");
    /* the summary writes Keras's totals */
    char buf[16384];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ag_model_summary(m, f);
    fclose(f);
    ag_assert_msg_has(buf, "Total params: 678,629 (2.59 MB)");
    ag_assert_msg_has(buf, "Trainable params: 678,629 (2.59 MB)");
    ag_assert_msg_has(buf, "Non-trainable params: 0 (0.00 B)");
    ag_assert_msg_has(buf, "embedding (Embedding)");
    ag_assert_msg_has(buf, "(None, None, 64)");
    ag_assert_msg_has(buf, "640,000");
    ag_assert_msg_has(buf, "query[0][0],");
    ag_assert_msg_has(buf, "embedding[1][0]");
    ag_model_free(m);
}

/* Single layers on inputs of known shape. */
static void test_layer_counts(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT32, 3);
    ag_node *x = ag_model_input(m, NULL, AG_FLOAT32, 2, (int64_t[]){10, 8});
    ag_node *ids = ag_model_input(m, NULL, AG_INT32, 1, (int64_t[]){10});
    assert_string_equal(ag_node_name(x), "input_layer");
    assert_string_equal(ag_node_name(ids), "input_layer_1");
    /* LayerNormalization(D) = 2D */
    ag_layer *ln = ag_layer_layer_normalization(m, 1e-3);
    assert_shape(ag_call(ln, x), "(None, 10, 8)");
    assert_int_equal(ag_layer_count_params(ln), 16);
    /* Conv1D valid: T' = T-K+1; no bias */
    ag_layer *cv = ag_layer_conv1d(m, 5, 4, 1, AG_PAD_VALID, AG_ACT_RELU, 0);
    assert_shape(ag_call(cv, x), "(None, 7, 5)");
    assert_int_equal(ag_layer_count_params(cv), 4 * 8 * 5);
    /* Conv1D strided same: ceil(10/3) = 4 */
    ag_layer *cs = ag_layer_conv1d(m, 5, 3, 3, AG_PAD_SAME, AG_ACT_LINEAR, 1);
    assert_shape(ag_call(cs, x), "(None, 4, 5)");
    assert_int_equal(ag_layer_count_params(cs), 3 * 8 * 5 + 5);
    /* Dense on a sequence */
    ag_layer *d = ag_layer_dense(m, 3, AG_ACT_TANH, 1);
    assert_shape(ag_call(d, x), "(None, 10, 3)");
    assert_int_equal(ag_layer_count_params(d), 27);
    /* pooling, dropout, activation, concatenate */
    assert_shape(ag_call(ag_layer_global_max_pooling1d(m), x), "(None, 8)");
    assert_shape(ag_call(ag_layer_global_average_pooling1d(m), x), "(None, 8)");
    assert_shape(ag_call(ag_layer_dropout(m, 0.5, 0), x), "(None, 10, 8)");
    assert_shape(ag_call(ag_layer_activation(m, AG_ACT_SOFTMAX), x), "(None, 10, 8)");
    assert_shape(ag_call_n(ag_layer_concatenate(m, 1), (ag_node *[]){x, x}, 2), "(None, 20, 8)");
    assert_shape(ag_call(ag_layer_embedding(m, 50, 6, 0), ids), "(None, 10, 6)");
    /* Attention: 0, 1 (use_scale), 1 (concat), 2 (both) weights; AdditiveAttention(D): D or 0 */
    static const struct {
        int additive, use_scale;
        const char *mode;
        int n_weights;
        int64_t params;
    } att[] = {{0, 0, "dot", 0, 0},    {0, 1, "dot", 1, 1}, {0, 0, "concat", 1, 1},
               {0, 1, "concat", 2, 2}, {1, 1, NULL, 1, 8},  {1, 0, NULL, 0, 0}};
    for (size_t i = 0; i < sizeof att / sizeof att[0]; i++) {
        ag_layer *l = att[i].additive ? ag_layer_additive_attention(m, att[i].use_scale, 0, 0)
                                      : ag_layer_attention(m, att[i].use_scale, att[i].mode, 0, 0);
        assert_shape(ag_call_n(l, (ag_node *[]){x, x}, 2), "(None, 10, 8)");
        assert_int_equal(ag_layer_weights(l, -1, NULL, 0), att[i].n_weights);
        assert_int_equal(ag_layer_count_params(l), att[i].params);
    }
    assert_string_equal(ag_layer_name(ag_model_get_layer(m, "attention_3")), "attention_3");
    assert_non_null(ag_model_get_layer(m, "additive_attention_1"));
    ASSERT_MODEL_OK(m);
    ag_model_free(m);
}

/* Keras's initialisers, drawn from the model's seed and the layer's index. */
static void test_initialisers(void **state)
{
    (void)state;
    cnn_size s = {500, 16, 12, 10, 1, 0, 1};
    ag_model *a = cnn_attention_model(&s, AG_FLOAT64, 42),
             *b = cnn_attention_model(&s, AG_FLOAT64, 42),
             *c = cnn_attention_model(&s, AG_FLOAT64, 43);
    ASSERT_MODEL_OK(a);
    ag_node *wa[16], *wb[16], *wc[16];
    int n = ag_model_weights(a, -1, wa, 16);
    assert_int_equal(n, 8);
    ag_model_weights(b, -1, wb, 16);
    ag_model_weights(c, -1, wc, 16);
    /* expected limits: embeddings 0.05; conv glorot sqrt(6/(4·16 + 4·12));
     * additive scale (on the conv outputs, D = 12) sqrt(6/(12+12)); dense glorot sqrt(6/(24+10)),
     * sqrt(6/11) */
    struct {
        const char *name;
        double limit;
    } want[8] = {{"embedding/embeddings", 0.05},
                 {"conv1d/kernel", sqrt(6.0 / (64 + 48))},
                 {"conv1d/bias", 0},
                 {"additive_attention/scale", sqrt(6.0 / 24)},
                 {"dense/kernel", sqrt(6.0 / 34)},
                 {"dense/bias", 0},
                 {"dense_1/kernel", sqrt(6.0 / 11)},
                 {"dense_1/bias", 0}};
    int differs = 0;
    for (int i = 0; i < n; i++) {
        assert_string_equal(ag_node_name(wa[i]), want[i].name);
        ag_tensor *t = ag_value(wa[i]);
        double mx = 0;
        for (int64_t j = 0; j < t->size; j++)
            mx = fmax(mx, fabs(ag_tensor_get(t, j)));
        assert_true(mx <= want[i].limit);
        if (want[i].limit > 0) assert_true(mx > 0.6 * want[i].limit); /* spread over the range */
        assert_memory_equal(t->data, ag_value(wb[i])->data, (size_t)t->size * 8);
        differs |= want[i].limit > 0 && memcmp(t->data, ag_value(wc[i])->data, (size_t)t->size * 8);
    }
    assert_true(differs);
    ag_model_free(a);
    ag_model_free(b);
    ag_model_free(c);
    /* LayerNormalization gamma 1, beta 0; Attention's scale and concat weight 1 */
    ag_model *m = ag_model_new(AG_FLOAT32, 1);
    ag_node *x = ag_model_input(m, NULL, AG_FLOAT32, 2, (int64_t[]){-1, 4});
    ag_layer *ln = ag_layer_layer_normalization(m, 1e-3),
             *at = ag_layer_attention(m, 1, "concat", 0, 0);
    ag_call(ln, x);
    ag_call_n(at, (ag_node *[]){x, x}, 2);
    ag_node *w[4];
    assert_int_equal(ag_layer_weights(ln, -1, w, 4), 2);
    for (int j = 0; j < 4; j++) {
        assert_true(ag_tensor_get(ag_value(w[0]), j) == 1.0);
        assert_true(ag_tensor_get(ag_value(w[1]), j) == 0.0);
    }
    assert_int_equal(ag_layer_weights(at, -1, w, 4), 2);
    assert_string_equal(ag_node_name(w[0]), "attention/scale");
    assert_string_equal(ag_node_name(w[1]), "attention/concat_score_weight");
    assert_true(ag_tensor_get(ag_value(w[0]), 0) == 1.0 && ag_tensor_get(ag_value(w[1]), 0) == 1.0);
    ag_model_free(m);
}

/* One layer called twice owns one weight set, and its gradient is the sum
 * of both calls' contributions: compare with two unshared copies. */
static void test_shared_weights_gradient(void **state)
{
    (void)state;
    ag_model *m[2];
    ag_node *out[2], *kern[3];
    for (int shared = 0; shared < 2; shared++) {
        m[shared] = ag_model_new(AG_FLOAT64, 5);
        ag_node *x1 = ag_model_input(m[shared], "x1", AG_FLOAT32, 2, (int64_t[]){-1, 3});
        ag_node *x2 = ag_model_input(m[shared], "x2", AG_FLOAT32, 2, (int64_t[]){-1, 3});
        ag_layer *c1 = ag_layer_conv1d(m[shared], 2, 2, 1, AG_PAD_SAME, AG_ACT_TANH, 1);
        ag_layer *c2 =
            shared ? c1 : ag_layer_conv1d(m[shared], 2, 2, 1, AG_PAD_SAME, AG_ACT_TANH, 1);
        ag_node *y1 = ag_call(ag_layer_global_average_pooling1d(m[shared]), ag_call(c1, x1));
        ag_node *y2 = ag_call(ag_layer_global_average_pooling1d(m[shared]), ag_call(c2, x2));
        out[shared] = ag_call_n(ag_layer_concatenate(m[shared], -1), (ag_node *[]){y1, y2}, 2);
        ASSERT_MODEL_OK(m[shared]);
        assert_int_equal(ag_model_build(m[shared], (ag_node *[]){x1, x2}, 2, &out[shared], 1),
                         AG_OK);
        assert_int_equal(ag_model_weights(m[shared], -1, NULL, 0), shared ? 2 : 4);
    }
    ag_model_weights(m[0], -1, kern, 3); /* c1 kernel, c1 bias, c2 kernel */
    ag_node *shared_w[2];
    ag_model_weights(m[1], -1, shared_w, 2);
    /* the unshared copy starts from the shared layer's values */
    assert_int_equal(ag_assign(ag_model_graph(m[0]), kern[0], ag_value(shared_w[0])), AG_OK);
    assert_int_equal(ag_assign(ag_model_graph(m[0]), kern[2], ag_value(shared_w[0])), AG_OK);
    ag_tensor *x1 = ag_tensor_new(AG_FLOAT64, 3, (int64_t[]){2, 5, 3}, NULL);
    ag_tensor *x2 = ag_tensor_new(AG_FLOAT64, 3, (int64_t[]){2, 4, 3}, NULL);
    ag_fill_uniform(x1, -1, 1, 9, 1);
    ag_fill_uniform(x2, -1, 1, 9, 2);
    ag_tensor *r = ag_tensor_new(AG_FLOAT64, 2, (int64_t[]){2, 4}, NULL);
    ag_fill_uniform(r, -1, 1, 9, 3);
    for (int k = 0; k < 2; k++) {
        ag_graph *g = ag_model_graph(m[k]);
        AG_ASSERT_OK(g, ag_model_run(m[k], (const ag_tensor *[]){x1, x2}, NULL, 0));
        AG_ASSERT_OK(g, ag_backward(g, out[k], r));
    }
    /* forward values agree, and the shared gradient is the sum of the two */
    for (int64_t i = 0; i < 8; i++)
        AG_ASSERT_NEAR(ag_tensor_get(ag_value(out[0]), i), ag_tensor_get(ag_value(out[1]), i),
                       1e-15);
    ag_tensor *gs = ag_grad(shared_w[0]), *g1 = ag_grad(kern[0]), *g2 = ag_grad(kern[2]);
    assert_non_null(gs);
    double norm = 0;
    for (int64_t i = 0; i < gs->size; i++) {
        AG_ASSERT_NEAR(ag_tensor_get(gs, i), ag_tensor_get(g1, i) + ag_tensor_get(g2, i), 1e-14);
        norm += fabs(ag_tensor_get(g1, i)) * fabs(ag_tensor_get(g2, i));
    }
    assert_true(norm > 0); /* both calls contribute */
    /* and against finite differences */
    ag_gradcheck_report rep;
    AG_ASSERT_OK(ag_model_graph(m[1]), ag_gradcheck(ag_model_graph(m[1]), out[1], 3, &rep));
    assert_true(rep.n == 2 && rep.max_rel < 1e-6);
    ag_tensor_free(x1);
    ag_tensor_free(x2);
    ag_tensor_free(r);
    ag_model_free(m[0]);
    ag_model_free(m[1]);
}

/* Embedding(mask_zero) makes ids != 0; Conv1D same passes it, valid drops
 * it; attention's output carries the query mask; pooling ends it. */
static void test_mask_flow(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT32, 1);
    ag_node *q = ag_model_input(m, "q", AG_INT32, 1, (int64_t[]){-1});
    ag_node *v = ag_model_input(m, "v", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, 20, 4, 1);
    ag_node *qe = ag_call(emb, q), *ve = ag_call(emb, v);
    assert_non_null(ag_model_mask(m, qe));
    assert_string_equal(ag_node_op_name(ag_model_mask(m, qe)), "not_equal");
    assert_ptr_equal(ag_node_input(ag_model_mask(m, qe), 0), q);
    ag_layer *same = ag_layer_conv1d(m, 3, 2, 1, AG_PAD_SAME, AG_ACT_LINEAR, 1);
    ag_node *qc = ag_call(same, qe), *vc = ag_call(same, ve);
    assert_ptr_equal(ag_model_mask(m, qc), ag_model_mask(m, qe));
    ag_node *causal = ag_call(ag_layer_conv1d(m, 3, 2, 1, AG_PAD_CAUSAL, AG_ACT_LINEAR, 1), qe);
    assert_ptr_equal(ag_model_mask(m, causal), ag_model_mask(m, qe));
    assert_null(
        ag_model_mask(m, ag_call(ag_layer_conv1d(m, 3, 2, 1, AG_PAD_VALID, AG_ACT_LINEAR, 1), qe)));
    assert_null(
        ag_model_mask(m, ag_call(ag_layer_conv1d(m, 3, 2, 2, AG_PAD_SAME, AG_ACT_LINEAR, 1), qe)));
    ag_node *scores = NULL;
    ag_node *a = ag_call_attention(ag_layer_attention(m, 0, "dot", 0, 0), (ag_node *[]){qc, vc}, 2,
                                   &(ag_attention_call){.attention_scores = &scores});
    assert_ptr_equal(ag_model_mask(m, a), ag_model_mask(m, qe));
    assert_non_null(scores);
    assert_ptr_equal(ag_model_mask(m, ag_call(ag_layer_dense(m, 2, AG_ACT_LINEAR, 1), a)),
                     ag_model_mask(m, qe));
    assert_null(ag_model_mask(m, ag_call(ag_layer_global_average_pooling1d(m), a)));
    /* no mask without mask_zero */
    assert_null(ag_model_mask(m, ag_call(ag_layer_embedding(m, 20, 4, 0), q)));
    ASSERT_MODEL_OK(m);
    /* the scores: masked value steps get weight 0 */
    ag_tensor *qi = ids_tensor(1, 3, (int32_t[]){3, 4, 0}),
              *vi = ids_tensor(1, 4, (int32_t[]){5, 0, 6, 0});
    ag_node *io[1] = {scores};
    assert_int_equal(ag_model_build(m, (ag_node *[]){q, v}, 2, &a, 1), AG_OK);
    AG_ASSERT_OK(ag_model_graph(m), ag_model_run(m, (const ag_tensor *[]){qi, vi}, io, 1));
    ag_tensor *s = ag_value(scores), *out = ag_value(a);
    for (int i = 0; i < 3; i++) {
        assert_true(ag_tensor_get(s, i * 4 + 1) == 0 && ag_tensor_get(s, i * 4 + 3) == 0);
        AG_ASSERT_NEAR(ag_tensor_get(s, i * 4) + ag_tensor_get(s, i * 4 + 2), 1.0, 1e-6);
    }
    for (int d = 0; d < 3; d++)
        assert_true(ag_tensor_get(out, 2 * 3 + d) == 0); /* masked query row */
    ag_tensor_free(qi);
    ag_tensor_free(vi);
    ag_model_free(m);
}

/* Masked pooling: average = Σ x·m / Σ m, max over the unmasked steps. */
static void test_masked_pooling_values(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT64, 1);
    ag_node *ids = ag_model_input(m, "ids", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, 10, 3, 1);
    ag_node *e = ag_call(emb, ids);
    ag_node *avg = ag_call(ag_layer_global_average_pooling1d(m), e);
    ag_node *mx = ag_call(ag_layer_global_max_pooling1d(m), e);
    assert_int_equal(ag_model_build(m, &ids, 1, (ag_node *[]){avg, mx}, 2), AG_OK);
    ag_tensor *x = ids_tensor(2, 4, (int32_t[]){1, 2, 0, 0, 3, 0, 4, 5});
    AG_ASSERT_OK(ag_model_graph(m), ag_model_run(m, (const ag_tensor *[]){x}, NULL, 0));
    ag_node *w;
    ag_layer_weights(emb, -1, &w, 1);
    ag_tensor *table = ag_value(w);
    static const int rows[2][3] = {{1, 2, -1}, {3, 4, 5}};
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 3; c++) {
            double sum = 0, best = -1e300;
            int n = 0;
            for (int k = 0; k < 3 && rows[b][k] >= 0; k++, n++) {
                double t = ag_tensor_get(table, rows[b][k] * 3 + c);
                sum += t;
                best = fmax(best, t);
            }
            AG_ASSERT_NEAR(ag_tensor_get(ag_value(avg), b * 3 + c), sum / n, 1e-15);
            assert_true(ag_tensor_get(ag_value(mx), b * 3 + c) == best);
        }
    ag_tensor_free(x);
    ag_model_free(m);
}

/* A pair predicted alone and inside a batch padded to much longer
 * sequences gets the same prediction. */
static void test_padding_invariance(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        cnn_size s = {200, 16, 12, 8, variant == 1, variant == 2, 1};
        ag_model *m = cnn_attention_model(&s, AG_FLOAT32, 11);
        ASSERT_MODEL_OK(m);
        ag_tensor *q1 = ids_tensor(1, 5, (int32_t[]){7, 3, 9, 12, 5});
        ag_tensor *v1 = ids_tensor(1, 7, (int32_t[]){3, 9, 44, 12, 5, 8, 1});
        enum { B = 3, TQ = 40, TV = 60 };
        int32_t qb[B * TQ] = {0}, vb[B * TV] = {0};
        for (int b = 0; b < B; b++)
            for (int t = 0; t < (b == 1 ? 5 : TQ - b); t++)
                qb[b * TQ + t] = b == 1 ? AG_I32(q1)[t] : 1 + (b * 31 + t * 7) % 199;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < (b == 1 ? 7 : TV - 3 * b); t++)
                vb[b * TV + t] = b == 1 ? AG_I32(v1)[t] : 1 + (b * 17 + t * 13) % 199;
        ag_tensor *qt = ids_tensor(B, TQ, qb), *vt = ids_tensor(B, TV, vb);
        ag_tensor *alone[1], *batch[1];
        assert_int_equal(ag_model_predict(m, (const ag_tensor *[]){q1, v1}, 8, alone), AG_OK);
        assert_int_equal(ag_model_predict(m, (const ag_tensor *[]){qt, vt}, 8, batch), AG_OK);
        float a = AG_F32(alone[0])[0], b = AG_F32(batch[0])[1];
        if (fabsf(a - b) > 1e-6f * fabsf(a))
            fail_msg("variant %d: alone %.9g, in a batch %.9g", variant, a, b);
        print_message("padding invariance (%s): alone %.9g, in a padded batch %.9g: %s\n",
                      variant == 0   ? "dot"
                      : variant == 1 ? "additive"
                                     : "concat",
                      a, b, a == b ? "bitwise identical" : "equal to float32 rounding");
        ag_tensor_free(alone[0]);
        ag_tensor_free(batch[0]);
        ag_tensor_free(q1);
        ag_tensor_free(v1);
        ag_tensor_free(qt);
        ag_tensor_free(vt);
        ag_model_free(m);
    }
}

/* The whole functional network in float64 passes the gradient checker. */
static void test_model_gradcheck(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        cnn_size s = {12, 4, 3, 5, variant == 1, variant == 2, 1};
        ag_model *m = cnn_attention_model(&s, AG_FLOAT64, 21 + (uint64_t)variant);
        ASSERT_MODEL_OK(m);
        ag_tensor *q = ids_tensor(2, 4, (int32_t[]){3, 5, 7, 0, 2, 4, 6, 8});
        ag_tensor *v = ids_tensor(2, 5, (int32_t[]){9, 3, 1, 0, 0, 11, 2, 4, 6, 10});
        ag_graph *g = ag_model_graph(m);
        AG_ASSERT_OK(g, ag_model_run(m, (const ag_tensor *[]){q, v}, NULL, 0));
        ag_gradcheck_report rep;
        AG_ASSERT_OK(g, ag_gradcheck(g, ag_model_output_node(m, 0), 7, &rep));
        if (rep.max_rel > 1e-6 || rep.n != ag_model_weights(m, -1, NULL, 0)) {
            ag_gradcheck_print(stderr, &rep, "cnn_attention");
            fail_msg("variant %d: worst relative error %.3g over %d weights", variant, rep.max_rel,
                     rep.n);
        }
        ag_tensor_free(q);
        ag_tensor_free(v);
        ag_model_free(m);
    }
}

/* get_config -> from_config -> get_config gives the same text, for every
 * layer class. */
static void test_config_round_trip(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT32, 1);
    ag_layer *layers[] = {
        ag_layer_embedding(m, 100, 8, 1),
        ag_layer_conv1d(m, 7, 3, 2, AG_PAD_CAUSAL, AG_ACT_RELU, 0),
        ag_layer_dense(m, 5, AG_ACT_SOFTMAX, 1),
        ag_layer_dropout(m, 0.25, 99),
        ag_layer_activation(m, AG_ACT_TANH),
        ag_layer_global_average_pooling1d(m),
        ag_layer_global_max_pooling1d(m),
        ag_layer_concatenate(m, 1),
        ag_layer_layer_normalization(m, 1e-5),
        ag_layer_attention(m, 1, "concat", 0.1, 7),
        ag_layer_additive_attention(m, 0, 0.2, 0),
    };
    ag_layer_set_causal(layers[9], 1);
    ASSERT_MODEL_OK(m);
    ag_model *m2 = ag_model_new(AG_FLOAT32, 2);
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        char *cfg = ag_layer_get_config(layers[i]);
        assert_non_null(cfg);
        ag_layer *copy = ag_layer_from_config(m2, ag_layer_class_name(layers[i]), cfg);
        if (!copy) fail_msg("%s: %s", cfg, ag_model_error(m2));
        char *cfg2 = ag_layer_get_config(copy);
        assert_string_equal(cfg, cfg2);
        free(cfg);
        free(cfg2);
    }
    char *c = ag_layer_get_config(layers[9]);
    ag_assert_msg_has(c, "\"score_mode\":\"concat\"");
    ag_assert_msg_has(c, "\"use_scale\":true");
    ag_assert_msg_has(c, "\"causal\":true");
    free(c);
    /* refusals name the problem */
    assert_null(ag_layer_from_config(m2, "Bogus", "{}"));
    ag_assert_msg_has(ag_model_error(m2), "unknown layer class 'Bogus'");
    assert_null(ag_layer_from_config(m2, "Dense", "{\"units\":\"many\"}"));
    ag_assert_msg_has(ag_model_error(m2), "units must be an integer");
    assert_null(ag_layer_from_config(m2, "Attention", "{\"score_mode\":\"cosine\"}"));
    ag_assert_msg_has(ag_model_error(m2), "score_mode");
    assert_null(ag_layer_from_config(m2, "Dense", "{\"units\":3,"));
    ag_assert_msg_has(ag_model_error(m2), "JSON");
    ag_model_free(m);
    ag_model_free(m2);
    /* a whole model's config rebuilds the same model, weights included */
    cnn_size s = {50, 6, 5, 4, 1, 0, 1};
    ag_model *a = cnn_attention_model(&s, AG_FLOAT32, 8);
    char *cfg = ag_model_get_config(a);
    assert_non_null(cfg);
    ag_error err = {0};
    ag_model *b = ag_model_from_config(cfg, &err);
    if (!b) fail_msg("%s", err.msg);
    char *cfg2 = ag_model_get_config(b);
    assert_string_equal(cfg, cfg2);
    ag_node *wa[16], *wb[16];
    int n = ag_model_weights(a, -1, wa, 16);
    assert_int_equal(ag_model_weights(b, -1, wb, 16), n);
    for (int i = 0; i < n; i++)
        assert_memory_equal(ag_value(wa[i])->data, ag_value(wb[i])->data,
                            (size_t)ag_value(wa[i])->size * 4);
    free(cfg);
    free(cfg2);
    assert_null(ag_model_from_config("{\"class_name\":\"Functional\"}", &err));
    ag_assert_msg_has(err.msg, "from_config");
    ag_model_free(a);
    ag_model_free(b);
}

/* Caller mistakes are refused with messages; NULLs from earlier failures
 * pass through; nothing crashes. */
static void test_errors(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT32, 1);
    ag_node *x = ag_model_input(m, "x", AG_FLOAT32, 2, (int64_t[]){-1, 4});
    ag_node *ids = ag_model_input(m, "ids", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *att = ag_layer_attention(m, 0, "dot", 0, 0);
    assert_null(ag_call(att, x));
    ag_assert_msg_has(ag_model_error(m),
                      "Attention 'attention' expects a list of 2 to 3 inputs, received 1");
    ag_model_clear_error(m);
    assert_null(ag_call_n(att, (ag_node *[]){x, x, x, x}, 4));
    ag_assert_msg_has(ag_model_error(m), "received 4");
    ag_model_clear_error(m);
    ag_node *mask = ag_not_equal(ag_model_graph(m), ids, 0);
    assert_null(ag_call_attention(att, (ag_node *[]){x, x}, 2,
                                  &(ag_attention_call){.mask = (ag_node *[]){mask}, .n_mask = 1}));
    ag_assert_msg_has(ag_model_error(m),
                      "mask must be a list of 2 tensors [query_mask, value_mask], received 1");
    ag_model_clear_error(m);
    assert_null(ag_layer_attention(m, 0, "cosine", 0, 0));
    ag_assert_msg_has(ag_model_error(m),
                      "Expected one of {\"dot\", \"concat\"}. Received: score_mode=cosine");
    ag_model_clear_error(m);
    assert_null(ag_call(ag_layer_embedding(m, 10, 2, 0), x));
    ag_assert_msg_has(ag_model_error(m), "expected int32 token ids, received a float32 input");
    ag_model_clear_error(m);
    assert_null(ag_call(ag_layer_dense(m, 3, AG_ACT_LINEAR, 1), ids));
    ag_assert_msg_has(ag_model_error(m), "Dense 'dense'");
    ag_model_clear_error(m);
    assert_null(ag_layer_dense(m, 0, AG_ACT_LINEAR, 1));
    ag_assert_msg_has(ag_model_error(m), "units must be a positive integer, received 0");
    assert_null(ag_layer_dropout(m, 1.5, 0));
    ag_assert_msg_has(ag_model_error(m), "rate must be a float in [0, 1), received 1.5");
    ag_model_clear_error(m);
    assert_null(ag_layer_conv1d(m, 4, 0, 1, AG_PAD_SAME, AG_ACT_LINEAR, 1));
    ag_assert_msg_has(ag_model_error(m), "kernel_size=0");
    ag_model_clear_error(m);
    /* NULL flows through and keeps the first message */
    ag_layer *bad = ag_layer_embedding(m, -1, 2, 0);
    ag_node *h = ag_call(ag_layer_dense(m, 2, AG_ACT_LINEAR, 1), ag_call(bad, ids));
    assert_null(h);
    assert_int_not_equal(ag_model_build(m, &ids, 1, &h, 1), AG_OK);
    ag_assert_msg_has(ag_model_error(m), "input_dim and output_dim must be positive");
    ag_model_clear_error(m);
    /* names: unique, renamed before the first call only */
    ag_layer *d = ag_layer_dense(m, 2, AG_ACT_LINEAR, 1);
    assert_int_equal(ag_layer_set_name(d, "x"), AG_ERR_ARG);
    ag_assert_msg_has(ag_model_error(m), "already used");
    assert_int_equal(ag_layer_set_name(d, "head"), AG_OK);
    ag_node *y = ag_call(d, x);
    assert_non_null(y);
    assert_int_equal(ag_layer_set_name(d, "later"), AG_ERR_STATE);
    ag_node *w[2];
    ag_layer_weights(d, -1, w, 2);
    assert_string_equal(ag_node_name(w[0]), "head/kernel");
    /* a model output depending on an input that is not the model's */
    ag_model_clear_error(m);
    assert_int_equal(ag_model_build(m, &ids, 1, &y, 1), AG_ERR_ARG);
    ag_assert_msg_has(ag_model_error(m), "depends on the input 'x'");
    /* layers of another model */
    ag_model *other = ag_model_new(AG_FLOAT32, 1);
    assert_null(ag_call(ag_layer_dense(other, 2, AG_ACT_LINEAR, 1), x));
    ag_assert_msg_has(ag_model_error(other), "belongs to another model");
    /* everything accepts NULL */
    assert_null(ag_call(NULL, x));
    assert_null(ag_layer_dense(NULL, 2, AG_ACT_LINEAR, 1));
    assert_int_equal(ag_model_build(NULL, NULL, 0, NULL, 0), AG_ERR_ARG);
    ag_model_summary(NULL, stdout);
    ag_model_free(NULL);
    ag_model_free(other);
    ag_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_attention_counts_and_shapes),
        cmocka_unit_test(test_layer_counts),
        cmocka_unit_test(test_initialisers),
        cmocka_unit_test(test_shared_weights_gradient),
        cmocka_unit_test(test_mask_flow),
        cmocka_unit_test(test_masked_pooling_values),
        cmocka_unit_test(test_padding_invariance),
        cmocka_unit_test(test_model_gradcheck),
        cmocka_unit_test(test_config_round_trip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
