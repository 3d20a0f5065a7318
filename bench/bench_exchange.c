/* bench_exchange.c — what a data-parallel step spends on exchange, under
 * `mpirun -np N bench_exchange [P] [REPS]`: the ordered gradient sum of P
 * float32 values (the chain and the broadcast, ag__dist_ordered_sum, one
 * part per rank) and one status agreement (ag_dist_agree, the small
 * collective each step makes a few of). Rank 0 prints the median of REPS
 * calls. P defaults to the text-similarity model's 678,629 parameters. */
#include "../framework/internal.h"
#include "attograd_dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    ag_error err = {0};
    ag_dist *d = ag_dist_init(&argc, &argv, &err);
    if (!d) return fprintf(stderr, "bench_exchange: %s\n", err.msg), 1;
    int64_t P = argc > 1 ? atoll(argv[1]) : 678629;
    int reps = argc > 2 ? atoi(argv[2]) : 50;
    if (P < 1 || reps < 1) return fprintf(stderr, "usage: bench_exchange [P] [REPS]\n"), 2;
    float *acc = calloc((size_t)P, sizeof *acc), *part = calloc((size_t)P, sizeof *part);
    double *t_sum = calloc((size_t)reps, sizeof *t_sum),
           *t_agree = calloc((size_t)reps, sizeof *t_agree);
    if (!acc || !part || !t_sum || !t_agree) return fprintf(stderr, "out of memory\n"), 1;
    for (int64_t i = 0; i < P; i++)
        part[i] = (float)(i % 7) * 0.25f;
    void *parts[1] = {part};
    int rc = 0;
    for (int k = 0; k < reps && !rc; k++) {
        ag_dist_agree(d, AG_OK, NULL, &err); /* line the ranks up */
        double t0 = now_s();
        rc = ag__dist_ordered_sum(d, AG_FLOAT32, P, acc, parts, 1, &err) != AG_OK;
        double t1 = now_s();
        rc |= ag_dist_agree(d, AG_OK, NULL, &err) != AG_OK;
        t_sum[k] = t1 - t0, t_agree[k] = now_s() - t1;
    }
    if (rc) fprintf(stderr, "bench_exchange: %s\n", err.msg);
    qsort(t_sum, (size_t)reps, sizeof *t_sum, cmp_double);
    qsort(t_agree, (size_t)reps, sizeof *t_agree, cmp_double);
    if (!rc && ag_dist_rank(d) == 0)
        printf("ranks %d, P %lld floats (%.2f MB): ordered sum %.3f ms (median of %d, min %.3f), "
               "%.2f GB/s of gradient; status agreement %.1f us\n",
               ag_dist_size(d), (long long)P, 4e-6 * (double)P, 1e3 * t_sum[reps / 2], reps,
               1e3 * t_sum[0], 4e-9 * (double)P / t_sum[reps / 2], 1e6 * t_agree[reps / 2]);
    free(acc), free(part), free(t_sum), free(t_agree);
    ag_dist_finalize(d);
    return rc;
}
