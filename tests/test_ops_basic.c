/* test_ops_basic.c — the basic ops on hand-computed cases, in float32 and
 * float64: binary ops with broadcasting (and their summed gradients), scalar
 * ops, sum and mean (and masked_mean against its composition), reshape, transpose, expand_dims,
 * concat, slice, where, masked_fill and cast_float; shapes unknown at build time and learned at run
 * time; and the error paths, at build time and at run time. */
#include "testutil.h"

#include <omp.h>

static const ag_dtype floats[2] = {AG_FLOAT32, AG_FLOAT64};

static double tol_of(ag_dtype dt) { return dt == AG_FLOAT32 ? 2e-6 : 1e-14; }

/* A constant of dtype dt holding v. */
static ag_node *constant(ag_graph *g, ag_dtype dt, int rank, const int64_t *shape, const double *v)
{
    ag_tensor *t = ag_test_tensor(dt, rank, shape, v);
    assert_non_null(t);
    ag_node *n = ag_constant(g, t);
    ag_tensor_free(t);
    assert_non_null(n);
    return n;
}

/* t has the shape and the values, within tol (relative above 1). */
static void expect(const char *what, const ag_tensor *t, int rank, const int64_t *shape,
                   const double *v, double tol)
{
    if (!t) fail_msg("%s: no tensor", what);
    char a[96], b[96];
    int ok = t->rank == rank;
    for (int i = 0; ok && i < rank; i++)
        ok = t->shape[i] == shape[i];
    if (!ok)
        fail_msg("%s: shape %s, expected %s", what, ag_shape_str(t->rank, t->shape, a, sizeof a),
                 ag_shape_str(rank, shape, b, sizeof b));
    for (int64_t i = 0; i < t->size; i++)
        if (!(fabs(ag_tensor_get(t, i) - v[i]) <= tol * fmax(1, fabs(v[i]))))
            fail_msg("%s: element %lld is %.17g, expected %.17g", what, (long long)i,
                     ag_tensor_get(t, i), v[i]);
}

/* Forward z, then backward with grad_out (NULL: ones). */
static void run(ag_graph *g, ag_node *z, const ag_tensor *grad_out)
{
    if (!z) fail_msg("build: %s", ag_graph_error(g));
    AG_ASSERT_OK(g, ag_forward(g, &z, 1));
    AG_ASSERT_OK(g, ag_backward(g, z, grad_out));
}

#define S(...) ((const int64_t[]){__VA_ARGS__})
#define V(...) ((const double[]){__VA_ARGS__})

/* ---- binary ops ---- */

static void test_add_broadcast_bias(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        ag_graph *g = ag_test_graph(floats[f]);
        double tol = tol_of(floats[f]);
        ag_node *x = ag_test_var(g, "x", 2, S(2, 3), V(1, 2, 3, 4, 5, 6));
        ag_node *y = ag_test_var(g, "y", 1, S(3), V(10, 20, 30));
        ag_node *z = ag_add(g, x, y);
        run(g, z, NULL);
        assert_int_equal(ag_value(z)->dtype, floats[f]);
        expect("add z", ag_value(z), 2, S(2, 3), V(11, 22, 33, 14, 25, 36), tol);
        expect("add gx", ag_grad(x), 2, S(2, 3), V(1, 1, 1, 1, 1, 1), tol);
        expect("add gy", ag_grad(y), 1, S(3), V(2, 2, 2), tol);
        ag_graph_free(g);
    }
}

/* x (2,1) against y (3,): both broadcast, z (2,3). */
static void test_sub_mul_div_outer(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_node *(*ops[3])(ag_graph *, ag_node *, ag_node *) = {ag_sub, ag_mul, ag_div};
        const double z_want[3][6] = {
            {0, -1, -3, 1, 0, -2}, {1, 2, 4, 2, 4, 8}, {1, 0.5, 0.25, 2, 1, 0.5}};
        /* sub: gx = Σ_j 1, gy = -Σ_i 1; mul: gx = Σ_j y, gy = Σ_i x;
         * div: gx = Σ_j 1/y, gy = -Σ_i x / y² */
        const double gx_want[3][2] = {{3, 3}, {7, 7}, {1.75, 1.75}};
        const double gy_want[3][3] = {{-2, -2, -2}, {3, 3, 3}, {-3, -0.75, -0.1875}};
        for (int o = 0; o < 3; o++) {
            ag_graph *g = ag_test_graph(floats[f]);
            ag_node *x = ag_test_var(g, "x", 2, S(2, 1), V(1, 2));
            ag_node *y = ag_test_var(g, "y", 1, S(3), V(1, 2, 4));
            ag_node *z = ops[o](g, x, y);
            run(g, z, NULL);
            expect("z", ag_value(z), 2, S(2, 3), z_want[o], tol);
            expect("gx", ag_grad(x), 2, S(2, 1), gx_want[o], tol);
            expect("gy", ag_grad(y), 1, S(3), gy_want[o], tol);
            ag_graph_free(g);
        }
    }
}

/* () with (2,2), and (2,1,2) with (3,1) -> (2,3,2). */
static void test_broadcast_scalar_and_middle_axes(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *s = ag_test_var(g, "s", 0, NULL, V(5));
        ag_node *y = ag_test_var(g, "y", 2, S(2, 2), V(1, 2, 3, 4));
        ag_node *z = ag_add(g, s, y);
        run(g, z, NULL);
        expect("z", ag_value(z), 2, S(2, 2), V(6, 7, 8, 9), tol);
        expect("gs", ag_grad(s), 0, NULL, V(4), tol);
        expect("gy", ag_grad(y), 2, S(2, 2), V(1, 1, 1, 1), tol);
        ag_graph_free(g);

        g = ag_test_graph(floats[f]);
        ag_node *x = ag_test_var(g, "x", 3, S(2, 1, 2), V(1, 2, 3, 4));
        y = ag_test_var(g, "y", 2, S(3, 1), V(1, 2, 3));
        z = ag_mul(g, x, y);
        run(g, z, NULL);
        expect("z", ag_value(z), 3, S(2, 3, 2), V(1, 2, 2, 4, 3, 6, 3, 4, 6, 8, 9, 12), tol);
        expect("gx", ag_grad(x), 3, S(2, 1, 2), V(6, 6, 6, 6), tol);
        expect("gy", ag_grad(y), 2, S(3, 1), V(10, 10, 10), tol);
        ag_graph_free(g);
    }
}

/* A node used as both operands gets both contributions. */
static void test_same_node_twice(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *x = ag_test_var(g, "x", 1, S(2), V(3, -1));
        ag_node *z = ag_add(g, ag_mul(g, x, x), x); /* x² + x; gx = 2x + 1 */
        run(g, z, NULL);
        expect("z", ag_value(z), 1, S(2), V(12, 0), tol);
        expect("gx", ag_grad(x), 1, S(2), V(7, -1), tol);
        ag_graph_free(g);
    }
}

/* A broadcast gradient large enough to run on every thread: y (F) added to
 * x (B,T,F) gets Σ over B·T rows. */
static void test_large_bias_gradient(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        ag_graph *g = ag_test_graph(floats[f]);
        int64_t xs[3] = {16, 64, 100}, ys[1] = {100};
        ag_node *x = ag_variable(g, "x", 3, xs), *y = ag_variable(g, "y", 1, ys);
        ag_tensor *xv = ag_value(x);
        for (int64_t i = 0; i < xv->size; i++)
            ag_tensor_set(xv, i, (double)(i % 7));
        ag_node *z = ag_mul(g, x, y);
        run(g, z, NULL);
        /* gy[c] = Σ_rows x[row, c] */
        for (int64_t c = 0; c < 100; c++) {
            double want = 0;
            for (int64_t r = 0; r < 16 * 64; r++)
                want += (double)((r * 100 + c) % 7);
            AG_ASSERT_NEAR(ag_tensor_get(ag_grad(y), c), want, 1e-9);
        }
        ag_graph_free(g);
    }
}

/* ---- scalar ops ---- */

static void test_scalar_ops(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *x = ag_test_var(g, "x", 1, S(3), V(1, 2, -1));
        ag_node *a = ag_add_scalar(g, x, 2), *m = ag_mul_scalar(g, x, -3),
                *p = ag_pow_scalar(g, x, 3);
        run(g, a, NULL);
        expect("add_scalar", ag_value(a), 1, S(3), V(3, 4, 1), tol);
        expect("add_scalar gx", ag_grad(x), 1, S(3), V(1, 1, 1), tol);
        run(g, m, NULL);
        expect("mul_scalar", ag_value(m), 1, S(3), V(-3, -6, 3), tol);
        expect("mul_scalar gx", ag_grad(x), 1, S(3), V(-3, -3, -3), tol);
        run(g, p, NULL);
        expect("pow 3", ag_value(p), 1, S(3), V(1, 8, -1), tol);
        expect("pow 3 gx", ag_grad(x), 1, S(3), V(3, 12, 3), tol);
        ag_graph_free(g);

        g = ag_test_graph(floats[f]);
        x = ag_test_var(g, "x", 1, S(2), V(4, 9));
        p = ag_pow_scalar(g, x, 0.5);
        run(g, p, NULL);
        expect("pow 0.5", ag_value(p), 1, S(2), V(2, 3), tol);
        expect("pow 0.5 gx", ag_grad(x), 1, S(2), V(0.25, 1.0 / 6), tol);
        p = ag_pow_scalar(g, x, 0);
        run(g, p, NULL);
        expect("pow 0", ag_value(p), 1, S(2), V(1, 1), tol);
        expect("pow 0 gx", ag_grad(x), 1, S(2), V(0, 0), tol);
        p = ag_pow_scalar(g, x, 2);
        run(g, p, NULL);
        expect("pow 2", ag_value(p), 1, S(2), V(16, 81), tol);
        expect("pow 2 gx", ag_grad(x), 1, S(2), V(8, 18), tol);
        ag_graph_free(g);
    }
}

/* ---- reductions ---- */

static void test_sum_mean(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *x = ag_test_var(g, "x", 2, S(2, 3), V(1, 2, 3, 4, 5, 6));
        const int ax0[1] = {0}, axm1[1] = {-1}, ax1[1] = {1}, both[2] = {1, 0};

        ag_node *z = ag_sum(g, x, NULL, 0, 0);
        run(g, z, NULL);
        expect("sum all", ag_value(z), 0, NULL, V(21), tol);
        expect("sum all gx", ag_grad(x), 2, S(2, 3), V(1, 1, 1, 1, 1, 1), tol);

        z = ag_sum(g, x, ax0, 1, 0);
        run(g, z, NULL);
        expect("sum 0", ag_value(z), 1, S(3), V(5, 7, 9), tol);

        z = ag_sum(g, x, axm1, 1, 1);
        ag_tensor *go = ag_test_tensor(floats[f], 2, S(2, 1), V(1, -2));
        run(g, z, go);
        ag_tensor_free(go);
        expect("sum -1 keepdims", ag_value(z), 2, S(2, 1), V(6, 15), tol);
        expect("sum -1 gx", ag_grad(x), 2, S(2, 3), V(1, 1, 1, -2, -2, -2), tol);

        z = ag_mean(g, x, ax1, 1, 0);
        go = ag_test_tensor(floats[f], 1, S(2), V(1, 2));
        run(g, z, go);
        ag_tensor_free(go);
        expect("mean 1", ag_value(z), 1, S(2), V(2, 5), tol);
        expect("mean 1 gx", ag_grad(x), 2, S(2, 3),
               V(1.0 / 3, 1.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3, 2.0 / 3), tol);

        z = ag_mean(g, x, both, 2, 1);
        run(g, z, NULL);
        expect("mean (1,0) keepdims", ag_value(z), 2, S(1, 1), V(3.5), tol);
        expect("mean gx", ag_grad(x), 2, S(2, 3),
               V(1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6), tol);
        ag_graph_free(g);

        /* (2,3,2) over axes 0 and 2 */
        g = ag_test_graph(floats[f]);
        x = ag_test_var(g, "x", 3, S(2, 3, 2), V(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
        const int ax02[2] = {0, 2};
        z = ag_sum(g, x, ax02, 2, 0);
        go = ag_test_tensor(floats[f], 1, S(3), V(1, 2, 3));
        run(g, z, go);
        ag_tensor_free(go);
        expect("sum (0,2)", ag_value(z), 1, S(3), V(18, 26, 34), tol);
        expect("sum (0,2) gx", ag_grad(x), 3, S(2, 3, 2), V(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3),
               tol);
        z = ag_mean(g, x, ax02, 2, 1);
        run(g, z, NULL);
        expect("mean (0,2) keepdims", ag_value(z), 3, S(1, 3, 1), V(4.5, 6.5, 8.5), tol);
        ag_graph_free(g);
    }
}

/* masked_mean is sum(x·m[..., None], 1) / sum(m, 1, keepdims) bit for bit,
 * value and gradient, over 70 channels (two column blocks), with a row
 * whose every step is masked (NaN in both). */
static ag_tensor *masked_mean_grad(ag_dtype dt, int fused, ag_tensor **z)
{
    const int64_t b = 3, t = 5, c = 70;
    ag_graph *g = ag_test_graph(dt);
    ag_node *x = ag_variable(g, "x", 3, S(b, t, c));
    assert_non_null(x);
    ag_fill_uniform(ag_value(x), -2, 2, 11, 1);
    ag_tensor *mv = ag_tensor_new(dt, 2, S(b, t), NULL);
    for (int64_t i = 0; i < b * t; i++)
        ag_tensor_set(mv, i, i / t == 2 ? 0 : (i * 7 % 3 != 0));
    ag_node *m = ag_constant(g, mv);
    ag_tensor_free(mv);
    const int time[1] = {1};
    ag_node *out = fused ? ag_masked_mean(g, x, m)
                         : ag_div(g, ag_sum(g, ag_mul(g, x, ag_expand_dims(g, m, -1)), time, 1, 0),
                                  ag_sum(g, m, time, 1, 1));
    ag_tensor *go = ag_tensor_new(dt, 2, S(b, c), NULL);
    ag_fill_uniform(go, -1, 1, 12, 2);
    run(g, out, go);
    ag_tensor_free(go);
    *z = ag_tensor_copy(ag_value(out), NULL);
    ag_tensor *gx = ag_tensor_copy(ag_grad(x), NULL);
    ag_graph_free(g);
    return gx;
}

static void test_masked_mean_is_the_composition(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        ag_tensor *z0, *z1, *g0 = masked_mean_grad(floats[f], 0, &z0),
                            *g1 = masked_mean_grad(floats[f], 1, &z1);
        assert_int_equal(z0->size, z1->size);
        assert_true(isnan(ag_tensor_get(z1, 2 * 70)));
        assert_memory_equal(z0->data, z1->data, (size_t)z0->size * ag_dtype_size(floats[f]));
        assert_memory_equal(g0->data, g1->data, (size_t)g0->size * ag_dtype_size(floats[f]));
        ag_tensor_free(z0);
        ag_tensor_free(z1);
        ag_tensor_free(g0);
        ag_tensor_free(g1);
    }
}

/* ---- shape ops ---- */

static void test_transpose(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *x = ag_test_var(g, "x", 2, S(2, 3), V(1, 2, 3, 4, 5, 6));
        const int p10[2] = {1, 0};
        ag_node *z = ag_transpose(g, x, p10);
        ag_tensor *go = ag_test_tensor(floats[f], 2, S(3, 2), V(1, 2, 3, 4, 5, 6));
        run(g, z, go);
        ag_tensor_free(go);
        expect("transpose", ag_value(z), 2, S(3, 2), V(1, 4, 2, 5, 3, 6), tol);
        expect("transpose gx", ag_grad(x), 2, S(2, 3), V(1, 3, 5, 2, 4, 6), tol);
        ag_graph_free(g);

        /* (2,3,4) by (2,0,1): z[k,i,j] = x[i,j,k] */
        g = ag_test_graph(floats[f]);
        double v[24];
        for (int i = 0; i < 24; i++)
            v[i] = i;
        x = ag_test_var(g, "x", 3, S(2, 3, 4), v);
        const int p201[3] = {2, 0, -2}; /* -2 is axis 1 */
        z = ag_transpose(g, x, p201);
        run(g, z, NULL);
        const ag_tensor *t = ag_value(z);
        assert_int_equal(t->rank, 3);
        assert_int_equal(t->shape[0], 4);
        assert_int_equal(t->shape[1], 2);
        assert_int_equal(t->shape[2], 3);
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++)
                    AG_ASSERT_NEAR(ag_tensor_get(t, (k * 2 + i) * 3 + j), i * 12 + j * 4 + k, 0);
        expect("transpose3 gx", ag_grad(x), 3, S(2, 3, 4),
               V(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), tol);
        ag_graph_free(g);
    }
}

static void test_reshape_expand_dims(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        double v[12];
        for (int i = 0; i < 12; i++)
            v[i] = i + 1;
        ag_node *x = ag_test_var(g, "x", 3, S(2, 3, 2), v);
        ag_node *z = ag_reshape(g, x, 2, S(0, -1)); /* (2, 6) */
        assert_int_equal(ag_node_shape(z)->dim[1], 6);
        ag_tensor *go = ag_test_tensor(floats[f], 2, S(2, 6), v);
        run(g, z, go);
        ag_tensor_free(go);
        expect("reshape (0,-1)", ag_value(z), 2, S(2, 6), v, tol);
        expect("reshape gx", ag_grad(x), 3, S(2, 3, 2), v, tol);
        z = ag_reshape(g, x, 1, S(-1));
        run(g, z, NULL);
        expect("reshape (-1,)", ag_value(z), 1, S(12), v, tol);
        z = ag_reshape(g, x, 4, S(3, 1, 2, 2));
        run(g, z, NULL);
        expect("reshape (3,1,2,2)", ag_value(z), 4, S(3, 1, 2, 2), v, tol);

        ag_node *e = ag_expand_dims(g, x, -1);
        run(g, e, NULL);
        expect("expand_dims -1", ag_value(e), 4, S(2, 3, 2, 1), v, tol);
        expect("expand_dims gx", ag_grad(x), 3, S(2, 3, 2), V(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
               tol);
        e = ag_expand_dims(g, x, 0);
        run(g, e, NULL);
        expect("expand_dims 0", ag_value(e), 4, S(1, 2, 3, 2), v, tol);
        e = ag_expand_dims(g, x, 3); /* == rank: last */
        assert_non_null(e);
        assert_int_equal(ag_node_shape(e)->dim[3], 1);
        e = ag_expand_dims(g, x, -4); /* == -rank-1: first */
        assert_non_null(e);
        assert_int_equal(ag_node_shape(e)->dim[0], 1);
        ag_graph_free(g);
    }
}

static void test_concat_slice(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *a = ag_test_var(g, "a", 2, S(2, 1), V(1, 2));
        ag_node *b = ag_test_var(g, "b", 2, S(2, 2), V(3, 4, 5, 6));
        ag_node *ab[2] = {a, b};
        ag_node *z = ag_concat(g, ab, 2, 1);
        ag_tensor *go = ag_test_tensor(floats[f], 2, S(2, 3), V(1, 2, 3, 4, 5, 6));
        run(g, z, go);
        ag_tensor_free(go);
        expect("concat 1", ag_value(z), 2, S(2, 3), V(1, 3, 4, 2, 5, 6), tol);
        expect("concat ga", ag_grad(a), 2, S(2, 1), V(1, 4), tol);
        expect("concat gb", ag_grad(b), 2, S(2, 2), V(2, 3, 5, 6), tol);

        ag_node *c = ag_test_var(g, "c", 2, S(1, 2), V(7, 8));
        ag_node *cb[3] = {c, b, c}; /* c twice: both contributions */
        z = ag_concat(g, cb, 3, -2);
        run(g, z, NULL);
        expect("concat 0", ag_value(z), 2, S(4, 2), V(7, 8, 3, 4, 5, 6, 7, 8), tol);
        expect("concat gc", ag_grad(c), 2, S(1, 2), V(2, 2), tol);
        ag_graph_free(g);

        g = ag_test_graph(floats[f]);
        double v[12];
        for (int i = 0; i < 12; i++)
            v[i] = i;
        ag_node *x = ag_test_var(g, "x", 2, S(3, 4), v);
        z = ag_slice(g, x, 1, 1, 2);
        run(g, z, NULL);
        expect("slice 1", ag_value(z), 2, S(3, 2), V(1, 2, 5, 6, 9, 10), tol);
        expect("slice gx", ag_grad(x), 2, S(3, 4), V(0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0), tol);
        z = ag_slice(g, x, -2, 2, 1);
        run(g, z, NULL);
        expect("slice -2", ag_value(z), 2, S(1, 4), V(8, 9, 10, 11), tol);
        expect("slice -2 gx", ag_grad(x), 2, S(3, 4), V(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1), tol);
        z = ag_slice(g, x, 0, 3, 0); /* empty, at the end */
        run(g, z, NULL);
        assert_int_equal(ag_value(z)->size, 0);
        ag_graph_free(g);
    }
}

/* Shape ops move masks and ids too. */
static void test_shape_ops_on_bool_and_int(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    ag_node *m = constant(g, AG_BOOL, 2, S(2, 3), V(1, 0, 0, 1, 1, 0));
    ag_node *ids = constant(g, AG_INT32, 1, S(3), V(7, 8, 9));
    const int p10[2] = {1, 0};
    ag_node *t = ag_transpose(g, m, p10), *s = ag_slice(g, ids, 0, 1, 2);
    ag_node *two[2] = {ids, ids};
    ag_node *c = ag_concat(g, two, 2, 0), *r = ag_reshape(g, m, 1, S(-1));
    ag_node *outs[4] = {t, s, c, r};
    AG_ASSERT_OK(g, ag_forward(g, outs, 4));
    assert_int_equal(ag_value(t)->dtype, AG_BOOL);
    expect("bool transpose", ag_value(t), 2, S(3, 2), V(1, 1, 0, 1, 0, 0), 0);
    assert_int_equal(ag_value(s)->dtype, AG_INT32);
    expect("int slice", ag_value(s), 1, S(2), V(8, 9), 0);
    expect("int concat", ag_value(c), 1, S(6), V(7, 8, 9, 7, 8, 9), 0);
    expect("bool reshape", ag_value(r), 1, S(6), V(1, 0, 0, 1, 1, 0), 0);
    ag_graph_free(g);
}

/* ---- where, masked_fill, cast_float ---- */

static void test_where(void **state)
{
    (void)state;
    const ag_dtype conds[3] = {AG_BOOL, AG_INT32, AG_FLOAT32};
    for (int f = 0; f < 2; f++)
        for (int c = 0; c < 3; c++) {
            double tol = tol_of(floats[f]);
            ag_graph *g = ag_test_graph(floats[f]);
            ag_node *cond = constant(g, conds[c], 2, S(2, 2), V(1, 0, 0, 1));
            ag_node *x = ag_test_var(g, "x", 2, S(2, 2), V(1, 2, 3, 4));
            ag_node *y = ag_test_var(g, "y", 1, S(2), V(10, 20));
            ag_node *z = ag_where(g, cond, x, y);
            ag_tensor *go = ag_test_tensor(floats[f], 2, S(2, 2), V(1, 2, 3, 4));
            run(g, z, go);
            ag_tensor_free(go);
            expect("where", ag_value(z), 2, S(2, 2), V(1, 20, 10, 4), tol);
            expect("where gx", ag_grad(x), 2, S(2, 2), V(1, 0, 0, 4), tol);
            expect("where gy", ag_grad(y), 1, S(2), V(3, 2), tol);
            ag_graph_free(g);
        }
    /* cond broadcast along rows, x a scalar */
    for (int f = 0; f < 2; f++) {
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *cond = constant(g, AG_BOOL, 2, S(2, 1), V(0, 1));
        ag_node *x = ag_test_var(g, "x", 0, NULL, V(-1));
        ag_node *y = ag_test_var(g, "y", 2, S(2, 3), V(1, 2, 3, 4, 5, 6));
        ag_node *z = ag_where(g, cond, x, y);
        run(g, z, NULL);
        expect("where bcast", ag_value(z), 2, S(2, 3), V(1, 2, 3, -1, -1, -1), tol_of(floats[f]));
        expect("where bcast gx", ag_grad(x), 0, NULL, V(3), tol_of(floats[f]));
        expect("where bcast gy", ag_grad(y), 2, S(2, 3), V(1, 1, 1, 0, 0, 0), tol_of(floats[f]));
        ag_graph_free(g);
    }
}

static void test_masked_fill_cast_float(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *x = ag_test_var(g, "x", 2, S(2, 3), V(1, 2, 3, 4, 5, 6));
        ag_node *mask = constant(g, AG_BOOL, 1, S(3), V(1, 0, 1));
        ag_node *z = ag_masked_fill(g, x, mask, -9);
        run(g, z, NULL);
        expect("masked_fill", ag_value(z), 2, S(2, 3), V(1, -9, 3, 4, -9, 6), tol);
        expect("masked_fill gx", ag_grad(x), 2, S(2, 3), V(1, 0, 1, 1, 0, 1), tol);

        ag_node *cf = ag_cast_float(g, mask);
        ag_node *ids = constant(g, AG_INT32, 1, S(2), V(0, 3));
        ag_node *ci = ag_cast_float(g, ids);
        ag_node *outs[2] = {cf, ci};
        AG_ASSERT_OK(g, ag_forward(g, outs, 2));
        assert_int_equal(ag_value(cf)->dtype, floats[f]);
        expect("cast bool", ag_value(cf), 1, S(3), V(1, 0, 1), 0);
        expect("cast int", ag_value(ci), 1, S(2), V(0, 3), 0);

        /* x · cast(mask): the gradient reaches x; through a cast, none flows */
        z = ag_mul(g, x, cf);
        run(g, z, NULL);
        expect("x*mask gx", ag_grad(x), 2, S(2, 3), V(1, 0, 1, 1, 0, 1), tol);
        ag_node *w = ag_test_var(g, "w", 1, S(3), V(1, 2, 3));
        ag_node *cw = ag_cast_float(g, w);
        z = ag_add(g, cw, w);
        run(g, z, NULL);
        expect("through cast", ag_grad(w), 1, S(3), V(1, 1, 1), tol);
        ag_set_requires_grad(cw, 1); /* its own gradient, still none past it */
        run(g, z, NULL);
        expect("cast's gradient", ag_grad(cw), 1, S(3), V(1, 1, 1), tol);
        expect("past the cast", ag_grad(w), 1, S(3), V(1, 1, 1), tol);
        ag_graph_free(g);
    }
}

/* ---- shapes unknown at build time ---- */

static void test_unknown_dims(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        double tol = tol_of(floats[f]);
        ag_graph *g = ag_test_graph(floats[f]);
        ag_node *x = ag_input(g, "x", AG_FLOAT32, 3, S(-1, -1, 3)); /* (None, None, 3) */
        ag_node *b = ag_test_var(g, "b", 1, S(3), V(1, 2, 3));
        ag_node *z = ag_add(g, x, b);
        const int ax01[2] = {0, 1};
        ag_node *s = ag_sum(g, z, ax01, 2, 0);
        ag_node *r = ag_reshape(g, z, 2, S(0, -1));
        const int p[3] = {2, 0, 1};
        ag_node *t = ag_transpose(g, z, p);
        ag_node *sl = ag_slice(g, z, 2, 1, 2);
        ag_node *e = ag_expand_dims(g, z, 1);
        ag_node *parts[2] = {z, z};
        ag_node *c = ag_concat(g, parts, 2, 1);
        if (!c) fail_msg("%s", ag_graph_error(g));
        char buf[96];
        assert_string_equal(ag_shape_str(3, ag_node_shape(z)->dim, buf, sizeof buf),
                            "(None, None, 3)");
        assert_string_equal(ag_shape_str(1, ag_node_shape(s)->dim, buf, sizeof buf), "(3,)");
        assert_string_equal(ag_shape_str(2, ag_node_shape(r)->dim, buf, sizeof buf),
                            "(None, None)");
        assert_string_equal(ag_shape_str(3, ag_node_shape(t)->dim, buf, sizeof buf),
                            "(3, None, None)");
        assert_string_equal(ag_shape_str(3, ag_node_shape(sl)->dim, buf, sizeof buf),
                            "(None, None, 2)");
        assert_string_equal(ag_shape_str(4, ag_node_shape(e)->dim, buf, sizeof buf),
                            "(None, 1, None, 3)");
        assert_string_equal(ag_shape_str(3, ag_node_shape(c)->dim, buf, sizeof buf),
                            "(None, None, 3)");

        /* two runs at two concrete shapes */
        for (int run_i = 0; run_i < 2; run_i++) {
            int64_t B = run_i ? 1 : 2, T = run_i ? 3 : 1;
            ag_tensor *xv = ag_tensor_new(floats[f], 3, S(B, T, 3), NULL);
            for (int64_t i = 0; i < xv->size; i++)
                ag_tensor_set(xv, i, (double)i);
            AG_ASSERT_OK(g, ag_feed(g, x, xv));
            ag_tensor_free(xv);
            ag_node *outs[7] = {s, r, t, sl, e, c, z};
            AG_ASSERT_OK(g, ag_forward(g, outs, 7));
            /* z[i, k] = i*3 + k + b[k] over the B·T rows; s = Σ rows */
            double sw[3];
            for (int k = 0; k < 3; k++) {
                sw[k] = 0;
                for (int64_t i = 0; i < B * T; i++)
                    sw[k] += (double)(i * 3 + k) + (k + 1);
            }
            expect("sum", ag_value(s), 1, S(3), sw, tol);
            assert_int_equal(ag_value(r)->shape[0], B);
            assert_int_equal(ag_value(r)->shape[1], T * 3);
            assert_int_equal(ag_value(t)->shape[0], 3);
            assert_int_equal(ag_value(t)->shape[2], T);
            assert_int_equal(ag_value(c)->shape[1], 2 * T);
            AG_ASSERT_OK(g, ag_backward(g, s, NULL));
            expect("gb", ag_grad(b), 1, S(3), V((double)(B * T), (double)(B * T), (double)(B * T)),
                   tol);
        }
        ag_graph_free(g);
    }
    /* (None,) against (4,) is (4,); against (1,) or (None,) stays None */
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    ag_node *u = ag_input(g, "u", AG_FLOAT32, 1, S(-1));
    ag_node *k4 = ag_input(g, "k4", AG_FLOAT32, 1, S(4));
    ag_node *k1 = ag_input(g, "k1", AG_FLOAT32, 1, S(1));
    assert_int_equal(ag_node_shape(ag_add(g, u, k4))->dim[0], 4);
    assert_int_equal(ag_node_shape(ag_mul(g, k1, u))->dim[0], -1);
    assert_int_equal(ag_node_shape(ag_sub(g, u, u))->dim[0], -1);
    /* reshape infers -1 when the unknown dims are copied through by 0 */
    ag_node *v = ag_input(g, "v", AG_FLOAT32, 3, S(-1, 4, 6));
    assert_int_equal(ag_node_shape(ag_reshape(g, v, 3, S(0, -1, 3)))->dim[1], 8);
    ag_graph_free(g);
}

/* ---- threads ---- */

/* Runs a graph of every op family at sizes past the parallel threshold and
 * returns a copy of the gradients of its two variables. */
static ag_tensor *grads_with_threads(int threads, ag_tensor **gy)
{
    omp_set_num_threads(threads);
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    int64_t xs[3] = {8, 96, 130}, ys[2] = {96, 1};
    ag_node *x = ag_variable(g, "x", 3, xs), *y = ag_variable(g, "y", 2, ys);
    ag_fill_uniform(ag_value(x), -1, 1, 11, 1);
    ag_fill_uniform(ag_value(y), 0.5, 1.5, 11, 2);
    ag_tensor *mt = ag_tensor_new(AG_BOOL, 1, S(130), NULL);
    for (int64_t i = 0; i < 130; i++)
        AG_U8(mt)[i] = i % 3 != 0;
    ag_node *mask = ag_constant(g, mt);
    ag_tensor_free(mt);
    const int perm[3] = {2, 0, 1}, ax[2] = {0, 2}, last[1] = {-1};
    ag_node *h = ag_div(g, ag_mul(g, x, y), ag_add_scalar(g, y, 1));
    h = ag_where(g, mask, h, ag_pow_scalar(g, x, 2));
    h = ag_transpose(g, ag_masked_fill(g, h, mask, 0.25), perm);
    ag_node *a = ag_sum(g, h, ax, 2, 0), *b = ag_mean(g, ag_slice(g, h, 0, 3, 100), last, 1, 1);
    ag_node *loss = ag_add(g, ag_sum(g, a, NULL, 0, 0), ag_sum(g, b, NULL, 0, 0));
    run(g, loss, NULL);
    ag_tensor *gx = ag_tensor_copy(ag_grad(x), NULL);
    *gy = ag_tensor_copy(ag_grad(y), NULL);
    ag_graph_free(g);
    return gx;
}

static void test_bitwise_identical_across_threads(void **state)
{
    (void)state;
    int before = omp_get_max_threads();
    ag_tensor *gy1, *gy2;
    ag_tensor *gx1 = grads_with_threads(1, &gy1), *gx2 = grads_with_threads(2, &gy2);
    omp_set_num_threads(before);
    assert_memory_equal(gx1->data, gx2->data, (size_t)gx1->size * sizeof(float));
    assert_memory_equal(gy1->data, gy2->data, (size_t)gy1->size * sizeof(float));
    ag_tensor_free(gx1);
    ag_tensor_free(gx2);
    ag_tensor_free(gy1);
    ag_tensor_free(gy2);
}

/* ---- errors ---- */

static void expect_fail(ag_graph *g, ag_node *n, ag_status code, const char *a, const char *b)
{
    if (n) fail_msg("expected a failure containing \"%s\"", a);
    if (ag_graph_status(g) != code)
        fail_msg("status %s, expected %s: %s", ag_status_name(ag_graph_status(g)),
                 ag_status_name(code), ag_graph_error(g));
    ag_assert_msg_has(ag_graph_error(g), a);
    if (b) ag_assert_msg_has(ag_graph_error(g), b);
    ag_graph_clear_error(g);
}

static void test_build_time_errors(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    ag_node *x23 = ag_input(g, "x", AG_FLOAT32, 2, S(2, 3));
    ag_node *y4 = ag_input(g, "y", AG_FLOAT32, 1, S(4));
    ag_node *ids = ag_input(g, "ids", AG_INT32, 1, S(3));
    ag_node *m = ag_input(g, "m", AG_BOOL, 2, S(2, 3));

    ag_node *n = ag_add(g, x23, y4);
    assert_null(n);
    assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
    assert_string_equal(ag_graph_error(g), "add: shapes (2, 3) and (4,) are not broadcastable");
    ag_graph_clear_error(g);
    expect_fail(g, ag_div(g, x23, ids), AG_ERR_DTYPE,
                "div: y is int32, expected float32 or float64", NULL);
    expect_fail(g, ag_mul(g, m, x23), AG_ERR_DTYPE, "mul: x is bool", NULL);
    expect_fail(g, ag_mul_scalar(g, ids, 2), AG_ERR_DTYPE, "mul_scalar: x is int32", NULL);
    expect_fail(g, ag_pow_scalar(g, x23, NAN), AG_ERR_ARG, "pow_scalar", "finite");
    ag_node *x234 = ag_input(g, "x3", AG_FLOAT32, 3, S(2, 3, 4));
    expect_fail(g, ag_masked_mean(g, x234, y4), AG_ERR_SHAPE, "masked_mean",
                "the mask must be (batch, steps) of x (2, 3, 4), received (4,)");
    expect_fail(g, ag_masked_mean(g, x234, m), AG_ERR_DTYPE, "masked_mean",
                "the mask must have x's dtype float32, received bool");
    expect_fail(g, ag_masked_mean(g, x23, x23), AG_ERR_SHAPE, "masked_mean",
                "x must be (batch, steps, channels), received (2, 3)");

    const int a2[1] = {2}, rep[2] = {1, -1};
    expect_fail(g, ag_sum(g, x23, a2, 1, 0), AG_ERR_ARG, "sum: axis 2 is out of range",
                "(2, 3) (expected -2 to 1)");
    expect_fail(g, ag_mean(g, x23, rep, 2, 0), AG_ERR_ARG, "mean: axis -1 is listed twice", NULL);
    expect_fail(g, ag_sum(g, x23, a2, 7, 0), AG_ERR_ARG, "sum: n_axes must be 0 to 6, received 7",
                NULL);
    expect_fail(g, ag_sum(g, x23, NULL, 1, 0), AG_ERR_ARG, "axes is NULL", NULL);
    expect_fail(g, ag_sum(g, ids, NULL, 0, 0), AG_ERR_DTYPE, "sum: x is int32", NULL);

    const int p00[2] = {0, 0}, p02[2] = {0, 2}, p3[3] = {0, 1, 2};
    expect_fail(g, ag_transpose(g, x23, p00), AG_ERR_ARG, "transpose: perm lists axis 0 twice",
                NULL);
    expect_fail(g, ag_transpose(g, x23, p02), AG_ERR_ARG, "axis 2 is out of range", NULL);
    expect_fail(g, ag_transpose(g, x23, NULL), AG_ERR_ARG, "transpose: perm is NULL", NULL);
    (void)p3;

    expect_fail(g, ag_reshape(g, x23, 1, S(4)), AG_ERR_SHAPE,
                "reshape: cannot reshape x of shape (2, 3) (6 elements) into (4,) (4 elements)",
                NULL);
    expect_fail(g, ag_reshape(g, x23, 2, S(-1, -1)), AG_ERR_ARG, "only one dim may be -1", NULL);
    expect_fail(g, ag_reshape(g, x23, 2, S(4, -1)), AG_ERR_SHAPE,
                "cannot reshape x of shape (2, 3) into (4, -1)", NULL);
    expect_fail(g, ag_reshape(g, x23, 3, S(0, 0, 0)), AG_ERR_ARG, "dim 2 is 0 (copy x's dim)",
                NULL);
    expect_fail(g, ag_reshape(g, x23, 2, S(-3, 2)), AG_ERR_ARG, "dim 0 must be >= 0", NULL);
    expect_fail(g, ag_reshape(g, x23, 9, S(1)), AG_ERR_ARG,
                "reshape: rank must be 0 to 6, received 9", NULL);

    expect_fail(g, ag_expand_dims(g, x23, 3), AG_ERR_ARG, "expand_dims: axis 3 is out of range",
                "(expected -3 to 2)");
    expect_fail(g, ag_expand_dims(g, x23, -4), AG_ERR_ARG, "axis -4 is out of range", NULL);

    ag_node *xs[3] = {x23, y4, x23};
    expect_fail(g, ag_concat(g, xs, 0, 0), AG_ERR_ARG,
                "concat: n must be 1 to 8 inputs, received 0", NULL);
    expect_fail(g, ag_concat(g, NULL, 2, 0), AG_ERR_ARG, "concat: xs is NULL", NULL);
    expect_fail(g, ag_concat(g, xs, 2, 0), AG_ERR_SHAPE, "concat: input 1 has shape (4,)",
                "ranks differ");
    ag_node *x24 = ag_input(g, "x24", AG_FLOAT32, 2, S(2, 4)),
            *x33 = ag_input(g, "x33", AG_FLOAT32, 2, S(3, 3));
    ag_node *ok1[2] = {x23, x24}, *bad1[2] = {x23, x33};
    assert_non_null(ag_concat(g, ok1, 2, 1));
    expect_fail(g, ag_concat(g, bad1, 2, 1), AG_ERR_SHAPE, "input 1 has shape (3, 3)",
                "every dim but axis 1 must match");
    ag_node *bad2[2] = {x23, m};
    expect_fail(g, ag_concat(g, bad2, 2, 0), AG_ERR_DTYPE, "input 1 is bool but input 0 is float32",
                NULL);
    expect_fail(g, ag_concat(g, ok1, 2, 2), AG_ERR_ARG, "axis 2 is out of range", NULL);

    expect_fail(g, ag_slice(g, x23, 1, 2, 2), AG_ERR_RANGE,
                "slice: start 2 + len 2 exceeds dim 3 of axis 1", "(2, 3)");
    expect_fail(g, ag_slice(g, x23, 0, -1, 1), AG_ERR_RANGE, "must be >= 0", NULL);
    expect_fail(g, ag_slice(g, x23, 5, 0, 1), AG_ERR_ARG, "axis 5 is out of range", NULL);

    expect_fail(g, ag_where(g, m, x23, ids), AG_ERR_DTYPE, "where: y is int32", NULL);
    expect_fail(g, ag_where(g, m, x23, y4), AG_ERR_SHAPE,
                "where: shapes (2, 3), (2, 3) and (4,) are not broadcastable", NULL);
    ag_node *m3 = ag_input(g, "m3", AG_BOOL, 1, S(3)), *x3 = ag_input(g, "x3", AG_FLOAT32, 1, S(3));
    expect_fail(g, ag_masked_fill(g, x3, m, 0), AG_ERR_SHAPE,
                "mask of shape (2, 3) does not broadcast to x's shape (3,)", NULL);
    assert_non_null(ag_masked_fill(g, x23, m3, 0));
    expect_fail(g, ag_masked_fill(g, ids, m3, 0), AG_ERR_DTYPE, "masked_fill: x is int32", NULL);
    ag_graph_free(g);
}

/* Shapes learned at run time fail the run, naming the op. */
static void test_run_time_errors(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT64);
    ag_node *x = ag_input(g, "x", AG_FLOAT32, 2, S(-1, 3)),
            *y = ag_input(g, "y", AG_FLOAT32, 2, S(-1, 3));
    ag_node *z = ag_add(g, x, y);
    ag_node *r = ag_reshape(g, x, 2, S(4, -1));
    ag_node *sl = ag_slice(g, x, 0, 2, 2);
    ag_node *w = ag_input(g, "w", AG_FLOAT32, 2, S(-1, -1));
    ag_node *xw[2] = {x, w};
    ag_node *c = ag_concat(g, xw, 2, 1);
    assert_non_null(z);
    assert_non_null(r);
    assert_non_null(sl);
    assert_non_null(c);
    ag_tensor *a = ag_tensor_new(AG_FLOAT64, 2, S(2, 3), NULL),
              *b = ag_tensor_new(AG_FLOAT64, 2, S(5, 3), NULL);
    ag_tensor *w2 = ag_tensor_new(AG_FLOAT64, 2, S(3, 1), NULL);
    AG_ASSERT_OK(g, ag_feed(g, x, a));
    AG_ASSERT_OK(g, ag_feed(g, y, b));
    AG_ASSERT_OK(g, ag_feed(g, w, w2));
    assert_int_equal(ag_forward(g, &z, 1), AG_ERR_SHAPE);
    assert_string_equal(ag_graph_error(g), "add: shapes (2, 3) and (5, 3) are not broadcastable");
    assert_int_equal(ag_forward(g, &r, 1), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "reshape: cannot reshape x of shape (2, 3) into (4, -1)");
    assert_int_equal(ag_forward(g, &sl, 1), AG_ERR_RANGE);
    ag_assert_msg_has(ag_graph_error(g), "slice: start 2 + len 2 exceeds dim 2 of axis 0");
    assert_int_equal(ag_forward(g, &c, 1), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "concat: input 1 has shape (3, 1)");
    /* and the same graph runs once the shapes fit */
    AG_ASSERT_OK(g, ag_feed(g, y, a));
    AG_ASSERT_OK(g, ag_forward(g, &z, 1));
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(w2);
    ag_graph_free(g);
}

/* A NULL input (an earlier failure) fails each later builder, keeping the
 * first message. */
static void test_null_propagation(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    ag_node *x = ag_input(g, "x", AG_FLOAT32, 2, S(2, 3));
    ag_node *y = ag_input(g, "y", AG_FLOAT32, 1, S(4));
    ag_node *m = ag_input(g, "m", AG_BOOL, 2, S(2, 3));
    ag_node *bad = ag_add(g, x, y);
    assert_null(bad);
    const char *first = "add: shapes (2, 3) and (4,) are not broadcastable";
    const int ax[1] = {0}, perm[2] = {1, 0};
    ag_node *parts[2] = {x, bad};
    ag_node *later[] = {
        ag_sub(g, bad, x),
        ag_mul(g, x, bad),
        ag_div(g, bad, bad),
        ag_add_scalar(g, bad, 1),
        ag_mul_scalar(g, bad, 1),
        ag_pow_scalar(g, bad, 2),
        ag_sum(g, bad, ax, 1, 0),
        ag_mean(g, bad, ax, 9, 0), /* a bad argument too: the first message stays */
        ag_reshape(g, bad, 1, S(-1)),
        ag_transpose(g, bad, perm),
        ag_expand_dims(g, bad, 0),
        ag_concat(g, parts, 2, 0),
        ag_slice(g, bad, 0, 0, 1),
        ag_where(g, m, bad, x),
        ag_masked_fill(g, bad, m, 0),
        ag_cast_float(g, bad),
    };
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        if (later[i]) fail_msg("builder %zu returned a node from a NULL input", i);
    }
    assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
    assert_string_equal(ag_graph_error(g), first);
    /* a NULL graph is no crash either */
    assert_null(ag_add(NULL, x, x));
    assert_null(ag_sum(NULL, x, NULL, 0, 0));
    assert_null(ag_concat(NULL, parts, 2, 0));
    assert_null(ag_reshape(NULL, x, 1, S(6)));
    ag_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_broadcast_bias),
        cmocka_unit_test(test_sub_mul_div_outer),
        cmocka_unit_test(test_broadcast_scalar_and_middle_axes),
        cmocka_unit_test(test_same_node_twice),
        cmocka_unit_test(test_large_bias_gradient),
        cmocka_unit_test(test_scalar_ops),
        cmocka_unit_test(test_sum_mean),
        cmocka_unit_test(test_masked_mean_is_the_composition),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_reshape_expand_dims),
        cmocka_unit_test(test_concat_slice),
        cmocka_unit_test(test_shape_ops_on_bool_and_int),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_masked_fill_cast_float),
        cmocka_unit_test(test_unknown_dims),
        cmocka_unit_test(test_bitwise_identical_across_threads),
        cmocka_unit_test(test_build_time_errors),
        cmocka_unit_test(test_run_time_errors),
        cmocka_unit_test(test_null_propagation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
