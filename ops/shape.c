/* shape.c — ops that move elements without changing them: reshape,
 * transpose, expand_dims, concat, slice. The gradient moves back through
 * the same rearrangement.
 *
 *   reshape:     z = x viewed as a new shape of the same size;  gx = gz viewed back
 *   transpose:   z[i_0..i_r] = x[j] with j[perm[a]] = i_a;       gx[j] += gz[i]
 *   expand_dims: z = x with a new axis of 1;                      gx = gz
 *   concat:      z = [x_0 | x_1 | ...] along axis;                gx_i = gz's block i
 *   slice:       z = x[..., start:start+len, ...] along axis;     gx = gz scattered back
 *
 * Forward copies bits and so works on every dtype (bool masks and int ids
 * too); backward is float32 and float64. Parallel over rows of the output.
 */
#include "../framework/internal.h"

#include <inttypes.h>

/* Outer (before axis) and inner (after axis) element counts of a shape. */
static void outer_inner(const ag_tensor *t, int axis, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= t->shape[d];
    for (int d = axis + 1; d < t->rank; d++)
        *inner *= t->shape[d];
}

/* gx += gz, element by element (shapes of the same size). */
static void add_same(const ag_tensor *gz, ag_tensor *gx)
{
    int64_t n = gx->size;
    if (gx->dtype == AG_FLOAT32) {
        const float *s = AG_F32(gz);
        float *d = AG_F32(gx);
        AG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++)
            d[i] += s[i];
    } else {
        const double *s = AG_F64(gz);
        double *d = AG_F64(gx);
        AG_PARALLEL_FOR(n)
        for (int64_t i = 0; i < n; i++)
            d[i] += s[i];
    }
}

static ag_status copy_forward(ag_kernel_ctx *k)
{
    memcpy(k->out->data, k->in[0]->data, (size_t)k->out->size * ag_dtype_size(k->out->dtype));
    return AG_OK;
}

static ag_status add_backward(ag_kernel_ctx *k)
{
    if (k->gin[0]) add_same(k->gout, k->gin[0]);
    return AG_OK;
}

/* An axis in [-rank, rank) (or [-rank-1, rank] when `extra`), normalised. */
static ag_status norm_axis(int axis, int rank, int extra, const ag_shape *x, int *out,
                           ag_error *err)
{
    int r = rank + (extra != 0);
    *out = 0;
    if (axis < -r || axis >= r) {
        char s[96];
        return ag_error_set(err, AG_ERR_ARG,
                            "axis %d is out of range for x of shape %s (expected %d to %d)", axis,
                            ag__sstr(x, s, sizeof s), -r, r - 1);
    }
    *out = axis < 0 ? axis + r : axis;
    return AG_OK;
}

/* ---- reshape ---- */

typedef struct {
    int rank;
    int64_t shape[AG_MAX_RANK]; /* as requested: -1 inferred, 0 copied */
} reshape_params;

static const char *request_str(const reshape_params *p, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < p->rank && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%" PRId64, i ? ", " : "", p->shape[i]);
    if (used < n) snprintf(buf + used, n - used, p->rank == 1 ? ",)" : ")");
    return buf;
}

static ag_status reshape_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                               ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in;
    const reshape_params *p = params;
    const ag_shape *x = &in[0];
    char a[96], b[96];
    int infer = -1;
    for (int i = 0; i < p->rank; i++) {
        int64_t v = p->shape[i];
        if (v < -1)
            return ag_error_set(err, AG_ERR_ARG,
                                "shape %s: dim %d must be >= 0, -1 (inferred) or 0 (copied), "
                                "received %" PRId64,
                                request_str(p, a, sizeof a), i, v);
        if (v == -1 && infer >= 0)
            return ag_error_set(err, AG_ERR_ARG,
                                "shape %s: only one dim may be -1, dims %d and %d are",
                                request_str(p, a, sizeof a), infer, i);
        if (v == -1) infer = i;
        if (v == 0 && i >= x->rank)
            return ag_error_set(
                err, AG_ERR_ARG,
                "shape %s: dim %d is 0 (copy x's dim) but x of shape %s has rank %d",
                request_str(p, a, sizeof a), i, ag__sstr(x, b, sizeof b), x->rank);
    }
    out->dtype = x->dtype;
    out->rank = p->rank;
    /* dims copied with 0 cancel on both sides, so unknown dims copied
     * through leave the rest checkable */
    int64_t xs = 1, zs = 1;
    int known = 1;
    for (int d = 0; d < x->rank; d++) {
        if (d < p->rank && p->shape[d] == 0) continue;
        if (x->dim[d] < 0)
            known = 0;
        else
            xs *= x->dim[d];
    }
    for (int i = 0; i < p->rank; i++) {
        out->dim[i] = p->shape[i] == 0 ? x->dim[i] : p->shape[i];
        if (p->shape[i] > 0) zs *= p->shape[i];
    }
    if (!known) return AG_OK; /* checked at run time */
    if (infer >= 0) {
        if (zs == 0 || xs % zs)
            return ag_error_set(err, AG_ERR_SHAPE, "cannot reshape x of shape %s into %s",
                                ag__sstr(x, b, sizeof b), request_str(p, a, sizeof a));
        out->dim[infer] = xs / zs;
    } else if (xs != zs) {
        return ag_error_set(err, AG_ERR_SHAPE,
                            "cannot reshape x of shape %s (%" PRId64 " elements) into %s (%" PRId64
                            " elements)",
                            ag__sstr(x, b, sizeof b), ag__shape_size(x),
                            request_str(p, a, sizeof a), ag__shape_size(out));
    }
    return AG_OK;
}

/* ---- transpose ---- */

typedef struct {
    int rank;
    int perm[AG_MAX_RANK];
} transpose_params;

static ag_status transpose_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                                 ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in;
    const transpose_params *p = params;
    char s[96];
    if (p->rank != in[0].rank)
        return ag_error_set(err, AG_ERR_SHAPE, "perm has %d entries but x of shape %s has rank %d",
                            p->rank, ag__sstr(&in[0], s, sizeof s), in[0].rank);
    unsigned seen = 0;
    out->dtype = in[0].dtype;
    out->rank = p->rank;
    for (int i = 0; i < p->rank; i++) {
        int a;
        ag_status st = norm_axis(p->perm[i], p->rank, 0, &in[0], &a, err);
        if (st) return st;
        if (seen >> a & 1)
            return ag_error_set(err, AG_ERR_ARG,
                                "perm lists axis %d twice; it must be a permutation of 0..%d", a,
                                p->rank - 1);
        seen |= 1u << a;
        out->dim[i] = in[0].dim[a];
    }
    return AG_OK;
}

/* A walk over dst in row-major order, dst's axis i being src's axis
 * perm[i]: row r of dst (all axes but the last) starts at src offset
 * transpose_row_offset(w, r), and its elements are cs apart in src. */
typedef struct transpose_walk {
    int rank;
    int64_t dim[AG_MAX_RANK]; /* dst's dims                   */
    int64_t st[AG_MAX_RANK];  /* src stride along dst's axes  */
    int64_t C, cs, rows;      /* row length, its src stride, rows */
} transpose_walk;

static void transpose_walk_init(transpose_walk *w, const ag_tensor *src, const ag_tensor *dst,
                                const int *perm)
{
    const int r = dst->rank;
    int64_t ss[AG_MAX_RANK], acc = 1;
    for (int d = r - 1; d >= 0; d--)
        ss[d] = acc, acc *= src->shape[d];
    w->rank = r;
    for (int i = 0; i < r; i++) {
        w->st[i] = ss[perm[i]];
        w->dim[i] = dst->shape[i];
    }
    w->C = r ? dst->shape[r - 1] : 1;
    w->cs = r ? w->st[r - 1] : 1;
    w->rows = w->C ? dst->size / w->C : 0;
}

static inline int64_t transpose_row_offset(const transpose_walk *w, int64_t row)
{
    int64_t off = 0;
    for (int d = w->rank - 2; d >= 0; d--) {
        off += row % w->dim[d] * w->st[d];
        row /= w->dim[d];
    }
    return off;
}

/* d = s transposed, for elements of 1, 4 and 8 bytes; gx += gz transposed
 * back, for float and double (shape_transpose.inc). */
#define TRANSPOSE_FN transpose_copy
#define ACCUMULATE   0
#define T            uint8_t
#include "shape_transpose.inc"
#undef T
#define T uint32_t
#include "shape_transpose.inc"
#undef T
#define T uint64_t
#include "shape_transpose.inc"
#undef T
#undef TRANSPOSE_FN
#undef ACCUMULATE
#define TRANSPOSE_FN transpose_add
#define ACCUMULATE   1
#define T            float
#include "shape_transpose.inc"
#undef T
#define T double
#include "shape_transpose.inc"
#undef T
#undef TRANSPOSE_FN
#undef ACCUMULATE

static void normalised_perm(const ag_kernel_ctx *k, int *perm)
{
    const transpose_params *p = k->params;
    for (int i = 0; i < p->rank; i++)
        perm[i] = p->perm[i] < 0 ? p->perm[i] + p->rank : p->perm[i];
}

static ag_status transpose_forward(ag_kernel_ctx *k)
{
    int perm[AG_MAX_RANK];
    normalised_perm(k, perm);
    const ag_tensor *x = k->in[0];
    ag_tensor *z = k->out;
    transpose_walk w;
    transpose_walk_init(&w, x, z, perm);
    switch (ag_dtype_size(z->dtype)) {
    case 1: transpose_copy_uint8_t(&w, x->data, z->data); break;
    case 4: transpose_copy_uint32_t(&w, x->data, z->data); break;
    default: transpose_copy_uint64_t(&w, x->data, z->data); break;
    }
    return AG_OK;
}

static ag_status transpose_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    int perm[AG_MAX_RANK];
    normalised_perm(k, perm);
    /* walk gx in order, reading gz through the inverse permutation */
    int inv[AG_MAX_RANK];
    for (int i = 0; i < k->out->rank; i++)
        inv[perm[i]] = i;
    const ag_tensor *x = k->in[0], *z = k->out;
    transpose_walk w;
    transpose_walk_init(&w, z, x, inv);
    if (z->dtype == AG_FLOAT32)
        transpose_add_float(&w, AG_F32(k->gout), AG_F32(k->gin[0]));
    else
        transpose_add_double(&w, AG_F64(k->gout), AG_F64(k->gin[0]));
    return AG_OK;
}

/* ---- expand_dims ---- */

typedef struct {
    int axis;
} axis_params;

static ag_status expand_dims_infer(const ag_op *op, const void *params, int n_in,
                                   const ag_shape *in, ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in;
    char s[96];
    if (in[0].rank >= AG_MAX_RANK)
        return ag_error_set(err, AG_ERR_SHAPE, "x of shape %s already has the largest rank, %d",
                            ag__sstr(&in[0], s, sizeof s), AG_MAX_RANK);
    int a;
    ag_status st = norm_axis(((const axis_params *)params)->axis, in[0].rank, 1, &in[0], &a, err);
    if (st) return st;
    out->dtype = in[0].dtype;
    out->rank = in[0].rank + 1;
    for (int d = 0, j = 0; d < out->rank; d++)
        out->dim[d] = d == a ? 1 : in[0].dim[j++];
    return AG_OK;
}

/* ---- concat ---- */

static ag_status concat_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                              ag_shape *out, ag_error *err)
{
    (void)op;
    char a[96], b[96];
    int r = in[0].rank, axis;
    if (r == 0)
        return ag_error_set(err, AG_ERR_SHAPE, "input 0 has shape (); concat needs rank >= 1");
    ag_status st = norm_axis(((const axis_params *)params)->axis, r, 0, &in[0], &axis, err);
    if (st) return st;
    *out = in[0];
    out->dim[axis] = 0;
    for (int i = 0; i < n_in; i++) {
        if (in[i].rank != r)
            return ag_error_set(err, AG_ERR_SHAPE,
                                "input %d has shape %s but input 0 has shape %s: ranks differ", i,
                                ag__sstr(&in[i], a, sizeof a), ag__sstr(&in[0], b, sizeof b));
        if (in[i].dtype != in[0].dtype)
            return ag_error_set(err, AG_ERR_DTYPE, "input %d is %s but input 0 is %s", i,
                                ag_dtype_name(in[i].dtype), ag_dtype_name(in[0].dtype));
        for (int d = 0; d < r; d++) {
            int64_t v = in[i].dim[d];
            if (d == axis) {
                out->dim[d] = v < 0 || out->dim[d] < 0 ? -1 : out->dim[d] + v;
            } else if (!ag__dim_compat(out->dim[d], v)) {
                return ag_error_set(err, AG_ERR_SHAPE,
                                    "input %d has shape %s, which does not fit %s: every dim but "
                                    "axis %d must match",
                                    i, ag__sstr(&in[i], a, sizeof a), ag__sstr(out, b, sizeof b),
                                    axis);
            } else if (out->dim[d] < 0) {
                out->dim[d] = v;
            }
        }
    }
    return AG_OK;
}

static int concat_axis(const ag_kernel_ctx *k)
{
    int a = ((const axis_params *)k->params)->axis;
    return a < 0 ? a + k->out->rank : a;
}

static ag_status concat_forward(ag_kernel_ctx *k)
{
    int axis = concat_axis(k);
    size_t es = ag_dtype_size(k->out->dtype);
    int64_t outer, inner;
    outer_inner(k->out, axis, &outer, &inner);
    const int64_t row = k->out->shape[axis] * inner;
    char *z = k->out->data;
    AG_PARALLEL_FOR(k->out->size)
    for (int64_t o = 0; o < outer; o++) {
        int64_t off = 0;
        for (int i = 0; i < k->n_in; i++) {
            int64_t n = k->in[i]->shape[axis] * inner;
            memcpy(z + (size_t)(o * row + off) * es,
                   (const char *)k->in[i]->data + (size_t)(o * n) * es, (size_t)n * es);
            off += n;
        }
    }
    return AG_OK;
}

static ag_status concat_backward(ag_kernel_ctx *k)
{
    int axis = concat_axis(k);
    int64_t outer, inner, off = 0;
    outer_inner(k->out, axis, &outer, &inner);
    const int64_t row = k->out->shape[axis] * inner;
    for (int i = 0; i < k->n_in; i++) {
        const int64_t n = k->in[i]->shape[axis] * inner;
        if (k->gin[i] && k->out->dtype == AG_FLOAT32) {
            const float *gz = AG_F32(k->gout);
            float *gx = AG_F32(k->gin[i]);
            AG_PARALLEL_FOR(outer * n)
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < n; j++)
                    gx[o * n + j] += gz[o * row + off + j];
        } else if (k->gin[i]) {
            const double *gz = AG_F64(k->gout);
            double *gx = AG_F64(k->gin[i]);
            AG_PARALLEL_FOR(outer * n)
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < n; j++)
                    gx[o * n + j] += gz[o * row + off + j];
        }
        off += n;
    }
    return AG_OK;
}

/* ---- slice ---- */

typedef struct {
    int axis;
    int64_t start, len;
} slice_params;

static ag_status slice_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                             ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in;
    const slice_params *p = params;
    char s[96];
    if (in[0].rank == 0)
        return ag_error_set(err, AG_ERR_SHAPE, "x has shape (); slice needs rank >= 1");
    int axis;
    ag_status st = norm_axis(p->axis, in[0].rank, 0, &in[0], &axis, err);
    if (st) return st;
    if (p->start < 0 || p->len < 0)
        return ag_error_set(err, AG_ERR_RANGE, "start %" PRId64 " and len %" PRId64 " must be >= 0",
                            p->start, p->len);
    int64_t dim = in[0].dim[axis];
    if (dim >= 0 && p->start + p->len > dim)
        return ag_error_set(err, AG_ERR_RANGE,
                            "start %" PRId64 " + len %" PRId64 " exceeds dim %" PRId64
                            " of axis %d of x of shape %s",
                            p->start, p->len, dim, axis, ag__sstr(&in[0], s, sizeof s));
    *out = in[0];
    out->dim[axis] = p->len;
    return AG_OK;
}

static ag_status slice_forward(ag_kernel_ctx *k)
{
    const slice_params *p = k->params;
    int axis = p->axis < 0 ? p->axis + k->out->rank : p->axis;
    size_t es = ag_dtype_size(k->out->dtype);
    int64_t outer, inner;
    outer_inner(k->in[0], axis, &outer, &inner);
    const int64_t n = p->len * inner, xrow = k->in[0]->shape[axis] * inner, x0 = p->start * inner;
    const char *x = k->in[0]->data;
    char *z = k->out->data;
    AG_PARALLEL_FOR(outer * n)
    for (int64_t o = 0; o < outer; o++)
        memcpy(z + (size_t)(o * n) * es, x + (size_t)(o * xrow + x0) * es, (size_t)n * es);
    return AG_OK;
}

static ag_status slice_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    const slice_params *p = k->params;
    int axis = p->axis < 0 ? p->axis + k->out->rank : p->axis;
    int64_t outer, inner;
    outer_inner(k->in[0], axis, &outer, &inner);
    const int64_t n = p->len * inner, xrow = k->in[0]->shape[axis] * inner, x0 = p->start * inner;
    if (k->out->dtype == AG_FLOAT32) {
        const float *gz = AG_F32(k->gout);
        float *gx = AG_F32(k->gin[0]);
        AG_PARALLEL_FOR(outer * n)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < n; j++)
                gx[o * xrow + x0 + j] += gz[o * n + j];
    } else {
        const double *gz = AG_F64(k->gout);
        double *gx = AG_F64(k->gin[0]);
        AG_PARALLEL_FOR(outer * n)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < n; j++)
                gx[o * xrow + x0 + j] += gz[o * n + j];
    }
    return AG_OK;
}

/* ---- the ops and their sample graphs ---- */

static ag_node *sample_reshape(ag_graph *g, int variant, uint64_t seed);
static ag_node *sample_transpose(ag_graph *g, int variant, uint64_t seed);
static ag_node *sample_expand_dims(ag_graph *g, int variant, uint64_t seed);
static ag_node *sample_concat(ag_graph *g, int variant, uint64_t seed);
static ag_node *sample_slice(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_reshape = {.name = "reshape",
                             .infer = reshape_infer,
                             .forward = copy_forward,
                             .backward = add_backward,
                             .n_samples = 2,
                             .sample = sample_reshape};
const ag_op ag_op_transpose = {.name = "transpose",
                               .infer = transpose_infer,
                               .forward = transpose_forward,
                               .backward = transpose_backward,
                               .n_samples = 2,
                               .sample = sample_transpose};
const ag_op ag_op_expand_dims = {.name = "expand_dims",
                                 .infer = expand_dims_infer,
                                 .forward = copy_forward,
                                 .backward = add_backward,
                                 .n_samples = 2,
                                 .sample = sample_expand_dims};
const ag_op ag_op_concat = {.name = "concat",
                            .infer = concat_infer,
                            .forward = concat_forward,
                            .backward = concat_backward,
                            .n_samples = 2,
                            .sample = sample_concat};
const ag_op ag_op_slice = {.name = "slice",
                           .infer = slice_infer,
                           .forward = slice_forward,
                           .backward = slice_backward,
                           .n_samples = 2,
                           .sample = sample_slice};

ag_node *ag_reshape(ag_graph *g, ag_node *x, int rank, const int64_t *shape)
{
    reshape_params p = {0};
    if (g && x) {
        if (rank < 0 || rank > AG_MAX_RANK) {
            ag__fail(g, AG_ERR_ARG, "reshape: rank must be 0 to %d, received %d", AG_MAX_RANK,
                     rank);
            return NULL;
        }
        if (rank > 0 && !shape) {
            ag__fail(g, AG_ERR_ARG, "reshape: shape is NULL for rank %d", rank);
            return NULL;
        }
        p.rank = rank;
        for (int i = 0; i < rank; i++)
            p.shape[i] = shape[i];
    }
    return ag_apply(g, &ag_op_reshape, &x, 1, &p, sizeof p);
}

ag_node *ag_transpose(ag_graph *g, ag_node *x, const int *perm)
{
    transpose_params p = {0};
    if (g && x) {
        p.rank = ag_node_shape(x)->rank;
        if (p.rank > 0 && !perm) {
            ag__fail(g, AG_ERR_ARG, "transpose: perm is NULL for x of rank %d", p.rank);
            return NULL;
        }
        for (int i = 0; i < p.rank; i++)
            p.perm[i] = perm[i];
    }
    return ag_apply(g, &ag_op_transpose, &x, 1, &p, sizeof p);
}

ag_node *ag_expand_dims(ag_graph *g, ag_node *x, int axis)
{
    axis_params p = {axis};
    return ag_apply(g, &ag_op_expand_dims, &x, 1, &p, sizeof p);
}

ag_node *ag_concat(ag_graph *g, ag_node *const *xs, int n, int axis)
{
    if (!g) return NULL;
    if (!xs) {
        ag__fail(g, AG_ERR_ARG, "concat: xs is NULL");
        return NULL;
    }
    if (n < 1 || n > AG_MAX_INPUTS) {
        ag__fail(g, AG_ERR_ARG, "concat: n must be 1 to %d inputs, received %d", AG_MAX_INPUTS, n);
        return NULL;
    }
    axis_params p = {axis};
    return ag_apply(g, &ag_op_concat, xs, n, &p, sizeof p);
}

ag_node *ag_slice(ag_graph *g, ag_node *x, int axis, int64_t start, int64_t len)
{
    slice_params p = {axis, start, len};
    return ag_apply(g, &ag_op_slice, &x, 1, &p, sizeof p);
}

/* Sample dims: rank dims in [lo, hi] from r. */
static void sample_dims(ag_rng *r, int rank, int64_t lo, int64_t hi, int64_t *dims)
{
    for (int d = 0; d < rank; d++)
        dims[d] = lo + (int64_t)ag_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* The samples draw their dims from (seed, a per-op stream + variant). */
static void sample_rng(ag_rng *r, uint64_t seed, uint64_t op, int variant)
{
    ag_rng_init(r, seed, 0x7368617065000000ULL + 16 * op + (uint64_t)variant);
}

/* reshape (A,B,C) to (0,-1); (a·b, c·d) to (a,-1,c,d) */
static ag_node *sample_reshape(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, 0, variant);
    if (variant == 0) {
        int64_t xs[3], zs[2] = {0, -1};
        sample_dims(&r, 3, 1, 4, xs);
        return ag_reshape(g, ag__sample_var(g, "x", 3, xs, -2, 2, seed, 1), 2, zs);
    }
    int64_t zs[4];
    sample_dims(&r, 4, 1, 3, zs);
    int64_t xs[2] = {zs[0] * zs[1], zs[2] * zs[3]};
    zs[1] = -1;
    return ag_reshape(g, ag__sample_var(g, "x", 2, xs, -2, 2, seed, 1), 4, zs);
}

/* transpose x of rank 3 (dims 1 to 4) and of rank 4 (dims 1 to 3), each by
 * a random permutation other than the identity */
static ag_node *sample_transpose(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, 1, variant);
    int rank = variant == 0 ? 3 : 4;
    int64_t xs[4], p[4] = {0, 1, 2, 3};
    sample_dims(&r, rank, 1, variant == 0 ? 4 : 3, xs);
    ag_rng_shuffle(&r, p, rank);
    int identity = 1, perm[4];
    for (int i = 0; i < rank; i++)
        identity &= p[i] == i;
    for (int i = 0; i < rank; i++)
        perm[i] = (int)(identity ? p[(i + 1) % rank] : p[i]);
    return ag_transpose(g, ag__sample_var(g, "x", rank, xs, -2, 2, seed, 1), perm);
}

/* expand_dims x of rank 1-3 (dims 1 to 4) at axis -1, and at a random axis
 * 0..rank */
static ag_node *sample_expand_dims(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, 2, variant);
    int rank = 1 + (int)ag_rng_below(&r, 3);
    int64_t xs[3];
    sample_dims(&r, rank, 1, 4, xs);
    int axis = variant ? (int)ag_rng_below(&r, (uint64_t)rank + 1) : -1;
    return ag_expand_dims(g, ag__sample_var(g, "x", rank, xs, -2, 2, seed, 1), axis);
}

/* concat (A,n_i,C) for i < 3 along axis 1; (R,n_0) and (R,n_1) along -1;
 * n_i 1 to 3, other dims 1 to 4 */
static ag_node *sample_concat(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, 3, variant);
    ag_node *xs[3];
    int64_t s[3];
    sample_dims(&r, 3, 1, 4, s);
    int n = variant == 0 ? 3 : 2, rank = variant == 0 ? 3 : 2;
    for (int i = 0; i < n; i++) {
        sample_dims(&r, 1, 1, 3, &s[1]);
        char name[8] = {'x', (char)('0' + i), 0};
        xs[i] = ag__sample_var(g, name, rank, s, -2, 2, seed, (uint64_t)i + 1);
    }
    return ag_concat(g, xs, n, variant == 0 ? 1 : -1);
}

/* slice x (R,W) along axis 1, and x (N,B,C) along axis 0, each from a
 * random start for a random length >= 1 (W, N 2 to 5, other dims 1 to 4) */
static ag_node *sample_slice(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, 4, variant);
    int rank = variant == 0 ? 2 : 3, axis = variant == 0 ? 1 : 0;
    int64_t xs[3];
    sample_dims(&r, rank, 1, 4, xs);
    sample_dims(&r, 1, 2, 5, &xs[axis]);
    int64_t start = (int64_t)ag_rng_below(&r, (uint64_t)xs[axis]);
    int64_t len = 1 + (int64_t)ag_rng_below(&r, (uint64_t)(xs[axis] - start));
    return ag_slice(g, ag__sample_var(g, "x", rank, xs, -2, 2, seed, 1), axis, start, len);
}
