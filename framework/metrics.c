/* metrics.c — accuracy and ROC AUC over host arrays, as Keras computes them
 * (AUC exactly, where Keras approximates it with thresholds).
 *
 *   binary accuracy:      mean_i [(p_i > threshold) == (y_i > 0.5)]
 *   categorical accuracy: mean_i [argmax_c p_ic == argmax_c y_ic]  (first max wins)
 *   ROC AUC:              P(score of a random positive > that of a random negative),
 *                         ties counting one half (the Mann-Whitney U statistic / (P·N))
 *
 * Each is computed serially in a fixed order: the result does not depend on
 * the thread count. A missing array, an empty input or a NaN score gives NaN.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

double ag_binary_accuracy(const float *p, const float *y, int64_t n, double threshold)
{
    if (!p || !y || n <= 0) return NAN;
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++)
        hits += (p[i] > threshold) == (y[i] > 0.5f);
    return (double)hits / (double)n;
}

static int64_t argmax(const float *v, int64_t c)
{
    int64_t best = 0;
    for (int64_t j = 1; j < c; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

double ag_categorical_accuracy(const float *p, const float *y, int64_t n, int64_t c)
{
    if (!p || !y || n <= 0 || c <= 0) return NAN;
    int64_t hits = 0;
    for (int64_t i = 0; i < n; i++)
        hits += argmax(p + i * c, c) == argmax(y + i * c, c);
    return (double)hits / (double)n;
}

typedef struct scored {
    float score;
    int positive;
} scored;

static int by_score(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

/* Sort by score; walk the groups of equal scores from the lowest. Each
 * positive beats every negative below its group and ties the negatives in
 * it: U = Σ_groups pos_g·(negatives below) + pos_g·neg_g/2. */
double ag_roc_auc(const float *p, const float *y, int64_t n)
{
    if (!p || !y || n <= 0) return NAN;
    int64_t n_pos = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(p[i])) return NAN;
        n_pos += y[i] > 0.5f;
    }
    int64_t n_neg = n - n_pos;
    if (n_pos == 0 || n_neg == 0) return NAN;
    scored *s = malloc((size_t)n * sizeof *s);
    if (!s) return NAN;
    for (int64_t i = 0; i < n; i++)
        s[i] = (scored){p[i], y[i] > 0.5f};
    qsort(s, (size_t)n, sizeof *s, by_score);
    double u = 0;
    int64_t neg_below = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, pos = 0, neg = 0;
        for (; j < n && s[j].score == s[i].score; j++)
            s[j].positive ? pos++ : neg++;
        u += (double)pos * (double)neg_below + 0.5 * (double)pos * (double)neg;
        neg_below += neg;
        i = j;
    }
    free(s);
    return u / ((double)n_pos * (double)n_neg);
}
