/* attention.c — Keras's attention weights as one fused op (attention_weights),
 * and Keras's attention call composed from it (ag_attention).
 *
 *   q (B,Tq,D), k (B,Tv,D), mask (B/H,Tv) or (B/H,Tq,Tv) or none, scale, w -> z (B,Tq,Tv)
 *   (H = heads: MultiHeadAttention folds its heads into the batch, b = b'·H + h,
 *   and every head of b' shares the mask; H = 1 otherwise)
 *
 * Forward, one query row (b,i) at a time:
 *   dot:      r_ij = Σ_d q_id k_jd;                 s_ij = c · r_ij       (c = scale, or 1)
 *   concat:   r_ij = Σ_d tanh(c · (q_id + k_jd));   s_ij = w · r_ij       (w = concat_weight, or 1)
 *   additive: s_ij = Σ_d c_d · tanh(q_id + k_jd)                         (c_d = scale_d, or 1)
 *   mask:     m_ij = s_ij - 1e9 · [mask_(b/H)j (or _(b/H)ij) false, or (causal) j > i]
 *   softmax:  a_ij = e^(m_ij - max_j m) / Σ_j e^(m_ij - max_j m)
 *   zero_masked (Keras 3's masked softmax in MultiHeadAttention): a_ij = 0
 *             where masked, so a row with every key masked is all zero
 *   dropout:  z_ij = a_ij · keep_ij / (1-rate),  keep_ij = [u(seed, step, (b·Tq+i)·Tv+j) >= rate],
 *             in training mode with rate > 0; otherwise z = a.
 *
 * Backward, from gz (B,Tq,Tv):
 *   ga = gz · keep / (1-rate)   (ga = gz without dropout)
 *   gs_ij = a_ij (ga_ij - Σ_l ga_il a_il)   (the mask is a constant shift: no gradient;
 *             a zeroed weight has a_ij = 0, so gs_ij = 0 as the product with the mask gives)
 *   dot:      gq_i = c Σ_j gs_ij k_j;   gk_j = c Σ_i gs_ij q_i;   gc = Σ gs_ij r_ij
 *   concat:   u = q_id + k_jd, t = tanh(c·u), t' = 1 - t²
 *             gq_id = Σ_j gs_ij w c t';   gk_jd = Σ_i gs_ij w c t'
 *             gc = Σ_ij gs_ij w Σ_d t' u;   gw = Σ_ij gs_ij r_ij
 *   additive: t = tanh(q_id + k_jd):  gq_id = Σ_j gs_ij c_d t';  gk_jd = Σ_i gs_ij c_d t';
 *             gc_d = Σ_ij gs_ij t
 *
 * Memory: the (B,Tq,Tv,D) tensor of the concat and additive formulas is never
 * stored; tanh is recomputed where needed. Workspaces: a (B,Tq,Tv), r (B,Tq,Tv)
 * for dot and concat, gs (B,Tq,Tv), and per-row partial sums of the scale
 * gradients (B·Tq, 1|2|D).
 *
 * Threads: the forward pass and gq run over query rows (b,i); gk over key
 * rows (b,j), each output summed by one iteration in a fixed order; the scale
 * gradients are per-row partial sums reduced serially. Results do not depend
 * on the thread count.
 */
#include "attention.h"
#include "gemm.h"

enum { AUX_A, AUX_R, AUX_GS, AUX_PART, AUX_PACK, AUX_KT, AUX_COUNT };
/* keys a vector block of additive / concat scores takes (attention_t.inc),
 * and Tv rounded up to whole blocks: the transposed keys' row length */
enum { ATTN_JB = 32 };
static int64_t attn_tvp(int64_t tv) { return (tv + ATTN_JB - 1) / ATTN_JB * ATTN_JB; }

/* The same, callable from the tests (tests/test_attention.c checks its accuracy). */
float ag__attention_tanhf(float x) { return attn_tanhf(x); }
float ag__attention_expf(float x) { return attn_expf(x); }

#define T    float
#define EXP  attn_expf
#define TANH attn_tanhf
#include "attention_t.inc"
#undef T
#undef EXP
#undef TANH
#define T    double
#define EXP  exp
#define TANH tanh
#include "attention_t.inc"
#undef T
#undef EXP
#undef TANH

static const char *mode_name(ag_score_mode m)
{
    switch (m) {
    case AG_SCORE_DOT: return "dot";
    case AG_SCORE_CONCAT: return "concat";
    case AG_SCORE_ADDITIVE: return "additive";
    }
    return "?";
}

/* ---- shape inference: every check a caller can get wrong ---- */

ag_status ag__attention_infer(const attn_params *P, const ag_shape *in, ag_shape *out,
                              ag_error *err)
{
    char a[96], b[96];
    if (P->mode != AG_SCORE_DOT && P->mode != AG_SCORE_CONCAT && P->mode != AG_SCORE_ADDITIVE)
        return ag_error_set(err, AG_ERR_ARG,
                            "score_mode must be one of {dot, concat, additive} (AG_SCORE_DOT, "
                            "AG_SCORE_CONCAT, AG_SCORE_ADDITIVE), received %d",
                            (int)P->mode);
    if (!(P->dropout >= 0 && P->dropout < 1))
        return ag_error_set(err, AG_ERR_ARG, "dropout must be in [0, 1), received %g", P->dropout);
    const ag_shape *q = &in[0], *k = &in[1];
    const char *names[2] = {"query", "key"};
    for (int t = 0; t < 2; t++) {
        if (in[t].rank != 3)
            return ag_error_set(err, AG_ERR_SHAPE,
                                "%s must have rank 3 (batch_size, T, dim), received rank %d with "
                                "shape %s",
                                names[t], in[t].rank, ag__sstr(&in[t], a, sizeof a));
        if (!ag_dtype_is_float(in[t].dtype))
            return ag_error_set(err, AG_ERR_DTYPE, "%s must be float32 or float64, received %s",
                                names[t], ag_dtype_name(in[t].dtype));
    }
    if (k->dtype != q->dtype)
        return ag_error_set(err, AG_ERR_DTYPE, "key must have the query's dtype %s, received %s",
                            ag_dtype_name(q->dtype), ag_dtype_name(k->dtype));
    if (!ag__dim_compat(q->dim[0], k->dim[0]))
        return ag_error_set(err, AG_ERR_SHAPE,
                            "query and key must have the same batch size, received query %s and "
                            "key %s",
                            ag__sstr(q, a, sizeof a), ag__sstr(k, b, sizeof b));
    if (!ag__dim_compat(q->dim[2], k->dim[2]))
        return ag_error_set(err, AG_ERR_SHAPE,
                            "query and key must have the same last dimension (dim), received "
                            "query %s and key %s",
                            ag__sstr(q, a, sizeof a), ag__sstr(k, b, sizeof b));
    int64_t B = q->dim[0] >= 0 ? q->dim[0] : k->dim[0];
    int64_t D = q->dim[2] >= 0 ? q->dim[2] : k->dim[2];
    if (P->heads < 1)
        return ag_error_set(err, AG_ERR_ARG, "heads must be at least 1, received %lld",
                            (long long)P->heads);
    if (B >= 0 && B % P->heads)
        return ag_error_set(err, AG_ERR_SHAPE,
                            "the batch size %lld must be a multiple of heads = %lld", (long long)B,
                            (long long)P->heads);
    if (P->i_mask >= 0) {
        const ag_shape *m = &in[P->i_mask];
        const int64_t MB = B >= 0 ? B / P->heads : -1;
        if (m->rank != P->mask_rank || !ag__dim_compat(m->dim[0], MB) ||
            !ag__dim_compat(m->dim[1], m->rank == 3 ? q->dim[1] : k->dim[1]) ||
            (m->rank == 3 && !ag__dim_compat(m->dim[2], k->dim[1]))) {
            int64_t want[3] = {MB, m->rank == 3 ? q->dim[1] : k->dim[1], k->dim[1]};
            return ag_error_set(err, AG_ERR_SHAPE, "%s must have shape %s = %s, received %s",
                                m->rank == 3 ? "the attention mask" : "value_mask",
                                m->rank == 3 ? "(batch_size, Tq, Tv)" : "(batch_size, Tv)",
                                ag_shape_str(m->rank == 3 ? 3 : 2, want, a, sizeof a),
                                ag__sstr(m, b, sizeof b));
        }
    }
    if (P->i_scale >= 0) {
        const ag_shape *s = &in[P->i_scale];
        if (s->dtype != q->dtype)
            return ag_error_set(err, AG_ERR_DTYPE,
                                "scale must have the query's dtype %s, received %s",
                                ag_dtype_name(q->dtype), ag_dtype_name(s->dtype));
        if (P->mode == AG_SCORE_ADDITIVE) {
            if (s->rank != 1 || !ag__dim_compat(s->dim[0], D))
                return ag_error_set(err, AG_ERR_SHAPE,
                                    "scale must have shape (dim,) = (%lld,) for score_mode "
                                    "additive, received %s",
                                    (long long)D, ag__sstr(s, a, sizeof a));
        } else if (!(s->rank == 0 || (s->rank == 1 && s->dim[0] == 1)))
            return ag_error_set(err, AG_ERR_SHAPE,
                                "scale must have shape () or (1,) for score_mode %s, received %s",
                                mode_name(P->mode), ag__sstr(s, a, sizeof a));
    }
    if (P->i_w >= 0) {
        const ag_shape *w = &in[P->i_w];
        if (P->mode != AG_SCORE_CONCAT)
            return ag_error_set(err, AG_ERR_ARG,
                                "concat_weight is only used by score_mode concat, received one "
                                "with score_mode %s",
                                mode_name(P->mode));
        if (w->dtype != q->dtype)
            return ag_error_set(err, AG_ERR_DTYPE,
                                "concat_weight must have the query's dtype %s, received %s",
                                ag_dtype_name(q->dtype), ag_dtype_name(w->dtype));
        if (!(w->rank == 0 || (w->rank == 1 && w->dim[0] == 1)))
            return ag_error_set(err, AG_ERR_SHAPE,
                                "concat_weight must have shape () or (1,), received %s",
                                ag__sstr(w, a, sizeof a));
    }
    *out = (ag_shape){.dtype = q->dtype, .rank = 3, .dim = {B, q->dim[1], k->dim[1]}};
    return AG_OK;
}

static ag_status attn_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                            ag_shape *out, ag_error *err)
{
    (void)op;
    (void)n_in;
    return ag__attention_infer(params, in, out, err);
}

/* The dot products on the GEMM, batched over B (each pack workspace sized
 * for the call):  r = q·kᵀ;  gq += gs·k;  gk += gsᵀ·q  (gs already times c). */
static ag_status attn_gemm(ag_kernel_ctx *k, ag__gemm *gp)
{
    int64_t n[1] = {ag__gemm_pack_size(gp, k->out->dtype)};
    ag_tensor *pack = ag_kernel_aux(k, AUX_PACK, k->out->dtype, 1, n);
    if (!pack) return k->err->code;
    ag__gemm_run(gp, k->out->dtype, pack->data);
    return AG_OK;
}

static ag_status attn_scores_gemm(ag_kernel_ctx *k, const attn_run *p, ag_tensor *r)
{
    const int64_t Tq = p->Tq, Tv = p->Tv, D = p->D;
    ag__gemm g = {.batch = p->B,
                  .rbatch = 1,
                  .m = Tq,
                  .n = Tv,
                  .k = D,
                  .a = k->in[0]->data,
                  .a_bs = Tq * D,
                  .a_rs = D,
                  .a_cs = 1,
                  .b = k->in[1]->data,
                  .b_bs = Tv * D,
                  .b_rs = 1,
                  .b_cs = D,
                  .c = r->data,
                  .c_bs = Tq * Tv,
                  .c_rs = Tv};
    return attn_gemm(k, &g);
}

static ag_status attn_grads_gemm(ag_kernel_ctx *k, const attn_run *p, const ag_tensor *gs,
                                 ag_tensor *gq, ag_tensor *gk)
{
    const int64_t Tq = p->Tq, Tv = p->Tv, D = p->D;
    ag_status st = AG_OK;
    if (gq) {
        ag__gemm g = {.batch = p->B,
                      .rbatch = 1,
                      .m = Tq,
                      .n = D,
                      .k = Tv,
                      .a = gs->data,
                      .a_bs = Tq * Tv,
                      .a_rs = Tv,
                      .a_cs = 1,
                      .b = k->in[1]->data,
                      .b_bs = Tv * D,
                      .b_rs = D,
                      .b_cs = 1,
                      .c = gq->data,
                      .c_bs = Tq * D,
                      .c_rs = D,
                      .accumulate = 1};
        st = attn_gemm(k, &g);
    }
    if (gk && !st) {
        ag__gemm g = {.batch = p->B,
                      .rbatch = 1,
                      .m = Tv,
                      .n = D,
                      .k = Tq,
                      .a = gs->data,
                      .a_bs = Tq * Tv,
                      .a_rs = 1,
                      .a_cs = Tv,
                      .b = k->in[0]->data,
                      .b_bs = Tq * D,
                      .b_rs = D,
                      .b_cs = 1,
                      .c = gk->data,
                      .c_bs = Tv * D,
                      .c_rs = D,
                      .accumulate = 1};
        st = attn_gemm(k, &g);
    }
    return st;
}

static ag_status attn_forward(ag_kernel_ctx *k)
{
    const attn_params *P = k->params;
    attn_run p = attn_setup(k);
    ag_dtype dt = k->out->dtype;
    ag_tensor *a = ag_kernel_aux(k, AUX_A, dt, 3, k->out->shape);
    ag_tensor *r =
        P->mode == AG_SCORE_ADDITIVE ? NULL : ag_kernel_aux(k, AUX_R, dt, 3, k->out->shape);
    if (!a || (P->mode != AG_SCORE_ADDITIVE && !r)) return k->err->code;
    ag_tensor *kt = NULL;
    if (P->mode != AG_SCORE_DOT) { /* the keys transposed */
        int64_t n[1] = {p.B * p.D * attn_tvp(p.Tv)};
        if (!(kt = ag_kernel_aux(k, AUX_KT, dt, 1, n))) return k->err->code;
    }
    const ag_tensor *scale = P->i_scale >= 0 ? k->in[P->i_scale] : NULL;
    const ag_tensor *w = P->i_w >= 0 ? k->in[P->i_w] : NULL;
    if (P->mode == AG_SCORE_DOT && attn_scores_gemm(k, &p, r)) return k->err->code;
    if (dt == AG_FLOAT32)
        attn_forward_float(&p, AG_F32(k->in[0]), AG_F32(k->in[1]), scale ? AG_F32(scale) : NULL,
                           w ? AG_F32(w) : NULL, r ? AG_F32(r) : NULL, AG_F32(a), AG_F32(k->out),
                           kt ? AG_F32(kt) : NULL);
    else
        attn_forward_double(&p, AG_F64(k->in[0]), AG_F64(k->in[1]), scale ? AG_F64(scale) : NULL,
                            w ? AG_F64(w) : NULL, r ? AG_F64(r) : NULL, AG_F64(a), AG_F64(k->out),
                            kt ? AG_F64(kt) : NULL);
    return AG_OK;
}

static ag_status attn_backward(ag_kernel_ctx *k)
{
    const attn_params *P = k->params;
    attn_run p = attn_setup(k);
    ag_dtype dt = k->out->dtype;
    const ag_tensor *scale = P->i_scale >= 0 ? k->in[P->i_scale] : NULL;
    const ag_tensor *w = P->i_w >= 0 ? k->in[P->i_w] : NULL;
    ag_tensor *gq = k->gin[0], *gk = k->gin[1];
    ag_tensor *gscale = P->i_scale >= 0 ? k->gin[P->i_scale] : NULL;
    ag_tensor *gw = P->i_w >= 0 ? k->gin[P->i_w] : NULL;
    if (!gq && !gk && !gscale && !gw) return AG_OK;
    ag_tensor *a = ag_kernel_saved(k, AUX_A);
    ag_tensor *r = P->mode == AG_SCORE_ADDITIVE ? NULL : ag_kernel_saved(k, AUX_R);
    if (!a->data || (r && !r->data))
        return ag_error_set(k->err, AG_ERR_STATE, "backward called before forward");
    ag_tensor *gs = ag_kernel_aux(k, AUX_GS, dt, 3, k->out->shape);
    if (!gs) return k->err->code;
    ag_tensor *part = NULL;
    if (gscale || gw) {
        int64_t P2[2] = {p.B * p.Tq, p.mode == AG_SCORE_ADDITIVE ? p.D
                                     : p.mode == AG_SCORE_CONCAT ? 2
                                                                 : 1};
        part = ag_kernel_aux(k, AUX_PART, dt, 2, P2);
        if (!part) return k->err->code;
    }
    /* additive and concat: one sweep per batch element when there are
     * enough of them to keep two threads busy (a fixed rule: the path, like
     * the result, must not depend on the thread count) */
    const int sweep = p.mode != AG_SCORE_DOT && p.B >= 4;
    if (dt == AG_FLOAT32) {
        const float *q = AG_F32(k->in[0]), *kk = AG_F32(k->in[1]);
        const float *sc = scale ? AG_F32(scale) : NULL, *wv = w ? AG_F32(w) : NULL;
        if (sweep) {
            attn_backward_rows_float(&p, q, kk, sc, wv, NULL, AG_F32(a), AG_F32(k->gout),
                                     AG_F32(gs), NULL, NULL);
            attn_backward_sweep_float(&p, q, kk, sc, wv, r ? AG_F32(r) : NULL, AG_F32(gs),
                                      gq ? AG_F32(gq) : NULL, gk ? AG_F32(gk) : NULL,
                                      part ? AG_F32(part) : NULL);
        } else {
            attn_backward_rows_float(&p, q, kk, sc, wv, r ? AG_F32(r) : NULL, AG_F32(a),
                                     AG_F32(k->gout), AG_F32(gs), gq ? AG_F32(gq) : NULL,
                                     part ? AG_F32(part) : NULL);
            if (gk && p.mode != AG_SCORE_DOT)
                attn_backward_cols_float(&p, q, kk, sc, wv, AG_F32(gs), AG_F32(gk));
        }
        if (part)
            attn_reduce_float(&p, AG_F32(part), gscale ? AG_F32(gscale) : NULL,
                              gw ? AG_F32(gw) : NULL);
    } else {
        const double *q = AG_F64(k->in[0]), *kk = AG_F64(k->in[1]);
        const double *sc = scale ? AG_F64(scale) : NULL, *wv = w ? AG_F64(w) : NULL;
        if (sweep) {
            attn_backward_rows_double(&p, q, kk, sc, wv, NULL, AG_F64(a), AG_F64(k->gout),
                                      AG_F64(gs), NULL, NULL);
            attn_backward_sweep_double(&p, q, kk, sc, wv, r ? AG_F64(r) : NULL, AG_F64(gs),
                                       gq ? AG_F64(gq) : NULL, gk ? AG_F64(gk) : NULL,
                                       part ? AG_F64(part) : NULL);
        } else {
            attn_backward_rows_double(&p, q, kk, sc, wv, r ? AG_F64(r) : NULL, AG_F64(a),
                                      AG_F64(k->gout), AG_F64(gs), gq ? AG_F64(gq) : NULL,
                                      part ? AG_F64(part) : NULL);
            if (gk && p.mode != AG_SCORE_DOT)
                attn_backward_cols_double(&p, q, kk, sc, wv, AG_F64(gs), AG_F64(gk));
        }
        if (part)
            attn_reduce_double(&p, AG_F64(part), gscale ? AG_F64(gscale) : NULL,
                               gw ? AG_F64(gw) : NULL);
    }
    if (p.mode == AG_SCORE_DOT) return attn_grads_gemm(k, &p, gs, gq, gk);
    return AG_OK;
}

static ag_node *sample_attention_weights(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_attention_weights = {.name = "attention_weights",
                                       .n_aux = AUX_COUNT,
                                       .infer = attn_infer,
                                       .forward = attn_forward,
                                       .backward = attn_backward,
                                       .n_samples = 18,
                                       .sample = sample_attention_weights};

ag_node *ag_attention_weights(ag_graph *g, ag_node *query, ag_node *key, ag_node *value_mask,
                              ag_node *scale, ag_node *concat_weight, const ag_attention_opts *opts)
{
    if (!g) return NULL;
    static const ag_attention_opts defaults = {.mode = AG_SCORE_DOT};
    if (!opts) opts = &defaults;
    attn_params P = {.mode = opts->mode,
                     .causal = opts->causal != 0,
                     .dropout = opts->dropout,
                     .seed = opts->seed,
                     .heads = opts->heads > 1 ? opts->heads : 1,
                     .mask_rank = 2,
                     .zero_masked = opts->zero_masked != 0,
                     .i_mask = -1,
                     .i_scale = -1,
                     .i_w = -1};
    ag_node *in[5] = {query, key};
    int n = 2;
    if (value_mask) {
        const int r = ag_node_shape(value_mask)->rank;
        if (r != 2 && r != 3) {
            char a[96];
            ag__fail(g, AG_ERR_SHAPE,
                     "attention_weights: the mask must be (batch_size, Tv) or (batch_size, Tq, "
                     "Tv), received %s",
                     ag__sstr(ag_node_shape(value_mask), a, sizeof a));
            return NULL;
        }
        P.mask_rank = r;
        P.i_mask = n, in[n++] = value_mask;
    }
    if (scale) P.i_scale = n, in[n++] = scale;
    if (concat_weight) P.i_w = n, in[n++] = concat_weight;
    return ag_apply(g, &ag_op_attention_weights, in, n, &P, sizeof P);
}

/* ---- the attention call ---- */

ag_node *ag_attention(ag_graph *g, ag_node *query, ag_node *value, ag_node *key,
                      ag_node *query_mask, ag_node *value_mask, ag_node *scale,
                      ag_node *concat_weight, const ag_attention_opts *opts, ag_node **weights_out)
{
    if (weights_out) *weights_out = NULL;
    if (!g) return NULL;
    if (!query || !value) {
        if (ag_graph_status(g) == AG_OK)
            ag__fail(g, AG_ERR_ARG, "attention: %s node is NULL", query ? "value" : "query");
        return NULL;
    }
    char a[96], b[96];
    const ag_shape *qs = ag_node_shape(query), *vs = ag_node_shape(value);
    const ag_shape *ks = key ? ag_node_shape(key) : vs;
    if (vs->rank != 3) {
        ag__fail(g, AG_ERR_SHAPE,
                 "attention: value must have rank 3 (batch_size, Tv, dim), received rank %d "
                 "with shape %s",
                 vs->rank, ag__sstr(vs, a, sizeof a));
        return NULL;
    }
    if (qs->rank == 3 && !ag__dim_compat(qs->dim[0], vs->dim[0])) {
        ag__fail(g, AG_ERR_SHAPE,
                 "attention: query and value must have the same batch size, received query %s "
                 "and value %s",
                 ag__sstr(qs, a, sizeof a), ag__sstr(vs, b, sizeof b));
        return NULL;
    }
    if (key && ks->rank == 3 && !ag__dim_compat(ks->dim[1], vs->dim[1])) {
        ag__fail(g, AG_ERR_SHAPE,
                 "attention: key and value must have the same Tv (axis 1), received key %s and "
                 "value %s",
                 ag__sstr(ks, a, sizeof a), ag__sstr(vs, b, sizeof b));
        return NULL;
    }
    if (query_mask && opts && opts->heads > 1) {
        ag__fail(g, AG_ERR_ARG,
                 "attention: with heads folded into the batch (heads = %d), give the query mask "
                 "as part of a (batch_size, Tq, Tv) attention mask",
                 opts->heads);
        return NULL;
    }
    if (query_mask) {
        const ag_shape *m = ag_node_shape(query_mask);
        int64_t B = qs->rank == 3 ? qs->dim[0] : -1, Tq = qs->rank == 3 ? qs->dim[1] : -1;
        if (m->rank != 2 || !ag__dim_compat(m->dim[0], B) || !ag__dim_compat(m->dim[1], Tq)) {
            int64_t want[2] = {B, Tq};
            ag__fail(g, AG_ERR_SHAPE,
                     "attention: query_mask must have shape (batch_size, Tq) = %s, received %s",
                     ag_shape_str(2, want, a, sizeof a), ag__sstr(m, b, sizeof b));
            return NULL;
        }
    }
    static const ag_attention_opts defaults = {.mode = AG_SCORE_DOT};
    const ag_attention_opts *o = opts ? opts : &defaults;
    ag_node *w = NULL, *out;
    if (o->mode == AG_SCORE_DOT && !concat_weight && !weights_out) {
        /* the weights are not wanted: the fused call never stores them */
        out = ag__dot_attention(g, query, key ? key : value, value, value_mask, scale, o);
    } else {
        w = ag_attention_weights(g, query, key ? key : value, value_mask, scale, concat_weight, o);
        out = ag_matmul(g, w, value, 0, 0);
    }
    if (query_mask) {
        /* Keras: result *= cast(expand_dims(query_mask, -1)) */
        ag_node *m = ag_expand_dims(g, ag_cast_float(g, query_mask), -1);
        out = ag_mul(g, out, m);
    }
    if (weights_out && out) *weights_out = w;
    return out;
}

/* ---- gradient-check samples ----
 * Variant v: mode v % 3; options v / 3: 0 plain; 1 scale (and concat weight)
 * with a value mask; 2 causal with a value mask and scale; 3 training-mode
 * dropout with scale and causal; 4 MultiHeadAttention's form: heads folded
 * into the batch, a (B/H,Tq,Tv) mask with a fully masked row, zero_masked;
 * 5 the same with a (B/H,Tv) mask, causal and dropout. Shapes are drawn from
 * the seed. Without zero_masked the value mask always keeps key 0, so no row
 * is fully masked (a fully masked row's scores sit near -1e9, where finite
 * differences lose all precision); with it such a row is a constant 0. */
static ag_node *sample_heads(ag_graph *g, ag_rng *rng, int64_t B, int64_t Tq, int64_t Tv, int64_t D,
                             ag_attention_opts *o, int full_mask, uint64_t seed)
{
    const int64_t H = 2;
    o->heads = (int)H;
    o->zero_masked = 1;
    ag_node *q = ag__sample_var(g, "query", 3, (int64_t[]){B * H, Tq, D}, -1, 1, seed, 1);
    ag_node *k = ag__sample_var(g, "key", 3, (int64_t[]){B * H, Tv, D}, -1, 1, seed, 2);
    ag_tensor *m = full_mask ? ag_tensor_new(AG_BOOL, 3, (int64_t[]){B, Tq, Tv}, NULL)
                             : ag_tensor_new(AG_BOOL, 2, (int64_t[]){B, Tv}, NULL);
    if (!m) return NULL;
    for (int64_t i = 0; i < m->size; i++)
        AG_U8(m)[i] = (uint8_t)ag_rng_below(rng, 3) != 0;
    if (full_mask)
        for (int64_t j = 0; j < Tv; j++) /* query row 0 of batch 0 sees no key */
            AG_U8(m)[j] = 0;
    ag_node *mask = ag_constant(g, m);
    ag_tensor_free(m);
    if (!full_mask) {
        o->causal = 1;
        o->dropout = 0.3;
        ag_graph_set_training(g, 1);
    }
    return ag_attention_weights(g, q, k, mask, NULL, NULL, o);
}

static ag_node *sample_attention_weights(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng rng;
    ag_rng_init(&rng, seed, 0x6174746eULL + (uint64_t)variant);
    int64_t B = 1 + (int64_t)ag_rng_below(&rng, 2), Tq = 1 + (int64_t)ag_rng_below(&rng, 4);
    int64_t Tv = 1 + (int64_t)ag_rng_below(&rng, 4), D = 1 + (int64_t)ag_rng_below(&rng, 4);
    ag_attention_opts o = {.mode = (ag_score_mode)(variant % 3), .seed = seed};
    int opt = variant / 3;
    if (opt >= 4) return sample_heads(g, &rng, B, Tq, Tv, D, &o, opt == 4, seed);
    ag_node *q = ag__sample_var(g, "query", 3, (int64_t[]){B, Tq, D}, -1, 1, seed, 1);
    ag_node *k = ag__sample_var(g, "key", 3, (int64_t[]){B, Tv, D}, -1, 1, seed, 2);
    ag_node *mask = NULL, *scale = NULL, *w = NULL;
    if (opt >= 1) {
        int64_t sshape[1] = {o.mode == AG_SCORE_ADDITIVE ? D : 1};
        scale = ag__sample_var(g, "scale", o.mode == AG_SCORE_ADDITIVE ? 1 : 0, sshape, 0.5, 1.5,
                               seed, 3);
        if (o.mode == AG_SCORE_CONCAT && opt == 1)
            w = ag__sample_var(g, "concat_weight", 1, (int64_t[]){1}, 0.5, 1.5, seed, 4);
    }
    if (opt == 1 || opt == 2) {
        ag_tensor *m = ag_tensor_new(AG_BOOL, 2, (int64_t[]){B, Tv}, NULL);
        if (!m) return NULL;
        for (int64_t i = 0; i < m->size; i++)
            AG_U8(m)[i] = i % Tv == 0 || ag_rng_below(&rng, 3);
        mask = ag_constant(g, m);
        ag_tensor_free(m);
    }
    o.causal = opt >= 2;
    if (opt == 3) {
        o.dropout = 0.3;
        ag_graph_set_training(g, 1);
    }
    return ag_attention_weights(g, q, k, mask, scale, w, &o);
}
