/* position.c — PositionEmbedding(sequence_length), keras_hub's learned
 * position embeddings (Keras core has none).
 *
 *   x (B,T,D) -> z (B,T,D);  z[b,t,:] = embeddings[t,:]  for T <= sequence_length
 *   embeddings (sequence_length, D), glorot-uniform as keras_hub initialises it
 * The output is the position embeddings alone, to be added to the tokens'
 * (x + PositionEmbedding(x), with Add); it carries x's mask.
 */
#include "layer.h"

#include <inttypes.h>

static ag_status position_build(ag_layer *l, ag_node *const *in, int n)
{
    (void)n;
    const ag_shape *s = ag_node_shape(in[0]);
    char a[96];
    if (s->rank != 3 || s->dim[2] < 0)
        return ag__model_fail(l->m, AG_ERR_SHAPE,
                              "PositionEmbedding '%s': expected (batch_size, T, dim) with dim "
                              "known, received %s",
                              l->name, ag__sstr(s, a, sizeof a));
    int64_t shape[2] = {l->input_dim, s->dim[2]};
    ag_node *w = ag__layer_weight(l, "embeddings", 2, shape);
    if (!w) return ag_model_status(l->m);
    ag__init_glorot(l, w, shape[0], shape[1]);
    return AG_OK;
}

static ag_node *position_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    const ag_shape *s = ag_node_shape(in[0]);
    char a[96];
    if (s->rank != 3 || !ag__dim_compat(s->dim[2], ag_node_shape(l->w[0])->dim[1])) {
        ag__model_fail(l->m, AG_ERR_SHAPE,
                       "PositionEmbedding '%s': expected (batch_size, T, %" PRId64
                       ") (the layer was built on that width), received %s",
                       l->name, ag_node_shape(l->w[0])->dim[1], ag__sstr(s, a, sizeof a));
        return NULL;
    }
    ag_node *z = ag_position_embedding(l->m->g, l->w[0], in[0]);
    rec->out_mask = rec->in_mask[0];
    return z;
}

static void position_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_printf(b, ",\"sequence_length\":%" PRId64 ",\"initializer\":\"glorot_uniform\"",
                 l->input_dim);
}

static ag_layer *position_from_config(ag_model *m, const ag_json *cfg)
{
    int64_t len;
    if (!ag__cfg_int(m, cfg, "PositionEmbedding", "sequence_length", -1, &len)) return NULL;
    const ag_json *init = ag_json_get(cfg, "initializer");
    if (init && init->type == AG_JSON_OBJECT) init = ag_json_get(init, "class_name");
    const char *name = init ? ag_json_str(init) : NULL;
    if (init && init->type != AG_JSON_NULL &&
        (!name || (strcmp(name, "glorot_uniform") && strcmp(name, "GlorotUniform"))))
        return ag__model_fail(m, AG_ERR_ARG,
                              "from_config: PositionEmbedding's initializer must be "
                              "\"glorot_uniform\""),
               NULL;
    return ag_layer_position_embedding(m, len);
}

const ag_layer_class ag__position_embedding_class = {.class_name = "PositionEmbedding",
                                                     .base_name = "position_embedding",
                                                     .min_in = 1,
                                                     .max_in = 1,
                                                     .build = position_build,
                                                     .call = position_call,
                                                     .get_config = position_config,
                                                     .from_config = position_from_config};

ag_layer *ag_layer_position_embedding(ag_model *m, int64_t sequence_length)
{
    if (!m) return NULL;
    if (sequence_length <= 0)
        return ag__model_fail(m, AG_ERR_ARG,
                              "PositionEmbedding: sequence_length must be a positive integer, "
                              "received %" PRId64,
                              sequence_length),
               NULL;
    ag_layer *l = ag__layer_new(m, &ag__position_embedding_class);
    if (!l) return NULL;
    l->input_dim = sequence_length;
    return l;
}
