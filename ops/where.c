/* where.c — selection by a mask: where, masked_fill, cast_float.
 *
 *   where:       z = cond ? x : y;   gx = gz·cond,  gy = gz·!cond   (broadcast)
 *   masked_fill: z = mask ? x : c;   gx = gz·mask                   (mask broadcasts to x)
 *   cast_float:  z = mask as the graph's float dtype;  no gradient flows
 *
 * cond and mask may be bool, int or float: nonzero is true. where's three
 * operands broadcast together; a broadcast x's or y's gradient is summed
 * over its broadcast axes (binary.c's deterministic sum). Parallel over
 * chunks of output rows.
 */
#include "../framework/internal.h"

enum { CHUNK = 2048 };

static inline int truth(const void *c, ag_dtype t, int64_t i)
{
    switch (t) {
    case AG_BOOL: return ((const uint8_t *)c)[i] != 0;
    case AG_INT32: return ((const int32_t *)c)[i] != 0;
    case AG_INT64: return ((const int64_t *)c)[i] != 0;
    case AG_FLOAT32: return ((const float *)c)[i] != 0;
    case AG_FLOAT64: return ((const double *)c)[i] != 0;
    }
    return 0;
}

/* Runs BODY for every output chunk: row, c0 (first column), n (columns),
 * with o = row·C + c0 the chunk's output offset. */
#define CHUNKS(p, BODY)                                                                            \
    do {                                                                                           \
        const int r_ = (p)->rank;                                                                  \
        const int64_t C = (p)->dim[r_ - 1], nch = (C + CHUNK - 1) / CHUNK;                         \
        const int64_t items = (p)->size / C * nch;                                                 \
        AG_PARALLEL_FOR((p)->size)                                                                 \
        for (int64_t t = 0; t < items; t++) {                                                      \
            const int64_t row = t / nch, c0 = t % nch * CHUNK;                                     \
            const int64_t n = C - c0 < CHUNK ? C - c0 : CHUNK, o = row * C + c0;                   \
            BODY;                                                                                  \
        }                                                                                          \
    } while (0)

#define T float
#include "where.inc"
#undef T
#define T double
#include "where.inc"
#undef T

static void plan_of(const ag_kernel_ctx *k, ag__bcast *p)
{
    ag_shape s[3];
    for (int i = 0; i < k->n_in; i++)
        s[i] = ag__tensor_shape(k->in[i]);
    ag__bcast_init(p, k->n_in, s);
}

static ag_status select_backward(ag_kernel_ctx *k, int ci, int a, int want)
{
    ag__bcast p;
    plan_of(k, &p);
    return k->out->dtype == AG_FLOAT32 ? select_backward_float(k, &p, ci, a, want)
                                       : select_backward_double(k, &p, ci, a, want);
}

/* ---- where ---- */

static ag_status where_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                             ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    for (int a = 1; a < 3; a++)
        if (!ag_dtype_is_float(in[a].dtype))
            return ag_error_set(err, AG_ERR_DTYPE, "%s is %s, expected float32 or float64",
                                a == 1 ? "x" : "y", ag_dtype_name(in[a].dtype));
    if (in[1].dtype != in[2].dtype)
        return ag_error_set(err, AG_ERR_DTYPE,
                            "x is %s but y is %s; both must have the same float dtype",
                            ag_dtype_name(in[1].dtype), ag_dtype_name(in[2].dtype));
    ag_status st = ag__bcast_shape(3, in, out, err);
    out->dtype = in[1].dtype;
    return st;
}

static ag_status where_forward(ag_kernel_ctx *k)
{
    ag__bcast p;
    plan_of(k, &p);
    if (k->out->dtype == AG_FLOAT32)
        where_forward_float(&p, k->in[0], AG_F32(k->in[1]), AG_F32(k->in[2]), AG_F32(k->out));
    else
        where_forward_double(&p, k->in[0], AG_F64(k->in[1]), AG_F64(k->in[2]), AG_F64(k->out));
    return AG_OK;
}

static ag_status where_backward(ag_kernel_ctx *k)
{
    for (int a = 1; a < 3; a++) {
        if (!k->gin[a]) continue;
        ag_status st = select_backward(k, 0, a, a == 1);
        if (st) return st;
    }
    return AG_OK;
}

/* ---- masked_fill ---- */

typedef struct {
    double c;
} fill_params;

static ag_status masked_fill_infer(const ag_op *op, const void *params, int n_in,
                                   const ag_shape *in, ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    char a[96], b[96];
    if (!ag_dtype_is_float(in[0].dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "x is %s, expected float32 or float64",
                            ag_dtype_name(in[0].dtype));
    ag_status st = ag__bcast_shape(2, in, out, err);
    if (st) return st;
    int ok = out->rank == in[0].rank;
    for (int d = 0; ok && d < out->rank; d++)
        ok = in[0].dim[d] < 0 || out->dim[d] == in[0].dim[d];
    if (!ok)
        return ag_error_set(
            err, AG_ERR_SHAPE,
            "mask of shape %s does not broadcast to x's shape %s (it would make %s)",
            ag__sstr(&in[1], a, sizeof a), ag__sstr(&in[0], b, sizeof b),
            ag__sstr(out, (char[96]){0}, 96));
    return AG_OK;
}

static ag_status masked_fill_forward(ag_kernel_ctx *k)
{
    ag__bcast p;
    plan_of(k, &p);
    double c = ((const fill_params *)k->params)->c;
    if (k->out->dtype == AG_FLOAT32)
        masked_fill_forward_float(&p, AG_F32(k->in[0]), k->in[1], (float)c, AG_F32(k->out));
    else
        masked_fill_forward_double(&p, AG_F64(k->in[0]), k->in[1], c, AG_F64(k->out));
    return AG_OK;
}

static ag_status masked_fill_backward(ag_kernel_ctx *k)
{
    return k->gin[0] ? select_backward(k, 1, 0, 1) : AG_OK;
}

/* ---- cast_float ---- */

typedef struct {
    ag_dtype dtype;
} cast_params;

static ag_status cast_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                            ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in, (void)err;
    *out = in[0];
    out->dtype = ((const cast_params *)params)->dtype;
    return AG_OK;
}

#define CAST_LOOP(TO, FROM)                                                                        \
    do {                                                                                           \
        const FROM *s = k->in[0]->data;                                                            \
        TO *d = k->out->data;                                                                      \
        AG_PARALLEL_FOR(n)                                                                         \
        for (int64_t i = 0; i < n; i++)                                                            \
            d[i] = (TO)s[i];                                                                       \
    } while (0)
#define CAST_FROM(TO)                                                                              \
    do {                                                                                           \
        switch (k->in[0]->dtype) {                                                                 \
        case AG_BOOL: CAST_LOOP(TO, uint8_t); break;                                               \
        case AG_INT32: CAST_LOOP(TO, int32_t); break;                                              \
        case AG_INT64: CAST_LOOP(TO, int64_t); break;                                              \
        case AG_FLOAT32: CAST_LOOP(TO, float); break;                                              \
        case AG_FLOAT64: CAST_LOOP(TO, double); break;                                             \
        }                                                                                          \
    } while (0)

static ag_status cast_forward(ag_kernel_ctx *k)
{
    const int64_t n = k->out->size;
    if (k->out->dtype == AG_FLOAT32)
        CAST_FROM(float);
    else
        CAST_FROM(double);
    return AG_OK;
}

/* ---- the ops and their sample graphs ---- */

static ag_node *sample_where(ag_graph *g, int variant, uint64_t seed);
static ag_node *sample_masked_fill(ag_graph *g, int variant, uint64_t seed);
static ag_node *sample_cast_float(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_where = {.name = "where",
                           .n_aux = 1,
                           .infer = where_infer,
                           .forward = where_forward,
                           .backward = where_backward,
                           .n_samples = 2,
                           .sample = sample_where};
const ag_op ag_op_masked_fill = {.name = "masked_fill",
                                 .n_aux = 1,
                                 .infer = masked_fill_infer,
                                 .forward = masked_fill_forward,
                                 .backward = masked_fill_backward,
                                 .n_samples = 2,
                                 .sample = sample_masked_fill};
/* No backward: the engine sends no gradient through a cast. */
const ag_op ag_op_cast_float = {.name = "cast_float",
                                .infer = cast_infer,
                                .forward = cast_forward,
                                .n_samples = 1,
                                .sample = sample_cast_float};

ag_node *ag_where(ag_graph *g, ag_node *cond, ag_node *x, ag_node *y)
{
    ag_node *in[3] = {cond, x, y};
    return ag_apply(g, &ag_op_where, in, 3, NULL, 0);
}

ag_node *ag_masked_fill(ag_graph *g, ag_node *x, ag_node *mask, double c)
{
    fill_params p = {c};
    ag_node *in[2] = {x, mask};
    return ag_apply(g, &ag_op_masked_fill, in, 2, &p, sizeof p);
}

ag_node *ag_cast_float(ag_graph *g, ag_node *mask)
{
    cast_params p = {ag_graph_float(g)};
    return ag_apply(g, &ag_op_cast_float, &mask, 1, &p, sizeof p);
}

/* A dim in [lo, hi] from r. */
static int64_t sample_dim(ag_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)ag_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* Dims drawn from (seed, variant), 1 to 4 unless said: cond (R,C) bool
 * with x (R,C) and y (C,); cond (R,1) int32 with x (1,C) and y (), R and C
 * 2 to 4 */
static ag_node *sample_where(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x7768657265ULL + (uint64_t)variant);
    int64_t lo = variant ? 2 : 1, rows = sample_dim(&r, lo, 4), cols = sample_dim(&r, lo, 4);
    if (variant == 0) {
        int64_t s[2] = {rows, cols}, ys[1] = {cols};
        return ag_where(g, ag__sample_mask(g, AG_BOOL, 2, s, seed),
                        ag__sample_var(g, "x", 2, s, -2, 2, seed, 1),
                        ag__sample_var(g, "y", 1, ys, -2, 2, seed, 2));
    }
    int64_t cs[2] = {rows, 1}, xs[2] = {1, cols};
    return ag_where(g, ag__sample_mask(g, AG_INT32, 2, cs, seed),
                    ag__sample_var(g, "x", 2, xs, -2, 2, seed, 1),
                    ag__sample_var(g, "y", 0, NULL, -2, 2, seed, 2));
}

/* Dims drawn from (seed, variant), 1 to 4: x (R,C) with a bool mask (C,);
 * x (A,B,C) with a 0/1 float mask (B,1) */
static ag_node *sample_masked_fill(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x6d61736b6564ULL + (uint64_t)variant);
    int64_t s[3] = {sample_dim(&r, 1, 4), sample_dim(&r, 1, 4), sample_dim(&r, 1, 4)};
    if (variant == 0) {
        int64_t ms[1] = {s[1]};
        return ag_masked_fill(g, ag__sample_var(g, "x", 2, s, -2, 2, seed, 1),
                              ag__sample_mask(g, AG_BOOL, 1, ms, seed), -3);
    }
    int64_t ms[2] = {s[1], 1};
    return ag_masked_fill(g, ag__sample_var(g, "x", 3, s, -2, 2, seed, 1),
                          ag__sample_mask(g, AG_FLOAT64, 2, ms, seed), 0.5);
}

/* x · cast_float(bool mask), both of one shape of rank 1-3 (dims 1 to 4
 * drawn from seed): the gradient reaches x only */
static ag_node *sample_cast_float(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x63617374ULL + (uint64_t)variant);
    int rank = 1 + (int)ag_rng_below(&r, 3);
    int64_t s[3];
    for (int d = 0; d < rank; d++)
        s[d] = sample_dim(&r, 1, 4);
    return ag_mul(g, ag__sample_var(g, "x", rank, s, -2, 2, seed, 1),
                  ag_cast_float(g, ag__sample_mask(g, AG_BOOL, rank, s, seed)));
}
