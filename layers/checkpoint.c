/* checkpoint.c — fit's checkpoints: everything a run needs to continue bit
 * for bit, in one safetensors file per epoch, written atomically:
 *
 *   DIR/epoch-000003.safetensors   (3 epochs done)
 *   tensors:      every weight under its name; the optimizer's state as
 *                 "optimizer/<weight>/<k>"; the early-stopping record's best
 *                 weights as "best/<weight>"
 *   __metadata__: "format": "attograd-checkpoint", "config" (the model's),
 *                 "tag" (the caller's description of the run), "epoch",
 *                 "optimizer_iterations", "graph_step" (dropout's counter),
 *                 "rng_counter" (fit's shuffle), "best_val" (hex float),
 *                 "best_epoch", "wait", "history" (JSON arrays per epoch)
 *
 * Resuming reads the newest file that loads — the checksums, the config and
 * the tag must match — and skips a damaged one with a warning. The newest
 * two are kept; temporary files a killed save left behind are removed.
 */
#include "layer.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

enum { KEEP = 2 };

static void path_of(char *buf, size_t n, const char *dir, int epoch)
{
    snprintf(buf, n, "%s/epoch-%06d.safetensors", dir, epoch);
}

/* The epochs of DIR's checkpoints, newest first; *n of them (malloc'd). */
static int *list_epochs(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int cap = 16, *e = malloc(cap * sizeof *e);
    struct dirent *de;
    while (e && (de = readdir(d))) {
        int ep, len = 0;
        if (sscanf(de->d_name, "epoch-%6d.safetensors%n", &ep, &len) != 1 ||
            len != (int)strlen(de->d_name) || ep < 1)
            continue;
        if (*n == cap) {
            int *ne = realloc(e, (size_t)(cap *= 2) * sizeof *e);
            if (!ne) break;
            e = ne;
        }
        e[(*n)++] = ep;
    }
    closedir(d);
    for (int i = 1; e && i < *n; i++) /* insertion sort, newest first */
        for (int j = i; j > 0 && e[j] > e[j - 1]; j--) {
            int t = e[j];
            e[j] = e[j - 1], e[j - 1] = t;
        }
    return e;
}

static void history_json(ag_sbuf *b, const char *name, const double *v, int n)
{
    ag_sb_printf(b, "\"%s\":[", name);
    for (int i = 0; i < n; i++) {
        if (i) ag_sb_puts(b, ",");
        ag_sb_json_num(b, v[i]);
    }
    ag_sb_puts(b, "]");
}

ag_status ag__checkpoint_save(ag_model *m, const char *dir, const char *tag, const ag__fit_state *s)
{
    int n_w = ag_model_weights(m, -1, NULL, 0);
    int ns = ag_optimizer_state_size(m->opt), nv = ag_optimizer_state_count(m->opt);
    int n_t = n_w + nv * ns + (s->have_best ? s->n_vars : 0);
    const char **names = calloc((size_t)n_t + 1, sizeof *names);
    const ag_tensor **ts = calloc((size_t)n_t + 1, sizeof *ts);
    char **owned = calloc((size_t)n_t + 1, sizeof *owned);
    ag_node **w = calloc((size_t)n_w + 1, sizeof *w);
    char *config = ag_model_get_config(m);
    ag_sbuf hist = {0};
    ag_status st = AG_OK;
    if (!names || !ts || !owned || !w || !config) {
        st = ag__model_fail(m, AG_ERR_NOMEM, "checkpoint: out of memory");
        goto out;
    }
    ag_model_weights(m, -1, w, n_w);
    int k = 0;
    for (int i = 0; i < n_w; i++)
        names[k] = ag_node_name(w[i]), ts[k++] = ag_value(w[i]);
    for (int i = 0; i < nv; i++) {
        const ag_tensor *state[2];
        ag_node *var = ag_optimizer_state_var(m->opt, i, state);
        for (int j = 0; j < ns; j++) {
            size_t len = strlen(ag_node_name(var)) + 24;
            if (!(owned[k] = malloc(len))) break;
            snprintf(owned[k], len, "optimizer/%s/%d", ag_node_name(var), j);
            names[k] = owned[k], ts[k++] = state[j];
        }
    }
    for (int i = 0; s->have_best && i < s->n_vars; i++) {
        size_t len = strlen(ag_node_name(s->vars[i])) + 8;
        if (!(owned[k] = malloc(len))) break;
        snprintf(owned[k], len, "best/%s", ag_node_name(s->vars[i]));
        names[k] = owned[k], ts[k++] = &s->best[i];
    }
    if (k != n_t) {
        st = ag__model_fail(m, AG_ERR_NOMEM, "checkpoint: out of memory");
        goto out;
    }
    const ag_history *h = s->h;
    ag_sb_puts(&hist, "{");
    history_json(&hist, "loss", h->loss, s->epoch);
    ag_sb_puts(&hist, ",");
    history_json(&hist, "val_loss", h->val_loss, s->epoch);
    for (int j = 0; j < h->n_metrics; j++) {
        char nm[32];
        ag_sb_puts(&hist, ",");
        snprintf(nm, sizeof nm, "metric_%d", j);
        history_json(&hist, nm, h->metric[j], s->epoch);
        ag_sb_puts(&hist, ",");
        snprintf(nm, sizeof nm, "val_metric_%d", j);
        history_json(&hist, nm, h->val_metric[j], s->epoch);
    }
    ag_sb_puts(&hist, "}");
    if (hist.oom) {
        st = ag__model_fail(m, AG_ERR_NOMEM, "checkpoint: out of memory");
        goto out;
    }
    char v[8][40];
    snprintf(v[0], sizeof v[0], "%d", s->epoch);
    snprintf(v[1], sizeof v[1], "%" PRId64, ag_optimizer_iterations(m->opt));
    snprintf(v[2], sizeof v[2], "%" PRIu64, ag_graph_step(m->g));
    snprintf(v[3], sizeof v[3], "%" PRIu64, s->rng_counter);
    snprintf(v[4], sizeof v[4], "%a", s->best_val);
    snprintf(v[5], sizeof v[5], "%d", s->best_epoch);
    snprintf(v[6], sizeof v[6], "%d", s->wait);
    snprintf(v[7], sizeof v[7], "%d", s->have_best);
    const char *keys[11] = {
        "format",     "config",      "tag",      "epoch",      "optimizer_iterations",
        "graph_step", "rng_counter", "best_val", "best_epoch", "wait",
        "have_best"};
    const char *vals[12] = {"attograd-checkpoint",
                            config,
                            tag ? tag : "",
                            v[0],
                            v[1],
                            v[2],
                            v[3],
                            v[4],
                            v[5],
                            v[6],
                            v[7]};
    const char *keys2[12], *vals2[12];
    memcpy(keys2, keys, sizeof keys), memcpy(vals2, vals, sizeof keys);
    keys2[11] = "history", vals2[11] = hist.s;
    char path[4200];
    path_of(path, sizeof path, dir, s->epoch);
    ag_error e = {0};
    st = ag_safetensors_save(path, names, ts, n_t, keys2, vals2, 12, &e);
    if (st) {
        ag__model_fail(m, st, "checkpoint: %s", e.msg);
        goto out;
    }
    /* keep the newest KEEP */
    int n = 0, *eps = list_epochs(dir, &n);
    for (int i = KEEP; eps && i < n; i++) {
        path_of(path, sizeof path, dir, eps[i]);
        unlink(path);
    }
    free(eps);
out:
    for (int i = 0; owned && i < n_t; i++)
        free(owned[i]);
    free(owned);
    free(names);
    free(ts);
    free(w);
    free(config);
    ag_sb_release(&hist);
    return st;
}

static int meta_int(const ag_safetensors *st, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    const char *s = ag_safetensors_metadata(st, key);
    char *end;
    if (!s || !*s) return 0;
    long long v = strtoll(s, &end, 10);
    if (*end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int read_history(const ag_json *j, const char *key, double *dst, int n)
{
    const ag_json *a = ag_json_get(j, key);
    if (!a || a->type != AG_JSON_ARRAY || a->n != n) return 0;
    for (int i = 0; i < n; i++)
        if (a->item[i]->type == AG_JSON_NULL)
            dst[i] = NAN;
        else if (!ag_json_num(a->item[i], &dst[i]))
            return 0;
    return 1;
}

/* A tensor of the file that must be there with var's shape and dtype. */
static const ag_tensor *want(const ag_safetensors *st, const char *name, const ag_tensor *like,
                             char *why, size_t n)
{
    const ag_tensor *t = ag_safetensors_get(st, name);
    if (!t) {
        snprintf(why, n, "it has no tensor '%s'", name);
        return NULL;
    }
    int ok = t->dtype == like->dtype && t->rank == like->rank;
    for (int d = 0; ok && d < t->rank; d++)
        ok = t->shape[d] == like->shape[d];
    if (!ok) snprintf(why, n, "its tensor '%s' does not have the model's shape", name);
    return ok ? t : NULL;
}

/* Checks everything in the file before changing anything; then applies it. */
static int try_resume(ag_model *m, const char *path, const char *tag, int max_epoch,
                      ag__fit_state *s, char *why, size_t wn)
{
    ag_error e = {0};
    ag_safetensors *st = ag_safetensors_open(path, &e);
    if (!st) {
        snprintf(why, wn, "%s", e.msg);
        return 0;
    }
    int ok = 0;
    ag_json *hj = NULL;
    char *config = ag_model_get_config(m);
    const char *fmt = ag_safetensors_metadata(st, "format");
    const char *cfg = ag_safetensors_metadata(st, "config");
    const char *ftag = ag_safetensors_metadata(st, "tag");
    const char *hist = ag_safetensors_metadata(st, "history");
    const char *bv = ag_safetensors_metadata(st, "best_val");
    int64_t epoch, iters, gstep, rng, best_epoch, wait, have_best;
    char *end = NULL;
    double best_val = bv ? strtod(bv, &end) : 0;
    if (!fmt || strcmp(fmt, "attograd-checkpoint") || !cfg || !ftag || !hist || !config) {
        snprintf(why, wn, "it is not an attograd checkpoint");
        goto out;
    }
    if (strcmp(cfg, config)) {
        snprintf(why, wn, "it was written for another model (its config differs)");
        goto out;
    }
    if (strcmp(ftag, tag ? tag : "")) {
        snprintf(why, wn, "it was written by another run (its tag is \"%.200s\")", ftag);
        goto out;
    }
    if (!meta_int(st, "epoch", 1, max_epoch, &epoch) ||
        !meta_int(st, "optimizer_iterations", 0, INT64_MAX, &iters) ||
        !meta_int(st, "graph_step", 0, INT64_MAX, &gstep) ||
        !meta_int(st, "rng_counter", 0, INT64_MAX, &rng) ||
        !meta_int(st, "best_epoch", -1, max_epoch, &best_epoch) ||
        !meta_int(st, "wait", 0, INT32_MAX, &wait) ||
        !meta_int(st, "have_best", 0, 1, &have_best) || !bv || *end) {
        snprintf(why, wn, "its epoch (1 to %d) or training record is missing or malformed",
                 max_epoch);
        goto out;
    }
    hj = ag_json_parse(hist, strlen(hist), &e);
    ag_history *h = s->h;
    ok = hj && read_history(hj, "loss", h->loss, (int)epoch) &&
         read_history(hj, "val_loss", h->val_loss, (int)epoch);
    for (int j = 0; ok && j < h->n_metrics; j++) {
        char nm[32];
        snprintf(nm, sizeof nm, "metric_%d", j);
        ok = read_history(hj, nm, h->metric[j], (int)epoch);
        snprintf(nm, sizeof nm, "val_metric_%d", j);
        ok = ok && read_history(hj, nm, h->val_metric[j], (int)epoch);
    }
    if (!ok) {
        snprintf(why, wn, "its history is malformed");
        goto out;
    }
    ok = 0;
    /* every tensor first, then the changes */
    int n_w = ag_model_weights(m, -1, NULL, 0);
    ag_node **w = calloc((size_t)n_w + 1, sizeof *w);
    if (!w) {
        snprintf(why, wn, "out of memory");
        goto out;
    }
    ag_model_weights(m, -1, w, n_w);
    int ns = ag_optimizer_state_size(m->opt), good = 1;
    for (int i = 0; good && i < n_w; i++)
        good = want(st, ag_node_name(w[i]), ag_value(w[i]), why, wn) != NULL;
    for (int i = 0; good && have_best && i < s->n_vars; i++) {
        char nm[200];
        snprintf(nm, sizeof nm, "best/%s", ag_node_name(s->vars[i]));
        good = want(st, nm, ag_value(s->vars[i]), why, wn) != NULL;
    }
    for (int i = 0; good && i < ag_safetensors_count(st); i++) {
        const char *nm = ag_safetensors_name(st, i);
        if (strncmp(nm, "optimizer/", 10)) continue;
        const char *slash = strrchr(nm, '/');
        int found = 0;
        for (int j = 0; j < n_w && !found; j++)
            found = (size_t)(slash - nm - 10) == strlen(ag_node_name(w[j])) &&
                    !strncmp(nm + 10, ag_node_name(w[j]), (size_t)(slash - nm - 10)) &&
                    want(st, nm, ag_value(w[j]), why, wn);
        if (!found) snprintf(why, wn, "its optimizer state '%s' matches no weight", nm), good = 0;
    }
    if (good) {
        for (int i = 0; i < n_w; i++) {
            const ag_tensor *t = ag_safetensors_get(st, ag_node_name(w[i]));
            memcpy(ag_value(w[i])->data, t->data, (size_t)t->size * ag_dtype_size(t->dtype));
        }
        /* the optimizer's state, in the file's order (the order of first steps) */
        for (int i = 0; i < ag_safetensors_count(st) && good; i++) {
            const char *nm = ag_safetensors_name(st, i);
            size_t len = strlen(nm);
            if (strncmp(nm, "optimizer/", 10) || len < 12 || strcmp(nm + len - 2, "/0")) continue;
            for (int j = 0; j < n_w; j++) {
                const char *wn_ = ag_node_name(w[j]);
                if (strlen(wn_) != len - 12 || strncmp(nm + 10, wn_, len - 12)) continue;
                const ag_tensor *state[2] = {NULL, NULL};
                for (int k = 0; k < ns; k++) {
                    char sn[220];
                    snprintf(sn, sizeof sn, "optimizer/%s/%d", wn_, k);
                    state[k] = ag_safetensors_get(st, sn);
                }
                if (ag_optimizer_set_state(m->opt, w[j], state, &e))
                    snprintf(why, wn, "%s", e.msg), good = 0;
            }
        }
        for (int i = 0; good && have_best && i < s->n_vars; i++) {
            char nm[200];
            snprintf(nm, sizeof nm, "best/%s", ag_node_name(s->vars[i]));
            const ag_tensor *t = ag_safetensors_get(st, nm);
            ag_error e2 = {0};
            if (ag_tensor_reshape_storage(&s->best[i], t->dtype, t->rank, t->shape, NULL, &e2)) {
                snprintf(why, wn, "%s", e2.msg), good = 0;
                break;
            }
            memcpy(s->best[i].data, t->data, (size_t)t->size * ag_dtype_size(t->dtype));
        }
    }
    free(w);
    if (!good) goto out;
    ag_optimizer_set_iterations(m->opt, iters);
    ag_graph_set_step(m->g, (uint64_t)gstep);
    s->epoch = (int)epoch;
    s->rng_counter = (uint64_t)rng;
    s->best_val = best_val;
    s->best_epoch = (int)best_epoch;
    s->wait = (int)wait;
    s->have_best = (int)have_best;
    ok = 1;
out:
    ag_json_free(hj);
    free(config);
    ag_safetensors_close(st);
    return ok;
}

ag_status ag__checkpoint_resume(ag_model *m, const char *dir, const char *tag, int max_epoch,
                                ag__fit_state *s, FILE *out)
{
    s->epoch = 0;
    /* a save killed mid-write leaves its temporary file: remove them */
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "epoch-", 6) || !strstr(de->d_name, ".safetensors.tmp.")) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    int n = 0, *eps = list_epochs(dir, &n);
    for (int i = 0; i < n; i++) {
        char path[4200], why[AG_ERRMSG_SIZE];
        path_of(path, sizeof path, dir, eps[i]);
        if (try_resume(m, path, tag, max_epoch, s, why, sizeof why)) {
            if (out) fprintf(out, "resuming from %s (%d epochs done)\n", path, s->epoch);
            break;
        }
        if (out) fprintf(out, "skipping checkpoint %s: %s\n", path, why);
    }
    free(eps);
    return AG_OK;
}
