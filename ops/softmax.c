/* softmax.c — softmax over the last axis, numerically stable.
 *
 *   x (..., N) -> z (..., N)
 *   z_i = e^(x_i - max x) / Σ_j e^(x_j - max x)
 *   gx_i = z_i (gz_i - Σ_j gz_j z_j)
 *
 * Parallel over rows; each row is reduced by one thread, left to right.
 */
#include "../framework/internal.h"

#include <math.h>

#define T   float
#define EXP expf
#include "softmax.inc"
#undef T
#undef EXP
#define T   double
#define EXP exp
#include "softmax.inc"
#undef T
#undef EXP

static ag_status softmax_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                               ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    char a[96];
    if (!ag_dtype_is_float(in[0].dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "x must be a float tensor, received %s",
                            ag_dtype_name(in[0].dtype));
    if (in[0].rank < 1 || in[0].dim[in[0].rank - 1] == 0)
        return ag_error_set(err, AG_ERR_SHAPE,
                            "x must have a last axis of at least one element, received shape %s",
                            ag__sstr(&in[0], a, sizeof a));
    *out = in[0];
    return AG_OK;
}

static ag_status softmax_forward(ag_kernel_ctx *k)
{
    int64_t n = k->out->shape[k->out->rank - 1], rows = k->out->size / n;
    if (k->out->dtype == AG_FLOAT32)
        softmax_forward_float(AG_F32(k->in[0]), AG_F32(k->out), rows, n);
    else
        softmax_forward_double(AG_F64(k->in[0]), AG_F64(k->out), rows, n);
    return AG_OK;
}

static ag_status softmax_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    int64_t n = k->out->shape[k->out->rank - 1], rows = k->out->size / n;
    if (k->out->dtype == AG_FLOAT32)
        softmax_backward_float(AG_F32(k->out), AG_F32(k->gout), AG_F32(k->gin[0]), rows, n);
    else
        softmax_backward_double(AG_F64(k->out), AG_F64(k->gout), AG_F64(k->gin[0]), rows, n);
    return AG_OK;
}

static ag_node *sample_softmax(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_softmax = {.name = "softmax",
                             .infer = softmax_infer,
                             .forward = softmax_forward,
                             .backward = softmax_backward,
                             .n_samples = 3,
                             .sample = sample_softmax};

ag_node *ag_softmax(ag_graph *g, ag_node *x) { return ag_apply(g, &ag_op_softmax, &x, 1, NULL, 0); }

/* Samples: x of rank 1, 2 and 3, dims 1 to 5 (1 to 4 at rank 3) drawn
 * from (seed, variant), values in [-3, 3). */
static ag_node *sample_softmax(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x736f66746d6178ULL + (uint64_t)variant);
    int rank = variant + 1;
    int64_t shape[3];
    for (int d = 0; d < rank; d++)
        shape[d] = 1 + (int64_t)ag_rng_below(&r, rank == 3 ? 4 : 5);
    return ag_softmax(g, ag__sample_var(g, "x", rank, shape, -3, 3, seed, 1));
}
