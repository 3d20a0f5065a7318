/* testutil.h — shared by the cmocka suites. */
#ifndef AG_TESTUTIL_H
#define AG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "attograd.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A fresh directory for a suite's files, /tmp/ag_TAG_ followed by six
 * characters mkdtemp picks (the six X of the template are what mkdtemp
 * replaces; dir: at least 64 bytes); 0 on success. ag_test_remove_dir
 * deletes its files and itself. */
static inline int ag_test_make_dir(char *dir, size_t n, const char *tag)
{
    snprintf(dir, n, "/tmp/ag_%s_XXXXXX", tag);
    return mkdtemp(dir) ? 0 : -1;
}

static inline void ag_test_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(p, sizeof p, "%s/%s", dir, e->d_name), unlink(p);
    if (d) closedir(d);
    rmdir(dir);
}

/* Fails the test with the graph's message when st is not AG_OK. */
#define AG_ASSERT_OK(g, st)                                                                        \
    do {                                                                                           \
        ag_status st_ = (st);                                                                      \
        if (st_ != AG_OK) fail_msg("status %s: %s", ag_status_name(st_), ag_graph_error(g));       \
    } while (0)

/* |a - b| <= tol, with both values in the failure message. */
#define AG_ASSERT_NEAR(a, b, tol)                                                                  \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                                             \
            fail_msg("%s = %.17g, expected %.17g (tol %g)", #a, a_, b_, (double)(tol));            \
    } while (0)

/* A tensor from a literal list: ag_tensor *t = AG_TENSOR(AG_FLOAT64, 2, ((int64_t[]){2,2}),
 * ((double[]){1,2,3,4})) */
static inline ag_tensor *ag_test_tensor(ag_dtype dt, int rank, const int64_t *shape,
                                        const double *v)
{
    ag_tensor *t = ag_tensor_new(dt, rank, shape, NULL);
    for (int64_t i = 0; t && i < t->size; i++)
        ag_tensor_set(t, i, v[i]);
    return t;
}

/* Asserts that the message contains every given substring. */
static inline void ag_assert_msg_has(const char *msg, const char *needle)
{
    if (!strstr(msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}

/* A new graph computing in float dtype dt. */
static inline ag_graph *ag_test_graph(ag_dtype dt)
{
    ag_graph *g = ag_graph_new();
    assert_non_null(g);
    ag_graph_set_float(g, dt);
    return g;
}

/* A variable of g's float dtype holding v (size of shape's elements). */
static inline ag_node *ag_test_var(ag_graph *g, const char *name, int rank, const int64_t *shape,
                                   const double *v)
{
    ag_node *n = ag_variable(g, name, rank, shape);
    if (!n) fail_msg("variable %s: %s", name, ag_graph_error(g));
    ag_tensor *t = ag_value(n);
    for (int64_t i = 0; i < t->size; i++)
        ag_tensor_set(t, i, v[i]);
    return n;
}

#endif
