/* gemm.c — the packed, cache-blocked matrix product behind matmul, conv1d and
 * attention (see gemm.h; the kernel itself is gemm_kernel.inc).
 *
 * C is cut into work items: one batch element's block of mc rows and nc
 * columns. An item walks the whole reduction in panels of kc, packing the
 * panel of B (kc x nc, NR columns at a time, kept in L1 per NR block) and of
 * A (mc x kc, MR rows at a time, kept in L2), and runs the register tiles
 * over them. Items run in parallel (dynamic schedule: every C element is
 * summed by one item in a fixed order, so results do not depend on which
 * thread runs it or how many there are), each on its own packing buffer.
 *
 * The kernel is compiled for three instruction sets — AVX-512, AVX2+FMA and
 * the x86-64 baseline (SSE2), or once for the target elsewhere — and the
 * best one the CPU has is chosen at the first call, so a portable build runs
 * the same kernel as a -march=native one.
 */
#include "gemm.h"

#include <omp.h>

typedef struct ag__gemm_blocks {
    int64_t mc, nc, kc;    /* block sizes: multiples of MR and NR, and the panel */
    int64_t mi;            /* rows of a work item: whole mc blocks but the last */
    int64_t bb;            /* batch elements of a work item (B shared: > 1)  */
    int64_t nbg, nic, njc; /* work items along the batch, rows, columns   */
    int64_t items;         /* nbg · nic · njc                                */
    int64_t per_thread;    /* packing elements per thread                    */
} ag__gemm_blocks;

/* B is read in place, not packed, when its rows are contiguous (b_cs 1),
 * equally spaced along the whole reduction (one reduction batch, or batches
 * that follow one another: a weight gradient's output gradient), and a kc
 * panel of them stays within 256 KB (packing keeps a large operand's block
 * in L1 and L2, where rows 4 or 8 KB apart would share a few cache sets).
 * A partial block of NR columns is packed all the same. */
static int b_direct(const ag__gemm *p, int64_t kc, size_t es)
{
    return (p->rbatch == 1 || p->b_rbs == p->k * p->b_rs) && p->b_cs == 1 &&
           kc * p->b_rs * (int64_t)es <= (256 << 10);
}

/* A is read in place when a register tile's rows are MR adjacent elements
 * (a_rs 1) or MR equally spaced rows (a_cs 1), the reduction is one batch
 * or batches that follow one another, and an mc x kc block stays within
 * 256 KB (as for B). Partial blocks always pack. */
static int a_direct(const ag__gemm *p, int64_t mc, int64_t kc, size_t es)
{
    const int64_t span = p->a_rs == 1 ? kc * p->a_cs : mc * p->a_rs;
    return (p->rbatch == 1 || p->a_rbs == p->k * p->a_cs) && (p->a_rs == 1 || p->a_cs == 1) &&
           span * (int64_t)es <= (256 << 10);
}

/* Each inclusion instantiates the kernel for float and double on one ISA. */
#define ISA generic
#define VB  16
#define MR  6
#include "gemm_kernel.inc"

#if defined(__x86_64__) && defined(__GNUC__)
#define AG_GEMM_X86 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define ISA avx2
#define VB  32
#define MR  6
#include "gemm_kernel.inc"
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#define ISA avx512
#define VB  64
#define MR  12
#include "gemm_kernel.inc"
#pragma GCC pop_options
#endif

typedef struct gemm_impl {
    const char *isa;
    int mr, nr_float, nr_double;
    void (*item_float)(const ag__gemm *, const ag__gemm_blocks *, int64_t, float *);
    void (*item_double)(const ag__gemm *, const ag__gemm_blocks *, int64_t, double *);
} gemm_impl;

static const gemm_impl impl_generic = {"generic",
                                       6,
                                       NR_float_generic,
                                       NR_double_generic,
                                       gemm_item_float_generic,
                                       gemm_item_double_generic};
#ifdef AG_GEMM_X86
static const gemm_impl impl_avx2 = {
    "avx2", 6, NR_float_avx2, NR_double_avx2, gemm_item_float_avx2, gemm_item_double_avx2};
static const gemm_impl impl_avx512 = {"avx512",
                                      12,
                                      NR_float_avx512,
                                      NR_double_avx512,
                                      gemm_item_float_avx512,
                                      gemm_item_double_avx512};
#endif

/* The kernel for this CPU: chosen once (a benign race: every thread picks the
 * same one). */
static const gemm_impl *impl(void)
{
    static const gemm_impl *chosen;
    const gemm_impl *c = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (c) return c;
    c = &impl_generic;
#ifdef AG_GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
        c = &impl_avx512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        c = &impl_avx2;
#endif
    __atomic_store_n(&chosen, c, __ATOMIC_RELEASE);
    return c;
}

const char *ag__gemm_isa(void) { return impl()->isa; }

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

/* Block sizes: an mc·kc block of A in L2, a kc·nc panel of B shared by every
 * mc block of an item's mi rows (kc 512 measured best here: a long panel
 * saves C tile loads and stores and loop overhead more than an L1-resident
 * NR block of B would gain). When every batch element multiplies the same B
 * (b_bs 0: conv1d's weights, a Dense layer over a batch), an item takes bb
 * batch elements so that one packed panel of B serves all of them. Items
 * are about 4·threads in all where the rows allow, cut along the batch,
 * then rows (then columns), so that the dynamic schedule can balance a
 * loaded machine. */
static ag__gemm_blocks blocks(const ag__gemm *p, int nr, size_t es, int threads)
{
    const int64_t mr = impl()->mr, kk = p->rbatch * p->k;
    ag__gemm_blocks b;
    b.kc = kk < 512 ? (kk > 0 ? kk : 1) : 512;
    b.mc = p->m < 16 * mr ? round_up(p->m, mr) : 16 * mr;
    b.nc = p->n < 4096 ? round_up(p->n, nr) : 4096;
    b.njc = cdiv(p->n, b.nc);
    b.bb = 1;
    if (p->b_bs == 0 && p->batch > 1) {
        int64_t groups = threads > 1 ? 2 * threads : 1;
        b.bb = cdiv(p->batch, groups < p->batch ? groups : p->batch);
    }
    b.nbg = cdiv(p->batch, b.bb);
    int64_t want = threads > 1 ? cdiv(4 * threads, b.nbg * b.njc) : 1;
    /* every item packs its own panel of B: an item of few rows would spend
     * more on packing than on products (a weight gradient's B is the whole
     * batch's output gradient), so items keep 8 register tiles of rows at
     * least, 64 when B is packed (each packed element serves fewer than 128
     * multiply-adds otherwise: at 2048³, 8 items of 264 rows packed all of
     * B 8 times), unless that would leave a thread idle */
    const int64_t min_rows = (b_direct(p, b.kc, es) ? 8 : 64) * mr;
    int64_t by_rows = p->m / min_rows, least = cdiv(threads, b.nbg * b.njc);
    if (want > (by_rows > least ? by_rows : least)) want = by_rows > least ? by_rows : least;
    int64_t nic = want < cdiv(p->m, mr) ? want : cdiv(p->m, mr);
    b.mi = round_up(cdiv(p->m, nic), mr);
    if (b.mi < b.mc) b.mc = b.mi;
    b.nic = cdiv(p->m, b.mi);
    /* more items along the columns where that leaves enough, unless each
     * would pack the same rows of A again (a weight gradient's) */
    if (threads > 1 && b.nbg * b.nic * b.njc < 2 * threads && p->n > 2 * nr &&
        a_direct(p, b.mc, b.kc, es)) {
        int64_t njc = cdiv(2 * threads, b.nbg * b.nic);
        b.nc = round_up(cdiv(p->n, njc), nr);
        b.njc = cdiv(p->n, b.nc);
    }
    b.items = b.nbg * b.nic * b.njc;
    b.per_thread = b.kc * (round_up(b.nc, nr) + b.mc);
    return b;
}

static int nr_of(ag_dtype dtype)
{
    return dtype == AG_FLOAT32 ? impl()->nr_float : impl()->nr_double;
}

static double flops(const ag__gemm *p)
{
    return 2.0 * (double)p->batch * (double)p->m * (double)p->n * (double)(p->rbatch * p->k);
}

static int threads_for(const ag__gemm *p)
{
    int t = omp_get_max_threads();
    return flops(p) >= AG_PAR_MIN_WORK && t > 1 ? t : 1;
}

/* The product as the kernels run it: a batch that shares B and writes
 * contiguous C blocks becomes the rows of one product (see gemm.h). Every C
 * element keeps its arithmetic, so the result is the same bit for bit. */
static ag__gemm folded(const ag__gemm *p)
{
    ag__gemm q = *p;
    q.fold = q.fold_bs = 0;
    if (p->batch > 1 && p->b_bs == 0 && p->c_bs == p->m * p->c_rs) {
        q.fold = p->m;
        q.fold_bs = p->a_bs;
        q.m = p->batch * p->m;
        q.batch = 1;
        q.a_bs = q.c_bs = 0;
    }
    return q;
}

int64_t ag__gemm_pack_size(ag__gemm *p, ag_dtype dtype)
{
    p->threads = threads_for(p);
    ag__gemm q = folded(p);
    ag__gemm_blocks b = blocks(&q, nr_of(dtype), ag_dtype_size(dtype), p->threads);
    int64_t t = b.items < p->threads ? b.items : p->threads;
    int64_t n = (t > 0 ? t : 1) * b.per_thread;
    return n > 0 ? n : 1;
}

int64_t ag__gemm_serial_size(const ag__gemm *p, ag_dtype dtype)
{
    ag__gemm q = folded(p);
    return blocks(&q, nr_of(dtype), ag_dtype_size(dtype), 1).per_thread;
}

/* C = 0 (not accumulating) for an empty reduction */
static void zero_c(const ag__gemm *p, ag_dtype dtype)
{
    size_t es = dtype == AG_FLOAT32 ? sizeof(float) : sizeof(double);
    for (int64_t b = 0; b < p->batch; b++)
        for (int64_t i = 0; i < p->m; i++)
            memset((char *)p->c + (size_t)(b * p->c_bs + i * p->c_rs) * es, 0, (size_t)p->n * es);
}

static void run_items(const ag__gemm *p, ag_dtype dtype, void *pack, int threads)
{
    const gemm_impl *im = impl();
    ag__gemm_blocks b = blocks(p, nr_of(dtype), ag_dtype_size(dtype), threads);
    int nt = b.items < threads ? (int)b.items : threads;
    if (nt <= 1) {
        for (int64_t it = 0; it < b.items; it++)
            if (dtype == AG_FLOAT32)
                im->item_float(p, &b, it, pack);
            else
                im->item_double(p, &b, it, pack);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t it = 0; it < b.items; it++) {
        int64_t off = (int64_t)omp_get_thread_num() * b.per_thread;
        if (dtype == AG_FLOAT32)
            im->item_float(p, &b, it, (float *)pack + off);
        else
            im->item_double(p, &b, it, (double *)pack + off);
    }
}

/* The product on up to `threads` threads, the batch folded where it can be. */
static void run(const ag__gemm *p, ag_dtype dtype, void *pack, int threads)
{
    if (p->batch <= 0 || p->m <= 0 || p->n <= 0) return;
    if (p->rbatch * p->k <= 0) {
        if (!p->accumulate) zero_c(p, dtype);
        return;
    }
    ag__gemm q = folded(p);
    run_items(&q, dtype, pack, threads);
}

void ag__gemm_run(const ag__gemm *p, ag_dtype dtype, void *pack)
{
    run(p, dtype, pack, p->threads > 0 ? p->threads : 1);
}

void ag__gemm_serial(const ag__gemm *p, ag_dtype dtype, void *pack) { run(p, dtype, pack, 1); }
