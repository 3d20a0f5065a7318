/* tensor.c — dense row-major arrays: creation, resizing, conversion, printing. */
#include "internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

/* ag_set_memory_limit's budget (UINT64_MAX: none), read by every allocation. */
static _Atomic uint64_t memory_limit = UINT64_MAX;

void ag_set_memory_limit(uint64_t bytes)
{
    atomic_store(&memory_limit, bytes ? bytes : UINT64_MAX);
}
uint64_t ag_memory_limit(void) { return atomic_load(&memory_limit); }

const char *ag_dtype_name(ag_dtype t)
{
    switch (t) {
    case AG_FLOAT32: return "float32";
    case AG_FLOAT64: return "float64";
    case AG_INT32: return "int32";
    case AG_INT64: return "int64";
    case AG_BOOL: return "bool";
    }
    return "unknown";
}

size_t ag_dtype_size(ag_dtype t)
{
    switch (t) {
    case AG_FLOAT32: return 4;
    case AG_FLOAT64: return 8;
    case AG_INT32: return 4;
    case AG_INT64: return 8;
    case AG_BOOL: return 1;
    }
    return 0;
}

int ag_dtype_is_float(ag_dtype t) { return t == AG_FLOAT32 || t == AG_FLOAT64; }

const char *ag_shape_str(int rank, const int64_t *shape, char *buf, size_t n)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < rank && used < n; i++) {
        if (shape[i] < 0)
            used += (size_t)snprintf(buf + used, n - used, "%sNone", i ? ", " : "");
        else
            used += (size_t)snprintf(buf + used, n - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    }
    if (used < n) snprintf(buf + used, n - used, rank == 1 ? ",)" : ")");
    return buf;
}

/* Checks rank and dims; on success *size holds the element count. */
static ag_status check_shape(int rank, const int64_t *shape, int64_t *size, ag_error *err)
{
    if (rank < 0 || rank > AG_MAX_RANK)
        return ag_error_set(err, AG_ERR_ARG, "tensor: rank must be 0 to %d, received %d",
                            AG_MAX_RANK, rank);
    if (rank > 0 && !shape)
        return ag_error_set(err, AG_ERR_ARG, "tensor: shape is NULL for rank %d", rank);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return ag_error_set(err, AG_ERR_SHAPE,
                                "tensor: dimension %d must be known (>= 0), received %" PRId64, i,
                                shape[i]);
        if (shape[i] > 0 && n > INT64_MAX / 16 / shape[i])
            return ag_error_set(err, AG_ERR_SHAPE, "tensor: shape is too large");
        n *= shape[i];
    }
    *size = n;
    return AG_OK;
}

ag_status ag_tensor_reshape_storage(ag_tensor *t, ag_dtype dtype, int rank, const int64_t *shape,
                                    uint64_t *allocs, ag_error *err)
{
    int64_t size = 0;
    ag_status st = check_shape(rank, shape, &size, err);
    if (st) return st;
    size_t bytes = (size_t)size * ag_dtype_size(dtype);
    if (bytes > t->capacity || !t->data) {
        size_t want = bytes ? bytes : 1;
        if ((uint64_t)want > ag_memory_limit()) {
            char s[160];
            return ag_error_set(err, AG_ERR_NOMEM,
                                "tensor: %s %s needs %zu bytes, more than the memory limit of "
                                "%" PRIu64 " bytes (ag_set_memory_limit)",
                                ag_dtype_name(dtype), ag_shape_str(rank, shape, s, sizeof s), want,
                                ag_memory_limit());
        }
        /* 64-byte alignment for vector loads */
        void *p = aligned_alloc(64, (want + 63) / 64 * 64);
        if (!p) return ag_error_set(err, AG_ERR_NOMEM, "tensor: cannot allocate %zu bytes", want);
        free(t->data);
        t->data = p;
        t->capacity = (want + 63) / 64 * 64;
        if (allocs) (*allocs)++;
    }
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    for (int i = rank; i < AG_MAX_RANK; i++)
        t->shape[i] = 0;
    t->size = size;
    return AG_OK;
}

void ag_tensor_release(ag_tensor *t)
{
    if (!t) return;
    free(t->data);
    t->data = NULL;
    t->capacity = 0;
    t->size = 0;
}

ag_tensor *ag_tensor_new(ag_dtype dtype, int rank, const int64_t *shape, ag_error *err)
{
    ag_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        ag_error_set(err, AG_ERR_NOMEM, "tensor: out of memory");
        return NULL;
    }
    if (ag_tensor_reshape_storage(t, dtype, rank, shape, NULL, err)) {
        free(t);
        return NULL;
    }
    ag_tensor_zero(t);
    return t;
}

ag_tensor *ag_tensor_from(ag_dtype dtype, int rank, const int64_t *shape, const void *data,
                          ag_error *err)
{
    ag_tensor *t = ag_tensor_new(dtype, rank, shape, err);
    if (t && data) memcpy(t->data, data, (size_t)t->size * ag_dtype_size(dtype));
    return t;
}

ag_tensor *ag_tensor_copy(const ag_tensor *t, ag_error *err)
{
    if (!t) {
        ag_error_set(err, AG_ERR_ARG, "tensor_copy: tensor is NULL");
        return NULL;
    }
    return ag_tensor_from(t->dtype, t->rank, t->shape, t->data, err);
}

ag_tensor *ag_tensor_cast(const ag_tensor *t, ag_dtype dtype, ag_error *err)
{
    if (!t) {
        ag_error_set(err, AG_ERR_ARG, "tensor_cast: tensor is NULL");
        return NULL;
    }
    ag_tensor *r = ag_tensor_new(dtype, t->rank, t->shape, err);
    if (!r) return NULL;
    if (dtype == t->dtype) {
        memcpy(r->data, t->data, (size_t)t->size * ag_dtype_size(dtype));
        return r;
    }
    for (int64_t i = 0; i < t->size; i++)
        ag_tensor_set(r, i, ag_tensor_get(t, i));
    return r;
}

void ag_tensor_free(ag_tensor *t)
{
    if (!t) return;
    free(t->data);
    free(t);
}

/* Large tensors (an embedding's gradient, every step) are zeroed by all the
 * threads, a 64 KiB block each at a time. */
void ag_tensor_zero(ag_tensor *t)
{
    if (!t || !t->data) return;
    const int64_t bytes = t->size * (int64_t)ag_dtype_size(t->dtype), block = 1 << 16;
    if (bytes < 8 * block) {
        memset(t->data, 0, (size_t)bytes);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < (bytes + block - 1) / block; b++)
        memset((char *)t->data + b * block, 0,
               (size_t)(bytes - b * block < block ? bytes - b * block : block));
}

double ag_tensor_get(const ag_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case AG_FLOAT32: return AG_F32(t)[i];
    case AG_FLOAT64: return AG_F64(t)[i];
    case AG_INT32: return AG_I32(t)[i];
    case AG_INT64: return (double)AG_I64(t)[i];
    case AG_BOOL: return AG_U8(t)[i];
    }
    return 0;
}

void ag_tensor_set(ag_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case AG_FLOAT32: AG_F32(t)[i] = (float)v; break;
    case AG_FLOAT64: AG_F64(t)[i] = v; break;
    case AG_INT32: AG_I32(t)[i] = (int32_t)v; break;
    case AG_INT64: AG_I64(t)[i] = (int64_t)v; break;
    case AG_BOOL: AG_U8(t)[i] = v != 0; break;
    }
}

static void print_elem(FILE *f, const ag_tensor *t, int64_t i)
{
    double v = ag_tensor_get(t, i);
    if (t->dtype == AG_BOOL)
        fputs(v ? " True" : "False", f);
    else if (!ag_dtype_is_float(t->dtype))
        fprintf(f, "%6" PRId64, (int64_t)v);
    else
        fprintf(f, "%10.4g", v);
}

/* Recursive NumPy-like printing; rows longer than 12 or more than 12 rows
 * per axis are elided with "...". */
static void print_rec(FILE *f, const ag_tensor *t, int axis, int64_t offset, int64_t stride,
                      int indent)
{
    if (t->rank == 0) {
        print_elem(f, t, 0);
        return;
    }
    int64_t n = t->shape[axis], inner = stride / (n ? n : 1);
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (n > 12 && i == 6) {
            fputs(axis == t->rank - 1 ? " ..." : "...\n", f);
            i = n - 6;
        }
        if (axis == t->rank - 1) {
            if (i) fputc(' ', f);
            print_elem(f, t, offset + i);
        } else {
            if (i) fprintf(f, "\n%*s", indent + 1, "");
            print_rec(f, t, axis + 1, offset + i * inner, inner, indent + 1);
        }
    }
    fputc(']', f);
}

void ag_tensor_print(FILE *f, const ag_tensor *t, const char *label)
{
    char buf[128];
    if (!t) {
        fprintf(f, "%s: (null)\n", label ? label : "tensor");
        return;
    }
    fprintf(f, "%s %s %s\n", label ? label : "tensor",
            ag_shape_str(t->rank, t->shape, buf, sizeof buf), ag_dtype_name(t->dtype));
    print_rec(f, t, 0, 0, t->size, 0);
    fputc('\n', f);
}

/* The first non-finite element: blocks are tested without an early exit (an
 * exponent of all ones, OR-reduced: it vectorises), and only a block that
 * holds one is searched. Training calls this on every gradient and weight. */
enum { FINITE_BLOCK = 4096 };

static int64_t first_nonfinite_f32(const float *p, int64_t n)
{
    for (int64_t i0 = 0; i0 < n; i0 += FINITE_BLOCK) {
        const int64_t m = n - i0 < FINITE_BLOCK ? n - i0 : FINITE_BLOCK;
        uint32_t any = 0;
        for (int64_t i = 0; i < m; i++) {
            uint32_t u;
            memcpy(&u, p + i0 + i, sizeof u);
            any |= (u & 0x7f800000u) == 0x7f800000u;
        }
        if (any)
            for (int64_t i = 0; i < m; i++)
                if (!isfinite(p[i0 + i])) return i0 + i;
    }
    return -1;
}

static int64_t first_nonfinite_f64(const double *p, int64_t n)
{
    for (int64_t i0 = 0; i0 < n; i0 += FINITE_BLOCK) {
        const int64_t m = n - i0 < FINITE_BLOCK ? n - i0 : FINITE_BLOCK;
        uint64_t any = 0;
        for (int64_t i = 0; i < m; i++) {
            uint64_t u;
            memcpy(&u, p + i0 + i, sizeof u);
            any |= (u & 0x7ff0000000000000u) == 0x7ff0000000000000u;
        }
        if (any)
            for (int64_t i = 0; i < m; i++)
                if (!isfinite(p[i0 + i])) return i0 + i;
    }
    return -1;
}

/* The first non-finite element of a large tensor: blocks in parallel, the
 * lowest index found wins (the same answer for any thread count). */
static int64_t first_nonfinite(const ag_tensor *t, int64_t i0, int64_t n)
{
    int64_t at = t->dtype == AG_FLOAT32 ? first_nonfinite_f32(AG_F32(t) + i0, n)
                                        : first_nonfinite_f64(AG_F64(t) + i0, n);
    return at < 0 ? -1 : i0 + at;
}

int64_t ag_tensor_find_nonfinite(const ag_tensor *t)
{
    if (!t || !t->data || (t->dtype != AG_FLOAT32 && t->dtype != AG_FLOAT64)) return -1;
    const int64_t chunk = 16 * FINITE_BLOCK, chunks = (t->size + chunk - 1) / chunk;
    if (chunks < 4) return first_nonfinite(t, 0, t->size);
    int64_t found = INT64_MAX;
#pragma omp parallel for schedule(static) reduction(min : found)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t i0 = c * chunk, n = t->size - i0 < chunk ? t->size - i0 : chunk;
        const int64_t at = i0 < found ? first_nonfinite(t, i0, n) : -1;
        if (at >= 0 && at < found) found = at;
    }
    return found == INT64_MAX ? -1 : found;
}
