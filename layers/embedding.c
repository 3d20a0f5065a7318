/* embedding.c — Embedding(input_dim, output_dim, mask_zero=False).
 *
 *   ids (B,...) int -> z (B,...,output_dim);  z[i,:] = embeddings[ids[i],:]
 *   embeddings (input_dim, output_dim), initialised U(±0.05) as Keras does
 *   mask_zero: the output carries the mask ids != 0, a bool (B,...)
 */
#include "layer.h"

#include <inttypes.h>

static ag_status embedding_build(ag_layer *l, ag_node *const *in, int n)
{
    (void)in, (void)n;
    int64_t shape[2] = {l->input_dim, l->output_dim};
    ag_node *w = ag__layer_weight(l, "embeddings", 2, shape);
    if (!w) return ag_model_status(l->m);
    ag__init_uniform(l, w, -0.05, 0.05);
    return AG_OK;
}

static ag_node *embedding_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)n;
    ag_dtype dt = ag_node_shape(in[0])->dtype;
    if (dt != AG_INT32 && dt != AG_INT64) {
        ag__model_fail(l->m, AG_ERR_DTYPE,
                       "Embedding '%s': expected int32 token ids, received a %s input", l->name,
                       ag_dtype_name(dt));
        return NULL;
    }
    ag_graph *g = l->m->g;
    ag_node *z = ag_embedding(g, in[0], l->w[0]);
    if (z && l->mask_zero) {
        ag_node *mask = ag_not_equal(g, in[0], 0);
        if (!mask) return NULL;
        rec->out_mask = mask;
    }
    return z;
}

static void embedding_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_printf(b, ",\"input_dim\":%" PRId64 ",\"output_dim\":%" PRId64 ",\"mask_zero\":%s",
                 l->input_dim, l->output_dim, l->mask_zero ? "true" : "false");
}

static ag_layer *embedding_from_config(ag_model *m, const ag_json *cfg)
{
    int64_t in_dim, out_dim;
    int mask_zero;
    if (!ag__cfg_int(m, cfg, "Embedding", "input_dim", -1, &in_dim) ||
        !ag__cfg_int(m, cfg, "Embedding", "output_dim", -1, &out_dim) ||
        !ag__cfg_bool(m, cfg, "Embedding", "mask_zero", 0, &mask_zero))
        return NULL;
    return ag_layer_embedding(m, in_dim, out_dim, mask_zero);
}

const ag_layer_class ag__embedding_class = {.class_name = "Embedding",
                                            .base_name = "embedding",
                                            .min_in = 1,
                                            .max_in = 1,
                                            .build = embedding_build,
                                            .call = embedding_call,
                                            .get_config = embedding_config,
                                            .from_config = embedding_from_config};

ag_layer *ag_layer_embedding(ag_model *m, int64_t input_dim, int64_t output_dim, int mask_zero)
{
    if (!m) return NULL;
    if (input_dim <= 0 || output_dim <= 0)
        return ag__model_fail(m, AG_ERR_ARG,
                              "Embedding: input_dim and output_dim must be positive integers, "
                              "received input_dim=%" PRId64 ", output_dim=%" PRId64,
                              input_dim, output_dim),
               NULL;
    ag_layer *l = ag__layer_new(m, &ag__embedding_class);
    if (!l) return NULL;
    l->input_dim = input_dim;
    l->output_dim = output_dim;
    l->mask_zero = mask_zero != 0;
    return l;
}
