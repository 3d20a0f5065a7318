/* dist.c — a group of ranks (ag_dist): the one-process group, agreeing on a
 * status, and the ordered gradient sum.
 *
 * The ordered sum is what makes data-parallel training independent of the
 * number of ranks: floating-point addition is not associative, so the
 * shards' gradients must be added in one order whatever the ranks are.
 * Rank 0 starts the running sum; each rank adds its shards to it in shard
 * order and passes it on. The chunks pipeline: while rank r adds chunk c,
 * rank r-1 already adds chunk c+1, so the chain costs about two passes of
 * the gradient over the slowest link (the chain, then the broadcast) plus
 * one chunk per rank, like a ring allreduce; docs/scaling.md models it. */
#include "internal.h"

#include <inttypes.h>
#include <string.h>

static ag_dist single = {.rank = 0, .size = 1};

ag_dist *ag_dist_single(void) { return &single; }
int ag_dist_rank(const ag_dist *d) { return d ? d->rank : 0; }
int ag_dist_size(const ag_dist *d) { return d ? d->size : 1; }

ag_status ag__dist_check(ag_dist *d, ag_status st, const char *what, ag_error *err)
{
    if (!st) return AG_OK;
    return ag_error_set(err, st, "%s: %s", what, d->msg[0] ? d->msg : ag_status_name(st));
}

ag_status ag_dist_agree(ag_dist *d, ag_status st, const char *msg, ag_error *err)
{
    if (!d || d->size <= 1) {
        if (st) ag_error_set(err, st, "%s", msg ? msg : ag_status_name(st));
        return st;
    }
    /* the lowest failing rank, or size when none failed */
    int64_t first = st ? d->rank : d->size;
    ag_status t = d->min(d, &first, 1);
    if (t) return ag__dist_check(d, t, "agreeing on a status", err);
    if (first >= d->size) return AG_OK;
    struct {
        int32_t code;
        char msg[AG_ERRMSG_SIZE - 16];
    } m = {0};
    if (d->rank == first) {
        m.code = (int32_t)st;
        snprintf(m.msg, sizeof m.msg, "%s", msg ? msg : ag_status_name(st));
    }
    t = d->bcast(d, &m, sizeof m, (int)first);
    if (t) return ag__dist_check(d, t, "agreeing on a status", err);
    m.msg[sizeof m.msg - 1] = 0;
    return ag_error_set(err, m.code ? (ag_status)m.code : AG_ERR_STATE, "rank %" PRId64 ": %s",
                        first, m.msg);
}

void ag__dist_add(ag_dtype dt, int64_t n, void *acc, const void *part)
{
    if (dt == AG_FLOAT64) {
        double *a = acc;
        const double *p = part;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            a[i] += p[i];
    } else {
        float *a = acc;
        const float *p = part;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            a[i] += p[i];
    }
}

#define CHUNK ((int64_t)1 << 16) /* elements per message of the chain */

ag_status ag__dist_ordered_sum(ag_dist *d, ag_dtype dt, int64_t n, void *acc, void *const *parts,
                               int n_parts, ag_error *err)
{
    if (!d || d->size <= 1 || n == 0) return AG_OK;
    size_t es = ag_dtype_size(dt);
    int r = d->rank, last = d->size - 1;
    for (int64_t c = 0; c < n; c += CHUNK) {
        int64_t len = n - c < CHUNK ? n - c : CHUNK;
        char *a = (char *)acc + (size_t)c * es;
        if (r > 0) {
            ag_status st = d->recv(d, a, (size_t)len * es, r - 1);
            if (st) return ag__dist_check(d, st, "gradient sum", err);
            for (int j = 0; j < n_parts; j++)
                ag__dist_add(dt, len, a, (const char *)parts[j] + (size_t)c * es);
        }
        if (r < last) {
            ag_status st = d->send(d, a, (size_t)len * es, r + 1);
            if (st) return ag__dist_check(d, st, "gradient sum", err);
        }
    }
    return ag__dist_check(d, d->bcast(d, acc, (size_t)n * es, last), "gradient broadcast", err);
}
