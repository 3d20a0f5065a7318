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
        assert_non_null(op->sample);
        for (int v = 0; v < op->n_samples; v++) {
            for (uint64_t seed = 1; seed <= 2; seed++) {
                ag_graph *g = ag_graph_new();
                ag_graph_set_float(g, AG_FLOAT64);
                ag_node *out = op->sample(g, v, seed);
                if (!out) fail_msg("%s sample %d: %s", op->name, v, ag_graph_error(g));
                ag_gradcheck_report rep;
                AG_ASSERT_OK(g, ag_gradcheck(g, out, seed, &rep));
                if (rep.max_rel > 1e-6 || rep.n == 0) {
                    ag_gradcheck_print(stderr, &rep, op->name);
                    fail_msg("%s sample %d seed %d: worst relative error %.3g", op->name, v,
                             (int)seed, rep.max_rel);
                }
                ag_graph_free(g);
            }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_builtin_op),
        cmocka_unit_test(test_checker_catches_wrong_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
