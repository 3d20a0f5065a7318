/* core.c — Dense, Activation, Dropout, Concatenate, LayerNormalization.
 *
 *   Dense:      x (B,...,K) -> z = act(x·kernel + bias)        kernel (K,N), bias (N)
 *   Activation: z = act(x)
 *   Dropout:    z = x · keep / (1-rate) in training mode, z = x otherwise
 *   Concatenate: z = [x_1, ..., x_n] along axis
 *   LayerNormalization, over the last axis (D):
 *               z = gamma · (x - mean) / √(var + epsilon) + beta;  gamma, beta (D)
 *
 * Masks pass through Dense, Activation, Dropout and LayerNormalization.
 * Concatenate joins them as Keras 3 does: each input's mask broadcast to its
 * shape (an unmasked input counts as all true), joined along axis, any over
 * the last axis. Along the last axis that is the OR of the masks, and no
 * mask at all (which every layer reads as all true) when some input has
 * none; along the time axis the masks are concatenated.
 */
#include "layer.h"

#include <inttypes.h>
#include <math.h>

static int valid_activation(ag_activation a) { return (unsigned)a <= AG_ACT_SOFTMAX; }

/* Output 0 with input 0's mask passed on (Keras's supports_masking). */
static ag_node *pass_mask(ag_node *out, ag_layer_call_rec *rec)
{
    rec->out_mask = rec->in_mask[0];
    return out;
}

/* The last dim of x, which must be known; -1 with the model's error set. */
static int64_t last_dim(ag_layer *l, ag_node *x, int min_rank)
{
    char buf[96];
    const ag_shape *s = ag_node_shape(x);
    if (s->rank < min_rank || s->dim[s->rank - 1] < 0 || !ag_dtype_is_float(s->dtype)) {
        ag__model_fail(l->m, AG_ERR_SHAPE,
                       "%s '%s': expected a float input of rank >= %d with a known last "
                       "dimension, received %s %s",
                       l->cls->class_name, l->name, min_rank, ag_dtype_name(s->dtype),
                       ag__sstr(s, buf, sizeof buf));
        return -1;
    }
    return s->dim[s->rank - 1];
}

/* ---- Dense ---- */

static ag_status dense_build(ag_layer *l, ag_node *const *in, int n)
{
    (void)n;
    int64_t K = last_dim(l, in[0], 2);
    if (K < 0) return AG_ERR_SHAPE;
    int64_t ks[2] = {K, l->units};
    ag_node *w = ag__layer_weight(l, "kernel", 2, ks);
    if (!w) return ag_model_status(l->m);
    ag__init_glorot(l, w, K, l->units);
    if (l->use_bias && !ag__layer_weight(l, "bias", 1, &l->units)) return ag_model_status(l->m);
    return AG_OK;
}

static ag_node *dense_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    ag_graph *g = l->m->g;
    const ag_shape *s = ag_node_shape(in[0]);
    char buf[96];
    if (s->rank < 2 || s->rank > 3 || s->dim[s->rank - 1] != ag_node_shape(l->w[0])->dim[0]) {
        ag__model_fail(l->m, AG_ERR_SHAPE,
                       "Dense '%s': expected an input (B,%" PRId64 ") or (B,T,%" PRId64
                       "), received %s",
                       l->name, ag_node_shape(l->w[0])->dim[0], ag_node_shape(l->w[0])->dim[0],
                       ag__sstr(s, buf, sizeof buf));
        return NULL;
    }
    ag_node *z = ag_matmul(g, in[0], l->w[0], 0, 0);
    if (l->use_bias) z = ag_add(g, z, l->w[1]);
    return pass_mask(ag__activate(g, z, l->activation), rec);
}

static void dense_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_printf(b, ",\"units\":%" PRId64 ",\"activation\":\"%s\",\"use_bias\":%s", l->units,
                 ag_activation_name(l->activation), l->use_bias ? "true" : "false");
}

static ag_layer *dense_from_config(ag_model *m, const ag_json *cfg)
{
    int64_t units;
    int use_bias, act;
    if (!ag__cfg_int(m, cfg, "Dense", "units", -1, &units) ||
        !ag__cfg_bool(m, cfg, "Dense", "use_bias", 1, &use_bias) ||
        (act = ag__cfg_activation(m, cfg, "Dense", AG_ACT_LINEAR)) < 0)
        return NULL;
    return ag_layer_dense(m, units, (ag_activation)act, use_bias);
}

const ag_layer_class ag__dense_class = {.class_name = "Dense",
                                        .base_name = "dense",
                                        .min_in = 1,
                                        .max_in = 1,
                                        .build = dense_build,
                                        .call = dense_call,
                                        .get_config = dense_config,
                                        .from_config = dense_from_config};

ag_layer *ag_layer_dense(ag_model *m, int64_t units, ag_activation activation, int use_bias)
{
    if (!m) return NULL;
    if (units <= 0)
        return ag__model_fail(m, AG_ERR_ARG,
                              "Dense: units must be a positive integer, received %" PRId64, units),
               NULL;
    if (!valid_activation(activation))
        return ag__model_fail(m, AG_ERR_ARG, "Dense: unknown activation %d", (int)activation), NULL;
    ag_layer *l = ag__layer_new(m, &ag__dense_class);
    if (!l) return NULL;
    l->units = units;
    l->activation = activation;
    l->use_bias = use_bias != 0;
    return l;
}

/* ---- Activation ---- */

static ag_node *activation_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    ag_graph *g = l->m->g;
    /* linear still makes a node of its own, so that the layer has an output */
    ag_node *z = l->activation == AG_ACT_LINEAR ? ag_mul_scalar(g, in[0], 1.0)
                                                : ag__activate(g, in[0], l->activation);
    return pass_mask(z, rec);
}

static void activation_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_printf(b, ",\"activation\":\"%s\"", ag_activation_name(l->activation));
}

static ag_layer *activation_from_config(ag_model *m, const ag_json *cfg)
{
    int act = ag__cfg_activation(m, cfg, "Activation", AG_ACT_LINEAR);
    return act < 0 ? NULL : ag_layer_activation(m, (ag_activation)act);
}

const ag_layer_class ag__activation_class = {.class_name = "Activation",
                                             .base_name = "activation",
                                             .min_in = 1,
                                             .max_in = 1,
                                             .call = activation_call,
                                             .get_config = activation_config,
                                             .from_config = activation_from_config};

ag_layer *ag_layer_activation(ag_model *m, ag_activation activation)
{
    if (!m) return NULL;
    if (!valid_activation(activation))
        return ag__model_fail(m, AG_ERR_ARG, "Activation: unknown activation %d", (int)activation),
               NULL;
    ag_layer *l = ag__layer_new(m, &ag__activation_class);
    if (l) l->activation = activation;
    return l;
}

/* ---- Dropout ---- */

static ag_node *dropout_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    return pass_mask(ag_dropout(l->m->g, in[0], l->rate, ag__layer_dropout_seed(l)), rec);
}

static void dropout_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_puts(b, ",\"rate\":");
    ag_sb_json_num(b, l->rate);
    if (l->user_seed)
        ag_sb_printf(b, ",\"seed\":%" PRIu64, l->user_seed);
    else
        ag_sb_puts(b, ",\"seed\":null");
}

static ag_layer *dropout_from_config(ag_model *m, const ag_json *cfg)
{
    double rate;
    uint64_t seed;
    if (!ag__cfg_num(m, cfg, "Dropout", "rate", -1, &rate) ||
        !ag__cfg_seed(m, cfg, "Dropout", "seed", &seed))
        return NULL;
    return ag_layer_dropout(m, rate, (uint64_t)seed);
}

const ag_layer_class ag__dropout_class = {.class_name = "Dropout",
                                          .base_name = "dropout",
                                          .min_in = 1,
                                          .max_in = 1,
                                          .call = dropout_call,
                                          .get_config = dropout_config,
                                          .from_config = dropout_from_config};

ag_layer *ag_layer_dropout(ag_model *m, double rate, uint64_t seed)
{
    if (!m) return NULL;
    if (!(rate >= 0 && rate < 1))
        return ag__model_fail(m, AG_ERR_ARG, "Dropout: rate must be a float in [0, 1), received %g",
                              rate),
               NULL;
    ag_layer *l = ag__layer_new(m, &ag__dropout_class);
    if (!l) return NULL;
    l->rate = rate;
    l->user_seed = seed;
    return l;
}

/* ---- Concatenate ---- */

/* A bool mask that is true at every step of x (B,T,...): its first channel,
 * any value times 0 plus 1 (1, or NaN for an infinite x), is never 0. */
static ag_node *all_steps(ag_graph *g, ag_node *x, int mask_rank)
{
    int rank = ag_node_shape(x)->rank;
    ag_node *s = x;
    for (int d = rank - 1; s && d >= mask_rank; d--)
        s = ag_slice(g, s, d, 0, 1);
    int64_t keep[AG_MAX_RANK] = {0};
    s = ag_reshape(g, s, mask_rank, keep);
    return ag_not_equal(g, ag_add_scalar(g, ag_mul_scalar(g, s, 0.0), 1.0), 0.0);
}

/* The output mask (see the top of the file); NULL for none. */
static ag_node *concat_mask(ag_graph *g, ag_node *const *in, ag_node *const *masks, int n, int axis,
                            int rank)
{
    int any = 0;
    for (int i = 0; i < n; i++) {
        ag_node *m = masks[i];
        if (!m) continue;
        if (ag_node_shape(m)->rank != rank - 1) return NULL;
        any = 1;
    }
    if (!any) return NULL;
    if (axis == rank - 1) {
        ag_node *out = NULL;
        for (int i = 0; i < n; i++) {
            ag_node *m = masks[i];
            if (!m) return NULL;
            out = ag__mask_or(g, out, m);
        }
        return out;
    }
    ag_node *ms[AG_MAX_INPUTS];
    for (int i = 0; i < n; i++) {
        ms[i] = masks[i];
        if (!ms[i]) ms[i] = all_steps(g, in[i], rank - 1);
    }
    return ag_concat(g, ms, n, axis);
}

static ag_node *concat_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    int rank = ag_node_shape(in[0])->rank;
    int axis = l->axis < 0 ? l->axis + rank : l->axis;
    if (axis < 0 || axis >= rank) {
        ag__model_fail(l->m, AG_ERR_ARG,
                       "Concatenate '%s': axis %d is out of range for inputs of rank %d", l->name,
                       l->axis, rank);
        return NULL;
    }
    ag_node *z = ag_concat(l->m->g, in, n, axis);
    if (z) rec->out_mask = concat_mask(l->m->g, in, rec->in_mask, n, axis, rank);
    return z;
}

static void concat_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_printf(b, ",\"axis\":%d", l->axis);
}

static ag_layer *concat_from_config(ag_model *m, const ag_json *cfg)
{
    int64_t axis;
    if (!ag__cfg_int(m, cfg, "Concatenate", "axis", -1, &axis)) return NULL;
    return ag_layer_concatenate(m, (int)axis);
}

const ag_layer_class ag__concatenate_class = {.class_name = "Concatenate",
                                              .base_name = "concatenate",
                                              .min_in = 1,
                                              .max_in = AG_MAX_INPUTS,
                                              .call = concat_call,
                                              .get_config = concat_config,
                                              .from_config = concat_from_config};

ag_layer *ag_layer_concatenate(ag_model *m, int axis)
{
    if (!m) return NULL;
    if (axis < -AG_MAX_RANK || axis >= AG_MAX_RANK)
        return ag__model_fail(m, AG_ERR_ARG, "Concatenate: axis must be in [%d, %d), received %d",
                              -AG_MAX_RANK, AG_MAX_RANK, axis),
               NULL;
    ag_layer *l = ag__layer_new(m, &ag__concatenate_class);
    if (l) l->axis = axis;
    return l;
}

/* ---- LayerNormalization ---- */

static ag_status layer_norm_build(ag_layer *l, ag_node *const *in, int n)
{
    (void)n;
    int64_t D = last_dim(l, in[0], 1);
    if (D < 0) return AG_ERR_SHAPE;
    ag_node *gamma = ag__layer_weight(l, "gamma", 1, &D);
    ag_node *beta = gamma ? ag__layer_weight(l, "beta", 1, &D) : NULL;
    if (!beta) return ag_model_status(l->m);
    ag__init_const(gamma, 1.0);
    return AG_OK;
}

static ag_node *layer_norm_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    ag_graph *g = l->m->g;
    const int last[1] = {-1};
    ag_node *x = in[0];
    ag_node *mean = ag_mean(g, x, last, 1, 1);
    ag_node *xc = ag_sub(g, x, mean);
    ag_node *var = ag_mean(g, ag_mul(g, xc, xc), last, 1, 1);
    ag_node *inv = ag_pow_scalar(g, ag_add_scalar(g, var, l->epsilon), -0.5);
    ag_node *z = ag_add(g, ag_mul(g, ag_mul(g, xc, inv), l->w[0]), l->w[1]);
    return pass_mask(z, rec);
}

static void layer_norm_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_puts(b, ",\"axis\":-1,\"epsilon\":");
    ag_sb_json_num(b, l->epsilon);
}

static ag_layer *layer_norm_from_config(ag_model *m, const ag_json *cfg)
{
    double eps;
    int64_t axis;
    if (!ag__cfg_num(m, cfg, "LayerNormalization", "epsilon", 1e-3, &eps) ||
        !ag__cfg_int(m, cfg, "LayerNormalization", "axis", -1, &axis))
        return NULL;
    if (axis != -1)
        return ag__model_fail(m, AG_ERR_ARG,
                              "from_config: LayerNormalization supports axis -1 only, received "
                              "%" PRId64,
                              axis),
               NULL;
    return ag_layer_layer_normalization(m, eps);
}

const ag_layer_class ag__layer_norm_class = {.class_name = "LayerNormalization",
                                             .base_name = "layer_normalization",
                                             .min_in = 1,
                                             .max_in = 1,
                                             .build = layer_norm_build,
                                             .call = layer_norm_call,
                                             .get_config = layer_norm_config,
                                             .from_config = layer_norm_from_config};

ag_layer *ag_layer_layer_normalization(ag_model *m, double epsilon)
{
    if (!m) return NULL;
    if (!(epsilon > 0))
        return ag__model_fail(m, AG_ERR_ARG,
                              "LayerNormalization: epsilon must be positive, received %g", epsilon),
               NULL;
    ag_layer *l = ag__layer_new(m, &ag__layer_norm_class);
    if (l) l->epsilon = epsilon;
    return l;
}
