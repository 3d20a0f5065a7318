/* not_equal.c — elementwise comparison with a constant, as a bool mask.
 *
 *   x (any shape, any dtype) -> z (same shape, bool);  z = [x != c]
 *   No gradient flows (z is not a float).
 *
 * Keras's Embedding(mask_zero=True) makes its mask as not_equal(ids, 0).
 */
#include "../framework/internal.h"

typedef struct ne_params {
    double c;
} ne_params;

static ag_status ne_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                          ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in, (void)err;
    *out = in[0];
    out->dtype = AG_BOOL;
    return AG_OK;
}

/* x (n) of any dtype -> z (n) bool */
static ag_status ne_forward(ag_kernel_ctx *k)
{
    double c = ((const ne_params *)k->params)->c;
    const ag_tensor *x = k->in[0];
    uint8_t *z = AG_U8(k->out);
    int64_t n = x->size;
    switch (x->dtype) {
    case AG_INT32: {
        const int32_t *v = AG_I32(x);
        AG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++)
            z[i] = (double)v[i] != c;
        break;
    }
    case AG_INT64: {
        const int64_t *v = AG_I64(x);
        AG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++)
            z[i] = (double)v[i] != c;
        break;
    }
    case AG_FLOAT32: {
        const float *v = AG_F32(x);
        AG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++)
            z[i] = (double)v[i] != c;
        break;
    }
    case AG_FLOAT64: {
        const double *v = AG_F64(x);
        AG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++)
            z[i] = v[i] != c;
        break;
    }
    case AG_BOOL: {
        const uint8_t *v = AG_U8(x);
        AG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++)
            z[i] = (double)v[i] != c;
        break;
    }
    }
    return AG_OK;
}

static ag_node *sample_not_equal(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_not_equal = {.name = "not_equal",
                               .infer = ne_infer,
                               .forward = ne_forward,
                               .n_samples = 1,
                               .sample = sample_not_equal};

ag_node *ag_not_equal(ag_graph *g, ag_node *x, double c)
{
    ne_params p = {c};
    return ag_apply(g, &ag_op_not_equal, &x, 1, &p, sizeof p);
}

/* Sample: ids (A,T) int32 with at least one zero (padding) and at least
 * one non-zero per row masks a max over x (A,T,C): the gradient reaches x
 * only through unmasked steps. A 1 to 3, T 2 to 5, C 1 to 4, drawn from
 * seed. Along T the values are a permutation of 0, 0.5, ... plus noise in
 * [0, 0.2), so the maximum never ties. */
static ag_node *sample_not_equal(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x6e6f74657175616cULL + (uint64_t)variant);
    int64_t A = 1 + (int64_t)ag_rng_below(&r, 3), T = 2 + (int64_t)ag_rng_below(&r, 4),
            C = 1 + (int64_t)ag_rng_below(&r, 4);
    const int64_t is[2] = {A, T}, xs[3] = {A, T, C};
    ag_tensor *t = ag_tensor_new(AG_INT32, 2, is, NULL);
    if (!t) return NULL;
    for (int64_t i = 0; i < A * T; i++)
        AG_I32(t)[i] = ag_rng_below(&r, 2) ? 1 + (int32_t)ag_rng_below(&r, 7) : 0;
    int64_t keep[3];
    for (int64_t a = 0; a < A; a++) {
        keep[a] = (int64_t)ag_rng_below(&r, (uint64_t)T);
        AG_I32(t)[a * T + keep[a]] = 5;
    }
    /* one zero at a step other than its row's kept one */
    int64_t za = (int64_t)ag_rng_below(&r, (uint64_t)A),
            zt = (int64_t)ag_rng_below(&r, (uint64_t)T - 1);
    AG_I32(t)[za * T + zt + (zt >= keep[za])] = 0;
    ag_node *idn = ag_constant(g, t);
    ag_tensor_free(t);
    ag_node *x = ag__sample_var(g, "x", 3, xs, 0, 0.2, seed, 1);
    if (!x) return NULL;
    ag_tensor *v = ag_value(x);
    for (int64_t i = 0; i < v->size; i++) {
        int64_t n = (i / C) % T, c = i % C, a = i / (T * C);
        AG_F64(v)[i] += 0.5 * (double)((n + a + 2 * c) % T);
    }
    return ag_max(g, x, 1, 0, ag_not_equal(g, idn, 0));
}
