/* binary.c — elementwise binary ops with NumPy broadcasting: add, sub, mul, div.
 *
 *   add: z = x + y;   gx = gz,     gy = gz
 *   sub: z = x - y;   gx = gz,     gy = -gz
 *   mul: z = x · y;   gx = gz·y,   gy = gz·x
 *   div: z = x / y;   gx = gz/y,   gy = -gz·x/y²
 *
 * x (...), y (...) -> z (broadcast shape: ranks aligned from the right, a
 * dim of 1 stretches). A broadcast input's gradient is the per-element term
 * summed over its broadcast axes, each element of it by one thread in a fixed
 * order. Parallel over chunks of output rows.
 *
 * This file also holds the broadcasting machinery other ops share
 * (internal.h): shape inference, the merged-axes plan, and the deterministic
 * sum over broadcast axes.
 */
#include "../framework/internal.h"

#include <math.h>

enum {
    CHUNK = 2048, /* output elements per parallel work item */
    COLS = 64
}; /* columns summed together by one reduction item */

/* ---- broadcasting ---- */

/* "(2, 3) and (4,)" or "(2, 3), (4,) and (1, 3)". */
static const char *shapes_str(int n, const ag_shape *in, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (int a = 0; a < n && used < size; a++) {
        char s[96];
        const char *sep = a == 0 ? "" : a == n - 1 ? " and " : ", ";
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%s", sep, ag__sstr(&in[a], s, sizeof s));
    }
    return buf;
}

/* Operand a's dim at output axis d of an output of rank r (1 when absent). */
static int64_t aligned_dim(const ag_shape *s, int r, int d)
{
    int k = d - (r - s->rank);
    return k < 0 ? 1 : s->dim[k];
}

ag_status ag__bcast_shape(int n, const ag_shape *in, ag_shape *out, ag_error *err)
{
    int r = 0;
    for (int a = 0; a < n; a++)
        if (in[a].rank > r) r = in[a].rank;
    out->dtype = in[0].dtype;
    out->rank = r;
    for (int d = 0; d < r; d++) {
        int64_t z = 1;
        int unknown = 0;
        for (int a = 0; a < n; a++) {
            int64_t v = aligned_dim(&in[a], r, d);
            if (v < 0) {
                unknown = 1;
            } else if (v != 1) {
                if (z != 1 && z != v) {
                    char buf[320];
                    return ag_error_set(err, AG_ERR_SHAPE, "shapes %s are not broadcastable",
                                        shapes_str(n, in, buf, sizeof buf));
                }
                z = v;
            }
        }
        out->dim[d] = z == 1 && unknown ? -1 : z;
    }
    return AG_OK;
}

void ag__bcast_init(ag__bcast *p, int n, const ag_shape *in)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    int r = 0;
    for (int a = 0; a < n; a++)
        if (in[a].rank > r) r = in[a].rank;
    unsigned mask[AG_MAX_RANK], all = (1u << n) - 1;
    int m = 0;
    p->size = 1;
    for (int d = 0; d < r; d++) {
        int64_t z = 1;
        for (int a = 0; a < n; a++) {
            int64_t v = aligned_dim(&in[a], r, d);
            if (v != 1) z = v;
        }
        p->size *= z;
        if (z == 1) continue;
        unsigned full = 0;
        for (int a = 0; a < n; a++)
            if (aligned_dim(&in[a], r, d) == z) full |= 1u << a;
        if (m > 0 && mask[m - 1] == full) {
            p->dim[m - 1] *= z;
        } else {
            mask[m] = full;
            p->dim[m++] = z;
        }
    }
    if (m == 0) {
        mask[0] = all;
        p->dim[m++] = 1;
    }
    p->rank = m;
    for (int a = 0; a < n; a++) {
        int64_t acc = 1;
        for (int d = m - 1; d >= 0; d--) {
            if (mask[d] >> a & 1) {
                p->stride[a][d] = acc;
                acc *= p->dim[d];
            }
        }
        p->in_size[a] = acc;
    }
}

/* Steps the counters cnt[0..top] of the summed axes rd[] like an odometer
 * (the last fastest), moving off by the axes' strides zs; 0 when done. */
static inline int odometer_next(int top, const int *rd, const int64_t *dim, const int64_t *zs,
                                int64_t *cnt, int64_t *off)
{
    for (int j = top; j >= 0; j--) {
        int d = rd[j];
        *off += zs[d];
        if (++cnt[j] < dim[d]) return 1;
        *off -= zs[d] * dim[d];
        cnt[j] = 0;
    }
    return 0;
}

/* Both helpers, written once for float and double. */
#define BCAST_HELPERS(T)                                                                           \
    void ag__bcast_reduce_add_##T(const ag__bcast *p, int a, const T *src, T *dst, double scale)   \
    {                                                                                              \
        if (p->size == 0) return;                                                                  \
        const int r = p->rank;                                                                     \
        const int64_t *s = p->stride[a], na = p->in_size[a];                                       \
        if (na == p->size) {                                                                       \
            AG_PARALLEL_FOR(p->size)                                                               \
            for (int64_t i = 0; i < na; i++)                                                       \
                dst[i] += (T)(scale * src[i]);                                                     \
            return;                                                                                \
        }                                                                                          \
        int64_t zs[AG_MAX_RANK], acc = 1;                                                          \
        for (int d = r - 1; d >= 0; d--)                                                           \
            zs[d] = acc, acc *= p->dim[d];                                                         \
        int kd[AG_MAX_RANK], rd[AG_MAX_RANK], nk = 0, m = 0;                                       \
        for (int d = 0; d < r; d++) {                                                              \
            if (s[d])                                                                              \
                kd[nk++] = d;                                                                      \
            else                                                                                   \
                rd[m++] = d;                                                                       \
        }                                                                                          \
        if (s[r - 1]) {                                                                            \
            /* last axis kept: COLS columns at a time, summed row by row */                        \
            const int64_t C = p->dim[r - 1], nb = (C + COLS - 1) / COLS, items = na / C * nb;      \
            AG_PARALLEL_FOR(p->size)                                                               \
            for (int64_t t = 0; t < items; t++) {                                                  \
                int64_t krow = t / nb, c0 = t % nb * COLS, n = C - c0 < COLS ? C - c0 : COLS;      \
                int64_t off = 0, q = krow, cnt[AG_MAX_RANK] = {0};                                 \
                for (int j = nk - 2; j >= 0; j--) {                                                \
                    off += q % p->dim[kd[j]] * zs[kd[j]];                                          \
                    q /= p->dim[kd[j]];                                                            \
                }                                                                                  \
                double sum[COLS] = {0};                                                            \
                for (;;) {                                                                         \
                    const T *sr = src + off + c0;                                                  \
                    for (int64_t i = 0; i < n; i++)                                                \
                        sum[i] += sr[i];                                                           \
                    if (!odometer_next(m - 1, rd, p->dim, zs, cnt, &off)) break;                   \
                }                                                                                  \
                T *dr = dst + krow * C + c0;                                                       \
                for (int64_t i = 0; i < n; i++)                                                    \
                    dr[i] += (T)(scale * sum[i]);                                                  \
            }                                                                                      \
        } else {                                                                                   \
            /* last axis summed: each element adds contiguous runs */                              \
            const int64_t L = p->dim[r - 1];                                                       \
            AG_PARALLEL_FOR(p->size)                                                               \
            for (int64_t e = 0; e < na; e++) {                                                     \
                int64_t off = 0, q = e, cnt[AG_MAX_RANK] = {0};                                    \
                for (int j = nk - 1; j >= 0; j--) {                                                \
                    off += q % p->dim[kd[j]] * zs[kd[j]];                                          \
                    q /= p->dim[kd[j]];                                                            \
                }                                                                                  \
                /* four running sums (a fixed order) so the adds pipeline */                       \
                double s4[4] = {0};                                                                \
                for (;;) {                                                                         \
                    const T *sr = src + off;                                                       \
                    int64_t i = 0;                                                                 \
                    for (; i + 4 <= L; i += 4) {                                                   \
                        s4[0] += sr[i];                                                            \
                        s4[1] += sr[i + 1];                                                        \
                        s4[2] += sr[i + 2];                                                        \
                        s4[3] += sr[i + 3];                                                        \
                    }                                                                              \
                    for (; i < L; i++)                                                             \
                        s4[i & 3] += sr[i];                                                        \
                    if (!odometer_next(m - 2, rd, p->dim, zs, cnt, &off)) break;                   \
                }                                                                                  \
                dst[e] += (T)(scale * ((s4[0] + s4[1]) + (s4[2] + s4[3])));                        \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    void ag__bcast_expand_add_##T(const ag__bcast *p, int a, const T *src, T *dst, double scale)   \
    {                                                                                              \
        if (p->size == 0) return;                                                                  \
        const int r = p->rank;                                                                     \
        const int64_t C = p->dim[r - 1], nch = (C + CHUNK - 1) / CHUNK, items = p->size / C * nch; \
        const int64_t sa = p->stride[a][r - 1];                                                    \
        AG_PARALLEL_FOR(p->size)                                                                   \
        for (int64_t t = 0; t < items; t++) {                                                      \
            int64_t row = t / nch, c0 = t % nch * CHUNK, n = C - c0 < CHUNK ? C - c0 : CHUNK;      \
            const T *sr = src + ag__bcast_offset(p, a, row) + c0 * sa;                             \
            T *dr = dst + row * C + c0;                                                            \
            if (sa) {                                                                              \
                for (int64_t i = 0; i < n; i++)                                                    \
                    dr[i] += (T)(scale * sr[i]);                                                   \
            } else {                                                                               \
                const T v = (T)(scale * sr[0]);                                                    \
                for (int64_t i = 0; i < n; i++)                                                    \
                    dr[i] += v;                                                                    \
            }                                                                                      \
        }                                                                                          \
    }
BCAST_HELPERS(float)
BCAST_HELPERS(double)

/* ---- the ops ---- */

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV } binary_kind;
typedef struct {
    binary_kind kind;
} binary_params;

/* out[o] = EXPR(g, a, b) over every output element o, where a and b are x's
 * and y's elements at o (broadcast) and g is gz[o] (when gz is given), and
 * out[o] += ... when ACC is 1. The four stride cases are spelled out so the
 * inner loops vectorise. */
#define BCAST_LOOP(T, NAME, EXPR)                                                                  \
    static void NAME(const ag__bcast *p, const T *gz, const T *x, const T *y, T *out, int acc)     \
    {                                                                                              \
        if (p->size == 0) return;                                                                  \
        const int r = p->rank;                                                                     \
        const int64_t C = p->dim[r - 1], nch = (C + CHUNK - 1) / CHUNK, items = p->size / C * nch; \
        const int64_t cx = p->stride[0][r - 1], cy = p->stride[1][r - 1];                          \
        AG_PARALLEL_FOR(p->size)                                                                   \
        for (int64_t t = 0; t < items; t++) {                                                      \
            int64_t row = t / nch, c0 = t % nch * CHUNK, n = C - c0 < CHUNK ? C - c0 : CHUNK;      \
            const T *xr = x + ag__bcast_offset(p, 0, row) + c0 * cx;                               \
            const T *yr = y + ag__bcast_offset(p, 1, row) + c0 * cy;                               \
            const T *gr = gz ? gz + row * C + c0 : NULL;                                           \
            T *zr = out + row * C + c0;                                                            \
            if (cx && cy) {                                                                        \
                BCAST_INNER(T, EXPR, xr[i], yr[i]);                                                \
            } else if (cx) {                                                                       \
                const T b0 = yr[0];                                                                \
                BCAST_INNER(T, EXPR, xr[i], b0);                                                   \
            } else if (cy) {                                                                       \
                const T a0 = xr[0];                                                                \
                BCAST_INNER(T, EXPR, a0, yr[i]);                                                   \
            } else {                                                                               \
                const T a0 = xr[0], b0 = yr[0];                                                    \
                BCAST_INNER(T, EXPR, a0, b0);                                                      \
            }                                                                                      \
        }                                                                                          \
    }
#define BCAST_INNER(T, EXPR, A, B)                                                                 \
    do {                                                                                           \
        if (acc) {                                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const T a = A, b = B, g = gr ? gr[i] : 0;                                          \
                (void)a, (void)b, (void)g;                                                         \
                zr[i] += EXPR;                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                const T a = A, b = B, g = gr ? gr[i] : 0;                                          \
                (void)a, (void)b, (void)g;                                                         \
                zr[i] = EXPR;                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

typedef void (*bcast_loop_fn_float)(const ag__bcast *, const float *, const float *, const float *,
                                    float *, int);
typedef void (*bcast_loop_fn_double)(const ag__bcast *, const double *, const double *,
                                     const double *, double *, int);

#define BINARY_KERNELS(T)                                                                          \
    BCAST_LOOP(T, add_fwd_##T, a + b)                                                              \
    BCAST_LOOP(T, sub_fwd_##T, a - b)                                                              \
    BCAST_LOOP(T, mul_fwd_##T, a *b)                                                               \
    BCAST_LOOP(T, div_fwd_##T, a / b)                                                              \
    BCAST_LOOP(T, mul_gx_##T, g *b)                                                                \
    BCAST_LOOP(T, mul_gy_##T, g *a)                                                                \
    BCAST_LOOP(T, div_gx_##T, g / b)                                                               \
    BCAST_LOOP(T, div_gy_##T, -g *a / (b * b))                                                     \
    static const bcast_loop_fn_##T fwd_##T[4] = {add_fwd_##T, sub_fwd_##T, mul_fwd_##T,            \
                                                 div_fwd_##T};                                     \
    /* the per-element gradient terms of mul and div, [kind - B_MUL][operand] */                   \
    static const bcast_loop_fn_##T grad_##T[2][2] = {{mul_gx_##T, mul_gy_##T},                     \
                                                     {div_gx_##T, div_gy_##T}};                    \
    static ag_status binary_backward_##T(ag_kernel_ctx *k, binary_kind kind, const ag__bcast *p)   \
    {                                                                                              \
        const T *gz = (const T *)k->gout->data, *x = (const T *)k->in[0]->data,                    \
                *y = (const T *)k->in[1]->data;                                                    \
        for (int a = 0; a < 2; a++) {                                                              \
            if (!k->gin[a]) continue;                                                              \
            T *ga = (T *)k->gin[a]->data;                                                          \
            if (kind == B_ADD || kind == B_SUB) {                                                  \
                ag__bcast_reduce_add_##T(p, a, gz, ga, kind == B_SUB && a == 1 ? -1.0 : 1.0);      \
            } else if (p->in_size[a] == p->size) {                                                 \
                grad_##T[kind - B_MUL][a](p, gz, x, y, ga, 1);                                     \
            } else {                                                                               \
                ag_tensor *tmp = ag_kernel_aux(k, 0, k->out->dtype, k->out->rank, k->out->shape);  \
                if (!tmp) return k->err->code;                                                     \
                grad_##T[kind - B_MUL][a](p, gz, x, y, (T *)tmp->data, 0);                         \
                ag__bcast_reduce_add_##T(p, a, (const T *)tmp->data, ga, 1.0);                     \
            }                                                                                      \
        }                                                                                          \
        return AG_OK;                                                                              \
    }
BINARY_KERNELS(float)
BINARY_KERNELS(double)

static ag_status binary_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                              ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    for (int a = 0; a < 2; a++)
        if (!ag_dtype_is_float(in[a].dtype))
            return ag_error_set(err, AG_ERR_DTYPE, "%s is %s, expected float32 or float64",
                                a ? "y" : "x", ag_dtype_name(in[a].dtype));
    if (in[0].dtype != in[1].dtype)
        return ag_error_set(err, AG_ERR_DTYPE,
                            "x is %s but y is %s; both must have the same float dtype",
                            ag_dtype_name(in[0].dtype), ag_dtype_name(in[1].dtype));
    return ag__bcast_shape(2, in, out, err);
}

static void plan_of(const ag_kernel_ctx *k, ag__bcast *p)
{
    ag_shape s[2] = {ag__tensor_shape(k->in[0]), ag__tensor_shape(k->in[1])};
    ag__bcast_init(p, 2, s);
}

static ag_status binary_forward(ag_kernel_ctx *k)
{
    binary_kind kind = ((const binary_params *)k->params)->kind;
    ag__bcast p;
    plan_of(k, &p);
    if (k->out->dtype == AG_FLOAT32)
        fwd_float[kind](&p, NULL, AG_F32(k->in[0]), AG_F32(k->in[1]), AG_F32(k->out), 0);
    else
        fwd_double[kind](&p, NULL, AG_F64(k->in[0]), AG_F64(k->in[1]), AG_F64(k->out), 0);
    return AG_OK;
}

static ag_status binary_backward(ag_kernel_ctx *k)
{
    binary_kind kind = ((const binary_params *)k->params)->kind;
    ag__bcast p;
    plan_of(k, &p);
    return k->out->dtype == AG_FLOAT32 ? binary_backward_float(k, kind, &p)
                                       : binary_backward_double(k, kind, &p);
}

static ag_node *binary(ag_graph *g, const ag_op *op, binary_kind kind, ag_node *x, ag_node *y)
{
    binary_params p = {kind};
    ag_node *in[2] = {x, y};
    return ag_apply(g, op, in, 2, &p, sizeof p);
}

/* A dim in [lo, hi] from r. */
static int64_t sample_dim(ag_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)ag_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* Sample graphs, dims drawn from (seed, variant): 0 one shape of rank 1-3
 * for both; 1 y the trailing 1-2 dims of x (rank 2-3), broadcast over x's
 * leading dims; 2 size-1 dims broadcasting on both sides, x (A,1,C) or
 * (1,C) with y (B,1), A, B, C >= 2; 3 a scalar () with a tensor of rank
 * 1-3, on either side; 4 one node used as both operands. Dims are 1 to 4
 * unless said. div keeps y in [0.5, 2), away from 0. */
static ag_node *sample_binary(ag_graph *g, const ag_op *op, binary_kind kind, int variant,
                              uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x62696e617279ULL + 16 * (uint64_t)kind + (uint64_t)variant);
    int xr = 1 + (int)ag_rng_below(&r, 3), yr = xr;
    int64_t xs[3], ys[3];
    for (int d = 0; d < xr; d++)
        xs[d] = ys[d] = sample_dim(&r, 1, 4);
    double ylo = kind == B_DIV ? 0.5 : -2, yhi = 2;
    if (variant == 4) {
        ag_node *x = ag__sample_var(g, "x", xr, xs, ylo, yhi, seed, 1);
        return binary(g, op, kind, x, x);
    }
    if (variant == 1) {
        xr = 2 + (int)ag_rng_below(&r, 2);
        for (int d = 0; d < xr; d++)
            xs[d] = sample_dim(&r, 1, 4);
        yr = 1 + (int)ag_rng_below(&r, (uint64_t)(xr - 1));
        for (int d = 0; d < yr; d++)
            ys[d] = xs[xr - yr + d];
    } else if (variant == 2) {
        xr = 2 + (int)ag_rng_below(&r, 2), yr = 2;
        int64_t a = sample_dim(&r, 2, 4), b = sample_dim(&r, 2, 4), c = sample_dim(&r, 2, 4);
        xs[0] = a, xs[xr - 2] = 1, xs[xr - 1] = c;
        ys[0] = b, ys[1] = 1;
    } else if (variant == 3) {
        if (ag_rng_below(&r, 2))
            xr = 0;
        else
            yr = 0;
    }
    ag_node *x = ag__sample_var(g, "x", xr, xs, -2, 2, seed, 1);
    ag_node *y = ag__sample_var(g, "y", yr, ys, ylo, yhi, seed, 2);
    return binary(g, op, kind, x, y);
}

#define BINARY_OP(NAME, KIND)                                                                      \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed);                        \
    const ag_op ag_op_##NAME = {.name = #NAME,                                                     \
                                .n_aux = 1,                                                        \
                                .infer = binary_infer,                                             \
                                .forward = binary_forward,                                         \
                                .backward = binary_backward,                                       \
                                .n_samples = 5,                                                    \
                                .sample = sample_##NAME};                                          \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed)                         \
    {                                                                                              \
        return sample_binary(g, &ag_op_##NAME, KIND, variant, seed);                               \
    }                                                                                              \
    ag_node *ag_##NAME(ag_graph *g, ag_node *x, ag_node *y)                                        \
    {                                                                                              \
        return binary(g, &ag_op_##NAME, KIND, x, y);                                               \
    }

BINARY_OP(add, B_ADD)
BINARY_OP(sub, B_SUB)
BINARY_OP(mul, B_MUL)
BINARY_OP(div, B_DIV)
