/* model_util.h — the CNN+Attention network of the Keras docs at any size,
 * for the layer, model and safetensors suites. */
#ifndef AG_MODEL_UTIL_H
#define AG_MODEL_UTIL_H

#include "attograd.h"

typedef struct cnn_size {
    int64_t vocab, dim, filters, hidden;
    int additive, concat, use_scale;
} cnn_size;

/* query, value -> Embedding(mask_zero) -> shared Conv1D(same) -> attention
 * -> two GlobalAveragePooling1D -> Concatenate -> Dense(relu) -> Dense(1, sigmoid). */
static inline ag_model *cnn_attention_model(const cnn_size *s, ag_dtype dtype, uint64_t seed)
{
    ag_model *m = ag_model_new(dtype, seed);
    ag_node *q = ag_model_input(m, "query", AG_INT32, 1, (int64_t[]){-1});
    ag_node *v = ag_model_input(m, "value", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, s->vocab, s->dim, 1);
    ag_layer *cnn = ag_layer_conv1d(m, s->filters, 4, 1, AG_PAD_SAME, AG_ACT_LINEAR, 1);
    ag_node *qe = ag_call(cnn, ag_call(emb, q));
    ag_node *ve = ag_call(cnn, ag_call(emb, v));
    ag_layer *att = s->additive
                        ? ag_layer_additive_attention(m, s->use_scale, 0.0, 0)
                        : ag_layer_attention(m, s->use_scale, s->concat ? "concat" : "dot", 0.0, 0);
    ag_node *a = ag_call_n(att, (ag_node *[]){qe, ve}, 2);
    ag_node *qp = ag_call(ag_layer_global_average_pooling1d(m), qe);
    ag_node *ap = ag_call(ag_layer_global_average_pooling1d(m), a);
    ag_node *c = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){qp, ap}, 2);
    ag_node *h = ag_call(ag_layer_dense(m, s->hidden, AG_ACT_RELU, 1), c);
    ag_node *o = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), h);
    ag_model_build(m, (ag_node *[]){q, v}, 2, &o, 1);
    return m;
}

/* int32 ids (rows, T) from a flat list. */
static inline ag_tensor *ids_tensor(int64_t rows, int64_t T, const int32_t *ids)
{
    return ag_tensor_from(AG_INT32, 2, (int64_t[]){rows, T}, ids, NULL);
}

#endif
