/* test_metrics.c — accuracy and ROC AUC on cases worked out by hand,
 * including ties, a single class, and bad arguments. */
#include "testutil.h"

#include <stdlib.h>

static void test_binary_accuracy(void **state)
{
    (void)state;
    /* p > 0.5:  1 0 1 0 0 1;  y > 0.5: 1 0 0 0 1 1  -> 4 of 6 agree */
    const float p[6] = {0.9f, 0.1f, 0.7f, 0.5f, 0.2f, 0.51f};
    const float y[6] = {1, 0, 0, 0, 1, 1};
    AG_ASSERT_NEAR(ag_binary_accuracy(p, y, 6, 0.5), 4.0 / 6.0, 1e-15);
    /* 0.5 itself is not above the threshold (Keras: y_pred > threshold) */
    const float half = 0.5f, one = 1, zero = 0;
    AG_ASSERT_NEAR(ag_binary_accuracy(&half, &one, 1, 0.5), 0.0, 0);
    AG_ASSERT_NEAR(ag_binary_accuracy(&half, &zero, 1, 0.5), 1.0, 0);
    /* another threshold: p > 0.15 -> 1 0 1 1 1 1 vs y -> agree at 0,1,4,5 = 4 of 6 */
    AG_ASSERT_NEAR(ag_binary_accuracy(p, y, 6, 0.15), 4.0 / 6.0, 1e-15);
    /* a threshold of 0.95 predicts all 0: agrees where y = 0 (3 of 6) */
    AG_ASSERT_NEAR(ag_binary_accuracy(p, y, 6, 0.95), 0.5, 1e-15);
    assert_true(isnan(ag_binary_accuracy(p, y, 0, 0.5)));
    assert_true(isnan(ag_binary_accuracy(NULL, y, 6, 0.5)));
    assert_true(isnan(ag_binary_accuracy(p, NULL, 6, 0.5)));
}

static void test_categorical_accuracy(void **state)
{
    (void)state;
    /* (4, 3): argmax p = 1, 0, 2, 0 (row 3 ties 0 and 2: the first wins);
     *         argmax y = 1, 2, 2, 2  -> rows 0 and 2 agree: 0.5 */
    const float p[12] = {0.1f, 0.8f, 0.1f, 0.5f, 0.3f, 0.2f, 0.2f, 0.2f, 0.6f, 0.4f, 0.2f, 0.4f};
    const float y[12] = {0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1};
    AG_ASSERT_NEAR(ag_categorical_accuracy(p, y, 4, 3), 0.5, 1e-15);
    AG_ASSERT_NEAR(ag_categorical_accuracy(p, y, 1, 3), 1.0, 0);
    /* one class: argmax is always 0 */
    AG_ASSERT_NEAR(ag_categorical_accuracy(p, y, 12, 1), 1.0, 0);
    assert_true(isnan(ag_categorical_accuracy(p, y, 4, 0)));
    assert_true(isnan(ag_categorical_accuracy(p, y, 0, 3)));
    assert_true(isnan(ag_categorical_accuracy(NULL, y, 4, 3)));
}

static void test_auc_hand_cases(void **state)
{
    (void)state;
    /* one pair out of order */
    const float p1[4] = {0.1f, 0.4f, 0.35f, 0.8f}, y1[4] = {0, 0, 1, 1};
    /* positives 0.35, 0.8; negatives 0.1, 0.4. Pairs (pos > neg):
     * 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4 */
    AG_ASSERT_NEAR(ag_roc_auc(p1, y1, 4), 0.75, 1e-15);
    const float p2[4] = {0.1f, 0.2f, 0.3f, 0.4f}, y2[4] = {0, 0, 1, 1};
    AG_ASSERT_NEAR(ag_roc_auc(p2, y2, 4), 1.0, 0);
    const float y3[4] = {1, 1, 0, 0}; /* reversed: every pair wrong */
    AG_ASSERT_NEAR(ag_roc_auc(p2, y3, 4), 0.0, 0);
}

static void test_auc_ties(void **state)
{
    (void)state;
    /* every score equal: each pair is a tie -> 1/2 */
    const float same[5] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f}, y[5] = {1, 0, 1, 0, 0};
    AG_ASSERT_NEAR(ag_roc_auc(same, y, 5), 0.5, 0);
    /* positives 0.5, 0.7, 0.5; negatives 0.5, 0.2:
     *   0.5 vs 0.5 tie (1/2), 0.5 > 0.2 (1)   -> 1.5
     *   0.7 > 0.5 (1),        0.7 > 0.2 (1)   -> 2
     *   0.5 vs 0.5 tie (1/2), 0.5 > 0.2 (1)   -> 1.5
     * U = 5 of 3·2 = 6 pairs -> 5/6 */
    const float p[5] = {0.5f, 0.5f, 0.7f, 0.2f, 0.5f}, yy[5] = {1, 0, 1, 0, 1};
    AG_ASSERT_NEAR(ag_roc_auc(p, yy, 5), 5.0 / 6.0, 1e-15);
}

static void test_auc_single_class_and_bad_input(void **state)
{
    (void)state;
    const float p[3] = {0.2f, 0.5f, 0.9f}, ones[3] = {1, 1, 1}, zeros[3] = {0, 0, 0};
    assert_true(isnan(ag_roc_auc(p, ones, 3)));
    assert_true(isnan(ag_roc_auc(p, zeros, 3)));
    assert_true(isnan(ag_roc_auc(p, ones, 0)));
    assert_true(isnan(ag_roc_auc(NULL, ones, 3)));
    const float pn[2] = {NAN, 0.5f}, y[2] = {1, 0};
    assert_true(isnan(ag_roc_auc(pn, y, 2)));
}

/* A larger case against the O(n²) pair count, and independence from the
 * input order (the sort must not change the answer). */
static void test_auc_matches_pair_count(void **state)
{
    (void)state;
    enum { N = 500 };
    float *p = malloc(N * sizeof *p), *y = malloc(N * sizeof *y);
    ag_rng r;
    ag_rng_init(&r, 11, 0);
    for (int i = 0; i < N; i++) {
        y[i] = ag_rng_uniform(&r) < 0.3 ? 1.0f : 0.0f;
        /* scores on a coarse grid so that many tie */
        p[i] = (float)(ag_rng_below(&r, 20) + 5 * y[i]) / 25.0f;
    }
    double u = 0, pairs = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (y[i] > 0.5f && y[j] < 0.5f) {
                pairs++;
                u += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
            }
    double auc = ag_roc_auc(p, y, N);
    AG_ASSERT_NEAR(auc, u / pairs, 1e-12);
    assert_true(auc > 0.6 && auc < 1);
    /* reversed order: bit-identical */
    for (int i = 0; i < N / 2; i++) {
        float t = p[i];
        p[i] = p[N - 1 - i], p[N - 1 - i] = t;
        t = y[i];
        y[i] = y[N - 1 - i], y[N - 1 - i] = t;
    }
    assert_true(ag_roc_auc(p, y, N) == auc);
    free(p);
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_accuracy),
        cmocka_unit_test(test_categorical_accuracy),
        cmocka_unit_test(test_auc_hand_cases),
        cmocka_unit_test(test_auc_ties),
        cmocka_unit_test(test_auc_single_class_and_bad_input),
        cmocka_unit_test(test_auc_matches_pair_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
