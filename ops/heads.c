/* heads.c — moving attention heads in and out of the batch axis, as
 * MultiHeadAttention needs to run every head through one batched attention
 * op (batch index b·H + h).
 *
 *   split_heads:  x (B,T,H·K) -> z (B·H,T,K);  z[b·H+h, t, k] = x[b, t, h·K+k];  gx = gz moved back
 *   merge_heads:  x (B·H,T,K) -> z (B,T,H·K);  z[b, t, h·K+k] = x[b·H+h, t, k];  gx = gz moved back
 *   unfold_heads: x (B·H,T,S) -> z (B,H,T,S);  the same elements (a reshape
 *                 whose dims follow the input at run time);  gx = gz
 *
 * Forward copies bits, so it works on every dtype; backward is float32 and
 * float64. Each output row of K elements (and each gradient row) is written
 * by one iteration, so results do not depend on the thread count.
 */
#include "../framework/internal.h"

#include <inttypes.h>

typedef enum heads_kind { HEADS_SPLIT = 0, HEADS_MERGE, HEADS_UNFOLD } heads_kind;

typedef struct heads_params {
    heads_kind kind;
    int64_t heads;
} heads_params;

static const char *const kind_name[3] = {"split_heads", "merge_heads", "unfold_heads"};

static ag_status heads_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                             ag_shape *out, ag_error *err)
{
    (void)op;
    (void)n_in;
    const heads_params *P = params;
    const ag_shape *x = &in[0];
    const char *name = kind_name[P->kind];
    const int64_t H = P->heads;
    char a[96];
    if (x->rank != 3)
        return ag_error_set(err, AG_ERR_SHAPE, "%s: x must have rank 3, received %s", name,
                            ag__sstr(x, a, sizeof a));
    *out = (ag_shape){.dtype = x->dtype, .rank = 3};
    if (P->kind == HEADS_SPLIT) {
        if (x->dim[2] < 0 || x->dim[2] % H)
            return ag_error_set(err, AG_ERR_SHAPE,
                                "split_heads: x's last dimension must be known and a multiple of "
                                "heads = %" PRId64 ", received %s",
                                H, ag__sstr(x, a, sizeof a));
        out->dim[0] = x->dim[0] < 0 ? -1 : x->dim[0] * H;
        out->dim[1] = x->dim[1];
        out->dim[2] = x->dim[2] / H;
        return AG_OK;
    }
    if (x->dim[0] >= 0 && x->dim[0] % H)
        return ag_error_set(err, AG_ERR_SHAPE,
                            "%s: x's first dimension must be a multiple of heads = %" PRId64
                            ", received %s",
                            name, H, ag__sstr(x, a, sizeof a));
    int64_t B = x->dim[0] < 0 ? -1 : x->dim[0] / H;
    if (P->kind == HEADS_MERGE) {
        if (x->dim[2] < 0)
            return ag_error_set(err, AG_ERR_SHAPE,
                                "merge_heads: x's last dimension must be known, received %s",
                                ag__sstr(x, a, sizeof a));
        out->dim[0] = B;
        out->dim[1] = x->dim[1];
        out->dim[2] = x->dim[2] * H;
        return AG_OK;
    }
    *out = (ag_shape){.dtype = x->dtype, .rank = 4, .dim = {B, H, x->dim[1], x->dim[2]}};
    return AG_OK;
}

/* The offsets of one row of K elements: in the (B,T,H·K) layout and in the
 * (B·H,T,K) layout, for row r of the latter (r = (b·H+h)·T + t). */
static inline void row_offsets(int64_t r, int64_t H, int64_t T, int64_t K, int64_t *wide,
                               int64_t *folded)
{
    const int64_t t = r % T, bh = r / T, h = bh % H, b = bh / H;
    *wide = ((b * T + t) * H + h) * K;
    *folded = r * K;
}

/* The view of a kernel call as (B, H, T, K) blocks: K elements per row. */
static void heads_dims(const ag_kernel_ctx *k, int64_t *rows, int64_t *T, int64_t *K)
{
    const heads_params *P = k->params;
    const ag_tensor *folded = P->kind == HEADS_SPLIT ? k->out : k->in[0];
    *rows = folded->shape[0] * folded->shape[1];
    *T = folded->shape[1];
    *K = folded->shape[2];
}

static ag_status heads_forward(ag_kernel_ctx *k)
{
    const heads_params *P = k->params;
    const size_t es = ag_dtype_size(k->out->dtype);
    if (P->kind == HEADS_UNFOLD) {
        memcpy(k->out->data, k->in[0]->data, (size_t)k->out->size * es);
        return AG_OK;
    }
    int64_t rows, T, K;
    heads_dims(k, &rows, &T, &K);
    const char *src = k->in[0]->data;
    char *dst = k->out->data;
    const int split = P->kind == HEADS_SPLIT;
    AG_PARALLEL_FOR(rows * K)
    for (int64_t r = 0; r < rows; r++) {
        int64_t wide, folded;
        row_offsets(r, P->heads, T, K, &wide, &folded);
        memcpy(dst + (split ? folded : wide) * (int64_t)es,
               src + (split ? wide : folded) * (int64_t)es, (size_t)K * es);
    }
    return AG_OK;
}

/* gx += gz moved back: row r of the folded layout pairs with one wide row.
 * The float32 and float64 cases share the loop; only the row's add differs. */
static void heads_backward_rows(int split, int64_t rows, int64_t H, int64_t T, int64_t K,
                                const ag_tensor *gz, ag_tensor *gx)
{
    const int f32 = gx->dtype == AG_FLOAT32;
    AG_PARALLEL_FOR(rows * K)
    for (int64_t r = 0; r < rows; r++) {
        int64_t wide, folded;
        row_offsets(r, H, T, K, &wide, &folded);
        const int64_t from = split ? folded : wide, to = split ? wide : folded;
        if (f32)
            for (int64_t i = 0; i < K; i++)
                AG_F32(gx)[to + i] += AG_F32(gz)[from + i];
        else
            for (int64_t i = 0; i < K; i++)
                AG_F64(gx)[to + i] += AG_F64(gz)[from + i];
    }
}

static ag_status heads_backward(ag_kernel_ctx *k)
{
    const heads_params *P = k->params;
    ag_tensor *gx = k->gin[0];
    if (!gx) return AG_OK;
    int64_t rows, T, K;
    if (P->kind == HEADS_UNFOLD) /* the same layout: one row of every element */
        rows = 1, T = 1, K = gx->size;
    else
        heads_dims(k, &rows, &T, &K);
    const int split = P->kind == HEADS_SPLIT;
    const int64_t H = P->kind == HEADS_UNFOLD ? 1 : P->heads;
    heads_backward_rows(split, rows, H, T, K, k->gout, gx);
    return AG_OK;
}

static ag_node *sample_heads(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_heads = {.name = "heads",
                           .infer = heads_infer,
                           .forward = heads_forward,
                           .backward = heads_backward,
                           .n_samples = 3,
                           .sample = sample_heads};

static ag_node *heads_apply(ag_graph *g, ag_node *x, int64_t heads, heads_kind kind)
{
    if (!g) return NULL;
    if (heads < 1) {
        ag__fail(g, AG_ERR_ARG, "%s: heads must be at least 1, received %" PRId64, kind_name[kind],
                 heads);
        return NULL;
    }
    heads_params P = {.kind = kind, .heads = heads};
    return ag_apply(g, &ag_op_heads, &x, 1, &P, sizeof P);
}

ag_node *ag_split_heads(ag_graph *g, ag_node *x, int64_t heads)
{
    return heads_apply(g, x, heads, HEADS_SPLIT);
}
ag_node *ag_merge_heads(ag_graph *g, ag_node *x, int64_t heads)
{
    return heads_apply(g, x, heads, HEADS_MERGE);
}
ag_node *ag_unfold_heads(ag_graph *g, ag_node *x, int64_t heads)
{
    return heads_apply(g, x, heads, HEADS_UNFOLD);
}

/* Variant v: split (0), merge (1), unfold (2), on dims drawn from the seed. */
static ag_node *sample_heads(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng rng;
    ag_rng_init(&rng, seed, 0x68656164ULL + (uint64_t)variant);
    int64_t B = 1 + (int64_t)ag_rng_below(&rng, 2), H = 1 + (int64_t)ag_rng_below(&rng, 3);
    int64_t T = 1 + (int64_t)ag_rng_below(&rng, 3), K = 1 + (int64_t)ag_rng_below(&rng, 3);
    if (variant == 0)
        return ag_split_heads(
            g, ag__sample_var(g, "x", 3, (int64_t[]){B, T, H * K}, -1, 1, seed, 1), H);
    ag_node *x = ag__sample_var(g, "x", 3, (int64_t[]){B * H, T, K}, -1, 1, seed, 1);
    return variant == 1 ? ag_merge_heads(g, x, H) : ag_unfold_heads(g, x, H);
}
