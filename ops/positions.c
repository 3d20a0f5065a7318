/* positions.c — learned position embeddings: the first T rows of a table,
 * one per step of x, for every example of the batch.
 *
 *   table (L,D), x (B,T,...) -> z (B,T,D);  z[b,t,:] = table[t,:]  (T <= L)
 *   gtable[t,:] += Σ_b gz[b,t,:]   (x only gives the shape: no gradient)
 *
 * T is x's length at run time, so one graph serves batches of any length up
 * to L. Forward copies rows; backward sums each table row over the batch in
 * order b = 0, 1, ..., one row per iteration, so results do not depend on
 * the thread count.
 */
#include "../framework/internal.h"

#include <inttypes.h>

static ag_status positions_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                                 ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    const ag_shape *t = &in[0], *x = &in[1];
    char a[96], b[96];
    if (t->rank != 2 || !ag_dtype_is_float(t->dtype) || t->dim[1] < 0)
        return ag_error_set(err, AG_ERR_SHAPE,
                            "position_embedding: the table must be a float (sequence_length, "
                            "dim) with dim known, received %s %s",
                            ag_dtype_name(t->dtype), ag__sstr(t, a, sizeof a));
    if (x->rank < 2)
        return ag_error_set(err, AG_ERR_SHAPE,
                            "position_embedding: x must be (batch_size, T, ...), received %s",
                            ag__sstr(x, a, sizeof a));
    if (x->dim[1] >= 0 && t->dim[0] >= 0 && x->dim[1] > t->dim[0])
        return ag_error_set(
            err, AG_ERR_RANGE,
            "position_embedding: the sequence has %" PRId64
            " steps, more than the table's sequence_length %" PRId64 " (x %s, table %s)",
            x->dim[1], t->dim[0], ag__sstr(x, a, sizeof a), ag__sstr(t, b, sizeof b));
    *out = (ag_shape){.dtype = t->dtype, .rank = 3, .dim = {x->dim[0], x->dim[1], t->dim[1]}};
    return AG_OK;
}

static ag_status positions_forward(ag_kernel_ctx *k)
{
    const ag_tensor *t = k->in[0];
    const int64_t B = k->out->shape[0], T = k->out->shape[1], D = k->out->shape[2];
    const size_t row = (size_t)D * ag_dtype_size(t->dtype);
    AG_PARALLEL_FOR(B * T * D)
    for (int64_t bt = 0; bt < B * T; bt++)
        memcpy((char *)k->out->data + (size_t)bt * row,
               (const char *)t->data + (size_t)(bt % T) * row, row);
    return AG_OK;
}

static ag_status positions_backward(ag_kernel_ctx *k)
{
    ag_tensor *gt = k->gin[0];
    if (!gt) return AG_OK;
    const int64_t B = k->out->shape[0], T = k->out->shape[1], D = k->out->shape[2];
    const int f32 = gt->dtype == AG_FLOAT32;
    AG_PARALLEL_FOR(B * T * D)
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t d = 0; d < D; d++) {
                const int64_t from = (b * T + t) * D + d;
                if (f32)
                    AG_F32(gt)[t * D + d] += AG_F32(k->gout)[from];
                else
                    AG_F64(gt)[t * D + d] += AG_F64(k->gout)[from];
            }
    return AG_OK;
}

static ag_node *sample_positions(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_position_embedding = {.name = "position_embedding",
                                        .infer = positions_infer,
                                        .forward = positions_forward,
                                        .backward = positions_backward,
                                        .n_samples = 2,
                                        .sample = sample_positions};

ag_node *ag_position_embedding(ag_graph *g, ag_node *table, ag_node *x)
{
    ag_node *in[2] = {table, x};
    return ag_apply(g, &ag_op_position_embedding, in, 2, NULL, 0);
}

/* Variant 0: T < L; variant 1: T = L. Dims drawn from the seed. */
static ag_node *sample_positions(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng rng;
    ag_rng_init(&rng, seed, 0x706f73ULL + (uint64_t)variant);
    int64_t B = 1 + (int64_t)ag_rng_below(&rng, 3), T = 1 + (int64_t)ag_rng_below(&rng, 4);
    int64_t D = 1 + (int64_t)ag_rng_below(&rng, 3), L = variant ? T : T + 2;
    ag_node *t = ag__sample_var(g, "table", 2, (int64_t[]){L, D}, -1, 1, seed, 1);
    ag_node *x = ag__sample_var(g, "x", 3, (int64_t[]){B, T, 2}, -1, 1, seed, 2);
    return ag_position_embedding(g, t, x);
}
