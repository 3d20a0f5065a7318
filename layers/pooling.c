/* pooling.c — GlobalAveragePooling1D and GlobalMaxPooling1D, mask-aware.
 *
 *   x (B,T,C), mask m (B,T) or none -> z (B,C)
 *   average: z = Σ_t x[:,t,:] / T;   with a mask, z = Σ_t x·m / Σ_t m
 *   max:     z = max_t x[:,t,:];     with a mask, over the steps where m is true
 * The output has no mask.
 */
#include "layer.h"

static ag_status check_btc(ag_layer *l, ag_node *x)
{
    const ag_shape *s = ag_node_shape(x);
    char buf[96];
    if (s->rank != 3 || !ag_dtype_is_float(s->dtype))
        return ag__model_fail(
            l->m, AG_ERR_SHAPE, "%s '%s': expected a float input (B,T,C), received %s %s",
            l->cls->class_name, l->name, ag_dtype_name(s->dtype), ag__sstr(s, buf, sizeof buf));
    return AG_OK;
}

static ag_node *gap1d_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    if (check_btc(l, in[0])) return NULL;
    ag_graph *g = l->m->g;
    ag_node *x = in[0], *mask = rec->in_mask[0];
    const int time[1] = {1};
    if (!mask) return ag_mean(g, x, time, 1, 0);
    return ag_masked_mean(g, x, ag_cast_float(g, mask)); /* Σ_t x·m / Σ_t m */
}

static ag_node *gmp1d_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    if (check_btc(l, in[0])) return NULL;
    return ag_max(l->m->g, in[0], 1, 0, rec->in_mask[0]);
}

static void pool_config(const ag_layer *l, ag_sbuf *b)
{
    (void)l;
    ag_sb_puts(b, ",\"data_format\":\"channels_last\",\"keepdims\":false");
}

static ag_layer *pool_from_config(ag_model *m, const ag_json *cfg, int max)
{
    const char *cls = max ? "GlobalMaxPooling1D" : "GlobalAveragePooling1D";
    int keepdims;
    if (!ag__cfg_bool(m, cfg, cls, "keepdims", 0, &keepdims)) return NULL;
    const char *df = ag_json_str(ag_json_get(cfg, "data_format"));
    if (keepdims || (df && strcmp(df, "channels_last")))
        return ag__model_fail(m, AG_ERR_ARG,
                              "from_config: %s supports data_format \"channels_last\" and keepdims "
                              "false only",
                              cls),
               NULL;
    return max ? ag_layer_global_max_pooling1d(m) : ag_layer_global_average_pooling1d(m);
}
static ag_layer *gap1d_from_config(ag_model *m, const ag_json *cfg)
{
    return pool_from_config(m, cfg, 0);
}
static ag_layer *gmp1d_from_config(ag_model *m, const ag_json *cfg)
{
    return pool_from_config(m, cfg, 1);
}

const ag_layer_class ag__gap1d_class = {.class_name = "GlobalAveragePooling1D",
                                        .base_name = "global_average_pooling1d",
                                        .min_in = 1,
                                        .max_in = 1,
                                        .call = gap1d_call,
                                        .get_config = pool_config,
                                        .from_config = gap1d_from_config};

const ag_layer_class ag__gmp1d_class = {.class_name = "GlobalMaxPooling1D",
                                        .base_name = "global_max_pooling1d",
                                        .min_in = 1,
                                        .max_in = 1,
                                        .call = gmp1d_call,
                                        .get_config = pool_config,
                                        .from_config = gmp1d_from_config};

ag_layer *ag_layer_global_average_pooling1d(ag_model *m)
{
    return ag__layer_new(m, &ag__gap1d_class);
}

ag_layer *ag_layer_global_max_pooling1d(ag_model *m) { return ag__layer_new(m, &ag__gmp1d_class); }
