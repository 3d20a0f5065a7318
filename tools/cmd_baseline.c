/* cmd_baseline.c — `attograd baseline --data DIR`: the lexical baseline a
 * learned model has to beat.
 *
 *   score(a, b) = |A ∩ B| / |A ∪ B|   (Jaccard overlap of the two texts' sets
 *                                      of tokens, tokenized as the model's are;
 *                                      0 when both sets are empty)
 *   predict 1 when score > t, with t the midpoint between two neighbouring
 *   validation scores that gives the best validation accuracy (the lowest
 *   such t on a tie). AUC needs no threshold.
 */
#include "similarity.h"
#include "tools.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Sorts toks and drops repeats; returns the count of distinct tokens. */
static int64_t uniq(char **toks, int64_t n)
{
    qsort(toks, (size_t)n, sizeof *toks, cmp_str);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (m == 0 || strcmp(toks[m - 1], toks[i])) toks[m++] = toks[i];
    return m;
}

/* Jaccard overlap of the token sets of a and b; -1 when out of memory. */
static double overlap(const char *a, const char *b)
{
    int64_t na, nb;
    char **ta = ag_tokenize(a, &na, NULL), **tb = ag_tokenize(b, &nb, NULL);
    double s = -1;
    if (ta && tb) {
        na = uniq(ta, na), nb = uniq(tb, nb);
        int64_t i = 0, j = 0, both = 0;
        while (i < na && j < nb) {
            int c = strcmp(ta[i], tb[j]);
            both += c == 0;
            i += c <= 0, j += c >= 0;
        }
        int64_t uni = na + nb - both;
        s = uni ? (double)both / (double)uni : 0;
    }
    free(ta);
    free(tb);
    return s;
}

typedef struct {
    double s;
    float y;
} scored;

static int by_score(const void *x, const void *y)
{
    double a = ((const scored *)x)->s, b = ((const scored *)y)->s;
    return (a > b) - (a < b);
}

/* Scores every pair; NULL when out of memory. */
static scored *score_pairs(const ag_pairs *p)
{
    scored *s = malloc(((size_t)p->n + 1) * sizeof *s);
    for (int64_t i = 0; s && i < p->n; i++) {
        s[i] = (scored){overlap(p->a[i], p->b[i]), p->label[i]};
        if (s[i].s < 0) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

/* Scores every pair of path; NULL after printing why. */
static scored *score_file(const char *path, int64_t *n)
{
    ag_error err = {0};
    ag_pairs *p = ag_pairs_load(path, &err);
    if (!p) {
        fprintf(stderr, "attograd baseline: %s\n", err.msg);
        return NULL;
    }
    scored *s = score_pairs(p);
    if (!s) fprintf(stderr, "attograd baseline: out of memory scoring %s\n", path);
    *n = p->n;
    ag_pairs_free(p);
    return s;
}

static double accuracy(const scored *s, int64_t n, double t)
{
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++)
        ok += (s[i].s > t) == (s[i].y > 0.5f);
    return (double)ok / (double)n;
}

static double auc(const scored *s, int64_t n)
{
    float *p = malloc((size_t)n * sizeof *p), *y = malloc((size_t)n * sizeof *y);
    double r = NAN;
    if (p && y) {
        for (int64_t i = 0; i < n; i++)
            p[i] = (float)s[i].s, y[i] = s[i].y;
        r = ag_roc_auc(p, y, n);
    }
    free(p);
    free(y);
    return r;
}

/* The threshold with the best accuracy on s: one pass over the sorted
 * scores, each cut between two distinct scores a candidate. */
static double tune(scored *s, int64_t n, double *best_acc)
{
    qsort(s, (size_t)n, sizeof *s, by_score);
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++)
        pos += s[i].y > 0.5f;
    /* cut below everything: all predicted 1, correct = positives */
    int64_t correct = pos, best = pos;
    double t = s[0].s - 1e-9;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        for (; j < n && s[j].s == s[i].s; j++)
            correct += s[j].y > 0.5f ? -1 : 1;
        if (correct > best) {
            best = correct;
            t = j < n ? 0.5 * (s[i].s + s[j].s) : s[i].s;
        }
        i = j;
    }
    *best_acc = (double)best / (double)n;
    return t;
}

int sim_baseline(const ag_pairs *val, const ag_pairs *test, sim_baseline_figures *f)
{
    if (!val || !test || val->n < 1 || test->n < 1) return 1;
    scored *v = score_pairs(val), *t = v ? score_pairs(test) : NULL;
    int rc = 1;
    if (t) {
        f->val_auc = auc(v, val->n);
        f->test_auc = auc(t, test->n);
        f->threshold = tune(v, val->n, &f->val_accuracy);
        f->test_accuracy = accuracy(t, test->n, f->threshold);
        rc = 0;
    }
    free(v);
    free(t);
    return rc;
}

int cmd_baseline(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: attograd baseline --data DIR\n"
                   "The lexical baseline on DIR/val.tsv and DIR/test.tsv: the Jaccard overlap\n"
                   "|A ∩ B| / |A ∪ B| of the two texts' token sets (tokenized as the models'\n"
                   "inputs are), predicting 1 above a threshold tuned for accuracy on the\n"
                   "validation pairs. Prints accuracy and ROC AUC for both.\n");
            return 0;
        } else {
            fprintf(stderr,
                    "attograd baseline: unknown option or missing value '%s' (see --help)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "attograd baseline: --data DIR is required (see --help)\n");
        return 2;
    }
    char vpath[4200], tpath[4200];
    snprintf(vpath, sizeof vpath, "%s/val.tsv", dir);
    snprintf(tpath, sizeof tpath, "%s/test.tsv", dir);
    int64_t nv = 0, nt = 0;
    scored *v = score_file(vpath, &nv);
    scored *t = v ? score_file(tpath, &nt) : NULL;
    if (!t) {
        free(v);
        return 1;
    }
    double val_auc = auc(v, nv), test_auc = auc(t, nt);
    double val_acc;
    double thr = tune(v, nv, &val_acc);
    double test_acc = accuracy(t, nt, thr);
    printf("lexical baseline: Jaccard overlap of token sets, 1 when overlap > %.4f (tuned on "
           "validation)\n",
           thr);
    printf("  validation: %6lld pairs  accuracy %.4f  AUC %.4f\n", (long long)nv, val_acc, val_auc);
    printf("  test:       %6lld pairs  accuracy %.4f  AUC %.4f\n", (long long)nt, test_acc,
           test_auc);
    free(v);
    free(t);
    return 0;
}
