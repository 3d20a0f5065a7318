/* test_graph.c — the engine: unknown dims, feeding, errors as values, NULL
 * propagation, gradient accumulation, buffer reuse, tensors and Philox. */
#include "testutil.h"

/* A user op for these tests: z = x * y elementwise (same shapes). */
static ag_status mul_infer(const ag_op *op, const void *p, int n, const ag_shape *in, ag_shape *out,
                           ag_error *err)
{
    (void)op, (void)p, (void)n;
    if (in[0].rank != in[1].rank)
        return ag_error_set(err, AG_ERR_SHAPE, "ranks %d and %d differ", in[0].rank, in[1].rank);
    for (int d = 0; d < in[0].rank; d++)
        if (in[0].dim[d] >= 0 && in[1].dim[d] >= 0 && in[0].dim[d] != in[1].dim[d])
            return ag_error_set(err, AG_ERR_SHAPE, "dim %d: %lld vs %lld", d,
                                (long long)in[0].dim[d], (long long)in[1].dim[d]);
    *out = in[0];
    return AG_OK;
}
static ag_status mul_forward(ag_kernel_ctx *k)
{
    for (int64_t i = 0; i < k->out->size; i++)
        ag_tensor_set(k->out, i, ag_tensor_get(k->in[0], i) * ag_tensor_get(k->in[1], i));
    return AG_OK;
}
static ag_status mul_backward(ag_kernel_ctx *k)
{
    for (int j = 0; j < 2; j++)
        if (k->gin[j])
            for (int64_t i = 0; i < k->out->size; i++)
                ag_tensor_set(k->gin[j], i,
                              ag_tensor_get(k->gin[j], i) +
                                  ag_tensor_get(k->gout, i) * ag_tensor_get(k->in[1 - j], i));
    return AG_OK;
}
static const ag_op test_mul = {
    .name = "test_mul", .infer = mul_infer, .forward = mul_forward, .backward = mul_backward};

static ag_node *mul(ag_graph *g, ag_node *x, ag_node *y)
{
    ag_node *in[2] = {x, y};
    return ag_apply(g, &test_mul, in, 2, NULL, 0);
}

static void test_unknown_dims_resolve_at_run_time(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_input(g, "x", AG_FLOAT32, 2, (int64_t[]){-1, 3});
    ag_node *y = ag_tanh(g, x);
    assert_int_equal(ag_node_shape(y)->dim[0], -1);
    assert_int_equal(ag_node_shape(y)->dim[1], 3);
    for (int64_t b = 1; b <= 4; b += 3) {
        ag_tensor *t = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){b, 3}, NULL);
        AG_F32(t)[0] = 0.5f;
        AG_ASSERT_OK(g, ag_feed(g, x, t));
        AG_ASSERT_OK(g, ag_forward(g, &y, 1));
        assert_int_equal(ag_value(y)->shape[0], b);
        AG_ASSERT_NEAR(AG_F32(ag_value(y))[0], tanh(0.5), 1e-6);
        ag_tensor_free(t);
    }
    ag_graph_free(g);
}

static void test_feed_errors_name_expected_and_received(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_input(g, "tokens", AG_INT32, 2, (int64_t[]){-1, 5});
    ag_tensor *f = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){2, 5}, NULL);
    assert_int_equal(ag_feed(g, x, f), AG_ERR_DTYPE);
    ag_assert_msg_has(ag_graph_error(g), "expects int32, received float32");
    ag_tensor *w = ag_tensor_new(AG_INT32, 2, (int64_t[]){2, 6}, NULL);
    assert_int_equal(ag_feed(g, x, w), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "expects shape (None, 5), received (2, 6)");
    ag_tensor *big = ag_tensor_new(AG_INT64, 2, (int64_t[]){1, 5}, NULL);
    AG_I64(big)[3] = (int64_t)1 << 40;
    assert_int_equal(ag_feed(g, x, big), AG_ERR_RANGE);
    ag_assert_msg_has(ag_graph_error(g), "does not fit in int32");
    ag_tensor_free(f);
    ag_tensor_free(w);
    ag_tensor_free(big);
    ag_graph_free(g);
}

static void test_run_time_shape_mismatch_fails_at_run(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *a = ag_input(g, "a", AG_FLOAT32, 1, (int64_t[]){-1});
    ag_node *b = ag_input(g, "b", AG_FLOAT32, 1, (int64_t[]){-1});
    ag_node *c = mul(g, a, b);
    assert_non_null(c); /* unknown dims: accepted at build time */
    ag_tensor *t2 = ag_tensor_new(AG_FLOAT32, 1, (int64_t[]){2}, NULL);
    ag_tensor *t3 = ag_tensor_new(AG_FLOAT32, 1, (int64_t[]){3}, NULL);
    AG_ASSERT_OK(g, ag_feed(g, a, t2));
    AG_ASSERT_OK(g, ag_feed(g, b, t3));
    assert_int_equal(ag_forward(g, &c, 1), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "test_mul: dim 0: 2 vs 3");
    /* known dims fail at build time */
    ag_node *k2 = ag_input(g, "k2", AG_FLOAT32, 1, (int64_t[]){2});
    ag_node *k3 = ag_input(g, "k3", AG_FLOAT32, 1, (int64_t[]){3});
    assert_null(mul(g, k2, k3));
    ag_tensor_free(t2);
    ag_tensor_free(t3);
    ag_graph_free(g);
}

static void test_null_propagation_keeps_first_message(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *bad = ag_input(g, "x", AG_FLOAT32, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1});
    assert_null(bad);
    ag_node *y = ag_exp(g, ag_tanh(g, bad));
    assert_null(y);
    ag_assert_msg_has(ag_graph_error(g), "input: rank must be 0 to 6, received 9");
    assert_int_equal(ag_forward(g, &y, 1), AG_ERR_ARG);
    assert_int_equal(ag_backward(g, y, NULL), AG_ERR_ARG);
    /* NULL graph: nothing crashes */
    assert_null(ag_tanh(NULL, NULL));
    assert_null(ag_input(NULL, "x", AG_FLOAT32, 0, NULL));
    assert_int_equal(ag_forward(NULL, NULL, 0), AG_ERR_ARG);
    ag_graph_free(g);
}

static void test_node_used_twice_gets_both_contributions(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *x = ag_variable(g, "x", 1, (int64_t[]){3});
    double xv[3] = {1.5, -2.0, 0.25};
    for (int i = 0; i < 3; i++)
        AG_F64(ag_value(x))[i] = xv[i];
    ag_node *y = mul(g, x, x); /* y = x², dy/dx = 2x */
    AG_ASSERT_OK(g, ag_forward(g, &y, 1));
    AG_ASSERT_OK(g, ag_backward(g, y, NULL));
    for (int i = 0; i < 3; i++)
        AG_ASSERT_NEAR(AG_F64(ag_grad(x))[i], 2 * xv[i], 1e-15);
    /* gradients are recomputed, not summed across calls */
    AG_ASSERT_OK(g, ag_forward(g, &y, 1));
    AG_ASSERT_OK(g, ag_backward(g, y, NULL));
    AG_ASSERT_NEAR(AG_F64(ag_grad(x))[0], 3.0, 1e-15);
    ag_graph_free(g);
}

static void test_input_gradients_on_request(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_input(g, "x", AG_FLOAT32, 1, (int64_t[]){2});
    ag_node *w = ag_variable(g, "w", 1, (int64_t[]){2});
    ag_node *y = mul(g, x, w);
    ag_tensor *t = ag_tensor_new(AG_FLOAT32, 1, (int64_t[]){2}, NULL);
    AG_F32(t)[0] = 3, AG_F32(t)[1] = 4;
    AG_F32(ag_value(w))[0] = 5, AG_F32(ag_value(w))[1] = 6;
    AG_ASSERT_OK(g, ag_feed(g, x, t));
    assert_int_equal(ag_backward(g, y, NULL), AG_ERR_STATE); /* no forward yet */
    AG_ASSERT_OK(g, ag_forward(g, &y, 1));
    ag_tensor *go = ag_tensor_new(AG_FLOAT32, 1, (int64_t[]){3}, NULL);
    assert_int_equal(ag_backward(g, y, go), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "grad_out has shape (3,), expected (2,)");
    AG_ASSERT_OK(g, ag_backward(g, y, NULL));
    assert_null(ag_grad(x));
    AG_ASSERT_NEAR(AG_F32(ag_grad(w))[1], 4, 0);
    ag_set_requires_grad(x, 1);
    AG_ASSERT_OK(g, ag_forward(g, &y, 1));
    AG_ASSERT_OK(g, ag_backward(g, y, NULL));
    assert_non_null(ag_grad(x));
    AG_ASSERT_NEAR(AG_F32(ag_grad(x))[0], 5, 0);
    ag_tensor_free(t);
    ag_tensor_free(go);
    ag_graph_free(g);
}

static void test_buffers_are_reused(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_input(g, "x", AG_FLOAT32, 2, (int64_t[]){-1, 8});
    ag_node *w = ag_variable(g, "w", 2, (int64_t[]){1, 8});
    (void)w;
    ag_node *y = ag_sigmoid(g, ag_tanh(g, x));
    ag_set_requires_grad(x, 1);
    ag_tensor *big = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){16, 8}, NULL);
    ag_tensor *small = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){4, 8}, NULL);
    AG_ASSERT_OK(g, ag_feed(g, x, big));
    AG_ASSERT_OK(g, ag_forward(g, &y, 1));
    AG_ASSERT_OK(g, ag_backward(g, y, NULL));
    uint64_t after_first = ag_graph_alloc_count(g);
    assert_true(after_first > 0);
    for (int step = 0; step < 3; step++) {
        AG_ASSERT_OK(g, ag_feed(g, x, step == 1 ? small : big));
        AG_ASSERT_OK(g, ag_forward(g, &y, 1));
        AG_ASSERT_OK(g, ag_backward(g, y, NULL));
    }
    assert_int_equal(ag_graph_alloc_count(g), after_first);
    ag_tensor_free(big);
    ag_tensor_free(small);
    ag_graph_free(g);
}

static void test_assign_and_constant(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    ag_node *v = ag_variable(g, "v", 1, (int64_t[]){2});
    ag_tensor *t = ag_tensor_new(AG_FLOAT64, 1, (int64_t[]){3}, NULL);
    assert_int_equal(ag_assign(g, v, t), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g),
                      "variable 'v' has shape (2,) float32, received (3,) float64");
    ag_node *c = ag_scalar(g, 2.5);
    assert_int_equal(ag_value(c)->dtype, AG_FLOAT32);
    AG_ASSERT_NEAR(AG_F32(ag_value(c))[0], 2.5, 0);
    assert_true(ag_is_trainable(v));
    assert_false(ag_is_trainable(c));
    ag_tensor_free(t);
    ag_graph_free(g);
}

static void test_tensor_errors(void **state)
{
    (void)state;
    ag_error e = {0};
    assert_null(ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){3, -1}, &e));
    assert_int_equal(e.code, AG_ERR_SHAPE);
    ag_assert_msg_has(e.msg, "dimension 1 must be known (>= 0), received -1");
    assert_null(ag_tensor_new(AG_FLOAT32, 7, (int64_t[]){1, 1, 1, 1, 1, 1, 1}, &e));
    assert_int_equal(e.code, AG_ERR_ARG);
    ag_tensor *t = ag_tensor_from(AG_FLOAT64, 1, (int64_t[]){2}, (double[]){1.5, -2.5}, &e);
    ag_tensor *i = ag_tensor_cast(t, AG_INT32, &e);
    assert_int_equal(AG_I32(i)[1], -2);
    char buf[64];
    assert_string_equal(ag_shape_str(2, (int64_t[]){-1, 4}, buf, sizeof buf), "(None, 4)");
    assert_string_equal(ag_shape_str(0, NULL, buf, sizeof buf), "()");
    ag_tensor_free(t);
    ag_tensor_free(i);
}

/* Known-answer vectors from Random123's kat_vectors for philox4x32_10. */
static void test_philox_known_answers(void **state)
{
    (void)state;
    uint32_t r[4];
    ag_philox4x32(0, 0, 0, r);
    assert_int_equal(r[0], 0x6627e8d5u);
    assert_int_equal(r[1], 0xe169c58du);
    assert_int_equal(r[2], 0xbc57ac4cu);
    assert_int_equal(r[3], 0x9b00dbd8u);
    ag_philox4x32(UINT64_MAX, UINT64_MAX, UINT64_MAX, r);
    assert_int_equal(r[0], 0x408f276du);
    assert_int_equal(r[1], 0x41c83b0eu);
    assert_int_equal(r[2], 0xa20bc7c6u);
    assert_int_equal(r[3], 0x6d5451fdu);
    ag_philox4x32(0x299f31d0a4093822ULL, 0x0370734413198a2eULL, 0x85a308d3243f6a88ULL, r);
    assert_int_equal(r[0], 0xd16cfe09u);
    assert_int_equal(r[1], 0x94fdccebu);
    assert_int_equal(r[2], 0x5001e420u);
    assert_int_equal(r[3], 0x24126ea1u);
}

static void test_rng_helpers(void **state)
{
    (void)state;
    ag_rng r;
    ag_rng_init(&r, 42, 0);
    double mean = 0;
    for (int i = 0; i < 10000; i++)
        mean += ag_rng_uniform(&r);
    AG_ASSERT_NEAR(mean / 10000, 0.5, 0.02);
    int64_t idx[50], seen[50] = {0};
    for (int i = 0; i < 50; i++)
        idx[i] = i;
    ag_rng_shuffle(&r, idx, 50);
    for (int i = 0; i < 50; i++)
        seen[idx[i]]++;
    for (int i = 0; i < 50; i++)
        assert_int_equal(seen[i], 1);
    for (int i = 0; i < 1000; i++)
        assert_true(ag_rng_below(&r, 7) < 7);
    /* same (seed, stream, index), same number */
    assert_true(ag_rand_uniform(9, 1, 123) == ag_rand_uniform(9, 1, 123));
    assert_true(ag_rand_uniform(9, 1, 123) != ag_rand_uniform(9, 2, 123));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_dims_resolve_at_run_time),
        cmocka_unit_test(test_feed_errors_name_expected_and_received),
        cmocka_unit_test(test_run_time_shape_mismatch_fails_at_run),
        cmocka_unit_test(test_null_propagation_keeps_first_message),
        cmocka_unit_test(test_node_used_twice_gets_both_contributions),
        cmocka_unit_test(test_input_gradients_on_request),
        cmocka_unit_test(test_buffers_are_reused),
        cmocka_unit_test(test_assign_and_constant),
        cmocka_unit_test(test_tensor_errors),
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_rng_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
