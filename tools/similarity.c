/* similarity.c — the text-similarity network, pair batches, saved models;
 * and the commands that use a saved model:
 *   attograd evaluate --model MODEL --data FILE.tsv       accuracy, AUC, loss
 *   attograd predict  --model MODEL "text a" "text b"     the probability
 *   attograd predict  --model MODEL --data FILE.tsv       one probability per line
 *   attograd heatmap  --model MODEL --out PAIR.png "text a" "text b"
 */
#include "similarity.h"
#include "tools.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double sim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ag_model *build_transformer(const sim_config *c, char *err, size_t errlen)
{
    ag_transformer_config t = ag_transformer_defaults();
    t.max_tokens = c->max_tokens, t.max_len = c->max_len, t.dim = c->dim;
    t.num_heads = c->heads, t.ff_dim = c->ff_dim, t.layers = c->blocks, t.units = c->units;
    t.dropout = c->dropout, t.seed = c->seed;
    ag_error e = {0};
    ag_model *m = ag_transformer_model(&t, &e);
    if (!m) snprintf(err, errlen, "building the model: %s", e.msg);
    return m;
}

static ag_model *build_decomposable(const sim_config *c, char *err, size_t errlen)
{
    ag_decomposable_config d = ag_decomposable_defaults();
    d.max_tokens = c->max_tokens, d.dim = c->dim, d.units = c->units;
    d.attend_layers = c->attend_layers, d.compare_layers = c->compare_layers;
    d.dropout = c->dropout, d.seed = c->seed;
    ag_error e = {0};
    ag_model *m = ag_decomposable_model(&d, &e);
    if (!m) snprintf(err, errlen, "building the model: %s", e.msg);
    return m;
}

ag_model *sim_build(const sim_config *c, char *err, size_t errlen)
{
    if (c->model && !strcmp(c->model, "transformer")) return build_transformer(c, err, errlen);
    if (c->model && !strcmp(c->model, "decomposable")) return build_decomposable(c, err, errlen);
    if (c->model && strcmp(c->model, "cnn-attention")) {
        snprintf(err, errlen,
                 "--model must be cnn-attention, decomposable or transformer, received '%s'",
                 c->model);
        return NULL;
    }
    int mode = !strcmp(c->attention, "dot")        ? 0
               : !strcmp(c->attention, "concat")   ? 1
               : !strcmp(c->attention, "additive") ? 2
                                                   : -1;
    if (mode < 0) {
        snprintf(err, errlen, "--attention must be dot, concat or additive, received '%s'",
                 c->attention);
        return NULL;
    }
    ag_model *m = ag_model_new(AG_FLOAT32, c->seed);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ag_node *a = ag_model_input(m, "text_a", AG_INT32, 1, (int64_t[]){-1});
    ag_node *b = ag_model_input(m, "text_b", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, c->max_tokens, c->dim, 1);
    ag_layer *cnn = ag_layer_conv1d(m, c->filters, 4, 1, AG_PAD_SAME, AG_ACT_LINEAR, 1);
    ag_node *q = ag_call(cnn, ag_call(emb, a)); /* (B,Ta,F) */
    ag_node *v = ag_call(cnn, ag_call(emb, b)); /* (B,Tb,F) */
    ag_layer *att = mode == 2 ? ag_layer_additive_attention(m, 1, 0.0, 0)
                              : ag_layer_attention(m, 0, mode == 0 ? "dot" : "concat", 0.0, 0);
    if (att) ag_layer_set_name(att, "attention");
    ag_node *o = ag_call_n(att, (ag_node *[]){q, v}, 2); /* (B,Ta,F) */
    ag_node *pq = ag_call(ag_layer_global_average_pooling1d(m), q);
    ag_node *po = ag_call(ag_layer_global_average_pooling1d(m), o);
    ag_node *h = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){pq, po}, 2); /* (B,2F) */
    h = ag_call(ag_layer_dense(m, 64, AG_ACT_RELU, 1), h);
    ag_node *p = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), h); /* (B,1) */
    if (!p || ag_model_build(m, (ag_node *[]){a, b}, 2, &p, 1)) {
        snprintf(err, errlen, "building the model: %s", ag_model_error(m));
        ag_model_free(m);
        return NULL;
    }
    return m;
}

/* ---- batches ---- */

typedef struct sized_row {
    int64_t len, row;
} sized;

static int by_len(const void *x, const void *y)
{
    const sized *a = x, *b = y;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

/* The pair's longer text, in tokens: what its batch is padded to. */
static int64_t pair_len(const ag_pair_ids *d, int64_t i)
{
    int64_t la = d->a_off[i + 1] - d->a_off[i], lb = d->b_off[i + 1] - d->b_off[i];
    return la > lb ? la : lb;
}

/* Sorts order[0..n) by pair length in runs of `run` rows (ties by
 * position, so the result is deterministic). */
static void sort_runs(sim_source *s, sized *tmp, int64_t run)
{
    for (int64_t lo = 0; lo < s->n; lo += run) {
        int64_t m = s->n - lo < run ? s->n - lo : run;
        for (int64_t k = 0; k < m; k++)
            tmp[k] = (sized){pair_len(s->d, s->order[lo + k]), s->order[lo + k]};
        qsort(tmp, (size_t)m, sizeof *tmp, by_len);
        for (int64_t k = 0; k < m; k++)
            s->order[lo + k] = tmp[k].row;
    }
}

ag_status sim_source_begin_epoch(void *user, int epoch, ag_error *err)
{
    (void)err;
    sim_source *s = user;
    for (; s->shuffle_seed && s->epochs_shuffled <= epoch; s->epochs_shuffled++) {
        ag_rng_shuffle(&s->rng, s->order, s->n);
        if (s->bucket) {
            sort_runs(s, s->sort_tmp, s->bucket * s->batch_size);
            ag_rng_shuffle(&s->rng, s->batch_perm, s->src.n_batches);
        }
    }
    return AG_OK;
}

static ag_status sim_get_batch(void *user, int64_t batch, const ag_tensor **inputs,
                               const ag_tensor **target, ag_error *err)
{
    sim_source *s = user;
    if (s->calls++ % s->src.n_batches == 0) {
        s->pass_start = sim_now();
        if (s->timed) s->timed_total += s->pass_start - s->timed->pass_start;
    }
    if (s->batch_perm) batch = s->batch_perm[batch];
    int64_t first = batch * s->batch_size;
    int64_t rows = s->n - first < s->batch_size ? s->n - first : s->batch_size;
    ag_status st = ag_pair_batch(s->d, s->order + first, rows, &s->a, &s->b, &s->y, err);
    if (st) return st;
    inputs[0] = &s->a;
    inputs[1] = &s->b;
    *target = &s->y;
    return AG_OK;
}

ag_status sim_source_init(sim_source *s, const ag_pair_ids *d, int64_t batch_size,
                          uint64_t shuffle_seed, ag_error *err)
{
    memset(s, 0, sizeof *s);
    if (batch_size < 1)
        return ag_error_set(err, AG_ERR_ARG, "--batch-size must be >= 1, received %lld",
                            (long long)batch_size);
    s->d = d;
    s->n = d->n;
    s->batch_size = batch_size;
    s->shuffle_seed = shuffle_seed;
    ag_rng_init(&s->rng, shuffle_seed, 0xDA7A);
    s->order = malloc(((size_t)d->n + 1) * sizeof *s->order);
    if (!s->order) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < d->n; i++)
        s->order[i] = i;
    s->src = (ag_batch_source){(d->n + batch_size - 1) / batch_size, sim_get_batch, s};
    return AG_OK;
}

ag_status sim_source_bucket(sim_source *s, int64_t bucket, ag_error *err)
{
    if (bucket <= 0) return AG_OK;
    s->bucket = bucket;
    s->sort_tmp = malloc(((size_t)s->n + 1) * sizeof *s->sort_tmp);
    if (!s->sort_tmp) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    if (!s->shuffle_seed) { /* a fixed order: sorted once, whole */
        sort_runs(s, s->sort_tmp, s->n > 0 ? s->n : 1);
        return AG_OK;
    }
    s->batch_perm = malloc(((size_t)s->src.n_batches + 1) * sizeof *s->batch_perm);
    if (!s->batch_perm) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < s->src.n_batches; i++)
        s->batch_perm[i] = i;
    return AG_OK;
}

void sim_source_release(sim_source *s)
{
    free(s->order);
    free(s->sort_tmp);
    free(s->batch_perm);
    s->sort_tmp = NULL, s->batch_perm = NULL;
    ag_tensor_release(&s->a);
    ag_tensor_release(&s->b);
    ag_tensor_release(&s->y);
    s->order = NULL;
}

/* ---- saved models ---- */

int sim_load(const char *path, const char *who, ag_model **m, ag_vocab **v)
{
    ag_error err = {0};
    *v = NULL;
    *m = ag_model_load(path, &err);
    if (!*m) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        return 1;
    }
    const char *voc = ag_model_metadata(*m, "vocabulary");
    if (!voc) {
        fprintf(stderr,
                "%s: %s has no \"vocabulary\" metadata: not a model saved by `attograd train`\n",
                who, path);
    } else if (!(*v = ag_vocab_from_string(voc, &err))) {
        fprintf(stderr, "%s: %s: %s\n", who, path, err.msg);
    } else if (!ag_model_get_layer(*m, "attention") || ag_model_input_count(*m) != 2) {
        fprintf(stderr,
                "%s: %s is not a text-similarity model (no layer named \"attention\", or not "
                "two inputs)\n",
                who, path);
        ag_vocab_free(*v);
        *v = NULL;
    } else if (ag_model_compile(*m, NULL, AG_LOSS_BINARY_CROSSENTROPY, 0,
                                AG_METRIC_ACCURACY | AG_METRIC_AUC)) {
        fprintf(stderr, "%s: %s\n", who, ag_model_error(*m));
        ag_vocab_free(*v);
        *v = NULL;
    } else {
        return 0;
    }
    ag_model_free(*m);
    *m = NULL;
    return 1;
}

void sim_free_labels(char **labels, int64_t n)
{
    for (int64_t i = 0; labels && i < n; i++)
        free(labels[i]);
    free(labels);
}

int64_t sim_max_len(const ag_model *m)
{
    const char *s = ag_model_metadata(m, "max_len");
    long long n = SIM_MAX_LENGTH;
    opt_msg msg;
    if (s && !opt_int(msg, "max_len", s, 1, 1000000, &n)) n = SIM_MAX_LENGTH;
    return n;
}

void sim_report_truncated(const char *who, const char *file, const ag_pair_ids *d, int64_t max_len)
{
    if (d->n_truncated)
        fprintf(stderr,
                "%s: truncated %lld of the %lld texts of %s to %lld tokens (--max-length)\n", who,
                (long long)d->n_truncated, (long long)(2 * d->n), file, (long long)max_len);
}

int sim_encode_one(const ag_vocab *v, const char *text, int64_t max_len, ag_tensor *t,
                   char ***labels, int64_t *n_labels, const char *who)
{
    ag_error err = {0};
    int64_t n = 0;
    char **tok = ag_tokenize(text, &n, &err);
    if (!tok) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        return 1;
    }
    int64_t len = n ? n : 1;
    if (max_len > 0 && len > max_len) {
        fprintf(stderr, "%s: a text of %lld tokens truncated to %lld (--max-length)\n", who,
                (long long)len, (long long)max_len);
        len = max_len;
    }
    if (ag_tensor_reshape_storage(t, AG_INT32, 2, (int64_t[]){1, len}, NULL, &err)) {
        free(tok);
        fprintf(stderr, "%s: %s\n", who, err.msg);
        return 1;
    }
    char **lab = labels ? calloc((size_t)len, sizeof *lab) : NULL;
    for (int64_t i = 0; i < len; i++) {
        int32_t id = n ? ag_vocab_lookup(v, tok[i]) : AG_VOCAB_OOV;
        AG_I32(t)[i] = id;
        if (lab) {
            const char *w = n ? tok[i] : "[UNK]";
            size_t l = strlen(w) + 2;
            if ((lab[i] = malloc(l)))
                snprintf(lab[i], l, "%s%s", w, id == AG_VOCAB_OOV && n ? "*" : "");
        }
    }
    free(tok);
    if (labels) *labels = lab, *n_labels = len;
    return 0;
}

int sim_heatmap(ag_model *m, const ag_vocab *v, int64_t max_len, const char *text_a,
                const char *text_b, const char *png, const char *who, double *prob)
{
    ag_tensor a = {0}, b = {0};
    char **la = NULL, **lb = NULL;
    int64_t na = 0, nb = 0;
    int rc = 1;
    if (sim_encode_one(v, text_a, max_len, &a, &la, &na, who) ||
        sim_encode_one(v, text_b, max_len, &b, &lb, &nb, who))
        goto done;
    ag_layer *att = ag_model_get_layer(m, "attention");
    ag_node *scores = ag_layer_attention_scores(att, 0);
    if (!scores || ag_model_run(m, (const ag_tensor *[]){&a, &b}, &scores, 1)) {
        fprintf(stderr, "%s: %s\n", who,
                scores ? ag_model_error(m) : "the model has no attention scores");
        goto done;
    }
    ag_tensor *w = ag_value(scores); /* (1,Ta,Tb) */
    double p = AG_F32(ag_value(ag_model_output_node(m, 0)))[0];
    if (prob) *prob = p;
    int oov = 0;
    for (int64_t i = 0; i < na; i++)
        oov |= la[i] && la[i][strlen(la[i]) - 1] == '*' && strlen(la[i]) > 1;
    for (int64_t i = 0; i < nb; i++)
        oov |= lb[i] && lb[i][strlen(lb[i]) - 1] == '*' && strlen(lb[i]) > 1;
    const char *cls = ag_layer_class_name(att);
    char title[256];
    snprintf(title, sizeof title,
             "%s weights: text A (rows) attends to text B (columns); "
             "p(paraphrase) = %.3f%s",
             cls, p, oov ? "; * = unknown word" : "");
    float *wf = malloc((size_t)w->size * sizeof *wf);
    if (!wf) {
        fprintf(stderr, "%s: out of memory\n", who);
        goto done;
    }
    for (int64_t i = 0; i < w->size; i++)
        wf[i] = (float)ag_tensor_get(w, i);
    ag_error err = {0};
    if (ag_heatmap_png(png, wf, (int)na, (int)nb, (const char *const *)la, (const char *const *)lb,
                       title, NULL, &err))
        fprintf(stderr, "%s: %s\n", who, err.msg);
    else
        rc = 0;
    free(wf);
done:
    sim_free_labels(la, na);
    sim_free_labels(lb, nb);
    ag_tensor_release(&a);
    ag_tensor_release(&b);
    return rc;
}

/* ---- the commands ---- */

/* Parses the common options; returns 0, 1 (error printed) or 2 (--help shown). */
typedef struct {
    const char *model, *data, *out, *text[2];
    int n_text;
    int64_t batch_size;
    int64_t max_length; /* 0: the model's */
} use_args;

static int parse_use(int argc, char **argv, const char *who, const char *usage, use_args *u)
{
    memset(u, 0, sizeof *u);
    u->batch_size = 64;
    for (int i = 1; i < argc; i++) {
        int has = i + 1 < argc;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 2;
        } else if (!strcmp(argv[i], "--model") && has)
            u->model = argv[++i];
        else if (!strcmp(argv[i], "--data") && has)
            u->data = argv[++i];
        else if (!strcmp(argv[i], "--out") && has)
            u->out = argv[++i];
        else if (!strcmp(argv[i], "--batch-size") && has) {
            long long b;
            if (!opt_int_or_say(who, argv[i], argv[i + 1], 1, 1000000, &b)) return 1;
            u->batch_size = b, i++;
        } else if ((!strcmp(argv[i], "--max-length") || !strcmp(argv[i], "--max-len")) && has) {
            long long l;
            if (!opt_int_or_say(who, argv[i], argv[i + 1], 1, 1000000, &l)) return 1;
            u->max_length = l, i++;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "%s: unknown option or missing value '%s' (see --help)\n", who,
                    argv[i]);
            return 1;
        } else if (u->n_text < 2)
            u->text[u->n_text++] = argv[i];
        else {
            fprintf(stderr, "%s: expected two texts, received a third: '%s'\n", who, argv[i]);
            return 1;
        }
    }
    if (!u->model) {
        fprintf(stderr, "%s: --model MODEL.safetensors is required (see --help)\n", who);
        return 1;
    }
    return 0;
}

/* Loads model and pairs, encodes them; 0 or 1 (printed). */
static int load_pairs_for(const char *path, const ag_vocab *v, int64_t max_len, const char *who,
                          ag_pair_ids **d)
{
    ag_error err = {0};
    ag_pairs *p = ag_pairs_load(path, &err);
    if (!p) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        return 1;
    }
    *d = ag_pair_ids_encode(p, v, max_len, &err);
    ag_pairs_free(p);
    if (!*d) {
        fprintf(stderr, "%s: %s\n", who, err.msg);
        return 1;
    }
    sim_report_truncated(who, path, *d, max_len);
    return 0;
}

int cmd_evaluate(int argc, char **argv)
{
    const char *who = "attograd evaluate";
    use_args u;
    int r = parse_use(argc, argv, who,
                      "usage: attograd evaluate --model MODEL.safetensors --data FILE.tsv "
                      "[--batch-size N] [--max-length N]\n"
                      "Accuracy (threshold 0.5), ROC AUC and binary cross-entropy of a model saved "
                      "by `attograd train` on labelled pairs (text_a<TAB>text_b<TAB>label).\n",
                      &u);
    if (r) return r == 2 ? 0 : 2;
    if (!u.data || u.n_text) {
        fprintf(stderr, "%s: --data FILE.tsv is required, and takes no texts (see --help)\n", who);
        return 2;
    }
    ag_model *m;
    ag_vocab *v;
    if (sim_load(u.model, who, &m, &v)) return 1;
    int64_t ml = u.max_length ? u.max_length : sim_max_len(m);
    ag_pair_ids *d = NULL;
    int rc = 1;
    sim_source s = {0};
    ag_error err = {0};
    if (!load_pairs_for(u.data, v, ml, who, &d)) {
        double loss, metric[AG_MAX_METRICS];
        if (sim_source_init(&s, d, u.batch_size, 0, &err))
            fprintf(stderr, "%s: %s\n", who, err.msg);
        else if (ag_model_evaluate_source(m, &s.src, &loss, metric))
            fprintf(stderr, "%s: %s\n", who, ag_model_error(m));
        else {
            printf("%s: %lld pairs - accuracy: %.4f - auc: %.4f - loss: %.4f\n", u.data,
                   (long long)d->n, metric[0], metric[1], loss);
            rc = 0;
        }
    }
    sim_source_release(&s);
    ag_pair_ids_free(d);
    ag_vocab_free(v);
    ag_model_free(m);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    const char *who = "attograd predict";
    use_args u;
    int r = parse_use(argc, argv, who,
                      "usage: attograd predict --model MODEL.safetensors \"text a\" \"text b\"\n"
                      "       attograd predict --model MODEL.safetensors --data FILE.tsv "
                      "[--batch-size N] [--max-length N]\n"
                      "The probability that text b paraphrases text a; with --data, one "
                      "probability per line of FILE.tsv (its labels are not used).\n",
                      &u);
    if (r) return r == 2 ? 0 : 2;
    if (u.data ? u.n_text != 0 : u.n_text != 2) {
        fprintf(stderr, "%s: give two texts, or --data FILE.tsv (see --help)\n", who);
        return 2;
    }
    ag_model *m;
    ag_vocab *v;
    if (sim_load(u.model, who, &m, &v)) return 1;
    int64_t ml = u.max_length ? u.max_length : sim_max_len(m);
    int rc = 1;
    if (!u.data) {
        ag_tensor a = {0}, b = {0};
        if (!sim_encode_one(v, u.text[0], ml, &a, NULL, NULL, who) &&
            !sim_encode_one(v, u.text[1], ml, &b, NULL, NULL, who)) {
            if (ag_model_run(m, (const ag_tensor *[]){&a, &b}, NULL, 0))
                fprintf(stderr, "%s: %s\n", who, ag_model_error(m));
            else {
                printf("%.6f\n", AG_F32(ag_value(ag_model_output_node(m, 0)))[0]);
                rc = 0;
            }
        }
        ag_tensor_release(&a);
        ag_tensor_release(&b);
    } else {
        ag_pair_ids *d = NULL;
        sim_source s = {0};
        ag_error err = {0};
        ag_tensor *out = NULL;
        if (!load_pairs_for(u.data, v, ml, who, &d)) {
            if (sim_source_init(&s, d, u.batch_size, 0, &err))
                fprintf(stderr, "%s: %s\n", who, err.msg);
            else if (ag_model_predict_source(m, &s.src, &out))
                fprintf(stderr, "%s: %s\n", who, ag_model_error(m));
            else {
                for (int64_t i = 0; i < out->size; i++)
                    printf("%.6f\n", AG_F32(out)[i]);
                rc = 0;
            }
        }
        ag_tensor_free(out);
        sim_source_release(&s);
        ag_pair_ids_free(d);
    }
    ag_vocab_free(v);
    ag_model_free(m);
    return rc;
}

int cmd_heatmap(int argc, char **argv)
{
    const char *who = "attograd heatmap";
    use_args u;
    int r = parse_use(argc, argv, who,
                      "usage: attograd heatmap --model MODEL.safetensors --out PAIR.png \"text a\" "
                      "\"text b\" [--max-length N]\n"
                      "Draws the attention weights of the pair as a PNG: text a's tokens (the "
                      "query) down the side, text b's (the value) across the top, viridis from 0 "
                      "to the largest weight. Words outside the vocabulary are marked *.\n",
                      &u);
    if (r) return r == 2 ? 0 : 2;
    if (!u.out || u.n_text != 2 || u.data) {
        fprintf(stderr, "%s: --out PAIR.png and two texts are required (see --help)\n", who);
        return 2;
    }
    ag_model *m;
    ag_vocab *v;
    if (sim_load(u.model, who, &m, &v)) return 1;
    int64_t ml = u.max_length ? u.max_length : sim_max_len(m);
    double p = 0;
    int rc = sim_heatmap(m, v, ml, u.text[0], u.text[1], u.out, who, &p);
    if (!rc) printf("p(paraphrase) = %.4f; wrote %s\n", p, u.out);
    ag_vocab_free(v);
    ag_model_free(m);
    return rc;
}
