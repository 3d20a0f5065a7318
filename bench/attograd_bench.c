/* attograd_bench.c — one case of bench/bench.py's table, timed in attograd.
 *
 *   attograd_bench matmul N                 x (N,N) · y (N,N), forward
 *   attograd_bench dot B T D                Keras Attention()([q, v]), forward + backward
 *   attograd_bench additive B T D           AdditiveAttention()([q, v]) (use_scale), fwd + bwd
 *   attograd_bench step dot|additive B T    the seeds' CNN+Attention, one training step
 *                                           (forward, backward, Adam) on a (B,T) batch
 *
 * Threads: OMP_NUM_THREADS. Prints one line, `seconds S`, the best time of
 * one run after a warm-up (AG_BENCH_CLOCK=cpu: CPU time, see now());
 * bench/bench.py reads the process's peak RSS.
 * Every input is float32 and drawn once; every step of one case has the same
 * shapes, so after the warm-up no step allocates. */
#include "attograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Wall-clock seconds; with AG_BENCH_CLOCK=cpu, the process's CPU seconds
 * instead (for comparing kernels on one thread on a busy machine). */
static double now(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("AG_BENCH_CLOCK") && !strcmp(getenv("AG_BENCH_CLOCK"), "cpu");
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef int (*run_fn)(void *ctx);

/* Best seconds of fn over at least 3 runs and about 1.5 s, after 2 warm-ups. */
static double best_of(run_fn fn, void *ctx)
{
    double best = 1e30, start = now();
    for (int r = -2; r < 200; r++) {
        double t0 = now();
        if (fn(ctx)) return -1;
        double t = now() - t0;
        if (r >= 0 && t < best) best = t;
        if (r >= 2 && now() - start > 1.5) break;
    }
    return best;
}

typedef struct graph_case {
    ag_graph *g;
    ag_node *out;
    int backward;
} graph_case;

static int run_graph(void *ctx)
{
    graph_case *c = ctx;
    if (ag_forward(c->g, &c->out, 1) || (c->backward && ag_backward(c->g, c->out, NULL))) {
        fprintf(stderr, "attograd_bench: %s\n", ag_graph_error(c->g));
        return 1;
    }
    return 0;
}

static ag_node *random_var(ag_graph *g, const char *name, int rank, const int64_t *shape,
                           uint64_t stream)
{
    ag_node *n = ag_variable(g, name, rank, shape);
    if (n) ag_fill_uniform(ag_value(n), -1, 1, 7, stream);
    return n;
}

static double bench_matmul(int64_t n)
{
    graph_case c = {ag_graph_new(), NULL, 0};
    int64_t s[2] = {n, n};
    c.out = ag_matmul(c.g, random_var(c.g, "x", 2, s, 1), random_var(c.g, "y", 2, s, 2), 0, 0);
    double t = c.out ? best_of(run_graph, &c) : -1;
    if (!c.out) fprintf(stderr, "attograd_bench: %s\n", ag_graph_error(c.g));
    ag_graph_free(c.g);
    return t;
}

/* Keras Attention()([q, v]) (dot) or AdditiveAttention()([q, v]) (scale (D,)):
 * q, v (B,T,D) -> (B,T,D); backward from ones to q, v (and scale). */
static double bench_attention(ag_score_mode mode, int64_t b, int64_t t, int64_t d)
{
    graph_case c = {ag_graph_new(), NULL, 1};
    int64_t s[3] = {b, t, d};
    ag_node *q = random_var(c.g, "query", 3, s, 1), *v = random_var(c.g, "value", 3, s, 2);
    ag_node *scale = NULL;
    if (mode == AG_SCORE_ADDITIVE) scale = random_var(c.g, "scale", 1, &d, 3);
    ag_attention_opts o = {.mode = mode};
    c.out = ag_attention(c.g, q, v, NULL, NULL, NULL, scale, NULL, &o, NULL);
    double sec = c.out ? best_of(run_graph, &c) : -1;
    if (!c.out) fprintf(stderr, "attograd_bench: %s\n", ag_graph_error(c.g));
    ag_graph_free(c.g);
    return sec;
}

/* ---- the seeds' training step ---- */

typedef struct step_case {
    ag_model *m;
    ag_tensor *a, *b, *y;
    ag_batch_source src;
    ag_fit_options o;
    double last, best; /* when the last batch was asked for; the shortest gap */
} step_case;

/* Every batch is the same one. fit asks for batch n+1 right after step n
 * (forward, backward, Adam), so the gap between two calls is one step:
 * the steady state, without fit's once-per-call setup. */
static ag_status same_batch(void *user, int64_t batch, const ag_tensor **inputs,
                            const ag_tensor **target, ag_error *err)
{
    (void)err;
    step_case *s = user;
    double t = now();
    if (batch > 0 && t - s->last < s->best) s->best = t - s->last;
    s->last = t;
    inputs[0] = s->a;
    inputs[1] = s->b;
    *target = s->y;
    return AG_OK;
}

static int run_fit(step_case *s, int64_t steps)
{
    s->src.n_batches = steps;
    if (ag_model_fit_source(s->m, &s->src, &s->o, NULL)) {
        fprintf(stderr, "attograd_bench: %s\n", ag_model_error(s->m));
        return 1;
    }
    return 0;
}

/* Embedding(10000, 64, mask_zero) -> Conv1D(100, 4, same), shared ->
 * Attention() | AdditiveAttention() -> GlobalAveragePooling1D x2 ->
 * Concatenate -> Dense(64, relu) -> Dense(1, sigmoid); BCE, Adam. */
static ag_model *seeds_model(int additive)
{
    ag_model *m = ag_model_new(AG_FLOAT32, 1337);
    if (!m) return NULL;
    ag_node *a = ag_model_input(m, "text_a", AG_INT32, 1, (int64_t[]){-1});
    ag_node *b = ag_model_input(m, "text_b", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, 10000, 64, 1);
    ag_layer *cnn = ag_layer_conv1d(m, 100, 4, 1, AG_PAD_SAME, AG_ACT_LINEAR, 1);
    ag_node *q = ag_call(cnn, ag_call(emb, a)), *v = ag_call(cnn, ag_call(emb, b));
    ag_layer *att = additive ? ag_layer_additive_attention(m, 1, 0.0, 0)
                             : ag_layer_attention(m, 0, "dot", 0.0, 0);
    ag_node *o = ag_call_n(att, (ag_node *[]){q, v}, 2);
    ag_node *pq = ag_call(ag_layer_global_average_pooling1d(m), q);
    ag_node *po = ag_call(ag_layer_global_average_pooling1d(m), o);
    ag_node *h = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){pq, po}, 2);
    h = ag_call(ag_layer_dense(m, 64, AG_ACT_RELU, 1), h);
    ag_node *p = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), h);
    if (!p || ag_model_build(m, (ag_node *[]){a, b}, 2, &p, 1) ||
        ag_model_compile(m, NULL, AG_LOSS_BINARY_CROSSENTROPY, 0, AG_METRIC_ACCURACY)) {
        fprintf(stderr, "attograd_bench: %s\n", ag_model_error(m));
        ag_model_free(m);
        return NULL;
    }
    return m;
}

static double bench_step(int additive, int64_t b, int64_t t)
{
    step_case s = {.m = seeds_model(additive)};
    if (!s.m) return -1;
    int64_t shape[2] = {b, t};
    s.a = ag_tensor_new(AG_INT32, 2, shape, NULL);
    s.b = ag_tensor_new(AG_INT32, 2, shape, NULL);
    s.y = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){b, 1}, NULL);
    double sec = -1;
    if (s.a && s.b && s.y) {
        ag_rng r;
        ag_rng_init(&r, 1, 2);
        int32_t *ia = s.a->data, *ib = s.b->data;
        for (int64_t i = 0; i < b * t; i++) {
            ia[i] = 1 + (int32_t)ag_rng_below(&r, 9999);
            ib[i] = 1 + (int32_t)ag_rng_below(&r, 9999);
        }
        float *y = s.y->data;
        for (int64_t i = 0; i < b; i++)
            y[i] = (float)(i % 2);
        s.src = (ag_batch_source){1, same_batch, &s};
        s.o = ag_fit_defaults();
        s.o.verbose = 0;
        s.o.shuffle = 0;
        /* a warm-up of 3 steps sizes the timed fit: about 1.5 s, 6 to 40 steps */
        s.best = 1e30;
        if (!run_fit(&s, 4)) {
            int64_t n = (int64_t)(1.5 / s.best);
            s.best = 1e30;
            if (!run_fit(&s, n < 6 ? 6 : n > 40 ? 40 : n)) sec = s.best;
        }
    }
    ag_tensor_free(s.a);
    ag_tensor_free(s.b);
    ag_tensor_free(s.y);
    ag_model_free(s.m);
    return sec;
}

static int64_t arg(int argc, char **argv, int i)
{
    if (i >= argc) return 0;
    char *end;
    long long v = strtoll(argv[i], &end, 10);
    return *end || v < 1 ? 0 : (int64_t)v;
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    double sec = -2;
    if (!strcmp(c, "matmul") && arg(argc, argv, 2))
        sec = bench_matmul(arg(argc, argv, 2));
    else if ((!strcmp(c, "dot") || !strcmp(c, "additive")) && arg(argc, argv, 4))
        sec = bench_attention(!strcmp(c, "dot") ? AG_SCORE_DOT : AG_SCORE_ADDITIVE,
                              arg(argc, argv, 2), arg(argc, argv, 3), arg(argc, argv, 4));
    else if (!strcmp(c, "step") && argc > 2 &&
             (!strcmp(argv[2], "dot") || !strcmp(argv[2], "additive")) && arg(argc, argv, 4))
        sec = bench_step(!strcmp(argv[2], "additive"), arg(argc, argv, 3), arg(argc, argv, 4));
    if (sec == -2) {
        fprintf(stderr, "usage: attograd_bench matmul N | dot B T D | additive B T D | "
                        "step dot|additive B T\n");
        return 2;
    }
    if (sec < 0) return 1;
    printf("seconds %.9f\n", sec);
    return 0;
}
