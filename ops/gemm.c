/* gemm.c — the blocked matrix product behind matmul and conv1d (see gemm.h).
 *
 * B is read in place when its rows are contiguous; otherwise (and for a last
 * block narrower than NR) it is packed, NR columns at a time, into a
 * contiguous zero-padded panel pack[(r·K + k)·NR + j]. A register-blocked
 * micro-kernel computes an MR x NR tile of C, holding it in 2·MR vector
 * registers, streaming B's rows and broadcasting A's elements:
 *
 *   for r, k:  acc[i][:] += A(i,k) · panel[r][k][:]      (i < MR)
 *
 * (a last block at most one vector wide gets a one-vector tile).
 *
 * Tiles are grouped into work items (a fixed function of the sizes, never of
 * the thread count) and the items run in parallel. A tile's elements are each
 * summed by one thread in the order r, k, so results are bitwise identical
 * for any number of threads.
 */
#include "gemm.h"

#define MR 6
/* Bytes in a vector: the widest the target has (64 = 16 floats with
 * AVX-512), so that vectors stay in registers and the ABI does not change.
 * Each element is summed in the same order whatever the width. */
#if defined(__AVX512F__)
#define VB 64
#elif defined(__AVX__)
#define VB 32
#else
#define VB 16
#endif

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Work-item shape in tiles: large items keep the panels in cache, but at
 * least 16 items when the problem allows, so that both threads are busy. */
static void item_shape(const ag__gemm *p, int64_t nr, int64_t *tr, int64_t *tc)
{
    int64_t nmr = cdiv(p->m, MR), nnr = cdiv(p->n, nr);
    *tr = 8, *tc = 4;
    if (p->batch * cdiv(nmr, *tr) * cdiv(nnr, *tc) < 16) *tr = 2, *tc = 1;
}

#define GEMM_KERNELS(T)                                                                            \
    typedef T T##_vec __attribute__((vector_size(VB)));                                            \
    enum { T##_VL = VB / sizeof(T), T##_NR = 2 * T##_VL };                                         \
                                                                                                   \
    static inline T##_vec T##_load(const T *s)                                                     \
    {                                                                                              \
        T##_vec v;                                                                                 \
        memcpy(&v, s, sizeof v);                                                                   \
        return v;                                                                                  \
    }                                                                                              \
    static inline void T##_store(T *d, T##_vec v) { memcpy(d, &v, sizeof v); }                     \
                                                                                                   \
    /* B's columns j0..j0+NR-1 of (distinct) batch bb -> bp[(r·K + k)·NR + j] */                 \
    static void T##_pack(const ag__gemm *p, const T *b, int64_t j0, T *bp)                         \
    {                                                                                              \
        int64_t nr = p->n - j0 < T##_NR ? p->n - j0 : T##_NR;                                      \
        for (int64_t r = 0; r < p->rbatch; r++)                                                    \
            for (int64_t k = 0; k < p->k; k++) {                                                   \
                const T *s = b + r * p->b_rbs + k * p->b_rs + j0 * p->b_cs;                        \
                T *d = bp + (r * p->k + k) * T##_NR;                                               \
                if (p->b_cs == 1)                                                                  \
                    memcpy(d, s, (size_t)nr * sizeof(T));                                          \
                else                                                                               \
                    for (int64_t j = 0; j < nr; j++)                                               \
                        d[j] = s[j * p->b_cs];                                                     \
                for (int64_t j = nr; j < T##_NR; j++)                                              \
                    d[j] = 0;                                                                      \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    /* c (mr,nr) (+)= Σ_r Σ_k a(r,i,k) · bp[r·brs + k·bks + :], nr <= nv·VL;                 \
     * a(r,i,k) = a[r·a_rbs + i·a_rs + k·a_cs] */                                               \
    static inline __attribute__((always_inline)) void T##_micro(                                   \
        const ag__gemm *p, const T *a, const T *bp, int64_t bks, int64_t brs, T *c, int mr,        \
        int64_t nr, int nv)                                                                        \
    {                                                                                              \
        T##_vec acc[MR][2];                                                                        \
        T tmp[T##_NR];                                                                             \
        int whole = nr == nv * T##_VL;                                                             \
        for (int i = 0; i < MR; i++) {                                                             \
            for (int v = 0; v < nv; v++)                                                           \
                acc[i][v] = (T##_vec){0};                                                          \
            if (!p->accumulate || i >= mr) continue;                                               \
            const T *ci = c + i * p->c_rs;                                                         \
            if (!whole) {                                                                          \
                memset(tmp, 0, sizeof tmp);                                                        \
                memcpy(tmp, ci, (size_t)nr * sizeof(T));                                           \
                ci = tmp;                                                                          \
            }                                                                                      \
            for (int v = 0; v < nv; v++)                                                           \
                acc[i][v] = T##_load(ci + v * T##_VL);                                             \
        }                                                                                          \
        const int64_t K = p->k, a_rs = p->a_rs, a_cs = p->a_cs;                                    \
        for (int64_t r = 0; r < p->rbatch; r++) {                                                  \
            const T *ar = a + r * p->a_rbs, *bk = bp + r * brs;                                    \
            for (int64_t k = 0; k < K; k++, bk += bks) {                                           \
                T##_vec bv[2];                                                                     \
                for (int v = 0; v < nv; v++)                                                       \
                    bv[v] = T##_load(bk + v * T##_VL);                                             \
                const T *ak = ar + k * a_cs;                                                       \
                for (int i = 0; i < mr; i++) {                                                     \
                    T##_vec av = ak[i * a_rs] - (T##_vec){0};                                      \
                    for (int v = 0; v < nv; v++)                                                   \
                        acc[i][v] += av * bv[v];                                                   \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int i = 0; i < mr; i++) {                                                             \
            T *ci = whole ? c + i * p->c_rs : tmp;                                                 \
            for (int v = 0; v < nv; v++)                                                           \
                T##_store(ci + v * T##_VL, acc[i][v]);                                             \
            if (!whole) memcpy(c + i * p->c_rs, tmp, (size_t)nr * sizeof(T));                      \
        }                                                                                          \
    }                                                                                              \
    /* the four shapes of tile: MR rows or fewer, two vectors wide or one */                       \
    static void T##_micro_full(const ag__gemm *p, const T *a, const T *bp, int64_t bks,            \
                               int64_t brs, T *c, int64_t nr)                                      \
    {                                                                                              \
        T##_micro(p, a, bp, bks, brs, c, MR, nr, 2);                                               \
    }                                                                                              \
    static void T##_micro_edge(const ag__gemm *p, const T *a, const T *bp, int64_t bks,            \
                               int64_t brs, T *c, int mr, int64_t nr)                              \
    {                                                                                              \
        T##_micro(p, a, bp, bks, brs, c, mr, nr, 2);                                               \
    }                                                                                              \
    static void T##_micro_half(const ag__gemm *p, const T *a, const T *bp, int64_t bks,            \
                               int64_t brs, T *c, int64_t nr)                                      \
    {                                                                                              \
        T##_micro(p, a, bp, bks, brs, c, MR, nr, 1);                                               \
    }                                                                                              \
    static void T##_micro_half_edge(const ag__gemm *p, const T *a, const T *bp, int64_t bks,       \
                                    int64_t brs, T *c, int mr, int64_t nr)                         \
    {                                                                                              \
        T##_micro(p, a, bp, bks, brs, c, mr, nr, 1);                                               \
    }                                                                                              \
                                                                                                   \
    /* B is read in place when its rows are contiguous (b_cs 1); only blocks                       \
     * narrower than NR, or a strided B, are packed */                                             \
    static void T##_gemm(const ag__gemm *p, T *pack)                                               \
    {                                                                                              \
        const T *A = p->a, *B = p->b;                                                              \
        T *C = p->c;                                                                               \
        int64_t nb = cdiv(p->n, T##_NR), nmr = cdiv(p->m, MR), direct = p->b_cs == 1;              \
        int64_t npk = direct ? (p->n % T##_NR != 0) : nb;                                          \
        int64_t distinct = p->b_bs ? p->batch : 1, panel = p->rbatch * p->k * T##_NR;              \
        AG_PARALLEL_FOR(distinct *npk *panel)                                                      \
        for (int64_t q = 0; q < distinct * npk; q++) {                                             \
            int64_t jb = direct ? nb - 1 : q % npk;                                                \
            T##_pack(p, B + (q / npk) * p->b_bs, jb * T##_NR, pack + q * panel);                   \
        }                                                                                          \
        int64_t tr, tc;                                                                            \
        item_shape(p, T##_NR, &tr, &tc);                                                           \
        int64_t ni = cdiv(nmr, tr), nj = cdiv(nb, tc);                                             \
        AG_PARALLEL_FOR(2 * p->batch * p->m * p->n * p->rbatch * p->k)                             \
        for (int64_t q = 0; q < p->batch * ni * nj; q++) {                                         \
            int64_t b = q / (ni * nj), it = q / nj % ni, jt = q % nj;                              \
            const T *ab = A + b * p->a_bs, *pb = pack + (p->b_bs ? b : 0) * npk * panel;           \
            T *cb = C + b * p->c_bs;                                                               \
            for (int64_t jb = jt * tc; jb < (jt + 1) * tc && jb < nb; jb++) {                      \
                int64_t j0 = jb * T##_NR, nr = p->n - j0 < T##_NR ? p->n - j0 : T##_NR;            \
                const T *bp = pb + (direct ? 0 : jb) * panel;                                      \
                int64_t bks = T##_NR, brs = p->k * T##_NR;                                         \
                if (direct && nr == T##_NR)                                                        \
                    bp = B + b * p->b_bs + j0, bks = p->b_rs, brs = p->b_rbs;                      \
                for (int64_t ib = it * tr; ib < (it + 1) * tr && ib < nmr; ib++) {                 \
                    int64_t i0 = ib * MR;                                                          \
                    const T *ai = ab + i0 * p->a_rs;                                               \
                    T *ci = cb + i0 * p->c_rs + j0;                                                \
                    int mr = p->m - i0 < MR ? (int)(p->m - i0) : MR;                               \
                    if (nr > T##_VL && mr == MR)                                                   \
                        T##_micro_full(p, ai, bp, bks, brs, ci, nr);                               \
                    else if (nr > T##_VL)                                                          \
                        T##_micro_edge(p, ai, bp, bks, brs, ci, mr, nr);                           \
                    else if (mr == MR)                                                             \
                        T##_micro_half(p, ai, bp, bks, brs, ci, nr);                               \
                    else                                                                           \
                        T##_micro_half_edge(p, ai, bp, bks, brs, ci, mr, nr);                      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

GEMM_KERNELS(float)
GEMM_KERNELS(double)

int64_t ag__gemm_pack_size(const ag__gemm *p, ag_dtype dtype)
{
    int64_t nr = dtype == AG_FLOAT32 ? float_NR : double_NR;
    int64_t distinct = p->b_bs ? p->batch : 1;
    int64_t blocks = p->b_cs == 1 ? (p->n % nr != 0) : cdiv(p->n, nr);
    int64_t n = distinct * blocks * p->rbatch * p->k * nr;
    return n > 0 ? n : 1;
}

void ag__gemm_run(const ag__gemm *p, ag_dtype dtype, void *pack)
{
    if (p->batch <= 0 || p->m <= 0 || p->n <= 0) return;
    if (dtype == AG_FLOAT32)
        float_gemm(p, pack);
    else
        double_gemm(p, pack);
}
