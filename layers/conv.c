/* conv.c — Conv1D(filters, kernel_size, strides=1, padding="valid",
 * activation=None, use_bias=True).
 *
 *   x (B,T,C) -> z (B,T',F) = act(conv1d(x, kernel) + bias)
 *   kernel (K,C,F) glorot-uniform with fan_in = K·C, fan_out = K·F; bias (F) zeros
 *   T' = T for same/causal (stride 1); see ag_conv1d_strided otherwise.
 *
 * Masks: with padding same or causal and stride 1, the input is multiplied
 * by its mask first (x · m[..., None]), so padded steps read as zeros exactly
 * like the steps past the end of a shorter sequence; the output keeps the
 * mask. Other paddings and strides change T, and the mask is dropped.
 */
#include "layer.h"

#include <inttypes.h>

static ag_status conv1d_build(ag_layer *l, ag_node *const *in, int n)
{
    (void)n;
    const ag_shape *s = ag_node_shape(in[0]);
    char buf[96];
    if (s->rank != 3 || s->dim[2] < 0 || !ag_dtype_is_float(s->dtype))
        return ag__model_fail(l->m, AG_ERR_SHAPE,
                              "Conv1D '%s': expected a float input (B,T,C) with C known, "
                              "received %s %s",
                              l->name, ag_dtype_name(s->dtype), ag__sstr(s, buf, sizeof buf));
    int64_t C = s->dim[2], shape[3] = {l->kernel_size, C, l->filters};
    ag_node *w = ag__layer_weight(l, "kernel", 3, shape);
    if (!w) return ag_model_status(l->m);
    ag__init_glorot(l, w, l->kernel_size * C, l->kernel_size * l->filters);
    if (l->use_bias && !ag__layer_weight(l, "bias", 1, &l->filters)) return ag_model_status(l->m);
    return AG_OK;
}

static ag_node *conv1d_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    ag_graph *g = l->m->g;
    ag_node *x = in[0], *mask = rec->in_mask[0];
    const ag_shape *s = ag_node_shape(x);
    char buf[96];
    if (s->rank != 3 || s->dim[2] != ag_node_shape(l->w[0])->dim[1]) {
        ag__model_fail(l->m, AG_ERR_SHAPE,
                       "Conv1D '%s': expected an input (B,T,%" PRId64 "), received %s", l->name,
                       ag_node_shape(l->w[0])->dim[1], ag__sstr(s, buf, sizeof buf));
        return NULL;
    }
    int keep_mask = mask && l->strides == 1 && l->padding != AG_PAD_VALID;
    ag_node *bias = l->use_bias ? l->w[1] : NULL, *m = keep_mask ? ag_cast_float(g, mask) : NULL;
    if (keep_mask && !m) return NULL;
    ag_node *z = ag_conv1d_masked(g, x, m, l->w[0], bias, l->padding, (int)l->strides);
    z = ag__activate(g, z, l->activation);
    if (z && keep_mask) rec->out_mask = mask;
    return z;
}

static void conv1d_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_printf(b,
                 ",\"filters\":%" PRId64 ",\"kernel_size\":[%" PRId64 "],\"strides\":[%" PRId64
                 "],\"padding\":\"%s\",\"activation\":\"%s\",\"use_bias\":%s",
                 l->filters, l->kernel_size, l->strides, ag_padding_name(l->padding),
                 ag_activation_name(l->activation), l->use_bias ? "true" : "false");
}

/* An integer or a list of one integer (Keras writes kernel_size as [4]). */
static int int_or_1tuple(ag_model *m, const ag_json *cfg, const char *key, int64_t def,
                         int64_t *out)
{
    const ag_json *v = ag_json_get(cfg, key);
    if (v && v->type == AG_JSON_ARRAY && v->n == 1 && ag_json_int(v->item[0], out)) return 1;
    return ag__cfg_int(m, cfg, "Conv1D", key, def, out);
}

static ag_layer *conv1d_from_config(ag_model *m, const ag_json *cfg)
{
    int64_t filters, k, s;
    int use_bias, act, pad = AG_PAD_VALID;
    if (!ag__cfg_int(m, cfg, "Conv1D", "filters", -1, &filters) ||
        !int_or_1tuple(m, cfg, "kernel_size", -1, &k) || !int_or_1tuple(m, cfg, "strides", 1, &s) ||
        !ag__cfg_bool(m, cfg, "Conv1D", "use_bias", 1, &use_bias) ||
        (act = ag__cfg_activation(m, cfg, "Conv1D", AG_ACT_LINEAR)) < 0)
        return NULL;
    const ag_json *p = ag_json_get(cfg, "padding");
    if (p && (pad = ag_padding_from_name(ag_json_str(p))) < 0)
        return ag__model_fail(m, AG_ERR_ARG,
                              "from_config: Conv1D's padding must be one of \"valid\", \"same\", "
                              "\"causal\""),
               NULL;
    return ag_layer_conv1d(m, filters, k, s, (ag_padding)pad, (ag_activation)act, use_bias);
}

const ag_layer_class ag__conv1d_class = {.class_name = "Conv1D",
                                         .base_name = "conv1d",
                                         .min_in = 1,
                                         .max_in = 1,
                                         .build = conv1d_build,
                                         .call = conv1d_call,
                                         .get_config = conv1d_config,
                                         .from_config = conv1d_from_config};

ag_layer *ag_layer_conv1d(ag_model *m, int64_t filters, int64_t kernel_size, int64_t strides,
                          ag_padding padding, ag_activation activation, int use_bias)
{
    if (!m) return NULL;
    if (filters <= 0 || kernel_size <= 0 || strides <= 0 || strides > (1 << 30))
        return ag__model_fail(m, AG_ERR_ARG,
                              "Conv1D: filters, kernel_size and strides must be positive integers, "
                              "received filters=%" PRId64 ", kernel_size=%" PRId64
                              ", strides=%" PRId64,
                              filters, kernel_size, strides),
               NULL;
    if ((unsigned)padding > AG_PAD_CAUSAL)
        return ag__model_fail(m, AG_ERR_ARG,
                              "Conv1D: padding must be AG_PAD_VALID, AG_PAD_SAME or AG_PAD_CAUSAL, "
                              "received %d",
                              (int)padding),
               NULL;
    if ((unsigned)activation > AG_ACT_SOFTMAX)
        return ag__model_fail(m, AG_ERR_ARG, "Conv1D: unknown activation %d", (int)activation),
               NULL;
    ag_layer *l = ag__layer_new(m, &ag__conv1d_class);
    if (!l) return NULL;
    l->filters = filters;
    l->kernel_size = kernel_size;
    l->strides = strides;
    l->padding = padding;
    l->activation = activation;
    l->use_bias = use_bias != 0;
    return l;
}
