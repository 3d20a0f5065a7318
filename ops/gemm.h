/* gemm.h — the matrix-product kernel shared by matmul, conv1d and attention
 * (ops/gemm.c).
 *
 *   C[b](i,j) = (accumulate ? C[b](i,j) : 0) + Σ_{r<rbatch} Σ_{k<K} A(b,r,i,k) · B(b,r,k,j)
 *
 * for b < batch, i < M, j < N, with every operand addressed by strides:
 *   A(b,r,i,k) = a[b·a_bs + r·a_rbs + i·a_rs + k·a_cs]
 *   B(b,r,k,j) = b[b·b_bs + r·b_rbs + k·b_rs + j·b_cs]   (b_bs 0: shared by all b)
 *   C[b](i,j)  = c[b·c_bs + i·c_rs + j]
 * so transposes, batches, a right-hand side shared by a batch, the reduction of
 * a gradient over a batch (rbatch) and conv1d's overlapping input windows are
 * all one call. When B is shared and the C blocks of the batch are
 * contiguous, the batch is folded into the rows (one product of batch·M
 * rows), so that a batch of short matrices (conv1d over 32 positions) does
 * not run an edge tile per element. Each C element is summed by one thread in the fixed order
 * r = 0..rbatch-1, k = 0..K-1, with the same arithmetic whatever the blocking:
 * the result never depends on the thread count.
 */
#ifndef AG_GEMM_H
#define AG_GEMM_H

#include "../framework/internal.h"

typedef struct ag__gemm {
    int64_t batch, rbatch, m, n, k;
    const void *a;
    int64_t a_bs, a_rbs, a_rs, a_cs;
    const void *b;
    int64_t b_bs, b_rbs, b_rs, b_cs;
    void *c;
    int64_t c_bs, c_rs;
    int accumulate;
    int threads; /* set by ag__gemm_pack_size: the threads the run may use */
    /* set by gemm.c alone: A's rows are batch elements of fold rows each,
     * row i at (i / fold)·fold_bs + (i % fold)·a_rs (0: row i at i·a_rs) */
    int64_t fold, fold_bs;
} ag__gemm;

/* Elements (of the float dtype) of the packing workspace ag__gemm_run needs;
 * records in p the number of threads that workspace serves. */
int64_t ag__gemm_pack_size(ag__gemm *p, ag_dtype dtype);
/* Runs the product in dtype (AG_FLOAT32 or AG_FLOAT64); pack holds
 * ag__gemm_pack_size elements (an ag_kernel_aux tensor, so nothing is
 * allocated here). */
void ag__gemm_run(const ag__gemm *p, ag_dtype dtype, void *pack);

/* The same product on the calling thread alone (inside a parallel region),
 * with a workspace of ag__gemm_serial_size elements. */
int64_t ag__gemm_serial_size(const ag__gemm *p, ag_dtype dtype);
void ag__gemm_serial(const ag__gemm *p, ag_dtype dtype, void *pack);

/* The instruction set the kernels were chosen for at run time:
 * "avx512", "avx2" or "generic". */
const char *ag__gemm_isa(void);

#endif
