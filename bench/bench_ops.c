/* bench_ops.c — times the hot training kernels through the graph API:
 * matmul and conv1d, forward and forward+backward, float32.
 * Build and run with bench/bench_ops.sh; bench/bench_ops.py times the same
 * problems in PyTorch. Prints the median of the repetitions, in seconds. */
#include "attograd.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { REPS = 50 };

/* Median and best seconds of one forward (backward = 0) or forward+backward
 * run. On a busy machine the best is the steadier figure. */
static double time_runs(ag_graph *g, ag_node *out, int backward, double *best)
{
    double t[REPS];
    for (int r = -5; r < REPS; r++) {
        double t0 = now();
        if (ag_forward(g, &out, 1) || (backward && ag_backward(g, out, NULL))) {
            fprintf(stderr, "bench: %s\n", ag_graph_error(g));
            exit(1);
        }
        if (r >= 0) t[r] = now() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmp);
    *best = t[0];
    return t[REPS / 2];
}

static void report(const char *name, ag_graph *g, ag_node *out)
{
    double fbest, fbbest, f = time_runs(g, out, 0, &fbest), fb = time_runs(g, out, 1, &fbbest);
    printf("%-40s fwd %.6f s (best %.6f)  fwd+bwd %.6f s (best %.6f)\n", name, f, fbest, fb,
           fbbest);
}

static void bench_matmul(int64_t m, int64_t k, int64_t n)
{
    ag_graph *g = ag_graph_new();
    int64_t xs[2] = {m, k}, ys[2] = {k, n};
    ag_node *x = ag_variable(g, "x", 2, xs), *y = ag_variable(g, "y", 2, ys);
    ag_fill_uniform(ag_value(x), -1, 1, 1, 0);
    ag_fill_uniform(ag_value(y), -1, 1, 2, 0);
    ag_node *z = ag_matmul(g, x, y, 0, 0);
    char name[80];
    snprintf(name, sizeof name, "matmul (%lld,%lld)x(%lld,%lld)", (long long)m, (long long)k,
             (long long)k, (long long)n);
    report(name, g, z);
    ag_graph_free(g);
}

static void bench_conv(int64_t b, int64_t t, int64_t c, int64_t kk, int64_t f)
{
    ag_graph *g = ag_graph_new();
    int64_t xs[3] = {b, t, c}, ws[3] = {kk, c, f}, bs[1] = {f};
    ag_node *x = ag_variable(g, "x", 3, xs), *w = ag_variable(g, "w", 3, ws);
    ag_node *bias = ag_variable(g, "bias", 1, bs);
    ag_fill_uniform(ag_value(x), -1, 1, 1, 0);
    ag_fill_uniform(ag_value(w), -0.1, 0.1, 2, 0);
    ag_node *z = ag_conv1d(g, x, w, bias, AG_PAD_SAME);
    char name[80];
    snprintf(name, sizeof name, "conv1d same B=%lld T=%lld C=%lld K=%lld F=%lld", (long long)b,
             (long long)t, (long long)c, (long long)kk, (long long)f);
    report(name, g, z);
    ag_graph_free(g);
}

/* bench_ops [matmul|conv1d]: both by default */
int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "";
    printf("attograd, %d threads\n", omp_get_max_threads());
    if (strcmp(only, "conv1d")) {
        bench_matmul(64 * 40, 64, 100);
        bench_matmul(2560, 200, 64);
    }
    if (strcmp(only, "matmul")) {
        bench_conv(64, 40, 64, 4, 100);
        bench_conv(64, 20, 64, 4, 100);
        bench_conv(64, 60, 64, 4, 100);
    }
    return 0;
}
