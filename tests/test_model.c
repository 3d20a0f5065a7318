/* test_model.c — compile, fit, evaluate, predict: separable problems reach
 * 100% training accuracy, progress lines look like Keras's, a steady-state
 * step allocates nothing, early stopping restores the best weights, batch
 * sources and shuffling are deterministic, and mistakes are refused. */
#include "testutil.h"
#include "model_util.h"

#include <stdio.h>
#include <stdlib.h>

#define ASSERT_MODEL_OK(m, st)                                                                     \
    do {                                                                                           \
        ag_status s_ = (st);                                                                       \
        if (s_ != AG_OK) fail_msg("status %s: %s", ag_status_name(s_), ag_model_error(m));         \
    } while (0)

/* Two Gaussian-ish blobs in 2-D, separable by a line: class = [x0 + x1 > 0],
 * points kept at least 0.3 from the line. */
static void blobs(int64_t n, uint64_t seed, ag_tensor **x, ag_tensor **y)
{
    *x = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n, 2}, NULL);
    *y = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n, 1}, NULL);
    ag_rng r;
    ag_rng_init(&r, seed, 1);
    for (int64_t i = 0; i < n;) {
        double a = 4 * ag_rng_uniform(&r) - 2, b = 4 * ag_rng_uniform(&r) - 2;
        if (fabs(a + b) < 0.3) continue;
        AG_F32(*x)[2 * i] = (float)a;
        AG_F32(*x)[2 * i + 1] = (float)b;
        AG_F32(*y)[i] = a + b > 0;
        i++;
    }
}

static ag_model *mlp(uint64_t seed, int hidden)
{
    ag_model *m = ag_model_new(AG_FLOAT32, seed);
    ag_model_input(m, "x", AG_FLOAT32, 1, (int64_t[]){2});
    ag_model_add(m, ag_layer_dense(m, hidden, AG_ACT_RELU, 1));
    ag_model_add(m, ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1));
    return m;
}

static void test_fit_separable_reaches_100_percent(void **state)
{
    (void)state;
    ag_tensor *x, *y;
    blobs(200, 3, &x, &y);
    ag_model *m = mlp(1, 8);
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = 0.02;
    ASSERT_MODEL_OK(m, ag_model_compile(m, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0,
                                        AG_METRIC_ACCURACY | AG_METRIC_AUC));
    ag_fit_options o = ag_fit_defaults();
    o.epochs = 40;
    o.verbose = 0;
    o.batch_size = 16;
    o.seed = 5;
    ag_history h;
    ASSERT_MODEL_OK(m, ag_model_fit(m, (const ag_tensor *[]){x}, y, &o, &h));
    assert_int_equal(h.epochs, 40);
    assert_int_equal(h.n_metrics, 2);
    assert_string_equal(h.metric_names[0], "accuracy");
    assert_string_equal(h.metric_names[1], "auc");
    assert_true(h.loss[39] < h.loss[0]);
    double loss, metrics[2];
    ASSERT_MODEL_OK(m, ag_model_evaluate(m, (const ag_tensor *[]){x}, y, 32, &loss, metrics));
    assert_true(metrics[0] == 1.0);
    assert_true(metrics[1] == 1.0);
    /* evaluate's loss is the mean binary cross-entropy of predict's outputs */
    ag_tensor *p;
    ASSERT_MODEL_OK(m, ag_model_predict(m, (const ag_tensor *[]){x}, 7, &p));
    assert_int_equal(p->shape[0], 200);
    assert_int_equal(p->shape[1], 1);
    double bce = 0;
    for (int i = 0; i < 200; i++) {
        double pi = fmin(fmax(AG_F32(p)[i], 1e-7), 1 - 1e-7), yi = AG_F32(y)[i];
        bce -= yi * log(pi) + (1 - yi) * log(1 - pi);
    }
    AG_ASSERT_NEAR(loss, bce / 200, 1e-5);
    ag_tensor_free(p);
    ag_history_release(&h);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_model_free(m);
}

/* Three classes from the sign pattern of (x0, x1), softmax output with a
 * sparse categorical loss; and the same with one-hot targets. */
static void test_categorical(void **state)
{
    (void)state;
    for (int sparse = 0; sparse < 2; sparse++) {
        int64_t n = 150;
        ag_tensor *x = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n, 2}, NULL);
        ag_tensor *y = sparse ? ag_tensor_new(AG_INT32, 1, (int64_t[]){n}, NULL)
                              : ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n, 3}, NULL);
        for (int64_t i = 0; i < n; i++) {
            int c = (int)(i % 3);
            double ang = 2 * 3.14159265 * c / 3 + 0.6 * (ag_rand_uniform(4, 1, (uint64_t)i) - 0.5);
            double rad = 1 + ag_rand_uniform(4, 2, (uint64_t)i);
            AG_F32(x)[2 * i] = (float)(rad * cos(ang));
            AG_F32(x)[2 * i + 1] = (float)(rad * sin(ang));
            if (sparse)
                AG_I32(y)[i] = c;
            else
                AG_F32(y)[3 * i + c] = 1;
        }
        ag_model *m = ag_model_new(AG_FLOAT32, 2);
        ag_model_input(m, "x", AG_FLOAT32, 1, (int64_t[]){2});
        ag_model_add(m, ag_layer_dense(m, 16, AG_ACT_TANH, 1));
        ag_model_add(m, ag_layer_dense(m, 3, AG_ACT_SOFTMAX, 1));
        ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
        adam.learning_rate = 0.03;
        ASSERT_MODEL_OK(m, ag_model_compile(m, &adam,
                                            sparse ? AG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY
                                                   : AG_LOSS_CATEGORICAL_CROSSENTROPY,
                                            0, AG_METRIC_ACCURACY));
        ag_fit_options o = ag_fit_defaults();
        o.epochs = 30;
        o.verbose = 0;
        ASSERT_MODEL_OK(m, ag_model_fit(m, (const ag_tensor *[]){x}, y, &o, NULL));
        double loss, acc;
        ASSERT_MODEL_OK(m, ag_model_evaluate(m, (const ag_tensor *[]){x}, y, 50, &loss, &acc));
        if (acc != 1.0) fail_msg("sparse=%d: accuracy %.4f, loss %.4f", sparse, acc, loss);
        ag_tensor_free(x);
        ag_tensor_free(y);
        ag_model_free(m);
    }
}

/* The progress lines: a bar per reported batch and the epoch summary, when
 * the output is not a TTY. */
static void test_progress_lines(void **state)
{
    (void)state;
    ag_tensor *x, *y, *vx, *vy;
    blobs(100, 1, &x, &y);
    blobs(40, 2, &vx, &vy);
    ag_model *m = mlp(3, 4);
    ASSERT_MODEL_OK(m,
                    ag_model_compile(m, NULL, AG_LOSS_BINARY_CROSSENTROPY, 0, AG_METRIC_ACCURACY));
    char buf[8192] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    ag_fit_options o = ag_fit_defaults();
    o.epochs = 2;
    o.batch_size = 10;
    o.progress_every = 4;
    o.out = f;
    o.val_x = (const ag_tensor *[]){vx};
    o.val_y = vy;
    ag_history h;
    ASSERT_MODEL_OK(m, ag_model_fit(m, (const ag_tensor *[]){x}, y, &o, &h));
    fclose(f);
    ag_assert_msg_has(buf, "Epoch 1/2\n 4/10 [===========>..................] - loss: ");
    ag_assert_msg_has(buf, " 8/10 [=======================>......] - loss: ");
    ag_assert_msg_has(buf, "10/10 [==============================] - ");
    ag_assert_msg_has(buf, "ms/step - loss: ");
    ag_assert_msg_has(buf, " - accuracy: ");
    ag_assert_msg_has(buf, " - val_loss: ");
    ag_assert_msg_has(buf, " - val_accuracy: ");
    ag_assert_msg_has(buf, "Epoch 2/2\n");
    assert_null(strchr(buf, '\r'));
    /* the epoch line's numbers are the history's */
    char want[64];
    snprintf(want, sizeof want, "val_loss: %.4f", h.val_loss[1]);
    ag_assert_msg_has(buf, want);
    assert_true(h.has_validation);
    ag_history_release(&h);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_tensor_free(vx);
    ag_tensor_free(vy);
    ag_model_free(m);
}

/* After the first epoch, training allocates nothing: the engine's counter
 * (values, gradients, workspaces, batch buffers) and the optimizer's stay. */
static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    cnn_size s = {60, 8, 6, 5, 0, 0, 1};
    ag_model *m = cnn_attention_model(&s, AG_FLOAT32, 4);
    ASSERT_MODEL_OK(m,
                    ag_model_compile(m, NULL, AG_LOSS_BINARY_CROSSENTROPY, 0, AG_METRIC_ACCURACY));
    enum { N = 24, TQ = 6, TV = 7 };
    int32_t q[N * TQ], v[N * TV];
    float lab[N];
    for (int i = 0; i < N; i++) {
        for (int t = 0; t < TQ; t++)
            q[i * TQ + t] = t < 3 + i % 3 ? 1 + (i * 7 + t * 3) % 59 : 0;
        for (int t = 0; t < TV; t++)
            v[i * TV + t] = t < 4 + i % 3 ? 1 + (i * 5 + t * 11) % 59 : 0;
        lab[i] = (float)(i % 2);
    }
    ag_tensor *qt = ids_tensor(N, TQ, q), *vt = ids_tensor(N, TV, v);
    ag_tensor *y = ag_tensor_from(AG_FLOAT32, 2, (int64_t[]){N, 1}, lab, NULL);
    ag_fit_options o = ag_fit_defaults();
    o.batch_size = 8; /* 3 equal batches */
    o.verbose = 0;
    ASSERT_MODEL_OK(m, ag_model_fit(m, (const ag_tensor *[]){qt, vt}, y, &o, NULL));
    ag_graph *g = ag_model_graph(m);
    uint64_t before = ag_graph_alloc_count(g);
    o.epochs = 3;
    ASSERT_MODEL_OK(m, ag_model_fit(m, (const ag_tensor *[]){qt, vt}, y, &o, NULL));
    assert_int_equal(ag_graph_alloc_count(g), before);
    assert_true(before > 0);
    ag_tensor_free(qt);
    ag_tensor_free(vt);
    ag_tensor_free(y);
    ag_model_free(m);
}

/* Early stopping on val_loss with restore_best_weights: with flipped
 * validation labels, val_loss rises as training improves, so the best epoch
 * is the first and training stops after patience epochs; the weights are
 * those after epoch 1 (bit for bit those of a one-epoch run). */
static void test_early_stopping_restores_best(void **state)
{
    (void)state;
    ag_tensor *x, *y, *vx, *vy;
    blobs(64, 7, &x, &y);
    blobs(64, 7, &vx, &vy);
    for (int i = 0; i < 64; i++)
        AG_F32(vy)[i] = 1 - AG_F32(vy)[i];
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = 0.05;
    ag_model *a = mlp(9, 6), *b = mlp(9, 6);
    ASSERT_MODEL_OK(a, ag_model_compile(a, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0, 0));
    ASSERT_MODEL_OK(b, ag_model_compile(b, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0, 0));
    ag_fit_options o = ag_fit_defaults();
    o.verbose = 0;
    o.batch_size = 16;
    o.seed = 3;
    o.epochs = 20;
    o.val_x = (const ag_tensor *[]){vx};
    o.val_y = vy;
    o.early_stopping = 1;
    o.patience = 2;
    o.restore_best_weights = 1;
    ag_history h;
    ASSERT_MODEL_OK(a, ag_model_fit(a, (const ag_tensor *[]){x}, y, &o, &h));
    assert_int_equal(h.best_epoch, 0);
    assert_int_equal(h.stopped_epoch, 2);
    assert_int_equal(h.epochs, 3);
    assert_true(h.val_loss[2] > h.val_loss[0]);
    o.epochs = 1;
    o.early_stopping = 0;
    ASSERT_MODEL_OK(b, ag_model_fit(b, (const ag_tensor *[]){x}, y, &o, NULL));
    ag_node *wa[4], *wb[4];
    int n = ag_model_weights(a, -1, wa, 4);
    ag_model_weights(b, -1, wb, 4);
    for (int i = 0; i < n; i++)
        assert_memory_equal(ag_value(wa[i])->data, ag_value(wb[i])->data,
                            (size_t)ag_value(wa[i])->size * 4);
    ag_history_release(&h);
    /* early stopping needs validation data */
    o.early_stopping = 1;
    o.val_x = NULL;
    o.val_y = NULL;
    assert_int_equal(ag_model_fit(a, (const ag_tensor *[]){x}, y, &o, NULL), AG_ERR_ARG);
    ag_assert_msg_has(ag_model_error(a), "needs validation data");
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_tensor_free(vx);
    ag_tensor_free(vy);
    ag_model_free(a);
    ag_model_free(b);
}

/* A batch source with batches of different lengths: fit, evaluate and
 * predict; the same seed gives the same weights; predict_source joins. */
typedef struct var_batches {
    ag_tensor *q[4], *v[4], *y[4];
} var_batches;

static ag_status var_get(void *user, int64_t b, const ag_tensor **in, const ag_tensor **target,
                         ag_error *err)
{
    var_batches *d = user;
    if (b < 0 || b >= 4) return ag_error_set(err, AG_ERR_RANGE, "no batch %d", (int)b);
    in[0] = d->q[b];
    in[1] = d->v[b];
    *target = d->y[b];
    return AG_OK;
}

static void make_var_batches(var_batches *d)
{
    for (int b = 0; b < 4; b++) {
        int64_t rows = 5 + b, tq = 3 + b, tv = 8 - b;
        d->q[b] = ag_tensor_new(AG_INT32, 2, (int64_t[]){rows, tq}, NULL);
        d->v[b] = ag_tensor_new(AG_INT32, 2, (int64_t[]){rows, tv}, NULL);
        d->y[b] = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){rows, 1}, NULL);
        for (int64_t i = 0; i < rows; i++) {
            int pos = (int)((i + b) % 2);
            for (int64_t t = 0; t < tq; t++)
                AG_I32(d->q[b])[i * tq + t] = 1 + (int32_t)((i * 3 + t * 5 + b) % 20);
            for (int64_t t = 0; t < tv; t++)
                AG_I32(d->v[b])
            [i * tv + t] =
                pos && t < tq ? AG_I32(d->q[b])[i * tq + t] : 21 + (int32_t)((i + t * 7) % 19);
            AG_F32(d->y[b])[i] = (float)pos;
        }
    }
}

static void test_batch_source(void **state)
{
    (void)state;
    var_batches d;
    make_var_batches(&d);
    ag_batch_source src = {4, var_get, &d};
    cnn_size s = {40, 8, 6, 6, 1, 0, 1};
    ag_model *a = cnn_attention_model(&s, AG_FLOAT32, 12),
             *b = cnn_attention_model(&s, AG_FLOAT32, 12);
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = 0.01;
    ag_fit_options o = ag_fit_defaults();
    o.verbose = 0;
    o.epochs = 15;
    o.seed = 77;
    o.val_source = &src;
    ag_history h[2];
    ag_model *ms[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        ASSERT_MODEL_OK(ms[k], ag_model_compile(ms[k], &adam, AG_LOSS_BINARY_CROSSENTROPY, 0,
                                                AG_METRIC_ACCURACY | AG_METRIC_AUC));
        ASSERT_MODEL_OK(ms[k], ag_model_fit_source(ms[k], &src, &o, &h[k]));
    }
    assert_true(h[0].loss[14] < h[0].loss[0]);
    for (int e = 0; e < 15; e++)
        assert_true(h[0].loss[e] == h[1].loss[e]);
    double loss, met[2];
    ASSERT_MODEL_OK(a, ag_model_evaluate_source(a, &src, &loss, met));
    AG_ASSERT_NEAR(loss, h[0].val_loss[14], 1e-12);
    assert_true(met[0] >= 0.5 && met[1] >= 0.5);
    ag_tensor *p;
    ASSERT_MODEL_OK(a, ag_model_predict_source(a, &src, &p));
    assert_int_equal(p->shape[0], 5 + 6 + 7 + 8);
    assert_int_equal(p->shape[1], 1);
    /* batch 2 alone predicts the same rows */
    ag_tensor *p2;
    ASSERT_MODEL_OK(a, ag_model_predict(a, (const ag_tensor *[]){d.q[2], d.v[2]}, 100, &p2));
    assert_memory_equal(AG_F32(p) + 11, AG_F32(p2), 7 * sizeof(float));
    ag_tensor_free(p);
    ag_tensor_free(p2);
    /* a failing source reports its message */
    ag_batch_source bad = {5, var_get, &d};
    assert_int_equal(ag_model_evaluate_source(a, &bad, &loss, met), AG_ERR_RANGE);
    ag_assert_msg_has(ag_model_error(a), "batch 4: no batch 4");
    for (int k = 0; k < 2; k++)
        ag_history_release(&h[k]);
    for (int i = 0; i < 4; i++)
        ag_tensor_free(d.q[i]), ag_tensor_free(d.v[i]), ag_tensor_free(d.y[i]);
    ag_model_free(a);
    ag_model_free(b);
}

static void test_errors(void **state)
{
    (void)state;
    ag_tensor *x, *y;
    blobs(10, 1, &x, &y);
    ag_model *m = mlp(1, 3);
    assert_int_equal(ag_model_fit(m, (const ag_tensor *[]){x}, y, NULL, NULL), AG_ERR_STATE);
    ag_assert_msg_has(ag_model_error(m), "compile the model first");
    assert_int_equal(ag_model_compile(m, NULL, AG_LOSS_MEAN_SQUARED_ERROR, 0, AG_METRIC_AUC),
                     AG_ERR_ARG);
    ag_assert_msg_has(ag_model_error(m), "auc metric needs binary_crossentropy");
    assert_int_equal(ag_model_compile(m, NULL, AG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 0, 0),
                     AG_OK);
    assert_int_equal(ag_model_compile(m, NULL, AG_LOSS_MEAN_SQUARED_ERROR, 0, AG_METRIC_ACCURACY),
                     AG_OK);
    ag_tensor *short_y = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){9, 1}, NULL);
    assert_int_equal(ag_model_fit(m, (const ag_tensor *[]){x}, short_y, NULL, NULL), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_model_error(m), "y has 9 examples, x has 10");
    ag_tensor *wide = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){10, 3}, NULL);
    assert_int_not_equal(ag_model_fit(m, (const ag_tensor *[]){wide}, y, NULL, NULL), AG_OK);
    ag_assert_msg_has(ag_model_error(m), "expects shape (None, 2), received (10, 3)");
    ag_fit_options o = ag_fit_defaults();
    o.batch_size = 0;
    assert_int_equal(ag_model_fit(m, (const ag_tensor *[]){x}, y, &o, NULL), AG_ERR_ARG);
    ag_assert_msg_has(ag_model_error(m), "batch_size must be positive");
    /* a Sequential model refuses functional misuse */
    assert_int_equal(ag_model_add(m, ag_layer_attention(m, 0, "dot", 0, 0)), AG_ERR_ARG);
    ag_assert_msg_has(ag_model_error(m), "use the functional API");
    ag_model *empty = ag_model_new(AG_FLOAT32, 1);
    assert_int_equal(ag_model_add(empty, ag_layer_dense(empty, 2, AG_ACT_LINEAR, 1)), AG_ERR_STATE);
    ag_assert_msg_has(ag_model_error(empty), "needs exactly one input");
    assert_int_equal(ag_model_compile(empty, NULL, AG_LOSS_MEAN_SQUARED_ERROR, 0, 0), AG_ERR_STATE);
    ag_model_free(empty);
    ag_tensor_free(short_y);
    ag_tensor_free(wide);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_separable_reaches_100_percent),
        cmocka_unit_test(test_categorical),
        cmocka_unit_test(test_progress_lines),
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test(test_early_stopping_restores_best),
        cmocka_unit_test(test_batch_source),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
