/* max.c — maximum over one axis, optionally skipping masked positions.
 *
 *   x viewed as (A,N,C): A = the dims before axis, N = axis, C = the dims after
 *   mask (A,N) bool — x's dims up to and including axis — or none
 *   z[a,c] = max_{n: mask[a,n]} x[a,n,c]       -> z (A,C), or (A,1,C) with keepdims
 *            0 when every n of row a is masked out
 *   gx[a,n*,c] = gz[a,c] at n* = the first n reaching the maximum; 0 elsewhere
 *
 * The argmax is kept in a workspace between forward and backward. Parallel
 * over a: each (a,c) is reduced by one iteration, in order of n.
 */
#include "../framework/internal.h"

#include <math.h>

typedef struct max_params {
    int axis, keepdims, has_mask;
} max_params;

/* A, N, C of x for axis (already non-negative). */
static void split(const ag_tensor *x, int axis, int64_t *A, int64_t *N, int64_t *C)
{
    *A = *C = 1;
    for (int i = 0; i < axis; i++)
        *A *= x->shape[i];
    *N = x->shape[axis];
    for (int i = axis + 1; i < x->rank; i++)
        *C *= x->shape[i];
}

#define T float
#include "max.inc"
#undef T
#define T double
#include "max.inc"
#undef T

static ag_status max_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                           ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in;
    const max_params *p = params;
    char a[96], b[96];
    const ag_shape *x = &in[0];
    if (!ag_dtype_is_float(x->dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "x must be a float tensor, received %s",
                            ag_dtype_name(x->dtype));
    int axis = p->axis < 0 ? p->axis + x->rank : p->axis;
    if (axis < 0 || axis >= x->rank)
        return ag_error_set(err, AG_ERR_ARG,
                            "axis must be in [%d, %d) for x of shape %s, received %d", -x->rank,
                            x->rank, ag__sstr(x, a, sizeof a), p->axis);
    if (x->dim[axis] == 0)
        return ag_error_set(err, AG_ERR_SHAPE, "x %s has no element along axis %d",
                            ag__sstr(x, a, sizeof a), axis);
    if (p->has_mask) {
        const ag_shape *m = &in[1];
        int ok = m->dtype == AG_BOOL && m->rank == axis + 1;
        for (int i = 0; ok && i <= axis; i++)
            ok = ag__dim_compat(m->dim[i], x->dim[i]);
        if (!ok)
            return ag_error_set(
                err, AG_ERR_SHAPE,
                "mask must be bool with x's first %d dims (x is %s), received %s %s", axis + 1,
                ag__sstr(x, a, sizeof a), ag_dtype_name(m->dtype), ag__sstr(m, b, sizeof b));
    }
    *out = *x;
    if (p->keepdims) {
        out->dim[axis] = 1;
    } else {
        for (int i = axis; i < x->rank - 1; i++)
            out->dim[i] = x->dim[i + 1];
        out->rank--;
    }
    return AG_OK;
}

static int norm_axis(const max_params *p, const ag_tensor *x)
{
    return p->axis < 0 ? p->axis + x->rank : p->axis;
}

static ag_status max_forward(ag_kernel_ctx *k)
{
    const max_params *p = k->params;
    int64_t A, N, C;
    split(k->in[0], norm_axis(p, k->in[0]), &A, &N, &C);
    const int64_t shape[2] = {A, C};
    ag_tensor *arg = ag_kernel_aux(k, 0, AG_INT64, 2, shape);
    if (!arg) return k->err->code;
    const uint8_t *mask = p->has_mask ? AG_U8(k->in[1]) : NULL;
    if (k->out->dtype == AG_FLOAT32)
        max_forward_float(AG_F32(k->in[0]), mask, AG_F32(k->out), AG_I64(arg), A, N, C);
    else
        max_forward_double(AG_F64(k->in[0]), mask, AG_F64(k->out), AG_I64(arg), A, N, C);
    return AG_OK;
}

static ag_status max_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    const max_params *p = k->params;
    int64_t A, N, C;
    split(k->in[0], norm_axis(p, k->in[0]), &A, &N, &C);
    const int64_t shape[2] = {A, C};
    ag_tensor *arg = ag_kernel_aux(k, 0, AG_INT64, 2, shape);
    if (!arg) return k->err->code;
    if (k->out->dtype == AG_FLOAT32)
        max_backward_float(AG_F32(k->gout), AG_I64(arg), AG_F32(k->gin[0]), A, N, C);
    else
        max_backward_double(AG_F64(k->gout), AG_I64(arg), AG_F64(k->gin[0]), A, N, C);
    return AG_OK;
}

static ag_node *sample_max(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_max = {.name = "max",
                         .n_aux = 1,
                         .infer = max_infer,
                         .forward = max_forward,
                         .backward = max_backward,
                         .n_samples = 3,
                         .sample = sample_max};

ag_node *ag_max(ag_graph *g, ag_node *x, int axis, int keepdims, ag_node *mask)
{
    max_params p = {axis, keepdims != 0, mask != NULL};
    ag_node *in[2] = {x, mask};
    return ag_apply(g, &ag_op_max, in, mask ? 2 : 1, &p, sizeof p);
}

/* A dim in [lo, hi] from r. */
static int64_t sample_dim(ag_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)ag_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* Samples, dims drawn from (seed, variant): x (A,N,C) over axis 1; the same
 * with a random mask (A,N) that keeps at least one step of each row; x
 * (R,N) over axis -1 with keepdims. A, R 1 to 3, N 2 to 5, C 1 to 4. Along
 * the axis the values are a permutation of 0, 0.5, ... plus noise in
 * [0, 0.2), so the maximum never ties and stays 0.3 from a kink. */
static ag_node *sample_max(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x6d6178ULL + (uint64_t)variant);
    int64_t A = sample_dim(&r, 1, 3), N = sample_dim(&r, 2, 5), C = sample_dim(&r, 1, 4);
    if (variant == 2) C = 1;
    const int64_t s3[3] = {A, N, C}, s2[2] = {A, N};
    ag_node *x =
        ag__sample_var(g, "x", variant == 2 ? 2 : 3, variant == 2 ? s2 : s3, 0, 0.2, seed, 1);
    if (!x) return NULL;
    ag_tensor *v = ag_value(x);
    for (int64_t i = 0; i < v->size; i++) {
        int64_t n = (i / C) % N, c = i % C, a = i / (N * C);
        AG_F64(v)[i] += 0.5 * (double)((n + a + 2 * c) % N);
    }
    if (variant == 2) return ag_max(g, x, -1, 1, NULL);
    ag_node *mask = NULL;
    if (variant == 1) {
        ag_tensor *m = ag_tensor_new(AG_BOOL, 2, s2, NULL);
        if (!m) return NULL;
        for (int64_t a = 0; a < A; a++) {
            int64_t keep = (int64_t)ag_rng_below(&r, (uint64_t)N);
            for (int64_t n = 0; n < N; n++)
                AG_U8(m)[a * N + n] = n == keep || ag_rng_below(&r, 2);
        }
        mask = ag_constant(g, m);
        ag_tensor_free(m);
    }
    return ag_max(g, x, 1, 0, mask);
}
