/* unary.c — elementwise unary ops: neg, exp, log, sqrt, tanh, sigmoid, relu.
 *
 *   neg:     z = -x;            gx = -gz
 *   exp:     z = e^x;           gx = gz·z
 *   log:     z = ln x;          gx = gz/x
 *   sqrt:    z = √x;            gx = gz/(2z)
 *   tanh:    z = tanh x;        gx = gz·(1-z²)
 *   sigmoid: z = 1/(1+e^-x);    gx = gz·z·(1-z)
 *   relu:    z = max(x, 0);     gx = gz·[x>0]
 *
 * x (any shape) -> z (same shape). Parallel over elements.
 */
#include "../framework/internal.h"

#include <math.h>

typedef enum { U_NEG, U_EXP, U_LOG, U_SQRT, U_TANH, U_SIGMOID, U_RELU } unary_kind;
typedef struct {
    unary_kind kind;
} unary_params;

/* The kernels, written once and instantiated for float and double. */
#define UNARY_KERNELS(T, EXP, LOG, SQRT, TANH)                                                     \
    static void unary_forward_##T(unary_kind kind, const T *x, T *z, int64_t n)                    \
    {                                                                                              \
        AG_PARALLEL_FOR(8 * n)                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = x[i];                                                                            \
            switch (kind) {                                                                        \
            case U_NEG: z[i] = -v; break;                                                          \
            case U_EXP: z[i] = EXP(v); break;                                                      \
            case U_LOG: z[i] = LOG(v); break;                                                      \
            case U_SQRT: z[i] = SQRT(v); break;                                                    \
            case U_TANH: z[i] = TANH(v); break;                                                    \
            case U_SIGMOID: z[i] = v >= 0 ? 1 / (1 + EXP(-v)) : EXP(v) / (1 + EXP(v)); break;      \
            case U_RELU: z[i] = v > 0 ? v : 0; break;                                              \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void unary_backward_##T(unary_kind kind, const T *x, const T *z, const T *gz, T *gx,    \
                                   int64_t n)                                                      \
    {                                                                                              \
        AG_PARALLEL_FOR(4 * n)                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T d = 0;                                                                               \
            switch (kind) {                                                                        \
            case U_NEG: d = -1; break;                                                             \
            case U_EXP: d = z[i]; break;                                                           \
            case U_LOG: d = 1 / x[i]; break;                                                       \
            case U_SQRT: d = 1 / (2 * z[i]); break;                                                \
            case U_TANH: d = 1 - z[i] * z[i]; break;                                               \
            case U_SIGMOID: d = z[i] * (1 - z[i]); break;                                          \
            case U_RELU: d = x[i] > 0; break;                                                      \
            }                                                                                      \
            gx[i] += gz[i] * d;                                                                    \
        }                                                                                          \
    }
UNARY_KERNELS(float, expf, logf, sqrtf, tanhf)
UNARY_KERNELS(double, exp, log, sqrt, tanh)

static ag_status unary_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                             ag_shape *out, ag_error *err)
{
    (void)params;
    (void)n_in;
    if (!ag_dtype_is_float(in[0].dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "%s expects a float tensor, received %s", op->name,
                            ag_dtype_name(in[0].dtype));
    *out = in[0];
    return AG_OK;
}

static ag_status unary_forward(ag_kernel_ctx *k)
{
    unary_kind kind = ((const unary_params *)k->params)->kind;
    if (k->out->dtype == AG_FLOAT32)
        unary_forward_float(kind, AG_F32(k->in[0]), AG_F32(k->out), k->out->size);
    else
        unary_forward_double(kind, AG_F64(k->in[0]), AG_F64(k->out), k->out->size);
    return AG_OK;
}

static ag_status unary_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    unary_kind kind = ((const unary_params *)k->params)->kind;
    if (k->out->dtype == AG_FLOAT32)
        unary_backward_float(kind, AG_F32(k->in[0]), AG_F32(k->out), AG_F32(k->gout),
                             AG_F32(k->gin[0]), k->out->size);
    else
        unary_backward_double(kind, AG_F64(k->in[0]), AG_F64(k->out), AG_F64(k->gout),
                              AG_F64(k->gin[0]), k->out->size);
    return AG_OK;
}

static ag_node *unary(ag_graph *g, const ag_op *op, unary_kind kind, ag_node *x)
{
    unary_params p = {kind};
    return ag_apply(g, op, &x, 1, &p, sizeof p);
}

/* Sample graphs: x of a random rank-1..3 shape drawn from the seed, in a
 * range where the op is smooth (log and sqrt need x > 0; relu's kink at 0
 * is avoided). */
static ag_node *sample_unary(ag_graph *g, const ag_op *op, unary_kind kind, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x756e617279ULL);
    int rank = 1 + (int)ag_rng_below(&r, 3);
    int64_t shape[3];
    for (int d = 0; d < rank; d++)
        shape[d] = 1 + (int64_t)ag_rng_below(&r, 4);
    double lo = -2, hi = 2;
    if (kind == U_LOG || kind == U_SQRT) lo = 0.2, hi = 3;
    ag_node *x = ag__sample_var(g, "x", rank, shape, lo, hi, seed, 1);
    if (kind == U_RELU && x) {
        ag_tensor *t = ag_value(x);
        for (int64_t i = 0; i < t->size; i++)
            if (fabs(AG_F64(t)[i]) < 0.1) AG_F64(t)[i] = AG_F64(t)[i] < 0 ? -0.5 : 0.5;
    }
    return unary(g, op, kind, x);
}

#define UNARY_OP(NAME, KIND)                                                                       \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed);                        \
    const ag_op ag_op_##NAME = {.name = #NAME,                                                     \
                                .infer = unary_infer,                                              \
                                .forward = unary_forward,                                          \
                                .backward = unary_backward,                                        \
                                .n_samples = 1,                                                    \
                                .sample = sample_##NAME};                                          \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed)                         \
    {                                                                                              \
        (void)variant;                                                                             \
        return sample_unary(g, &ag_op_##NAME, KIND, seed);                                         \
    }                                                                                              \
    ag_node *ag_##NAME(ag_graph *g, ag_node *x) { return unary(g, &ag_op_##NAME, KIND, x); }

UNARY_OP(neg, U_NEG)
UNARY_OP(exp, U_EXP)
UNARY_OP(log, U_LOG)
UNARY_OP(sqrt, U_SQRT)
UNARY_OP(tanh, U_TANH)
UNARY_OP(sigmoid, U_SIGMOID)
UNARY_OP(relu, U_RELU)
