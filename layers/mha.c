/* mha.c — Keras 3's MultiHeadAttention, over the fused attention op with the
 * heads folded into the batch (so every head runs through the same kernel as
 * Attention).
 *
 *   query (B,Tq,Dq), value (B,Tv,Dv), key (B,Tv,Dk) or key = value
 *   q = query·Wq + bq  (B,Tq,H,K) -> (B·H,Tq,K)     Wq (Dq,H,K), bq (H,K)
 *   k = key·Wk + bk    (B,Tv,H,K) -> (B·H,Tv,K)     Wk (Dk,H,K), bk (H,K)
 *   v = value·Wv + bv  (B,Tv,H,V) -> (B·H,Tv,V)     Wv (Dv,H,V), bv (H,V)
 *   s = (1/√K) · q·kᵀ  (B,H,Tq,Tv)
 *   M = query_mask[:, :, None] & value_mask[:, None, :] & key_mask[:, None, :]
 *       & causal (row >= col) & attention_mask, broadcast over the heads
 *   a = softmax(s - 1e9·(1-M)) · M   (Keras 3's masked softmax: a row with
 *       every key masked is all zero)
 *   o = dropout(a) · v (B·H,Tq,V) -> (B,Tq,H·V);  out = o·Wo + bo  (B,Tq,O)
 *       Wo (H,V,O), bo (O), O = output_shape or Dq
 * The output's Keras mask is the query's mask; the returned scores are a
 * (B,H,Tq,Tv), before dropout as in Keras.
 *
 * How M reaches the kernel: the key-side masks (value, key, causal, and an
 * attention mask when given) go into the op, which zeroes masked weights; a
 * query mask only zeroes whole rows, which is the same as zeroing those rows
 * of o (and of the returned scores), so it costs no (B,Tq,Tv) tensor.
 */
#include "layer.h"

#include <inttypes.h>
#include <math.h>

enum { W_QK, W_QB, W_KK, W_KB, W_VK, W_VB, W_OK, W_OB };

static const char *const init_names[] = {"glorot_uniform", "zeros", "ones"};
enum { INIT_GLOROT_UNIFORM, INIT_ZEROS, INIT_ONES };
/* Keras's class names for the same initialisers, as a serialised config has them */
static const char *const init_classes[] = {"GlorotUniform", "Zeros", "Ones"};

static int init_from_name(const char *name)
{
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, init_names[i]) || !strcmp(name, init_classes[i])) return i;
    return -1;
}

/* Keras's fans for an EinsumDense kernel (..., in, out): the receptive field
 * is the product of the leading dims. */
static void kernel_fans(const ag_shape *s, int64_t *fan_in, int64_t *fan_out)
{
    int64_t rf = 1;
    for (int d = 0; d < s->rank - 2; d++)
        rf *= s->dim[d];
    *fan_in = s->dim[s->rank - 2] * rf;
    *fan_out = s->dim[s->rank - 1] * rf;
}

static void init_weight(ag_layer *l, ag_node *w, int init)
{
    if (init == INIT_GLOROT_UNIFORM) {
        int64_t fi, fo;
        const ag_shape *s = ag_node_shape(w);
        if (s->rank >= 2)
            kernel_fans(s, &fi, &fo);
        else
            fi = fo = s->rank == 1 ? s->dim[0] : 1;
        ag__init_glorot(l, w, fi, fo);
    } else {
        ag__init_const(w, init == INIT_ONES ? 1.0 : 0.0);
    }
}

static const char *what_name(int i)
{
    static const char *const what[3] = {"query", "value", "key"};
    return what[i];
}

static ag_status mha_build(ag_layer *l, ag_node *const *in, int n)
{
    const char *cls = l->cls->class_name;
    char a[96], b[96];
    for (int i = 0; i < n; i++) {
        const ag_shape *s = ag_node_shape(in[i]);
        if (s->rank != 3 || !ag_dtype_is_float(s->dtype) || s->dim[2] < 0)
            return ag__model_fail(l->m, AG_ERR_SHAPE,
                                  "%s '%s': %s must be a float tensor (batch_size, T, dim) with "
                                  "dim known (attention over axis 1; other attention_axes are "
                                  "not supported), received %s %s",
                                  cls, l->name, what_name(i), ag_dtype_name(s->dtype),
                                  ag__sstr(s, a, sizeof a));
    }
    const ag_shape *v = ag_node_shape(in[1]), *k = ag_node_shape(in[n == 3 ? 2 : 1]);
    if (!ag__dim_compat(v->dim[1], k->dim[1]))
        return ag__model_fail(l->m, AG_ERR_SHAPE,
                              "%s '%s': All dimensions of `value` and `key`, except the last "
                              "one, must be equal. Received: value_shape=%s and key_shape=%s",
                              cls, l->name, ag__sstr(v, a, sizeof a), ag__sstr(k, b, sizeof b));
    const int64_t H = l->num_heads, K = l->key_dim, V = l->value_dim;
    const int64_t Dq = ag_node_shape(in[0])->dim[2], Dk = k->dim[2], Dv = v->dim[2];
    const int64_t O = l->output_dim > 0 ? l->output_dim : Dq;
    struct {
        const char *name;
        int rank;
        int64_t shape[3];
        int bias;
    } spec[8] = {{"query/kernel", 3, {Dq, H, K}, 0},
                 {"query/bias", 2, {H, K}, 1},
                 {"key/kernel", 3, {Dk, H, K}, 0},
                 {"key/bias", 2, {H, K}, 1},
                 {"value/kernel", 3, {Dv, H, V}, 0},
                 {"value/bias", 2, {H, V}, 1},
                 {"attention_output/kernel", 3, {H, V, O}, 0},
                 {"attention_output/bias", 1, {O}, 1}};
    for (int i = 0; i < 8; i++) {
        if (spec[i].bias && !l->use_bias) continue;
        ag_node *w = ag__layer_weight(l, spec[i].name, spec[i].rank, spec[i].shape);
        if (!w) return ag_model_status(l->m);
        init_weight(l, w, spec[i].bias ? l->bias_init : l->kernel_init);
    }
    return AG_OK;
}

/* The layer's weight in slot `which` (W_*), or NULL for an absent bias. */
static ag_node *weight(const ag_layer *l, int which)
{
    if (l->use_bias) return l->w[which];
    return which % 2 ? NULL : l->w[which / 2];
}

/* x (B,T,D) · kernel (D,H,K) + bias (H,K) -> (B·H,T,K) */
static ag_node *project(ag_graph *g, ag_node *x, ag_node *kernel, ag_node *bias, int64_t H)
{
    const ag_shape *ks = ag_node_shape(kernel);
    ag_node *w = ag_reshape(g, kernel, 2, (int64_t[]){ks->dim[0], ks->dim[1] * ks->dim[2]});
    ag_node *y = ag_matmul(g, x, w, 0, 0);
    if (bias) y = ag_add(g, y, ag_reshape(g, bias, 1, (int64_t[]){ks->dim[1] * ks->dim[2]}));
    return ag_split_heads(g, y, H);
}

/* A mask argument must have the dims `want` (described by `dims`, as
 * "(batch_size, Tq)"); 0 (message set) when it does not. */
static int check_mask(ag_layer *l, const char *what, const char *dims, ag_node *mask, int rank,
                      const int64_t *want)
{
    if (!mask) return 1;
    const ag_shape *s = ag_node_shape(mask);
    int ok = s->rank == rank;
    for (int d = 0; ok && d < rank; d++)
        ok = ag__dim_compat(s->dim[d], want[d]);
    if (ok) return 1;
    char a[96], b[96];
    ag__model_fail(l->m, AG_ERR_SHAPE, "%s '%s': %s must have shape %s = %s, received %s",
                   l->cls->class_name, l->name, what, dims, ag_shape_str(rank, want, a, sizeof a),
                   ag__sstr(s, b, sizeof b));
    return 0;
}

/* x * mask broadcast: mask (B,T) as (B,T,1) (axis 2) or (B,1,T,1) (axis 1). */
static ag_node *zero_rows(ag_graph *g, ag_node *x, ag_node *mask, int heads_axis)
{
    ag_node *m = ag_expand_dims(g, ag_cast_float(g, mask), -1);
    if (heads_axis) m = ag_expand_dims(g, m, 1);
    return ag_mul(g, x, m);
}

static ag_node *mha_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    ag_model *m = l->m;
    ag_graph *g = m->g;
    const char *cls = l->cls->class_name;
    char a[96], b[96];
    ag_node *query = in[0], *value = in[1], *key = n == 3 ? in[2] : in[1];
    /* each input against the width its kernel was built on (the value is the
     * key too when no key is given) */
    for (int c = 0; c < 4; c++) {
        const int i = c < 3 ? c : 1, slot = c == 0 ? W_QK : c == 1 ? W_VK : W_KK;
        if (c == 2 && n == 2) continue;
        if (c == 3 && n == 3) break;
        const ag_shape *s = ag_node_shape(in[i]);
        const int64_t want = ag_node_shape(weight(l, slot))->dim[0];
        if (s->rank != 3 || !ag_dtype_is_float(s->dtype) || !ag__dim_compat(s->dim[2], want)) {
            ag__model_fail(m, AG_ERR_SHAPE,
                           "%s '%s': %s must be a float tensor (batch_size, T, %" PRId64
                           ") (the layer was built on that width), received %s %s",
                           cls, l->name, what_name(i), want, ag_dtype_name(s->dtype),
                           ag__sstr(s, a, sizeof a));
            return NULL;
        }
    }
    const ag_shape *qs = ag_node_shape(query), *vs = ag_node_shape(value), *ks = ag_node_shape(key);
    if (!ag__dim_compat(vs->dim[1], ks->dim[1]) || !ag__dim_compat(vs->dim[0], ks->dim[0]) ||
        !ag__dim_compat(qs->dim[0], vs->dim[0])) {
        ag__model_fail(m, AG_ERR_SHAPE,
                       "%s '%s': All dimensions of `value` and `key`, except the last one, must "
                       "be equal (and query, value and key must share the batch size). Received: "
                       "value_shape=%s and key_shape=%s",
                       cls, l->name, ag__sstr(vs, a, sizeof a), ag__sstr(ks, b, sizeof b));
        return NULL;
    }
    /* masks: the call's, or the inputs' own */
    ag_node *qm, *vm, *km = n == 3 ? rec->in_mask[2] : NULL, *am = NULL;
    if (!ag__attention_masks(l, rec, &qm, &vm)) return NULL;
    if (rec->kw.n_mask) km = NULL;
    if (rec->kw.key_mask) km = rec->kw.key_mask;
    if (rec->kw.attention_mask) am = rec->kw.attention_mask;
    const int64_t B = qs->dim[0] >= 0 ? qs->dim[0] : vs->dim[0], Tq = qs->dim[1], Tv = vs->dim[1];
    if (!check_mask(l, "query_mask", "(batch_size, Tq)", qm, 2, (int64_t[]){B, Tq}) ||
        !check_mask(l, "value_mask", "(batch_size, Tv)", vm, 2, (int64_t[]){B, Tv}) ||
        !check_mask(l, "key_mask", "(batch_size, Tv)", km, 2, (int64_t[]){B, Tv}) ||
        !check_mask(l, "attention_mask", "(batch_size, Tq, Tv)", am, 3, (int64_t[]){B, Tq, Tv}))
        return NULL;
    const int64_t H = l->num_heads, K = l->key_dim;
    ag_node *q = project(g, query, weight(l, W_QK), weight(l, W_QB), H);
    ag_node *k = project(g, key, weight(l, W_KK), weight(l, W_KB), H);
    ag_node *v = project(g, value, weight(l, W_VK), weight(l, W_VB), H);
    /* the key-side mask for the kernel: (B,Tv), or (B,Tq,Tv) with an attention mask */
    ag_node *cols = vm && km ? ag_mul(g, ag_cast_float(g, vm), ag_cast_float(g, km)) : vm ? vm : km;
    ag_node *mask = cols;
    if (am) {
        mask = ag_cast_float(g, am);
        if (cols) mask = ag_mul(g, mask, ag_expand_dims(g, ag_cast_float(g, cols), 1));
    }
    const int causal = rec->kw.use_causal_mask;
    ag_attention_opts ao = {.mode = AG_SCORE_DOT,
                            .causal = causal,
                            .dropout = l->rate,
                            .seed = ag__layer_dropout_seed(l),
                            .heads = (int)H,
                            .zero_masked = 1};
    ag_node *scale = ag_scalar(g, 1.0 / sqrt((double)K));
    ag_node *o, *scores = NULL;
    const int want_scores = rec->kw.return_attention_scores;
    if (want_scores) {
        /* the weights before dropout are returned, as Keras does */
        ag_attention_opts plain = ao;
        plain.dropout = 0;
        ag_node *w = ag_attention_weights(g, q, k, mask, scale, NULL, &plain);
        scores = ag_unfold_heads(g, w, H);
        if (qm) scores = zero_rows(g, scores, qm, 1);
        o = ag_matmul(g, l->rate > 0 ? ag_dropout(g, w, l->rate, ao.seed) : w, v, 0, 0);
    } else {
        o = ag_attention(g, q, v, k, NULL, mask, scale, NULL, &ao, NULL);
    }
    o = ag_merge_heads(g, o, H);
    if (qm) o = zero_rows(g, o, qm, 0);
    ag_node *wo = weight(l, W_OK), *bo = weight(l, W_OB);
    const ag_shape *wos = ag_node_shape(wo);
    ag_node *out = ag_matmul(
        g, o, ag_reshape(g, wo, 2, (int64_t[]){wos->dim[0] * wos->dim[1], wos->dim[2]}), 0, 0);
    if (bo) out = ag_add(g, out, bo);
    if (!out) return NULL;
    rec->out_mask = qm;
    if (scores) rec->extra[rec->n_extra++] = scores;
    return out;
}

static void mha_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_printf(b, ",\"num_heads\":%" PRId64 ",\"key_dim\":%" PRId64 ",\"value_dim\":%" PRId64,
                 l->num_heads, l->key_dim, l->value_dim);
    ag_sb_puts(b, ",\"dropout\":");
    ag_sb_json_num(b, l->rate);
    ag_sb_printf(b, ",\"use_bias\":%s", l->use_bias ? "true" : "false");
    if (l->output_dim > 0)
        ag_sb_printf(b, ",\"output_shape\":[%" PRId64 "]", l->output_dim);
    else
        ag_sb_puts(b, ",\"output_shape\":null");
    ag_sb_printf(b,
                 ",\"attention_axes\":null,\"kernel_initializer\":\"%s\","
                 "\"bias_initializer\":\"%s\"",
                 init_names[l->kernel_init], init_names[l->bias_init]);
    if (l->user_seed)
        ag_sb_printf(b, ",\"seed\":%" PRIu64, l->user_seed);
    else
        ag_sb_puts(b, ",\"seed\":null");
}

/* An initialiser in a config: a name, or Keras's serialised {"class_name": ...}. */
static const char *cfg_init(ag_model *m, const ag_json *cfg, const char *key, const char *def)
{
    const ag_json *v = ag_json_get(cfg, key);
    if (!v || v->type == AG_JSON_NULL) return def;
    if (v->type == AG_JSON_OBJECT) v = ag_json_get(v, "class_name");
    const char *s = ag_json_str(v);
    if (!s)
        ag__model_fail(m, AG_ERR_ARG,
                       "from_config: MultiHeadAttention's %s must be a name or an object with a "
                       "class_name",
                       key);
    return s;
}

static ag_layer *mha_from_config(ag_model *m, const ag_json *cfg)
{
    const char *cls = "MultiHeadAttention";
    ag_mha_config c = ag_mha_defaults(0, 0);
    uint64_t seed = 0;
    if (!ag__cfg_int(m, cfg, cls, "num_heads", 0, &c.num_heads) ||
        !ag__cfg_int(m, cfg, cls, "key_dim", 0, &c.key_dim) ||
        !ag__cfg_int(m, cfg, cls, "value_dim", 0, &c.value_dim) ||
        !ag__cfg_num(m, cfg, cls, "dropout", 0.0, &c.dropout) ||
        !ag__cfg_bool(m, cfg, cls, "use_bias", 1, &c.use_bias) ||
        !ag__cfg_seed(m, cfg, cls, "seed", &seed))
        return NULL;
    c.seed = (uint64_t)seed;
    const ag_json *os = ag_json_get(cfg, "output_shape");
    if (os && os->type == AG_JSON_ARRAY) {
        if (os->n != 1 || !ag_json_int(os->item[0], &c.output_shape))
            return ag__model_fail(m, AG_ERR_ARG,
                                  "from_config: MultiHeadAttention's output_shape must be null, "
                                  "an integer or a list of one integer"),
                   NULL;
    } else if (!ag__cfg_int(m, cfg, cls, "output_shape", 0, &c.output_shape)) {
        return NULL;
    }
    const ag_json *ax = ag_json_get(cfg, "attention_axes");
    int64_t axis = 1;
    if (ax && ax->type == AG_JSON_ARRAY && ax->n == 1) ax = ax->item[0];
    if (ax && ax->type != AG_JSON_NULL && (!ag_json_int(ax, &axis) || (axis != 1 && axis != -2)))
        return ag__model_fail(m, AG_ERR_ARG,
                              "from_config: MultiHeadAttention supports attention over axis 1 "
                              "of rank-3 inputs only (attention_axes null or [1])"),
               NULL;
    c.kernel_initializer = cfg_init(m, cfg, "kernel_initializer", "glorot_uniform");
    c.bias_initializer = cfg_init(m, cfg, "bias_initializer", "zeros");
    if (!c.kernel_initializer || !c.bias_initializer) return NULL;
    return ag_layer_multi_head_attention(m, &c);
}

const ag_layer_class ag__mha_class = {.class_name = "MultiHeadAttention",
                                      .base_name = "multi_head_attention",
                                      .min_in = 2,
                                      .max_in = 3,
                                      .call_options = 1,
                                      .build = mha_build,
                                      .call = mha_call,
                                      .get_config = mha_config,
                                      .from_config = mha_from_config};

ag_mha_config ag_mha_defaults(int64_t num_heads, int64_t key_dim)
{
    return (ag_mha_config){.num_heads = num_heads,
                           .key_dim = key_dim,
                           .use_bias = 1,
                           .kernel_initializer = "glorot_uniform",
                           .bias_initializer = "zeros"};
}

ag_layer *ag_layer_multi_head_attention(ag_model *m, const ag_mha_config *c)
{
    const char *cls = "MultiHeadAttention";
    if (!m) return NULL;
    if (!c) return ag__model_fail(m, AG_ERR_ARG, "%s: the config is NULL", cls), NULL;
    if (c->num_heads <= 0)
        return ag__model_fail(m, AG_ERR_ARG,
                              "%s: num_heads must be a positive integer, received %" PRId64, cls,
                              c->num_heads),
               NULL;
    if (c->key_dim <= 0)
        return ag__model_fail(m, AG_ERR_ARG,
                              "%s: key_dim must be a positive integer, received %" PRId64, cls,
                              c->key_dim),
               NULL;
    if (c->value_dim < 0 || c->output_shape < 0)
        return ag__model_fail(m, AG_ERR_ARG,
                              "%s: value_dim and output_shape must be positive (or 0 for None), "
                              "received value_dim=%" PRId64 " and output_shape=%" PRId64,
                              cls, c->value_dim, c->output_shape),
               NULL;
    if (!(c->dropout >= 0 && c->dropout < 1))
        return ag__model_fail(m, AG_ERR_ARG, "%s: dropout must be a float in [0, 1), received %g",
                              cls, c->dropout),
               NULL;
    const char *inits[2] = {c->kernel_initializer ? c->kernel_initializer : "glorot_uniform",
                            c->bias_initializer ? c->bias_initializer : "zeros"};
    int init[2];
    for (int i = 0; i < 2; i++) {
        init[i] = init_from_name(inits[i]);
        if (init[i] < 0)
            return ag__model_fail(m, AG_ERR_ARG,
                                  "%s: %s must be one of \"glorot_uniform\", \"zeros\", \"ones\", "
                                  "received \"%s\"",
                                  cls, i ? "bias_initializer" : "kernel_initializer", inits[i]),
                   NULL;
    }
    ag_layer *l = ag__layer_new(m, &ag__mha_class);
    if (!l) return NULL;
    l->num_heads = c->num_heads;
    l->key_dim = c->key_dim;
    l->value_dim = c->value_dim > 0 ? c->value_dim : c->key_dim;
    l->output_dim = c->output_shape;
    l->use_bias = c->use_bias != 0;
    l->rate = c->dropout;
    l->user_seed = c->seed;
    l->kernel_init = init[0];
    l->bias_init = init[1];
    return l;
}
