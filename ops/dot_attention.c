/* dot_attention.c — Keras's dot-product attention call as one fused op that
 * never stores the (B,Tq,Tv) weights (ag_attention uses it for score_mode
 * dot; attention_weights in attention.c is the materialised form, for when
 * the weights themselves are wanted).
 *
 *   q (B,Tq,D), k (B,Tv,D), v (B,Tv,Dv), mask (B/H,Tv) or (B/H,Tq,Tv) or none,
 *   scale () or (1) or none -> out (B,Tq,Dv)
 *
 *   s_ij = c · q_i·k_j - 1e9 · masked_ij     (c = scale, or 1; masked as in attention.c)
 *   a_ij = e^(s_ij - max_j s) / Σ_j e^(s_ij - max_j s)   (0 where zero_masked and masked)
 *   z_ij = a_ij · keep_ij / (1-rate)          (training-mode dropout; else z = a)
 *   out_i = Σ_j z_ij v_j
 *
 * Forward, flash-style: blocks of QB query rows run in parallel; each walks
 * the keys in blocks of KB with an online softmax (running max m and sum l
 * per row, rescaling the partial output when m grows), on the GEMM kernel
 * for q·kᵀ and z·v. It keeps the row statistics (m, 1/l) and nothing else.
 *
 * Backward, from gout (B,Tq,Dv): δ_i = gout_i · out_i (= Σ_j ga_ij a_ij), and
 * per block the weights are recomputed from q, k and the statistics:
 *   gz = gout·vᵀ;  ga = gz·keep/(1-rate);  gs = a·(ga - δ)
 *   gv = zᵀ·gout;  gq = c·gs·k;  gk = c·gsᵀ·q;  gc = Σ gs·(q·kᵀ)
 * Dropout masks are regenerated from Philox (seed, step, (b·Tq+i)·Tv+j), the
 * draws attention_weights makes, so both ops drop the same weights.
 *
 * Memory: (B·Tq, 2) statistics, B partial scale gradients, and per thread
 * three QB x KB tiles, a QB x Dv accumulator and the GEMM's packing space.
 * Threads: forward over query blocks, backward over batch elements (each
 * one's gq, gk, gv rows summed in a fixed block order; the scale gradient
 * from per-batch partials in batch order): results do not depend on the
 * thread count.
 */
#include "attention.h"
#include "gemm.h"

#include <omp.h>

/* Blocks of 192 query rows (16 AVX-512 register tiles of 12) and 256 keys:
 * each packed block of k and v serves more rows than with 64 x 128 (15%
 * faster at T=128, 20% at T=1024; larger blocks measured no better). */
enum { DA_QB = 192, DA_KB = 256, DA_LANES = 16 };
enum { AUX_STATS, AUX_PART, AUX_WS, AUX_COUNT };

#define T   float
#define EXP attn_expf
#define DT  AG_FLOAT32
#include "dot_attention_t.inc"
#undef T
#undef EXP
#undef DT
#define T   double
#define EXP exp
#define DT  AG_FLOAT64
#include "dot_attention_t.inc"
#undef T
#undef EXP
#undef DT

/* in: q, k, v, then the mask and scale where the params say */
static ag_status da_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                          ag_shape *out, ag_error *err)
{
    (void)op;
    (void)n_in;
    ag_shape w;
    ag_status st = ag__attention_infer(params, in, &w, err);
    if (st) return st;
    const ag_shape *v = &in[2], *k = &in[1];
    char a[96], b[96];
    if (v->rank != 3)
        return ag_error_set(err, AG_ERR_SHAPE,
                            "value must have rank 3 (batch_size, Tv, dim), received rank %d with "
                            "shape %s",
                            v->rank, ag__sstr(v, a, sizeof a));
    if (v->dtype != in[0].dtype)
        return ag_error_set(err, AG_ERR_DTYPE, "value must have the query's dtype %s, received %s",
                            ag_dtype_name(in[0].dtype), ag_dtype_name(v->dtype));
    if (!ag__dim_compat(v->dim[0], w.dim[0]) || !ag__dim_compat(v->dim[1], k->dim[1]))
        return ag_error_set(err, AG_ERR_SHAPE,
                            "value must have the key's batch size and Tv, received key %s and "
                            "value %s",
                            ag__sstr(k, a, sizeof a), ag__sstr(v, b, sizeof b));
    *out = (ag_shape){.dtype = w.dtype, .rank = 3, .dim = {w.dim[0], w.dim[1], v->dim[2]}};
    return AG_OK;
}

/* Per-thread workspace, in elements of the dtype: three QB x KB tiles (or
 * two and the QB x Dv accumulator), two rows of QB, the QB x KB mask bytes,
 * and packing space for the largest block product. */
static int64_t ws_per_thread(const attn_run *p, int64_t Dv, ag_dtype dt)
{
    const int64_t es = dt == AG_FLOAT32 ? 4 : 8, D = p->D;
    const int64_t big = D > Dv ? D : Dv, span = big > DA_KB ? big : DA_KB;
    ag__gemm g = {.batch = 1,
                  .rbatch = 1,
                  .m = DA_QB > DA_KB ? DA_QB : DA_KB,
                  .n = span,
                  .k = span > DA_QB ? span : DA_QB};
    const int64_t tiles = 3 * DA_QB * DA_KB > 2 * DA_QB * DA_KB + DA_QB * Dv
                              ? 3 * DA_QB * DA_KB
                              : 2 * DA_QB * DA_KB + DA_QB * Dv;
    return tiles + 2 * DA_QB + (DA_QB * DA_KB + es - 1) / es + ag__gemm_serial_size(&g, dt) + 16;
}

static int threads_for(const attn_run *p, int64_t Dv, int64_t items)
{
    const double work = 4.0 * (double)p->B * (double)p->Tq * (double)p->Tv * (double)(p->D + Dv);
    int t = omp_get_max_threads();
    if (work < AG_PAR_MIN_WORK || t < 1) t = 1;
    return items < t ? (int)(items > 0 ? items : 1) : t;
}

static ag_tensor *workspace(ag_kernel_ctx *k, const attn_run *p, int64_t Dv, int threads,
                            int64_t *per)
{
    *per = ws_per_thread(p, Dv, k->out->dtype);
    int64_t n[1] = {*per * threads};
    return ag_kernel_aux(k, AUX_WS, k->out->dtype, 1, n);
}

static ag_status da_forward(ag_kernel_ctx *k)
{
    const attn_params *P = k->params;
    attn_run p = attn_setup(k);
    const ag_dtype dt = k->out->dtype;
    const int64_t Dv = k->in[2]->shape[2];
    const int threads = threads_for(&p, Dv, p.B * ((p.Tq + DA_QB - 1) / DA_QB));
    int64_t per, sshape[2] = {p.B * p.Tq, 2};
    ag_tensor *stats = ag_kernel_aux(k, AUX_STATS, dt, 2, sshape);
    ag_tensor *ws = stats ? workspace(k, &p, Dv, threads, &per) : NULL;
    if (!ws) return k->err->code;
    const ag_tensor *scale = P->i_scale >= 0 ? k->in[P->i_scale] : NULL;
    if (p.B * p.Tq == 0 || Dv == 0) return AG_OK;
    if (dt == AG_FLOAT32)
        forward_float(&p, Dv, AG_F32(k->in[0]), AG_F32(k->in[1]), AG_F32(k->in[2]),
                      scale ? AG_F32(scale)[0] : 1, AG_F32(k->out), AG_F32(stats), AG_F32(ws), per,
                      threads);
    else
        forward_double(&p, Dv, AG_F64(k->in[0]), AG_F64(k->in[1]), AG_F64(k->in[2]),
                       scale ? AG_F64(scale)[0] : 1, AG_F64(k->out), AG_F64(stats), AG_F64(ws), per,
                       threads);
    return AG_OK;
}

static ag_status da_backward(ag_kernel_ctx *k)
{
    const attn_params *P = k->params;
    attn_run p = attn_setup(k);
    const ag_dtype dt = k->out->dtype;
    const int64_t Dv = k->in[2]->shape[2];
    ag_tensor *gq = k->gin[0], *gk = k->gin[1], *gv = k->gin[2];
    ag_tensor *gscale = P->i_scale >= 0 ? k->gin[P->i_scale] : NULL;
    if (!gq && !gk && !gv && !gscale) return AG_OK;
    ag_tensor *stats = ag_kernel_saved(k, AUX_STATS);
    if (!stats->data) return ag_error_set(k->err, AG_ERR_STATE, "backward called before forward");
    const int threads = threads_for(&p, Dv, p.B);
    int64_t per, pshape[1] = {p.B > 0 ? p.B : 1};
    ag_tensor *part = gscale ? ag_kernel_aux(k, AUX_PART, dt, 1, pshape) : NULL;
    ag_tensor *ws = !gscale || part ? workspace(k, &p, Dv, threads, &per) : NULL;
    if (!ws) return k->err->code;
    const ag_tensor *scale = P->i_scale >= 0 ? k->in[P->i_scale] : NULL;
    if (p.B * p.Tq == 0) return AG_OK;
    if (dt == AG_FLOAT32)
        backward_float(&p, Dv, AG_F32(k->in[0]), AG_F32(k->in[1]), AG_F32(k->in[2]),
                       scale ? AG_F32(scale)[0] : 1, AG_F32(k->out), AG_F32(k->gout), AG_F32(stats),
                       gq ? AG_F32(gq) : NULL, gk ? AG_F32(gk) : NULL, gv ? AG_F32(gv) : NULL,
                       part ? AG_F32(part) : NULL, gscale ? AG_F32(gscale) : NULL, AG_F32(ws), per,
                       threads);
    else
        backward_double(&p, Dv, AG_F64(k->in[0]), AG_F64(k->in[1]), AG_F64(k->in[2]),
                        scale ? AG_F64(scale)[0] : 1, AG_F64(k->out), AG_F64(k->gout),
                        AG_F64(stats), gq ? AG_F64(gq) : NULL, gk ? AG_F64(gk) : NULL,
                        gv ? AG_F64(gv) : NULL, part ? AG_F64(part) : NULL,
                        gscale ? AG_F64(gscale) : NULL, AG_F64(ws), per, threads);
    return AG_OK;
}

static ag_node *sample_dot_attention(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_dot_attention = {.name = "dot_attention",
                                   .n_aux = AUX_COUNT,
                                   .infer = da_infer,
                                   .forward = da_forward,
                                   .backward = da_backward,
                                   .n_samples = 6,
                                   .sample = sample_dot_attention};

ag_node *ag__dot_attention(ag_graph *g, ag_node *query, ag_node *key, ag_node *value, ag_node *mask,
                           ag_node *scale, const ag_attention_opts *opts)
{
    if (!g) return NULL;
    attn_params P = {.mode = AG_SCORE_DOT,
                     .causal = opts->causal != 0,
                     .dropout = opts->dropout,
                     .seed = opts->seed,
                     .heads = opts->heads > 1 ? opts->heads : 1,
                     .mask_rank = 2,
                     .zero_masked = opts->zero_masked != 0,
                     .i_mask = -1,
                     .i_scale = -1,
                     .i_w = -1};
    ag_node *in[5] = {query, key, value};
    int n = 3;
    if (mask) {
        P.mask_rank = ag_node_shape(mask)->rank;
        if (P.mask_rank != 2 && P.mask_rank != 3) {
            char a[96];
            ag__fail(g, AG_ERR_SHAPE,
                     "attention: the mask must be (batch_size, Tv) or (batch_size, Tq, Tv), "
                     "received %s",
                     ag__sstr(ag_node_shape(mask), a, sizeof a));
            return NULL;
        }
        P.i_mask = n, in[n++] = mask;
    }
    if (scale) P.i_scale = n, in[n++] = scale;
    return ag_apply(g, &ag_op_dot_attention, in, n, &P, sizeof P);
}

/* ---- gradient-check samples ----
 * Variant 0: plain; 1: scale and a value mask; 2: causal, scale, a value
 * mask; 3: training-mode dropout, causal; 4: heads folded into the batch
 * with a (B/H,Tq,Tv) mask and zero_masked (one row fully masked); 5: more
 * keys than one block (Tv 260 > KB) with a value mask. The value mask always
 * keeps key 0 where rows may not be fully masked. */
static ag_node *sample_dot_attention(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng rng;
    ag_rng_init(&rng, seed, 0x646f7461ULL + (uint64_t)variant);
    const int64_t H = variant == 4 ? 2 : 1;
    int64_t B = H * (1 + (int64_t)ag_rng_below(&rng, 2)), Tq = 1 + (int64_t)ag_rng_below(&rng, 4);
    int64_t Tv = variant == 5 ? 260 : 1 + (int64_t)ag_rng_below(&rng, 4);
    int64_t D = 1 + (int64_t)ag_rng_below(&rng, 4), Dv = 1 + (int64_t)ag_rng_below(&rng, 3);
    ag_attention_opts o = {.mode = AG_SCORE_DOT, .seed = seed, .heads = (int)H};
    ag_node *q = ag__sample_var(g, "query", 3, (int64_t[]){B, Tq, D}, -1, 1, seed, 1);
    ag_node *k = ag__sample_var(g, "key", 3, (int64_t[]){B, Tv, D}, -1, 1, seed, 2);
    ag_node *v = ag__sample_var(g, "value", 3, (int64_t[]){B, Tv, Dv}, -1, 1, seed, 3);
    ag_node *mask = NULL, *scale = NULL;
    if (variant == 1 || variant == 2)
        scale = ag__sample_var(g, "scale", 0, (int64_t[]){1}, 0.5, 1.5, seed, 4);
    if (variant == 1 || variant == 2 || variant == 4 || variant == 5) {
        ag_tensor *m = variant == 4 ? ag_tensor_new(AG_BOOL, 3, (int64_t[]){B / H, Tq, Tv}, NULL)
                                    : ag_tensor_new(AG_BOOL, 2, (int64_t[]){B, Tv}, NULL);
        if (!m) return NULL;
        for (int64_t i = 0; i < m->size; i++)
            AG_U8(m)[i] = (variant != 4 && i % Tv == 0) || ag_rng_below(&rng, 3);
        if (variant == 4) {
            o.zero_masked = 1;
            for (int64_t j = 0; j < Tv; j++)
                AG_U8(m)[j] = 0;
        }
        mask = ag_constant(g, m);
        ag_tensor_free(m);
    }
    o.causal = variant == 2 || variant == 3;
    if (variant == 3) {
        o.dropout = 0.3;
        ag_graph_set_training(g, 1);
    }
    return ag__dot_attention(g, q, k, v, mask, scale, &o);
}
