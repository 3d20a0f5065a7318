/* loss.c — losses, each the mean over its examples, a scalar ().
 *
 *   binary_crossentropy, pred p and target y of one shape (n elements):
 *     probabilities: q = clip(p, ε, 1-ε), ε = 1e-7
 *       L = -Σ (y log q + (1-y) log(1-q)) / n;  gp = gz·(p-y)/(p(1-p))/n inside the clip, else 0
 *     logits x: L = Σ (max(x,0) - x y + log(1 + e^-|x|)) / n;  gx = gz·(σ(x) - y)/n
 *   categorical_crossentropy, pred and target (..., C), rows r = n/C:
 *     probabilities: s = Σ_c p_c, q = p/s, L = -Σ_rows Σ_c y_c log clip(q_c) / r
 *       gq_c = -gz·y_c/(q_c r) inside the clip, else 0;  gp_j = (gq_j - Σ_c gq_c q_c)/s
 *     logits x: L = Σ_rows Σ_c y_c (lse(x) - x_c) / r;  gx_j = gz·(softmax_j Σ_c y_c - y_j)/r
 *   sparse_categorical_crossentropy, labels int32/int64 or whole floats (...)
 *     or (...,1), pred (..., C): categorical with y = onehot(label)
 *   mean_squared_error: L = Σ (x-y)² / n;  gx = gz·2(x-y)/n
 *
 * Targets and labels get no gradient. The forward sums run serially, in
 * double, left to right; the backward passes are elementwise (or per row)
 * and parallel.
 */
#include "../framework/internal.h"

#include <inttypes.h>
#include <math.h>

#define LOSS_EPS 1e-7

typedef enum { L_BCE, L_CCE, L_SCCE, L_MSE } loss_kind;
typedef struct {
    loss_kind kind;
    int from_logits;
} loss_params;

static ag_status loss_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                            ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in;
    const loss_params *p = params;
    const ag_shape *x = &in[0], *y = &in[1];
    char a[96], b[96];
    if (!ag_dtype_is_float(x->dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "pred must be a float tensor, received %s",
                            ag_dtype_name(x->dtype));
    if (p->kind == L_SCCE) {
        if (y->dtype != AG_INT32 && y->dtype != AG_INT64 && !ag_dtype_is_float(y->dtype))
            return ag_error_set(err, AG_ERR_DTYPE,
                                "labels must be int32, int64 or float, received %s",
                                ag_dtype_name(y->dtype));
        int ok = x->rank >= 1 && (y->rank == x->rank - 1 ||
                                  (y->rank == x->rank && ag__dim_compat(y->dim[y->rank - 1], 1)));
        for (int i = 0; ok && i < x->rank - 1; i++)
            ok = ag__dim_compat(x->dim[i], y->dim[i]);
        if (!ok)
            return ag_error_set(err, AG_ERR_SHAPE,
                                "labels must have pred's shape without its class axis: pred %s "
                                "expects labels (...) or (...,1) matching it, received labels %s",
                                ag__sstr(x, a, sizeof a), ag__sstr(y, b, sizeof b));
    } else {
        if (y->dtype != x->dtype)
            return ag_error_set(err, AG_ERR_DTYPE, "target must be %s like pred, received %s",
                                ag_dtype_name(x->dtype), ag_dtype_name(y->dtype));
        int ok = x->rank == y->rank;
        for (int i = 0; ok && i < x->rank; i++)
            ok = ag__dim_compat(x->dim[i], y->dim[i]);
        if (!ok)
            return ag_error_set(err, AG_ERR_SHAPE,
                                "pred and target must have one shape, received pred %s and "
                                "target %s",
                                ag__sstr(x, a, sizeof a), ag__sstr(y, b, sizeof b));
        if (p->kind == L_CCE && x->rank < 1)
            return ag_error_set(err, AG_ERR_SHAPE, "pred must have a class axis, received shape %s",
                                ag__sstr(x, a, sizeof a));
    }
    out->dtype = x->dtype;
    out->rank = 0;
    return AG_OK;
}

static double clip(double q)
{
    return q < LOSS_EPS ? LOSS_EPS : q > 1 - LOSS_EPS ? 1 - LOSS_EPS : q;
}
static int inside(double q) { return q >= LOSS_EPS && q <= 1 - LOSS_EPS; }

static double label_at(const ag_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case AG_INT32: return AG_I32(t)[i];
    case AG_INT64: return (double)AG_I64(t)[i];
    default: return ag_tensor_get(t, i);
    }
}

#define T float
#include "loss.inc"
#undef T
#define T double
#include "loss.inc"
#undef T

/* Examples the mean runs over: elements, or rows of C classes. */
static int64_t loss_count(const ag_kernel_ctx *k, int64_t *c)
{
    const loss_params *p = k->params;
    const ag_tensor *x = k->in[0];
    *c = p->kind == L_CCE || p->kind == L_SCCE ? x->shape[x->rank - 1] : 1;
    return *c ? x->size / *c : 0;
}

/* Sparse labels must be whole numbers in [0, C). */
static ag_status check_labels(ag_kernel_ctx *k, int64_t rows, int64_t c)
{
    for (int64_t r = 0; r < rows; r++) {
        double v = label_at(k->in[1], r);
        if (!(v >= 0 && v < (double)c && v == floor(v)))
            return ag_error_set(k->err, AG_ERR_RANGE,
                                "label %g at flat position %" PRId64
                                " is not a class index in [0, C=%" PRId64 ")",
                                v, r, c);
    }
    return AG_OK;
}

static ag_status loss_forward(ag_kernel_ctx *k)
{
    const loss_params *p = k->params;
    int64_t c, rows = loss_count(k, &c);
    if (rows == 0)
        return ag_error_set(k->err, AG_ERR_SHAPE,
                            "pred has no elements: the mean of no examples is undefined");
    if (p->kind == L_SCCE && check_labels(k, rows, c)) return k->err->code;
    const ag_tensor *lab = p->kind == L_SCCE ? k->in[1] : NULL;
    int f32 = k->out->dtype == AG_FLOAT32;
    const void *x = k->in[0]->data, *y = k->in[1]->data;
    double s = 0;
    switch (p->kind) {
    case L_BCE:
        s = f32 ? bce_sum_float(x, y, rows, p->from_logits)
                : bce_sum_double(x, y, rows, p->from_logits);
        break;
    case L_CCE:
    case L_SCCE:
        s = f32 ? cce_sum_float(x, y, lab, rows, c, p->from_logits)
                : cce_sum_double(x, y, lab, rows, c, p->from_logits);
        break;
    case L_MSE: s = f32 ? mse_sum_float(x, y, rows) : mse_sum_double(x, y, rows); break;
    }
    ag_tensor_set(k->out, 0, s / (double)rows);
    return AG_OK;
}

static ag_status loss_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    const loss_params *p = k->params;
    int64_t c, rows = loss_count(k, &c);
    const ag_tensor *lab = p->kind == L_SCCE ? k->in[1] : NULL;
    int f32 = k->out->dtype == AG_FLOAT32;
    const void *x = k->in[0]->data, *y = k->in[1]->data;
    void *gx = k->gin[0]->data;
    double g = ag_tensor_get(k->gout, 0) / (double)rows;
    switch (p->kind) {
    case L_BCE:
        if (f32)
            bce_grad_float(x, y, gx, rows, g, p->from_logits);
        else
            bce_grad_double(x, y, gx, rows, g, p->from_logits);
        break;
    case L_CCE:
    case L_SCCE:
        if (f32)
            cce_grad_float(x, y, lab, gx, rows, c, g, p->from_logits);
        else
            cce_grad_double(x, y, lab, gx, rows, c, g, p->from_logits);
        break;
    case L_MSE:
        if (f32)
            mse_grad_float(x, y, gx, rows, g);
        else
            mse_grad_double(x, y, gx, rows, g);
        break;
    }
    return AG_OK;
}

/* ---- sample graphs ---- */

/* A float64 constant of uniform values in [lo, hi). */
static ag_node *sample_const(ag_graph *g, int rank, const int64_t *shape, double lo, double hi,
                             uint64_t seed, uint64_t stream)
{
    ag_tensor *t = ag_tensor_new(AG_FLOAT64, rank, shape, NULL);
    if (!t) return NULL;
    ag_fill_uniform(t, lo, hi, seed, stream);
    ag_node *n = ag_constant(g, t);
    ag_tensor_free(t);
    return n;
}

/* Labels of dtype dt, shape, in [0, c). */
static ag_node *sample_labels(ag_graph *g, ag_dtype dt, int rank, const int64_t *shape, int64_t c,
                              uint64_t seed)
{
    ag_tensor *t = ag_tensor_new(dt, rank, shape, NULL);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->size; i++)
        ag_tensor_set(t, i, floor(ag_rand_uniform(seed, 7, (uint64_t)i) * (double)c));
    ag_node *n = ag_constant(g, t);
    ag_tensor_free(t);
    return n;
}

/* A one-hot target (rows, c) as a constant. */
static ag_node *sample_onehot(ag_graph *g, int64_t rows, int64_t c, uint64_t seed)
{
    int64_t shape[2] = {rows, c};
    ag_tensor *t = ag_tensor_new(AG_FLOAT64, 2, shape, NULL);
    if (!t) return NULL;
    for (int64_t r = 0; r < rows; r++)
        AG_F64(t)[r * c + (int64_t)(ag_rand_uniform(seed, 8, (uint64_t)r) * (double)c)] = 1;
    ag_node *n = ag_constant(g, t);
    ag_tensor_free(t);
    return n;
}

#define LOSS_OP(NAME, N)                                                                           \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed);                        \
    const ag_op ag_op_##NAME = {.name = #NAME,                                                     \
                                .infer = loss_infer,                                               \
                                .forward = loss_forward,                                           \
                                .backward = loss_backward,                                         \
                                .n_samples = N,                                                    \
                                .sample = sample_##NAME};

LOSS_OP(binary_crossentropy, 3)
LOSS_OP(categorical_crossentropy, 4)
LOSS_OP(sparse_categorical_crossentropy, 3)
LOSS_OP(mean_squared_error, 2)

static ag_node *loss(ag_graph *g, const ag_op *op, loss_kind kind, ag_node *pred, ag_node *target,
                     int from_logits)
{
    loss_params p = {kind, from_logits != 0};
    ag_node *in[2] = {pred, target};
    return ag_apply(g, op, in, 2, &p, sizeof p);
}

ag_node *ag_binary_crossentropy(ag_graph *g, ag_node *pred, ag_node *target, int from_logits)
{
    return loss(g, &ag_op_binary_crossentropy, L_BCE, pred, target, from_logits);
}
ag_node *ag_categorical_crossentropy(ag_graph *g, ag_node *pred, ag_node *target, int from_logits)
{
    return loss(g, &ag_op_categorical_crossentropy, L_CCE, pred, target, from_logits);
}
ag_node *ag_sparse_categorical_crossentropy(ag_graph *g, ag_node *pred, ag_node *labels,
                                            int from_logits)
{
    return loss(g, &ag_op_sparse_categorical_crossentropy, L_SCCE, pred, labels, from_logits);
}
ag_node *ag_mean_squared_error(ag_graph *g, ag_node *pred, ag_node *target)
{
    return loss(g, &ag_op_mean_squared_error, L_MSE, pred, target, 0);
}

/* A dim in [lo, hi] from r. */
static int64_t sample_dim(ag_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)ag_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* The samples draw their dims from (seed, a per-op stream + variant). */
static void sample_rng(ag_rng *r, uint64_t seed, loss_kind kind, int variant)
{
    ag_rng_init(r, seed, 0x6c6f7373000000ULL + 16 * (uint64_t)kind + (uint64_t)variant);
}

/* (R,C), R 1 to 4 and C 2 to 5, and (A,B,C), A and B 1 to 3, C 2 to 4:
 * C >= 2 classes, so a normalised probability stays inside the clip. */
static void sample_shape(ag_rng *r, int rank, int64_t *shape)
{
    if (rank == 2) {
        shape[0] = sample_dim(r, 1, 4), shape[1] = sample_dim(r, 2, 5);
    } else {
        shape[0] = sample_dim(r, 1, 3), shape[1] = sample_dim(r, 1, 3);
        shape[2] = sample_dim(r, 2, 4);
    }
}

/* pred and target (R,C): probabilities in [0.05, 0.95) (away from the clip
 * bounds), soft targets; variant 1 also has values clipped well outside
 * [ε, 1-ε] (zero gradient); variant 2 is from logits. */
static ag_node *sample_binary_crossentropy(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, L_BCE, variant);
    int64_t shape[2];
    sample_shape(&r, 2, shape);
    int logits = variant == 2;
    ag_node *x =
        ag__sample_var(g, "pred", 2, shape, logits ? -3 : 0.05, logits ? 3 : 0.95, seed, 1);
    if (x && variant == 1) {
        ag_tensor *t = ag_value(x);
        AG_F64(t)[0] = -0.2, AG_F64(t)[1 + ag_rng_below(&r, (uint64_t)t->size - 1)] = 1.3;
    }
    return ag_binary_crossentropy(g, x, sample_const(g, 2, shape, 0, 1, seed, 2), logits);
}

/* Unnormalised probabilities (R,C) with one-hot (0) or soft (1) targets,
 * logits (R,C) with soft targets (2), probabilities (A,B,C) with soft
 * targets (3). */
static ag_node *sample_categorical_crossentropy(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, L_CCE, variant);
    int rank = variant == 3 ? 3 : 2, logits = variant == 2;
    int64_t shape[3];
    sample_shape(&r, rank, shape);
    ag_node *x = ag__sample_var(g, "pred", rank, shape, logits ? -2 : 0.1, logits ? 2 : 1, seed, 1);
    ag_node *y = variant == 0 ? sample_onehot(g, shape[0], shape[1], seed)
                              : sample_const(g, rank, shape, 0, 1, seed, 2);
    return ag_categorical_crossentropy(g, x, y, logits);
}

/* Probabilities (R,C) with int32 labels (R), logits (R,C) with int64
 * labels, logits (A,B,C) with float labels (A,B,1); labels in [0, C). */
static ag_node *sample_sparse_categorical_crossentropy(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, L_SCCE, variant);
    int64_t shape[3];
    ag_node *x, *y;
    if (variant < 2) {
        sample_shape(&r, 2, shape);
        x = ag__sample_var(g, "pred", 2, shape, variant ? -2 : 0.1, variant ? 2 : 1, seed, 1);
        y = sample_labels(g, variant ? AG_INT64 : AG_INT32, 1, shape, shape[1], seed);
    } else {
        sample_shape(&r, 3, shape);
        int64_t ls[3] = {shape[0], shape[1], 1};
        x = ag__sample_var(g, "pred", 3, shape, -2, 2, seed, 1);
        y = sample_labels(g, AG_FLOAT64, 3, ls, shape[2], seed);
    }
    return ag_sparse_categorical_crossentropy(g, x, y, variant != 0);
}

/* pred and target (R,C) and (A,B,C) */
static ag_node *sample_mean_squared_error(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    sample_rng(&r, seed, L_MSE, variant);
    int rank = variant ? 3 : 2;
    int64_t shape[3];
    sample_shape(&r, rank, shape);
    ag_node *x = ag__sample_var(g, "pred", rank, shape, -2, 2, seed, 1);
    return ag_mean_squared_error(g, x, sample_const(g, rank, shape, -2, 2, seed, 2));
}
