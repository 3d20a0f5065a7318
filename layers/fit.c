/* fit.c — compile, fit, evaluate, predict: Keras's training loop.
 *
 * One training step on a batch (x, y):
 *   feed x and y;  forward in training mode: out = model(x), L = loss(out, y)
 *   backward of L;  optimizer step on every trainable weight
 * Buffers are reused: after the first step of a batch shape, a step
 * allocates no tensor (ag_graph_alloc_count does not move).
 *
 * Reported numbers are Keras's: the loss is the mean over the epoch's
 * examples so far (each batch's mean loss weighted by its rows); accuracy
 * is the fraction correct so far; AUC is the exact ROC AUC of the epoch's
 * outputs so far.
 */
#include "layer.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *const loss_names[] = {"binary_crossentropy", "categorical_crossentropy",
                                         "sparse_categorical_crossentropy", "mse"};
const char *ag_loss_name(ag_loss_kind l) { return (unsigned)l < 4 ? loss_names[l] : "?"; }
int ag_loss_from_name(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, loss_names[i])) return i;
    if (name && !strcmp(name, "mean_squared_error")) return AG_LOSS_MEAN_SQUARED_ERROR;
    return -1;
}

ag_fit_options ag_fit_defaults(void)
{
    return (ag_fit_options){.batch_size = 32, .epochs = 1, .shuffle = 1, .verbose = 1};
}

void ag_history_release(ag_history *h)
{
    if (!h) return;
    free(h->loss);
    free(h->val_loss);
    for (int k = 0; k < AG_MAX_METRICS; k++)
        free(h->metric[k]), free(h->val_metric[k]);
    memset(h, 0, sizeof *h);
}

/* ---- compile ---- */

ag_status ag_model_compile(ag_model *m, const ag_optimizer_config *optimizer, ag_loss_kind loss,
                           int from_logits, unsigned metrics)
{
    if (!m) return AG_ERR_ARG;
    if (!m->built) /* keep the message of a failed build, if any */
        return ag_model_status(m) ? ag_model_status(m)
                                  : ag__model_fail(m, AG_ERR_STATE,
                                                   "compile: the model has no outputs yet "
                                                   "(ag_model_build or ag_model_add)");
    ag_model_clear_error(m);
    if ((unsigned)loss > AG_LOSS_MEAN_SQUARED_ERROR)
        return ag__model_fail(m, AG_ERR_ARG,
                              "compile: loss must be binary_crossentropy, "
                              "categorical_crossentropy, sparse_categorical_crossentropy or mse, "
                              "received %d",
                              (int)loss);
    if (metrics & ~(unsigned)(AG_METRIC_ACCURACY | AG_METRIC_AUC))
        return ag__model_fail(m, AG_ERR_ARG,
                              "compile: metrics must be AG_METRIC_ACCURACY and/or AG_METRIC_AUC, "
                              "received 0x%x",
                              metrics);
    ag_node *out = m->outputs[0];
    const ag_shape *os = ag_node_shape(out);
    char buf[96];
    if (!ag_dtype_is_float(os->dtype) || os->rank < 1)
        return ag__model_fail(m, AG_ERR_SHAPE,
                              "compile: output 0 must be a float (B,...) tensor, "
                              "received %s %s",
                              ag_dtype_name(os->dtype), ag__sstr(os, buf, sizeof buf));
    if ((loss == AG_LOSS_CATEGORICAL_CROSSENTROPY ||
         loss == AG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) &&
        os->rank != 2)
        return ag__model_fail(m, AG_ERR_SHAPE,
                              "compile: %s needs an output (B, classes), received %s",
                              ag_loss_name(loss), ag__sstr(os, buf, sizeof buf));
    if ((metrics & AG_METRIC_AUC) && loss != AG_LOSS_BINARY_CROSSENTROPY)
        return ag__model_fail(m, AG_ERR_ARG, "compile: the auc metric needs binary_crossentropy");
    ag_optimizer_config cfg = optimizer ? *optimizer : ag_optimizer_defaults(AG_ADAM);
    ag_error e = {0};
    ag_optimizer *opt = ag_optimizer_new(&cfg, &e);
    if (!opt) return ag__model_fail(m, e.code ? e.code : AG_ERR_ARG, "compile: %s", e.msg);
    /* the target: labels (B) for sparse, else the output's shape */
    int sparse = loss == AG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    int64_t tshape[AG_MAX_RANK];
    for (int i = 0; i < os->rank; i++)
        tshape[i] = i == 0 ? -1 : os->dim[i];
    ag_node *target = ag_input(m->g, sparse ? "target_labels" : "target",
                               sparse ? AG_INT32 : AG_FLOAT32, sparse ? 1 : os->rank, tshape);
    ag_node *L = NULL;
    switch (loss) {
    case AG_LOSS_BINARY_CROSSENTROPY:
        L = ag_binary_crossentropy(m->g, out, target, from_logits);
        break;
    case AG_LOSS_CATEGORICAL_CROSSENTROPY:
        L = ag_categorical_crossentropy(m->g, out, target, from_logits);
        break;
    case AG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
        L = ag_sparse_categorical_crossentropy(m->g, out, target, from_logits);
        break;
    case AG_LOSS_MEAN_SQUARED_ERROR: L = ag_mean_squared_error(m->g, out, target); break;
    }
    if (!L) {
        ag_optimizer_free(opt);
        return ag_model_status(m);
    }
    ag_optimizer_free(m->opt);
    m->opt = opt;
    m->opt_cfg = cfg;
    m->loss = loss;
    m->from_logits = from_logits != 0;
    m->metrics = metrics;
    m->target = target;
    m->loss_node = L;
    m->compiled = 1;
    return AG_OK;
}

/* ---- running metrics ---- */

typedef struct running {
    double loss_sum;
    int64_t rows;
    double correct;
    int64_t counted;
    int64_t n_pred; /* AUC: outputs gathered in m->buf.pred/truth */
} running;

static int n_metrics(const ag_model *m)
{
    return ((m->metrics & AG_METRIC_ACCURACY) != 0) + ((m->metrics & AG_METRIC_AUC) != 0);
}

static const char *metric_name(const ag_model *m, int k)
{
    if ((m->metrics & AG_METRIC_ACCURACY) && k == 0) return "accuracy";
    return "auc";
}

static int argmax_row(const ag_tensor *t, int64_t row, int64_t c)
{
    int best = 0;
    for (int64_t j = 1; j < c; j++)
        if (ag_tensor_get(t, row * c + j) > ag_tensor_get(t, row * c + best)) best = (int)j;
    return best;
}

/* Adds a batch's outputs to the running metrics. */
static ag_status update_metrics(ag_model *m, running *r, const ag_tensor *out, const ag_tensor *y)
{
    int64_t rows = out->shape[0];
    if (m->metrics & AG_METRIC_ACCURACY) {
        int64_t c = out->rank == 2 ? out->shape[1] : 1;
        if (m->loss == AG_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
            for (int64_t i = 0; i < rows; i++)
                r->correct += argmax_row(out, i, c) == (int)ag_tensor_get(y, i);
            r->counted += rows;
        } else if (m->loss == AG_LOSS_CATEGORICAL_CROSSENTROPY ||
                   (m->loss == AG_LOSS_MEAN_SQUARED_ERROR && out->rank == 2 && c > 1)) {
            for (int64_t i = 0; i < rows; i++)
                r->correct += argmax_row(out, i, c) == argmax_row(y, i, c);
            r->counted += rows;
        } else { /* binary: every element */
            double threshold = m->from_logits ? 0.0 : 0.5;
            for (int64_t i = 0; i < out->size; i++)
                r->correct += (ag_tensor_get(out, i) > threshold) == (ag_tensor_get(y, i) > 0.5);
            r->counted += out->size;
        }
    }
    if (m->metrics & AG_METRIC_AUC) {
        ag_model_buffers *b = &m->buf;
        if (r->n_pred + out->size > b->cap_pred) {
            int64_t cap = b->cap_pred ? b->cap_pred : 1024;
            while (cap < r->n_pred + out->size)
                cap *= 2;
            float *p = realloc(b->pred, (size_t)cap * sizeof *p);
            if (p) b->pred = p;
            float *t = p ? realloc(b->truth, (size_t)cap * sizeof *t) : NULL;
            if (t) b->truth = t;
            if (!p || !t) return ag__model_fail(m, AG_ERR_NOMEM, "fit: out of memory for auc");
            b->cap_pred = cap;
        }
        for (int64_t i = 0; i < out->size; i++) {
            b->pred[r->n_pred + i] = (float)ag_tensor_get(out, i);
            b->truth[r->n_pred + i] = (float)ag_tensor_get(y, i);
        }
        r->n_pred += out->size;
    }
    return AG_OK;
}

/* The current values: loss, then the metrics in order. */
static void current(const ag_model *m, const running *r, double *loss, double *metric)
{
    *loss = r->rows ? r->loss_sum / (double)r->rows : NAN;
    int k = 0;
    if (m->metrics & AG_METRIC_ACCURACY)
        metric[k++] = r->counted ? r->correct / (double)r->counted : NAN;
    if (m->metrics & AG_METRIC_AUC)
        metric[k++] = r->n_pred ? ag_roc_auc(m->buf.pred, m->buf.truth, r->n_pred) : NAN;
}

/* ---- one batch ---- */

/* Feeds the inputs and (when y is not NULL) the target. */
static ag_status feed_batch(ag_model *m, const ag_tensor *const *x, const ag_tensor *y)
{
    for (int i = 0; i < m->n_inputs; i++) {
        if (!x[i])
            return ag__model_fail(m, AG_ERR_ARG, "batch: input %d ('%s') is NULL", i,
                                  ag_node_name(m->inputs[i]));
        ag_status st = ag_feed(m->g, m->inputs[i], x[i]);
        if (st) return st;
    }
    if (y) {
        int64_t rows = x[0]->rank ? x[0]->shape[0] : 0;
        if (y->rank < 1 || y->shape[0] != rows)
            return ag__model_fail(m, AG_ERR_SHAPE,
                                  "batch: the target has %" PRId64 " rows, the inputs %" PRId64,
                                  y->rank ? y->shape[0] : 0, rows);
        return ag_feed(m->g, m->target, y);
    }
    return AG_OK;
}

/* Non-finite values stop training (Keras's TerminateOnNaN, extended to
 * the gradients and the weights): the first NaN or infinity in the loss,
 * in a gradient (both before the update, so the weights stay finite) or in
 * a weight after an update fails the step with AG_ERR_NONFINITE naming it. */
static ag_status nonfinite_grads(ag_model *m, ag_node **vars, int n_vars)
{
    for (int i = 0; i < n_vars; i++) {
        const ag_tensor *g = ag_grad(vars[i]);
        int64_t at = g ? ag_tensor_find_nonfinite(g) : -1;
        if (at >= 0)
            return ag__model_fail(m, AG_ERR_NONFINITE,
                                  "the gradient of '%s' is %g at flat index %" PRId64
                                  " (the weights were not updated)",
                                  ag_node_name(vars[i]), ag_tensor_get(g, at), at);
    }
    return AG_OK;
}

static ag_status nonfinite_weights(ag_model *m, ag_node **vars, int n_vars)
{
    for (int i = 0; i < n_vars; i++) {
        const ag_tensor *w = ag_value(vars[i]);
        int64_t at = ag_tensor_find_nonfinite(w);
        if (at >= 0)
            return ag__model_fail(m, AG_ERR_NONFINITE,
                                  "the update made weight '%s' %g at flat index %" PRId64
                                  " (the learning rate may be too large)",
                                  ag_node_name(vars[i]), ag_tensor_get(w, at), at);
    }
    return AG_OK;
}

/* A training (train = 1) or evaluation step on a fed batch. */
static ag_status step(ag_model *m, int train, ag_node **vars, int n_vars, running *r)
{
    ag_graph_set_training(m->g, train);
    ag_status st = ag_forward(m->g, &m->loss_node, 1);
    double L = st ? 0 : ag_tensor_get(ag_value(m->loss_node), 0);
    if (!st && train && !isfinite(L))
        st =
            ag__model_fail(m, AG_ERR_NONFINITE, "the loss is %g (the weights were not updated)", L);
    if (!st && train) st = ag_backward(m->g, m->loss_node, NULL);
    if (!st && train) st = nonfinite_grads(m, vars, n_vars);
    if (!st && train) st = ag_optimizer_step(m->opt, m->g, vars, n_vars);
    if (!st && train) st = nonfinite_weights(m, vars, n_vars);
    ag_graph_set_training(m->g, 0);
    if (st) return st;
    const ag_tensor *out = ag_value(m->outputs[0]), *y = ag_value(m->target);
    int64_t rows = out->shape[0];
    r->loss_sum += L * (double)rows;
    r->rows += rows;
    return update_metrics(m, r, out, y);
}

/* ---- batches from whole tensors ---- */

/* Copies rows idx[0..n) of src into dst (resized, allocation counted). */
static ag_status gather(ag_model *m, ag_tensor *dst, const ag_tensor *src, const int64_t *idx,
                        int64_t n)
{
    int64_t shape[AG_MAX_RANK];
    shape[0] = n;
    for (int i = 1; i < src->rank; i++)
        shape[i] = src->shape[i];
    ag_error e = {0};
    if (ag__ensure(m->g, dst, src->dtype, src->rank, shape, &e))
        return ag__model_fail(m, e.code, "batch: %s", e.msg);
    size_t row =
        (size_t)(src->shape[0] ? src->size / src->shape[0] : 0) * ag_dtype_size(src->dtype);
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)dst->data + (size_t)i * row, (const char *)src->data + (size_t)idx[i] * row,
               row);
    return AG_OK;
}

typedef struct tensor_data {
    ag_model *m;
    const ag_tensor *const *x;
    const ag_tensor *y;
    int64_t n, batch_size;
    int64_t *order;
} tensor_data;

static ag_status check_tensors(ag_model *m, const char *who, const ag_tensor *const *x,
                               const ag_tensor *y, int64_t batch_size, int64_t *n)
{
    if (!x) return ag__model_fail(m, AG_ERR_ARG, "%s: x is NULL", who);
    if (batch_size <= 0)
        return ag__model_fail(m, AG_ERR_ARG, "%s: batch_size must be positive, received %" PRId64,
                              who, batch_size);
    for (int i = 0; i < m->n_inputs; i++) {
        if (!x[i] || x[i]->rank < 1)
            return ag__model_fail(m, AG_ERR_ARG, "%s: x[%d] (input '%s') is %s", who, i,
                                  ag_node_name(m->inputs[i]), x[i] ? "a scalar" : "NULL");
        if (x[i]->shape[0] != x[0]->shape[0])
            return ag__model_fail(m, AG_ERR_SHAPE,
                                  "%s: x[%d] has %" PRId64 " examples, x[0] has %" PRId64, who, i,
                                  x[i]->shape[0], x[0]->shape[0]);
    }
    if (y && (y->rank < 1 || y->shape[0] != x[0]->shape[0]))
        return ag__model_fail(m, AG_ERR_SHAPE, "%s: y has %" PRId64 " examples, x has %" PRId64,
                              who, y->rank ? y->shape[0] : 0, x[0]->shape[0]);
    *n = x[0]->shape[0];
    if (*n == 0) return ag__model_fail(m, AG_ERR_SHAPE, "%s: x has no examples", who);
    return AG_OK;
}

static ag_status tensor_batch(void *user, int64_t b, const ag_tensor **inputs,
                              const ag_tensor **target, ag_error *err)
{
    (void)err;
    tensor_data *d = user;
    ag_model *m = d->m;
    int64_t start = b * d->batch_size,
            n = d->n - start < d->batch_size ? d->n - start : d->batch_size;
    for (int i = 0; i < m->n_inputs; i++) {
        ag_status st = gather(m, &m->buf.x[i], d->x[i], d->order + start, n);
        if (st) return st;
        inputs[i] = &m->buf.x[i];
    }
    if (d->y) {
        ag_status st = gather(m, &m->buf.y, d->y, d->order + start, n);
        if (st) return st;
        *target = &m->buf.y;
    }
    return AG_OK;
}

/* Whole tensors x (and y, may be NULL) as a batch source over examples in
 * their order (fit shuffles td->order itself). td->order must be freed. */
static ag_status tensor_source(ag_model *m, const char *who, const ag_tensor *const *x,
                               const ag_tensor *y, int64_t n, int64_t batch_size, tensor_data *td,
                               ag_batch_source *src)
{
    *td = (tensor_data){m, x, y, n, batch_size, malloc((size_t)(n ? n : 1) * sizeof(int64_t))};
    if (!td->order) return ag__model_fail(m, AG_ERR_NOMEM, "%s: out of memory", who);
    for (int64_t i = 0; i < n; i++)
        td->order[i] = i;
    *src = (ag_batch_source){(n + batch_size - 1) / batch_size, tensor_batch, td};
    return AG_OK;
}

/* ---- the epoch loop ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_values(FILE *f, const ag_model *m, const char *prefix, double loss,
                         const double *metric)
{
    fprintf(f, " - %sloss: %.4f", prefix, loss);
    for (int k = 0; k < n_metrics(m); k++)
        fprintf(f, " - %s%s: %.4f", prefix, metric_name(m, k), metric[k]);
}

/* "120/784 [====>.........................]" */
static void print_bar(FILE *f, int64_t done, int64_t total)
{
    int digits = snprintf(NULL, 0, "%" PRId64, total);
    fprintf(f, "%*" PRId64 "/%" PRId64 " [", digits, done, total);
    int width = 30, filled = (int)(width * done / total);
    for (int i = 0; i < width; i++)
        fputc(i < filled - 1 || (i == filled - 1 && done == total) ? '='
              : i == filled - 1                                    ? '>'
                                                                   : '.',
              f);
    fputc(']', f);
}

/* Data parallelism: fit's shards over dist's ranks (shards.c). */
typedef struct sharding {
    ag_dist *dist;
    int shards;
} sharding;

/* A data-parallel step: shards.c computes it, the metrics run here. */
static ag_status shard_step(ag_model *m, const sharding *par, int train, ag_status pre,
                            const ag_tensor *const *x, const ag_tensor *y, ag_node **vars,
                            int n_vars, running *r)
{
    double L;
    const ag_tensor *out;
    ag_status st =
        ag__shard_step(m, par->dist, par->shards, train, pre, x, y, vars, n_vars, &L, &out);
    if (st) return st;
    r->loss_sum += L * (double)out->shape[0];
    r->rows += out->shape[0];
    return update_metrics(m, r, out, y);
}

/* Runs a source's batches (in order[] when given) in train or eval mode;
 * with par, as data-parallel steps. */
static ag_status run_epoch(ag_model *m, const ag_batch_source *src, const int64_t *order, int train,
                           ag_node **vars, int n_vars, running *r, const ag_fit_options *o,
                           const sharding *par, FILE *out, int tty, int epoch)
{
    int64_t every = o && o->progress_every > 0 ? o->progress_every : (src->n_batches + 19) / 20;
    double last_draw = 0;
    for (int64_t k = 0; k < src->n_batches; k++) {
        int64_t b = order ? order[k] : k;
        const ag_tensor *x[AG_MAX_INPUTS] = {0}, *y = NULL;
        ag_error e = {0};
        ag_status st = src->get_batch(src->user, b, x, &y, &e);
        if (st && e.code)
            st = ag__model_fail(m, st, "batch %" PRId64 ": %s", b, e.msg);
        else if (st)
            st = ag_model_status(m) ? ag_model_status(m)
                                    : ag__model_fail(m, st, "batch %" PRId64 " failed", b);
        else if (!y)
            st = ag__model_fail(m, AG_ERR_ARG, "batch %" PRId64 ": the source gave no target", b);
        double before = r->loss_sum;
        if (par) {
            st = shard_step(m, par, train, st, x, y, vars, n_vars, r);
            if (!st && train && !isfinite(r->loss_sum - before))
                st = ag__model_fail(m, AG_ERR_NONFINITE, "the loss is %g", r->loss_sum - before);
            if (!st && train) st = nonfinite_weights(m, vars, n_vars);
        } else {
            if (!st) st = feed_batch(m, x, y);
            if (!st) st = step(m, train, vars, n_vars, r);
        }
        if (st == AG_ERR_NONFINITE) {
            char why[AG_ERRMSG_SIZE];
            snprintf(why, sizeof why, "%s", ag_model_error(m));
            return ag__model_fail(m, st,
                                  "fit: epoch %d, batch %" PRId64 " of %" PRId64
                                  ": %s; training stopped: non-finite values stop training "
                                  "(as Keras's TerminateOnNaN)",
                                  epoch + 1, k + 1, src->n_batches, why);
        }
        if (st) return st;
        if (train && o && o->verbose == 1 && out && k + 1 < src->n_batches) {
            double t = now_s();
            int draw = tty ? (t - last_draw >= 0.05 || k == 0) : ((k + 1) % every == 0);
            if (draw) {
                double loss, metric[AG_MAX_METRICS];
                current(m, r, &loss, metric);
                if (tty) fputc('\r', out);
                print_bar(out, k + 1, src->n_batches);
                print_values(out, m, "", loss, metric);
                fputs(tty ? "\033[K" : "\n", out);
                fflush(out);
                last_draw = t;
            }
        }
    }
    return AG_OK;
}

typedef struct eval_result {
    double loss, metric[AG_MAX_METRICS];
} eval_result;

static ag_status evaluate_src(ag_model *m, const ag_batch_source *src, const sharding *par,
                              eval_result *res)
{
    running r = {0};
    ag_status st = run_epoch(m, src, NULL, 0, NULL, 0, &r, NULL, par, NULL, 0, -1);
    if (st) return st;
    current(m, &r, &res->loss, res->metric);
    return AG_OK;
}

static ag_status check_source(ag_model *m, const char *who, const ag_batch_source *src)
{
    if (!src || !src->get_batch || src->n_batches <= 0)
        return ag__model_fail(m, AG_ERR_ARG,
                              "%s: the batch source needs get_batch and n_batches > 0, received "
                              "%s",
                              who,
                              !src              ? "NULL"
                              : !src->get_batch ? "no get_batch"
                                                : "no batches");
    return AG_OK;
}

static ag_status check_compiled(ag_model *m, const char *who)
{
    if (!m->built) return ag__model_fail(m, AG_ERR_STATE, "%s: the model has no outputs yet", who);
    if (!m->compiled)
        return ag__model_fail(m, AG_ERR_STATE, "%s: compile the model first (ag_model_compile)",
                              who);
    return AG_OK;
}

/* Saves (or restores) the weights into copies, for restore_best_weights. */
static ag_status copy_weights(ag_model *m, ag_node **vars, int n, ag_tensor *copies, int restore)
{
    for (int i = 0; i < n; i++) {
        ag_tensor *v = ag_value(vars[i]);
        if (restore) {
            memcpy(v->data, copies[i].data, (size_t)v->size * ag_dtype_size(v->dtype));
            continue;
        }
        ag_error e = {0};
        if (ag_tensor_reshape_storage(&copies[i], v->dtype, v->rank, v->shape, NULL, &e))
            return ag__model_fail(m, e.code, "fit: %s", e.msg);
        memcpy(copies[i].data, v->data, (size_t)v->size * ag_dtype_size(v->dtype));
    }
    return AG_OK;
}

/* With data parallelism a rank whose checks failed must tell the others
 * before they wait for it in fit's first collective. */
static ag_status fit_fail_early(ag_model *m, const ag_fit_options *o, ag_status st)
{
    if (o && o->shards > 0 && ag_dist_size(o->dist) > 1)
        return ag__shard_begin(m, o->dist, st, NULL, 0);
    return st;
}

static ag_status fit_options_check(ag_model *m, const ag_fit_options *o)
{
    if (o->epochs < 0)
        return ag__model_fail(m, AG_ERR_ARG, "fit: epochs must be >= 0, received %d", o->epochs);
    if (o->verbose < 0 || o->verbose > 2)
        return ag__model_fail(m, AG_ERR_ARG, "fit: verbose must be 0, 1 or 2, received %d",
                              o->verbose);
    if (o->shards < 0)
        return ag__model_fail(m, AG_ERR_ARG, "fit: shards must be >= 0, received %d", o->shards);
    if (o->initial_epoch < 0 || o->initial_epoch > o->epochs)
        return ag__model_fail(m, AG_ERR_ARG,
                              "fit: initial_epoch must be in [0, epochs = %d], received %d",
                              o->epochs, o->initial_epoch);
    if (o->resume && !o->checkpoint_dir)
        return ag__model_fail(m, AG_ERR_ARG, "fit: resume needs a checkpoint_dir");
    if (!o->shards && ag_dist_size(o->dist) > 1)
        return ag__model_fail(m, AG_ERR_ARG,
                              "fit: %d ranks need shards > 0 (the micro-shards each batch is cut "
                              "into; the weights depend on shards, never on the ranks)",
                              ag_dist_size(o->dist));
    if (o->dist && (o->dist->size < 1 || o->dist->rank < 0 || o->dist->rank >= o->dist->size))
        return ag__model_fail(m, AG_ERR_ARG, "fit: dist has rank %d of %d", o->dist->rank,
                              o->dist->size);
    return AG_OK;
}

static ag_status fit_impl(ag_model *m, const ag_batch_source *train, int shuffle_examples,
                          tensor_data *td, const ag_fit_options *opts, ag_history *hist)
{
    ag_fit_options o = opts ? *opts : ag_fit_defaults();
    ag_status st = fit_options_check(m, &o);
    if (st) return fit_fail_early(m, &o, st);
    sharding par = {o.dist, o.shards};
    const sharding *pp = o.shards > 0 ? &par : NULL;
    if (ag_dist_rank(o.dist) != 0) o.verbose = 0; /* rank 0 prints */
    /* validation data */
    tensor_data vd = {0};
    ag_batch_source vsrc = {0};
    const ag_batch_source *val = o.val_source;
    if (o.val_x || o.val_y) {
        if (!o.val_x || !o.val_y)
            return fit_fail_early(
                m, &o, ag__model_fail(m, AG_ERR_ARG, "fit: validation needs both val_x and val_y"));
        int64_t vn;
        st = check_tensors(m, "fit (validation)", o.val_x, o.val_y, o.batch_size, &vn);
        if (st) return fit_fail_early(m, &o, st);
        vd = (tensor_data){m, o.val_x, o.val_y, vn, o.batch_size, NULL};
        vd.order = malloc((size_t)vn * sizeof *vd.order);
        if (!vd.order)
            return fit_fail_early(m, &o, ag__model_fail(m, AG_ERR_NOMEM, "fit: out of memory"));
        for (int64_t i = 0; i < vn; i++)
            vd.order[i] = i;
        vsrc = (ag_batch_source){(vn + o.batch_size - 1) / o.batch_size, tensor_batch, &vd};
        val = &vsrc;
    } else if (val && check_source(m, "fit (validation)", val)) {
        return fit_fail_early(m, &o, ag_model_status(m));
    }
    if (o.early_stopping && !val) {
        free(vd.order);
        return fit_fail_early(
            m, &o,
            ag__model_fail(m, AG_ERR_ARG,
                           "fit: early stopping monitors val_loss and needs validation data"));
    }
    int n_vars = ag_model_weights(m, 1, NULL, 0);
    ag_node **vars = calloc((size_t)n_vars + 1, sizeof *vars);
    int64_t *border = calloc((size_t)train->n_batches, sizeof *border);
    ag_tensor *best = calloc((size_t)n_vars + 1, sizeof *best);
    ag_history h = {0};
    h.n_metrics = n_metrics(m);
    h.best_epoch = h.stopped_epoch = -1;
    h.has_validation = val != NULL;
    int E = o.epochs ? o.epochs : 1;
    h.loss = calloc((size_t)E, sizeof(double));
    h.val_loss = calloc((size_t)E, sizeof(double));
    int oom = !vars || !border || !best || !h.loss || !h.val_loss;
    for (int k = 0; k < h.n_metrics; k++) {
        h.metric_names[k] = metric_name(m, k);
        h.metric[k] = calloc((size_t)E, sizeof(double));
        h.val_metric[k] = calloc((size_t)E, sizeof(double));
        oom |= !h.metric[k] || !h.val_metric[k];
    }
    if (oom) st = ag__model_fail(m, AG_ERR_NOMEM, "fit: out of memory");
    if (pp) { /* the ranks agree on the run and start from rank 0's weights */
        int64_t what[6] = {train->n_batches, val ? val->n_batches : 0,   o.epochs, o.shards,
                           n_vars,           ag_model_count_params(m, 1)};
        st = ag__shard_begin(m, o.dist, st, what, 6);
    }
    if (st) goto done;
    ag_model_weights(m, 1, vars, n_vars);
    FILE *out = o.out ? o.out : stdout;
    int tty = isatty(fileno(out));
    ag_rng rng;
    ag_rng_init(&rng, o.seed, 0x5eed);
    ag__fit_state fs = {.best_val = INFINITY,
                        .best_epoch = -1,
                        .h = &h,
                        .vars = vars,
                        .best = best,
                        .n_vars = n_vars};
    if (o.checkpoint_dir && o.resume)
        ag__checkpoint_resume(m, o.checkpoint_dir, o.checkpoint_tag, o.epochs, &fs,
                              o.verbose ? out : NULL);
    int start = fs.epoch ? fs.epoch : o.initial_epoch;
    double best_val = fs.best_val;
    int wait = fs.wait, have_best = fs.have_best;
    h.best_epoch = fs.best_epoch;
    h.epochs = start;
    for (int epoch = 0; epoch < o.epochs; epoch++) {
        for (int64_t i = 0; i < train->n_batches; i++)
            border[i] = i;
        if (o.shuffle) {
            if (shuffle_examples)
                ag_rng_shuffle(&rng, td->order, td->n);
            else
                ag_rng_shuffle(&rng, border, train->n_batches);
        }
        if (epoch < start) continue; /* done before: only its shuffle is drawn */
        if (epoch == start && fs.epoch && rng.counter != fs.rng_counter) {
            st = ag__model_fail(m, AG_ERR_STATE,
                                "fit: the checkpoint's shuffle is at %" PRIu64
                                ", this run's at %" PRIu64 " (another seed or data size?)",
                                fs.rng_counter, rng.counter);
            goto done;
        }
        if (o.begin_epoch) {
            ag_error e = {0};
            st = o.begin_epoch(o.begin_epoch_user, epoch, &e);
            if (st) {
                ag__model_fail(m, st, "fit: epoch %d: %s", epoch + 1, e.msg);
                goto done;
            }
        }
        if (o.verbose == 1) fprintf(out, "Epoch %d/%d\n", epoch + 1, o.epochs);
        double t0 = now_s();
        running r = {0};
        st = run_epoch(m, train, border, 1, vars, n_vars, &r, &o, pp, out, tty, epoch);
        if (st) goto done;
        double secs = now_s() - t0;
        double metric[AG_MAX_METRICS] = {0};
        current(m, &r, &h.loss[epoch], metric);
        for (int k = 0; k < h.n_metrics; k++)
            h.metric[k][epoch] = metric[k];
        eval_result vr = {0};
        if (val) {
            st = evaluate_src(m, val, pp, &vr);
            if (st) goto done;
            h.val_loss[epoch] = vr.loss;
            for (int k = 0; k < h.n_metrics; k++)
                h.val_metric[k][epoch] = vr.metric[k];
        }
        h.epochs = epoch + 1;
        if (o.verbose) {
            if (o.verbose == 1) {
                if (tty) fputc('\r', out);
                print_bar(out, train->n_batches, train->n_batches);
            } else {
                fprintf(out, "Epoch %d/%d\n%" PRId64 "/%" PRId64, epoch + 1, o.epochs,
                        train->n_batches, train->n_batches);
            }
            double per = secs / (double)train->n_batches;
            fprintf(out, " - %.0fs %.0f%s/step", secs, per >= 1 ? per : per * 1e3,
                    per >= 1 ? "s" : "ms");
            print_values(out, m, "", h.loss[epoch], metric);
            if (val) print_values(out, m, "val_", vr.loss, vr.metric);
            fputs(tty ? "\033[K\n" : "\n", out);
            fflush(out);
        }
        int stop = 0;
        if (o.early_stopping) {
            if (vr.loss < best_val - o.min_delta) {
                best_val = vr.loss;
                h.best_epoch = epoch;
                wait = 0;
                if (o.restore_best_weights) {
                    st = copy_weights(m, vars, n_vars, best, 0);
                    if (st) goto done;
                    have_best = 1;
                }
            } else if (++wait >= o.patience && epoch > 0) {
                stop = 1;
            }
        }
        if (o.checkpoint_dir && ag_dist_rank(o.dist) == 0) {
            fs.epoch = epoch + 1, fs.rng_counter = rng.counter, fs.best_val = best_val;
            fs.best_epoch = h.best_epoch, fs.wait = wait, fs.have_best = have_best;
            st = ag__checkpoint_save(m, o.checkpoint_dir, o.checkpoint_tag, &fs);
            if (st) goto done;
        }
        if (stop) {
            h.stopped_epoch = epoch;
            if (o.verbose) fprintf(out, "Epoch %d: early stopping\n", epoch + 1);
            break;
        }
    }
    if (have_best) {
        copy_weights(m, vars, n_vars, best, 1);
        if (o.verbose && h.best_epoch + 1 != h.epochs)
            fprintf(out, "Restoring model weights from the end of the best epoch: %d.\n",
                    h.best_epoch + 1);
    }
done:
    for (int i = 0; best && i < n_vars; i++)
        ag_tensor_release(&best[i]);
    free(best);
    free(vars);
    free(border);
    free(vd.order);
    if (!st && hist)
        *hist = h;
    else
        ag_history_release(&h);
    return st;
}

ag_status ag_model_fit(ag_model *m, const ag_tensor *const *x, const ag_tensor *y,
                       const ag_fit_options *opts, ag_history *history)
{
    if (!m) return AG_ERR_ARG;
    ag_model_clear_error(m);
    if (history) memset(history, 0, sizeof *history);
    ag_fit_options o = opts ? *opts : ag_fit_defaults();
    if (check_compiled(m, "fit")) return fit_fail_early(m, &o, ag_model_status(m));
    int64_t n;
    if (!y) return fit_fail_early(m, &o, ag__model_fail(m, AG_ERR_ARG, "fit: y is NULL"));
    ag_status st = check_tensors(m, "fit", x, y, o.batch_size, &n);
    if (st) return fit_fail_early(m, &o, st);
    tensor_data td;
    ag_batch_source src;
    st = tensor_source(m, "fit", x, y, n, o.batch_size, &td, &src);
    if (st) return fit_fail_early(m, &o, st);
    st = fit_impl(m, &src, 1, &td, &o, history);
    free(td.order);
    return st;
}

ag_status ag_model_fit_source(ag_model *m, const ag_batch_source *train, const ag_fit_options *opts,
                              ag_history *history)
{
    if (!m) return AG_ERR_ARG;
    ag_model_clear_error(m);
    if (history) memset(history, 0, sizeof *history);
    if (check_compiled(m, "fit") || check_source(m, "fit", train))
        return fit_fail_early(m, opts, ag_model_status(m));
    return fit_impl(m, train, 0, NULL, opts, history);
}

/* ---- evaluate ---- */

static void copy_metrics(const ag_model *m, const eval_result *r, double *loss, double *metrics)
{
    if (loss) *loss = r->loss;
    for (int k = 0; metrics && k < n_metrics(m); k++)
        metrics[k] = r->metric[k];
}

ag_status ag_model_evaluate(ag_model *m, const ag_tensor *const *x, const ag_tensor *y,
                            int64_t batch_size, double *loss, double *metrics)
{
    if (!m) return AG_ERR_ARG;
    ag_model_clear_error(m);
    if (check_compiled(m, "evaluate")) return ag_model_status(m);
    if (!y) return ag__model_fail(m, AG_ERR_ARG, "evaluate: y is NULL");
    int64_t n;
    ag_status st = check_tensors(m, "evaluate", x, y, batch_size, &n);
    if (st) return st;
    tensor_data td;
    ag_batch_source src;
    st = tensor_source(m, "evaluate", x, y, n, batch_size, &td, &src);
    if (st) return st;
    eval_result r = {0};
    st = evaluate_src(m, &src, NULL, &r);
    free(td.order);
    if (!st) copy_metrics(m, &r, loss, metrics);
    return st;
}

ag_status ag_model_evaluate_source(ag_model *m, const ag_batch_source *src, double *loss,
                                   double *metrics)
{
    if (!m) return AG_ERR_ARG;
    ag_model_clear_error(m);
    if (check_compiled(m, "evaluate") || check_source(m, "evaluate", src))
        return ag_model_status(m);
    eval_result r = {0};
    ag_status st = evaluate_src(m, src, NULL, &r);
    if (!st) copy_metrics(m, &r, loss, metrics);
    return st;
}

/* ---- predict ---- */

ag_status ag_model_run(ag_model *m, const ag_tensor *const *x, ag_node *const *extra, int n_extra)
{
    if (!m) return AG_ERR_ARG;
    if (!m->built) return ag__model_fail(m, AG_ERR_STATE, "run: the model has no outputs yet");
    if (!x) return ag__model_fail(m, AG_ERR_ARG, "run: x is NULL");
    if (n_extra < 0 || n_extra > 64 || (n_extra && !extra))
        return ag__model_fail(m, AG_ERR_ARG, "run: extra must list 0 to 64 nodes, received %d",
                              n_extra);
    ag_status st = feed_batch(m, x, NULL);
    if (st) return st;
    ag_node *nodes[AG_MAX_INPUTS + 64];
    int n = 0;
    for (int i = 0; i < m->n_outputs; i++)
        nodes[n++] = m->outputs[i];
    for (int i = 0; i < n_extra; i++) {
        if (!extra[i] || ag__node_graph(extra[i]) != m->g)
            return ag__model_fail(m, AG_ERR_ARG, "run: extra node %d is %s", i,
                                  extra[i] ? "not in this model's graph" : "NULL");
        nodes[n++] = extra[i];
    }
    ag_graph_set_training(m->g, 0);
    return ag_forward(m->g, nodes, n);
}

/* Growing per-output results, joined along axis 0. */
typedef struct joined {
    ag_tensor *t[AG_MAX_INPUTS];
    int64_t rows[AG_MAX_INPUTS];
} joined;

static ag_status append_outputs(ag_model *m, joined *j)
{
    for (int o = 0; o < m->n_outputs; o++) {
        const ag_tensor *v = ag_value(m->outputs[o]);
        if (v->rank < 1)
            return ag__model_fail(m, AG_ERR_SHAPE, "predict: output %d is a scalar", o);
        ag_tensor *t = j->t[o];
        if (!t) {
            t = j->t[o] = ag_tensor_copy(v, NULL);
            if (!t) return ag__model_fail(m, AG_ERR_NOMEM, "predict: out of memory");
            j->rows[o] = v->shape[0];
            continue;
        }
        int same = v->rank == t->rank && v->dtype == t->dtype;
        for (int d = 1; same && d < v->rank; d++)
            same = v->shape[d] == t->shape[d];
        if (!same) {
            char a[96], b[96];
            return ag__model_fail(m, AG_ERR_SHAPE,
                                  "predict: output %d of a batch has shape %s, earlier batches %s; "
                                  "outputs can be joined only when all but the batch axis match",
                                  o, ag_shape_str(v->rank, v->shape, a, sizeof a),
                                  ag_shape_str(t->rank, t->shape, b, sizeof b));
        }
        int64_t shape[AG_MAX_RANK];
        memcpy(shape, t->shape, sizeof shape);
        size_t old_bytes = (size_t)t->size * ag_dtype_size(t->dtype);
        shape[0] = j->rows[o] + v->shape[0];
        ag_tensor grown = {0};
        ag_error e = {0};
        if (ag_tensor_reshape_storage(&grown, t->dtype, t->rank, shape, NULL, &e))
            return ag__model_fail(m, e.code, "predict: %s", e.msg);
        memcpy(grown.data, t->data, old_bytes);
        memcpy((char *)grown.data + old_bytes, v->data, (size_t)v->size * ag_dtype_size(v->dtype));
        ag_tensor_release(t);
        *t = grown;
        j->rows[o] = shape[0];
    }
    return AG_OK;
}

static ag_status predict_src(ag_model *m, const ag_batch_source *src, ag_tensor **out)
{
    joined j = {0};
    ag_status st = AG_OK;
    for (int64_t b = 0; b < src->n_batches && !st; b++) {
        const ag_tensor *x[AG_MAX_INPUTS] = {0}, *y = NULL;
        ag_error e = {0};
        st = src->get_batch(src->user, b, x, &y, &e);
        if (st) {
            if (e.code)
                ag__model_fail(m, st, "batch %" PRId64 ": %s", b, e.msg);
            else if (!ag_model_status(m))
                ag__model_fail(m, st, "batch %" PRId64 " failed", b);
            break;
        }
        st = ag_model_run(m, x, NULL, 0);
        if (!st) st = append_outputs(m, &j);
    }
    for (int o = 0; o < m->n_outputs; o++) {
        if (st)
            ag_tensor_free(j.t[o]);
        else
            out[o] = j.t[o];
    }
    return st;
}

ag_status ag_model_predict(ag_model *m, const ag_tensor *const *x, int64_t batch_size,
                           ag_tensor **out)
{
    if (!m) return AG_ERR_ARG;
    ag_model_clear_error(m);
    if (!m->built) return ag__model_fail(m, AG_ERR_STATE, "predict: the model has no outputs yet");
    if (!out) return ag__model_fail(m, AG_ERR_ARG, "predict: out is NULL");
    int64_t n;
    ag_status st = check_tensors(m, "predict", x, NULL, batch_size, &n);
    if (st) return st;
    tensor_data td;
    ag_batch_source src;
    st = tensor_source(m, "predict", x, NULL, n, batch_size, &td, &src);
    if (st) return st;
    st = predict_src(m, &src, out);
    free(td.order);
    return st;
}

ag_status ag_model_predict_source(ag_model *m, const ag_batch_source *src, ag_tensor **out)
{
    if (!m) return AG_ERR_ARG;
    ag_model_clear_error(m);
    if (!m->built) return ag__model_fail(m, AG_ERR_STATE, "predict: the model has no outputs yet");
    if (!out) return ag__model_fail(m, AG_ERR_ARG, "predict: out is NULL");
    if (check_source(m, "predict", src)) return ag_model_status(m);
    return predict_src(m, src, out);
}

/* ---- the compile settings, as JSON (saved with the model) ---- */

static const char *const opt_names[] = {"sgd", "adam", "adamw", "rmsprop"};

char *ag__model_training_config(const ag_model *m)
{
    if (!m->compiled) return NULL;
    ag_sbuf b = {0};
    const ag_optimizer_config *c = &m->opt_cfg;
    ag_sb_printf(&b, "{\"loss\":\"%s\",\"from_logits\":%s,\"metrics\":[", ag_loss_name(m->loss),
                 m->from_logits ? "true" : "false");
    for (int k = 0; k < n_metrics(m); k++)
        ag_sb_printf(&b, "%s\"%s\"", k ? "," : "", metric_name(m, k));
    ag_sb_printf(&b, "],\"optimizer\":{\"name\":\"%s\"", opt_names[c->kind]);
    const struct {
        const char *name;
        double v;
    } f[] = {{"learning_rate", c->learning_rate},
             {"momentum", c->momentum},
             {"beta_1", c->beta_1},
             {"beta_2", c->beta_2},
             {"epsilon", c->epsilon},
             {"rho", c->rho},
             {"weight_decay", c->weight_decay},
             {"clipnorm", c->clipnorm},
             {"clipvalue", c->clipvalue}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        ag_sb_printf(&b, ",\"%s\":", f[i].name);
        ag_sb_json_num(&b, f[i].v);
    }
    ag_sb_printf(&b, ",\"nesterov\":%s}}", c->nesterov ? "true" : "false");
    return ag_sb_take(&b);
}

ag_status ag__model_apply_training_config(ag_model *m, const char *json, ag_error *err)
{
    ag_json *t = ag_json_parse(json, strlen(json), err);
    if (!t) return err ? err->code : AG_ERR_FORMAT;
    ag_status st = AG_OK;
    int loss = ag_loss_from_name(ag_json_str(ag_json_get(t, "loss")));
    const ag_json *opt = ag_json_get(t, "optimizer"), *mets = ag_json_get(t, "metrics");
    const char *oname = ag_json_str(ag_json_get(opt, "name"));
    int kind = -1;
    for (int i = 0; oname && i < 4; i++)
        if (!strcmp(oname, opt_names[i])) kind = i;
    if (loss < 0 || kind < 0 || !mets || mets->type != AG_JSON_ARRAY) {
        st = ag_error_set(err, AG_ERR_FORMAT,
                          "training_config: needs a known loss, optimizer name and metrics list");
        goto out;
    }
    ag_optimizer_config c = ag_optimizer_defaults((ag_optimizer_kind)kind);
    ag_json_num(ag_json_get(opt, "learning_rate"), &c.learning_rate);
    ag_json_num(ag_json_get(opt, "momentum"), &c.momentum);
    ag_json_num(ag_json_get(opt, "beta_1"), &c.beta_1);
    ag_json_num(ag_json_get(opt, "beta_2"), &c.beta_2);
    ag_json_num(ag_json_get(opt, "epsilon"), &c.epsilon);
    ag_json_num(ag_json_get(opt, "rho"), &c.rho);
    ag_json_num(ag_json_get(opt, "weight_decay"), &c.weight_decay);
    ag_json_num(ag_json_get(opt, "clipnorm"), &c.clipnorm);
    ag_json_num(ag_json_get(opt, "clipvalue"), &c.clipvalue);
    ag_json_bool(ag_json_get(opt, "nesterov"), &c.nesterov);
    unsigned metrics = 0;
    for (int i = 0; i < mets->n; i++) {
        const char *s = ag_json_str(mets->item[i]);
        if (s && !strcmp(s, "accuracy"))
            metrics |= AG_METRIC_ACCURACY;
        else if (s && !strcmp(s, "auc"))
            metrics |= AG_METRIC_AUC;
    }
    int from_logits = 0;
    ag_json_bool(ag_json_get(t, "from_logits"), &from_logits);
    st = ag_model_compile(m, &c, (ag_loss_kind)loss, from_logits, metrics);
    if (st) ag_error_set(err, st, "training_config: %s", ag_model_error(m));
out:
    ag_json_free(t);
    return st;
}
