/* test_gradcheck.c — every built-in op's gradient against finite differences,
 * by walking the op registry: an op added to ops/registry.c is checked here
 * without any other change. */
#include "testutil.h"

#include <stdio.h>

static void test_every_builtin_op(void **state)
{
    (void)state;
    int n_ops = ag_builtin_op_count();
    assert_true(n_ops > 0);
    for (int i = 0; i < n_ops; i++) {
        const ag_op *op = ag_builtin_op(i);
        ag_gradcheck_report worst;
        ag_error err = {0};
        int n = 0;
        if (ag_gradcheck_op(op, 2, &worst, &n, &err)) fail_msg("%s", err.msg);
        assert_int_equal(n, 2 * op->n_samples);
        if (worst.max_rel > 1e-6 || worst.n == 0) {
            ag_gradcheck_print(stderr, &worst, op->name);
            fail_msg("%s: worst relative error %.3g", op->name, worst.max_rel);
        }
    }
}

/* The checker itself must catch a wrong gradient. */
static ag_status wrong_infer(const ag_op *op, const void *p, int n, const ag_shape *in,
                             ag_shape *out, ag_error *e)
{
    (void)op, (void)p, (void)n, (void)e;
    *out = in[0];
    return AG_OK;
}
static ag_status square_forward(ag_kernel_ctx *k)
{
    for (int64_t i = 0; i < k->out->size; i++)
        AG_F64(k->out)[i] = AG_F64(k->in[0])[i] * AG_F64(k->in[0])[i];
    return AG_OK;
}
static ag_status wrong_backward(ag_kernel_ctx *k)
{
    /* should be 2x·gz: deliberately 1.9x·gz */
    for (int64_t i = 0; i < k->out->size; i++)
        AG_F64(k->gin[0])[i] += 1.9 * AG_F64(k->in[0])[i] * AG_F64(k->gout)[i];
    return AG_OK;
}

static void test_checker_catches_wrong_gradient(void **state)
{
    (void)state;
    static const ag_op bad = {.name = "bad_square",
                              .infer = wrong_infer,
                              .forward = square_forward,
                              .backward = wrong_backward};
    ag_graph *g = ag_graph_new();
    ag_graph_set_float(g, AG_FLOAT64);
    int64_t shape[1] = {5};
    ag_node *x = ag_variable(g, "x", 1, shape);
    ag_fill_uniform(ag_value(x), 0.5, 1.5, 3, 0);
    ag_node *y = ag_apply(g, &bad, &x, 1, NULL, 0);
    ag_gradcheck_report rep;
    AG_ASSERT_OK(g, ag_gradcheck(g, y, 1, &rep));
    assert_true(rep.max_rel > 1e-2);
    ag_graph_free(g);
}

static void test_gradcheck_op_needs_a_sample(void **state)
{
    (void)state;
    static const ag_op bare = {.name = "bare", .infer = wrong_infer, .forward = square_forward};
    ag_gradcheck_report worst;
    ag_error err = {0};
    assert_int_equal(ag_gradcheck_op(&bare, 1, &worst, NULL, &err), AG_ERR_ARG);
    ag_assert_msg_has(err.msg, "op 'bare' has no sample graph");
    assert_int_equal(ag_gradcheck_op(ag_builtin_op(0), 0, &worst, NULL, &err), AG_ERR_ARG);
    ag_assert_msg_has(err.msg, "n_seeds must be >= 1, received 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_builtin_op),
        cmocka_unit_test(test_checker_catches_wrong_gradient),
        cmocka_unit_test(test_gradcheck_op_needs_a_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
