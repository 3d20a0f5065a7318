/* test_alloc.c — once a training step of given shapes has run, the next
 * steps of those shapes (or smaller) allocate nothing: not the graph's
 * buffers (ag_graph_alloc_count), not the optimizer's state
 * (ag_optimizer_alloc_count), and — outside sanitizer builds, which own
 * malloc — no call to malloc, calloc, realloc or aligned_alloc at all,
 * counted by wrapping them in this program. */
#include "testutil.h"
#include "train_loop.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 0
#else
#define COUNT_MALLOC 1
#endif

static uint64_t n_heap; /* heap allocations by anyone in the process */

#if COUNT_MALLOC
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

void *malloc(size_t n)
{
    __atomic_add_fetch(&n_heap, 1, __ATOMIC_RELAXED);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    __atomic_add_fetch(&n_heap, 1, __ATOMIC_RELAXED);
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    __atomic_add_fetch(&n_heap, 1, __ATOMIC_RELAXED);
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n)
{
    __atomic_add_fetch(&n_heap, 1, __ATOMIC_RELAXED);
    return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n)
{
    __atomic_add_fetch(&n_heap, 1, __ATOMIC_RELAXED);
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12; /* ENOMEM */
}
#endif

typedef struct counts {
    uint64_t graph, opt, heap;
} counts;

static counts now(const train_loop *tl)
{
    return (counts){ag_graph_alloc_count(tl->g), ag_optimizer_alloc_count(tl->opt),
                    __atomic_load_n(&n_heap, __ATOMIC_RELAXED)};
}

static void run_step(train_loop *tl, int step, int64_t batch, int64_t len)
{
    if (tl_fill_batch(tl, 7, step, batch, len)) fail_msg("out of memory");
    if (isnan(tl_step(tl))) fail_msg("step %d: %s", step, ag_graph_error(tl->g));
}

static void expect_none(const char *what, counts before, counts after)
{
    if (after.graph != before.graph || after.opt != before.opt ||
        (COUNT_MALLOC && after.heap != before.heap))
        fail_msg("%s allocated: graph %llu, optimizer %llu, heap %llu", what,
                 (unsigned long long)(after.graph - before.graph),
                 (unsigned long long)(after.opt - before.opt),
                 (unsigned long long)(after.heap - before.heap));
}

static void test_steady_state_allocates_nothing(void **state)
{
    (void)state;
    train_loop tl = {0};
    if (tl_build(&tl, 7)) fail_msg("building the model: %s", ag_graph_error(tl.g));

    run_step(&tl, 0, 64, TL_T);
    counts first = now(&tl);
    assert_true(first.graph > 0); /* the first step did allocate its buffers */
    assert_true(first.opt > 0);   /* and the optimizer its moments */

    /* the same shapes, new data */
    for (int s = 1; s <= 5; s++)
        run_step(&tl, s, 64, TL_T);
    expect_none("steps 2-6 (same shapes)", first, now(&tl));

    /* smaller shapes fit in the buffers already there */
    run_step(&tl, 6, 32, TL_T / 2);
    run_step(&tl, 7, 64, TL_T - 4);
    expect_none("smaller batch and sequence", first, now(&tl));

    /* a larger batch must grow some buffers: the counters do count */
    run_step(&tl, 8, 128, TL_T);
    counts grown = now(&tl);
    assert_true(grown.graph > first.graph);
    assert_int_equal(grown.opt, first.opt); /* weights keep their shapes */
    if (COUNT_MALLOC) assert_true(grown.heap > first.heap);

    /* and after that, both sizes are steady */
    run_step(&tl, 9, 128, TL_T);
    run_step(&tl, 10, 64, TL_T);
    expect_none("steps after growing", grown, now(&tl));
    tl_free(&tl);
}

/* The optimizer alone: new variables get state once; later steps none. */
static void test_optimizer_state_once_per_variable(void **state)
{
    (void)state;
    ag_graph *g = ag_graph_new();
    int64_t shape[2] = {8, 8};
    ag_node *a = ag_variable(g, "a", 2, shape), *b = ag_variable(g, "b", 2, shape);
    ag_fill_uniform(ag_value(a), -1, 1, 1, 0);
    ag_fill_uniform(ag_value(b), -1, 1, 1, 1);
    ag_node *loss = ag_mean(g, ag_tanh(g, ag_matmul(g, a, b, 0, 0)), NULL, 0, 0);
    assert_non_null(loss);
    ag_optimizer_config c = ag_optimizer_defaults(AG_RMSPROP);
    c.momentum = 0.9;
    ag_optimizer *opt = ag_optimizer_new(&c, NULL);
    ag_node *vars[2] = {a, b};
    uint64_t after_first = 0;
    for (int s = 0; s < 4; s++) {
        AG_ASSERT_OK(g, ag_forward(g, &loss, 1));
        AG_ASSERT_OK(g, ag_backward(g, loss, NULL));
        uint64_t heap = __atomic_load_n(&n_heap, __ATOMIC_RELAXED);
        AG_ASSERT_OK(g, ag_optimizer_step(opt, g, vars, 2));
        if (s == 0)
            after_first = ag_optimizer_alloc_count(opt);
        else if (COUNT_MALLOC)
            assert_int_equal(__atomic_load_n(&n_heap, __ATOMIC_RELAXED), heap);
    }
    assert_int_equal(ag_optimizer_alloc_count(opt), after_first);
    /* the table plus two state tensors per variable */
    assert_int_equal(after_first, 1 + 2 * 2);
    ag_optimizer_free(opt);
    ag_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_state_allocates_nothing),
        cmocka_unit_test(test_optimizer_state_once_per_variable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
