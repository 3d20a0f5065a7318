/* test_ops_nn.c — the neural-network ops on hand-computed cases: matmul (each
 * transpose flag, batched, shared right-hand side), softmax (incl. large
 * values), embedding (gather, scatter-add with repeated ids), conv1d (valid,
 * same, causal, strides; TensorFlow's padding rule), dropout, the losses
 * (incl. Keras's clipping); their error paths; and bitwise-equal results on
 * 1 and 2 OpenMP threads. Gradients at random points are checked separately
 * by test_gradcheck (the registry walk). */
#include "testutil.h"

#include <omp.h>
#include <stdlib.h>

static const ag_dtype FLOATS[2] = {AG_FLOAT32, AG_FLOAT64};
/* a tolerance fitting the dtype */
static double tol(ag_dtype dt, double scale) { return (dt == AG_FLOAT32 ? 2e-6 : 1e-12) * scale; }

/* A constant of dtype dt holding v. */
static ag_node *cst(ag_graph *g, ag_dtype dt, int rank, const int64_t *shape, const double *v)
{
    ag_tensor *t = ag_test_tensor(dt, rank, shape, v);
    ag_node *n = ag_constant(g, t);
    ag_tensor_free(t);
    assert_non_null(n);
    return n;
}

static void expect(const ag_tensor *t, const double *v, int64_t n, double tl)
{
    assert_non_null(t);
    assert_int_equal(t->size, n);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(ag_tensor_get(t, i) - v[i]) <= tl))
            fail_msg("element %lld = %.17g, expected %.17g (tol %g)", (long long)i,
                     ag_tensor_get(t, i), v[i], tl);
}

static void expect_shape(const ag_tensor *t, int rank, const int64_t *shape)
{
    assert_non_null(t);
    assert_int_equal(t->rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(t->shape[i], shape[i]);
}

static void run(ag_graph *g, ag_node *out, const ag_tensor *gz)
{
    assert_non_null(out);
    AG_ASSERT_OK(g, ag_forward(g, &out, 1));
    AG_ASSERT_OK(g, ag_backward(g, out, gz));
}

/* ---- matmul ---- */

/* x = [[1,2,3],[4,5,6]], y = [[7,8],[9,10],[11,12]]: z = [[58,64],[139,154]];
 * with gz = ones, gx = [[15,19,23],[15,19,23]], gy = [[5,5],[7,7],[9,9]];
 * each operand given transposed, with its flag, gives the same z and its
 * gradient transposed. */
static void test_matmul_2d_flags(void **state)
{
    (void)state;
    static const double x[6] = {1, 2, 3, 4, 5, 6}, xt[6] = {1, 4, 2, 5, 3, 6};
    static const double y[6] = {7, 8, 9, 10, 11, 12}, yt[6] = {7, 9, 11, 8, 10, 12};
    static const double z[4] = {58, 64, 139, 154};
    static const double gx[6] = {15, 19, 23, 15, 19, 23}, gxt[6] = {15, 15, 19, 19, 23, 23};
    static const double gy[6] = {5, 5, 7, 7, 9, 9}, gyt[6] = {5, 7, 9, 5, 7, 9};
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < 4; f++) {
            int tx = f & 1, ty = f >> 1;
            ag_graph *g = ag_test_graph(FLOATS[d]);
            int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
            ag_node *xn = ag_test_var(g, "x", 2, tx ? s32 : s23, tx ? xt : x);
            ag_node *yn = ag_test_var(g, "y", 2, ty ? s23 : s32, ty ? yt : y);
            ag_node *zn = ag_matmul(g, xn, yn, tx, ty);
            run(g, zn, NULL);
            expect(ag_value(zn), z, 4, 0);
            expect(ag_grad(xn), tx ? gxt : gx, 6, 0);
            expect(ag_grad(yn), ty ? gyt : gy, 6, 0);
            ag_graph_free(g);
        }
}

/* Batched (2,2,3)·(2,3,2), batch 1 being batch 0 times 2 and 3; and a
 * shared y (3,2), whose gradient sums both batches. */
static void test_matmul_batched_and_shared(void **state)
{
    (void)state;
    static const double x[12] = {1, 2, 3, 4, 5, 6, 2, 4, 6, 8, 10, 12};
    static const double yb[12] = {7, 8, 9, 10, 11, 12, 21, 24, 27, 30, 33, 36};
    for (int d = 0; d < 2; d++) {
        ag_graph *g = ag_test_graph(FLOATS[d]);
        int64_t xs[3] = {2, 2, 3}, ys[3] = {2, 3, 2};
        ag_node *xn = ag_test_var(g, "x", 3, xs, x), *yn = ag_test_var(g, "y", 3, ys, yb);
        ag_node *zn = ag_matmul(g, xn, yn, 0, 0);
        run(g, zn, NULL);
        static const double z[8] = {58, 64, 139, 154, 348, 384, 834, 924};
        expect(ag_value(zn), z, 8, 0);
        static const double gx[12] = {15, 19, 23, 15, 19, 23, 45, 57, 69, 45, 57, 69};
        static const double gy[12] = {5, 5, 7, 7, 9, 9, 10, 10, 14, 14, 18, 18};
        expect(ag_grad(xn), gx, 12, 0);
        expect(ag_grad(yn), gy, 12, 0);
        ag_graph_free(g);

        /* shared y, with y transposed (ty = 1) for good measure */
        g = ag_test_graph(FLOATS[d]);
        static const double yt[6] = {7, 9, 11, 8, 10, 12};
        int64_t ys2[2] = {2, 3};
        xn = ag_test_var(g, "x", 3, xs, x), yn = ag_test_var(g, "y", 2, ys2, yt);
        zn = ag_matmul(g, xn, yn, 0, 1);
        run(g, zn, NULL);
        static const double zs[8] = {58, 64, 139, 154, 116, 128, 278, 308};
        static const double gxs[12] = {15, 19, 23, 15, 19, 23, 15, 19, 23, 15, 19, 23};
        static const double gys[6] = {15, 21, 27, 15, 21, 27}; /* (2,3): Σ_b Σ_m x_b[m,:] */
        expect(ag_value(zn), zs, 8, 0);
        expect(ag_grad(xn), gxs, 12, 0);
        expect(ag_grad(yn), gys, 6, 0);
        int64_t zshape[3] = {2, 2, 2};
        expect_shape(ag_value(zn), 3, zshape);
        ag_graph_free(g);
    }
}

/* A product large enough for the GEMM's blocking: a reduction of 1100 (three
 * panels), rows and columns that are no multiple of a register tile, a batch
 * sharing its right-hand side (one thread packs it once for all 5 batch
 * elements, two threads once per element) and a transposed operand; against
 * a sum in long double, and bitwise equal on 1 and 2 threads. */
static void matmul_large(ag_dtype dt, int threads, ag_tensor **z, ag_tensor **gx)
{
    enum { B = 5, M = 37, K = 1100, N = 70 };
    omp_set_dynamic(0);
    omp_set_num_threads(threads);
    ag_graph *g = ag_test_graph(dt);
    int64_t xs[3] = {B, M, K}, ys[2] = {N, K};
    ag_node *x = ag_variable(g, "x", 3, xs), *y = ag_variable(g, "y", 2, ys);
    ag_fill_uniform(ag_value(x), -1, 1, 3, 1);
    ag_fill_uniform(ag_value(y), -1, 1, 3, 2);
    ag_node *zn = ag_matmul(g, x, y, 0, 1); /* (B,M,N) = x · yᵀ */
    run(g, zn, NULL);
    const ag_tensor *xv = ag_value(x), *yv = ag_value(y);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < M; i += 5)
            for (int64_t j = 0; j < N; j += 3) {
                long double want = 0;
                for (int64_t k = 0; k < K; k++)
                    want += (long double)ag_tensor_get(xv, (b * M + i) * K + k) *
                            ag_tensor_get(yv, j * K + k);
                double got = ag_tensor_get(ag_value(zn), (b * M + i) * N + j);
                if (!(fabs(got - (double)want) <= tol(dt, 50)))
                    fail_msg("z[%lld,%lld,%lld] = %.17g, expected %.17g", (long long)b,
                             (long long)i, (long long)j, got, (double)want);
            }
    *z = ag_tensor_copy(ag_value(zn), NULL);
    *gx = ag_tensor_copy(ag_grad(x), NULL);
    ag_graph_free(g);
}

static void test_matmul_large_blocked(void **state)
{
    (void)state;
    int saved = omp_get_max_threads();
    for (int d = 0; d < 2; d++) {
        ag_tensor *z1, *g1, *z2, *g2;
        matmul_large(FLOATS[d], 1, &z1, &g1);
        matmul_large(FLOATS[d], 2, &z2, &g2);
        size_t es = ag_dtype_size(FLOATS[d]);
        assert_memory_equal(z1->data, z2->data, (size_t)z1->size * es);
        assert_memory_equal(g1->data, g2->data, (size_t)g1->size * es);
        ag_tensor_free(z1), ag_tensor_free(g1), ag_tensor_free(z2), ag_tensor_free(g2);
    }
    omp_set_num_threads(saved);
}

static void test_matmul_errors(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    int64_t s23[2] = {2, 3}, s45[2] = {4, 5}, s3[1] = {3};
    ag_node *x = ag_variable(g, "x", 2, s23), *y = ag_variable(g, "y", 2, s45);
    assert_null(ag_matmul(g, x, y, 0, 0));
    assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "matmul");
    ag_assert_msg_has(ag_graph_error(g), "(2, 3)");
    ag_assert_msg_has(ag_graph_error(g), "(4, 5)");
    ag_assert_msg_has(ag_graph_error(g), "K=3");
    ag_assert_msg_has(ag_graph_error(g), "K=4");
    /* transposing y (5,4)... no: transposing x makes K=2, still not 4 */
    ag_graph_clear_error(g);
    assert_null(ag_matmul(g, x, y, 1, 0));
    ag_assert_msg_has(ag_graph_error(g), "K=2");
    /* rank 1 */
    ag_graph_clear_error(g);
    assert_null(ag_matmul(g, ag_variable(g, "v", 1, s3), y, 0, 0));
    assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
    /* an int operand */
    ag_graph_clear_error(g);
    ag_node *ids = ag_input(g, "ids", AG_INT32, 2, s45);
    assert_null(ag_matmul(g, x, ids, 0, 1));
    assert_int_equal(ag_graph_status(g), AG_ERR_DTYPE);
    ag_assert_msg_has(ag_graph_error(g), "int32");
    /* NULL from an earlier failure */
    ag_graph_clear_error(g);
    assert_null(ag_matmul(g, NULL, y, 0, 0));
    assert_int_equal(ag_graph_status(g), AG_ERR_ARG);
    /* batch sizes that differ, found at run time */
    ag_graph_clear_error(g);
    int64_t xs[3] = {-1, 2, 3}, ys[3] = {-1, 3, 4};
    ag_node *xi = ag_input(g, "xi", AG_FLOAT32, 3, xs), *yi = ag_input(g, "yi", AG_FLOAT32, 3, ys);
    ag_node *z = ag_matmul(g, xi, yi, 0, 0);
    assert_non_null(z);
    int64_t fx[3] = {2, 2, 3}, fy[3] = {3, 3, 4};
    ag_tensor *tx = ag_tensor_new(AG_FLOAT32, 3, fx, NULL),
              *ty = ag_tensor_new(AG_FLOAT32, 3, fy, NULL);
    AG_ASSERT_OK(g, ag_feed(g, xi, tx));
    AG_ASSERT_OK(g, ag_feed(g, yi, ty));
    assert_int_equal(ag_forward(g, &z, 1), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "batch");
    ag_tensor_free(tx);
    ag_tensor_free(ty);
    ag_graph_free(g);
}

/* ---- softmax ---- */

static void test_softmax_values(void **state)
{
    (void)state;
    /* rows [1,2,3], [1000,1001,1002] (same softmax; naive exp overflows),
     * [-1000, 0, -1000] */
    static const double x[9] = {1, 2, 3, 1000, 1001, 1002, -1000, 0, -1000};
    const double e = 0.090030573170380462, f = 0.24472847105479764, h = 0.66524095577481771;
    const double z[9] = {e, f, h, e, f, h, 0, 1, 0};
    for (int d = 0; d < 2; d++) {
        ag_graph *g = ag_test_graph(FLOATS[d]);
        int64_t s[2] = {3, 3};
        ag_node *xn = ag_test_var(g, "x", 2, s, x), *zn = ag_softmax(g, xn);
        /* gz = e_0 in each row: gx = z (e_0 - z_0) */
        static const double gzv[9] = {1, 0, 0, 1, 0, 0, 1, 0, 0};
        ag_tensor *gz = ag_test_tensor(FLOATS[d], 2, s, gzv);
        run(g, zn, gz);
        expect(ag_value(zn), z, 9, tol(FLOATS[d], 1));
        const double gx[9] = {e * (1 - e), -f * e, -h * e, e * (1 - e), -f * e, -h * e, 0, 0, 0};
        expect(ag_grad(xn), gx, 9, tol(FLOATS[d], 1));
        ag_tensor_free(gz);
        ag_graph_free(g);
    }
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    int64_t s[2] = {2, 3};
    assert_null(ag_softmax(g, ag_input(g, "ids", AG_INT32, 2, s)));
    assert_int_equal(ag_graph_status(g), AG_ERR_DTYPE);
    ag_graph_free(g);
}

/* ---- embedding ---- */

static void test_embedding_gather_scatter(void **state)
{
    (void)state;
    static const double table[8] = {0, 1, 10, 11, 20, 21, 30, 31};
    static const double ids[6] = {1, 3, 1, 0, 1, 2};
    static const double z[12] = {10, 11, 30, 31, 10, 11, 0, 1, 10, 11, 20, 21};
    static const double gzv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    /* gtable[1] = gz[0] + gz[2] + gz[4], the others once */
    static const double gt[8] = {7, 8, 1 + 5 + 9, 2 + 6 + 10, 11, 12, 3, 4};
    for (int d = 0; d < 2; d++)
        for (int it = 0; it < 2; it++) {
            ag_graph *g = ag_test_graph(FLOATS[d]);
            int64_t ts[2] = {4, 2}, is[2] = {2, 3}, zs[3] = {2, 3, 2};
            ag_node *tn = ag_test_var(g, "table", 2, ts, table);
            ag_node *in = cst(g, it ? AG_INT64 : AG_INT32, 2, is, ids);
            ag_node *zn = ag_embedding(g, in, tn);
            ag_tensor *gz = ag_test_tensor(FLOATS[d], 3, zs, gzv);
            run(g, zn, gz);
            expect_shape(ag_value(zn), 3, zs);
            expect(ag_value(zn), z, 12, 0);
            expect(ag_grad(tn), gt, 8, 0);
            /* a second backward recomputes, it does not add up */
            AG_ASSERT_OK(g, ag_backward(g, zn, gz));
            expect(ag_grad(tn), gt, 8, 0);
            ag_tensor_free(gz);
            ag_graph_free(g);
        }
}

static void test_embedding_errors(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    int64_t ts[2] = {4, 2}, is[1] = {-1};
    ag_node *tn = ag_variable(g, "table", 2, ts);
    ag_node *in = ag_input(g, "ids", AG_INT32, 1, is);
    ag_node *zn = ag_embedding(g, in, tn);
    assert_non_null(zn);
    int64_t n5[1] = {5};
    static const double bad[5] = {0, 1, 2, 3, 4}, neg[5] = {0, -2, 1, 1, 1};
    ag_tensor *t = ag_test_tensor(AG_INT32, 1, n5, bad);
    AG_ASSERT_OK(g, ag_feed(g, in, t));
    assert_int_equal(ag_forward(g, &zn, 1), AG_ERR_RANGE);
    ag_assert_msg_has(ag_graph_error(g), "embedding");
    ag_assert_msg_has(ag_graph_error(g), "id 4");
    ag_assert_msg_has(ag_graph_error(g), "position 4");
    ag_assert_msg_has(ag_graph_error(g), "V=4");
    ag_tensor_free(t);
    t = ag_test_tensor(AG_INT32, 1, n5, neg);
    AG_ASSERT_OK(g, ag_feed(g, in, t));
    assert_int_equal(ag_forward(g, &zn, 1), AG_ERR_RANGE);
    ag_assert_msg_has(ag_graph_error(g), "id -2");
    ag_assert_msg_has(ag_graph_error(g), "position 1");
    ag_tensor_free(t);
    /* float ids, a 1-D table */
    ag_graph_clear_error(g);
    assert_null(ag_embedding(g, tn, tn));
    assert_int_equal(ag_graph_status(g), AG_ERR_DTYPE);
    ag_assert_msg_has(ag_graph_error(g), "int32 or int64");
    ag_graph_clear_error(g);
    assert_null(ag_embedding(g, in, ag_variable(g, "t1", 1, n5)));
    assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "(V,D)");
    ag_graph_free(g);
}

/* ---- conv1d ---- */

/* x = [1,2,3,4,5] (B=1, C=1), F=1: each output reads its window's digits. */
static void conv_case(ag_dtype dt, int k, ag_padding pad, int stride, const double *z, int64_t tz,
                      int bias)
{
    static const double xv[5] = {1, 2, 3, 4, 5}, wv[4] = {1, 10, 100, 1000}, bv[1] = {0.5};
    ag_graph *g = ag_test_graph(dt);
    int64_t xs[3] = {1, 5, 1}, ws[3] = {k, 1, 1}, bs[1] = {1};
    ag_node *x = ag_test_var(g, "x", 3, xs, xv), *w = ag_test_var(g, "w", 3, ws, wv);
    ag_node *b = bias ? ag_test_var(g, "b", 1, bs, bv) : NULL;
    ag_node *zn = ag_conv1d_strided(g, x, w, b, pad, stride);
    assert_non_null(zn);
    AG_ASSERT_OK(g, ag_forward(g, &zn, 1));
    int64_t zs[3] = {1, tz, 1};
    expect_shape(ag_value(zn), 3, zs);
    double want[8];
    for (int64_t i = 0; i < tz; i++)
        want[i] = z[i] + (bias ? 0.5 : 0);
    expect(ag_value(zn), want, tz, tol(dt, 1e4));
    ag_graph_free(g);
}

static void test_conv1d_padding_rules(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = FLOATS[d];
        /* K=3 valid: T' = 3 */
        conv_case(dt, 3, AG_PAD_VALID, 1, (const double[]){321, 432, 543}, 3, 1);
        /* K=3 same: one zero on each side */
        conv_case(dt, 3, AG_PAD_SAME, 1, (const double[]){210, 321, 432, 543, 54}, 5, 0);
        /* K=4 same: TensorFlow pads 1 left and 2 right (2 left would give 2100 first) */
        conv_case(dt, 4, AG_PAD_SAME, 1, (const double[]){3210, 4321, 5432, 543, 54}, 5, 1);
        /* K=3 causal: two zeros on the left */
        conv_case(dt, 3, AG_PAD_CAUSAL, 1, (const double[]){100, 210, 321, 432, 543}, 5, 0);
        /* K=4 valid: T' = 2 */
        conv_case(dt, 4, AG_PAD_VALID, 1, (const double[]){4321, 5432}, 2, 0);
        /* stride 2: valid T' = floor((5-3)/2)+1 = 2 */
        conv_case(dt, 3, AG_PAD_VALID, 2, (const double[]){321, 543}, 2, 0);
        /* same, stride 2: T' = 3, pad_total = (3-1)·2+3-5 = 2, 1 left */
        conv_case(dt, 3, AG_PAD_SAME, 2, (const double[]){210, 432, 54}, 3, 1);
        /* same, K=4, stride 2: T' = 3, pad_total = 3, 1 left, 2 right */
        conv_case(dt, 4, AG_PAD_SAME, 2, (const double[]){3210, 5432, 54}, 3, 0);
        /* causal, stride 2: T' = 3, 2 left */
        conv_case(dt, 3, AG_PAD_CAUSAL, 2, (const double[]){100, 321, 543}, 3, 0);
    }
}

/* Gradients of the K=3 'same' case with gz = ones: gw[k] = Σ_t xp[t+k] =
 * 10, 15, 14; gx[u] = Σ of the w[k] whose output exists = 11, 111, 111,
 * 111, 110; gbias = 5. And the K=4 'same' case: xp = [0,1,2,3,4,5,0,0],
 * gw = 10, 15, 14, 12; gx = 11, 111, 1111, 1111, 1110. */
static void test_conv1d_gradients(void **state)
{
    (void)state;
    static const double xv[5] = {1, 2, 3, 4, 5}, wv[4] = {1, 10, 100, 1000};
    for (int d = 0; d < 2; d++)
        for (int k = 3; k <= 4; k++) {
            ag_graph *g = ag_test_graph(FLOATS[d]);
            int64_t xs[3] = {1, 5, 1}, ws[3] = {k, 1, 1}, bs[1] = {1};
            ag_node *x = ag_test_var(g, "x", 3, xs, xv), *w = ag_test_var(g, "w", 3, ws, wv);
            ag_node *b = ag_test_var(g, "b", 1, bs, (const double[]){0});
            run(g, ag_conv1d(g, x, w, b, AG_PAD_SAME), NULL);
            if (k == 3) {
                expect(ag_grad(w), (const double[]){10, 15, 14}, 3, 0);
                expect(ag_grad(x), (const double[]){11, 111, 111, 111, 110}, 5, 0);
            } else {
                expect(ag_grad(w), (const double[]){10, 15, 14, 12}, 4, 0);
                expect(ag_grad(x), (const double[]){11, 111, 1111, 1111, 1110}, 5, 0);
            }
            expect(ag_grad(b), (const double[]){5}, 1, 0);
            ag_graph_free(g);
        }
}

/* A batch of short sequences (the GEMM folds the batch into its rows, so
 * register tiles span two batch elements) gives, bit for bit, what each
 * element gives alone (a batch of one is not folded): forward and the
 * input's gradient, float32 and float64, sizes off every tile width. */
static void test_conv1d_batch_matches_each_element(void **state)
{
    (void)state;
    enum { B = 5, T = 13, C = 20, K = 4, F = 37 };
    static double xv[B * T * C], wv[K * C * F], bv[F], gv[B * T * F];
    uint64_t r = 12345;
    double *all[4] = {xv, wv, bv, gv};
    const int n[4] = {B * T * C, K * C * F, F, B * T * F};
    for (int a = 0; a < 4; a++)
        for (int i = 0; i < n[a]; i++) {
            r = r * 6364136223846793005u + 1442695040888963407u;
            all[a][i] = (double)(r >> 11) / 9007199254740992.0 * 2 - 1;
        }
    for (int d = 0; d < 2; d++) {
        ag_graph *g = ag_test_graph(FLOATS[d]);
        int64_t xs[3] = {B, T, C}, ws[3] = {K, C, F}, bs[1] = {F}, zs[3] = {B, T, F};
        ag_node *x = ag_test_var(g, "x", 3, xs, xv), *w = ag_test_var(g, "w", 3, ws, wv),
                *b = ag_test_var(g, "b", 1, bs, bv);
        ag_tensor *gz = ag_test_tensor(FLOATS[d], 3, zs, gv);
        ag_node *z = ag_conv1d(g, x, w, b, AG_PAD_SAME);
        run(g, z, gz);
        size_t es = ag_dtype_size(FLOATS[d]);
        for (int e = 0; e < B; e++) {
            ag_graph *g1 = ag_test_graph(FLOATS[d]);
            int64_t xs1[3] = {1, T, C}, zs1[3] = {1, T, F};
            ag_node *x1 = ag_test_var(g1, "x", 3, xs1, xv + e * T * C),
                    *w1 = ag_test_var(g1, "w", 3, ws, wv), *b1 = ag_test_var(g1, "b", 1, bs, bv);
            ag_tensor *gz1 = ag_test_tensor(FLOATS[d], 3, zs1, gv + e * T * F);
            ag_node *z1 = ag_conv1d(g1, x1, w1, b1, AG_PAD_SAME);
            run(g1, z1, gz1);
            assert_memory_equal((char *)ag_value(z)->data + (size_t)e * T * F * es,
                                ag_value(z1)->data, (size_t)T * F * es);
            assert_memory_equal((char *)ag_grad(x)->data + (size_t)e * T * C * es,
                                ag_grad(x1)->data, (size_t)T * C * es);
            ag_tensor_free(gz1);
            ag_graph_free(g1);
        }
        ag_tensor_free(gz);
        ag_graph_free(g);
    }
}

/* conv1d_masked is conv1d(x·m[..., None]) bit for bit: the value and the
 * gradients of x, w and bias, at stride 1 (the GEMM path) and 2 (col2im),
 * with a 0/1 mask, a float32 and a float64 graph. */
static void conv1d_masked_run(ag_dtype dt, int fused, int stride, const double *vals[5],
                              ag_tensor *out[4])
{
    enum { B = 3, T = 11, C = 20, K = 4, F = 37 };
    ag_graph *g = ag_test_graph(dt);
    int64_t xs[3] = {B, T, C}, ws[3] = {K, C, F}, bs[1] = {F}, ms[2] = {B, T},
            zs[3] = {B, (T + stride - 1) / stride, F};
    ag_node *x = ag_test_var(g, "x", 3, xs, vals[0]), *w = ag_test_var(g, "w", 3, ws, vals[1]),
            *b = ag_test_var(g, "b", 1, bs, vals[2]);
    ag_tensor *mt = ag_test_tensor(dt, 2, ms, vals[3]), *gz = ag_test_tensor(dt, 3, zs, vals[4]);
    ag_node *m = ag_constant(g, mt);
    ag_node *z = fused ? ag_conv1d_masked(g, x, m, w, b, AG_PAD_SAME, stride)
                       : ag_conv1d_strided(g, ag_mul(g, x, ag_expand_dims(g, m, -1)), w, b,
                                           AG_PAD_SAME, stride);
    run(g, z, gz);
    out[0] = ag_tensor_copy(ag_value(z), NULL);
    out[1] = ag_tensor_copy(ag_grad(x), NULL);
    out[2] = ag_tensor_copy(ag_grad(w), NULL);
    out[3] = ag_tensor_copy(ag_grad(b), NULL);
    ag_tensor_free(mt);
    ag_tensor_free(gz);
    ag_graph_free(g);
}

static void test_conv1d_masked_is_the_product(void **state)
{
    (void)state;
    enum { B = 3, T = 11, C = 20, K = 4, F = 37 };
    static double xv[B * T * C], wv[K * C * F], bv[F], mv[B * T], gv[B * T * F];
    uint64_t r = 777;
    double *all[5] = {xv, wv, bv, mv, gv};
    const int n[5] = {B * T * C, K * C * F, F, B * T, B * T * F};
    for (int a = 0; a < 5; a++)
        for (int i = 0; i < n[a]; i++) {
            r = r * 6364136223846793005u + 1442695040888963407u;
            all[a][i] = (double)(r >> 11) / 9007199254740992.0 * 2 - 1;
            if (a == 3) all[a][i] = all[a][i] > -0.3; /* 0/1, mostly on */
        }
    const double *vals[5] = {xv, wv, bv, mv, gv};
    for (int d = 0; d < 2; d++)
        for (int stride = 1; stride <= 2; stride++) {
            ag_tensor *a[4], *b[4];
            conv1d_masked_run(FLOATS[d], 0, stride, vals, a);
            conv1d_masked_run(FLOATS[d], 1, stride, vals, b);
            for (int i = 0; i < 4; i++) {
                assert_int_equal(a[i]->size, b[i]->size);
                assert_memory_equal(a[i]->data, b[i]->data,
                                    (size_t)a[i]->size * ag_dtype_size(FLOATS[d]));
                ag_tensor_free(a[i]);
                ag_tensor_free(b[i]);
            }
        }
}

/* Several channels and filters against a direct loop over the formula. */
static void test_conv1d_channels(void **state)
{
    (void)state;
    enum { B = 2, T = 7, C = 3, K = 4, F = 5 };
    double xv[B * T * C], wv[K * C * F], bv[F];
    for (int i = 0; i < B * T * C; i++)
        xv[i] = (i * 37 % 11) - 5;
    for (int i = 0; i < K * C * F; i++)
        wv[i] = (i * 13 % 7) - 3;
    for (int i = 0; i < F; i++)
        bv[i] = i;
    for (int pad = 0; pad < 3; pad++) {
        ag_graph *g = ag_test_graph(AG_FLOAT64);
        int64_t xs[3] = {B, T, C}, ws[3] = {K, C, F}, bs[1] = {F};
        ag_node *x = ag_test_var(g, "x", 3, xs, xv), *w = ag_test_var(g, "w", 3, ws, wv),
                *b = ag_test_var(g, "b", 1, bs, bv);
        ag_node *z = ag_conv1d(g, x, w, b, (ag_padding)pad);
        AG_ASSERT_OK(g, ag_forward(g, &z, 1));
        int tz = pad == AG_PAD_VALID ? T - K + 1 : T;
        int pl = pad == AG_PAD_VALID ? 0 : pad == AG_PAD_SAME ? (K - 1) / 2 : K - 1;
        double want[B * T * F];
        for (int bb = 0; bb < B; bb++)
            for (int t = 0; t < tz; t++)
                for (int f = 0; f < F; f++) {
                    double s = bv[f];
                    for (int k = 0; k < K; k++)
                        for (int c = 0; c < C; c++) {
                            int u = t + k - pl;
                            if (u >= 0 && u < T)
                                s += xv[(bb * T + u) * C + c] * wv[(k * C + c) * F + f];
                        }
                    want[(bb * tz + t) * F + f] = s;
                }
        expect(ag_value(z), want, B * tz * F, 0);
        ag_graph_free(g);
    }
}

static void test_conv1d_errors(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    int64_t xs[3] = {1, 5, 2}, ws[3] = {3, 1, 4}, w2[3] = {6, 2, 4}, bs[1] = {3};
    ag_node *x = ag_variable(g, "x", 3, xs), *w = ag_variable(g, "w", 3, ws);
    assert_null(ag_conv1d(g, x, w, NULL, AG_PAD_SAME));
    assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "conv1d");
    ag_assert_msg_has(ag_graph_error(g), "C=2");
    ag_assert_msg_has(ag_graph_error(g), "C=1");
    /* valid with T < K */
    ag_graph_clear_error(g);
    ag_node *wk = ag_variable(g, "wk", 3, w2);
    assert_null(ag_conv1d(g, x, wk, NULL, AG_PAD_VALID));
    ag_assert_msg_has(ag_graph_error(g), "T >= K");
    /* but 'same' is fine */
    ag_graph_clear_error(g);
    assert_non_null(ag_conv1d(g, x, wk, NULL, AG_PAD_SAME));
    /* a bias of the wrong length */
    assert_null(ag_conv1d(g, x, wk, ag_variable(g, "b", 1, bs), AG_PAD_SAME));
    ag_assert_msg_has(ag_graph_error(g), "bias");
    /* a bad stride, a bad padding, an int input */
    ag_graph_clear_error(g);
    assert_null(ag_conv1d_strided(g, x, wk, NULL, AG_PAD_SAME, 0));
    assert_int_equal(ag_graph_status(g), AG_ERR_ARG);
    ag_assert_msg_has(ag_graph_error(g), "stride");
    ag_graph_clear_error(g);
    assert_null(ag_conv1d(g, x, wk, NULL, (ag_padding)7));
    ag_assert_msg_has(ag_graph_error(g), "padding");
    ag_graph_clear_error(g);
    assert_null(ag_conv1d(g, ag_input(g, "i", AG_INT32, 3, xs), wk, NULL, AG_PAD_SAME));
    assert_int_equal(ag_graph_status(g), AG_ERR_DTYPE);
    /* NULL from an earlier failure */
    ag_graph_clear_error(g);
    assert_null(ag_conv1d(g, NULL, wk, NULL, AG_PAD_SAME));
    assert_int_equal(ag_graph_status(g), AG_ERR_ARG);
    /* a mask of the wrong shape or dtype */
    ag_graph_clear_error(g);
    ag_node *m15 = ag_input(g, "m15", AG_FLOAT32, 2, (int64_t[]){1, 5});
    assert_non_null(ag_conv1d_masked(g, x, m15, wk, NULL, AG_PAD_SAME, 1));
    assert_null(ag_conv1d_masked(g, x, ag_input(g, "m14", AG_FLOAT32, 2, (int64_t[]){1, 4}), wk,
                                 NULL, AG_PAD_SAME, 1));
    assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g),
                      "mask must be (B,T) of x (1, 5, 2), received shape (1, 4)");
    ag_graph_clear_error(g);
    assert_null(ag_conv1d_masked(g, x, ag_input(g, "mb", AG_BOOL, 2, (int64_t[]){1, 5}), wk, NULL,
                                 AG_PAD_SAME, 1));
    assert_int_equal(ag_graph_status(g), AG_ERR_DTYPE);
    ag_assert_msg_has(ag_graph_error(g), "and the mask must be float tensors of one dtype");
    ag_assert_msg_has(ag_graph_error(g), "bool");
    ag_graph_free(g);
}

/* ---- dropout ---- */

static void test_dropout(void **state)
{
    (void)state;
    enum { N = 100000 };
    const double rate = 0.3;
    for (int d = 0; d < 2; d++) {
        ag_graph *g = ag_test_graph(FLOATS[d]);
        int64_t s[1] = {N};
        ag_node *x = ag_variable(g, "x", 1, s);
        ag_fill_uniform(ag_value(x), 0.5, 1.5, 1, 0);
        ag_node *z = ag_dropout(g, x, rate, 42);
        assert_non_null(z);
        /* inference: identity, both ways */
        run(g, z, NULL);
        assert_memory_equal(ag_value(z)->data, ag_value(x)->data, N * ag_dtype_size(FLOATS[d]));
        for (int i = 0; i < N; i++)
            assert_true(ag_tensor_get(ag_grad(x), i) == 1);
        assert_int_equal(ag_graph_step(g), 0);
        /* training: the mask is [u(seed, step, i) >= rate], kept values scaled */
        ag_graph_set_training(g, 1);
        ag_graph_set_step(g, 5);
        run(g, z, NULL);
        assert_int_equal(ag_graph_step(g), 6);
        int kept = 0;
        double scale = 1 / (1 - rate);
        for (int i = 0; i < N; i++) {
            int keep = ag_rand_uniform(42, 5, (uint64_t)i) >= rate;
            double xi = ag_tensor_get(ag_value(x), i), zi = ag_tensor_get(ag_value(z), i);
            double want = FLOATS[d] == AG_FLOAT32 ? (double)((float)xi * (float)scale) : xi * scale;
            if (keep != (zi != 0)) fail_msg("element %d: keep %d but z = %g", i, keep, zi);
            if (keep && zi != want) fail_msg("element %d: z = %.17g, expected %.17g", i, zi, want);
            double gx = ag_tensor_get(ag_grad(x), i);
            if (gx != (keep ? (FLOATS[d] == AG_FLOAT32 ? (double)(float)scale : scale) : 0))
                fail_msg("element %d: gx = %g with keep %d", i, gx, keep);
            kept += keep;
        }
        AG_ASSERT_NEAR((double)kept / N, 1 - rate, 0.01);
        /* the same step again gives the same mask; another step another */
        ag_tensor *first = ag_tensor_copy(ag_value(z), NULL);
        ag_graph_set_step(g, 5);
        AG_ASSERT_OK(g, ag_forward(g, &z, 1));
        assert_memory_equal(first->data, ag_value(z)->data, N * ag_dtype_size(FLOATS[d]));
        AG_ASSERT_OK(g, ag_forward(g, &z, 1)); /* step 6 */
        int differ = 0;
        for (int i = 0; i < N; i++)
            differ += ag_tensor_get(first, i) != ag_tensor_get(ag_value(z), i);
        assert_true(differ > N / 10);
        ag_tensor_free(first);
        ag_graph_free(g);
    }
    /* rate must be in [0, 1) */
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    int64_t s[1] = {3};
    ag_node *x = ag_variable(g, "x", 1, s);
    const double bad[3] = {1.0, -0.1, NAN};
    for (int i = 0; i < 3; i++) {
        ag_graph_clear_error(g);
        assert_null(ag_dropout(g, x, bad[i], 1));
        assert_int_equal(ag_graph_status(g), AG_ERR_ARG);
        ag_assert_msg_has(ag_graph_error(g), "dropout: rate must be in [0, 1)");
    }
    ag_graph_clear_error(g);
    assert_null(ag_dropout(g, ag_input(g, "i", AG_INT32, 1, s), 0.5, 1));
    assert_int_equal(ag_graph_status(g), AG_ERR_DTYPE);
    ag_graph_free(g);
}

/* ---- losses ---- */

static double loss_value(ag_node *l) { return ag_tensor_get(ag_value(l), 0); }

static void test_binary_crossentropy(void **state)
{
    (void)state;
    const double eps = 1e-7;
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = FLOATS[d];
        ag_graph *g = ag_test_graph(dt);
        int64_t s[1] = {5};
        /* 1.0 and 0.0 are clipped to 1-ε and ε; 1.2 beyond the range too */
        ag_node *p = ag_test_var(g, "p", 1, s, (const double[]){0.9, 0.2, 0.6, 1.0, 0.0});
        ag_node *y = cst(g, AG_FLOAT64, 1, s, (const double[]){1, 0, 1, 1, 1});
        ag_node *l = ag_binary_crossentropy(g, p, y, 0);
        run(g, l, NULL);
        double want = -(log(0.9) + log(0.8) + log(0.6) + log(1 - eps) + log(eps)) / 5;
        AG_ASSERT_NEAR(loss_value(l), want, tol(dt, 10));
        /* inside the clip gp = (p-y)/(p(1-p))/N; 0 where clipped */
        const double gp[5] = {(0.9 - 1) / (0.9 * 0.1) / 5, 0.2 / (0.2 * 0.8) / 5,
                              (0.6 - 1) / (0.6 * 0.4) / 5, 0, 0};
        expect(ag_grad(p), gp, 5, tol(dt, 10));
        assert_null(ag_grad(y));
        ag_graph_free(g);

        /* from logits: mean(max(x,0) - x y + log(1 + e^-|x|)), gx = (σ(x) - y)/N */
        g = ag_test_graph(dt);
        int64_t s2[1] = {2};
        ag_node *x = ag_test_var(g, "x", 1, s2, (const double[]){2, -1});
        y = cst(g, AG_FLOAT64, 1, s2, (const double[]){1, 0});
        l = ag_binary_crossentropy(g, x, y, 1);
        run(g, l, NULL);
        AG_ASSERT_NEAR(loss_value(l), (log1p(exp(-2)) + log1p(exp(-1))) / 2, tol(dt, 1));
        const double gx[2] = {(1 / (1 + exp(-2)) - 1) / 2, 1 / (1 + exp(1)) / 2};
        expect(ag_grad(x), gx, 2, tol(dt, 1));
        ag_graph_free(g);
    }
}

static void test_categorical_crossentropy(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = FLOATS[d];
        ag_graph *g = ag_test_graph(dt);
        int64_t s[2] = {2, 3};
        /* row 0 normalises to [.25,.25,.5]; row 1's true class has q = 0,
         * clipped to ε */
        ag_node *p = ag_test_var(g, "p", 2, s, (const double[]){1, 1, 2, 0.5, 0.5, 0});
        ag_node *y = cst(g, AG_FLOAT64, 2, s, (const double[]){0, 0, 1, 0, 0, 1});
        ag_node *l = ag_categorical_crossentropy(g, p, y, 0);
        run(g, l, NULL);
        AG_ASSERT_NEAR(loss_value(l), (-log(0.5) - log(1e-7)) / 2, tol(dt, 10));
        /* row 0: gq_2 = -1/(0.5·2), gp_j = (gq_j - gq_2 q_2)/s with s = 4;
         * row 1: clipped, zero */
        const double gq = -1.0, dot = gq * 0.5;
        const double gp[6] = {-dot / 4, -dot / 4, (gq - dot) / 4, 0, 0, 0};
        expect(ag_grad(p), gp, 6, tol(dt, 1));
        ag_graph_free(g);

        /* logits [1,2,3], one-hot class 2: L = lse - 3; gx = softmax - y */
        g = ag_test_graph(dt);
        int64_t s1[2] = {1, 3};
        ag_node *x = ag_test_var(g, "x", 2, s1, (const double[]){1, 2, 3});
        y = cst(g, AG_FLOAT64, 2, s1, (const double[]){0, 0, 1});
        l = ag_categorical_crossentropy(g, x, y, 1);
        run(g, l, NULL);
        const double lse = log(exp(1) + exp(2) + exp(3));
        AG_ASSERT_NEAR(loss_value(l), lse - 3, tol(dt, 1));
        const double gx[3] = {exp(1 - lse), exp(2 - lse), exp(3 - lse) - 1};
        expect(ag_grad(x), gx, 3, tol(dt, 1));
        ag_graph_free(g);
    }
}

static void test_sparse_categorical_crossentropy(void **state)
{
    (void)state;
    const ag_dtype label_types[3] = {AG_INT32, AG_INT64, AG_FLOAT64};
    for (int d = 0; d < 2; d++)
        for (int lt = 0; lt < 3; lt++) {
            ag_dtype dt = FLOATS[d];
            ag_graph *g = ag_test_graph(dt);
            int64_t s[2] = {2, 3}, ls[2] = {2, 1};
            ag_node *p = ag_test_var(g, "p", 2, s, (const double[]){1, 1, 2, 1, 2, 3});
            /* labels (2) or, for floats, (2,1) as Keras allows */
            ag_node *y = cst(g, label_types[lt], lt == 2 ? 2 : 1, ls, (const double[]){2, 0});
            ag_node *l = ag_sparse_categorical_crossentropy(g, p, y, 0);
            run(g, l, NULL);
            AG_ASSERT_NEAR(loss_value(l), (-log(0.5) - log(1.0 / 6)) / 2, tol(dt, 1));
            ag_graph_free(g);

            g = ag_test_graph(dt);
            p = ag_test_var(g, "x", 2, s, (const double[]){1, 2, 3, 0, 0, 0});
            y = cst(g, label_types[lt], 1, ls, (const double[]){2, 1});
            l = ag_sparse_categorical_crossentropy(g, p, y, 1);
            run(g, l, NULL);
            const double lse = log(exp(1) + exp(2) + exp(3));
            AG_ASSERT_NEAR(loss_value(l), (lse - 3 + log(3)) / 2, tol(dt, 1));
            const double gx[6] = {exp(1 - lse) / 2, exp(2 - lse) / 2,  (exp(3 - lse) - 1) / 2,
                                  1.0 / 6,          (1.0 / 3 - 1) / 2, 1.0 / 6};
            expect(ag_grad(p), gx, 6, tol(dt, 1));
            ag_graph_free(g);
        }
    /* labels out of range, not whole, or of the wrong shape */
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    int64_t s[2] = {2, 3}, ls[1] = {2}, l3[1] = {3};
    ag_node *p = ag_variable(g, "p", 2, s);
    ag_node *li = ag_input(g, "labels", AG_INT32, 1, ls);
    ag_node *l = ag_sparse_categorical_crossentropy(g, p, li, 1);
    ag_tensor *t = ag_test_tensor(AG_INT32, 1, ls, (const double[]){0, 3});
    AG_ASSERT_OK(g, ag_feed(g, li, t));
    assert_int_equal(ag_forward(g, &l, 1), AG_ERR_RANGE);
    ag_assert_msg_has(ag_graph_error(g), "label 3 at flat position 1");
    ag_assert_msg_has(ag_graph_error(g), "C=3");
    ag_tensor_free(t);
    ag_node *lf = ag_sparse_categorical_crossentropy(
        g, p, cst(g, AG_FLOAT64, 1, ls, (const double[]){1.5, 0}), 0);
    assert_int_equal(ag_forward(g, &lf, 1), AG_ERR_RANGE);
    ag_assert_msg_has(ag_graph_error(g), "label 1.5");
    ag_graph_clear_error(g);
    assert_null(ag_sparse_categorical_crossentropy(g, p, ag_input(g, "l3", AG_INT32, 1, l3), 1));
    assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
    ag_assert_msg_has(ag_graph_error(g), "(2, 3)");
    ag_assert_msg_has(ag_graph_error(g), "(3,)");
    ag_graph_free(g);
}

static void test_mean_squared_error_and_errors(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        ag_graph *g = ag_test_graph(FLOATS[d]);
        int64_t s[1] = {3};
        ag_node *x = ag_test_var(g, "x", 1, s, (const double[]){1, 2, 3});
        ag_node *y = cst(g, AG_FLOAT64, 1, s, (const double[]){1, 0, 0});
        ag_node *l = ag_mean_squared_error(g, x, y);
        run(g, l, NULL);
        int64_t none[1] = {0};
        expect_shape(ag_value(l), 0, none);
        AG_ASSERT_NEAR(loss_value(l), 13.0 / 3, tol(FLOATS[d], 4));
        expect(ag_grad(x), (const double[]){0, 4.0 / 3, 2}, 3, tol(FLOATS[d], 2));
        ag_graph_free(g);
    }
    /* pred and target shapes must match; targets must be floats */
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    int64_t a[2] = {2, 3}, b[2] = {3, 2};
    ag_node *p = ag_variable(g, "p", 2, a), *t = ag_variable(g, "t", 2, b);
    ag_node *(*losses[3])(ag_graph *, ag_node *, ag_node *,
                          int) = {ag_binary_crossentropy, ag_categorical_crossentropy, NULL};
    for (int i = 0; i < 3; i++) {
        ag_graph_clear_error(g);
        assert_null(losses[i] ? losses[i](g, p, t, 0) : ag_mean_squared_error(g, p, t));
        assert_int_equal(ag_graph_status(g), AG_ERR_SHAPE);
        ag_assert_msg_has(ag_graph_error(g), "pred (2, 3)");
        ag_assert_msg_has(ag_graph_error(g), "target (3, 2)");
    }
    ag_graph_clear_error(g);
    assert_null(ag_mean_squared_error(g, p, ag_input(g, "i", AG_INT32, 2, a)));
    assert_int_equal(ag_graph_status(g), AG_ERR_DTYPE);
    ag_assert_msg_has(ag_graph_error(g), "mean_squared_error");
    ag_graph_clear_error(g);
    assert_null(ag_binary_crossentropy(g, ag_input(g, "j", AG_INT32, 2, a), p, 0));
    assert_int_equal(ag_graph_status(g), AG_ERR_DTYPE);
    ag_graph_free(g);
}

/* ---- threads ---- */

typedef struct {
    ag_graph *g;
    ag_node *out, *leaves[4];
    int n_leaves;
} case_graph;

/* The value of out and every leaf's gradient, after a run on `threads`. */
static ag_tensor **run_on(case_graph *c, int threads)
{
    omp_set_num_threads(threads);
    AG_ASSERT_OK(c->g, ag_forward(c->g, &c->out, 1));
    ag_tensor *gz = ag_tensor_new(ag_value(c->out)->dtype, ag_value(c->out)->rank,
                                  ag_value(c->out)->shape, NULL);
    ag_fill_uniform(gz, -1, 1, 9, 9);
    AG_ASSERT_OK(c->g, ag_backward(c->g, c->out, gz));
    ag_tensor_free(gz);
    ag_tensor **r = calloc((size_t)c->n_leaves + 1, sizeof *r);
    r[0] = ag_tensor_copy(ag_value(c->out), NULL);
    for (int i = 0; i < c->n_leaves; i++)
        r[i + 1] = ag_tensor_copy(ag_grad(c->leaves[i]), NULL);
    return r;
}

static void compare_threads(case_graph *c, const char *what)
{
    ag_tensor **one = run_on(c, 1), **two = run_on(c, 2);
    for (int i = 0; i <= c->n_leaves; i++) {
        assert_int_equal(one[i]->size, two[i]->size);
        if (memcmp(one[i]->data, two[i]->data, (size_t)one[i]->size * ag_dtype_size(one[i]->dtype)))
            fail_msg("%s: tensor %d differs between 1 and 2 threads", what, i);
        ag_tensor_free(one[i]);
        ag_tensor_free(two[i]);
    }
    free(one);
    free(two);
    omp_set_num_threads(2);
}

static ag_node *rand_var(ag_graph *g, const char *name, int rank, const int64_t *shape, uint64_t s)
{
    ag_node *v = ag_variable(g, name, rank, shape);
    ag_fill_uniform(ag_value(v), -1, 1, s, 0);
    return v;
}

static void test_thread_count_invariance(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < 4; f++) {
            int tx = f & 1, ty = f >> 1;
            /* batched and shared, each large enough to run in parallel */
            for (int shared = 0; shared < 2; shared++) {
                case_graph c = {.g = ag_test_graph(FLOATS[d]), .n_leaves = 2};
                int64_t xs[3] = {5, tx ? 70 : 123, tx ? 123 : 70};
                int64_t ys[3] = {5, ty ? 90 : 70, ty ? 70 : 90};
                c.leaves[0] = rand_var(c.g, "x", 3, xs, 1);
                c.leaves[1] = rand_var(c.g, "y", shared ? 2 : 3, shared ? ys + 1 : ys, 2);
                c.out = ag_matmul(c.g, c.leaves[0], c.leaves[1], tx, ty);
                compare_threads(&c, "matmul");
                ag_graph_free(c.g);
            }
        }
    for (int d = 0; d < 2; d++)
        for (int pad = 0; pad < 3; pad++)
            for (int stride = 1; stride <= 2; stride++) {
                case_graph c = {.g = ag_test_graph(FLOATS[d]), .n_leaves = 3};
                int64_t xs[3] = {8, 45, 24}, ws[3] = {4, 24, 40}, bs[1] = {40};
                c.leaves[0] = rand_var(c.g, "x", 3, xs, 1);
                c.leaves[1] = rand_var(c.g, "w", 3, ws, 2);
                c.leaves[2] = rand_var(c.g, "b", 1, bs, 3);
                c.out = ag_conv1d_strided(c.g, c.leaves[0], c.leaves[1], c.leaves[2],
                                          (ag_padding)pad, stride);
                compare_threads(&c, "conv1d");
                ag_graph_free(c.g);
            }
    /* embedding's scatter-add and softmax */
    for (int d = 0; d < 2; d++) {
        case_graph c = {.g = ag_test_graph(FLOATS[d]), .n_leaves = 1};
        int64_t ts[2] = {50, 64}, is[2] = {64, 40};
        c.leaves[0] = rand_var(c.g, "table", 2, ts, 1);
        ag_tensor *ids = ag_tensor_new(AG_INT32, 2, is, NULL);
        for (int64_t i = 0; i < ids->size; i++)
            AG_I32(ids)[i] = (int32_t)(i * 7919 % 50);
        ag_node *e = ag_embedding(c.g, ag_constant(c.g, ids), c.leaves[0]);
        c.out = ag_softmax(c.g, e);
        compare_threads(&c, "embedding+softmax");
        ag_tensor_free(ids);
        ag_graph_free(c.g);
    }
}

/* A training step of matmul, conv1d, embedding, dropout and a loss
 * allocates nothing once it has run with these shapes. */
static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    ag_graph *g = ag_test_graph(AG_FLOAT32);
    ag_graph_set_training(g, 1);
    int64_t is[2] = {-1, -1}, ts[2] = {30, 16}, ws[3] = {4, 16, 8}, ds[2] = {8, 1};
    ag_node *ids = ag_input(g, "ids", AG_INT32, 2, is);
    ag_node *table = rand_var(g, "table", 2, ts, 1), *w = rand_var(g, "w", 3, ws, 2);
    ag_node *dense = rand_var(g, "dense", 2, ds, 3);
    ag_node *h = ag_conv1d(g, ag_embedding(g, ids, table), w, NULL, AG_PAD_SAME);
    h = ag_dropout(g, ag_softmax(g, h), 0.2, 5);
    ag_node *logits = ag_matmul(g, h, dense, 0, 0); /* (B,T,1) */
    ag_node *y = ag_input(g, "y", AG_FLOAT32, 3, (const int64_t[]){-1, -1, 1});
    ag_node *loss = ag_binary_crossentropy(g, logits, y, 1);
    assert_non_null(loss);
    int64_t fs[2] = {4, 9}, ys[3] = {4, 9, 1};
    ag_tensor *fi = ag_tensor_new(AG_INT32, 2, fs, NULL),
              *fy = ag_tensor_new(AG_FLOAT32, 3, ys, NULL);
    for (int i = 0; i < 36; i++)
        AG_I32(fi)[i] = i % 30, AG_F32(fy)[i] = (float)(i % 2);
    AG_ASSERT_OK(g, ag_feed(g, ids, fi));
    AG_ASSERT_OK(g, ag_feed(g, y, fy));
    run(g, loss, NULL);
    run(g, loss, NULL);
    uint64_t before = ag_graph_alloc_count(g);
    for (int i = 0; i < 3; i++) {
        AG_ASSERT_OK(g, ag_feed(g, ids, fi));
        run(g, loss, NULL);
    }
    assert_int_equal(ag_graph_alloc_count(g), before);
    ag_tensor_free(fi);
    ag_tensor_free(fy);
    ag_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_2d_flags),
        cmocka_unit_test(test_matmul_batched_and_shared),
        cmocka_unit_test(test_matmul_large_blocked),
        cmocka_unit_test(test_matmul_errors),
        cmocka_unit_test(test_softmax_values),
        cmocka_unit_test(test_embedding_gather_scatter),
        cmocka_unit_test(test_embedding_errors),
        cmocka_unit_test(test_conv1d_padding_rules),
        cmocka_unit_test(test_conv1d_gradients),
        cmocka_unit_test(test_conv1d_channels),
        cmocka_unit_test(test_conv1d_batch_matches_each_element),
        cmocka_unit_test(test_conv1d_masked_is_the_product),
        cmocka_unit_test(test_conv1d_errors),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_binary_crossentropy),
        cmocka_unit_test(test_categorical_crossentropy),
        cmocka_unit_test(test_sparse_categorical_crossentropy),
        cmocka_unit_test(test_mean_squared_error_and_errors),
        cmocka_unit_test(test_thread_count_invariance),
        cmocka_unit_test(test_steady_state_allocates_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
