/* custom_op.c — define your own op and check its gradient.
 *
 * An op is a struct of callbacks: infer (output shape from input shapes),
 * forward, backward, and optionally a sample graph for the checker. This
 * program defines swish, z = x·σ(βx), with β a parameter of the op, once
 * correctly and once with a deliberately wrong backward, and shows that
 * ag_gradcheck_op — the check `attograd gradcheck` runs on every built-in
 * op — tells them apart.
 *
 *   swish:  z = x σ(βx);   gx = gz (σ(βx) + βx σ(βx)(1 - σ(βx)))
 *
 * Run: build/bin/custom_op
 */
#include "attograd.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    double beta;
} swish_params;

static double sigmoid(double v) { return 1 / (1 + exp(-v)); }

/* x (any float shape) -> z (same shape) */
static ag_status swish_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                             ag_shape *out, ag_error *err)
{
    (void)params;
    if (n_in != 1)
        return ag_error_set(err, AG_ERR_ARG, "%s expects 1 input, received %d", op->name, n_in);
    if (!ag_dtype_is_float(in[0].dtype))
        return ag_error_set(err, AG_ERR_DTYPE, "%s expects a float tensor, received %s", op->name,
                            ag_dtype_name(in[0].dtype));
    *out = in[0];
    return AG_OK;
}

/* ag_tensor_get/set keep this short and work for float32 and float64; a
 * fast op would switch on the dtype and loop over typed pointers. */
static ag_status swish_forward(ag_kernel_ctx *k)
{
    double beta = ((const swish_params *)k->params)->beta;
    for (int64_t i = 0; i < k->out->size; i++) {
        double x = ag_tensor_get(k->in[0], i);
        ag_tensor_set(k->out, i, x * sigmoid(beta * x));
    }
    return AG_OK;
}

static ag_status swish_backward(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    double beta = ((const swish_params *)k->params)->beta;
    for (int64_t i = 0; i < k->out->size; i++) {
        double x = ag_tensor_get(k->in[0], i), s = sigmoid(beta * x);
        double d = s + beta * x * s * (1 - s);
        /* backward ADDS into gin: the input may feed other nodes too */
        ag_tensor_set(k->gin[0], i, ag_tensor_get(k->gin[0], i) + ag_tensor_get(k->gout, i) * d);
    }
    return AG_OK;
}

/* The same op with a common mistake: forgetting the product rule. */
static ag_status swish_backward_wrong(ag_kernel_ctx *k)
{
    if (!k->gin[0]) return AG_OK;
    double beta = ((const swish_params *)k->params)->beta;
    for (int64_t i = 0; i < k->out->size; i++) {
        double s = sigmoid(beta * ag_tensor_get(k->in[0], i));
        ag_tensor_set(k->gin[0], i, ag_tensor_get(k->gin[0], i) + ag_tensor_get(k->gout, i) * s);
    }
    return AG_OK;
}

/* A sample graph for the checker, as every built-in op has: x of a random
 * shape drawn from the seed, out = swish(swish(tanh x)) — a user op
 * composes with built-in ones. Variant 0 uses β = 1.5, variant 1 β = -0.7. */
static const ag_op swish_op, swish_wrong_op;
static ag_node *swish_sample_with(ag_graph *g, const ag_op *op, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 77);
    int64_t shape[2] = {1 + (int64_t)ag_rng_below(&r, 4), 1 + (int64_t)ag_rng_below(&r, 5)};
    ag_node *x = ag_variable(g, "x", 2, shape);
    if (x) ag_fill_uniform(ag_value(x), -2, 2, seed, 1);
    swish_params p = {.beta = variant == 0 ? 1.5 : -0.7};
    ag_node *h = ag_tanh(g, x);
    ag_node *z = ag_apply(g, op, &h, 1, &p, sizeof p);
    return ag_apply(g, op, &z, 1, &p, sizeof p);
}
static ag_node *swish_sample(ag_graph *g, int variant, uint64_t seed)
{
    return swish_sample_with(g, &swish_op, variant, seed);
}
static ag_node *swish_wrong_sample(ag_graph *g, int variant, uint64_t seed)
{
    return swish_sample_with(g, &swish_wrong_op, variant, seed);
}

static const ag_op swish_op = {.name = "swish",
                               .infer = swish_infer,
                               .forward = swish_forward,
                               .backward = swish_backward,
                               .n_samples = 2,
                               .sample = swish_sample};
static const ag_op swish_wrong_op = {.name = "swish_wrong",
                                     .infer = swish_infer,
                                     .forward = swish_forward,
                                     .backward = swish_backward_wrong,
                                     .n_samples = 2,
                                     .sample = swish_wrong_sample};

/* Checks op as `attograd gradcheck` checks the built-in ops: each sample
 * graph with several seeds, in float64, against finite differences.
 * Returns 0 when the worst relative error is within 1e-6. */
static int check(const ag_op *op)
{
    ag_gradcheck_report worst;
    ag_error err = {0};
    int n = 0;
    if (ag_gradcheck_op(op, 5, &worst, &n, &err)) {
        fprintf(stderr, "gradcheck failed to run: %s\n", err.msg);
        return 1;
    }
    ag_gradcheck_print(stdout, &worst, op->name);
    int ok = worst.max_rel <= 1e-6;
    printf("%s: %d sample graphs, %s\n\n", op->name, n, ok ? "gradient correct" : "GRADIENT WRONG");
    return ok ? 0 : 1;
}

int main(void)
{
    int correct = check(&swish_op);
    int wrong = check(&swish_wrong_op);
    /* success means: the right op passes and the wrong one is caught */
    if (correct == 0 && wrong == 1) {
        printf("the checker accepted the correct backward and caught the wrong one\n");
        return 0;
    }
    return 1;
}
