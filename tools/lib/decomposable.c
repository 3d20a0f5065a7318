/* decomposable.c — the Decomposable Attention text-pair model (Parikh et
 * al. 2016) with ESIM's [a; β; a − β; a ⊙ β] comparison, built from Keras
 * layers through the public model API only. The three steps, for a (B,Ta)
 * and b (B,Tb) token ids:
 *
 *   attend:    e_ij = F(a_i) · F(b_j)                       (B,Ta,Tb)
 *              β_i = Σ_j softmax_j(e_ij) b_j,  α_j = Σ_i softmax_i(e_ij) a_i
 *   compare:   v_a,i = G([a_i; β_i; a_i − β_i; a_i ⊙ β_i])  (B,Ta,units)
 *   aggregate: y = H([mean_i v_a,i; mean_j v_b,j])          (B,1)
 *
 * Masks carry the padding through every step: the attention skips padded
 * value steps (and zeroes padded query rows), the merge layers and
 * Concatenate keep a's mask, and the pooling averages the real steps only,
 * so a pair's prediction does not depend on its batch's padding.
 */
#include "app.h"

ag_decomposable_config ag_decomposable_defaults(void)
{
    return (ag_decomposable_config){.max_tokens = 10000,
                                    .dim = 64,
                                    .units = 64,
                                    .attend_layers = 1,
                                    .compare_layers = 1,
                                    .dropout = 0.1,
                                    .dtype = AG_FLOAT32,
                                    .seed = 1337};
}

/* Dropout (when rate > 0) then Dense(units, relu): one layer of a
 * feed-forward net, its two layers written to l[0], l[1]. */
static void ffn_layer(ag_model *m, const ag_decomposable_config *c, ag_layer **l)
{
    l[0] = c->dropout > 0 ? ag_layer_dropout(m, c->dropout, 0) : NULL;
    l[1] = ag_layer_dense(m, c->units, AG_ACT_RELU, 1);
}

static ag_node *ffn_call(ag_layer *const *l, int n_layers, ag_node *x)
{
    for (int k = 0; k < n_layers; k++) {
        if (l[2 * k]) x = ag_call(l[2 * k], x);
        x = ag_call(l[2 * k + 1], x);
    }
    return x;
}

/* compare: G([x; y; x − y; x ⊙ y]) */
static ag_node *compare(ag_model *m, ag_layer *const *g, int n_layers, ag_node *x, ag_node *y)
{
    ag_node *d = ag_call_n(ag_layer_subtract(m), (ag_node *[]){x, y}, 2);
    ag_node *p = ag_call_n(ag_layer_multiply(m), (ag_node *[]){x, y}, 2);
    ag_node *c = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){x, y, d, p}, 4);
    return ffn_call(g, n_layers, c);
}

enum { MAX_FFN = 8 };

ag_model *ag_decomposable_model(const ag_decomposable_config *c, ag_error *err)
{
    if (!c) return ag_error_set(err, AG_ERR_ARG, "ag_decomposable_model: config is NULL"), NULL;
    if (c->max_tokens < 3 || c->dim < 1 || c->units < 1 || c->attend_layers < 1 ||
        c->attend_layers > MAX_FFN || c->compare_layers < 1 || c->compare_layers > MAX_FFN ||
        !(c->dropout >= 0 && c->dropout < 1))
        return ag_error_set(err, AG_ERR_ARG,
                            "ag_decomposable_model: expected max_tokens >= 3, dim and units >= 1, "
                            "1 to %d attend and compare layers, dropout in [0, 1); received "
                            "max_tokens %lld, dim %lld, units %lld, %d and %d layers, dropout %g",
                            MAX_FFN, (long long)c->max_tokens, (long long)c->dim,
                            (long long)c->units, c->attend_layers, c->compare_layers, c->dropout),
               NULL;
    ag_model *m = ag_model_new(c->dtype, c->seed);
    if (!m) return ag_error_set(err, AG_ERR_NOMEM, "ag_decomposable_model: out of memory"), NULL;
    ag_node *ta = ag_model_input(m, "text_a", AG_INT32, 1, (int64_t[]){-1});
    ag_node *tb = ag_model_input(m, "text_b", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, c->max_tokens, c->dim, 1);
    ag_node *a = ag_call(emb, ta), *b = ag_call(emb, tb); /* (B,T,dim), masked */

    /* attend */
    ag_layer *f[2 * MAX_FFN], *g[2 * MAX_FFN];
    for (int k = 0; k < c->attend_layers; k++)
        ffn_layer(m, c, f + 2 * k);
    ag_node *fa = ffn_call(f, c->attend_layers, a), *fb = ffn_call(f, c->attend_layers, b);
    ag_layer *att = ag_layer_attention(m, 0, "dot", 0.0, 0);
    if (att) ag_layer_set_name(att, "attention");
    ag_node *beta = ag_call_n(att, (ag_node *[]){fa, b, fb}, 3);  /* (B,Ta,dim) */
    ag_node *alpha = ag_call_n(att, (ag_node *[]){fb, a, fa}, 3); /* (B,Tb,dim) */

    /* compare */
    for (int k = 0; k < c->compare_layers; k++)
        ffn_layer(m, c, g + 2 * k);
    ag_node *va = compare(m, g, c->compare_layers, a, beta);
    ag_node *vb = compare(m, g, c->compare_layers, b, alpha);

    /* aggregate */
    ag_node *pa = ag_call(ag_layer_global_average_pooling1d(m), va);
    ag_node *pb = ag_call(ag_layer_global_average_pooling1d(m), vb);
    ag_node *h = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){pa, pb}, 2);
    if (c->dropout > 0) h = ag_call(ag_layer_dropout(m, c->dropout, 0), h);
    h = ag_call(ag_layer_dense(m, c->units, AG_ACT_RELU, 1), h);
    ag_node *y = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), h);
    if (!y || ag_model_build(m, (ag_node *[]){ta, tb}, 2, &y, 1)) {
        ag_error_set(err, ag_model_status(m), "ag_decomposable_model: %s", ag_model_error(m));
        ag_model_free(m);
        return NULL;
    }
    return m;
}
