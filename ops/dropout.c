/* dropout.c — inverted dropout, active only in training mode.
 *
 *   x (any shape) -> z (same shape)
 *   keep_i = [u(seed, step, i) >= rate],  u = ag_rand_uniform (Philox)
 *   z_i  = x_i · keep_i / (1-rate)
 *   gx_i = gz_i · keep_i / (1-rate)
 * Outside training mode (or with rate 0) z = x and gx = gz.
 *
 * The mask depends only on (seed, step, i), never on the thread count. The
 * forward pass keeps it in aux tensor 0 (one byte per element) for the
 * backward pass, which runs at the same step.
 */
#include "../framework/internal.h"

#include <math.h>

typedef struct {
    double rate;
    uint64_t seed;
} dropout_params;

#define DROPOUT_KERNELS(T)                                                                         \
    /* x (n) -> z (n), mask (n) */                                                                 \
    static void dropout_forward_##T(const T *x, T *z, uint8_t *mask, int64_t n, double rate,       \
                                    uint64_t seed, uint64_t step)                                  \
    {                                                                                              \
        T scale = (T)(1.0 / (1.0 - rate));                                                         \
        AG_PARALLEL_FOR(64 * n)                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                          \
            mask[i] = ag_rand_uniform(seed, step, (uint64_t)i) >= rate;                            \
            z[i] = mask[i] ? x[i] * scale : 0;                                                     \
        }                                                                                          \
    }                                                                                              \
    /* gz (n), mask (n) -> gx (n) += gz · mask / (1-rate) */                                      \
    static void dropout_backward_##T(const T *gz, const uint8_t *mask, T *gx, int64_t n,           \
                                     double rate)                                                  \
    {                                                                                              \
        T scale = (T)(1.0 / (1.0 - rate));                                                         \
        AG_PARALLEL_FOR(2 * n)                                                                     \
        for (int64_t i = 0; i < n; i++)                                                            \
            gx[i] += mask[i] ? gz[i] * scale : 0;                                                  \
    }                                                                                              \
    static void dropout_identity_backward_##T(const T *gz, T *gx, int64_t n)                       \
    {                                                                                              \
        AG_PARALLEL_FOR(n)                                                                         \
        for (int64_t i = 0; i < n; i++)                                                            \
            gx[i] += gz[i];                                                                        \
    }
DROPOUT_KERNELS(float)
DROPOUT_KERNELS(double)

static ag_status dropout_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                               ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    if (!ag_dtype_is_float(in[0].dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "x must be a float tensor, received %s",
                            ag_dtype_name(in[0].dtype));
    *out = in[0];
    return AG_OK;
}

static int dropout_active(const ag_kernel_ctx *k)
{
    return k->training && ((const dropout_params *)k->params)->rate > 0;
}

static ag_status dropout_forward(ag_kernel_ctx *k)
{
    const dropout_params *p = k->params;
    int64_t n = k->out->size;
    if (!dropout_active(k)) {
        memcpy(k->out->data, k->in[0]->data, (size_t)n * ag_dtype_size(k->out->dtype));
        return AG_OK;
    }
    ag_tensor *mask = ag_kernel_aux(k, 0, AG_BOOL, 1, &n);
    if (!mask) return k->err->code;
    if (k->out->dtype == AG_FLOAT32)
        dropout_forward_float(AG_F32(k->in[0]), AG_F32(k->out), AG_U8(mask), n, p->rate, p->seed,
                              k->step);
    else
        dropout_forward_double(AG_F64(k->in[0]), AG_F64(k->out), AG_U8(mask), n, p->rate, p->seed,
                               k->step);
    return AG_OK;
}

static ag_status dropout_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    const dropout_params *p = k->params;
    int64_t n = k->out->size;
    int f32 = k->out->dtype == AG_FLOAT32;
    if (!dropout_active(k)) {
        if (f32)
            dropout_identity_backward_float(AG_F32(k->gout), AG_F32(k->gin[0]), n);
        else
            dropout_identity_backward_double(AG_F64(k->gout), AG_F64(k->gin[0]), n);
        return AG_OK;
    }
    const ag_tensor *mask = &k->node->aux[0];
    if (mask->size != n)
        return ag_error_set(k->err, AG_ERR_STATE,
                            "the mask of the last training-mode forward run has %lld elements, "
                            "x has %lld: run forward in training mode first",
                            (long long)mask->size, (long long)n);
    if (f32)
        dropout_backward_float(AG_F32(k->gout), AG_U8(mask), AG_F32(k->gin[0]), n, p->rate);
    else
        dropout_backward_double(AG_F64(k->gout), AG_U8(mask), AG_F64(k->gin[0]), n, p->rate);
    return AG_OK;
}

static ag_node *sample_dropout(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_dropout = {.name = "dropout",
                             .n_aux = 1,
                             .infer = dropout_infer,
                             .forward = dropout_forward,
                             .backward = dropout_backward,
                             .n_samples = 2,
                             .sample = sample_dropout};

ag_node *ag_dropout(ag_graph *g, ag_node *x, double rate, uint64_t seed)
{
    if (!g) return NULL;
    if (x && !(rate >= 0 && rate < 1)) {
        ag__fail(g, AG_ERR_ARG, "dropout: rate must be in [0, 1), received %g", rate);
        return NULL;
    }
    dropout_params p = {rate, seed};
    return ag_apply(g, &ag_op_dropout, &x, 1, &p, sizeof p);
}

/* Samples, in training mode (the checker holds the step, so the mask is
 * fixed): x (4,5) at rate 0.3, and x (2,3,4) at rate 0.5. */
static ag_node *sample_dropout(ag_graph *g, int variant, uint64_t seed)
{
    static const int64_t s0[2] = {4, 5}, s1[3] = {2, 3, 4};
    ag_graph_set_training(g, 1);
    ag_node *x = ag__sample_var(g, "x", variant ? 3 : 2, variant ? s1 : s0, -2, 2, seed, 1);
    return ag_dropout(g, x, variant ? 0.5 : 0.3, seed + 100);
}
