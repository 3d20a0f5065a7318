/* cmd_attention_mha.c — `attograd attention --layer multi_head`: Keras 3's
 * MultiHeadAttention call on NumPy files, its weights from a safetensors
 * file, its gradients (inputs and weights), and --explain, which recomputes
 * every stage in plain loops and checks it against the layer.
 *
 * Exit status: 0 done, 1 a data error (a file, a dtype, a shape), 2 a usage
 * error (a flag). Every error is one line on stderr. */
#include "tools.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: attograd attention --layer multi_head --num-heads H --key-dim K\n"
    "    [--value-dim V] [--output-dim O] [--no-bias] --weights W.safetensors\n"
    "    --query Q.npy --value V.npy [--key K.npy]\n"
    "    [--query-mask QM.npy] [--value-mask VM.npy] [--key-mask KM.npy]   (B,Tq) / (B,Tv) / "
    "(B,Tv)\n"
    "    [--attention-mask AM.npy]            (B,Tq,Tv); masks bool, or integers/floats 0/1\n"
    "    [--causal] [--dropout RATE --seed N --training]\n"
    "    [--dtype float32|float64]            default: the query file's dtype\n"
    "    --output OUT.npy [--scores SCORES.npy]\n"
    "    [--grad-output G.npy                 upstream gradient (B,Tq,O); with it, the gradients "
    "below\n"
    "     --grad-query F.npy --grad-value F.npy [--grad-key F.npy]\n"
    "     [--grad-weights GW.safetensors]]\n"
    "    [--explain]\n"
    "\n"
    "Keras 3's MultiHeadAttention(num_heads=H, key_dim=K, value_dim=V, use_bias, output_shape=O)\n"
    "on query (B,Tq,Dq), value (B,Tv,Dv), key (B,Tv,Dk); without --key the value is the key.\n"
    "W.safetensors holds query/kernel (Dq,H,K), query/bias (H,K), key/kernel (Dk,H,K), key/bias\n"
    "(H,K), value/kernel (Dv,H,V), value/bias (H,V), attention_output/kernel (H,V,O) and\n"
    "attention_output/bias (O) (no biases with --no-bias); V defaults to K, O to Dq. Writes the\n"
    "output (B,Tq,O) and, with --scores, the weights (B,H,Tq,Tv) after the masked softmax and\n"
    "before dropout, as Keras returns them. --grad-weights writes the weights' gradients under\n"
    "the same names. --explain prints each stage with its shape. Exit status: 1 data error, 2\n"
    "usage error.\n";

typedef struct mha_opts {
    const char *weights, *query, *value, *key, *qmask, *vmask, *kmask, *amask;
    const char *output, *scores, *grad_output, *grad_query, *grad_value, *grad_key, *grad_weights;
    int64_t heads, key_dim, value_dim, output_dim;
    int no_bias, causal, training, explain;
    double dropout;
    uint64_t seed;
    int dtype; /* -1: the query file's */
} mha_opts;

static int parse_count(const char *flag, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v <= 0)
        return att_usage_error("%s must be a positive integer, received '%s'", flag, s);
    *out = v;
    return -1;
}

/* Parses argv into o; returns -1 when done, else the exit status. */
static int parse(int argc, char **argv, mha_opts *o)
{
    *o = (mha_opts){.dtype = -1};
    const char *layer = NULL, *heads = NULL, *kd = NULL, *vd = NULL, *od = NULL, *dtype = NULL,
               *rate = NULL, *seed = NULL;
    const att_valued valued[] = {
        {"--layer", &layer},
        {"--num-heads", &heads},
        {"--key-dim", &kd},
        {"--value-dim", &vd},
        {"--output-dim", &od},
        {"--weights", &o->weights},
        {"--query", &o->query},
        {"--value", &o->value},
        {"--key", &o->key},
        {"--query-mask", &o->qmask},
        {"--value-mask", &o->vmask},
        {"--key-mask", &o->kmask},
        {"--attention-mask", &o->amask},
        {"--dropout", &rate},
        {"--seed", &seed},
        {"--dtype", &dtype},
        {"--output", &o->output},
        {"--scores", &o->scores},
        {"--grad-output", &o->grad_output},
        {"--grad-query", &o->grad_query},
        {"--grad-value", &o->grad_value},
        {"--grad-key", &o->grad_key},
        {"--grad-weights", &o->grad_weights},
    };
    const att_flag flags[] = {{"--no-bias", &o->no_bias},
                              {"--causal", &o->causal},
                              {"--training", &o->training},
                              {"--explain", &o->explain}};
    /* the other layers' options */
    static const char *const others[] = {"--score-mode",
                                         "--scale",
                                         "--use-scale",
                                         "--no-scale",
                                         "--concat-score-weight",
                                         "--grad-scale",
                                         "--grad-concat-score-weight"};
    for (int i = 1; i < argc; i++)
        for (size_t f = 0; f < sizeof others / sizeof others[0]; f++) {
            size_t n = strcspn(argv[i], "=");
            if (!strncmp(argv[i], others[f], n) && !others[f][n])
                return att_usage_error("%s applies to --layer attention or additive, not "
                                       "multi_head",
                                       others[f]);
        }
    int rc = att_parse_argv(argc, argv, valued, (int)(sizeof valued / sizeof valued[0]), flags,
                            (int)(sizeof flags / sizeof flags[0]), usage_text);
    if (rc >= 0) return rc;
    const char *required[6][2] = {{"--num-heads", heads},    {"--key-dim", kd},
                                  {"--weights", o->weights}, {"--query", o->query},
                                  {"--value", o->value},     {"--output", o->output}};
    for (int i = 0; i < 6; i++)
        if (!required[i][1])
            return att_usage_error("%s is required with --layer multi_head", required[i][0]);
    if ((rc = parse_count("--num-heads", heads, &o->heads)) >= 0) return rc;
    if ((rc = parse_count("--key-dim", kd, &o->key_dim)) >= 0) return rc;
    if (vd && (rc = parse_count("--value-dim", vd, &o->value_dim)) >= 0) return rc;
    if (od && (rc = parse_count("--output-dim", od, &o->output_dim)) >= 0) return rc;
    if ((rc = att_parse_common(dtype, rate, seed, &o->dtype, &o->dropout, &o->seed)) >= 0)
        return rc;
    if (o->training && o->dropout > 0 && o->seed == 0)
        return att_usage_error("--dropout with --training needs --seed N with N >= 1 (the "
                               "layer's seed; 0 is Keras's seed=None)");
    const char *grads[4] = {o->grad_query, o->grad_value, o->grad_key, o->grad_weights};
    for (int i = 0; i < 4 && !o->grad_output; i++)
        if (grads[i]) return att_usage_error("the --grad-* outputs need --grad-output");
    if (o->grad_key && !o->key)
        return att_usage_error("--grad-key needs --key (without a key, --grad-value includes the "
                               "value's use as the key)");
    return -1;
}

/* ---- the run ---- */

enum { T_Q, T_V, T_K, T_QM, T_VM, T_KM, T_AM, T_GOUT, T_COUNT };

typedef struct mha_run {
    ag_tensor *t[T_COUNT];
    ag_safetensors *w;
    ag_model *m;
    ag_layer *l;
    ag_node *in[T_COUNT], *out, *scores;
    ag_node *weights[8];
    int n_weights;
} mha_run;

static void release(mha_run *r)
{
    for (int i = 0; i < T_COUNT; i++)
        ag_tensor_free(r->t[i]);
    ag_safetensors_close(r->w);
    ag_model_free(r->m);
}

/* A weight's name in the file: the layer's name without "<layer>/". */
static const char *short_name(const ag_node *w)
{
    const char *s = strchr(ag_node_name(w), '/');
    return s ? s + 1 : ag_node_name(w);
}

static int check_rank3(const char *flag, const char *what, const ag_tensor *t)
{
    char a[96];
    if (t->rank == 3) return 0;
    return att_data_error("%s: %s must be (batch_size, T, dim), received shape %s", flag, what,
                          ag_shape_str(t->rank, t->shape, a, sizeof a));
}

/* A mask file's shape against (B, T) or (B, Tq, Tv). */
static int check_mask(const char *flag, const char *what, const char *dims, const ag_tensor *t,
                      int rank, const int64_t *want)
{
    int ok = t->rank == rank;
    for (int d = 0; ok && d < rank; d++)
        ok = t->shape[d] == want[d];
    if (ok) return 0;
    char a[96], b[96];
    return att_data_error("%s: %s must have shape %s = %s, received %s", flag, what, dims,
                          ag_shape_str(rank, want, a, sizeof a),
                          ag_shape_str(t->rank, t->shape, b, sizeof b));
}

/* Loads every file and checks what the layer cannot know: ranks and the
 * masks' shapes against the inputs'. */
static int load_all(const mha_opts *o, mha_run *r)
{
    int rc = 0;
    const char *paths[T_COUNT] = {o->query, o->value, o->key,   o->qmask,
                                  o->vmask, o->kmask, o->amask, o->grad_output};
    static const char *const flag[T_COUNT] = {"--query",          "--value",      "--key",
                                              "--query-mask",     "--value-mask", "--key-mask",
                                              "--attention-mask", "--grad-output"};
    for (int i = 0; i < T_COUNT; i++) {
        if (!paths[i]) continue;
        r->t[i] = i >= T_QM && i <= T_AM ? att_load_mask(flag[i], paths[i], &rc)
                                         : att_load(flag[i], paths[i], &rc);
        if (!r->t[i]) return rc;
        if ((i < T_QM || i == T_GOUT) && !ag_dtype_is_float(r->t[i]->dtype))
            return att_data_error("%s must hold float32 or float64 values, received %s", flag[i],
                                  ag_dtype_name(r->t[i]->dtype));
    }
    if ((rc = check_rank3("--query", "query", r->t[T_Q])) ||
        (rc = check_rank3("--value", "value", r->t[T_V])) ||
        (r->t[T_K] && (rc = check_rank3("--key", "key", r->t[T_K]))))
        return rc;
    const int64_t B = r->t[T_Q]->shape[0], Tq = r->t[T_Q]->shape[1], Tv = r->t[T_V]->shape[1];
    if (r->t[T_QM] && (rc = check_mask("--query-mask", "query_mask", "(batch_size, Tq)", r->t[T_QM],
                                       2, (int64_t[]){B, Tq})))
        return rc;
    if (r->t[T_VM] && (rc = check_mask("--value-mask", "value_mask", "(batch_size, Tv)", r->t[T_VM],
                                       2, (int64_t[]){B, Tv})))
        return rc;
    if (r->t[T_KM] && (rc = check_mask("--key-mask", "key_mask", "(batch_size, Tv)", r->t[T_KM], 2,
                                       (int64_t[]){B, Tv})))
        return rc;
    if (r->t[T_AM] && (rc = check_mask("--attention-mask", "attention_mask", "(batch_size, Tq, Tv)",
                                       r->t[T_AM], 3, (int64_t[]){B, Tq, Tv})))
        return rc;
    ag_error e = {0};
    if (!(r->w = ag_safetensors_open(o->weights, &e)))
        return att_data_error("--weights: %s", e.msg);
    return 0;
}

/* The model: inputs shaped as the files (batch None), the layer, its call. */
static int build(const mha_opts *o, ag_dtype dt, mha_run *r)
{
    ag_model *m = r->m = ag_model_new(dt, o->seed);
    if (!m) return att_data_error("out of memory");
    static const char *const names[T_GOUT] = {
        "query", "value", "key", "query_mask", "value_mask", "key_mask", "attention_mask"};
    for (int i = 0; i < T_GOUT; i++) {
        const ag_tensor *t = r->t[i];
        if (!t) continue;
        r->in[i] =
            ag_model_input(m, names[i], i < T_QM ? AG_FLOAT32 : AG_BOOL, t->rank - 1, t->shape + 1);
        if (!r->in[i]) return att_data_error("%s", ag_model_error(m));
    }
    ag_mha_config c = ag_mha_defaults(o->heads, o->key_dim);
    c.value_dim = o->value_dim;
    c.output_shape = o->output_dim;
    c.use_bias = !o->no_bias;
    c.dropout = o->dropout;
    c.seed = o->seed;
    r->l = ag_layer_multi_head_attention(m, &c);
    ag_node *masks[2] = {r->in[T_QM], r->in[T_VM]};
    ag_attention_call call = {.mask = masks,
                              .n_mask = 2,
                              .use_causal_mask = o->causal,
                              .attention_scores = o->scores || o->explain ? &r->scores : NULL,
                              .key_mask = r->in[T_KM],
                              .attention_mask = r->in[T_AM]};
    r->out = ag_call_attention(r->l, (ag_node *[]){r->in[T_Q], r->in[T_V], r->in[T_K]},
                               r->in[T_K] ? 3 : 2, &call);
    if (!r->out) return att_data_error("%s", ag_model_error(m));
    r->n_weights = ag_layer_weights(r->l, -1, r->weights, 8);
    return 0;
}

/* Sets the layer's weights from the file: every tensor named, of its shape,
 * and nothing else. */
static int assign_weights(const mha_opts *o, mha_run *r)
{
    char a[96], b[96];
    ag_graph *g = ag_model_graph(r->m);
    for (int i = 0; i < r->n_weights; i++) {
        const ag_shape *s = ag_node_shape(r->weights[i]);
        const ag_tensor *t = ag_safetensors_get(r->w, short_name(r->weights[i]));
        if (!t)
            return att_data_error("--weights: '%s' has no tensor '%s' (expected shape %s)",
                                  o->weights, short_name(r->weights[i]),
                                  ag_shape_str(s->rank, s->dim, a, sizeof a));
        int same = t->rank == s->rank && ag_dtype_is_float(t->dtype);
        for (int d = 0; same && d < s->rank; d++)
            same = t->shape[d] == s->dim[d];
        if (!same)
            return att_data_error(
                "--weights: '%s' in '%s' must be a float tensor of shape %s, "
                "received %s %s",
                short_name(r->weights[i]), o->weights, ag_shape_str(s->rank, s->dim, a, sizeof a),
                ag_dtype_name(t->dtype), ag_shape_str(t->rank, t->shape, b, sizeof b));
        if (ag_assign(g, r->weights[i], t))
            return att_data_error("--weights: %s", ag_graph_error(g));
    }
    for (int i = 0; i < ag_safetensors_count(r->w); i++) {
        const char *name = ag_safetensors_name(r->w, i);
        int known = 0;
        for (int j = 0; j < r->n_weights && !known; j++)
            known = !strcmp(name, short_name(r->weights[j]));
        if (!known)
            return att_data_error("--weights: '%s' holds '%s', which this layer does not have%s",
                                  o->weights, name,
                                  o->no_bias && strstr(name, "/bias") ? " (--no-bias)" : "");
    }
    return 0;
}

/* ---- --explain: every stage in plain loops ---- */

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

static double at(const ag_tensor *t, int64_t i) { return t ? ag_tensor_get(t, i) : 1; }

/* x (B,T,D) · kernel (D,H,E) + bias (H,E) -> (B,H,T,E) */
static void project(const ag_tensor *x, const ag_tensor *kern, const ag_tensor *bias, double *y,
                    int64_t H, int64_t E)
{
    const int64_t B = x->shape[0], T = x->shape[1], D = x->shape[2];
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t e = 0; e < E; e++) {
                    double acc = bias ? ag_tensor_get(bias, h * E + e) : 0;
                    for (int64_t d = 0; d < D; d++)
                        acc += ag_tensor_get(x, (b * T + t) * D + d) *
                               ag_tensor_get(kern, (d * H + h) * E + e);
                    y[((b * H + h) * T + t) * E + e] = acc;
                }
}

/* Prints every stage, and returns the largest difference between the
 * layer's scores and output and this path's. */
static double explain(const mha_opts *o, ag_dtype dt, mha_run *r, uint64_t step)
{
    const ag_tensor *wt[8] = {0};
    for (int i = 0; i < r->n_weights; i++) {
        const char *n = short_name(r->weights[i]);
        static const char *const names[8] = {"query/kernel",
                                             "query/bias",
                                             "key/kernel",
                                             "key/bias",
                                             "value/kernel",
                                             "value/bias",
                                             "attention_output/kernel",
                                             "attention_output/bias"};
        for (int j = 0; j < 8; j++)
            if (!strcmp(n, names[j])) wt[j] = ag_value(r->weights[i]);
    }
    ag_tensor *q = ag_tensor_cast(r->t[T_Q], dt, NULL), *v = ag_tensor_cast(r->t[T_V], dt, NULL);
    ag_tensor *k = r->t[T_K] ? ag_tensor_cast(r->t[T_K], dt, NULL) : NULL;
    const ag_tensor *key = k ? k : v;
    const int64_t H = o->heads, K = o->key_dim, V = o->value_dim ? o->value_dim : K;
    const int64_t B = q->shape[0], Tq = q->shape[1], Tv = v->shape[1];
    const int64_t O = wt[6]->shape[2], n = B * H * Tq * Tv;
    double *qh = calloc((size_t)(B * H * Tq * K), sizeof *qh);
    double *kh = calloc((size_t)(B * H * Tv * K), sizeof *kh);
    double *vh = calloc((size_t)(B * H * Tv * V), sizeof *vh);
    double *s = calloc((size_t)n, sizeof *s), *ms = calloc((size_t)n, sizeof *ms);
    double *mask = calloc((size_t)(B * Tq * Tv), sizeof *mask);
    double *a = calloc((size_t)n, sizeof *a), *z = calloc((size_t)n, sizeof *z);
    double *oh = calloc((size_t)(B * H * Tq * V), sizeof *oh);
    double *y = calloc((size_t)(B * Tq * O), sizeof *y);
    double worst = INFINITY;
    if (!q || !v || (r->t[T_K] && !k) || !qh || !kh || !vh || !s || !ms || !mask || !a || !z ||
        !oh || !y)
        goto done;
    printf("MultiHeadAttention: num_heads %lld, key_dim %lld, value_dim %lld, output %lld, "
           "use_bias %s, causal %s, dropout %g (%s), dtype %s\n\n",
           (long long)H, (long long)K, (long long)V, (long long)O, o->no_bias ? "off" : "on",
           o->causal ? "on" : "off", o->dropout, o->training ? "training" : "inference",
           ag_dtype_name(dt));
    ag_tensor_print(stdout, q, "query");
    ag_tensor_print(stdout, v, "value");
    if (k) ag_tensor_print(stdout, k, "key");
    static const char *const mask_names[4] = {"query_mask", "value_mask", "key_mask",
                                              "attention_mask"};
    for (int i = 0; i < 4; i++)
        if (r->t[T_QM + i]) ag_tensor_print(stdout, r->t[T_QM + i], mask_names[i]);
    fputc('\n', stdout);
    project(q, wt[0], wt[1], qh, H, K);
    project(key, wt[2], wt[3], kh, H, K);
    project(v, wt[4], wt[5], vh, H, V);
    print_stage("1. query per head  query . query/kernel + query/bias", 4, (int64_t[]){B, H, Tq, K},
                qh, dt);
    print_stage(k ? "1. key per head  key . key/kernel + key/bias"
                  : "1. key per head  value . key/kernel + key/bias",
                4, (int64_t[]){B, H, Tv, K}, kh, dt);
    print_stage("1. value per head  value . value/kernel + value/bias", 4, (int64_t[]){B, H, Tv, V},
                vh, dt);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < Tq; i++)
            for (int64_t j = 0; j < Tv; j++)
                mask[(b * Tq + i) * Tv + j] = at(r->t[T_QM], b * Tq + i) *
                                              at(r->t[T_VM], b * Tv + j) *
                                              at(r->t[T_KM], b * Tv + j) * (!o->causal || i >= j) *
                                              at(r->t[T_AM], (b * Tq + i) * Tv + j);
    for (int64_t bh = 0; bh < B * H; bh++)
        for (int64_t i = 0; i < Tq; i++)
            for (int64_t j = 0; j < Tv; j++) {
                double dot = 0;
                for (int64_t e = 0; e < K; e++)
                    dot += qh[(bh * Tq + i) * K + e] * kh[(bh * Tv + j) * K + e];
                const int64_t idx = (bh * Tq + i) * Tv + j;
                s[idx] = dot / sqrt((double)K);
                /* the kernel adds -1e9 in the computation dtype */
                ms[idx] = mask[((bh / H) * Tq + i) * Tv + j] != 0 ? s[idx]
                          : dt == AG_FLOAT32                      ? (double)(float)(s[idx] - 1e9)
                                                                  : s[idx] - 1e9;
            }
    print_stage("2. scaled scores  (q . k^T) / sqrt(key_dim)", 4, (int64_t[]){B, H, Tq, Tv}, s, dt);
    print_stage("3. the mask  query_mask[:, :, None] & value_mask[:, None, :] & key_mask & "
                "causal (row >= col) & attention_mask",
                3, (int64_t[]){B, Tq, Tv}, mask, dt);
    print_stage("3. after masking  s - 1e9 where the mask is false", 4, (int64_t[]){B, H, Tq, Tv},
                ms, dt);
    for (int64_t row = 0; row < B * H * Tq; row++) {
        const int64_t bh = row / Tq, i = row % Tq;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < Tv; j++)
            mx = fmax(mx, ms[row * Tv + j]);
        for (int64_t j = 0; j < Tv; j++)
            sum += a[row * Tv + j] = exp(ms[row * Tv + j] - mx);
        for (int64_t j = 0; j < Tv; j++) {
            const int64_t idx = row * Tv + j;
            a[idx] = a[idx] / sum * mask[((bh / H) * Tq + i) * Tv + j];
            int drop = o->training && o->dropout > 0 &&
                       !(ag_rand_uniform(o->seed, step, (uint64_t)idx) >= o->dropout);
            z[idx] = drop ? 0 : o->training && o->dropout > 0 ? a[idx] / (1 - o->dropout) : a[idx];
        }
    }
    print_stage("4. softmax over Tv, times the mask (a row with no key left is all zero): the "
                "scores",
                4, (int64_t[]){B, H, Tq, Tv}, a, dt);
    char label[200];
    if (o->training && o->dropout > 0)
        snprintf(label, sizeof label,
                 "5. after dropout  rate %g, seed %llu, step %llu: kept weights * 1/(1-rate)",
                 o->dropout, (unsigned long long)o->seed, (unsigned long long)step);
    else
        snprintf(label, sizeof label, "5. after dropout  (%s: unchanged)",
                 o->dropout > 0 ? "inference mode" : "rate 0");
    print_stage(label, 4, (int64_t[]){B, H, Tq, Tv}, z, dt);
    for (int64_t bh = 0; bh < B * H; bh++)
        for (int64_t i = 0; i < Tq; i++)
            for (int64_t e = 0; e < V; e++) {
                double acc = 0;
                for (int64_t j = 0; j < Tv; j++)
                    acc += z[(bh * Tq + i) * Tv + j] * vh[(bh * Tv + j) * V + e];
                oh[(bh * Tq + i) * V + e] = acc;
            }
    print_stage("6. per head  weights . value", 4, (int64_t[]){B, H, Tq, V}, oh, dt);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < Tq; i++)
            for (int64_t e = 0; e < O; e++) {
                double acc = wt[7] ? ag_tensor_get(wt[7], e) : 0;
                for (int64_t h = 0; h < H; h++)
                    for (int64_t d = 0; d < V; d++)
                        acc += oh[((b * H + h) * Tq + i) * V + d] *
                               ag_tensor_get(wt[6], (h * V + d) * O + e);
                y[(b * Tq + i) * O + e] = acc;
            }
    print_stage("7. output  sum over heads of per-head . attention_output/kernel + "
                "attention_output/bias",
                3, (int64_t[]){B, Tq, O}, y, dt);
    worst = 0;
    for (int64_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(ag_tensor_get(ag_value(r->scores), i) - a[i]));
    for (int64_t i = 0; i < B * Tq * O; i++)
        worst = fmax(worst, fabs(ag_tensor_get(ag_value(r->out), i) - y[i]));
done:
    ag_tensor_free(q), ag_tensor_free(v), ag_tensor_free(k);
    free(qh), free(kh), free(vh), free(s), free(ms), free(mask), free(a), free(z), free(oh),
        free(y);
    return worst;
}

static int save_weight_grads(const char *path, mha_run *r)
{
    ag_tensor *grads[8] = {0}, *owned[8] = {0};
    const char *names[8];
    int rc = 0;
    for (int i = 0; i < r->n_weights; i++) {
        names[i] = short_name(r->weights[i]);
        grads[i] = ag_grad(r->weights[i]);
        if (!grads[i]) {
            const ag_tensor *v = ag_value(r->weights[i]);
            grads[i] = owned[i] = ag_tensor_new(v->dtype, v->rank, v->shape, NULL);
            if (!grads[i]) rc = att_data_error("--grad-weights: out of memory");
        }
    }
    ag_error e = {0};
    if (!rc && ag_safetensors_save(path, names, (const ag_tensor *const *)grads, r->n_weights, NULL,
                                   NULL, 0, &e))
        rc = att_data_error("--grad-weights: %s", e.msg);
    for (int i = 0; i < 8; i++)
        ag_tensor_free(owned[i]);
    return rc;
}

static int run(const mha_opts *o, mha_run *r)
{
    int rc;
    if ((rc = load_all(o, r))) return rc;
    ag_dtype dt = o->dtype >= 0 ? (ag_dtype)o->dtype : r->t[T_Q]->dtype;
    if ((rc = build(o, dt, r)) || (rc = assign_weights(o, r))) return rc;
    ag_graph *g = ag_model_graph(r->m);
    ag_graph_set_training(g, o->training);
    for (int i = 0; i < T_GOUT; i++) {
        if (!r->in[i]) continue;
        if (ag_feed(g, r->in[i], r->t[i])) return att_data_error("%s", ag_graph_error(g));
        if (i < T_QM) ag_set_requires_grad(r->in[i], 1);
    }
    uint64_t step = ag_graph_step(g);
    ag_node *outs[2] = {r->out, r->scores};
    if (ag_forward(g, outs, r->scores ? 2 : 1)) return att_data_error("%s", ag_graph_error(g));
    if (o->explain) {
        double diff = explain(o, dt, r, step);
        double tol = dt == AG_FLOAT32 ? 1e-4 : 1e-9;
        printf("\ncheck: the layer's scores and output %s this reference path "
               "(max |difference| %.3g)\n",
               diff <= tol ? "agree with" : "DISAGREE with", diff);
        if (!(diff <= tol)) return att_data_error("the layer disagrees with the reference path");
    }
    if ((rc = att_save("--output", o->output, ag_value(r->out)))) return rc;
    if (o->scores && (rc = att_save("--scores", o->scores, ag_value(r->scores)))) return rc;
    if (!o->grad_output) return 0;
    if (ag_backward(g, r->out, r->t[T_GOUT]))
        return att_data_error("--grad-output: %s", ag_graph_error(g));
    if ((rc = att_save_grad("--grad-query", o->grad_query, r->in[T_Q]))) return rc;
    if ((rc = att_save_grad("--grad-value", o->grad_value, r->in[T_V]))) return rc;
    if (r->in[T_K] && (rc = att_save_grad("--grad-key", o->grad_key, r->in[T_K]))) return rc;
    if (o->grad_weights && (rc = save_weight_grads(o->grad_weights, r))) return rc;
    return 0;
}

int cmd_attention_multi_head(int argc, char **argv)
{
    mha_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    mha_run r = {0};
    rc = run(&o, &r);
    release(&r);
    return rc;
}
