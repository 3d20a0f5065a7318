/* test_determinism.c — the same training loop (train_loop.h: embedding,
 * conv1d, attention, dropout, dense layers, binary cross-entropy, Adam with
 * clipnorm) run for 20 steps on one thread and on two, from a fresh graph
 * and the same seed each time: every weight and every loss must be
 * bit-identical. A kernel that split a reduction across threads, or drew a
 * random number from a thread's position, would fail here. */
#include "testutil.h"
#include "train_loop.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

enum { STEPS = 20, BATCH = 64 };

typedef struct run_result {
    double loss[STEPS];
    ag_tensor *w[TL_NW];
} run_result;

static void train(int threads, run_result *r)
{
    omp_set_dynamic(0);
    omp_set_num_threads(threads);
    assert_int_equal(omp_get_max_threads(), threads);
    train_loop tl = {0};
    if (tl_build(&tl, 42)) fail_msg("building the model: %s", ag_graph_error(tl.g));
    for (int s = 0; s < STEPS; s++) {
        /* the sequence length varies with the step: unknown dims at work */
        if (tl_fill_batch(&tl, 42, s, BATCH, TL_T - (s % 3) * 4)) fail_msg("out of memory");
        r->loss[s] = tl_step(&tl);
        if (isnan(r->loss[s])) fail_msg("step %d: %s", s, ag_graph_error(tl.g));
    }
    for (int i = 0; i < TL_NW; i++)
        r->w[i] = ag_tensor_copy(ag_value(tl.w[i]), NULL);
    tl_free(&tl);
}

static void test_one_and_two_threads_agree_bitwise(void **state)
{
    (void)state;
    int saved = omp_get_max_threads();
    run_result one = {0}, two = {0};
    train(1, &one);
    train(2, &two);
    omp_set_num_threads(saved);

    /* the loop really trained: the loss fell */
    double first = (one.loss[0] + one.loss[1] + one.loss[2]) / 3;
    double last = (one.loss[STEPS - 3] + one.loss[STEPS - 2] + one.loss[STEPS - 1]) / 3;
    printf("loss: first steps %.6f, last steps %.6f\n", first, last);
    assert_true(last < first);

    for (int s = 0; s < STEPS; s++)
        if (memcmp(&one.loss[s], &two.loss[s], sizeof(double)))
            fail_msg("step %d: loss %.17g with 1 thread, %.17g with 2", s, one.loss[s],
                     two.loss[s]);
    for (int i = 0; i < TL_NW; i++) {
        assert_non_null(one.w[i]);
        assert_non_null(two.w[i]);
        assert_int_equal(one.w[i]->size, two.w[i]->size);
        size_t bytes = (size_t)one.w[i]->size * ag_dtype_size(one.w[i]->dtype);
        if (memcmp(one.w[i]->data, two.w[i]->data, bytes)) {
            int64_t k = 0;
            while (AG_F32(one.w[i])[k] == AG_F32(two.w[i])[k])
                k++;
            fail_msg("weight %d differs at element %lld: %.9g (1 thread) vs %.9g (2 threads)", i,
                     (long long)k, AG_F32(one.w[i])[k], AG_F32(two.w[i])[k]);
        }
        ag_tensor_free(one.w[i]);
        ag_tensor_free(two.w[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_and_two_threads_agree_bitwise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
