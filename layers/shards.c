/* shards.c — data-parallel steps: a batch cut into micro-shards, the
 * shards spread over the ranks of an ag_dist, their gradients summed in
 * shard order, so that the weights never depend on the number of ranks.
 *
 * A batch of B rows, K shards, N ranks:
 *   shard s = rows [s·B/K, (s+1)·B/K)            rank r computes shards [r·K/N, (r+1)·K/N)
 *   forward of shard s in training mode, step counter t·K + s (dropout per shard)
 *   backward of L_s seeded with B_s/B            g_s = (B_s/B)·∇L_s
 *   g = 0 + g_0 + g_1 + ... + g_{K-1}            (ag__dist_ordered_sum)
 *   the optimizer step with g, on every rank     (the same weights everywhere)
 *   loss = Σ_s (B_s/B)·L_s;  outputs: every shard's rows, gathered in shard order
 * One process with the same K computes exactly these sums in this order.
 */
#include "layer.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>

void ag__shard_release(ag_shard_buffers *b)
{
    for (int i = 0; i < AG_MAX_INPUTS; i++)
        ag_tensor_release(&b->x[i]);
    ag_tensor_release(&b->y);
    ag_tensor_release(&b->own);
    ag_tensor_release(&b->out);
    ag_tensor_release(&b->seed);
    free(b->acc);
    for (int j = 0; j < b->cap_parts; j++)
        free(b->parts[j]);
    free(b->parts);
    free(b->loss);
    free(b->has);
    free(b->counts);
    memset(b, 0, sizeof *b);
}

/* Room for K shards, n_vars variables, N ranks, P gradient elements of
 * size es, and n_parts shard gradients. */
static ag_status reserve(ag_model *m, int K, int n_vars, int N, int64_t P, size_t es, int n_parts)
{
    ag_shard_buffers *b = &m->shard;
    if (K > b->cap_shards) {
        double *l = realloc(b->loss, 2 * (size_t)K * sizeof *l);
        if (!l) goto oom;
        b->loss = l, b->cap_shards = K;
    }
    if (n_vars > b->cap_vars) {
        int64_t *h = realloc(b->has, ((size_t)n_vars + 1) * sizeof *h);
        if (!h) goto oom;
        b->has = h, b->cap_vars = n_vars;
    }
    if (N > b->cap_ranks) {
        size_t *c = realloc(b->counts, (size_t)N * sizeof *c);
        if (!c) goto oom;
        b->counts = c, b->cap_ranks = N;
    }
    if (P > b->cap_acc) { /* every buffer of P elements grows together */
        for (int j = 0; j < b->cap_parts; j++)
            free(b->parts[j]), b->parts[j] = NULL;
        b->cap_parts = 0;
        free(b->acc);
        b->acc = malloc((size_t)P * es);
        if (!b->acc) goto oom;
        b->cap_acc = P;
    }
    if (n_parts > b->cap_parts) {
        void **p = realloc(b->parts, (size_t)n_parts * sizeof *p);
        if (!p) goto oom;
        b->parts = p;
        for (; b->cap_parts < n_parts; b->cap_parts++)
            if (!(b->parts[b->cap_parts] = malloc((size_t)b->cap_acc * es))) goto oom;
    }
    return AG_OK;
oom:
    return ag__model_fail(m, AG_ERR_NOMEM, "data parallelism: out of memory");
}

/* dst = rows [lo, lo + n) of src (the batch axis first). */
static ag_status slice_rows(ag_model *m, ag_tensor *dst, const ag_tensor *src, int64_t lo,
                            int64_t n)
{
    int64_t shape[AG_MAX_RANK];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = n;
    ag_error e = {0};
    if (ag__ensure(m->g, dst, src->dtype, src->rank, shape, &e))
        return ag__model_fail(m, e.code, "shards: %s", e.msg);
    size_t row =
        (size_t)(src->shape[0] ? src->size / src->shape[0] : 0) * ag_dtype_size(src->dtype);
    memcpy(dst->data, (const char *)src->data + (size_t)lo * row, (size_t)n * row);
    return AG_OK;
}

/* t = (rows, the output's other dims); the output's static shape. */
static ag_status shape_rows(ag_model *m, ag_tensor *t, int64_t rows)
{
    const ag_shape *os = ag_node_shape(m->outputs[0]);
    int64_t shape[AG_MAX_RANK];
    shape[0] = rows;
    for (int i = 1; i < os->rank; i++) {
        if (os->dim[i] < 0)
            return ag__model_fail(m, AG_ERR_SHAPE,
                                  "data parallelism: the output's dims after the batch axis must "
                                  "be known, output 0 has dim %d unknown",
                                  i);
        shape[i] = os->dim[i];
    }
    ag_error e = {0};
    if (ag__ensure(m->g, t, os->dtype, os->rank, shape, &e))
        return ag__model_fail(m, e.code, "data parallelism: %s", e.msg);
    return AG_OK;
}

/* Shard s's gradients into dst: added (rank 0's running sum) or copied
 * (a part, zero where a variable got none). */
static void take_grads(ag_node **vars, int n_vars, char *dst, size_t es, int add, int64_t *has)
{
    int64_t off = 0;
    for (int i = 0; i < n_vars; i++) {
        ag_tensor *v = ag_value(vars[i]), *gr = ag_grad(vars[i]);
        char *p = dst + (size_t)off * es;
        if (gr) {
            has[i] = 1;
            if (add)
                ag__dist_add(v->dtype, v->size, p, gr->data);
            else
                memcpy(p, gr->data, (size_t)v->size * es);
        } else if (!add) {
            memset(p, 0, (size_t)v->size * es);
        }
        off += v->size;
    }
}

/* The ranks' status, agreed; on failure the model's error is the failing
 * rank's message on every rank. */
static ag_status agree(ag_model *m, ag_dist *d, ag_status st)
{
    if (ag_dist_size(d) <= 1) return st;
    ag_error e = {0};
    st = ag_dist_agree(d, st, st ? ag_model_error(m) : NULL, &e);
    return st ? ag__model_fail(m, st, "%s", e.msg) : AG_OK;
}

ag_status ag__shard_step(ag_model *m, ag_dist *d, int K, int train, ag_status pre,
                         const ag_tensor *const *x, const ag_tensor *y, ag_node **vars, int n_vars,
                         double *loss, const ag_tensor **out)
{
    ag_shard_buffers *b = &m->shard;
    ag_graph *g = m->g;
    int N = ag_dist_size(d), r = ag_dist_rank(d);
    int first = (int)((int64_t)r * K / N), last = (int)((int64_t)(r + 1) * K / N);
    int64_t B = pre ? 0 : x[0]->shape[0], P = 0;
    ag_dtype dt = ag_graph_float(g);
    size_t es = ag_dtype_size(dt);
    ag_status st = pre;
    for (int i = 0; i < n_vars && !st; i++) {
        const ag_tensor *v = ag_value(vars[i]);
        if (v->dtype != dt)
            st = ag__model_fail(m, AG_ERR_DTYPE, "data parallelism: weight '%s' is %s, not %s",
                                ag_node_name(vars[i]), ag_dtype_name(v->dtype), ag_dtype_name(dt));
        P += v->size;
    }
    if (!st) st = reserve(m, K, n_vars, N, train ? P : 0, es, train && r > 0 ? last - first : 0);
    if (!st) st = shape_rows(m, &b->own, (last * B / K) - (first * B / K));
    uint64_t step0 = ag_graph_step(g);
    for (int i = 0; i < n_vars && b->has; i++)
        b->has[i] = 0;
    if (!st && train && r == 0) memset(b->acc, 0, (size_t)P * es);
    /* this rank's shards */
    for (int s = first; s < last && !st; s++) {
        int64_t lo = s * B / K, n = (s + 1) * B / K - lo;
        b->loss[s] = 0;
        if (n == 0) {
            if (train && r > 0) memset(b->parts[s - first], 0, (size_t)P * es);
            continue;
        }
        for (int i = 0; i < m->n_inputs && !st; i++) {
            st = slice_rows(m, &b->x[i], x[i], lo, n);
            if (!st) st = ag_feed(g, m->inputs[i], &b->x[i]);
        }
        if (!st) st = slice_rows(m, &b->y, y, lo, n);
        if (!st) st = ag_feed(g, m->target, &b->y);
        if (st) break;
        if (train) ag_graph_set_step(g, step0 + (uint64_t)s);
        ag_graph_set_training(g, train);
        st = ag_forward(g, &m->loss_node, 1);
        if (!st && train) {
            const ag_tensor *L = ag_value(m->loss_node);
            ag_error e = {0};
            st = ag__ensure(g, &b->seed, L->dtype, L->rank, L->shape, &e);
            if (st) st = ag__model_fail(m, st, "data parallelism: %s", e.msg);
            for (int64_t i = 0; !st && i < b->seed.size; i++)
                ag_tensor_set(&b->seed, i, (double)n / (double)B);
            if (!st) st = ag_backward(g, m->loss_node, &b->seed);
        }
        ag_graph_set_training(g, 0);
        if (st) break;
        b->loss[s] = ag_tensor_get(ag_value(m->loss_node), 0);
        const ag_tensor *o = ag_value(m->outputs[0]);
        size_t row = (size_t)(b->own.shape[0] ? b->own.size / b->own.shape[0] : 0) * es;
        if ((size_t)o->size * es != (size_t)n * row) {
            st = ag__model_fail(m, AG_ERR_SHAPE,
                                "data parallelism: a shard's output has %" PRId64
                                " elements, expected %" PRId64 " rows of the output's shape",
                                o->size, n);
            break;
        }
        memcpy((char *)b->own.data + (size_t)(lo - first * B / K) * row, o->data, (size_t)n * row);
        if (train)
            take_grads(vars, n_vars, r == 0 ? b->acc : b->parts[s - first], es, r == 0, b->has);
    }
    if (train) ag_graph_set_step(g, step0 + (uint64_t)K);
    st = agree(m, d, st);
    if (st) return st;
    if (N > 1) { /* the same batch everywhere; which weights got a gradient */
        int64_t *v = b->has;
        for (int i = 0; i < n_vars; i++)
            v[i] = -v[i];
        int64_t both[2] = {B, -B};
        ag_status t = d->min(d, both, 2);
        if (!t && train && n_vars) t = d->min(d, v, n_vars);
        if (t) return ag__model_fail(m, t, "data parallelism: %s", d->msg);
        if (both[0] != -both[1])
            return ag__model_fail(m, AG_ERR_SHAPE,
                                  "data parallelism: the ranks' batches differ: %" PRId64
                                  " to %" PRId64 " rows",
                                  both[0], -both[1]);
        for (int i = 0; i < n_vars; i++)
            v[i] = v[i] < 0;
    }
    if (train) {
        ag_error e = {0};
        st = ag__dist_ordered_sum(d, dt, P, b->acc, b->parts, last - first, &e);
        if (st) return ag__model_fail(m, st, "data parallelism: %s", e.msg);
        int64_t off = 0;
        for (int i = 0; i < n_vars && !st; i++) {
            ag_tensor *gr = ag__grad_slot(vars[i], (int)b->has[i]);
            size_t bytes = (size_t)ag_value(vars[i])->size * es;
            if (gr)
                memcpy(gr->data, (char *)b->acc + (size_t)off * es, bytes);
            else if (b->has[i])
                st = ag_model_status(m) ? ag_model_status(m) : AG_ERR_NOMEM;
            off += ag_value(vars[i])->size;
        }
        if (!st) st = ag_optimizer_step(m->opt, g, vars, n_vars);
        st = agree(m, d, st);
        if (st) return st;
    }
    /* every shard's loss and outputs, in shard order */
    ag_tensor *joined = &b->own;
    if (N > 1) {
        double *own = b->loss + K;
        for (int s = first; s < last; s++)
            own[s - first] = b->loss[s];
        for (int q = 0; q < N; q++)
            b->counts[q] = (size_t)((int64_t)(q + 1) * K / N - (int64_t)q * K / N) * sizeof(double);
        ag_status t = d->gather(d, own, b->loss, b->counts);
        if (t) return ag__model_fail(m, t, "data parallelism: %s", d->msg);
        st = shape_rows(m, &b->out, B);
        if (st) return st;
        size_t row = (size_t)(B ? b->out.size / B : 0) * ag_dtype_size(b->out.dtype);
        for (int q = 0; q < N; q++) {
            int64_t f = (int64_t)q * K / N, l = (int64_t)(q + 1) * K / N;
            b->counts[q] = (size_t)(l * B / K - f * B / K) * row;
        }
        t = d->gather(d, b->own.data, b->out.data, b->counts);
        if (t) return ag__model_fail(m, t, "data parallelism: %s", d->msg);
        joined = &b->out;
    }
    double sum = 0;
    for (int s = 0; s < K; s++) {
        int64_t n = (s + 1) * B / K - s * B / K;
        if (n) sum += (double)n / (double)B * b->loss[s];
    }
    *loss = sum;
    *out = joined;
    return AG_OK;
}

ag_status ag__shard_begin(ag_model *m, ag_dist *d, ag_status pre, const int64_t *what, int n)
{
    if (ag_dist_size(d) <= 1) return pre;
    ag_status st = agree(m, d, pre);
    if (st) return st;
    static const char *const names[] = {
        "batches per epoch", "validation batches", "epochs", "shards", "weights", "parameters"};
    int64_t v[2 * 6];
    for (int i = 0; i < n && i < 6; i++)
        v[i] = what[i], v[6 + i] = -what[i];
    st = d->min(d, v, 12);
    if (st) return ag__model_fail(m, st, "data parallelism: %s", d->msg);
    for (int i = 0; i < n && i < 6; i++)
        if (v[i] != -v[6 + i])
            return ag__model_fail(m, AG_ERR_STATE,
                                  "data parallelism: the ranks disagree on the %s: %" PRId64
                                  " to %" PRId64 " (every rank must fit the same model on the "
                                  "same data)",
                                  names[i], v[i], -v[6 + i]);
    int n_w = ag_model_weights(m, -1, NULL, 0);
    ag_node **w = calloc((size_t)n_w + 1, sizeof *w);
    st = w ? AG_OK : ag__model_fail(m, AG_ERR_NOMEM, "data parallelism: out of memory");
    st = agree(m, d, st);
    if (st) {
        free(w);
        return st;
    }
    ag_model_weights(m, -1, w, n_w);
    for (int i = 0; i < n_w && !st; i++) {
        ag_tensor *t = ag_value(w[i]);
        st = d->bcast(d, t->data, (size_t)t->size * ag_dtype_size(t->dtype), 0);
        if (st) ag__model_fail(m, st, "data parallelism: rank 0's weights: %s", d->msg);
    }
    free(w);
    return st;
}
