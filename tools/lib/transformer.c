/* transformer.c — a Keras-style Transformer encoder for text pairs, built
 * from the public layer API alone (attograd_app.h documents the network). */
#include "attograd_app.h"

#include <inttypes.h>
#include <stdio.h>

ag_transformer_config ag_transformer_defaults(void)
{
    return (ag_transformer_config){.max_tokens = 10000,
                                   .max_len = 256,
                                   .dim = 64,
                                   .num_heads = 4,
                                   .ff_dim = 128,
                                   .layers = 1,
                                   .units = 64,
                                   .dropout = 0.1,
                                   .dtype = AG_FLOAT32,
                                   .seed = 1337};
}

/* One encoder block's layers, shared by both texts. */
typedef struct block {
    ag_layer *mha, *drop_a, *add_a, *norm_a, *ff1, *ff2, *drop_f, *add_f, *norm_f;
} block;

static void block_new(ag_model *m, const ag_transformer_config *c, block *b)
{
    ag_mha_config h = ag_mha_defaults(c->num_heads, c->dim / c->num_heads);
    h.dropout = c->dropout;
    b->mha = ag_layer_multi_head_attention(m, &h);
    b->drop_a = c->dropout > 0 ? ag_layer_dropout(m, c->dropout, 0) : NULL;
    b->add_a = ag_layer_add(m);
    b->norm_a = ag_layer_layer_normalization(m, 1e-6);
    b->ff1 = ag_layer_dense(m, c->ff_dim, AG_ACT_RELU, 1);
    b->ff2 = ag_layer_dense(m, c->dim, AG_ACT_LINEAR, 1);
    b->drop_f = c->dropout > 0 ? ag_layer_dropout(m, c->dropout, 0) : NULL;
    b->add_f = ag_layer_add(m);
    b->norm_f = ag_layer_layer_normalization(m, 1e-6);
}

static ag_node *maybe(ag_layer *drop, ag_node *x) { return drop ? ag_call(drop, x) : x; }

/* x = LayerNorm(x + Dropout(MHA(x, x)));  x = LayerNorm(x + Dropout(FF(x))) */
static ag_node *block_call(const block *b, ag_node *x)
{
    ag_node *a = maybe(b->drop_a, ag_call_n(b->mha, (ag_node *[]){x, x}, 2));
    x = ag_call(b->norm_a, ag_call_n(b->add_a, (ag_node *[]){x, a}, 2));
    ag_node *f = maybe(b->drop_f, ag_call(b->ff2, ag_call(b->ff1, x)));
    return ag_call(b->norm_f, ag_call_n(b->add_f, (ag_node *[]){x, f}, 2));
}

ag_model *ag_transformer_model(const ag_transformer_config *c, ag_error *err)
{
    if (!c) return ag_error_set(err, AG_ERR_ARG, "ag_transformer_model: config is NULL"), NULL;
    if (c->max_tokens < 3 || c->max_len < 1 || c->dim < 1 || c->num_heads < 1 ||
        c->dim % c->num_heads || c->ff_dim < 1 || c->layers < 1 || c->layers > 16 || c->units < 1 ||
        !(c->dropout >= 0 && c->dropout < 1))
        return ag_error_set(err, AG_ERR_ARG,
                            "ag_transformer_model: expected max_tokens >= 3, max_len >= 1, dim a "
                            "multiple of num_heads >= 1, ff_dim >= 1, 1 <= layers <= 16, units "
                            ">= 1 and dropout in [0, 1), received max_tokens %" PRId64
                            ", max_len %" PRId64 ", dim %" PRId64 ", num_heads %" PRId64
                            ", ff_dim %" PRId64 ", layers %d, units %" PRId64 ", dropout %g",
                            c->max_tokens, c->max_len, c->dim, c->num_heads, c->ff_dim, c->layers,
                            c->units, c->dropout),
               NULL;
    ag_model *m = ag_model_new(c->dtype, c->seed);
    if (!m) return ag_error_set(err, AG_ERR_NOMEM, "ag_transformer_model: out of memory"), NULL;
    ag_node *in[2] = {ag_model_input(m, "text_a", AG_INT32, 1, (int64_t[]){-1}),
                      ag_model_input(m, "text_b", AG_INT32, 1, (int64_t[]){-1})};
    ag_layer *emb = ag_layer_embedding(m, c->max_tokens, c->dim, 1);
    ag_layer *pos = ag_layer_position_embedding(m, c->max_len);
    ag_layer *add = ag_layer_add(m);
    ag_layer *drop = c->dropout > 0 ? ag_layer_dropout(m, c->dropout, 0) : NULL;
    block blocks[16];
    for (int i = 0; i < c->layers; i++)
        block_new(m, c, &blocks[i]);
    ag_layer_set_name(blocks[0].mha, "attention"); /* what a heatmap plots */
    ag_layer *pool = ag_layer_global_average_pooling1d(m);
    ag_node *h[2];
    for (int t = 0; t < 2; t++) {
        ag_node *tok = ag_call(emb, in[t]);
        ag_node *x = maybe(drop, ag_call_n(add, (ag_node *[]){tok, ag_call(pos, tok)}, 2));
        for (int i = 0; i < c->layers; i++)
            x = block_call(&blocks[i], x);
        h[t] = ag_call(pool, x); /* (B,dim), over the real tokens */
    }
    ag_node *diff = ag_call_n(ag_layer_subtract(m), h, 2);
    ag_node *prod = ag_call_n(ag_layer_multiply(m), h, 2);
    ag_node *joined =
        ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){h[0], h[1], diff, prod}, 4);
    ag_node *hid = ag_call(ag_layer_dense(m, c->units, AG_ACT_RELU, 1), maybe(drop, joined));
    ag_node *p = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), hid);
    if (!p || ag_model_build(m, in, 2, &p, 1)) {
        ag_error_set(err, ag_model_status(m) ? ag_model_status(m) : AG_ERR_STATE,
                     "ag_transformer_model: %s", ag_model_error(m));
        ag_model_free(m);
        return NULL;
    }
    return m;
}
