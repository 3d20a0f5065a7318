/* test_merge.c — the merge layers Add, Subtract, Multiply and Concatenate's
 * masks: values against hand-computed ones, Keras's rank expansion and
 * broadcasting, Keras 3's mask rules, parameter counts, configs, errors,
 * and a float64 gradient check through all of them. */
#include "testutil.h"
#include "model_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ASSERT_MODEL_OK(m)                                                                         \
    do {                                                                                           \
        if (ag_model_status(m) != AG_OK) fail_msg("model error: %s", ag_model_error(m));           \
    } while (0)

static ag_tensor *f64(int rank, const int64_t *shape, const double *v)
{
    return ag_test_tensor(AG_FLOAT64, rank, shape, v);
}

/* Add, Subtract, Multiply of three float inputs; a (B,D) input with a
 * (B,T,D) one is expanded at axis 1, Keras's rule (not NumPy's). */
static void test_values_and_broadcast(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT64, 1);
    ag_node *x = ag_model_input(m, "x", AG_FLOAT64, 2, (int64_t[]){2, 3});
    ag_node *y = ag_model_input(m, "y", AG_FLOAT64, 2, (int64_t[]){2, 3});
    ag_node *v = ag_model_input(m, "v", AG_FLOAT64, 1, (int64_t[]){3});
    ag_node *add = ag_call_n(ag_layer_add(m), (ag_node *[]){x, y, x}, 3);
    ag_node *sub = ag_call_n(ag_layer_subtract(m), (ag_node *[]){x, y}, 2);
    ag_node *mul = ag_call_n(ag_layer_multiply(m), (ag_node *[]){x, y, y}, 3);
    ag_node *bc = ag_call_n(ag_layer_subtract(m), (ag_node *[]){v, x}, 2);
    ag_node *one = ag_call_n(ag_layer_add(m), &x, 1);
    ASSERT_MODEL_OK(m);
    char buf[64];
    ag_shape_str(ag_node_shape(bc)->rank, ag_node_shape(bc)->dim, buf, sizeof buf);
    assert_string_equal(buf, "(None, 2, 3)");
    assert_int_equal(
        ag_model_build(m, (ag_node *[]){x, y, v}, 3, (ag_node *[]){add, sub, mul, bc, one}, 5),
        AG_OK);
    double xv[12], yv[12], vv[6] = {10, 20, 30, -1, -2, -3};
    for (int i = 0; i < 12; i++)
        xv[i] = 0.5 * i - 2, yv[i] = 1.25 - 0.75 * i;
    ag_tensor *xt = f64(3, (int64_t[]){2, 2, 3}, xv), *yt = f64(3, (int64_t[]){2, 2, 3}, yv),
              *vt = f64(2, (int64_t[]){2, 3}, vv);
    AG_ASSERT_OK(ag_model_graph(m), ag_model_run(m, (const ag_tensor *[]){xt, yt, vt}, NULL, 0));
    for (int i = 0; i < 12; i++) {
        assert_true(ag_tensor_get(ag_value(add), i) == xv[i] + yv[i] + xv[i]);
        assert_true(ag_tensor_get(ag_value(sub), i) == xv[i] - yv[i]);
        assert_true(ag_tensor_get(ag_value(mul), i) == xv[i] * yv[i] * yv[i]);
        /* v[b, d] broadcast over the 2 steps of x[b, t, d] */
        assert_true(ag_tensor_get(ag_value(bc), i) == vv[i / 6 * 3 + i % 3] - xv[i]);
        assert_true(ag_tensor_get(ag_value(one), i) == xv[i]);
    }
    /* no weights: Keras's parameter count 0 */
    for (int i = 0; i < ag_model_layer_count(m); i++)
        assert_int_equal(ag_layer_count_params(ag_model_layer(m, i)), 0);
    assert_string_equal(ag_layer_name(ag_model_layer(m, 3)), "add");
    assert_string_equal(ag_layer_name(ag_model_layer(m, 5)), "multiply");
    assert_string_equal(ag_layer_name(ag_model_layer(m, 6)), "subtract_1");
    assert_string_equal(ag_layer_name(ag_model_layer(m, 7)), "add_1");
    ag_tensor_free(xt);
    ag_tensor_free(yt);
    ag_tensor_free(vt);
    ag_model_free(m);
}

/* Keras 3's masks: OR when every input has one, none otherwise; Multiply
 * reads a masked step as 1 and zeroes the steps outside the OR. */
static void test_masks(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT64, 3);
    ag_node *a = ag_model_input(m, "a", AG_INT32, 1, (int64_t[]){-1});
    ag_node *b = ag_model_input(m, "b", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, 10, 2, 1);
    ag_node *ea = ag_call(emb, a), *eb = ag_call(emb, b);
    ag_node *plain = ag_call(ag_layer_embedding(m, 10, 2, 0), a);
    ag_node *add = ag_call_n(ag_layer_add(m), (ag_node *[]){ea, eb}, 2);
    ag_node *sub = ag_call_n(ag_layer_subtract(m), (ag_node *[]){ea, eb}, 2);
    ag_node *mul = ag_call_n(ag_layer_multiply(m), (ag_node *[]){ea, eb}, 2);
    ag_node *mul_part = ag_call_n(ag_layer_multiply(m), (ag_node *[]){ea, plain}, 2);
    ag_node *add_part = ag_call_n(ag_layer_add(m), (ag_node *[]){ea, plain}, 2);
    ag_node *cat = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){ea, eb}, 2);
    ag_node *cat_part = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){ea, plain}, 2);
    ag_node *cat_time = ag_call_n(ag_layer_concatenate(m, 1), (ag_node *[]){ea, plain, eb}, 3);
    ASSERT_MODEL_OK(m);
    assert_null(ag_model_mask(m, add_part));
    assert_null(ag_model_mask(m, mul_part));
    assert_null(ag_model_mask(m, cat_part));
    ag_node *masks[5] = {ag_model_mask(m, add), ag_model_mask(m, sub), ag_model_mask(m, mul),
                         ag_model_mask(m, cat), ag_model_mask(m, cat_time)};
    for (int i = 0; i < 5; i++)
        assert_non_null(masks[i]);
    ag_node *outs[] = {add, sub, mul, mul_part, add_part, cat, cat_time};
    assert_int_equal(ag_model_build(m, (ag_node *[]){a, b}, 2, outs, 7), AG_OK);
    /* a = [3 0 5 0], b = [0 4 6 0]: OR = [1 1 1 0] */
    ag_tensor *at = ids_tensor(1, 4, (int32_t[]){3, 0, 5, 0}),
              *bt = ids_tensor(1, 4, (int32_t[]){0, 4, 6, 0});
    AG_ASSERT_OK(ag_model_graph(m), ag_model_run(m, (const ag_tensor *[]){at, bt}, masks, 5));
    const int or_mask[4] = {1, 1, 1, 0};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 4; i++)
            assert_int_equal(ag_tensor_get(ag_value(masks[k]), i) != 0, or_mask[i]);
    /* along the time axis the masks are joined: a's, all true, b's */
    const int joined[12] = {1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0};
    for (int i = 0; i < 12; i++)
        assert_int_equal(ag_tensor_get(ag_value(masks[4]), i) != 0, joined[i]);
    ag_node *w[2];
    ag_layer_weights(emb, -1, w, 1);
    ag_layer_weights(ag_model_get_layer(m, "embedding_1"), -1, w + 1, 1);
    const ag_tensor *tab = ag_value(w[0]), *tab2 = ag_value(w[1]);
    const int ia[4] = {3, 0, 5, 0}, ib[4] = {0, 4, 6, 0};
    for (int t = 0; t < 4; t++)
        for (int d = 0; d < 2; d++) {
            double xa = ag_tensor_get(tab, ia[t] * 2 + d), xb = ag_tensor_get(tab, ib[t] * 2 + d);
            double xp = ag_tensor_get(tab2, ia[t] * 2 + d);
            int i = t * 2 + d;
            /* Add and Subtract use the values as they are */
            assert_true(ag_tensor_get(ag_value(add), i) == xa + xb);
            assert_true(ag_tensor_get(ag_value(sub), i) == xa - xb);
            /* a masked step is 1; outside the OR, 0 */
            double want = !or_mask[t] ? 0 : (ia[t] ? xa : 1) * (ib[t] ? xb : 1);
            assert_true(ag_tensor_get(ag_value(mul), i) == want);
            assert_true(ag_tensor_get(ag_value(mul_part), i) == (ia[t] ? xa : 1) * xp);
        }
    ag_tensor_free(at);
    ag_tensor_free(bt);
    ag_model_free(m);
}

/* a, b -> Embedding(mask_zero) -> Dense -> Add, Subtract, Multiply,
 * Concatenate -> Dense -> GlobalAveragePooling1D -> Dense(1, sigmoid). */
static ag_model *merge_model(ag_dtype dt, uint64_t seed)
{
    ag_model *m = ag_model_new(dt, seed);
    ag_node *a = ag_model_input(m, "a", AG_INT32, 1, (int64_t[]){-1});
    ag_node *b = ag_model_input(m, "b", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, 12, 3, 1);
    ag_layer *proj = ag_layer_dense(m, 3, AG_ACT_TANH, 1);
    ag_node *pa = ag_call(proj, ag_call(emb, a)), *pb = ag_call(proj, ag_call(emb, b));
    ag_node *s = ag_call_n(ag_layer_add(m), (ag_node *[]){pa, pb}, 2);
    ag_node *d = ag_call_n(ag_layer_subtract(m), (ag_node *[]){pa, pb}, 2);
    ag_node *p = ag_call_n(ag_layer_multiply(m), (ag_node *[]){pa, pb, s}, 3);
    ag_node *c = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){s, d, p}, 3);
    ag_node *h = ag_call(ag_layer_dense(m, 4, AG_ACT_TANH, 1), c);
    ag_node *o = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1),
                         ag_call(ag_layer_global_average_pooling1d(m), h));
    ag_model_build(m, (ag_node *[]){a, b}, 2, &o, 1);
    return m;
}

static void test_gradcheck(void **state)
{
    (void)state;
    ag_model *m = merge_model(AG_FLOAT64, 5);
    ASSERT_MODEL_OK(m);
    ag_tensor *a = ids_tensor(2, 4, (int32_t[]){3, 5, 7, 0, 2, 4, 6, 8});
    ag_tensor *b = ids_tensor(2, 4, (int32_t[]){9, 3, 0, 0, 11, 2, 4, 0});
    ag_graph *g = ag_model_graph(m);
    AG_ASSERT_OK(g, ag_model_run(m, (const ag_tensor *[]){a, b}, NULL, 0));
    ag_gradcheck_report rep;
    AG_ASSERT_OK(g, ag_gradcheck(g, ag_model_output_node(m, 0), 9, &rep));
    if (rep.max_rel > 1e-6 || rep.n != ag_model_weights(m, -1, NULL, 0)) {
        ag_gradcheck_print(stderr, &rep, "merge");
        fail_msg("worst relative error %.3g over %d weights", rep.max_rel, rep.n);
    }
    print_message("merge layers, float64 gradient check: worst relative error %.2g\n", rep.max_rel);
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_model_free(m);
}

/* The configs: the base fields only, as Keras; a whole model round-trips
 * through its config and through a saved file, predictions identical. */
static void test_configs_and_save(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT32, 1);
    ag_layer *ls[3] = {ag_layer_add(m), ag_layer_subtract(m), ag_layer_multiply(m)};
    ag_model *m2 = ag_model_new(AG_FLOAT32, 2);
    for (int i = 0; i < 3; i++) {
        char *cfg = ag_layer_get_config(ls[i]);
        assert_non_null(cfg);
        ag_layer *copy = ag_layer_from_config(m2, ag_layer_class_name(ls[i]), cfg);
        if (!copy) fail_msg("%s: %s", cfg, ag_model_error(m2));
        char *cfg2 = ag_layer_get_config(copy);
        assert_string_equal(cfg, cfg2);
        free(cfg);
        free(cfg2);
    }
    char *c = ag_layer_get_config(ls[1]);
    assert_string_equal(c, "{\"name\":\"subtract\",\"trainable\":true,\"dtype\":\"float32\"}");
    free(c);
    ag_model_free(m);
    ag_model_free(m2);

    ag_model *a = merge_model(AG_FLOAT32, 8);
    ASSERT_MODEL_OK(a);
    char *cfg = ag_model_get_config(a);
    assert_non_null(cfg);
    ag_assert_msg_has(cfg, "\"class_name\":\"Multiply\"");
    ag_error err = {0};
    ag_model *b = ag_model_from_config(cfg, &err);
    if (!b) fail_msg("%s", err.msg);
    char *cfg2 = ag_model_get_config(b);
    assert_string_equal(cfg, cfg2);
    free(cfg);
    free(cfg2);
    char path[] = "/tmp/ag_merge_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ag_model_save(a, path, NULL, NULL, 0), AG_OK);
    ag_model *l = ag_model_load(path, &err);
    if (!l) fail_msg("%s", err.msg);
    remove(path);
    ag_tensor *x = ids_tensor(2, 3, (int32_t[]){1, 2, 0, 4, 5, 6});
    ag_tensor *y = ids_tensor(2, 3, (int32_t[]){7, 0, 0, 9, 10, 11});
    ag_tensor *pa[1], *pl[1];
    assert_int_equal(ag_model_predict(a, (const ag_tensor *[]){x, y}, 8, pa), AG_OK);
    assert_int_equal(ag_model_predict(l, (const ag_tensor *[]){x, y}, 8, pl), AG_OK);
    assert_memory_equal(pa[0]->data, pl[0]->data, 2 * sizeof(float));
    ag_tensor_free(pa[0]);
    ag_tensor_free(pl[0]);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_model_free(a);
    ag_model_free(b);
    ag_model_free(l);
}

static void test_errors(void **state)
{
    (void)state;
    ag_model *m = ag_model_new(AG_FLOAT32, 1);
    ag_node *x = ag_model_input(m, "x", AG_FLOAT32, 2, (int64_t[]){4, 3});
    ag_node *y = ag_model_input(m, "y", AG_FLOAT32, 2, (int64_t[]){5, 3});
    ag_node *ids = ag_model_input(m, "ids", AG_INT32, 1, (int64_t[]){-1});
    assert_null(ag_call_n(ag_layer_subtract(m), (ag_node *[]){x, x, x}, 3));
    ag_assert_msg_has(ag_model_error(m), "Subtract 'subtract' expects 2 inputs, received 3");
    ag_model_clear_error(m);
    assert_null(ag_call_n(ag_layer_add(m), (ag_node *[]){x, y}, 2));
    ag_assert_msg_has(ag_model_error(m), "Add 'add': Inputs have incompatible shapes. Received "
                                         "shapes (None, 4, 3) and (None, 5, 3)");
    ag_model_clear_error(m);
    assert_null(ag_call_n(ag_layer_multiply(m), (ag_node *[]){x, ids}, 2));
    ag_assert_msg_has(ag_model_error(m), "Multiply 'multiply': expected float inputs");
    ag_model_clear_error(m);
    assert_null(ag_call_n(ag_layer_add(m), NULL, 0));
    ag_assert_msg_has(ag_model_error(m), "expects a list of 1 to");
    assert_null(ag_layer_add(NULL));
    ag_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_broadcast),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_configs_and_save),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
