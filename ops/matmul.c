/* matmul.c — matrix products, plain, batched, and with a right-hand side
 * shared by a batch; each operand optionally transposed.
 *
 *   x (M,K) or (B,M,K), y (K,N) or (B,K,N) or (K,N) shared -> z (M,N) or (B,M,N)
 *   z  = op(x) · op(y)           where op transposes the last two axes when asked
 *   gx = gz · op(y)ᵀ             (transposed back when transpose_x: op(y) · gzᵀ)
 *   gy = op(x)ᵀ · gz             (transposed back when transpose_y: gzᵀ · op(x));
 *                                a shared y sums over the batch, b = 0..B-1 in order
 *
 * Every product is one call of the blocked kernel in gemm.c, whose packing
 * workspace is the node's aux tensor 0 (so a steady-state run allocates
 * nothing). Results do not depend on the thread count.
 */
#include "gemm.h"

#include <inttypes.h>

typedef struct {
    int tx, ty;
} matmul_params;

static ag_status matmul_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                              ag_shape *out, ag_error *err)
{
    (void)op, (void)n_in;
    const matmul_params *p = params;
    const ag_shape *x = &in[0], *y = &in[1];
    char a[96], b[96];
    if (!ag_dtype_is_float(x->dtype) || x->dtype != y->dtype)
        return ag_error_set(err, AG_ERR_DTYPE,
                            "x and y must be float tensors of one dtype, received %s and %s",
                            ag_dtype_name(x->dtype), ag_dtype_name(y->dtype));
    if (x->rank < 2 || x->rank > 3 || y->rank < 2 || y->rank > 3 || (x->rank == 2 && y->rank == 3))
        return ag_error_set(err, AG_ERR_SHAPE,
                            "expected x (M,K) with y (K,N), or x (B,M,K) with y (B,K,N) or (K,N); "
                            "received x %s and y %s",
                            ag__sstr(x, a, sizeof a), ag__sstr(y, b, sizeof b));
    int xr = x->rank, yr = y->rank;
    int64_t m = p->tx ? x->dim[xr - 1] : x->dim[xr - 2];
    int64_t kx = p->tx ? x->dim[xr - 2] : x->dim[xr - 1];
    int64_t ky = p->ty ? y->dim[yr - 1] : y->dim[yr - 2];
    int64_t n = p->ty ? y->dim[yr - 2] : y->dim[yr - 1];
    if (!ag__dim_compat(kx, ky))
        return ag_error_set(err, AG_ERR_SHAPE,
                            "inner dimensions differ: x %s (transpose_x=%d) has K=%" PRId64
                            ", y %s (transpose_y=%d) has K=%" PRId64,
                            ag__sstr(x, a, sizeof a), p->tx, kx, ag__sstr(y, b, sizeof b), p->ty,
                            ky);
    if (xr == 3 && yr == 3 && !ag__dim_compat(x->dim[0], y->dim[0]))
        return ag_error_set(
            err, AG_ERR_SHAPE, "batch sizes differ: x %s has B=%" PRId64 ", y %s has B=%" PRId64,
            ag__sstr(x, a, sizeof a), x->dim[0], ag__sstr(y, b, sizeof b), y->dim[0]);
    out->dtype = x->dtype;
    out->rank = xr;
    if (xr == 3) out->dim[0] = x->dim[0] >= 0 ? x->dim[0] : yr == 3 ? y->dim[0] : -1;
    out->dim[xr - 2] = m;
    out->dim[xr - 1] = n;
    return AG_OK;
}

/* The sizes of one product and the strides of op(x) and op(y):
 * op(x)(b,i,k) = x[b·xbs + i·xi + k·xk], op(y)(b,k,j) = y[b·ybs + k·yk + j·yj]. */
typedef struct {
    int64_t batch, m, k, n;
    int64_t xbs, xi, xk, ybs, yk, yj;
    int shared; /* y is 2-D, used by every batch of a 3-D x */
} mm_dims;

static mm_dims mm_get(const matmul_params *p, const ag_tensor *x, const ag_tensor *y)
{
    mm_dims d;
    int xr = x->rank, yr = y->rank;
    int64_t xrow = x->shape[xr - 2], xcol = x->shape[xr - 1];
    int64_t yrow = y->shape[yr - 2], ycol = y->shape[yr - 1];
    d.batch = xr == 3 ? x->shape[0] : 1;
    d.shared = xr == 3 && yr == 2;
    d.m = p->tx ? xcol : xrow;
    d.k = p->tx ? xrow : xcol;
    d.n = p->ty ? yrow : ycol;
    d.xbs = xrow * xcol;
    d.xi = p->tx ? 1 : xcol;
    d.xk = p->tx ? xcol : 1;
    d.ybs = yr == 3 ? yrow * ycol : 0;
    d.yk = p->ty ? 1 : ycol;
    d.yj = p->ty ? ycol : 1;
    return d;
}

static ag_status mm_run(ag_kernel_ctx *k, ag__gemm *gp)
{
    int64_t shape[1] = {ag__gemm_pack_size(gp, k->out->dtype)};
    ag_tensor *pack = ag_kernel_aux(k, 0, k->out->dtype, 1, shape);
    if (!pack) return k->err->code;
    ag__gemm_run(gp, k->out->dtype, pack->data);
    return AG_OK;
}

/* z (B,M,N) = op(x) · op(y) */
static ag_status matmul_forward(ag_kernel_ctx *k)
{
    mm_dims d = mm_get(k->params, k->in[0], k->in[1]);
    ag__gemm gp = {.batch = d.batch,
                   .rbatch = 1,
                   .m = d.m,
                   .n = d.n,
                   .k = d.k,
                   .a = k->in[0]->data,
                   .a_bs = d.xbs,
                   .a_rs = d.xi,
                   .a_cs = d.xk,
                   .b = k->in[1]->data,
                   .b_bs = d.ybs,
                   .b_rs = d.yk,
                   .b_cs = d.yj,
                   .c = k->out->data,
                   .c_bs = d.m * d.n,
                   .c_rs = d.n};
    if (d.shared && d.xi == d.k) /* untransposed x over a shared y: one (B·M,K) product */
        gp.m *= gp.batch, gp.batch = 1;
    return mm_run(k, &gp);
}

static ag_status matmul_backward(ag_kernel_ctx *k)
{
    const matmul_params *p = k->params;
    mm_dims d = mm_get(p, k->in[0], k->in[1]);
    const void *x = k->in[0]->data, *y = k->in[1]->data, *gz = k->gout->data;
    int64_t zbs = d.m * d.n;
    ag_status st = AG_OK;
    if (k->gin[0]) {
        ag__gemm gp = {
            .batch = d.batch, .rbatch = 1, .c = k->gin[0]->data, .c_bs = d.xbs, .accumulate = 1};
        if (!p->tx) { /* gx (B,M,K) += gz (B,M,N) · op(y)ᵀ (N,K) */
            gp.m = d.m, gp.n = d.k, gp.k = d.n, gp.c_rs = d.k;
            gp.a = gz, gp.a_bs = zbs, gp.a_rs = d.n, gp.a_cs = 1;
            gp.b = y, gp.b_bs = d.ybs, gp.b_rs = d.yj, gp.b_cs = d.yk;
            if (d.shared) gp.m *= gp.batch, gp.batch = 1;
        } else { /* gx (B,K,M) += op(y) (K,N) · gzᵀ (N,M) */
            gp.m = d.k, gp.n = d.m, gp.k = d.n, gp.c_rs = d.m;
            gp.a = y, gp.a_bs = d.ybs, gp.a_rs = d.yk, gp.a_cs = d.yj;
            gp.b = gz, gp.b_bs = zbs, gp.b_rs = 1, gp.b_cs = d.n;
        }
        st = mm_run(k, &gp);
    }
    if (!st && k->gin[1]) {
        /* a shared y sums the batch: one output, the batch as the outer
         * reduction index (rbatch) */
        int64_t nb = d.shared ? 1 : d.batch, rb = d.shared ? d.batch : 1;
        ag__gemm gp = {
            .batch = nb, .rbatch = rb, .c = k->gin[1]->data, .c_bs = d.k * d.n, .accumulate = 1};
        /* x's and gz's batch strides: per output batch, or per reduction step */
        int64_t xb = d.xbs, zb = zbs;
        if (!p->ty) { /* gy (B,K,N) += op(x)ᵀ (K,M) · gz (M,N) */
            gp.m = d.k, gp.n = d.n, gp.k = d.m, gp.c_rs = d.n;
            gp.a = x, gp.a_rs = d.xk, gp.a_cs = d.xi;
            gp.b = gz, gp.b_rs = d.n, gp.b_cs = 1;
            if (d.shared)
                gp.a_rbs = xb, gp.b_rbs = zb;
            else
                gp.a_bs = xb, gp.b_bs = zb;
        } else { /* gy (B,N,K) += gzᵀ (N,M) · op(x) (M,K) */
            gp.m = d.n, gp.n = d.k, gp.k = d.m, gp.c_rs = d.k;
            gp.a = gz, gp.a_rs = 1, gp.a_cs = d.n;
            gp.b = x, gp.b_rs = d.xi, gp.b_cs = d.xk;
            if (d.shared)
                gp.a_rbs = zb, gp.b_rbs = xb;
            else
                gp.a_bs = zb, gp.b_bs = xb;
        }
        st = mm_run(k, &gp);
    }
    return st;
}

static ag_node *sample_matmul(ag_graph *g, int variant, uint64_t seed);

const ag_op ag_op_matmul = {.name = "matmul",
                            .n_aux = 1,
                            .infer = matmul_infer,
                            .forward = matmul_forward,
                            .backward = matmul_backward,
                            .n_samples = 14,
                            .sample = sample_matmul};

ag_node *ag_matmul(ag_graph *g, ag_node *x, ag_node *y, int transpose_x, int transpose_y)
{
    matmul_params p = {transpose_x != 0, transpose_y != 0};
    ag_node *in[2] = {x, y};
    return ag_apply(g, &ag_op_matmul, in, 2, &p, sizeof p);
}

/* A dim in [lo, hi] from r. */
static int64_t sample_dim(ag_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)ag_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* Samples: plain 2-D with each pair of flags (0-3), batched (4-7) and a
 * shared 2-D y (8-11) likewise, M, K, N 1 to 5 and B 2 to 3; and two larger
 * ones (12-13: batched, and shared with both flags), M 7 to 13, K 4 to 9, N
 * 17 to 36, that cover edge tiles and several column blocks of the kernel.
 * Dims are drawn from (seed, variant). */
static ag_node *sample_matmul(ag_graph *g, int variant, uint64_t seed)
{
    ag_rng r;
    ag_rng_init(&r, seed, 0x6d61746d756cULL + (uint64_t)variant);
    int tx = variant & 1, ty = (variant >> 1) & 1;
    int64_t b = sample_dim(&r, 2, 3), m = sample_dim(&r, 1, 5), kk = sample_dim(&r, 1, 5),
            n = sample_dim(&r, 1, 5);
    int xr = variant < 4 ? 2 : 3, yr = variant >= 4 && variant < 8 ? 3 : 2;
    if (variant >= 12) {
        tx = variant == 13, ty = variant == 13;
        m = sample_dim(&r, 7, 13), kk = sample_dim(&r, 4, 9), n = sample_dim(&r, 17, 36);
        xr = 3, yr = variant == 12 ? 3 : 2;
    }
    int64_t xs[3] = {b, tx ? kk : m, tx ? m : kk}, ys[3] = {b, ty ? n : kk, ty ? kk : n};
    ag_node *x = ag__sample_var(g, "x", xr, xr == 3 ? xs : xs + 1, -1, 1, seed, 1);
    ag_node *y = ag__sample_var(g, "y", yr, yr == 3 ? ys : ys + 1, -1, 1, seed, 2);
    return ag_matmul(g, x, y, tx, ty);
}
