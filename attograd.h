/*
 * attograd.h — the whole public API of attograd, and its reference manual.
 *
 * attograd is a graph-based deep-learning library in C11 with reverse-mode
 * automatic differentiation. You build a graph of nodes (inputs, variables,
 * constants, op results), run it forward, and run it backward to get the
 * gradient of a scalar (or of any output, given an upstream gradient).
 *
 * Conventions
 *   - Every public name starts with ag_ / AG_.
 *   - Errors are values. A function that fails returns a status other than
 *     AG_OK, or NULL, and leaves a message on the object the caller holds:
 *     the graph (ag_graph_error), the model, or an ag_error the caller passed.
 *     Nothing aborts or exits on a caller's mistake.
 *   - Node builders accept NULL inputs (the result of an earlier failure) and
 *     return NULL in turn, keeping the first message, so a caller may build a
 *     whole graph and check once.
 *   - Shapes are row-major. A dimension of -1 is unknown until a run (Keras's
 *     None). Shapes are written (B,T,D) in comments.
 *   - Results never depend on the number of OpenMP threads: every reduction
 *     is computed by one thread in a fixed order.
 */
#ifndef ATTOGRAD_H
#define ATTOGRAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "attograd_version.h"

/* AG_API marks every function of the public API. The libraries are built
 * with -fvisibility=hidden, so these are the only symbols they export. */
#ifndef AG_API
#if defined(__GNUC__) || defined(__clang__)
#define AG_API __attribute__((visibility("default")))
#else
#define AG_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

/* The library's version, "0.2.0": AG_VERSION_STRING of the build it came
 * from. AG_VERSION_MAJOR, _MINOR, _PATCH and _STRING (attograd_version.h)
 * are the version of the headers compiled against. */
AG_API const char *ag_version(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                   */
/* ------------------------------------------------------------------------ */

#define AG_MAX_RANK    6
#define AG_MAX_INPUTS  8
#define AG_ERRMSG_SIZE 512

typedef enum ag_status {
    AG_OK = 0,
    AG_ERR_ARG,      /* an argument is invalid (NULL, out of range, bad flag)  */
    AG_ERR_SHAPE,    /* shapes do not fit                                      */
    AG_ERR_DTYPE,    /* a dtype is not the one expected                        */
    AG_ERR_RANGE,    /* a value is out of range (a token id, an index)         */
    AG_ERR_IO,       /* a file could not be opened, read or written            */
    AG_ERR_FORMAT,   /* a file is malformed (bad header, truncated, corrupted) */
    AG_ERR_NOMEM,    /* memory could not be allocated                          */
    AG_ERR_STATE,    /* a call out of order (no forward before backward, ...)  */
    AG_ERR_NONFINITE /* training met a NaN or infinity (loss, gradient, weight) */
} ag_status;

/* A status and its message, for functions that have no graph or model to
 * carry the message. Pass NULL when you do not want the message. */
typedef struct ag_error {
    ag_status code;
    char msg[AG_ERRMSG_SIZE];
} ag_error;

AG_API const char *ag_status_name(ag_status s);
/* Sets err (when not NULL) to code and a printf-style message; returns code. */
AG_API ag_status ag_error_set(ag_error *err, ag_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* s[0..n) for a message: control bytes, DEL and a backslash written as
 * \xNN and a doubled backslash into buf (cap bytes, NUL-terminated, cut
 * short when full), so bytes quoted from a file cannot drive the user's
 * terminal. Returns buf. */
AG_API const char *ag_escape(const char *s, size_t n, char *buf, size_t cap);

/* The memory budget, process-wide: no tensor and no file attograd reads may
 * be larger, and the tensors one graph holds (values, gradients, workspace)
 * may not add up to more. A call that would exceed it fails with AG_ERR_NOMEM
 * and a message naming the sizes, before allocating. 0 (the default): none.
 * ag_memory_limit returns the budget in bytes (UINT64_MAX when none). */
AG_API void ag_set_memory_limit(uint64_t bytes);
AG_API uint64_t ag_memory_limit(void);

/* Files, as every reader and writer of attograd uses them.
 * open_read opens a regular file for reading: with O_NONBLOCK and fstat
 * first, so a FIFO or a device is refused at once instead of blocking; *size
 * (when not NULL) gets its length. NULL with err set ("WHO: cannot open PATH:
 * No such file or directory", "WHO: PATH is not a regular file (it is a
 * FIFO)") on failure. read reads a whole regular file into a malloc'd
 * NUL-terminated buffer (*len, when not NULL, gets its size), refused before
 * allocating when larger than the memory budget. */
AG_API FILE *ag_file_open_read(const char *path, const char *who, uint64_t *size, ag_error *err);
AG_API char *ag_file_read(const char *path, size_t *len, ag_error *err);
/* Atomic writes: create_atomic opens <path>.tmp.XXXXXX in path's directory
 * (*tmp gets its malloc'd name); write into it, then commit_atomic(f, tmp,
 * path, who, ok), ok = 0 when a write failed: it flushes, fsyncs, closes and
 * renames over path (then fsyncs the directory), or removes the temporary
 * file and says why (strerror). A crash or a full disk leaves the old file or
 * the new one, never a part. commit_atomic frees tmp and closes f. */
AG_API FILE *ag_file_create_atomic(const char *path, const char *who, char **tmp, ag_error *err);
AG_API ag_status ag_file_commit_atomic(FILE *f, char *tmp, const char *path, const char *who,
                                       int ok, ag_error *err);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum ag_dtype {
    AG_FLOAT32 = 0, /* training default                                   */
    AG_FLOAT64,     /* gradient checks; a whole graph can run in float64  */
    AG_INT32,       /* token ids                                          */
    AG_INT64,       /* storage only (.npy round trips); ops read it as ids */
    AG_BOOL         /* masks: one byte per element, 0 or 1               */
} ag_dtype;

AG_API const char *ag_dtype_name(ag_dtype t);
AG_API size_t ag_dtype_size(ag_dtype t);
AG_API int ag_dtype_is_float(ag_dtype t);

/* A dense row-major array. `capacity` is the number of bytes owned by
 * `data`; resizing within it allocates nothing. */
typedef struct ag_tensor {
    ag_dtype dtype;
    int rank;
    int64_t shape[AG_MAX_RANK];
    int64_t size; /* number of elements */
    void *data;
    size_t capacity;
} ag_tensor;

/* New zero-filled tensor; NULL with err set on a bad shape or no memory. */
AG_API ag_tensor *ag_tensor_new(ag_dtype dtype, int rank, const int64_t *shape, ag_error *err);
/* New tensor holding a copy of `data` (dtype elements, shape's size). */
AG_API ag_tensor *ag_tensor_from(ag_dtype dtype, int rank, const int64_t *shape, const void *data,
                                 ag_error *err);
AG_API ag_tensor *ag_tensor_copy(const ag_tensor *t, ag_error *err);
/* Copy converting to `dtype` (floats round, bools become 0/1). */
AG_API ag_tensor *ag_tensor_cast(const ag_tensor *t, ag_dtype dtype, ag_error *err);
AG_API void ag_tensor_free(ag_tensor *t);
/* Gives t the dtype and shape, growing its storage only when too small.
 * Contents are unspecified afterwards. *allocs (when not NULL) is
 * incremented when memory was allocated. */
AG_API ag_status ag_tensor_reshape_storage(ag_tensor *t, ag_dtype dtype, int rank,
                                           const int64_t *shape, uint64_t *allocs, ag_error *err);
AG_API void ag_tensor_release(ag_tensor *t); /* frees the storage of an embedded tensor */
AG_API void ag_tensor_zero(ag_tensor *t);
/* Element i (flat index) as a double, and set from a double. */
AG_API double ag_tensor_get(const ag_tensor *t, int64_t i);
/* Flat index of the first NaN or infinity in t, or -1 when every element is
 * finite (integer and bool tensors always are). */
AG_API int64_t ag_tensor_find_nonfinite(const ag_tensor *t);
AG_API void ag_tensor_set(ag_tensor *t, int64_t i, double v);
/* Writes "(2, 3, 4)" into buf. -1 dims print as None. */
AG_API const char *ag_shape_str(int rank, const int64_t *shape, char *buf, size_t n);
/* Prints a tensor like NumPy (small tensors in full, large ones summarised). */
AG_API void ag_tensor_print(FILE *f, const ag_tensor *t, const char *label);

#define AG_F32(t) ((float *)(t)->data)
#define AG_F64(t) ((double *)(t)->data)
#define AG_I32(t) ((int32_t *)(t)->data)
#define AG_I64(t) ((int64_t *)(t)->data)
#define AG_U8(t)  ((uint8_t *)(t)->data)

/* NumPy .npy files (format 1.0-3.0): float32, float64, int32, int64 and bool,
 * little-endian, C order. Anything else (Fortran order, big-endian, other
 * dtypes, a truncated file, a bad header) is refused with a message. */
AG_API ag_tensor *ag_npy_load(const char *path, ag_error *err);
AG_API ag_status ag_npy_save(const char *path, const ag_tensor *t, ag_error *err);

/* ------------------------------------------------------------------------ */
/* Counter-based random numbers (Philox4x32-10)                              */
/* ------------------------------------------------------------------------ */

/* Every random number is a pure function of (seed, stream, index): dropout
 * masks and initialisers never depend on thread scheduling. */
AG_API void ag_philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]);
/* Uniform in [0, 1), 53 bits. */
AG_API double ag_rand_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal (Box-Muller on two uniforms of the same counter). */
AG_API double ag_rand_normal(uint64_t seed, uint64_t stream, uint64_t index);
/* Fills t (float) with uniform [lo, hi) values, element i from index i. */
AG_API void ag_fill_uniform(ag_tensor *t, double lo, double hi, uint64_t seed, uint64_t stream);
AG_API void ag_fill_normal(ag_tensor *t, double mean, double stddev, uint64_t seed,
                           uint64_t stream);

/* A small sequential generator for host-side work (shuffling, sampling):
 * successive draws of Philox with an increasing counter. */
typedef struct ag_rng {
    uint64_t seed, stream, counter;
} ag_rng;
AG_API void ag_rng_init(ag_rng *r, uint64_t seed, uint64_t stream);
AG_API uint32_t ag_rng_u32(ag_rng *r);
AG_API double ag_rng_uniform(ag_rng *r);                        /* [0, 1) */
AG_API uint64_t ag_rng_below(ag_rng *r, uint64_t n);            /* uniform in [0, n), unbiased */
AG_API void ag_rng_shuffle(ag_rng *r, int64_t *idx, int64_t n); /* Fisher-Yates */

/* ------------------------------------------------------------------------ */
/* Graphs and nodes                                                          */
/* ------------------------------------------------------------------------ */

typedef struct ag_graph ag_graph;
typedef struct ag_node ag_node;

typedef enum ag_node_kind { AG_INPUT, AG_VARIABLE, AG_CONSTANT, AG_OP } ag_node_kind;

/* A static shape: dtype, rank, dims (-1 for unknown). */
typedef struct ag_shape {
    ag_dtype dtype;
    int rank;
    int64_t dim[AG_MAX_RANK];
} ag_shape;

AG_API ag_graph *ag_graph_new(void); /* NULL only when out of memory */
AG_API void ag_graph_free(ag_graph *g);
/* The last error's message ("" when none) and status. */
AG_API const char *ag_graph_error(const ag_graph *g);
AG_API ag_status ag_graph_status(const ag_graph *g);
AG_API void ag_graph_clear_error(ag_graph *g);
/* The float dtype of inputs and variables created from now on (default
 * AG_FLOAT32). Set AG_FLOAT64 before building to run a graph in float64. */
AG_API void ag_graph_set_float(ag_graph *g, ag_dtype float_dtype);
AG_API ag_dtype ag_graph_float(const ag_graph *g);
/* Training mode turns dropout on. Off by default. */
AG_API void ag_graph_set_training(ag_graph *g, int training);
AG_API int ag_graph_training(const ag_graph *g);
/* The step counter: dropout masks are drawn from (seed, step, element), and
 * each training-mode forward run advances it by one. */
AG_API uint64_t ag_graph_step(const ag_graph *g);
AG_API void ag_graph_set_step(ag_graph *g, uint64_t step);
/* Number of tensor allocations (value, gradient and workspace buffers) the
 * graph has made since it was created. A steady-state step adds none. */
AG_API uint64_t ag_graph_alloc_count(const ag_graph *g);
/* Bytes currently held by every node's value, gradient and workspace
 * buffers (their capacities): the graph's memory footprint. */
AG_API uint64_t ag_graph_bytes(const ag_graph *g);
AG_API int ag_graph_node_count(const ag_graph *g);
AG_API ag_node *ag_graph_node(const ag_graph *g, int i);

/* An input fed before each run; dims of -1 are unknown until then.
 * dtype AG_FLOAT32 means "the graph's float dtype". */
AG_API ag_node *ag_input(ag_graph *g, const char *name, ag_dtype dtype, int rank,
                         const int64_t *shape);
/* A trainable variable of the graph's float dtype, zero-initialised. */
AG_API ag_node *ag_variable(ag_graph *g, const char *name, int rank, const int64_t *shape);
/* A constant holding a copy of value (floats converted to the graph's float
 * dtype). */
AG_API ag_node *ag_constant(ag_graph *g, const ag_tensor *value);
AG_API ag_node *ag_scalar(ag_graph *g, double v); /* a float constant of shape () */

/* Copies value into an input node (converting float dtypes), checking its
 * dtype and the known dims. */
AG_API ag_status ag_feed(ag_graph *g, ag_node *input, const ag_tensor *value);
/* Runs every node needed by outputs[0..n-1], in topological order. Shapes
 * unknown at build time are inferred here; a mismatch fails here. */
AG_API ag_status ag_forward(ag_graph *g, ag_node *const *outputs, int n);
/* Gradients of `out` with respect to every variable (and every input or
 * constant marked with ag_set_requires_grad) that it depends on. grad_out is
 * the upstream gradient, shaped like out; NULL means ones (the gradient of a
 * scalar loss). Gradients are recomputed, not summed across calls; within a
 * call, a node used twice receives both contributions. Call after
 * ag_forward on out. */
AG_API ag_status ag_backward(ag_graph *g, ag_node *out, const ag_tensor *grad_out);

AG_API const char *ag_node_name(const ag_node *n);
AG_API ag_node_kind ag_node_kind_of(const ag_node *n);
AG_API const char *ag_node_op_name(const ag_node *n); /* "input", "variable", ... or the op */
/* Static shape (dims -1 where unknown). */
AG_API const ag_shape *ag_node_shape(const ag_node *n);
AG_API int ag_node_input_count(const ag_node *n);
AG_API ag_node *ag_node_input(const ag_node *n, int i);
/* Value after ag_forward (a variable's or constant's value at any time). */
AG_API ag_tensor *ag_value(ag_node *n);
/* Gradient after ag_backward; NULL when the node gets none. */
AG_API ag_tensor *ag_grad(ag_node *n);
AG_API void ag_set_requires_grad(ag_node *n, int on);
/* Variables are trainable unless marked otherwise (optimizers skip them). */
AG_API void ag_set_trainable(ag_node *n, int on);
AG_API int ag_is_trainable(const ag_node *n);
/* Sets a variable's (or constant's) value from t: same shape, float dtype
 * converted. */
AG_API ag_status ag_assign(ag_graph *g, ag_node *var, const ag_tensor *t);

/* ------------------------------------------------------------------------ */
/* Ops                                                                       */
/* ------------------------------------------------------------------------ */
/* Each builder returns a new node, or NULL (message on g). The formula of
 * each op sits beside it; x, y are inputs, z the result, gz its gradient.  */

/* Binary ops with NumPy broadcasting. The gradient of a broadcast input is
 * gz summed over the broadcast axes. */
AG_API ag_node *ag_add(ag_graph *g, ag_node *x, ag_node *y); /* z = x + y;  gx = gz, gy = gz */
AG_API ag_node *ag_sub(ag_graph *g, ag_node *x, ag_node *y); /* z = x - y;  gx = gz, gy = -gz */
AG_API ag_node *ag_mul(ag_graph *g, ag_node *x, ag_node *y); /* z = x * y;  gx = gz*y, gy = gz*x */
AG_API ag_node *ag_div(ag_graph *g, ag_node *x,
                       ag_node *y); /* z = x / y;  gx = gz/y, gy = -gz*x/y^2 */

/* Scalar ops. */
AG_API ag_node *ag_add_scalar(ag_graph *g, ag_node *x, double c); /* z = x + c;   gx = gz       */
AG_API ag_node *ag_mul_scalar(ag_graph *g, ag_node *x, double c); /* z = c * x;   gx = c*gz     */
AG_API ag_node *ag_pow_scalar(ag_graph *g, ag_node *x,
                              double p); /* z = x^p;     gx = p*x^(p-1)*gz */

/* Unary ops. */
AG_API ag_node *ag_neg(ag_graph *g, ag_node *x);     /* z = -x;          gx = -gz              */
AG_API ag_node *ag_exp(ag_graph *g, ag_node *x);     /* z = e^x;         gx = gz*z             */
AG_API ag_node *ag_log(ag_graph *g, ag_node *x);     /* z = ln x;        gx = gz/x             */
AG_API ag_node *ag_sqrt(ag_graph *g, ag_node *x);    /* z = sqrt x;      gx = gz/(2z)          */
AG_API ag_node *ag_tanh(ag_graph *g, ag_node *x);    /* z = tanh x;      gx = gz*(1-z^2)       */
AG_API ag_node *ag_sigmoid(ag_graph *g, ag_node *x); /* z = 1/(1+e^-x);  gx = gz*z*(1-z)       */
AG_API ag_node *ag_relu(ag_graph *g, ag_node *x);    /* z = max(x, 0);   gx = gz*[x>0]         */

/* Matrix products. x (M,K) or (B,M,K); y (K,N) or (B,K,N), or (K,N) shared
 * by every batch; each operand transposed first when its flag is set.
 *   z = op(x) · op(y);  gx = gz · op(y)ᵀ (transposed back), gy = op(x)ᵀ · gz */
AG_API ag_node *ag_matmul(ag_graph *g, ag_node *x, ag_node *y, int transpose_x, int transpose_y);

/* Reductions over the axes listed (negative counts from the end); n_axes 0
 * reduces every axis. keepdims keeps reduced axes as 1.
 *   sum:  z = Σ_axes x;       gx = gz broadcast back
 *   mean: z = Σ_axes x / N;   gx = gz/N broadcast back                  */
AG_API ag_node *ag_sum(ag_graph *g, ag_node *x, const int *axes, int n_axes, int keepdims);
AG_API ag_node *ag_mean(ag_graph *g, ag_node *x, const int *axes, int n_axes, int keepdims);
/* The mean over the steps of a mask (GlobalAveragePooling1D with a mask),
 * as one op: x (B,T,C), mask (B,T) of x's dtype (Keras casts it) -> (B,C)
 *   z = Σ_t x·m / Σ_t m  (an all-masked row is 0/0: NaN, as in Keras)
 *   gx = gz·m / Σ_t m;  gm = Σ_c gz·(x - z) / Σ_t m
 * bit for bit sum(x·m[..., None], 1) / sum(m, 1, keepdims), without the
 * (B,T,C) product. */
AG_API ag_node *ag_masked_mean(ag_graph *g, ag_node *x, ag_node *mask);

/* Softmax over the last axis, computed as e^(x-max x) / Σ e^(x-max x).
 *   z_i = e^x_i / Σ_j e^x_j;   gx_i = z_i (gz_i - Σ_j gz_j z_j)          */
AG_API ag_node *ag_softmax(ag_graph *g, ag_node *x);

/* Shape ops (the gradient moves back through the same rearrangement). */
/* New shape with the same size; one dim may be -1 (inferred), 0 copies the
 * input's dim at that position (so unknown batch dims pass through). */
AG_API ag_node *ag_reshape(ag_graph *g, ag_node *x, int rank, const int64_t *shape);
/* z's axis i is x's axis perm[i]. */
AG_API ag_node *ag_transpose(ag_graph *g, ag_node *x, const int *perm);
AG_API ag_node *ag_expand_dims(ag_graph *g, ag_node *x, int axis);
/* Joins along axis; other dims must match. gx_i = gz's slice for x_i. */
AG_API ag_node *ag_concat(ag_graph *g, ag_node *const *xs, int n, int axis);
/* z = x[..., start:start+len, ...] along axis; gx = gz scattered back. */
AG_API ag_node *ag_slice(ag_graph *g, ag_node *x, int axis, int64_t start, int64_t len);

/* Attention heads in and out of the batch axis (ops/heads.c), so that one
 * batched attention op runs every head (MultiHeadAttention):
 *   split_heads:  x (B,T,H·K) -> z (B·H,T,K);  z[b·H+h,t,k] = x[b,t,h·K+k]
 *   merge_heads:  x (B·H,T,K) -> z (B,T,H·K);  the inverse
 *   unfold_heads: x (B·H,T,S) -> z (B,H,T,S);  the same elements
 * gx = gz moved back. */
AG_API ag_node *ag_split_heads(ag_graph *g, ag_node *x, int64_t heads);
AG_API ag_node *ag_merge_heads(ag_graph *g, ag_node *x, int64_t heads);
AG_API ag_node *ag_unfold_heads(ag_graph *g, ag_node *x, int64_t heads);
/* Learned position embeddings (ops/positions.c): table (L,D), x (B,T,...)
 * -> z (B,T,D), z[b,t,:] = table[t,:]; T is x's length at run time and must
 * be at most L.  gtable[t,:] = Σ_b gz[b,t,:]; x gets no gradient. */
AG_API ag_node *ag_position_embedding(ag_graph *g, ag_node *table, ag_node *x);

/* Embedding gather: ids int32/int64 (...), table (V,D) -> z (..., D).
 *   z[i,:] = table[ids[i],:];   gtable[v,:] = Σ_{i: ids[i]=v} gz[i,:]
 * An id outside [0, V) fails the run with the id and its position. */
AG_API ag_node *ag_embedding(ag_graph *g, ag_node *ids, ag_node *table);

/* 1-D convolution (cross-correlation as in Keras), stride 1.
 * x (B,T,C), w (K,C,F), bias (F) or NULL -> z (B,T',F).
 *   z[b,t,f] = bias[f] + Σ_k Σ_c x[b, t+k-pad_left, c] · w[k,c,f]
 * padding: AG_PAD_VALID (T' = T-K+1), AG_PAD_SAME (T' = T; TensorFlow's rule:
 * pad_total = K-1, pad_left = pad_total/2, so K=4 pads 1 left, 2 right),
 * AG_PAD_CAUSAL (T' = T; pad_left = K-1). Out-of-range x reads as 0. */
typedef enum ag_padding { AG_PAD_VALID = 0, AG_PAD_SAME, AG_PAD_CAUSAL } ag_padding;
AG_API ag_node *ag_conv1d(ag_graph *g, ag_node *x, ag_node *w, ag_node *bias, ag_padding padding);
/* The same with stride s >= 1 and TensorFlow's output lengths and padding:
 *   valid:  T' = floor((T-K)/s) + 1, no padding
 *   same:   T' = ceil(T/s), pad_total = max((T'-1)·s + K - T, 0), pad_left = pad_total/2
 *   causal: T' = ceil(T/s), pad_left = K-1
 *   z[b,t,f] = bias[f] + Σ_k Σ_c x[b, t·s+k-pad_left, c] · w[k,c,f]
 * ag_conv1d is stride 1. */
AG_API ag_node *ag_conv1d_strided(ag_graph *g, ag_node *x, ag_node *w, ag_node *bias,
                                  ag_padding padding, int stride);
/* conv1d_strided of x·mask[..., None] (how Conv1D takes a mask), as one op
 * that never stores the product: mask (B,T) of x's dtype, or NULL.
 * Bit for bit ag_conv1d_strided(ag_mul(x, ag_expand_dims(mask, -1)), ...),
 * value and gradients (gx = g·m, gm = Σ_c g·x, g the product's gradient). */
AG_API ag_node *ag_conv1d_masked(ag_graph *g, ag_node *x, ag_node *mask, ag_node *w, ag_node *bias,
                                 ag_padding padding, int stride);

/* Inverted dropout, active only in training mode:
 *   keep_i = [u(seed, step, i) >= rate];  z = x * keep / (1-rate);  gx = gz * keep / (1-rate)
 * Outside training mode z = x. */
AG_API ag_node *ag_dropout(ag_graph *g, ag_node *x, double rate, uint64_t seed);

/* Select by a bool mask, broadcast: z = cond ? x : y;  gx = gz*cond, gy = gz*!cond */
AG_API ag_node *ag_where(ag_graph *g, ag_node *cond, ag_node *x, ag_node *y);
/* Masked fill, broadcast: z = mask ? x : c;  gx = gz*mask */
AG_API ag_node *ag_masked_fill(ag_graph *g, ag_node *x, ag_node *mask, double c);
/* Bool (or 0/1 number) to the graph's float dtype; no gradient flows. */
AG_API ag_node *ag_cast_float(ag_graph *g, ag_node *mask);

/* Losses: the mean over every element, a scalar ().
 * binary cross-entropy, p = probabilities clipped to [ε, 1-ε], ε = 1e-7:
 *   L = -mean(y log p + (1-y) log(1-p));  gp = (p-y)/(p(1-p)) / N inside the clip, 0 outside
 * from logits x: L = mean(max(x,0) - x y + log(1 + e^-|x|));  gx = (σ(x) - y)/N
 * categorical: p (N,C) rows are normalised then clipped; L = -mean_n Σ_c y log p
 * sparse categorical: labels int (N) with p (N,C), same with a one-hot y;
 *   from_logits uses log-softmax: gx = (softmax(x) - onehot)/N
 * mean squared error: L = mean((x-y)^2);  gx = 2(x-y)/N
 * Targets get no gradient. */
AG_API ag_node *ag_binary_crossentropy(ag_graph *g, ag_node *pred, ag_node *target,
                                       int from_logits);
AG_API ag_node *ag_categorical_crossentropy(ag_graph *g, ag_node *pred, ag_node *target,
                                            int from_logits);
AG_API ag_node *ag_sparse_categorical_crossentropy(ag_graph *g, ag_node *pred, ag_node *labels,
                                                   int from_logits);
AG_API ag_node *ag_mean_squared_error(ag_graph *g, ag_node *pred, ag_node *target);

/* ------------------------------------------------------------------------ */
/* Defining ops: the same interface serves built-in and user ops             */
/* ------------------------------------------------------------------------ */

/* What a kernel sees. In forward, in[] and out are valid; in backward, gout
 * (the gradient of out) and gin[i] too, where gin[i] is NULL when input i
 * needs no gradient. Backward kernels ADD into gin[i] (it starts at zero),
 * so a node used twice collects both contributions. */
typedef struct ag_kernel_ctx {
    ag_graph *g;
    ag_node *node;
    int n_in;
    const ag_tensor *in[AG_MAX_INPUTS];
    ag_tensor *out;
    const ag_tensor *gout;
    ag_tensor *gin[AG_MAX_INPUTS];
    const void *params; /* the op's attributes, copied at build time */
    int training;
    uint64_t step;
    ag_error *err; /* set it and return its code to fail */
} ag_kernel_ctx;

typedef struct ag_op ag_op;
struct ag_op {
    const char *name;
    int n_aux; /* workspace tensors kept between forward and backward */
    /* Infers the output dtype and shape from the inputs' (dims may be -1 at
     * build time; all are known at run time). */
    ag_status (*infer)(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                       ag_shape *out, ag_error *err);
    ag_status (*forward)(ag_kernel_ctx *k);
    ag_status (*backward)(ag_kernel_ctx *k);
    /* For the gradient checker: builds variant v (0 <= v < n_samples) of a
     * float64 sample graph on g with random inputs from seed, returns its
     * output. Built-in ops all have one; user ops may too. */
    int n_samples;
    ag_node *(*sample)(ag_graph *g, int variant, uint64_t seed);
    void *user; /* free for a user op's own data */
};

/* Applies op to inputs, copying params_size bytes of params into the node. */
AG_API ag_node *ag_apply(ag_graph *g, const ag_op *op, ag_node *const *inputs, int n_in,
                         const void *params, size_t params_size);
/* A kernel's workspace tensor i (0 <= i < op->n_aux), sized on demand;
 * allocation is counted and reused across runs. NULL with k->err set on
 * failure. */
AG_API ag_tensor *ag_kernel_aux(ag_kernel_ctx *k, int i, ag_dtype dtype, int rank,
                                const int64_t *shape);
/* Workspace tensor i as the forward kernel left it, for the backward
 * kernel to read (no resize). NULL with k->err set when i is out of range. */
AG_API ag_tensor *ag_kernel_saved(ag_kernel_ctx *k, int i);

/* The built-in ops, for walking (the gradient checker does). */
AG_API int ag_builtin_op_count(void);
AG_API const ag_op *ag_builtin_op(int i);
AG_API const ag_op *ag_builtin_op_find(const char *name);

/* ------------------------------------------------------------------------ */
/* Gradient checking                                                         */
/* ------------------------------------------------------------------------ */

/* One entry per checked node (every variable, and every input or constant
 * marked requires_grad, that out depends on). */
typedef struct ag_gradcheck_entry {
    char name[64];
    int64_t size;
    double max_abs; /* max |analytic - numeric|                          */
    double max_rel; /* max |a - n| / max(|a|, |n|, AG_GRADCHECK_FLOOR)   */
} ag_gradcheck_entry;

#define AG_GRADCHECK_MAX   32
#define AG_GRADCHECK_FLOOR 1e-3
typedef struct ag_gradcheck_report {
    int n;
    ag_gradcheck_entry entry[AG_GRADCHECK_MAX];
    double max_abs, max_rel; /* worst over all entries */
} ag_gradcheck_report;

/* Checks the analytic gradient of L = Σ out ⊙ R (R fixed random weights, so
 * every element of out matters) against the five-point central difference
 * (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h with h = 1e-4·max(1,|x|).
 * The graph must be float64 and its inputs fed; the step counter is held
 * fixed so that dropout uses one mask throughout. */
AG_API ag_status ag_gradcheck(ag_graph *g, ag_node *out, uint64_t seed, ag_gradcheck_report *rep);
AG_API void ag_gradcheck_print(FILE *f, const ag_gradcheck_report *rep, const char *title);
/* Checks an op (built-in or yours) the way `attograd gradcheck` does: each
 * of its sample graphs (op->sample, variants 0..n_samples-1) with seeds
 * 1..n_seeds, in float64. *worst receives the report of the sample with the
 * largest relative error, *n_checks (may be NULL) the number of graphs
 * checked. Fails (err says which variant and seed) when the op has no
 * sample or a sample cannot be built or run. */
AG_API ag_status ag_gradcheck_op(const ag_op *op, int n_seeds, ag_gradcheck_report *worst,
                                 int *n_checks, ag_error *err);

/* ------------------------------------------------------------------------ */
/* Attention (Keras's Attention and AdditiveAttention, as fused kernels)     */
/* ------------------------------------------------------------------------ */

typedef enum ag_score_mode {
    AG_SCORE_DOT = 0, /* Luong: s = scale · q·kᵀ                              */
    AG_SCORE_CONCAT,  /* s = w · Σ_d tanh(scale · (q_d + k_d))                  */
    AG_SCORE_ADDITIVE /* Bahdanau: s = Σ_d scale_d · tanh(q_d + k_d)            */
} ag_score_mode;

typedef struct ag_attention_opts {
    ag_score_mode mode;
    int causal;     /* use_causal_mask: query i may not attend to key j > i */
    double dropout; /* on the weights, in training mode only                */
    uint64_t seed;  /* dropout's seed                                       */
    /* heads folded into the batch (batch b·heads + h, as MultiHeadAttention
     * runs its heads): the mask's batch is batch_size / heads, shared by the
     * heads of one example. 0 or 1: no heads. */
    int heads;
    /* Keras 3's masked softmax (MultiHeadAttention): after the softmax the
     * weights are multiplied by the mask, so a row with every key masked has
     * all-zero weights (and gets no gradient). 0: Attention's rule, where
     * such a row keeps the softmax of its -1e9-shifted scores. */
    int zero_masked;
} ag_attention_opts;

/* The attention weights, fused: scores, masking, softmax and dropout in one
 * op whose extra memory is O(B·Tq·Tv) — the (B,Tq,Tv,D) tensor of the
 * concat and additive formulas is never materialised, in either pass.
 *   query (B,Tq,D), key (B,Tv,D), value_mask (B,Tv) bool or NULL — or an
 *   attention mask (B,Tq,Tv), query i may attend to key j where it is true;
 *   with opts->heads = H both are (B/H, ...) and shared by the H heads,
 *   scale: NULL (no scale), shape () or (1) for dot and concat, (D) for
 *   additive; concat_weight: shape () or (1), concat only (NULL means 1)
 *   s = scores above;  s -= 1e9 where value_mask is false or (causal) j > i
 *   a = softmax over Tv;  z = dropout(a) in training mode, else a
 *   -> z (B,Tq,Tv). Gradients flow to query, key, scale and concat_weight. */
AG_API ag_node *ag_attention_weights(ag_graph *g, ag_node *query, ag_node *key, ag_node *value_mask,
                                     ag_node *scale, ag_node *concat_weight,
                                     const ag_attention_opts *opts);

/* Keras's attention call: weights as above (key NULL means key = value),
 * then out = weights · value, and out's rows are zeroed where query_mask
 * (B,Tq) is false (with heads > 1, put the query mask into an attention mask
 * instead).  value (B,Tv,Dv) -> out (B,Tq,Dv). When weights_out is
 * not NULL it receives the weights node (return_attention_scores). */
AG_API ag_node *ag_attention(ag_graph *g, ag_node *query, ag_node *value, ag_node *key,
                             ag_node *query_mask, ag_node *value_mask, ag_node *scale,
                             ag_node *concat_weight, const ag_attention_opts *opts,
                             ag_node **weights_out);

/* ------------------------------------------------------------------------ */
/* Optimizers (optim/)                                                       */
/* ------------------------------------------------------------------------ */
/* Keras's update rules, with Keras's defaults. State (moments) is kept per
 * variable, allocated on the first step and reused after.
 *   SGD:      v = momentum·v - lr·g;  w += v   (nesterov: w += momentum·v - lr·g);
 *             momentum 0: w -= lr·g
 *   Adam:     m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;
 *             w -= lr·√(1-β2^t)/(1-β1^t) · m / (√v + ε)
 *   AdamW:    w -= lr·weight_decay·w (decoupled, first, as Keras does), then Adam
 *   RMSprop:  a = ρ a + (1-ρ) g²;  w -= lr·g/√(a + ε)  (momentum: v = μ v + lr·g/√(a+ε); w -= v)
 * weight_decay > 0 decays any optimizer's weights that way (Keras's base
 * optimizer); it is 0 except for AdamW.
 * clipnorm: each variable's gradient becomes g·clipnorm / max(‖g‖, clipnorm);
 * clipvalue: each gradient element is clipped to [-clipvalue, clipvalue];
 * at most one of the two may be set (as in Keras).
 * An optimizer serves one set of variables: its state is keyed by node. */

typedef enum ag_optimizer_kind { AG_SGD, AG_ADAM, AG_ADAMW, AG_RMSPROP } ag_optimizer_kind;

typedef struct ag_optimizer_config {
    ag_optimizer_kind kind;
    double learning_rate; /* SGD 0.01, Adam/AdamW 0.001, RMSprop 0.001       */
    double momentum;      /* SGD, RMSprop: 0                                  */
    int nesterov;         /* SGD: 0                                           */
    double beta_1;        /* 0.9                                              */
    double beta_2;        /* 0.999                                            */
    double epsilon;       /* Adam/AdamW 1e-7, RMSprop 1e-7                     */
    double rho;           /* RMSprop 0.9                                      */
    double weight_decay;  /* AdamW 0.004                                      */
    double clipnorm;      /* 0: off                                           */
    double clipvalue;     /* 0: off                                           */
} ag_optimizer_config;

typedef struct ag_optimizer ag_optimizer;

/* Keras's defaults for kind. */
AG_API ag_optimizer_config ag_optimizer_defaults(ag_optimizer_kind kind);
AG_API ag_optimizer *ag_optimizer_new(const ag_optimizer_config *cfg, ag_error *err);
AG_API void ag_optimizer_free(ag_optimizer *opt);
AG_API const ag_optimizer_config *ag_optimizer_get_config(const ag_optimizer *opt);
/* One update of every trainable variable in vars[0..n-1] from its current
 * gradient (ag_grad); variables without a gradient are left alone. */
AG_API ag_status ag_optimizer_step(ag_optimizer *opt, ag_graph *g, ag_node *const *vars, int n);
/* Number of steps taken (Keras's `iterations`). */
AG_API int64_t ag_optimizer_iterations(const ag_optimizer *opt);
/* Number of allocations the optimizer has made (state tensors, its table);
 * a step on variables it has seen before adds none. */
AG_API uint64_t ag_optimizer_alloc_count(const ag_optimizer *opt);
/* The optimizer's state, to save and restore a run (ag_model_save_checkpoint
 * does): for each variable it has stepped, in the order of their first
 * steps, ag_optimizer_state_size tensors shaped like the variable (Adam:
 * the moments m and v; SGD with momentum: the velocity; RMSprop: the mean
 * square, and the velocity with momentum). state_var gives the i-th
 * variable and its tensors (borrowed), NULL when i is out of range. set_state
 * gives var that state (created on first use, copied in; shapes checked);
 * set_iterations the step count (Adam's bias correction uses it). */
AG_API int ag_optimizer_state_size(const ag_optimizer *opt);
AG_API int ag_optimizer_state_count(const ag_optimizer *opt);
AG_API ag_node *ag_optimizer_state_var(const ag_optimizer *opt, int i, const ag_tensor **state);
AG_API ag_status ag_optimizer_set_state(ag_optimizer *opt, ag_node *var,
                                        const ag_tensor *const *state, ag_error *err);
AG_API void ag_optimizer_set_iterations(ag_optimizer *opt, int64_t iterations);

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */
/* ------------------------------------------------------------------------ */

/* Binary accuracy: mean of [(p > threshold) == (y > 0.5)], Keras's threshold 0.5. */
AG_API double ag_binary_accuracy(const float *p, const float *y, int64_t n, double threshold);
/* Categorical accuracy: mean of [argmax p_i == argmax y_i] over (n, c). */
AG_API double ag_categorical_accuracy(const float *p, const float *y, int64_t n, int64_t c);
/* ROC AUC, exact: the probability that a random positive scores above a
 * random negative (ties count one half). NaN when a class is absent. */
AG_API double ag_roc_auc(const float *p, const float *y, int64_t n);

/* ------------------------------------------------------------------------ */
/* Layers and models (layers/)                                               */
/* ------------------------------------------------------------------------ */
/* Keras's functional API in C. A model owns a graph; its inputs, layers and
 * the symbolic tensors between them (ag_node *) live in it.
 *
 *   ag_model *m = ag_model_new(AG_FLOAT32, 1234);
 *   ag_node *q = ag_model_input(m, "query", AG_INT32, 1, (int64_t[]){-1});
 *   ag_node *v = ag_model_input(m, "value", AG_INT32, 1, (int64_t[]){-1});
 *   ag_layer *emb = ag_layer_embedding(m, 10000, 64, 1);
 *   ag_layer *cnn = ag_layer_conv1d(m, 100, 4, 1, AG_PAD_SAME, AG_ACT_LINEAR, 1);
 *   ag_node *qe = ag_call(cnn, ag_call(emb, q));    (one layer called twice
 *   ag_node *ve = ag_call(cnn, ag_call(emb, v));     shares its weights)
 *   ag_node *att = ag_call_n(ag_layer_attention(m, 0, "dot", 0.0, 0),
 *                            (ag_node *[]){qe, ve}, 2);
 *   ...
 *   ag_model_build(m, (ag_node *[]){q, v}, 2, &out, 1);   Keras's Model(inputs, outputs)
 *
 * Shapes given to ag_model_input exclude the batch axis (Keras's Input(shape)),
 * -1 for None. Layer constructors return NULL, and ag_call returns NULL, on
 * failure, with the message on the model (ag_model_error); both accept the
 * NULL of an earlier failure, so a caller may build the whole model and check
 * once. A layer builds its weights on its first call, from the input shape.
 * Weights are named "<layer>/<weight>" ("conv1d/kernel", "embedding/embeddings").
 *
 * Initialisers are Keras's: glorot-uniform kernels, U(±√(6/(fan_in+fan_out))),
 * with Conv1D fan_in = K·C and fan_out = K·F; zero biases; Embedding U(±0.05);
 * LayerNormalization gamma 1, beta 0. Values come from Philox keyed by the
 * model's seed + the layer's index, so the same seed gives the same model.
 *
 * Masks (Keras's mask propagation) travel with the symbolic tensors: the
 * model records each layer call's output mask (ag_model_mask), and the next
 * call on that tensor receives it. Embedding(mask_zero) makes mask = ids != 0, a bool (B,T);
 * Conv1D with padding same/causal and stride 1 multiplies its input by the
 * mask (padded steps read as 0) and passes it on (other paddings drop it);
 * Dense, Activation, Dropout and LayerNormalization pass it on; Attention and
 * AdditiveAttention use [query mask, value mask] and their output carries the
 * query mask; MultiHeadAttention uses the query's, value's and key's masks and
 * its output carries the query mask; Concatenate, Add, Subtract and Multiply combine their inputs'
 * masks as Keras 3 does; the global poolings skip masked steps and end the mask. A
 * sequence's prediction therefore does not depend on how much padding its
 * batch has.
 */

typedef struct ag_model ag_model;
typedef struct ag_layer ag_layer;

/* The Keras mask of a model's symbolic tensor x (Keras's x._keras_mask): a
 * bool (B,T) node that the layer call which made x produced, or NULL when it
 * has none (or x is no layer call's output). */
AG_API ag_node *ag_model_mask(const ag_model *m, const ag_node *x);

/* Ops the layers need (ops/not_equal.c, ops/max.c):
 *   not_equal: z = [x != c], bool, x of any dtype; no gradient (a mask).
 *   max: z = max over axis of x, skipping positions where mask is false;
 *     mask (bool) has x's dims up to and including axis, or is NULL; a row
 *     with every position masked gives 0. keepdims keeps the axis as 1.
 *     gx = gz at the first position reaching the maximum, 0 elsewhere. */
AG_API ag_node *ag_not_equal(ag_graph *g, ag_node *x, double c);
AG_API ag_node *ag_max(ag_graph *g, ag_node *x, int axis, int keepdims, ag_node *mask);

/* Activations by name: "linear", "relu", "sigmoid", "tanh", "softmax". */
typedef enum ag_activation {
    AG_ACT_LINEAR = 0, /* z = x                       */
    AG_ACT_RELU,       /* z = max(x, 0)               */
    AG_ACT_SIGMOID,    /* z = 1/(1+e^-x)              */
    AG_ACT_TANH,       /* z = tanh x                  */
    AG_ACT_SOFTMAX     /* z = softmax over the last axis */
} ag_activation;
AG_API const char *ag_activation_name(ag_activation a);
/* The activation named `name`; -1 when there is none. */
AG_API int ag_activation_from_name(const char *name);
/* "valid", "same", "causal" and back; -1 for an unknown name. */
AG_API const char *ag_padding_name(ag_padding p);
AG_API int ag_padding_from_name(const char *name);

/* ---- models ---- */

/* An empty model whose graph computes in float_dtype (AG_FLOAT32, or
 * AG_FLOAT64 to gradient-check a whole model with ag_gradcheck). seed keys
 * every initialiser and every dropout without its own seed. NULL only when
 * out of memory or float_dtype is not a float. */
AG_API ag_model *ag_model_new(ag_dtype float_dtype, uint64_t seed);
AG_API void ag_model_free(ag_model *m);
/* The message of the last failure ("" when none), and its status. A
 * builder given the NULL of an earlier failure keeps that failure's message;
 * compile, fit, evaluate, predict and save clear the message when they start. */
AG_API const char *ag_model_error(const ag_model *m);
AG_API ag_status ag_model_status(const ag_model *m);
AG_API void ag_model_clear_error(ag_model *m);
AG_API ag_graph *ag_model_graph(ag_model *m);
AG_API const char *ag_model_name(const ag_model *m); /* "functional" or "sequential" */

/* Keras's Input(shape, dtype, name): a model input of shape (None, *shape);
 * dims -1 are None. dtype AG_INT32 (token ids) or AG_FLOAT32 (the model's
 * float). name NULL or "" gives Keras's automatic name (input_layer,
 * input_layer_1, ...). Each input is an InputLayer in the summary. */
AG_API ag_node *ag_model_input(ag_model *m, const char *name, ag_dtype dtype, int rank,
                               const int64_t *shape);
/* Keras's Model(inputs, outputs): fixes the model's inputs (fed in this
 * order) and outputs; every output must depend only on those inputs. */
AG_API ag_status ag_model_build(ag_model *m, ag_node *const *inputs, int n_inputs,
                                ag_node *const *outputs, int n_outputs);
/* Sequential: after one ag_model_input, each ag_model_add calls the layer on
 * the previous layer's output; the last output is the model's output. The
 * model is named "sequential" and needs no ag_model_build. */
AG_API ag_status ag_model_add(ag_model *m, ag_layer *layer);

AG_API int ag_model_input_count(const ag_model *m);
AG_API ag_node *ag_model_input_node(const ag_model *m, int i);
AG_API int ag_model_output_count(const ag_model *m);
AG_API ag_node *ag_model_output_node(const ag_model *m, int i);
AG_API int ag_model_layer_count(const ag_model *m); /* InputLayers included */
AG_API ag_layer *ag_model_layer(const ag_model *m, int i);
AG_API ag_layer *ag_model_get_layer(const ag_model *m, const char *name);
/* Every weight of every layer, each once (shared layers own one set), in
 * layer order; trainable = 1 lists the trainable ones, 0 the others, -1 all.
 * Returns the count; writes at most max nodes to out (out may be NULL). */
AG_API int ag_model_weights(const ag_model *m, int trainable, ag_node **out, int max);
AG_API int64_t ag_model_count_params(const ag_model *m, int trainable);

/* Keras's summary: the table Layer (type) | Output Shape | Param # |
 * Connected to (None dims print as None), then
 *   Total params: 678,629 (2.59 MB)
 *   Trainable params: 678,629 (2.59 MB)
 *   Non-trainable params: 0 (0.00 B)                                      */
AG_API void ag_model_summary(const ag_model *m, FILE *f);

/* The model's configuration as JSON (caller frees with free()):
 *   {"class_name": "Functional", "config": {"name", "dtype", "seed",
 *    "layers": [{"class_name", "name", "config", "inbound_nodes"}, ...],
 *    "input_layers": [[name, 0, 0], ...], "output_layers": [...]}}
 * NULL with the message on m on failure. */
AG_API char *ag_model_get_config(ag_model *m);
/* Rebuilds a model (new weights, initialised from the config's seed) from
 * ag_model_get_config's JSON. NULL with err set on a malformed config. */
AG_API ag_model *ag_model_from_config(const char *json, ag_error *err);

/* ---- layers ---- */
/* Each constructor takes Keras's arguments in Keras's order; its defaults
 * are noted. The layer gets Keras's automatic name from its class
 * ("conv1d", "conv1d_1", ...); ag_layer_set_name renames it before its
 * first call. */

/* Embedding(input_dim, output_dim, mask_zero=False): ids (B,...) int32 ->
 * (B,...,output_dim); weight embeddings (input_dim, output_dim), U(±0.05). */
AG_API ag_layer *ag_layer_embedding(ag_model *m, int64_t input_dim, int64_t output_dim,
                                    int mask_zero);
/* Conv1D(filters, kernel_size, strides=1, padding="valid", activation=None,
 * use_bias=True): (B,T,C) -> (B,T',filters); kernel (K,C,F), bias (F). */
AG_API ag_layer *ag_layer_conv1d(ag_model *m, int64_t filters, int64_t kernel_size, int64_t strides,
                                 ag_padding padding, ag_activation activation, int use_bias);
/* Dense(units, activation=None, use_bias=True): (B,...,K) -> (B,...,units);
 * kernel (K,units), bias (units). */
AG_API ag_layer *ag_layer_dense(ag_model *m, int64_t units, ag_activation activation, int use_bias);
/* Dropout(rate, seed=None): inverted dropout in training mode. seed 0 draws
 * from the model's seed and the layer's index. */
AG_API ag_layer *ag_layer_dropout(ag_model *m, double rate, uint64_t seed);
/* Activation(activation). */
AG_API ag_layer *ag_layer_activation(ag_model *m, ag_activation activation);
/* GlobalAveragePooling1D(): (B,T,C) -> (B,C); with a mask, Σ_t x·m / Σ_t m.
 * GlobalMaxPooling1D(): (B,T,C) -> (B,C); with a mask, masked steps are
 * skipped (a row with no unmasked step gives 0). */
AG_API ag_layer *ag_layer_global_average_pooling1d(ag_model *m);
AG_API ag_layer *ag_layer_global_max_pooling1d(ag_model *m);
/* Concatenate(axis=-1): joins its inputs along axis. Masks as Keras 3:
 * along the last axis the output's mask is the OR of the inputs' masks (none
 * when some input has none: all steps valid); along the time axis the masks
 * are joined (an unmasked input's steps all valid). */
AG_API ag_layer *ag_layer_concatenate(ag_model *m, int axis);
/* Keras's elementwise merge layers, called on a list (ag_call_n):
 *   Add():      z = x_1 + ... + x_n        (1 or more inputs)
 *   Subtract(): z = x_1 - x_2              (exactly 2)
 *   Multiply(): z = x_1 ⊙ ... ⊙ x_n        (1 or more)
 * No weights. Inputs of lower rank are expanded at axis 1 first ((B,D) with
 * (B,T,D) -> (B,1,D)); then dims must be equal or 1 (broadcast). Masks as
 * Keras 3: when every input has one, the output's mask is their OR, else
 * none; Multiply reads a masked step of an input as 1 and, when every input
 * is masked, sets the steps outside the OR to 0. */
AG_API ag_layer *ag_layer_add(ag_model *m);
AG_API ag_layer *ag_layer_subtract(ag_model *m);
AG_API ag_layer *ag_layer_multiply(ag_model *m);
/* LayerNormalization(axis=-1, epsilon=1e-3): over the last axis,
 *   z = gamma · (x - mean) / √(var + epsilon) + beta;  gamma, beta (D). */
AG_API ag_layer *ag_layer_layer_normalization(ag_model *m, double epsilon);
/* Attention(use_scale=False, score_mode="dot", dropout=0.0, seed=None):
 * Luong attention over ag_attention. score_mode "dot" or "concat". Weights:
 * scale () = 1 when use_scale; concat_score_weight () = 1 when concat —
 * 0, 1 or 2 weights as Keras. seed 0: from the model's seed and the layer's
 * index. */
AG_API ag_layer *ag_layer_attention(ag_model *m, int use_scale, const char *score_mode,
                                    double dropout, uint64_t seed);
/* AdditiveAttention(use_scale=True, dropout=0.0, seed=None): Bahdanau
 * attention; weight scale (D) glorot-uniform, U(±√(6/(D+D))), when use_scale. */
AG_API ag_layer *ag_layer_additive_attention(ag_model *m, int use_scale, double dropout,
                                             uint64_t seed);
/* The older `causal` constructor flag of both attention layers: every call
 * uses a causal mask (as use_causal_mask = True). */
AG_API ag_status ag_layer_set_causal(ag_layer *l, int causal);
/* MultiHeadAttention(num_heads, key_dim, value_dim=None, dropout=0.0,
 * use_bias=True, output_shape=None, kernel_initializer="glorot_uniform",
 * bias_initializer="zeros", seed=None), Keras 3's, on rank-3 inputs with
 * attention over axis 1 (layers/mha.c gives the formulas). Weights, as
 * Keras's EinsumDense kernels: query/kernel (Dq,H,K), query/bias (H,K),
 * key/kernel (Dk,H,K), key/bias (H,K), value/kernel (Dv,H,V), value/bias
 * (H,V), attention_output/kernel (H,V,O), attention_output/bias (O), with
 * H = num_heads, K = key_dim, V = value_dim (or key_dim), O = output_shape
 * (or Dq); no biases without use_bias. Glorot fans as Keras computes them
 * for a kernel (..., in, out): fan_in = in·Π(...), fan_out = out·Π(...).
 * Initialisers: "glorot_uniform", "zeros" or "ones". Call with ag_call_n
 * ([query, value] or [query, value, key]) or ag_call_attention for masks,
 * use_causal_mask and the (B,H,Tq,Tv) scores (taken before dropout, as
 * Keras does). A masked softmax as Keras 3's: masked scores get -1e9, then
 * the weights are multiplied by the mask, so a query whose keys are all
 * masked attends to nothing. The output carries the query's mask. */
typedef struct ag_mha_config {
    int64_t num_heads, key_dim;
    int64_t value_dim;              /* 0: None (key_dim)                  */
    double dropout;                 /* 0.0                                */
    int use_bias;                   /* 1                                  */
    int64_t output_shape;           /* 0: None (the query's last dim)     */
    const char *kernel_initializer; /* "glorot_uniform"                   */
    const char *bias_initializer;   /* "zeros"                            */
    uint64_t seed;                  /* 0: None (the model's seed, layer's index) */
} ag_mha_config;
/* Keras's defaults for the other fields. */
AG_API ag_mha_config ag_mha_defaults(int64_t num_heads, int64_t key_dim);
AG_API ag_layer *ag_layer_multi_head_attention(ag_model *m, const ag_mha_config *cfg);
/* PositionEmbedding(sequence_length), keras_hub's learned position
 * embeddings: x (B,T,D) -> the embeddings of positions 0..T-1 (B,T,D), to be
 * added to x (Add); weight embeddings (sequence_length, D), glorot-uniform.
 * A batch longer than sequence_length fails the run. Carries x's mask. */
AG_API ag_layer *ag_layer_position_embedding(ag_model *m, int64_t sequence_length);

/* Calls a layer: ag_call on one input, ag_call_n on a list (Concatenate,
 * Attention [query, value] or [query, value, key]). Returns the output
 * node; its mask, if any, is ag_model_mask's. */
AG_API ag_node *ag_call(ag_layer *l, ag_node *x);
AG_API ag_node *ag_call_n(ag_layer *l, ag_node *const *inputs, int n);
/* An attention layer's call with Keras's call arguments. mask: explicit
 * [query_mask, value_mask] (n_mask = 2; either may be NULL); n_mask = 0 takes
 * the inputs' own masks. attention_scores (return_attention_scores) receives
 * the (B,Tq,Tv) weights after masking and softmax ((B,H,Tq,Tv) for
 * MultiHeadAttention). Dropout follows the graph's training mode (fit turns
 * it on), which stands for Keras's `training` argument. MultiHeadAttention
 * also takes key_mask (B,Tv) and attention_mask (B,Tq,Tv), bool or 0/1. */
typedef struct ag_attention_call {
    ag_node *const *mask;
    int n_mask;
    int use_causal_mask;
    ag_node **attention_scores;
    ag_node *key_mask;       /* MultiHeadAttention only; NULL: the key's own mask */
    ag_node *attention_mask; /* MultiHeadAttention only                            */
} ag_attention_call;
AG_API ag_node *ag_call_attention(ag_layer *l, ag_node *const *inputs, int n,
                                  const ag_attention_call *opts);
/* The attention weights node of an attention layer's call number `call`
 * (0 for its first), whether or not return_attention_scores was asked:
 * what a heatmap plots. NULL for other layers. */
AG_API ag_node *ag_layer_attention_scores(const ag_layer *l, int call);

AG_API const char *ag_layer_name(const ag_layer *l);
AG_API ag_status ag_layer_set_name(ag_layer *l, const char *name);
AG_API const char *ag_layer_class_name(const ag_layer *l); /* "Conv1D", ...  */
AG_API int ag_layer_call_count(const ag_layer *l);
/* Output node of call number `call` (0-based), NULL when out of range. */
AG_API ag_node *ag_layer_output(const ag_layer *l, int call);
/* The layer's weights (built on the first call): trainable = 1, 0 or -1
 * (all), as ag_model_weights. */
AG_API int ag_layer_weights(const ag_layer *l, int trainable, ag_node **out, int max);
AG_API int64_t ag_layer_count_params(const ag_layer *l);
/* Freezes (0) or unfreezes (1) every weight of the layer. */
AG_API void ag_layer_set_trainable(ag_layer *l, int trainable);
/* Keras's get_config as JSON ({"name": ..., "units": ..., ...}); caller
 * frees. from_config makes a new layer of class_name in m from such JSON,
 * refusing unknown classes and bad arguments with the reason. */
AG_API char *ag_layer_get_config(const ag_layer *l);
AG_API ag_layer *ag_layer_from_config(ag_model *m, const char *class_name, const char *json);

/* ---- training ---- */

typedef enum ag_loss_kind {
    AG_LOSS_BINARY_CROSSENTROPY = 0,
    AG_LOSS_CATEGORICAL_CROSSENTROPY,
    AG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
    AG_LOSS_MEAN_SQUARED_ERROR
} ag_loss_kind;
AG_API const char *ag_loss_name(ag_loss_kind l); /* "binary_crossentropy", ... "mse" */
AG_API int ag_loss_from_name(const char *name);  /* -1 when unknown */

/* Metrics, or-ed: accuracy (binary or categorical, from the loss; binary
 * outputs count as 1 above 0.5, or above 0 with from_logits) and AUC (exact
 * ROC AUC over the epoch, binary outputs). */
enum { AG_METRIC_ACCURACY = 1, AG_METRIC_AUC = 2 };
#define AG_MAX_METRICS 2

/* Keras's compile: the optimizer (NULL: Adam with Keras's defaults), loss
 * on output 0 against a target of the output's shape (sparse: int32 labels
 * (B)), and metrics. Compiling again resets the optimizer's state. */
AG_API ag_status ag_model_compile(ag_model *m, const ag_optimizer_config *optimizer,
                                  ag_loss_kind loss, int from_logits, unsigned metrics);

/* A source of batches, for data whose batches differ in shape (each text
 * batch padded to its own longest sequence). get_batch fills inputs[i]
 * (one tensor per model input) and *target (may stay NULL for predict)
 * for batch number `batch`, 0 <= batch < n_batches; the tensors stay owned
 * by the source and must stay valid until its next call. */
typedef struct ag_batch_source {
    int64_t n_batches;
    ag_status (*get_batch)(void *user, int64_t batch, const ag_tensor **inputs,
                           const ag_tensor **target, ag_error *err);
    void *user;
} ag_batch_source;

/* ---- data parallelism ---- */
/* A group of `size` processes (ranks) training one model together, for
 * ag_fit_options.dist. Every rank calls every function below, and every
 * collective of the table, in the same order. ag_dist_single() is the
 * one-process group; the attograd_dist library (attograd_dist.h) makes
 * MPI's world one: ag_dist_init under `mpirun -np N`. The table is the
 * whole transport, so another one (a test's, a cluster's) can be plugged in:
 *   bcast:  root's bytes to every rank
 *   gather: rank r's counts[r] bytes (mine) into all, ranks in order
 *   min:    n int64 values, elementwise minimum over the ranks, in place
 *   send/recv: bytes to / from one rank (a blocking pair)
 * Each returns AG_OK or an error code (then *msg may say why). */
typedef struct ag_dist ag_dist;
struct ag_dist {
    int rank, size;
    void *user;
    ag_status (*bcast)(ag_dist *d, void *buf, size_t bytes, int root);
    ag_status (*gather)(ag_dist *d, const void *mine, void *all, const size_t *counts);
    ag_status (*min)(ag_dist *d, int64_t *v, int n);
    ag_status (*send)(ag_dist *d, const void *buf, size_t bytes, int to);
    ag_status (*recv)(ag_dist *d, void *buf, size_t bytes, int from);
    char msg[256];
};
/* The one-process group: rank 0 of 1 (a shared constant). */
AG_API ag_dist *ag_dist_single(void);
/* rank and size; NULL reads as the one-process group. */
AG_API int ag_dist_rank(const ag_dist *d);
AG_API int ag_dist_size(const ag_dist *d);
/* Agrees on a status: every rank passes its own (st, and msg when st is
 * not AG_OK); every rank returns the status of the lowest-numbered rank
 * that failed (AG_OK when none did) and err receives "rank R: msg" (just
 * msg with one rank). A failing rank never leaves the others waiting. */
AG_API ag_status ag_dist_agree(ag_dist *d, ag_status st, const char *msg, ag_error *err);

typedef struct ag_fit_options {
    int64_t batch_size;     /* 32 (tensor form only)                           */
    int epochs;             /* 1                                               */
    int shuffle;            /* 1: examples (or batches, for a source) reshuffled each epoch */
    uint64_t seed;          /* the shuffle's seed: 0                           */
    int verbose;            /* 0 silent, 1 progress bar (default), 2 a line per epoch */
    int64_t progress_every; /* not a TTY: a progress line every N batches; 0: about 20 per epoch */
    FILE *out;              /* progress output: NULL is stdout                 */
    /* validation data: tensors (val_x, one per input, and val_y) or a source */
    const ag_tensor *const *val_x;
    const ag_tensor *val_y;
    const ag_batch_source *val_source;
    /* early stopping on val_loss (needs validation data) */
    int early_stopping;
    int patience;             /* epochs without improvement before stopping: 0   */
    double min_delta;         /* an improvement is a decrease by more than this: 0 */
    int restore_best_weights; /* 0                                               */
    /* data parallelism: each training (and validation) batch is cut into
     * `shards` micro-shards of consecutive rows, shard s holding rows
     * [s·B/shards, (s+1)·B/shards); with dist (NULL: one process) the ranks
     * share the shards, rank r computing [r·shards/size, (r+1)·shards/size).
     * A step's gradient is Σ_s (B_s/B)·∇L_s, summed in shard order (0 + g_0
     * + g_1 + ...), and shard s's dropout uses step counter t·shards + s, so
     * the weights after every step depend on shards and never on the number
     * of ranks or threads. Loss and metrics are reduced the same way and
     * every rank returns the same history; only rank 0 prints. fit starts
     * by checking that the ranks agree (batches, weights, options) and
     * giving every rank rank 0's weights; an error on any rank ends fit on
     * every rank with that rank's message. 0 (default): whole batches, one
     * process (dist must then be NULL or have one rank). */
    int shards;
    ag_dist *dist;
    /* Keras's initial_epoch: start at this epoch (0-based; the epochs before
     * it are not run, but their shuffles are drawn, so the run continues as
     * an uninterrupted one would). 0 by default. */
    int initial_epoch;
    /* Checkpoints: with checkpoint_dir, the end of every epoch writes
     * DIR/epoch-NNNNNN.safetensors atomically (the weights, the optimizer's
     * moments and iteration count, the graph's step counter, the epoch,
     * fit's shuffle RNG, the history and the early-stopping record with its
     * best weights), keeping the newest two. With resume, fit starts from the
     * newest one that loads and whose model config and checkpoint_tag (the
     * caller's description of the run; NULL is "") match, skipping a damaged
     * one with a note; a run killed at any moment and resumed ends with the
     * weights of an uninterrupted one, bit for bit. */
    const char *checkpoint_dir;
    const char *checkpoint_tag;
    int resume;
    /* Optional: called before each epoch fit runs (0-based), with
     * begin_epoch_user. A batch source that reshuffles its examples does it
     * here, and must leave itself as an uninterrupted run would at that epoch
     * even when fit skipped epochs (initial_epoch, or a resumed checkpoint). */
    ag_status (*begin_epoch)(void *user, int epoch, ag_error *err);
    void *begin_epoch_user;
} ag_fit_options;
AG_API ag_fit_options ag_fit_defaults(void);

/* Per-epoch history, Keras's History.history: loss and each metric
 * ("accuracy", "auc", in that order), and the same for validation. */
typedef struct ag_history {
    int epochs; /* epochs run (early stopping may end before fit's epochs) */
    int n_metrics;
    const char *metric_names[AG_MAX_METRICS];
    double *loss;
    double *metric[AG_MAX_METRICS];
    int has_validation;
    double *val_loss;
    double *val_metric[AG_MAX_METRICS];
    int best_epoch;    /* early stopping: epoch (0-based) with the lowest val_loss, else -1 */
    int stopped_epoch; /* early stopping: epoch after which it stopped, else -1 */
} ag_history;
AG_API void ag_history_release(ag_history *h); /* frees the arrays */

/* Keras's fit on whole tensors: x[i] (N, ...) for input i, y (N, ...) or
 * sparse labels (N). One step: forward in training mode, backward of the
 * loss, an optimizer step on the trainable weights; after the first step of
 * each batch shape a step allocates no tensor. Prints
 *   120/784 [====>.........................] - loss: 0.4213 - accuracy: 0.8125
 * per batch (running means over the epoch; redrawn with '\r' on a TTY) and
 *   Epoch 1/10 ... - 3s 4ms/step - loss: ... - val_loss: ... - val_accuracy: ...
 * per epoch. history (may be NULL) receives the history; release it. */
AG_API ag_status ag_model_fit(ag_model *m, const ag_tensor *const *x, const ag_tensor *y,
                              const ag_fit_options *opts, ag_history *history);
AG_API ag_status ag_model_fit_source(ag_model *m, const ag_batch_source *train,
                                     const ag_fit_options *opts, ag_history *history);
/* Keras's evaluate in inference mode: *loss and metrics[k] (the compiled
 * metrics in the order accuracy, auc; metrics may be NULL). */
AG_API ag_status ag_model_evaluate(ag_model *m, const ag_tensor *const *x, const ag_tensor *y,
                                   int64_t batch_size, double *loss, double *metrics);
AG_API ag_status ag_model_evaluate_source(ag_model *m, const ag_batch_source *src, double *loss,
                                          double *metrics);
/* Keras's predict in inference mode: out[j] receives a new tensor (free
 * it) for output j, the batches' outputs joined along axis 0. */
AG_API ag_status ag_model_predict(ag_model *m, const ag_tensor *const *x, int64_t batch_size,
                                  ag_tensor **out);
AG_API ag_status ag_model_predict_source(ag_model *m, const ag_batch_source *src, ag_tensor **out);
/* One batch in inference mode, and any extra nodes of the model's graph
 * (an attention layer's scores, say; at most 64): after it, ag_value of each
 * output and of extra[0..n_extra-1] holds this batch's values. */
AG_API ag_status ag_model_run(ag_model *m, const ag_tensor *const *x, ag_node *const *extra,
                              int n_extra);

/* ---- save and load ---- */
/* One safetensors file: an 8-byte little-endian header length, a JSON header
 *   {"__metadata__": {"format": "attograd", "config": <model config>,
 *                     <caller's extra entries>},
 *    "conv1d/kernel": {"dtype": "F32", "shape": [4, 64, 100],
 *                      "data_offsets": [begin, end]}, ...}
 * then the weights' bytes, little-endian. Written to <path>.tmp.XXXXXX in the
 * same directory, flushed and fsync-ed, renamed over path, and the directory
 * fsync-ed: a crash never leaves a half-written path. The compile settings
 * ("training_config") are saved too, and each tensor's CRC-32 ("crc32/NAME"
 * in __metadata__). Non-finite weights are refused. */
AG_API ag_status ag_model_save(ag_model *m, const char *path, const char *const *meta_keys,
                               const char *const *meta_values, int n_meta);
/* Rebuilds the model from the file's config and loads its weights:
 * predictions are bit-identical to the saved model's. A truncated or
 * corrupted file (a checksum that does not match), a tensor missing or of
 * the wrong dtype/shape — checked before the weight is allocated — or a
 * non-finite weight is refused (NULL, err says why and names the tensor). */
AG_API ag_model *ag_model_load(const char *path, ag_error *err);
/* A __metadata__ entry of the file the model was loaded from; NULL if none. */
AG_API const char *ag_model_metadata(const ag_model *m, const char *key);

/* The safetensors format itself, for any named tensors (F32, F64, I32, I64,
 * BOOL). save writes atomically as above. */
typedef struct ag_safetensors ag_safetensors;
AG_API ag_status ag_safetensors_save(const char *path, const char *const *names,
                                     const ag_tensor *const *tensors, int n,
                                     const char *const *meta_keys, const char *const *meta_values,
                                     int n_meta, ag_error *err);
/* Reads and checks the whole file (a regular file; header length, JSON
 * without repeated keys, dtypes, shapes, offsets in order, inside the file
 * and covering it, and each "crc32/NAME" checksum present). The checksums
 * are not listed among the metadata. */
AG_API ag_safetensors *ag_safetensors_open(const char *path, ag_error *err);
AG_API void ag_safetensors_close(ag_safetensors *st);
AG_API int ag_safetensors_count(const ag_safetensors *st);
AG_API const char *ag_safetensors_name(const ag_safetensors *st, int i);
/* The tensor named name (borrowed, valid until close); NULL if absent. */
AG_API const ag_tensor *ag_safetensors_get(const ag_safetensors *st, const char *name);
AG_API const char *ag_safetensors_metadata(const ag_safetensors *st, const char *key);
AG_API int ag_safetensors_metadata_count(const ag_safetensors *st);
AG_API const char *ag_safetensors_metadata_key(const ag_safetensors *st, int i);

/* CRC-32 as zlib's crc32 computes it (IEEE polynomial, reflected): continue
 * from crc (0 to start). crc32("The quick brown fox jumps over the lazy dog")
 * = 0x414FA339. */
AG_API uint32_t ag_crc32(uint32_t crc, const void *data, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* ATTOGRAD_H */
