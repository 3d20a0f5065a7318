/* scalar.c — elementwise ops with a constant: add_scalar, mul_scalar, pow_scalar.
 *
 *   add_scalar: z = x + c;   gx = gz
 *   mul_scalar: z = c·x;     gx = c·gz
 *   pow_scalar: z = x^p;     gx = p·x^(p-1)·gz   (0 when p = 0)
 *
 * x (any shape) -> z (same shape). Parallel over elements.
 */
#include "../framework/internal.h"

#include <math.h>

typedef enum { S_ADD, S_MUL, S_POW } scalar_kind;
typedef struct {
    scalar_kind kind;
    double c;
} scalar_params;

#define T   float
#define POW powf
#include "scalar.inc"
#undef T
#undef POW
#define T   double
#define POW pow
#include "scalar.inc"
#undef T
#undef POW

static ag_status scalar_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                              ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in;
    if (!ag_dtype_is_float(in[0].dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "x is %s, expected float32 or float64",
                            ag_dtype_name(in[0].dtype));
    *out = in[0];
    return AG_OK;
}

static ag_status scalar_forward(ag_kernel_ctx *k)
{
    const scalar_params *p = k->params;
    if (k->out->dtype == AG_FLOAT32)
        scalar_forward_float(p->kind, (float)p->c, AG_F32(k->in[0]), AG_F32(k->out), k->out->size);
    else
        scalar_forward_double(p->kind, p->c, AG_F64(k->in[0]), AG_F64(k->out), k->out->size);
    return AG_OK;
}

static ag_status scalar_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    const scalar_params *p = k->params;
    if (k->out->dtype == AG_FLOAT32)
        scalar_backward_float(p->kind, (float)p->c, AG_F32(k->in[0]), AG_F32(k->gout),
                              AG_F32(k->gin[0]), k->out->size);
    else
        scalar_backward_double(p->kind, p->c, AG_F64(k->in[0]), AG_F64(k->gout), AG_F64(k->gin[0]),
                               k->out->size);
    return AG_OK;
}

static ag_node *scalar(ag_graph *g, const ag_op *op, scalar_kind kind, ag_node *x, double c)
{
    if (g && x && !isfinite(c)) {
        ag__fail(g, AG_ERR_ARG, "%s: the constant must be finite, received %g", op->name, c);
        return NULL;
    }
    scalar_params p = {kind, c};
    return ag_apply(g, op, &x, 1, &p, sizeof p);
}

/* Sample graphs: x of rank 1-3, dims 1 to 4 drawn from (seed, variant).
 * pow_scalar tries p = 2 on signed x, and p = 3.5 and p = -1.5 on x in
 * [0.5, 2). */
static ag_node *sample_scalar(ag_graph *g, const ag_op *op, scalar_kind kind, int variant,
                              uint64_t seed)
{
    static const double pows[3] = {2, 3.5, -1.5};
    ag_rng r;
    ag_rng_init(&r, seed, 0x7363616c6172ULL + 16 * (uint64_t)kind + (uint64_t)variant);
    int rank = 1 + (int)ag_rng_below(&r, 3);
    int64_t shape[3];
    for (int d = 0; d < rank; d++)
        shape[d] = 1 + (int64_t)ag_rng_below(&r, 4);
    double c = kind == S_ADD ? 1.5 : kind == S_MUL ? -2.5 : pows[variant];
    double lo = kind == S_POW && variant > 0 ? 0.5 : -2;
    ag_node *x = ag__sample_var(g, "x", rank, shape, lo, 2, seed, 1);
    return scalar(g, op, kind, x, c);
}

#define SCALAR_OP(NAME, KIND, NS)                                                                  \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed);                        \
    const ag_op ag_op_##NAME = {.name = #NAME,                                                     \
                                .infer = scalar_infer,                                             \
                                .forward = scalar_forward,                                         \
                                .backward = scalar_backward,                                       \
                                .n_samples = NS,                                                   \
                                .sample = sample_##NAME};                                          \
    static ag_node *sample_##NAME(ag_graph *g, int variant, uint64_t seed)                         \
    {                                                                                              \
        return sample_scalar(g, &ag_op_##NAME, KIND, variant, seed);                               \
    }

SCALAR_OP(add_scalar, S_ADD, 1)
SCALAR_OP(mul_scalar, S_MUL, 1)
SCALAR_OP(pow_scalar, S_POW, 3)

ag_node *ag_add_scalar(ag_graph *g, ag_node *x, double c)
{
    return scalar(g, &ag_op_add_scalar, S_ADD, x, c);
}
ag_node *ag_mul_scalar(ag_graph *g, ag_node *x, double c)
{
    return scalar(g, &ag_op_mul_scalar, S_MUL, x, c);
}
ag_node *ag_pow_scalar(ag_graph *g, ag_node *x, double p)
{
    return scalar(g, &ag_op_pow_scalar, S_POW, x, p);
}
