/* embedding.c — embedding gather with a scatter-add gradient.
 *
 *   ids int32/int64 (...), table (V,D) -> z (..., D)
 *   z[i,:] = table[ids[i],:]
 *   gtable[v,:] += Σ_{i: ids[i]=v} gz[i,:]     (i ascending)
 *
 * An id outside [0, V) fails the run, naming the id, its flat position and V.
 * Forward is parallel over ids. Backward costs O(n·D) whatever V (the engine
 * has zeroed gtable): it is parallel over blocks of columns, and each thread
 * walks all ids in order, so every gtable element is summed in id order
 * whatever the thread count.
 */
#include "../framework/internal.h"

#include <inttypes.h>

enum { EMB_COLS = 16 }; /* columns per backward work item: one cache line of floats */

static ag_status embedding_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                                 ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    const ag_shape *ids = &in[0], *t = &in[1];
    char a[96];
    if (ids->dtype != AG_INT32 && ids->dtype != AG_INT64)
        return ag_error_set(err, AG_ERR_DTYPE, "ids must be int32 or int64, received %s",
                            ag_dtype_name(ids->dtype));
    if (!ag_dtype_is_float(t->dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "table must be a float tensor, received %s",
                            ag_dtype_name(t->dtype));
    if (t->rank != 2)
        return ag_error_set(err, AG_ERR_SHAPE, "table must be (V,D), received shape %s",
                            ag__sstr(t, a, sizeof a));
    if (ids->rank + 1 > AG_MAX_RANK)
        return ag_error_set(err, AG_ERR_SHAPE, "ids of shape %s leave no room for D (rank <= %d)",
                            ag__sstr(ids, a, sizeof a), AG_MAX_RANK - 1);
    *out = *ids;
    out->dtype = t->dtype;
    out->rank = ids->rank + 1;
    out->dim[ids->rank] = t->dim[1];
    return AG_OK;
}

static int64_t id_at(const ag_tensor *ids, int64_t i)
{
    return ids->dtype == AG_INT32 ? AG_I32(ids)[i] : AG_I64(ids)[i];
}

#define T float
#include "embedding.inc"
#undef T
#define T double
#include "embedding.inc"
#undef T

static ag_status embedding_forward(ag_kernel_ctx *k)
{
    const ag_tensor *ids = k->in[0], *table = k->in[1];
    int64_t v = table->shape[0], d = table->shape[1];
    for (int64_t i = 0; i < ids->size; i++) {
        int64_t id = id_at(ids, i);
        if (id < 0 || id >= v)
            return ag_error_set(k->err, AG_ERR_RANGE,
                                "id %" PRId64 " at flat position %" PRId64
                                " of ids is outside [0, V=%" PRId64 ")",
                                id, i, v);
    }
    if (k->out->dtype == AG_FLOAT32)
        embedding_forward_float(ids, AG_F32(table), AG_F32(k->out), ids->size, d);
    else
        embedding_forward_double(ids, AG_F64(table), AG_F64(k->out), ids->size, d);
    return AG_OK;
}

static ag_status embedding_backward(ag_kernel_ctx *k)
{
    if (!k->gin[1]) return AG_OK;
    const ag_tensor *ids = k->in[0];
    int64_t d = k->in[1]->shape[1];
    if (k->out->dtype == AG_FLOAT32)
        embedding_backward_float(ids, AG_F32(k->gout), AG_F32(k->gin[1]), ids->size, d);
    else
        embedding_backward_double(ids, AG_F64(k->gout), AG_F64(k->gin[1]), ids->size, d);
    return AG_OK;
}

static ag_node *sample_embedding(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_embedding = {.name = "embedding",
                               .infer = embedding_infer,
                               .forward = embedding_forward,
                               .backward = embedding_backward,
                               .n_samples = 2,
                               .sample = sample_embedding};

ag_node *ag_embedding(ag_graph *g, ag_node *ids, ag_node *table)
{
    ag_node *in[2] = {ids, table};
    return ag_apply(g, &ag_op_embedding, in, 2, NULL, 0);
}

/* A dim in [lo, hi] from r. */
static int64_t sample_dim(ag_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)ag_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* Samples, dims drawn from (seed, variant): int32 ids (A,L), A 1 to 3 and L
 * 2 to 5, into a (V,D) table, V 2 to 8 and D 1 to 4; int64 ids (L), L 2 to
 * 10, into a (V,D) table, V 2 to 5 and D 17 to 24. Both with repeated ids,
 * so the scatter-add sums. */
static ag_node *sample_embedding(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x656d626564ULL + (uint64_t)variant);
    int rank = variant ? 1 : 2;
    int64_t ids_shape[2], v, tshape[2];
    if (variant) {
        ids_shape[0] = sample_dim(&r, 2, 10), v = sample_dim(&r, 2, 5);
        tshape[1] = sample_dim(&r, 17, 24);
    } else {
        ids_shape[0] = sample_dim(&r, 1, 3), ids_shape[1] = sample_dim(&r, 2, 5);
        v = sample_dim(&r, 2, 8), tshape[1] = sample_dim(&r, 1, 4);
    }
    tshape[0] = v;
    ag_tensor *ids = ag_tensor_new(variant ? AG_INT64 : AG_INT32, rank, ids_shape, NULL);
    if (!ids) return NULL;
    for (int64_t i = 0; i < ids->size; i++)
        ag_tensor_set(ids, i, (double)(int64_t)(ag_rand_uniform(seed, 3, (uint64_t)i) * (double)v));
    ag_tensor_set(ids, 1, ag_tensor_get(ids, 0)); /* at least one repeat */
    ag_node *idn = ag_constant(g, ids);
    ag_tensor_free(ids);
    return ag_embedding(g, idn, ag__sample_var(g, "table", 2, tshape, -1, 1, seed, 1));
}
