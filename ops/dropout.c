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

/* keep_i, bit for bit [ag_rand_uniform(seed, step, i) >= rate]: the same
 * Philox4x32-10 draw as framework/rng.c, written here so that the loop over
 * elements inlines and vectorises. u = m·2^-53 with m an integer below 2^53,
 * so u >= rate exactly when m >= ceil(rate·2^53). */
static inline uint8_t keep_bit(uint64_t seed, uint64_t step, uint64_t i, uint64_t threshold)
{
    uint32_t c0 = (uint32_t)i, c1 = (uint32_t)(i >> 32), c2 = (uint32_t)step,
             c3 = (uint32_t)(step >> 32), k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        c1 = (uint32_t)p1;
        c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c3 = (uint32_t)p0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    uint64_t m = ((uint64_t)c0 << 21) ^ (c1 >> 11);
    return m >= threshold;
}

static uint64_t keep_threshold(double rate) { return (uint64_t)ceil(rate * 9007199254740992.0); }

/* mask (n) for (seed, step); parallel over blocks of elements */
static void dropout_mask(uint8_t *mask, int64_t n, double rate, uint64_t seed, uint64_t step)
{
    uint64_t th = keep_threshold(rate);
    int64_t nblk = (n + 255) / 256;
    AG_PARALLEL_FOR(64 * n)
    for (int64_t b = 0; b < nblk; b++) {
        int64_t end = (b + 1) * 256 < n ? (b + 1) * 256 : n;
        for (int64_t i = b * 256; i < end; i++)
            mask[i] = keep_bit(seed, step, (uint64_t)i, th);
    }
}

#define T float
#include "dropout.inc"
#undef T
#define T double
#include "dropout.inc"
#undef T

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
    dropout_mask(AG_U8(mask), n, p->rate, p->seed, k->step);
    if (k->out->dtype == AG_FLOAT32)
        dropout_forward_float(AG_F32(k->in[0]), AG_F32(k->out), AG_U8(mask), n, p->rate);
    else
        dropout_forward_double(AG_F64(k->in[0]), AG_F64(k->out), AG_U8(mask), n, p->rate);
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
    const ag_tensor *mask = ag_kernel_saved(k, 0);
    if (!mask) return k->err->code;
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
 * fixed): x (R,C) at rate 0.3, and x (A,B,C) at rate 0.5, dims 1 to 5 (1 to
 * 4 at rank 3) drawn from (seed, variant). */
static ag_node *sample_dropout(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x64726f706f7574ULL + (uint64_t)variant);
    int rank = variant ? 3 : 2;
    int64_t shape[3];
    for (int d = 0; d < rank; d++)
        shape[d] = 1 + (int64_t)ag_rng_below(&r, variant ? 4 : 5);
    ag_graph_set_training(g, 1);
    ag_node *x = ag__sample_var(g, "x", rank, shape, -2, 2, seed, 1);
    return ag_dropout(g, x, variant ? 0.5 : 0.3, seed + 100);
}
