/* cmd_attention.c — `attograd attention`: Keras's Attention or
 * AdditiveAttention call on NumPy files, with its gradients, and an
 * --explain mode that prints every stage of the computation.
 *
 * Exit status: 0 done, 1 a data error (a file, a dtype, a shape), 2 a usage
 * error (a flag). Every error is one line on stderr. */
#include "tools.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: attograd attention --query Q.npy --value V.npy [--key K.npy]\n"
    "    [--layer attention|additive]         default attention (--layer multi_head --help: "
    "MultiHeadAttention)\n"
    "    [--score-mode dot|concat]            Attention only; default dot\n"
    "    [--use-scale | --no-scale]           default: off for attention, on for additive\n"
    "    [--scale S.npy]                      initial scale: shape () or (1,) for Attention, (D,) "
    "for additive\n"
    "    [--concat-score-weight W.npy]        initial concat_score_weight, shape () or (1,)\n"
    "    [--query-mask QM.npy] [--value-mask VM.npy]   (B,Tq) / (B,Tv); bool, or integers/floats "
    "0/1\n"
    "    [--causal] [--dropout RATE --seed N --training]\n"
    "    [--dtype float32|float64]            default: the query file's dtype\n"
    "    --output OUT.npy [--scores SCORES.npy]\n"
    "    [--grad-output G.npy                 upstream gradient (B,Tq,Dv); with it, the gradients "
    "below\n"
    "     --grad-query F.npy --grad-value F.npy [--grad-key F.npy] [--grad-scale F.npy]\n"
    "     [--grad-concat-score-weight F.npy]]\n"
    "    [--explain]\n"
    "\n"
    "query (B,Tq,D), value (B,Tv,Dv), key (B,Tv,D); without --key the value is the key.\n"
    "Writes the output (B,Tq,Dv) and, with --scores, the attention weights (B,Tq,Tv) after\n"
    "masking, softmax and dropout. With use_scale and no --scale, Attention's scale starts at 1\n"
    "and AdditiveAttention's is glorot-uniform (limit sqrt(6/(D+D))) from --seed (default 0).\n"
    "--explain prints each stage with its shape. Exit status: 1 data error, 2 usage error.\n";

typedef struct opts {
    const char *query, *value, *key, *scale, *concat_w, *query_mask, *value_mask;
    const char *output, *scores, *grad_output, *grad_query, *grad_value, *grad_key, *grad_scale,
        *grad_concat_w;
    int additive, concat, use_scale, causal, training, explain;
    double dropout;
    uint64_t seed;
    int dtype; /* -1: the query file's */
} opts;

/* Parses argv into o; returns -1 when done, else the exit status. */
static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){.use_scale = -1, .dtype = -1};
    const char *layer = NULL, *mode = NULL, *dtype = NULL, *rate = NULL, *seed = NULL;
    int no_scale = 0, yes_scale = 0;
    const att_valued valued[] = {
        {"--query", &o->query},
        {"--value", &o->value},
        {"--key", &o->key},
        {"--layer", &layer},
        {"--score-mode", &mode},
        {"--scale", &o->scale},
        {"--concat-score-weight", &o->concat_w},
        {"--query-mask", &o->query_mask},
        {"--value-mask", &o->value_mask},
        {"--dropout", &rate},
        {"--seed", &seed},
        {"--dtype", &dtype},
        {"--output", &o->output},
        {"--scores", &o->scores},
        {"--grad-output", &o->grad_output},
        {"--grad-query", &o->grad_query},
        {"--grad-value", &o->grad_value},
        {"--grad-key", &o->grad_key},
        {"--grad-scale", &o->grad_scale},
        {"--grad-concat-score-weight", &o->grad_concat_w},
    };
    const att_flag flags[] = {{"--use-scale", &yes_scale},
                              {"--no-scale", &no_scale},
                              {"--causal", &o->causal},
                              {"--training", &o->training},
                              {"--explain", &o->explain}};
    int rc = att_parse_argv(argc, argv, valued, (int)(sizeof valued / sizeof valued[0]), flags,
                            (int)(sizeof flags / sizeof flags[0]), usage_text);
    if (rc >= 0) return rc;
    if (!o->query || !o->value || !o->output)
        return att_usage_error("--%s is required", !o->query   ? "query"
                                                   : !o->value ? "value"
                                                               : "output");
    if (layer && strcmp(layer, "attention") && strcmp(layer, "additive"))
        return att_usage_error("--layer must be one of {attention, additive}, received '%s'",
                               layer);
    o->additive = layer && !strcmp(layer, "additive");
    if (mode && strcmp(mode, "dot") && strcmp(mode, "concat"))
        return att_usage_error("--score-mode must be one of {dot, concat}, received '%s'", mode);
    if (mode && o->additive)
        return att_usage_error("--score-mode applies to --layer attention only");
    o->concat = mode && !strcmp(mode, "concat");
    if (yes_scale && no_scale)
        return att_usage_error("--use-scale and --no-scale contradict each other");
    if (o->scale && no_scale)
        return att_usage_error("--scale gives an initial scale, but --no-scale");
    o->use_scale = yes_scale || o->scale ? 1 : no_scale ? 0 : o->additive;
    if (o->concat_w && !o->concat)
        return att_usage_error("--concat-score-weight needs --score-mode concat");
    if ((rc = att_parse_common(dtype, rate, seed, &o->dtype, &o->dropout, &o->seed)) >= 0)
        return rc;
    const char *grads[5] = {o->grad_query, o->grad_value, o->grad_key, o->grad_scale,
                            o->grad_concat_w};
    for (int i = 0; i < 5 && !o->grad_output; i++)
        if (grads[i]) return att_usage_error("the --grad-* outputs need --grad-output");
    if (o->grad_key && !o->key)
        return att_usage_error("--grad-key needs --key (without a key, --grad-value includes the "
                               "value's use as the key)");
    if (o->grad_scale && !o->use_scale) return att_usage_error("--grad-scale needs use_scale");
    if (o->grad_concat_w && !o->concat)
        return att_usage_error("--grad-concat-score-weight needs --score-mode concat");
    return -1;
}

/* ---- the reference path for --explain ---- */

static void print_stage(const char *label, int rank, const int64_t *shape, const double *v,
                        ag_dtype dt)
{
    ag_tensor *t = ag_tensor_new(dt, rank, shape, NULL);
    if (!t) return;
    for (int64_t i = 0; i < t->size; i++)
        ag_tensor_set(t, i, v[i]);
    char full[256];
    snprintf(full, sizeof full, "%s  ->", label);
    ag_tensor_print(stdout, t, full);
    ag_tensor_free(t);
}

static double mask_value(const ag_tensor *m, int64_t i) { return m ? ag_tensor_get(m, i) : 1; }

/* Recomputes every stage in plain double loops from the (dtype-converted)
 * inputs, prints it, and compares the final weights and output with the
 * kernel's. Returns the largest difference. */
static double explain(const opts *o, ag_dtype dt, const ag_tensor *q, const ag_tensor *k,
                      const ag_tensor *v, const ag_tensor *qm, const ag_tensor *vm,
                      const ag_tensor *scale, const ag_tensor *cw, uint64_t step,
                      const ag_tensor *weights, const ag_tensor *out)
{
    const int64_t B = q->shape[0], Tq = q->shape[1], D = q->shape[2], Tv = k->shape[1];
    const int64_t Dv = v->shape[2], n = B * Tq * Tv;
    const int64_t sshape[3] = {B, Tq, Tv}, oshape[3] = {B, Tq, Dv};
    double *raw = calloc((size_t)n + 1, sizeof *raw), *s = calloc((size_t)n + 1, sizeof *s);
    double *m = calloc((size_t)n + 1, sizeof *m), *a = calloc((size_t)n + 1, sizeof *a);
    double *z = calloc((size_t)n + 1, sizeof *z);
    double *y = calloc((size_t)(B * Tq * Dv) + 1, sizeof *y);
    double worst = INFINITY;
    if (!raw || !s || !m || !a || !z || !y) goto done;
    const char *mode = o->additive ? "additive" : o->concat ? "concat" : "dot";
    if (o->additive)
        printf("AdditiveAttention: use_scale %s", o->use_scale ? "on" : "off");
    else
        printf("Attention: score_mode %s, use_scale %s", mode, o->use_scale ? "on" : "off");
    printf(", causal %s, dropout %g (%s), dtype %s\n\n", o->causal ? "on" : "off", o->dropout,
           o->training ? "training" : "inference", ag_dtype_name(dt));
    ag_tensor_print(stdout, q, "query");
    ag_tensor_print(stdout, k, o->key ? "key" : "key (= value)");
    if (o->key) ag_tensor_print(stdout, v, "value");
    if (scale) ag_tensor_print(stdout, scale, "scale");
    if (cw) ag_tensor_print(stdout, cw, "concat_score_weight");
    if (qm) ag_tensor_print(stdout, qm, "query_mask");
    if (vm) ag_tensor_print(stdout, vm, "value_mask");
    fputc('\n', stdout);
    double c = scale && !o->additive ? ag_tensor_get(scale, 0) : 1;
    double w = cw ? ag_tensor_get(cw, 0) : 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < Tq; i++)
            for (int64_t j = 0; j < Tv; j++) {
                int64_t at = (b * Tq + i) * Tv + j;
                double r = 0, sc = 0;
                for (int64_t d = 0; d < D; d++) {
                    double qd = ag_tensor_get(q, (b * Tq + i) * D + d);
                    double kd = ag_tensor_get(k, (b * Tv + j) * D + d);
                    if (o->additive) {
                        r += tanh(qd + kd);
                        sc += (scale ? ag_tensor_get(scale, d) : 1) * tanh(qd + kd);
                    } else if (o->concat)
                        r += tanh(c * (qd + kd));
                    else
                        r += qd * kd;
                }
                raw[at] = r;
                s[at] = o->additive ? sc : o->concat ? w * r : c * r;
                int masked = mask_value(vm, b * Tv + j) == 0 || (o->causal && j > i);
                /* the kernel subtracts 1e9 in the computation dtype */
                m[at] = !masked            ? s[at]
                        : dt == AG_FLOAT32 ? (double)(float)(s[at] - 1e9)
                                           : s[at] - 1e9;
            }
    const char *raw_label = o->additive ? "1. raw scores  sum_d tanh(q_d + k_d)"
                            : o->concat
                                ? (o->use_scale ? "1. raw scores  sum_d tanh(scale * (q_d + k_d))"
                                                : "1. raw scores  sum_d tanh(q_d + k_d)")
                                : "1. raw scores  q . k^T";
    const char *scaled_label =
        o->additive ? (o->use_scale ? "2. after the scale  sum_d scale_d * tanh(q_d + k_d)"
                                    : "2. after the scale  (no scale: unchanged)")
        : o->concat ? "2. after the scale  concat_score_weight * raw"
                    : (o->use_scale ? "2. after the scale  scale * q . k^T"
                                    : "2. after the scale  (no scale: unchanged)");
    print_stage(raw_label, 3, sshape, raw, dt);
    print_stage(scaled_label, 3, sshape, s, dt);
    print_stage(vm || o->causal ? "3. after masking  s - 1e9 where value_mask is false or "
                                  "(causal) j > i"
                                : "3. after masking  (no mask: unchanged)",
                3, sshape, m, dt);
    for (int64_t row = 0; row < B * Tq; row++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < Tv; j++)
            mx = fmax(mx, m[row * Tv + j]);
        for (int64_t j = 0; j < Tv; j++)
            sum += a[row * Tv + j] = exp(m[row * Tv + j] - mx);
        for (int64_t j = 0; j < Tv; j++) {
            int64_t at = row * Tv + j;
            a[at] /= sum;
            int drop = o->training && o->dropout > 0 &&
                       !(ag_rand_uniform(o->seed, step, (uint64_t)at) >= o->dropout);
            z[at] = drop ? 0 : o->training && o->dropout > 0 ? a[at] / (1 - o->dropout) : a[at];
        }
    }
    print_stage("4. softmax weights over Tv", 3, sshape, a, dt);
    char label[160];
    if (o->training && o->dropout > 0)
        snprintf(label, sizeof label,
                 "5. after dropout  rate %g, seed %llu, step %llu: kept weights * 1/(1-rate)",
                 o->dropout, (unsigned long long)o->seed, (unsigned long long)step);
    else
        snprintf(label, sizeof label, "5. after dropout  (%s: unchanged)",
                 o->dropout > 0 ? "inference mode" : "rate 0");
    print_stage(label, 3, sshape, z, dt);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < Tq; i++)
            for (int64_t e = 0; e < Dv; e++) {
                double acc = 0;
                for (int64_t j = 0; j < Tv; j++)
                    acc += z[(b * Tq + i) * Tv + j] * ag_tensor_get(v, (b * Tv + j) * Dv + e);
                y[(b * Tq + i) * Dv + e] = acc * mask_value(qm, b * Tq + i);
            }
    print_stage(qm ? "6. output  weights . value, rows zeroed where query_mask is false"
                   : "6. output  weights . value",
                3, oshape, y, dt);
    worst = 0;
    for (int64_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(ag_tensor_get(weights, i) - z[i]));
    for (int64_t i = 0; i < B * Tq * Dv; i++)
        worst = fmax(worst, fabs(ag_tensor_get(out, i) - y[i]));
done:
    free(raw), free(s), free(m), free(a), free(z), free(y);
    return worst;
}

/* ---- the command ---- */

typedef struct run_state {
    ag_tensor *q, *v, *k, *qm, *vm, *scale, *cw, *gout;
    ag_graph *g;
} run_state;

static void release(run_state *s)
{
    ag_tensor *ts[8] = {s->q, s->v, s->k, s->qm, s->vm, s->scale, s->cw, s->gout};
    for (int i = 0; i < 8; i++)
        ag_tensor_free(ts[i]);
    ag_graph_free(s->g);
}

static int run(const opts *o, run_state *s)
{
    int rc = 0;
    if (!(s->q = att_load("--query", o->query, &rc))) return rc;
    if (!(s->v = att_load("--value", o->value, &rc))) return rc;
    if (o->key && !(s->k = att_load("--key", o->key, &rc))) return rc;
    if (o->query_mask && !(s->qm = att_load_mask("--query-mask", o->query_mask, &rc))) return rc;
    if (o->value_mask && !(s->vm = att_load_mask("--value-mask", o->value_mask, &rc))) return rc;
    if (o->scale && !(s->scale = att_load("--scale", o->scale, &rc))) return rc;
    if (o->concat_w && !(s->cw = att_load("--concat-score-weight", o->concat_w, &rc))) return rc;
    if (o->grad_output && !(s->gout = att_load("--grad-output", o->grad_output, &rc))) return rc;
    struct {
        const char *flag;
        const ag_tensor *t;
    } floats[] = {{"--query", s->q},
                  {"--value", s->v},
                  {"--key", s->k},
                  {"--scale", s->scale},
                  {"--concat-score-weight", s->cw},
                  {"--grad-output", s->gout}};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        if (floats[i].t && !ag_dtype_is_float(floats[i].t->dtype))
            return att_data_error("%s must hold float32 or float64 values, received %s",
                                  floats[i].flag, ag_dtype_name(floats[i].t->dtype));
    ag_dtype dt = o->dtype >= 0 ? (ag_dtype)o->dtype : s->q->dtype;

    ag_graph *g = s->g = ag_graph_new();
    if (!g) return att_data_error("out of memory");
    ag_graph_set_float(g, dt);
    ag_graph_set_training(g, o->training);
    ag_node *q = ag_input(g, "query", dt, s->q->rank, s->q->shape);
    ag_node *v = ag_input(g, "value", dt, s->v->rank, s->v->shape);
    ag_node *k = s->k ? ag_input(g, "key", dt, s->k->rank, s->k->shape) : NULL;
    if (!q || !v || (s->k && !k)) return att_data_error("%s", ag_graph_error(g));
    if (ag_feed(g, q, s->q) || ag_feed(g, v, s->v) || (k && ag_feed(g, k, s->k)))
        return att_data_error("%s", ag_graph_error(g));
    ag_set_requires_grad(q, 1);
    ag_set_requires_grad(v, 1);
    ag_set_requires_grad(k, 1);
    ag_node *qm = s->qm ? ag_constant(g, s->qm) : NULL;
    ag_node *vm = s->vm ? ag_constant(g, s->vm) : NULL;
    ag_node *scale = NULL, *cw = NULL;
    int64_t D = s->q->rank == 3 ? s->q->shape[2] : 0;
    if (o->use_scale) {
        if (s->scale) {
            scale = ag_variable(g, "scale", s->scale->rank, s->scale->shape);
            if (scale && ag_assign(g, scale, s->scale)) scale = NULL;
        } else if (o->additive) {
            /* glorot-uniform on a (D,) vector: fan_in = fan_out = D */
            double limit = D > 0 ? sqrt(6.0 / (double)(D + D)) : 0;
            scale = ag_variable(g, "scale", 1, &D);
            if (scale) ag_fill_uniform(ag_value(scale), -limit, limit, o->seed, 0);
        } else {
            scale = ag_variable(g, "scale", 0, NULL);
            if (scale) ag_tensor_set(ag_value(scale), 0, 1.0);
        }
        if (!scale) return att_data_error("--scale: %s", ag_graph_error(g));
    }
    if (o->concat) {
        if (s->cw) {
            cw = ag_variable(g, "concat_score_weight", s->cw->rank, s->cw->shape);
            if (cw && ag_assign(g, cw, s->cw)) cw = NULL;
        } else {
            cw = ag_variable(g, "concat_score_weight", 0, NULL);
            if (cw) ag_tensor_set(ag_value(cw), 0, 1.0);
        }
        if (!cw) return att_data_error("--concat-score-weight: %s", ag_graph_error(g));
    }
    ag_attention_opts ao = {.mode = o->additive ? AG_SCORE_ADDITIVE
                                    : o->concat ? AG_SCORE_CONCAT
                                                : AG_SCORE_DOT,
                            .causal = o->causal,
                            .dropout = o->dropout,
                            .seed = o->seed};
    ag_node *weights = NULL;
    ag_node *out = ag_attention(g, q, v, k, qm, vm, scale, cw, &ao, &weights);
    if (!out) return att_data_error("%s", ag_graph_error(g));
    uint64_t step = ag_graph_step(g);
    ag_node *outs[2] = {out, weights};
    if (ag_forward(g, outs, 2)) return att_data_error("%s", ag_graph_error(g));
    if (o->explain) {
        ag_tensor *qc = ag_tensor_cast(ag_value(q), dt, NULL);
        ag_tensor *vc = ag_tensor_cast(ag_value(v), dt, NULL);
        ag_tensor *kc = k ? ag_tensor_cast(ag_value(k), dt, NULL) : NULL;
        double diff = INFINITY;
        if (qc && vc && (!k || kc))
            diff =
                explain(o, dt, qc, kc ? kc : vc, vc, s->qm, s->vm, scale ? ag_value(scale) : NULL,
                        cw ? ag_value(cw) : NULL, step, ag_value(weights), ag_value(out));
        ag_tensor_free(qc), ag_tensor_free(vc), ag_tensor_free(kc);
        double tol = dt == AG_FLOAT32 ? 1e-4 : 1e-9;
        printf("\ncheck: the fused kernel's weights and output %s this reference path "
               "(max |difference| %.3g)\n",
               diff <= tol ? "agree with" : "DISAGREE with", diff);
        if (!(diff <= tol)) return att_data_error("the kernel disagrees with the reference path");
    }
    if ((rc = att_save("--output", o->output, ag_value(out)))) return rc;
    if (o->scores && (rc = att_save("--scores", o->scores, ag_value(weights)))) return rc;
    if (!o->grad_output) return 0;
    if (ag_backward(g, out, s->gout)) return att_data_error("--grad-output: %s", ag_graph_error(g));
    if ((rc = att_save_grad("--grad-query", o->grad_query, q))) return rc;
    if ((rc = att_save_grad("--grad-value", o->grad_value, v))) return rc;
    if (k && (rc = att_save_grad("--grad-key", o->grad_key, k))) return rc;
    if (scale && (rc = att_save_grad("--grad-scale", o->grad_scale, scale))) return rc;
    if (cw && (rc = att_save_grad("--grad-concat-score-weight", o->grad_concat_w, cw))) return rc;
    return 0;
}

int cmd_attention(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if ((!strcmp(argv[i], "--layer") && i + 1 < argc && !strcmp(argv[i + 1], "multi_head")) ||
            !strcmp(argv[i], "--layer=multi_head"))
            return cmd_attention_multi_head(argc, argv);
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    run_state s = {0};
    rc = run(&o, &s);
    release(&s);
    return rc;
}
