/* test_decomposable.c — the Decomposable Attention model
 * (ag_decomposable_model): its parameter count against the formula, the
 * example's network being the same one, a float64 gradient check end to
 * end, masks (padding invariance, no attention on padding), a short
 * training run that learns a translation task only attention can solve,
 * and train -> save -> load -> evaluate giving identical figures. */
#include "attograd_app.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static ag_model *model(int64_t V, int64_t dim, int64_t units, int fl, int gl, double drop,
                       ag_dtype dt, uint64_t seed)
{
    ag_decomposable_config c = ag_decomposable_defaults();
    c.max_tokens = V, c.dim = dim, c.units = units, c.attend_layers = fl;
    c.compare_layers = gl, c.dropout = drop, c.dtype = dt, c.seed = seed;
    ag_error err = {0};
    ag_model *m = ag_decomposable_model(&c, &err);
    if (!m) fail_msg("ag_decomposable_model: %s", err.msg);
    return m;
}

static ag_tensor *ids(int64_t rows, int64_t T, const int32_t *v)
{
    return ag_tensor_from(AG_INT32, 2, (int64_t[]){rows, T}, v, NULL);
}

/* Embedding V·dim; F: dim·units + units, then units·units + units per
 * extra layer; G: 4·dim·units + units, then the same; H: 2·units·units +
 * units; the output units + 1. Keras counts the same (no merge layer,
 * pooling, dropout or Attention() has weights). */
static void test_parameter_count(void **state)
{
    (void)state;
    ag_model *m = model(10000, 64, 64, 1, 1, 0.1, AG_FLOAT32, 1);
    assert_int_equal(ag_model_count_params(m, -1), 668929);
    assert_int_equal(640000 + (64 * 64 + 64) + (4 * 64 * 64 + 64) + (2 * 64 * 64 + 64) + 65,
                     668929);
    ag_model_free(m);
    m = model(500, 16, 24, 2, 3, 0.0, AG_FLOAT32, 1);
    int64_t want = 500 * 16 + (16 * 24 + 24) + (24 * 24 + 24) + (4 * 16 * 24 + 24) +
                   2 * (24 * 24 + 24) + (2 * 24 * 24 + 24) + 25;
    assert_int_equal(ag_model_count_params(m, -1), want);
    /* no Dropout layers at rate 0; the attention layer is named for heatmaps */
    for (int i = 0; i < ag_model_layer_count(m); i++)
        assert_string_not_equal(ag_layer_class_name(ag_model_layer(m, i)), "Dropout");
    ag_layer *att = ag_model_get_layer(m, "attention");
    assert_non_null(att);
    assert_string_equal(ag_layer_class_name(att), "Attention");
    assert_int_equal(ag_layer_call_count(att), 2);
    ag_model_free(m);
    /* bad sizes are refused with the reason */
    ag_decomposable_config c = ag_decomposable_defaults();
    c.dropout = 1.0;
    ag_error err = {0};
    assert_null(ag_decomposable_model(&c, &err));
    ag_assert_msg_has(err.msg, "dropout in [0, 1)");
    assert_null(ag_decomposable_model(NULL, &err));
}

/* examples/decomposable_attention.c builds the same network: its config
 * is the library's, character for character. */
static void test_example_is_the_same_network(void **state)
{
    (void)state;
    const char *bin = getenv("AG_BIN");
    if (!bin) skip();
    char cmd[4200];
    snprintf(cmd, sizeof cmd,
             "'%s/decomposable_attention' --config --max-tokens 50 --dim 8 --units 6 "
             "--dropout 0.25 --seed 9",
             bin);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char got[1 << 16];
    size_t n = fread(got, 1, sizeof got - 1, p);
    got[n] = 0;
    assert_int_equal(pclose(p), 0);
    while (n && got[n - 1] == '\n')
        got[--n] = 0;
    ag_model *m = model(50, 8, 6, 1, 1, 0.25, AG_FLOAT32, 9);
    char *want = ag_model_get_config(m);
    assert_string_equal(got, want);
    free(want);
    ag_model_free(m);
}

/* float64, two layers in F and G, dropout: every weight's gradient against
 * finite differences (biases moved off 0 so no ReLU sits on its kink). */
static void test_gradcheck(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        ag_model *m = model(14, 4, 5, 2, 2, 0.2, AG_FLOAT64, seed);
        ag_node *w[32];
        int nw = ag_model_weights(m, -1, w, 32);
        for (int i = 0; i < nw; i++)
            if (strstr(ag_node_name(w[i]), "/bias"))
                ag_fill_uniform(ag_value(w[i]), 0.1, 0.3, seed, (uint64_t)i);
        ag_tensor *a = ids(2, 4, (int32_t[]){3, 5, 7, 0, 2, 4, 6, 8});
        ag_tensor *b = ids(2, 5, (int32_t[]){9, 3, 1, 0, 0, 11, 2, 4, 6, 13});
        ag_graph *g = ag_model_graph(m);
        AG_ASSERT_OK(g, ag_model_run(m, (const ag_tensor *[]){a, b}, NULL, 0));
        ag_gradcheck_report rep;
        AG_ASSERT_OK(g, ag_gradcheck(g, ag_model_output_node(m, 0), 5 + seed, &rep));
        if (rep.max_rel > 1e-6 || rep.n != nw) {
            ag_gradcheck_print(stderr, &rep, "decomposable");
            fail_msg("seed %d: worst relative error %.3g over %d of %d weights", (int)seed,
                     rep.max_rel, rep.n, nw);
        }
        print_message("decomposable attention, float64 gradient check (seed %d): %d weights, "
                      "worst relative error %.2g\n",
                      (int)seed, rep.n, rep.max_rel);
        ag_tensor_free(a);
        ag_tensor_free(b);
        ag_model_free(m);
    }
}

/* A pair alone and inside a batch padded far beyond it: the same
 * prediction; a -> b weights are 0 on b's padding, rows sum to 1. */
static void test_masks(void **state)
{
    (void)state;
    ag_model *m = model(200, 12, 10, 1, 1, 0.1, AG_FLOAT32, 4);
    ag_tensor *a1 = ids(1, 4, (int32_t[]){7, 3, 9, 12});
    ag_tensor *b1 = ids(1, 6, (int32_t[]){3, 9, 44, 12, 5, 8});
    enum { B = 3, TA = 30, TB = 40 };
    int32_t ab[B * TA] = {0}, bb[B * TB] = {0};
    for (int t = 0; t < TA - 2; t++)
        ab[t] = 1 + (t * 7) % 199, ab[2 * TA + t] = 1 + (t * 11) % 199;
    for (int t = 0; t < TB - 5; t++)
        bb[t] = 1 + (t * 13) % 199, bb[2 * TB + t] = 1 + (t * 3) % 199;
    memcpy(ab + TA, AG_I32(a1), 4 * sizeof(int32_t));
    memcpy(bb + TB, AG_I32(b1), 6 * sizeof(int32_t));
    ag_tensor *at = ids(B, TA, ab), *bt = ids(B, TB, bb);
    ag_tensor *alone[1], *batch[1];
    assert_int_equal(ag_model_predict(m, (const ag_tensor *[]){a1, b1}, 8, alone), AG_OK);
    assert_int_equal(ag_model_predict(m, (const ag_tensor *[]){at, bt}, 8, batch), AG_OK);
    float x = AG_F32(alone[0])[0], y = AG_F32(batch[0])[1];
    if (fabsf(x - y) > 1e-6f * fabsf(x)) fail_msg("alone %.9g, in a padded batch %.9g", x, y);
    ag_node *scores = ag_layer_attention_scores(ag_model_get_layer(m, "attention"), 0);
    assert_non_null(scores);
    AG_ASSERT_OK(ag_model_graph(m), ag_model_run(m, (const ag_tensor *[]){at, bt}, &scores, 1));
    const ag_tensor *s = ag_value(scores); /* (B,TA,TB) */
    assert_int_equal(s->shape[1], TA);
    assert_int_equal(s->shape[2], TB);
    for (int i = 0; i < 4; i++) { /* row i of pair 1 */
        double sum = 0;
        for (int j = 0; j < TB; j++) {
            double v = ag_tensor_get(s, (TA + i) * TB + j);
            if (j >= 6) assert_true(v == 0);
            sum += v;
        }
        AG_ASSERT_NEAR(sum, 1.0, 1e-5);
    }
    ag_tensor_free(alone[0]);
    ag_tensor_free(batch[0]);
    ag_tensor_free(a1), ag_tensor_free(b1), ag_tensor_free(at), ag_tensor_free(bt);
    ag_model_free(m);
}

/* The translation task of examples/decomposable_attention.c, smaller: b is
 * a's words mapped to a second vocabulary (w -> w + 40), shuffled, or
 * another text's translation. */
enum { WORDS = 40, LEN = 8 };
static void make_task(int64_t n, uint64_t seed, ag_tensor **a, ag_tensor **b, ag_tensor **y)
{
    *a = ag_tensor_new(AG_INT32, 2, (int64_t[]){n, LEN}, NULL);
    *b = ag_tensor_new(AG_INT32, 2, (int64_t[]){n, LEN}, NULL);
    *y = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n, 1}, NULL);
    ag_rng r;
    ag_rng_init(&r, seed, 3);
    for (int64_t i = 0; i < n; i++) {
        int32_t *pa = AG_I32(*a) + i * LEN, *pb = AG_I32(*b) + i * LEN, other[LEN];
        int la = 3 + (int)ag_rng_below(&r, LEN - 2), lb = la;
        for (int t = 0; t < la; t++)
            pa[t] = 1 + (int32_t)ag_rng_below(&r, WORDS);
        int pos = ag_rng_below(&r, 2) == 1;
        if (!pos) {
            lb = 3 + (int)ag_rng_below(&r, LEN - 2);
            for (int t = 0; t < lb; t++)
                other[t] = 1 + (int32_t)ag_rng_below(&r, WORDS);
        }
        for (int t = 0; t < lb; t++)
            pb[t] = (pos ? pa[t] : other[t]) + WORDS;
        for (int t = lb - 1; t > 0; t--) {
            int k = (int)ag_rng_below(&r, (uint64_t)t + 1);
            int32_t tmp = pb[t];
            pb[t] = pb[k], pb[k] = tmp;
        }
        AG_F32(*y)[i] = (float)pos;
    }
}

static void test_learns_and_round_trips(void **state)
{
    (void)state;
    ag_model *m = model(2 * WORDS + 1, 16, 16, 1, 1, 0.1, AG_FLOAT32, 3);
    ag_tensor *a, *b, *y, *va, *vb, *vy;
    make_task(3000, 1, &a, &b, &y);
    make_task(500, 2, &va, &vb, &vy);
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = 0.005;
    assert_int_equal(ag_model_compile(m, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0,
                                      AG_METRIC_ACCURACY | AG_METRIC_AUC),
                     AG_OK);
    double loss0, met0[AG_MAX_METRICS];
    assert_int_equal(ag_model_evaluate(m, (const ag_tensor *[]){va, vb}, vy, 64, &loss0, met0),
                     AG_OK);
    ag_fit_options o = ag_fit_defaults();
    o.epochs = 6;
    o.verbose = 0;
    o.batch_size = 32;
    ag_history h = {0};
    AG_ASSERT_OK(ag_model_graph(m), ag_model_fit(m, (const ag_tensor *[]){a, b}, y, &o, &h));
    double loss, met[AG_MAX_METRICS];
    assert_int_equal(ag_model_evaluate(m, (const ag_tensor *[]){va, vb}, vy, 64, &loss, met),
                     AG_OK);
    print_message("translation task: val accuracy %.3f (loss %.3f) before, %.3f (loss %.3f) "
                  "after 6 epochs\n",
                  met0[0], loss0, met[0], loss);
    if (!(met[0] > 0.85 && loss < 0.5 * loss0))
        fail_msg("did not learn: val accuracy %.3f, loss %.3f (from %.3f)", met[0], loss, loss0);

    char path[] = "/tmp/ag_decomposable_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ag_model_save(m, path, NULL, NULL, 0), AG_OK);
    ag_error err = {0};
    ag_model *l = ag_model_load(path, &err);
    remove(path);
    if (!l) fail_msg("%s", err.msg);
    assert_int_equal(ag_model_compile(l, NULL, AG_LOSS_BINARY_CROSSENTROPY, 0,
                                      AG_METRIC_ACCURACY | AG_METRIC_AUC),
                     AG_OK);
    double loss2, met2[AG_MAX_METRICS];
    assert_int_equal(ag_model_evaluate(l, (const ag_tensor *[]){va, vb}, vy, 64, &loss2, met2),
                     AG_OK);
    assert_true(loss2 == loss && met2[0] == met[0] && met2[1] == met[1]);
    char *c1 = ag_model_get_config(m), *c2 = ag_model_get_config(l);
    assert_string_equal(c1, c2);
    free(c1);
    free(c2);
    ag_history_release(&h);
    ag_tensor_free(a), ag_tensor_free(b), ag_tensor_free(y);
    ag_tensor_free(va), ag_tensor_free(vb), ag_tensor_free(vy);
    ag_model_free(m);
    ag_model_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameter_count),
        cmocka_unit_test(test_example_is_the_same_network),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_learns_and_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
