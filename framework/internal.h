/*
 * internal.h — the one internal interface of the core library: what ops/,
 * layers/ and optim/ may use beyond attograd.h. Not installed, not exported
 * (every name here is hidden in the shared library; tests that need it link
 * the static library).
 *
 * The engine (framework/) knows nodes, shapes and buffers; it knows nothing
 * of any op's math. An op (one file in ops/) knows its math and nothing of
 * the engine's bookkeeping: it sees an ag_kernel_ctx, and reaches its inputs,
 * output and workspace through the ctx and the public accessors
 * (ag_kernel_aux, ag_kernel_saved). Layers and optimizers see nodes only
 * through the public accessors (ag_node_shape, ag_value, ...) and the calls
 * below. struct ag_node and struct ag_graph are defined in framework/engine.h,
 * which only framework/ includes.
 *
 * The interface:
 *   errors      ag__fail (a formatted message on the graph)
 *   shapes      ag__shape_size, ag__shape_equal, ag__dim_compat,
 *               ag__tensor_shape, ag__sstr
 *   threads     AG_PARALLEL_FOR
 *   templates   AG_FN (kernels written once for float and double)
 *   memory      ag__ensure (an allocation-counted resize of a tensor the
 *               graph's step owns: ag_graph_alloc_count sees it)
 *   graph walk  ag__graph_walk_ancestors
 *   broadcast   ag__bcast_* (ops/binary.c)
 *   registry    ag__builtin_ops, ag__sample_var, ag__sample_mask
 *   gradients   ag__grad_slot (a gradient computed elsewhere)
 *   ranks       ag__dist_ordered_sum, ag__dist_add, ag__dist_check
 *               (data parallelism, over an ag_dist's collectives)
 */
#ifndef ATTOGRAD_INTERNAL_H
#define ATTOGRAD_INTERNAL_H

#include "../attograd.h"

#include <stdio.h>
#include <string.h>

/* Sets the graph's error (formatted) and returns code. A later error
 * replaces an earlier one, except that a NULL-argument error caused by an
 * earlier failure keeps the first message. */
ag_status ag__fail(ag_graph *g, ag_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A gradient computed elsewhere (data parallelism: summed over ranks):
 * on = 1 allocates v's gradient buffer (v's dtype and shape) and marks it
 * as this step's gradient, returning it (NULL on failure, the graph's
 * error says why); on = 0 marks v as having none and returns NULL. */
ag_tensor *ag__grad_slot(ag_node *v, int on);

/* ---- data parallelism (framework/dist.c; layers/shards.c uses them) ---- */
/* Every rank's acc (n elements of dt, float32 or float64) becomes
 *   ((acc₀ + part₁,₀ + part₁,₁ + ...) + part₂,₀ + ...)
 * where acc₀ is rank 0's acc (0 plus its own parts, added by the caller)
 * and part_r,j is rank r's j-th of n_parts[r] parts, added in that order,
 * element by element: the sum of all parts in rank-then-part order, as one
 * process adding them one after another computes it, bit for bit. A chain:
 * rank r receives the running sum from r-1 in chunks, adds its parts and
 * passes it to r+1 (the chunks pipeline along the ranks); the last rank
 * then broadcasts it. parts is ignored on rank 0. */
ag_status ag__dist_ordered_sum(ag_dist *d, ag_dtype dt, int64_t n, void *acc, void *const *parts,
                               int n_parts, ag_error *err);
/* acc += part, n elements of dt (float32 or float64). */
void ag__dist_add(ag_dtype dt, int64_t n, void *acc, const void *part);
/* Wraps a table call's status with the transport's message. */
ag_status ag__dist_check(ag_dist *d, ag_status st, const char *what, ag_error *err);

/* Element count of a shape; -1 when a dim is unknown. */
int64_t ag__shape_size(const ag_shape *s);
int ag__shape_equal(const ag_shape *a, const ag_shape *b);
/* Two dims are compatible when either is unknown or they are equal. */
static inline int ag__dim_compat(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }
/* Shape of a tensor, as an ag_shape. */
ag_shape ag__tensor_shape(const ag_tensor *t);
const char *ag__sstr(const ag_shape *s, char *buf, size_t n);

/* ---- parallel loops ----
 * AG_PARALLEL_FOR(work) goes right before a `for` over independent outputs;
 * the loop runs on all threads when `work` (about the number of flops) is
 * at least AG_PAR_MIN_WORK, serially otherwise. Each output must be computed
 * by one iteration in a fixed order, so results do not depend on threads. */
enum { AG_PAR_MIN_WORK = 1 << 15 };
#define AG_PRAGMA(x) _Pragma(#x)
#define AG_PARALLEL_FOR(work) AG_PRAGMA(omp parallel for schedule(static) if ((work) >= AG_PAR_MIN_WORK))

/* ---- kernel templates ----
 * A kernel written once for float and double lives in x.inc, which x.c
 * includes twice: `#define T float`, `#include "x.inc"`, `#undef T`, then
 * the same with double. In x.inc, AG_FN(name) names the instance
 * (name_float, name_double), so debuggers and compiler errors show its
 * real lines. */
#define AG__FN_PASTE(name, t)  name##_##t
#define AG__FN_EXPAND(name, t) AG__FN_PASTE(name, t)
#define AG_FN(name)            AG__FN_EXPAND(name, T)

/* Gives t the dtype and shape like ag_tensor_reshape_storage, counting an
 * allocation in g's ag_graph_alloc_count (g may be NULL: not counted). For
 * any buffer reused across a graph's steps (a node's workspace, a training
 * loop's batch tensors). */
ag_status ag__ensure(ag_graph *g, ag_tensor *t, ag_dtype dtype, int rank, const int64_t *shape,
                     ag_error *err);

/* Calls visit(n, user) once for every node that one of roots[0..n_roots-1]
 * depends on through op inputs, the roots included, from the newest node to
 * the oldest (so a node comes before its inputs); stops at the first
 * non-zero visit and returns it, else 0. A NULL root or one of another graph
 * fails with AG_ERR_ARG (message on g). Not reentrant on one graph. */
int ag__graph_walk_ancestors(ag_graph *g, ag_node *const *roots, int n_roots,
                             int (*visit)(ag_node *n, void *user), void *user);
/* The graph a node belongs to (NULL for NULL). */
ag_graph *ag__node_graph(const ag_node *n);

/* ---- broadcasting (ops/binary.c) ----
 * NumPy's rules for up to AG_BCAST_MAX operands. A plan drops the output's
 * axes of size 1 and merges neighbouring axes that every operand spans or
 * broadcasts alike, so (B,T,F) + (F) runs as (B·T,F) + (1,F). The output is
 * contiguous; stride[a][d] is operand a's stride along merged axis d, 0
 * where a broadcasts. A row is one index of every axis but the last. */
enum { AG_BCAST_MAX = 3 };
typedef struct ag__bcast {
    int n, rank;              /* operands; merged rank (>= 1)            */
    int64_t dim[AG_MAX_RANK]; /* merged output dims                      */
    int64_t stride[AG_BCAST_MAX][AG_MAX_RANK];
    int64_t size;                  /* output elements                      */
    int64_t in_size[AG_BCAST_MAX]; /* operand elements                     */
} ag__bcast;
/* The broadcast shape of in[0..n-1]; -1 dims are unknown and give -1 unless
 * another operand has a known dim other than 1 there. out->dtype is in[0]'s.
 * Fails with "shapes (2, 3) and (4,) are not broadcastable". */
ag_status ag__bcast_shape(int n, const ag_shape *in, ag_shape *out, ag_error *err);
/* The plan for known shapes already checked by ag__bcast_shape. */
void ag__bcast_init(ag__bcast *p, int n, const ag_shape *in);
/* Offset in operand a of the start of output row `row`. */
static inline int64_t ag__bcast_offset(const ag__bcast *p, int a, int64_t row)
{
    int64_t off = 0;
    for (int d = p->rank - 2; d >= 0; d--) {
        off += row % p->dim[d] * p->stride[a][d];
        row /= p->dim[d];
    }
    return off;
}
/* dst (operand a's layout) += scale · src (output layout) summed over a's
 * broadcast axes: each dst element by one thread, in row-major order of
 * the summed axes, accumulated in double. */
void ag__bcast_reduce_add_float(const ag__bcast *p, int a, const float *src, float *dst,
                                double scale);
void ag__bcast_reduce_add_double(const ag__bcast *p, int a, const double *src, double *dst,
                                 double scale);
/* dst (output layout) += scale · src (operand a's layout) broadcast. */
void ag__bcast_expand_add_float(const ag__bcast *p, int a, const float *src, float *dst,
                                double scale);
void ag__bcast_expand_add_double(const ag__bcast *p, int a, const double *src, double *dst,
                                 double scale);

/* The op registry (ops/registry.c). */
extern const ag_op *const ag__builtin_ops[];
extern const int ag__builtin_op_count;

/* Helpers for op sample graphs (gradient checks): a float64 variable with
 * uniform values in [lo, hi), drawn from (seed, stream). */
ag_node *ag__sample_var(ag_graph *g, const char *name, int rank, const int64_t *shape, double lo,
                        double hi, uint64_t seed, uint64_t stream);
/* A constant mask of dtype dtype with about half its elements true (1). */
ag_node *ag__sample_mask(ag_graph *g, ag_dtype dtype, int rank, const int64_t *shape,
                         uint64_t seed);

/* The float32 attention kernels' own tanh and exp (ops/attention.c), for
 * their tests. */
float ag__attention_tanhf(float x);
float ag__attention_expf(float x);

#endif
