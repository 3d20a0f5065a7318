/* attention.h — what the two attention ops share (ops/attention.c: the
 * weights, materialised; ops/dot_attention.c: the dot-product call, fused):
 * the run description, the mask and dropout rules, and the float32 tanh and
 * exp the kernels vectorise. Not part of any interface. */
#ifndef AG_OPS_ATTENTION_H
#define AG_OPS_ATTENTION_H

#include "../framework/internal.h"

#include <math.h>

/* AG_CLONES before a hot serial kernel compiles it for AVX-512, AVX2 and the
 * x86-64 baseline, the loader picking the best the CPU has (an ifunc), so a
 * portable build runs what a -march=native one does. (Not under
 * AddressSanitizer, whose instrumentation runs too late for a resolver; and
 * not in a build that already targets AVX2 or better, -march=native: there
 * the clones would be worse than the build's own code, since they cannot
 * inline its functions and x86-64-v4's generic tuning prefers 256-bit
 * vectors; measured 12% slower on additive attention.) */
#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute) &&                       \
    !defined(__SANITIZE_ADDRESS__) && !defined(__AVX2__)
#if __has_attribute(target_clones)
#define AG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#endif
/* AG_NOINLINE keeps a kernel out of its caller (where it would not
 * vectorise); cloned kernels are never inlined, and clang refuses both. */
#ifndef AG_CLONES
#define AG_CLONES
#define AG_NOINLINE __attribute__((noinline))
#else
#define AG_NOINLINE
#endif

/* The parameters of both ops (dot_attention: mode dot, no concat weight). */
typedef struct attn_params {
    ag_score_mode mode;
    int causal;
    double dropout;
    uint64_t seed;
    int64_t heads;            /* the mask's batch is the batch / heads          */
    int mask_rank;            /* 2: (B/H,Tv), 3: (B/H,Tq,Tv)                    */
    int zero_masked;          /* masked weights are 0 after the softmax         */
    int i_mask, i_scale, i_w; /* input positions, -1 when absent                */
} attn_params;

/* What the kernels need, independent of the float type. */
typedef struct attn_run {
    int64_t B, Tq, Tv, D;
    ag_score_mode mode;
    int causal;
    const ag_tensor *mask; /* (B/H,Tv) or (B/H,Tq,Tv), any dtype, nonzero = true; or NULL */
    int64_t heads;
    int mask3, zero_masked;
    int drop; /* dropout active */
    double rate;
    uint64_t seed, step;
} attn_run;

static inline int attn_mask_on(const ag_tensor *m, int64_t i)
{
    switch (m->dtype) {
    case AG_BOOL: return AG_U8(m)[i] != 0;
    case AG_INT32: return AG_I32(m)[i] != 0;
    case AG_INT64: return AG_I64(m)[i] != 0;
    case AG_FLOAT32: return AG_F32(m)[i] != 0;
    case AG_FLOAT64: return AG_F64(m)[i] != 0;
    }
    return 1;
}

/* Query i may not attend to key j (the mask false, or causal and j > i). */
static inline int attn_masked(const attn_run *p, int64_t b, int64_t i, int64_t j)
{
    if (p->causal && j > i) return 1;
    if (!p->mask) return 0;
    const int64_t mb = b / p->heads;
    return !attn_mask_on(p->mask, p->mask3 ? (mb * p->Tq + i) * p->Tv + j : mb * p->Tv + j);
}

/* masked[j] = attn_masked(p, b, i, j0 + j) for j < n: the mask's dtype
 * and layout looked up once per row, not per element. */
static inline void attn_mask_row(const attn_run *p, int64_t b, int64_t i, int64_t j0, int64_t n,
                                 unsigned char *masked)
{
    if (!p->mask) {
        for (int64_t j = 0; j < n; j++)
            masked[j] = 0;
    } else {
        const int64_t mb = b / p->heads,
                      at = p->mask3 ? (mb * p->Tq + i) * p->Tv + j0 : mb * p->Tv + j0;
        const ag_tensor *m = p->mask;
        switch (m->dtype) {
        case AG_BOOL:
            for (int64_t j = 0; j < n; j++)
                masked[j] = AG_U8(m)[at + j] == 0;
            break;
        case AG_FLOAT32:
            for (int64_t j = 0; j < n; j++)
                masked[j] = AG_F32(m)[at + j] == 0;
            break;
        default:
            for (int64_t j = 0; j < n; j++)
                masked[j] = !attn_mask_on(m, at + j);
        }
    }
    if (p->causal)
        for (int64_t j = i - j0 + 1 > 0 ? i - j0 + 1 : 0; j < n; j++)
            masked[j] = 1;
}

static inline attn_run attn_setup(const ag_kernel_ctx *k)
{
    const attn_params *P = k->params;
    const ag_tensor *q = k->in[0], *key = k->in[1];
    return (attn_run){.B = q->shape[0],
                      .Tq = q->shape[1],
                      .Tv = key->shape[1],
                      .D = q->shape[2],
                      .mode = P->mode,
                      .causal = P->causal,
                      .mask = P->i_mask >= 0 ? k->in[P->i_mask] : NULL,
                      .heads = P->heads,
                      .mask3 = P->mask_rank == 3,
                      /* nothing masked: nothing to zero (so the dot kernels
                       * need no mask bytes then) */
                      .zero_masked = P->zero_masked && (P->i_mask >= 0 || P->causal),
                      .drop = k->training && P->dropout > 0,
                      .rate = P->dropout,
                      .seed = P->seed,
                      .step = k->step};
}

/* attention_weights' shape checks (query in[0], key in[1], the mask and
 * scale where P says): out gets (B,Tq,Tv). */
ag_status ag__attention_infer(const attn_params *P, const ag_shape *in, ag_shape *out,
                              ag_error *err);

/* Keras's dot-attention call fused (ops/dot_attention.c): softmax(c·q kᵀ,
 * masked) · value without the (B,Tq,Tv) weights; opts->mode is ignored. */
ag_node *ag__dot_attention(ag_graph *g, ag_node *query, ag_node *key, ag_node *value, ag_node *mask,
                           ag_node *scale, const ag_attention_opts *opts);

/* Dropout keeps weight idx = (b·Tq + i)·Tv + j when its Philox draw for
 * (seed, step, idx) is at least the rate: the same draw in every pass. */
static inline int attn_keep(const attn_run *p, int64_t idx)
{
    return ag_rand_uniform(p->seed, p->step, (uint64_t)idx) >= p->rate;
}

/* e^y = 2^n · e^r for the float32 tanh and exp (|y| <= 104): returns e^r
 * and n. n = round(y / ln 2) by the 1.5·2^23 trick, which leaves n in the
 * low bits of m (no float-to-int conversion: a NaN y must not reach one,
 * that is undefined); r = y - n·ln 2, |r| <= ln2/2, with ln 2 in two parts;
 * e^r by its degree-7 Taylor polynomial. */
static inline __attribute__((always_inline)) float attn_exp_split(float y, int32_t *n)
{
    union {
        float f;
        uint32_t u;
    } m = {.f = y * 1.44269504088896341f + 12582912.0f};
    const float nf = m.f - 12582912.0f;
    const float r = (y - nf * 0.693145751953125f) - nf * 1.42860682030941723212e-6f;
    float e = 1.0f / 5040;
    e = e * r + 1.0f / 720;
    e = e * r + 1.0f / 120;
    e = e * r + 1.0f / 24;
    e = e * r + 1.0f / 6;
    e = e * r + 0.5f;
    e = e * r + 1.0f;
    e = e * r + 1.0f;
    *n = (int32_t)(m.u - 0x4B400000u); /* 1.5·2^23 is 0x4B400000 */
    return e;
}

/* tanh for the float32 kernels (glibc's tanhf is a scalar call of about
 * 10 ns), all in float so that a vector holds 16 of them:
 *   |x| < 0.5625:  x·(1 + x²·P(x²)), P a degree-4 least-squares fit of
 *                  (tanh(x)/x - 1)/x² (relative error 5e-9);
 *   else:          1 - 2/(e + 1), e = e^(2|x|) = 2^n·e^r, |r| <= ln2/2, e^r
 *                  by its degree-7 Taylor polynomial, |x| clamped at 10
 *                  (1 - 2/(e^20 + 1) rounds to 1 in float), the sign copied from x.
 * Both are computed and one selected, so loops of it vectorise. Within 1 ulp
 * of the correctly rounded tanh (tests/test_attention.c checks every 97th
 * float from 1e-30 to 20); NaN stays NaN. */
static inline __attribute__((always_inline)) float attn_tanhf(float x)
{
    const float ax = fabsf(x), p = x * x;
    float s = -0.006531511436726367f;
    s = s * p + 0.021267133632951057f;
    s = s * p - 0.05390250676619351f;
    s = s * p + 0.13333078645172425f;
    s = s * p - 0.33333331744714984f;
    const float small = x + x * p * s;
    int32_t n;
    const float e = attn_exp_split(2.0f * (ax > 10.0f ? 10.0f : ax), &n);
    union {
        uint32_t u;
        float f;
    } two_n = {.u = ((uint32_t)n + 127u) << 23}; /* unsigned: n is garbage for a NaN */
    const float big = copysignf(1.0f - 2.0f / (e * two_n.f + 1.0f), x);
    return ax < 0.5625f ? small : big;
}

/* e^x for the float32 kernels, all in float (16 to a vector): e^x = 2^n·e^r,
 * n = round(x / ln 2) by the 1.5·2^23 trick (no float-to-int conversion, so
 * a NaN is harmless), |r| <= ln2/2 with ln 2 in two parts, e^r by its
 * degree-7 Taylor polynomial, 2^n as two factors 2^(n/2) and 2^(n - n/2) so
 * that a subnormal result is rounded once. x below -104 gives 0 (e^-104 is
 * below the smallest float), x above 89 gives infinity, as expf does; NaN
 * stays NaN. Within 1 ulp of the correctly rounded e^x
 * (test_float32_exp_within_one_ulp checks every 61st float). */
static inline __attribute__((always_inline)) float attn_expf(float xf)
{
    /* selects, not branches, so that loops of it vectorise; a NaN passes
     * through the clamp and the polynomial as a NaN */
    const float xc = xf < -104.0f ? -104.0f : xf > 89.0f ? 89.0f : xf;
    int32_t ni;
    float e = attn_exp_split(xc, &ni);
    const int32_t n1 = ni / 2, n2 = ni - n1;
    union {
        uint32_t u;
        float f;
    } s1 = {.u = (uint32_t)(n1 + 127) << 23}, s2 = {.u = (uint32_t)(n2 + 127) << 23};
    e = e * s1.f * s2.f;
    e = xf < -104.0f ? 0.0f : e;
    return xf > 89.0f ? INFINITY : e;
}

#endif
