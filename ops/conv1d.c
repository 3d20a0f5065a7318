/* conv1d.c — 1-D convolution (cross-correlation, as in Keras) with stride.
 *
 *   x (B,T,C), w (K,C,F), bias (F) or none, mask (B,T) or none -> z (B,T',F)
 *   z[b,t,f]  = bias[f] + Σ_k Σ_c xp[b, t·s+k, c] · w[k,c,f]
 *   gx[b,u,c] = Σ_{t,k: t·s+k = u+pl} Σ_f gz[b,t,f] · w[k,c,f]
 *   gw[k,c,f] = Σ_b Σ_t xp[b, t·s+k, c] · gz[b,t,f]
 *   gbias[f]  = Σ_b Σ_t gz[b,t,f]
 * where xp is x (times its mask: x·m[..., None], bit for bit that product,
 * with gx = (the above)·m and gm = Σ_c x·(the above)) padded with pl zero
 * rows on the left (and zeros on the right as needed), by TensorFlow's rules
 * (attograd.h):
 *   valid:  T' = floor((T-K)/s) + 1, pl = 0
 *   same:   T' = ceil(T/s), pad_total = max((T'-1)·s + K - T, 0), pl = pad_total/2
 *   causal: T' = ceil(T/s), pl = K-1
 *
 * Each product is one call of the blocked kernel in gemm.c: the window
 * xp[b, t·s .. t·s+K-1, :] is K·C contiguous numbers, so the forward pass is
 * a (T', K·C)·(K·C, F) product per batch reading xp's rows with a stride of
 * s·C (no im2col copy), and gw is the same windows transposed, reduced over
 * the batch. For stride 1, gx is the full correlation of gz (padded) with w
 * flipped along K; for larger strides it goes through gcol = gz·wᵀ and a
 * col2im gather in a fixed k order. Workspaces are aux tensors: 0 xp, 1 the
 * kernel's packing, 2 padded gz or gcol, 3 flipped w, 4 the gradient of
 * x·m (with a mask).
 */
#include "gemm.h"

#include <inttypes.h>

typedef struct {
    ag_padding padding;
    int stride;
    int bias, mask; /* the optional inputs present: in[2] bias, then the mask */
} conv_params;

/* The mask's input index (params say there is one). */
static int conv_mask_at(const conv_params *p) { return 2 + p->bias; }

/* Output length and left padding; tout -1 when T is unknown. */
static void conv_len(const conv_params *p, int64_t t, int64_t k, int64_t *tout, int64_t *pl)
{
    int64_t s = p->stride;
    *pl = 0;
    if (t < 0) {
        *tout = -1;
    } else if (p->padding == AG_PAD_VALID) {
        *tout = t >= k ? (t - k) / s + 1 : 0;
    } else {
        *tout = (t + s - 1) / s;
        if (p->padding == AG_PAD_CAUSAL) {
            *pl = k - 1;
        } else {
            int64_t total = (*tout - 1) * s + k - t;
            *pl = total > 0 ? total / 2 : 0;
        }
    }
}

static ag_status conv_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                            ag_shape *out, ag_error *err)
{
    (void)op;
    (void)n_in;
    const conv_params *p = params;
    const ag_shape *x = &in[0], *w = &in[1], *bias = p->bias ? &in[2] : NULL,
                   *m = p->mask ? &in[conv_mask_at(p)] : NULL;
    char a[96], b[96];
    if (!ag_dtype_is_float(x->dtype) || w->dtype != x->dtype || (bias && bias->dtype != x->dtype) ||
        (m && m->dtype != x->dtype))
        return ag_error_set(err, AG_ERR_DTYPE,
                            "x, w%s must be float tensors of one dtype, received %s, %s%s%s%s%s",
                            bias && m ? ", bias and the mask"
                            : bias    ? " and bias"
                            : m       ? " and the mask"
                                      : "",
                            ag_dtype_name(x->dtype), ag_dtype_name(w->dtype), bias ? ", " : "",
                            bias ? ag_dtype_name(bias->dtype) : "", m ? ", " : "",
                            m ? ag_dtype_name(m->dtype) : "");
    if (x->rank != 3)
        return ag_error_set(err, AG_ERR_SHAPE, "x must be (B,T,C), received shape %s",
                            ag__sstr(x, a, sizeof a));
    if (w->rank != 3 || w->dim[0] < 1)
        return ag_error_set(err, AG_ERR_SHAPE, "w must be (K,C,F) with K >= 1, received shape %s",
                            ag__sstr(w, a, sizeof a));
    if (!ag__dim_compat(x->dim[2], w->dim[1]))
        return ag_error_set(
            err, AG_ERR_SHAPE, "x %s has C=%" PRId64 " channels but w %s expects C=%" PRId64,
            ag__sstr(x, a, sizeof a), x->dim[2], ag__sstr(w, b, sizeof b), w->dim[1]);
    if (bias && (bias->rank != 1 || !ag__dim_compat(bias->dim[0], w->dim[2])))
        return ag_error_set(err, AG_ERR_SHAPE,
                            "bias must be (F) with F=%" PRId64 " (w %s), received shape %s",
                            w->dim[2], ag__sstr(w, a, sizeof a), ag__sstr(bias, b, sizeof b));
    if (m && (m->rank != 2 || !ag__dim_compat(m->dim[0], x->dim[0]) ||
              !ag__dim_compat(m->dim[1], x->dim[1])))
        return ag_error_set(err, AG_ERR_SHAPE, "the mask must be (B,T) of x %s, received shape %s",
                            ag__sstr(x, a, sizeof a), ag__sstr(m, b, sizeof b));
    int64_t tout, pl;
    conv_len(p, x->dim[1], w->dim[0], &tout, &pl);
    if (p->padding == AG_PAD_VALID && x->dim[1] >= 0 && x->dim[1] < w->dim[0])
        return ag_error_set(err, AG_ERR_SHAPE,
                            "padding 'valid' needs T >= K, received x %s and w %s (K=%" PRId64 ")",
                            ag__sstr(x, a, sizeof a), ag__sstr(w, b, sizeof b), w->dim[0]);
    out->dtype = x->dtype;
    out->rank = 3;
    out->dim[0] = x->dim[0];
    out->dim[1] = tout;
    out->dim[2] = w->dim[2];
    return AG_OK;
}

/* Run-time geometry. xp is x itself when no padding is needed. */
typedef struct {
    int64_t b, t, c, k, f, s, tout, pl, tp;
    int direct;
} conv_geo;

static conv_geo conv_get(const ag_kernel_ctx *k)
{
    const conv_params *p = k->params;
    conv_geo g = {.b = k->in[0]->shape[0],
                  .t = k->in[0]->shape[1],
                  .c = k->in[0]->shape[2],
                  .k = k->in[1]->shape[0],
                  .f = k->in[1]->shape[2],
                  .s = p->stride};
    conv_len(p, g.t, g.k, &g.tout, &g.pl);
    g.tp = g.tout > 0 ? (g.tout - 1) * g.s + g.k : 0;
    g.direct = g.pl == 0 && g.tp <= g.t && !p->mask;
    if (g.direct) g.tp = g.t;
    return g;
}

/* src (B,T,W) -> dst (B,Tp,W) with dst[b,u] = src[b,u-shift], zero outside */
static void pad_rows(const void *src, void *dst, int64_t b, int64_t t, int64_t tp, int64_t shift,
                     int64_t w, size_t esize)
{
    size_t row = (size_t)w * esize;
    AG_PARALLEL_FOR(b * tp * w)
    for (int64_t q = 0; q < b * tp; q++) {
        int64_t bb = q / tp, u = q % tp - shift;
        char *d = (char *)dst + (size_t)q * row;
        if (u >= 0 && u < t)
            memcpy(d, (const char *)src + (size_t)(bb * t + u) * row, row);
        else
            memset(d, 0, row);
    }
}

#define MASK_KERNELS(T)                                                                            \
    /* xp[b,u] = x[b,u-pl]·m[b,u-pl], zero outside (the product ag_mul makes) */                  \
    static void conv_mask_rows_##T(const T *x, const T *m, T *xp, const conv_geo *g)               \
    {                                                                                              \
        AG_PARALLEL_FOR(g->b * g->tp * g->c)                                                       \
        for (int64_t q = 0; q < g->b * g->tp; q++) {                                               \
            const int64_t bb = q / g->tp, u = q % g->tp - g->pl;                                   \
            T *d = xp + q * g->c;                                                                  \
            if (u >= 0 && u < g->t) {                                                              \
                const T *s = x + (bb * g->t + u) * g->c, mu = m[bb * g->t + u];                    \
                for (int64_t c = 0; c < g->c; c++)                                                 \
                    d[c] = s[c] * mu;                                                              \
            } else {                                                                               \
                memset(d, 0, (size_t)g->c * sizeof(T));                                            \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* from gy (B,T,C), the gradient of x·m: gx += gy·m, gm += Σ_c gy·x */                     \
    static void conv_mask_grad_##T(const T *gy, const T *x, const T *m, T *gx, T *gm,              \
                                   const conv_geo *g)                                              \
    {                                                                                              \
        AG_PARALLEL_FOR(g->b * g->t * g->c)                                                        \
        for (int64_t r = 0; r < g->b * g->t; r++) {                                                \
            const T *gr = gy + r * g->c, mu = m[r];                                                \
            if (gx)                                                                                \
                for (int64_t c = 0; c < g->c; c++)                                                 \
                    gx[r * g->c + c] += gr[c] * mu;                                                \
            if (gm) {                                                                              \
                double s = 0;                                                                      \
                for (int64_t c = 0; c < g->c; c++)                                                 \
                    s += (double)gr[c] * x[r * g->c + c];                                          \
                gm[r] += (T)s;                                                                     \
            }                                                                                      \
        }                                                                                          \
    }
MASK_KERNELS(float)
MASK_KERNELS(double)

/* The padded input of the forward pass (kept for the backward pass). */
static const void *conv_xp(ag_kernel_ctx *k, const conv_geo *g, int fill)
{
    if (g->direct) return k->in[0]->data;
    int64_t shape[3] = {g->b, g->tp, g->c};
    ag_tensor *xp = ag_kernel_aux(k, 0, k->out->dtype, 3, shape);
    if (!xp) return NULL;
    if (fill) {
        const conv_params *p = k->params;
        const ag_tensor *m = p->mask ? k->in[conv_mask_at(p)] : NULL;
        if (m && m->dtype == AG_FLOAT32)
            conv_mask_rows_float(AG_F32(k->in[0]), AG_F32(m), AG_F32(xp), g);
        else if (m)
            conv_mask_rows_double(AG_F64(k->in[0]), AG_F64(m), AG_F64(xp), g);
        else
            pad_rows(k->in[0]->data, xp->data, g->b, g->t, g->tp, g->pl, g->c,
                     ag_dtype_size(k->out->dtype));
    }
    return xp->data;
}

static ag_status conv_gemm(ag_kernel_ctx *k, ag__gemm *gp)
{
    int64_t shape[1] = {ag__gemm_pack_size(gp, k->out->dtype)};
    ag_tensor *pack = ag_kernel_aux(k, 1, k->out->dtype, 1, shape);
    if (!pack) return k->err->code;
    ag__gemm_run(gp, k->out->dtype, pack->data);
    return AG_OK;
}

#define CONV_KERNELS(T)                                                                            \
    /* z (rows,F) = bias broadcast */                                                              \
    static void conv_bias_fill_##T(const T *bias, T *z, int64_t rows, int64_t f)                   \
    {                                                                                              \
        AG_PARALLEL_FOR(rows *f)                                                                   \
        for (int64_t r = 0; r < rows; r++)                                                         \
            memcpy(z + r * f, bias, (size_t)f * sizeof(T));                                        \
    }                                                                                              \
    /* gbias (F) += Σ_rows gz (rows,F), rows in order, parallel over column blocks (the sums      \
     * in registers: gb may alias gz as far as the compiler knows, so adding into gb[c] would      \
     * store and reload it for every row) */                                                       \
    static void conv_bias_grad_##T(const T *gz, T *gb, int64_t rows, int64_t f)                    \
    {                                                                                              \
        int64_t nblk = (f + 15) / 16;                                                              \
        AG_PARALLEL_FOR(rows *f)                                                                   \
        for (int64_t blk = 0; blk < nblk; blk++) {                                                 \
            int64_t c0 = blk * 16, n = f - c0 < 16 ? f - c0 : 16;                                  \
            T acc[16];                                                                             \
            for (int64_t c = 0; c < n; c++)                                                        \
                acc[c] = gb[c0 + c];                                                               \
            if (n == 16)                                                                           \
                for (int64_t r = 0; r < rows; r++)                                                 \
                    for (int c = 0; c < 16; c++)                                                   \
                        acc[c] += gz[r * f + c0 + c];                                              \
            else                                                                                   \
                for (int64_t r = 0; r < rows; r++)                                                 \
                    for (int64_t c = 0; c < n; c++)                                                \
                        acc[c] += gz[r * f + c0 + c];                                              \
            for (int64_t c = 0; c < n; c++)                                                        \
                gb[c0 + c] = acc[c];                                                               \
        }                                                                                          \
    }                                                                                              \
    /* w (K,C,F) -> wf (K,F,C), wf[k',f,c] = w[K-1-k',c,f] */                                      \
    static void conv_flip_##T(const T *w, T *wf, int64_t kk, int64_t c, int64_t f)                 \
    {                                                                                              \
        AG_PARALLEL_FOR(kk *c *f)                                                                  \
        for (int64_t q = 0; q < kk * f; q++) {                                                     \
            int64_t k2 = q / f, ff = q % f;                                                        \
            const T *src = w + (kk - 1 - k2) * c * f + ff;                                         \
            for (int64_t cc = 0; cc < c; cc++)                                                     \
                wf[q * c + cc] = src[cc * f];                                                      \
        }                                                                                          \
    }                                                                                              \
    /* gcol (B,T',K,C) -> gx (B,T,C) += Σ_k gcol[b, (u+pl-k)/s, k, :], k ascending */             \
    static void conv_col2im_##T(const T *gcol, T *gx, const conv_geo *g)                           \
    {                                                                                              \
        AG_PARALLEL_FOR(g->b * g->t * g->k * g->c)                                                 \
        for (int64_t q = 0; q < g->b * g->t; q++) {                                                \
            int64_t bb = q / g->t, u = q % g->t;                                                   \
            T *dst = gx + q * g->c;                                                                \
            for (int64_t kk = 0; kk < g->k; kk++) {                                                \
                int64_t pos = u + g->pl - kk;                                                      \
                if (pos < 0 || pos % g->s || pos / g->s >= g->tout) continue;                      \
                const T *src = gcol + ((bb * g->tout + pos / g->s) * g->k + kk) * g->c;            \
                for (int64_t cc = 0; cc < g->c; cc++)                                              \
                    dst[cc] += src[cc];                                                            \
            }                                                                                      \
        }                                                                                          \
    }
CONV_KERNELS(float)
CONV_KERNELS(double)

static ag_status conv_forward(ag_kernel_ctx *k)
{
    conv_geo g = conv_get(k);
    const void *xp = conv_xp(k, &g, 1);
    if (!xp) return k->err->code;
    int has_bias = ((const conv_params *)k->params)->bias;
    if (has_bias) {
        if (k->out->dtype == AG_FLOAT32)
            conv_bias_fill_float(AG_F32(k->in[2]), AG_F32(k->out), g.b * g.tout, g.f);
        else
            conv_bias_fill_double(AG_F64(k->in[2]), AG_F64(k->out), g.b * g.tout, g.f);
    }
    /* z[b] (T',F) (+)= windows (T',K·C) · w (K·C,F) */
    ag__gemm gp = {.batch = g.b,
                   .rbatch = 1,
                   .m = g.tout,
                   .n = g.f,
                   .k = g.k * g.c,
                   .a = xp,
                   .a_bs = g.tp * g.c,
                   .a_rs = g.s * g.c,
                   .a_cs = 1,
                   .b = k->in[1]->data,
                   .b_rs = g.f,
                   .b_cs = 1,
                   .c = k->out->data,
                   .c_bs = g.tout * g.f,
                   .c_rs = g.f,
                   .accumulate = has_bias};
    return conv_gemm(k, &gp);
}

static ag_status conv_backward(ag_kernel_ctx *k)
{
    conv_geo g = conv_get(k);
    ag_dtype dt = k->out->dtype;
    ag_status st = AG_OK;
    const conv_params *cp = k->params;
    const ag_tensor *mask = cp->mask ? k->in[conv_mask_at(cp)] : NULL;
    ag_tensor *gmask = cp->mask ? k->gin[conv_mask_at(cp)] : NULL;
    if (cp->bias && k->gin[2]) {
        if (dt == AG_FLOAT32)
            conv_bias_grad_float(AG_F32(k->gout), AG_F32(k->gin[2]), g.b * g.tout, g.f);
        else
            conv_bias_grad_double(AG_F64(k->gout), AG_F64(k->gin[2]), g.b * g.tout, g.f);
    }
    if (k->gin[1]) { /* gw (K·C,F) += Σ_b windows[b]ᵀ (K·C,T') · gz[b] (T',F) */
        const void *xp = conv_xp(k, &g, 0);
        if (!xp) return k->err->code;
        ag__gemm gp = {.batch = 1,
                       .rbatch = g.b,
                       .m = g.k * g.c,
                       .n = g.f,
                       .k = g.tout,
                       .a = xp,
                       .a_rbs = g.tp * g.c,
                       .a_rs = 1,
                       .a_cs = g.s * g.c,
                       .b = k->gout->data,
                       .b_rbs = g.tout * g.f,
                       .b_rs = g.f,
                       .b_cs = 1,
                       .c = k->gin[1]->data,
                       .c_rs = g.f,
                       .accumulate = 1};
        st = conv_gemm(k, &gp);
    }
    /* the gradient of xp's rows: into gx, or with a mask into gy, the
     * gradient of x·m, then gx += gy·m (and gm) */
    void *gy = k->gin[0] ? k->gin[0]->data : NULL;
    if (mask && (k->gin[0] || gmask)) {
        ag_tensor *t = ag_kernel_aux(k, 4, dt, 3, k->in[0]->shape);
        if (!t) return k->err->code;
        gy = t->data;
        if (g.s > 1) ag_tensor_zero(t); /* col2im adds */
    }
    if (!st && gy && g.s == 1) {
        /* gx[b] (T,C) += gzp[b] windows (T,K·F) · wf (K·F,C), where gzp is gz
         * shifted right by K-1-pl and wf is w flipped along K */
        int64_t tz = g.t + g.k - 1, zs[3] = {g.b, tz, g.f}, ws[3] = {g.k, g.f, g.c};
        ag_tensor *gzp = ag_kernel_aux(k, 2, dt, 3, zs), *wf = ag_kernel_aux(k, 3, dt, 3, ws);
        if (!gzp || !wf) return k->err->code;
        pad_rows(k->gout->data, gzp->data, g.b, g.tout, tz, g.k - 1 - g.pl, g.f, ag_dtype_size(dt));
        if (dt == AG_FLOAT32)
            conv_flip_float(AG_F32(k->in[1]), AG_F32(wf), g.k, g.c, g.f);
        else
            conv_flip_double(AG_F64(k->in[1]), AG_F64(wf), g.k, g.c, g.f);
        ag__gemm gp = {.batch = g.b,
                       .rbatch = 1,
                       .m = g.t,
                       .n = g.c,
                       .k = g.k * g.f,
                       .a = gzp->data,
                       .a_bs = tz * g.f,
                       .a_rs = g.f,
                       .a_cs = 1,
                       .b = wf->data,
                       .b_rs = g.c,
                       .b_cs = 1,
                       .c = gy,
                       .c_bs = g.t * g.c,
                       .c_rs = g.c,
                       .accumulate = !mask};
        st = conv_gemm(k, &gp);
    } else if (!st && gy) {
        /* gcol (B·T', K·C) = gz (B·T',F) · wᵀ (F,K·C), then gathered into gx */
        int64_t cs[2] = {g.b * g.tout, g.k * g.c};
        ag_tensor *gcol = ag_kernel_aux(k, 2, dt, 2, cs);
        if (!gcol) return k->err->code;
        ag__gemm gp = {.batch = 1,
                       .rbatch = 1,
                       .m = cs[0],
                       .n = cs[1],
                       .k = g.f,
                       .a = k->gout->data,
                       .a_rs = g.f,
                       .a_cs = 1,
                       .b = k->in[1]->data,
                       .b_rs = 1,
                       .b_cs = g.f,
                       .c = gcol->data,
                       .c_rs = cs[1]};
        st = conv_gemm(k, &gp);
        if (!st && dt == AG_FLOAT32) conv_col2im_float(AG_F32(gcol), gy, &g);
        if (!st && dt == AG_FLOAT64) conv_col2im_double(AG_F64(gcol), gy, &g);
    }
    if (!st && mask && gy) {
        if (dt == AG_FLOAT32)
            conv_mask_grad_float(gy, AG_F32(k->in[0]), AG_F32(mask),
                                 k->gin[0] ? AG_F32(k->gin[0]) : NULL, gmask ? AG_F32(gmask) : NULL,
                                 &g);
        else
            conv_mask_grad_double(gy, AG_F64(k->in[0]), AG_F64(mask),
                                  k->gin[0] ? AG_F64(k->gin[0]) : NULL,
                                  gmask ? AG_F64(gmask) : NULL, &g);
    }
    return st;
}

static ag_node *sample_conv1d(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_conv1d = {.name = "conv1d",
                            .n_aux = 5,
                            .infer = conv_infer,
                            .forward = conv_forward,
                            .backward = conv_backward,
                            .n_samples = 13,
                            .sample = sample_conv1d};

ag_node *ag_conv1d_masked(ag_graph *g, ag_node *x, ag_node *mask, ag_node *w, ag_node *bias,
                          ag_padding padding, int stride)
{
    if (!g) return NULL;
    if (!x || !w) return ag_apply(g, &ag_op_conv1d, (ag_node *[]){x, w}, 2, NULL, 0);
    if (padding != AG_PAD_VALID && padding != AG_PAD_SAME && padding != AG_PAD_CAUSAL) {
        ag__fail(g, AG_ERR_ARG, "conv1d: padding must be valid, same or causal (0-2), received %d",
                 (int)padding);
        return NULL;
    }
    if (stride < 1) {
        ag__fail(g, AG_ERR_ARG, "conv1d: stride must be >= 1, received %d", stride);
        return NULL;
    }
    conv_params p = {padding, stride, bias != NULL, mask != NULL};
    ag_node *in[4] = {x, w};
    int n = 2;
    if (bias) in[n++] = bias;
    if (mask) in[n++] = mask;
    return ag_apply(g, &ag_op_conv1d, in, n, &p, sizeof p);
}

ag_node *ag_conv1d_strided(ag_graph *g, ag_node *x, ag_node *w, ag_node *bias, ag_padding padding,
                           int stride)
{
    return ag_conv1d_masked(g, x, NULL, w, bias, padding, stride);
}

ag_node *ag_conv1d(ag_graph *g, ag_node *x, ag_node *w, ag_node *bias, ag_padding padding)
{
    return ag_conv1d_strided(g, x, w, bias, padding, 1);
}

/* A dim in [lo, hi] from r. */
static int64_t sample_dim(ag_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)ag_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* Samples: each padding with an odd and an even kernel, strides 1 to 3,
 * with and without bias. B 1 to 3, C and F 1 to 4, and T (K to K+5 for
 * 'valid', 1 to 9 otherwise, so shorter than the kernel too) are drawn from
 * (seed, variant); variant 10 has F 17 to 24, several column blocks; 11 has
 * a mask of weights in [0.5, 1.5) that is a variable too, 12 a constant 0/1
 * mask at stride 2. */
static ag_node *sample_conv1d(ag_graph *g, int variant, uint64_t seed)
{
    static const struct {
        ag_padding pad;
        int k, s, bias;
    } v[13] = {
        {AG_PAD_VALID, 3, 1, 1},  {AG_PAD_SAME, 3, 1, 1},   {AG_PAD_SAME, 4, 1, 1},
        {AG_PAD_CAUSAL, 2, 1, 1}, {AG_PAD_CAUSAL, 3, 1, 0}, {AG_PAD_VALID, 4, 2, 1},
        {AG_PAD_SAME, 4, 2, 1},   {AG_PAD_CAUSAL, 3, 3, 1}, {AG_PAD_SAME, 5, 2, 0},
        {AG_PAD_VALID, 2, 1, 0},  {AG_PAD_SAME, 4, 1, 1},   {AG_PAD_SAME, 4, 1, 1},
        {AG_PAD_CAUSAL, 3, 2, 0},
    };
    ag_rng r;
    ag_rng_init(&r, seed, 0x636f6e763164ULL + (uint64_t)variant);
    int64_t k = v[variant].k;
    int64_t t = v[variant].pad == AG_PAD_VALID ? sample_dim(&r, k, k + 5) : sample_dim(&r, 1, 9);
    int64_t c = sample_dim(&r, 1, 4),
            f = variant == 10 ? sample_dim(&r, 17, 24) : sample_dim(&r, 1, 4);
    int64_t xs[3] = {sample_dim(&r, 1, 3), t, c}, ws[3] = {k, c, f}, bs[1] = {f};
    ag_node *x = ag__sample_var(g, "x", 3, xs, -1, 1, seed, 1);
    ag_node *w = ag__sample_var(g, "w", 3, ws, -1, 1, seed, 2);
    ag_node *b = v[variant].bias ? ag__sample_var(g, "bias", 1, bs, -1, 1, seed, 3) : NULL;
    ag_node *m = NULL;
    if (variant == 11) {
        m = ag__sample_var(g, "mask", 2, xs, 0.5, 1.5, seed, 4);
    } else if (variant == 12) {
        m = ag__sample_mask(g, AG_FLOAT64, 2, xs, seed);
    }
    return ag_conv1d_masked(g, x, m, w, b, v[variant].pad, v[variant].s);
}
