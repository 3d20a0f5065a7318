/* reduce.c — sum and mean over chosen axes.
 *
 *   sum:  z = Σ_axes x;       gx = gz broadcast back over the axes
 *   mean: z = Σ_axes x / N;   gx = gz/N broadcast back (N = elements summed)
 *
 * x (...) -> z (x's shape without the axes, or with them as 1 under
 * keepdims). Negative axes count from the end; no axes means all. Each
 * output element is summed by one thread in row-major order of the reduced
 * axes, in double (the broadcast machinery of binary.c, read backwards:
 * z is x's shape with the reduced axes at 1, broadcast to x).
 */
#include "../framework/internal.h"

#include <math.h>

typedef struct {
    int n_axes;
    int axes[AG_MAX_RANK];
    int keepdims;
    int mean;
} reduce_params;

/* The reduced axes as a bit mask, checked against the rank. */
static ag_status axes_mask(const reduce_params *p, const ag_shape *x, unsigned *mask, ag_error *err)
{
    char s[96];
    *mask = p->n_axes == 0 ? (1u << x->rank) - 1 : 0;
    for (int i = 0; i < p->n_axes; i++) {
        int a = p->axes[i];
        if (a < -x->rank || a >= x->rank) {
            if (x->rank == 0)
                return ag_error_set(err, AG_ERR_ARG,
                                    "axis %d is out of range: x has shape () and no axes", a);
            return ag_error_set(err, AG_ERR_ARG,
                                "axis %d is out of range for x of shape %s (expected %d to %d)", a,
                                ag__sstr(x, s, sizeof s), -x->rank, x->rank - 1);
        }
        int n = a < 0 ? a + x->rank : a;
        if (*mask >> n & 1)
            return ag_error_set(err, AG_ERR_ARG,
                                "axis %d is listed twice (axes are counted modulo rank %d)", a,
                                x->rank);
        *mask |= 1u << n;
    }
    return AG_OK;
}

/* x's shape with the reduced axes set to 1. */
static ag_shape kept_shape(const ag_shape *x, unsigned mask)
{
    ag_shape k = *x;
    for (int d = 0; d < x->rank; d++)
        if (mask >> d & 1) k.dim[d] = 1;
    return k;
}

static ag_status reduce_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                              ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in;
    const reduce_params *p = params;
    if (!ag_dtype_is_float(in[0].dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "x is %s, expected float32 or float64",
                            ag_dtype_name(in[0].dtype));
    unsigned mask;
    ag_status st = axes_mask(p, &in[0], &mask, err);
    if (st) return st;
    out->dtype = in[0].dtype;
    out->rank = 0;
    for (int d = 0; d < in[0].rank; d++) {
        if (!(mask >> d & 1))
            out->dim[out->rank++] = in[0].dim[d];
        else if (p->keepdims)
            out->dim[out->rank++] = 1;
    }
    return AG_OK;
}

/* The plan (x, x's shape with reduced axes 1) and the scale 1 or 1/N. */
static void reduce_plan(const ag_kernel_ctx *k, ag__bcast *plan, double *scale)
{
    const reduce_params *p = k->params;
    ag_shape s[2];
    s[0] = ag__tensor_shape(k->in[0]);
    unsigned mask;
    axes_mask(p, &s[0], &mask, NULL); /* checked by infer */
    s[1] = kept_shape(&s[0], mask);
    ag__bcast_init(plan, 2, s);
    *scale = 1;
    if (p->mean) {
        int64_t n = 1;
        for (int d = 0; d < s[0].rank; d++)
            if (mask >> d & 1) n *= s[0].dim[d];
        *scale = n ? 1.0 / (double)n : NAN;
    }
}

static ag_status reduce_forward(ag_kernel_ctx *k)
{
    ag__bcast plan;
    double scale;
    reduce_plan(k, &plan, &scale);
    ag_tensor_zero(k->out);
    if (k->out->dtype == AG_FLOAT32)
        ag__bcast_reduce_add_float(&plan, 1, AG_F32(k->in[0]), AG_F32(k->out), scale);
    else
        ag__bcast_reduce_add_double(&plan, 1, AG_F64(k->in[0]), AG_F64(k->out), scale);
    if (isnan(scale)) /* the mean of nothing, as NumPy */
        for (int64_t i = 0; i < k->out->size; i++)
            ag_tensor_set(k->out, i, NAN);
    return AG_OK;
}

static ag_status reduce_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    ag__bcast plan;
    double scale;
    reduce_plan(k, &plan, &scale);
    if (k->out->dtype == AG_FLOAT32)
        ag__bcast_expand_add_float(&plan, 1, AG_F32(k->gout), AG_F32(k->gin[0]), scale);
    else
        ag__bcast_expand_add_double(&plan, 1, AG_F64(k->gout), AG_F64(k->gin[0]), scale);
    return AG_OK;
}

static ag_node *reduce(ag_graph *g, const ag_op *op, int mean, ag_node *x, const int *axes,
                       int n_axes, int keepdims)
{
    reduce_params p = {.keepdims = keepdims != 0, .mean = mean};
    if (g && x) {
        if (n_axes < 0 || n_axes > AG_MAX_RANK) {
            ag__fail(g, AG_ERR_ARG, "%s: n_axes must be 0 to %d, received %d", op->name,
                     AG_MAX_RANK, n_axes);
            return NULL;
        }
        if (n_axes > 0 && !axes) {
            ag__fail(g, AG_ERR_ARG, "%s: axes is NULL but n_axes is %d", op->name, n_axes);
            return NULL;
        }
        p.n_axes = n_axes;
        for (int i = 0; i < n_axes; i++)
            p.axes[i] = axes[i];
    }
    return ag_apply(g, op, &x, 1, &p, sizeof p);
}

/* Sample graphs, dims 1 to 4 (1 to 3 at rank 4) drawn from (seed, variant):
 * x of rank 1-3 over every axis; x of rank 1-3 over one random axis with
 * keepdims; x of rank 2-4 over two random distinct axes, each written as a
 * non-negative or a negative axis, in either order. */
static ag_node *sample_reduce(ag_graph *g, const ag_op *op, int mean, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x726564756365ULL + 16 * (uint64_t)mean + (uint64_t)variant);
    int rank = variant == 2 ? 2 + (int)ag_rng_below(&r, 3) : 1 + (int)ag_rng_below(&r, 3);
    int64_t shape[4];
    for (int d = 0; d < rank; d++)
        shape[d] = 1 + (int64_t)ag_rng_below(&r, rank == 4 ? 3 : 4);
    int axes[2];
    axes[0] = (int)ag_rng_below(&r, (uint64_t)rank);
    axes[1] = rank > 1 ? (axes[0] + 1 + (int)ag_rng_below(&r, (uint64_t)rank - 1)) % rank : 0;
    for (int i = 0; i < 2; i++)
        if (ag_rng_below(&r, 2)) axes[i] -= rank;
    ag_node *x = ag__sample_var(g, "x", rank, shape, -2, 2, seed, 1);
    switch (variant) {
    case 0: return reduce(g, op, mean, x, NULL, 0, 0);
    case 1: return reduce(g, op, mean, x, axes, 1, 1);
    default: return reduce(g, op, mean, x, axes, 2, 0);
    }
}

#define REDUCE_OP(NAME, MEAN)                                                                      \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed);                        \
    const ag_op ag_op_##NAME = {.name = #NAME,                                                     \
                                .infer = reduce_infer,                                             \
                                .forward = reduce_forward,                                         \
                                .backward = reduce_backward,                                       \
                                .n_samples = 3,                                                    \
                                .sample = sample_##NAME};                                          \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed)                         \
    {                                                                                              \
        return sample_reduce(g, &ag_op_##NAME, MEAN, variant, seed);                               \
    }                                                                                              \
    ag_node *ag_##NAME(ag_graph *g, ag_node *x, const int *axes, int n_axes, int keepdims)         \
    {                                                                                              \
        return reduce(g, &ag_op_##NAME, MEAN, x, axes, n_axes, keepdims);                          \
    }

REDUCE_OP(sum, 0)
REDUCE_OP(mean, 1)

/* ---- masked_mean: GlobalAveragePooling1D over a mask, as one op ----
 *
 *   x (B,T,C), m (B,T) of x's dtype -> z (B,C)
 *   n_bc = Σ_t x_btc·m_bt,  d_b = Σ_t m_bt,  z_bc = n_bc / d_b
 *   gx_btc = (gz_bc / d_b)·m_bt;  gm_bt = Σ_c gz_bc·(x_btc - z_bc) / d_b
 *
 * The same arithmetic as sum(x·m[..., None], 1) / sum(m, 1, keepdims), the
 * composition Keras writes, bit for bit (each product rounded to T, each
 * sum in double in the order reduce_add keeps), without its (B,T,C)
 * product and that product's gradient. An all-masked row is 0/0, NaN, as
 * in Keras. d is kept (aux 0) for the backward pass, which divides gz by it
 * once per (b, c) into aux 1. */

/* d_b = Σ_t m_bt in four running sums, reduce_add's order for a last axis */
#define MASKED_MEAN_KERNELS(T)                                                                     \
    static T mm_den_##T(const T *m, int64_t t)                                                     \
    {                                                                                              \
        double s4[4] = {0};                                                                        \
        for (int64_t i = 0; i < t; i++)                                                            \
            s4[i & 3] += m[i];                                                                     \
        return (T)((s4[0] + s4[1]) + (s4[2] + s4[3]));                                             \
    }                                                                                              \
    static void mm_forward_##T(const T *x, const T *m, T *z, T *den, int64_t b, int64_t t,         \
                               int64_t c)                                                          \
    {                                                                                              \
        enum { COLS = 64 };                                                                        \
        const int64_t nb = (c + COLS - 1) / COLS;                                                  \
        for (int64_t bb = 0; bb < b; bb++)                                                         \
            den[bb] = mm_den_##T(m + bb * t, t);                                                   \
        AG_PARALLEL_FOR(b *t *c)                                                                   \
        for (int64_t it = 0; it < b * nb; it++) {                                                  \
            const int64_t bb = it / nb, c0 = it % nb * COLS, n = c - c0 < COLS ? c - c0 : COLS;    \
            const T *mb = m + bb * t, d = den[bb];                                                 \
            double sum[COLS] = {0};                                                                \
            for (int64_t u = 0; u < t; u++) {                                                      \
                const T *xr = x + (bb * t + u) * c + c0, mu = mb[u];                               \
                for (int64_t i = 0; i < n; i++)                                                    \
                    sum[i] += (T)(xr[i] * mu);                                                     \
            }                                                                                      \
            for (int64_t i = 0; i < n; i++)                                                        \
                z[bb * c + c0 + i] = (T)sum[i] / d;                                                \
        }                                                                                          \
    }                                                                                              \
    /* gq (B,C) = gz / d, the part of gx shared by a sequence's steps */                           \
    static void mm_backward_##T(const T *x, const T *m, const T *z, const T *den, const T *gz,     \
                                T *gq, T *gx, T *gm, int64_t b, int64_t t, int64_t c)              \
    {                                                                                              \
        if (gx)                                                                                    \
            for (int64_t e = 0; e < b * c; e++)                                                    \
                gq[e] = gz[e] / den[e / c];                                                        \
        AG_PARALLEL_FOR(b *t *c)                                                                   \
        for (int64_t r = 0; r < b * t; r++) {                                                      \
            const int64_t bb = r / t;                                                              \
            const T *gb = gz + bb * c, d = den[bb];                                                \
            if (gx) {                                                                              \
                T *gr = gx + r * c;                                                                \
                const T *qb = gq + bb * c, mu = m[r];                                              \
                for (int64_t i = 0; i < c; i++)                                                    \
                    gr[i] += qb[i] * mu;                                                           \
            }                                                                                      \
            if (gm) {                                                                              \
                const T *xr = x + r * c, *zb = z + bb * c;                                         \
                double s = 0;                                                                      \
                for (int64_t i = 0; i < c; i++)                                                    \
                    s += (double)gb[i] * (xr[i] - zb[i]);                                          \
                gm[r] += (T)(s / d);                                                               \
            }                                                                                      \
        }                                                                                          \
    }
MASKED_MEAN_KERNELS(float)
MASKED_MEAN_KERNELS(double)

static ag_status masked_mean_infer(const ag_op *op, const void *params, int n_in,
                                   const ag_shape *in, ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    const ag_shape *x = &in[0], *m = &in[1];
    char a[96], b[96];
    if (!ag_dtype_is_float(x->dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "x is %s, expected float32 or float64",
                            ag_dtype_name(x->dtype));
    if (x->rank != 3)
        return ag_error_set(err, AG_ERR_SHAPE, "x must be (batch, steps, channels), received %s",
                            ag__sstr(x, a, sizeof a));
    if (m->dtype != x->dtype)
        return ag_error_set(err, AG_ERR_DTYPE, "the mask must have x's dtype %s, received %s",
                            ag_dtype_name(x->dtype), ag_dtype_name(m->dtype));
    if (m->rank != 2 || !ag__dim_compat(m->dim[0], x->dim[0]) ||
        !ag__dim_compat(m->dim[1], x->dim[1]))
        return ag_error_set(err, AG_ERR_SHAPE,
                            "the mask must be (batch, steps) of x %s, received %s",
                            ag__sstr(x, a, sizeof a), ag__sstr(m, b, sizeof b));
    out->dtype = x->dtype;
    out->rank = 2;
    out->dim[0] = x->dim[0] >= 0 ? x->dim[0] : m->dim[0];
    out->dim[1] = x->dim[2];
    return AG_OK;
}

static ag_status masked_mean_forward(ag_kernel_ctx *k)
{
    const ag_tensor *x = k->in[0];
    const int64_t b = x->shape[0], t = x->shape[1], c = x->shape[2];
    ag_tensor *den = ag_kernel_aux(k, 0, x->dtype, 1, &b);
    if (!den) return k->err->code;
    if (x->dtype == AG_FLOAT32)
        mm_forward_float(AG_F32(x), AG_F32(k->in[1]), AG_F32(k->out), AG_F32(den), b, t, c);
    else
        mm_forward_double(AG_F64(x), AG_F64(k->in[1]), AG_F64(k->out), AG_F64(den), b, t, c);
    return AG_OK;
}

static ag_status masked_mean_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0] && !k->gin[1]) return AG_OK;
    const ag_tensor *x = k->in[0], *den = ag_kernel_saved(k, 0);
    if (!den) return k->err->code;
    const int64_t b = x->shape[0], t = x->shape[1], c = x->shape[2];
    ag_tensor *gq = ag_kernel_aux(k, 1, x->dtype, 2, (int64_t[]){b, c});
    if (!gq) return k->err->code;
    if (x->dtype == AG_FLOAT32)
        mm_backward_float(AG_F32(x), AG_F32(k->in[1]), AG_F32(k->out), AG_F32(den), AG_F32(k->gout),
                          AG_F32(gq), k->gin[0] ? AG_F32(k->gin[0]) : NULL,
                          k->gin[1] ? AG_F32(k->gin[1]) : NULL, b, t, c);
    else
        mm_backward_double(AG_F64(x), AG_F64(k->in[1]), AG_F64(k->out), AG_F64(den),
                           AG_F64(k->gout), AG_F64(gq), k->gin[0] ? AG_F64(k->gin[0]) : NULL,
                           k->gin[1] ? AG_F64(k->gin[1]) : NULL, b, t, c);
    return AG_OK;
}

/* Sample graphs: variant 0, a 0/1 mask (a constant, every row with a step
 * on); variant 1, a mask of weights in [0.5, 1.5) that is a variable too. */
static ag_node *sample_masked_mean(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x6d6d65616eULL + (uint64_t)variant);
    int64_t shape[3] = {1 + (int64_t)ag_rng_below(&r, 3), 1 + (int64_t)ag_rng_below(&r, 4),
                        1 + (int64_t)ag_rng_below(&r, 4)};
    ag_node *x = ag__sample_var(g, "x", 3, shape, -2, 2, seed, 1);
    if (variant == 1)
        return ag_masked_mean(g, x, ag__sample_var(g, "mask", 2, shape, 0.5, 1.5, seed, 2));
    ag_tensor *mv = ag_tensor_new(AG_FLOAT64, 2, shape, NULL);
    if (!mv) return NULL;
    for (int64_t i = 0; i < mv->size; i++)
        AG_F64(mv)[i] = i % shape[1] == 0 || ag_rng_below(&r, 2) ? 1.0 : 0.0;
    ag_node *m = ag_constant(g, mv);
    ag_tensor_free(mv);
    return ag_masked_mean(g, x, m);
}

const ag_op ag_op_masked_mean = {.name = "masked_mean",
                                 .n_aux = 2,
                                 .infer = masked_mean_infer,
                                 .forward = masked_mean_forward,
                                 .backward = masked_mean_backward,
                                 .n_samples = 2,
                                 .sample = sample_masked_mean};

ag_node *ag_masked_mean(ag_graph *g, ag_node *x, ag_node *mask)
{
    return ag_apply(g, &ag_op_masked_mean, (ag_node *[]){x, mask}, 2, NULL, 0);
}
