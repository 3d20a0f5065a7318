/* attention.c — Keras's Attention and AdditiveAttention layers, over the
 * fused ag_attention op.
 *
 *   inputs [query (B,Tq,D), value (B,Tv,Dv)] or [query, value, key (B,Tv,D)]
 *   Attention, score_mode "dot":    s = scale · q·kᵀ
 *              score_mode "concat": s = concat_score_weight · Σ_d tanh(scale · (q_d + k_d))
 *   AdditiveAttention:              s = Σ_d scale_d · tanh(q_d + k_d)
 *   a = softmax(s) over Tv (masked and causal keys excluded), dropout on a in
 *   training mode; out = a · value (B,Tq,Dv), zeroed where query_mask is false.
 *
 * Weights (Keras's): Attention's scale () = 1 when use_scale and
 * concat_score_weight () = 1 when score_mode is "concat" — 0, 1 or 2 weights;
 * AdditiveAttention's scale (D) glorot-uniform, U(±√(6/(D+D))), when use_scale.
 * Masks: [query_mask, value_mask] from the call or from the inputs' own
 * masks; the output carries the query mask.
 */
#include "layer.h"

#include <inttypes.h>

static int is_additive(const ag_layer *l) { return l->cls == &ag__additive_attention_class; }

static ag_status attention_build(ag_layer *l, ag_node *const *in, int n)
{
    (void)n;
    const ag_shape *q = ag_node_shape(in[0]);
    char buf[96];
    if (q->rank != 3 || q->dim[2] < 0)
        return ag__model_fail(l->m, AG_ERR_SHAPE,
                              "%s '%s': query must be (batch_size, Tq, dim) with dim known, "
                              "received %s",
                              l->cls->class_name, l->name, ag__sstr(q, buf, sizeof buf));
    if (is_additive(l)) {
        if (l->use_scale) {
            int64_t D = q->dim[2];
            ag_node *s = ag__layer_weight(l, "scale", 1, &D);
            if (!s) return ag_model_status(l->m);
            ag__init_glorot(l, s, D, D);
        }
        return AG_OK;
    }
    if (l->use_scale) {
        ag_node *s = ag__layer_weight(l, "scale", 0, NULL);
        if (!s) return ag_model_status(l->m);
        ag__init_const(s, 1.0);
    }
    if (l->score_mode == AG_SCORE_CONCAT) {
        ag_node *w = ag__layer_weight(l, "concat_score_weight", 0, NULL);
        if (!w) return ag_model_status(l->m);
        ag__init_const(w, 1.0);
    }
    return AG_OK;
}

int ag__attention_masks(ag_layer *l, const ag_layer_call_rec *rec, ag_node **query_mask,
                        ag_node **value_mask)
{
    *query_mask = rec->in_mask[0];
    *value_mask = rec->in_mask[1];
    if (!rec->kw.n_mask) return 1;
    if (rec->kw.n_mask != 2) {
        ag__model_fail(l->m, AG_ERR_ARG,
                       "%s '%s': mask must be a list of 2 tensors [query_mask, value_mask], "
                       "received %d",
                       l->cls->class_name, l->name, rec->kw.n_mask);
        return 0;
    }
    *query_mask = rec->kw.mask[0];
    *value_mask = rec->kw.mask[1];
    return 1;
}

static ag_node *attention_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    ag_model *m = l->m;
    const char *cls = l->cls->class_name;
    char a[96], b[96];
    for (int i = 0; i < n; i++) {
        const ag_shape *s = ag_node_shape(in[i]);
        if (s->rank != 3 || !ag_dtype_is_float(s->dtype)) {
            static const char *const what[3] = {"query", "value", "key"};
            ag__model_fail(m, AG_ERR_SHAPE,
                           "%s '%s': %s must be a float tensor (batch_size, T, dim), received %s "
                           "%s",
                           cls, l->name, what[i], ag_dtype_name(s->dtype),
                           ag__sstr(s, a, sizeof a));
            return NULL;
        }
    }
    const ag_shape *q = ag_node_shape(in[0]), *k = ag_node_shape(in[n == 3 ? 2 : 1]);
    if (!ag__dim_compat(q->dim[2], k->dim[2]) ||
        (is_additive(l) && l->use_scale && q->dim[2] != ag_node_shape(l->w[0])->dim[0])) {
        ag__model_fail(m, AG_ERR_SHAPE,
                       "%s '%s': query and key must share their last dimension%s, received "
                       "query %s and key %s",
                       cls, l->name, is_additive(l) && l->use_scale ? " (the scale's size)" : "",
                       ag__sstr(q, a, sizeof a), ag__sstr(k, b, sizeof b));
        return NULL;
    }
    if (rec->kw.key_mask || rec->kw.attention_mask) {
        ag__model_fail(m, AG_ERR_ARG,
                       "%s '%s': key_mask and attention_mask are MultiHeadAttention's call "
                       "arguments; %s takes mask=[query_mask, value_mask]",
                       cls, l->name, cls);
        return NULL;
    }
    ag_node *qmask, *vmask;
    if (!ag__attention_masks(l, rec, &qmask, &vmask)) return NULL;
    ag_attention_opts ao = {.mode = is_additive(l) ? AG_SCORE_ADDITIVE : l->score_mode,
                            .causal = l->causal || rec->kw.use_causal_mask,
                            .dropout = l->rate,
                            .seed = ag__layer_dropout_seed(l)};
    ag_node *scale = l->use_scale ? l->w[0] : NULL;
    ag_node *concat_w =
        !is_additive(l) && l->score_mode == AG_SCORE_CONCAT ? l->w[l->use_scale ? 1 : 0] : NULL;
    /* Dot scores without return_attention_scores: the call runs fused,
     * without storing the weights, and the record's scores are a node beside
     * it, computed only when asked for (ag_model_run's extras). */
    const int fused = ao.mode == AG_SCORE_DOT && !rec->kw.return_attention_scores;
    ag_node *weights = NULL;
    ag_node *out = ag_attention(m->g, in[0], in[1], n == 3 ? in[2] : NULL, qmask, vmask, scale,
                                concat_w, &ao, fused ? NULL : &weights);
    if (!out) return NULL;
    if (fused)
        weights =
            ag_attention_weights(m->g, in[0], n == 3 ? in[2] : in[1], vmask, scale, concat_w, &ao);
    if (!weights) return NULL;
    rec->out_mask = qmask;
    rec->extra[rec->n_extra++] = weights; /* what a heatmap plots, asked for or not */
    return out;
}

static void attention_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_printf(b, ",\"use_scale\":%s", l->use_scale ? "true" : "false");
    if (!is_additive(l))
        ag_sb_printf(b, ",\"score_mode\":\"%s\"",
                     l->score_mode == AG_SCORE_CONCAT ? "concat" : "dot");
    ag_sb_puts(b, ",\"dropout\":");
    ag_sb_json_num(b, l->rate);
    if (l->user_seed)
        ag_sb_printf(b, ",\"seed\":%" PRIu64, l->user_seed);
    else
        ag_sb_puts(b, ",\"seed\":null");
    ag_sb_printf(b, ",\"causal\":%s", l->causal ? "true" : "false");
}

static ag_layer *from_config(ag_model *m, const ag_json *cfg, int additive)
{
    const char *cls = additive ? "AdditiveAttention" : "Attention";
    int use_scale, causal;
    double dropout;
    uint64_t seed;
    if (!ag__cfg_bool(m, cfg, cls, "use_scale", additive, &use_scale) ||
        !ag__cfg_num(m, cfg, cls, "dropout", 0.0, &dropout) ||
        !ag__cfg_seed(m, cfg, cls, "seed", &seed) ||
        !ag__cfg_bool(m, cfg, cls, "causal", 0, &causal))
        return NULL;
    ag_layer *l;
    if (additive) {
        l = ag_layer_additive_attention(m, use_scale, dropout, (uint64_t)seed);
    } else {
        const ag_json *sm = ag_json_get(cfg, "score_mode");
        if (sm && !ag_json_str(sm))
            return ag__model_fail(m, AG_ERR_ARG,
                                  "from_config: Attention's score_mode must be a string"),
                   NULL;
        l = ag_layer_attention(m, use_scale, sm ? ag_json_str(sm) : "dot", dropout, (uint64_t)seed);
    }
    if (l && causal) ag_layer_set_causal(l, 1);
    return l;
}
static ag_layer *attention_from_config(ag_model *m, const ag_json *cfg)
{
    return from_config(m, cfg, 0);
}
static ag_layer *additive_from_config(ag_model *m, const ag_json *cfg)
{
    return from_config(m, cfg, 1);
}

const ag_layer_class ag__attention_class = {.class_name = "Attention",
                                            .base_name = "attention",
                                            .min_in = 2,
                                            .max_in = 3,
                                            .call_options = 1,
                                            .build = attention_build,
                                            .call = attention_call,
                                            .get_config = attention_config,
                                            .from_config = attention_from_config};

const ag_layer_class ag__additive_attention_class = {.class_name = "AdditiveAttention",
                                                     .base_name = "additive_attention",
                                                     .min_in = 2,
                                                     .max_in = 3,
                                                     .call_options = 1,
                                                     .build = attention_build,
                                                     .call = attention_call,
                                                     .get_config = attention_config,
                                                     .from_config = additive_from_config};

static int check_dropout(ag_model *m, const char *cls, double dropout)
{
    if (dropout >= 0 && dropout < 1) return 1;
    ag__model_fail(m, AG_ERR_ARG, "%s: dropout must be a float in [0, 1), received %g", cls,
                   dropout);
    return 0;
}

ag_layer *ag_layer_attention(ag_model *m, int use_scale, const char *score_mode, double dropout,
                             uint64_t seed)
{
    if (!m) return NULL;
    ag_score_mode mode;
    if (!score_mode || !strcmp(score_mode, "dot"))
        mode = AG_SCORE_DOT;
    else if (!strcmp(score_mode, "concat"))
        mode = AG_SCORE_CONCAT;
    else
        return ag__model_fail(m, AG_ERR_ARG,
                              "Attention: invalid value for argument score_mode. Expected one of "
                              "{\"dot\", \"concat\"}. Received: score_mode=%s",
                              score_mode),
               NULL;
    if (!check_dropout(m, "Attention", dropout)) return NULL;
    ag_layer *l = ag__layer_new(m, &ag__attention_class);
    if (!l) return NULL;
    l->use_scale = use_scale != 0;
    l->score_mode = mode;
    l->rate = dropout;
    l->user_seed = seed;
    return l;
}

ag_layer *ag_layer_additive_attention(ag_model *m, int use_scale, double dropout, uint64_t seed)
{
    if (!m) return NULL;
    if (!check_dropout(m, "AdditiveAttention", dropout)) return NULL;
    ag_layer *l = ag__layer_new(m, &ag__additive_attention_class);
    if (!l) return NULL;
    l->use_scale = use_scale != 0;
    l->rate = dropout;
    l->user_seed = seed;
    return l;
}

ag_status ag_layer_set_causal(ag_layer *l, int causal)
{
    if (!l) return AG_ERR_ARG;
    if (l->cls != &ag__attention_class && l->cls != &ag__additive_attention_class)
        return ag__model_fail(l->m, AG_ERR_ARG,
                              "set_causal: layer '%s' is a %s, expected Attention or "
                              "AdditiveAttention",
                              l->name, l->cls->class_name);
    l->causal = causal != 0;
    return AG_OK;
}
