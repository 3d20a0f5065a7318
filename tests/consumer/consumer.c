/* consumer.c — a program outside attograd's tree, built against an installed
 * attograd (tests/consumer/run.sh builds it through find_package and through
 * pkg-config): the versions agree, a small graph runs forward and backward
 * and passes the gradient check, and the application library tokenizes. */
#include <attograd.h>
#include <attograd_app.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "consumer: %s: %s\n", what, msg);
    return 1;
}

int main(void)
{
    char headers[32];
    snprintf(headers, sizeof headers, "%d.%d.%d", AG_VERSION_MAJOR, AG_VERSION_MINOR,
             AG_VERSION_PATCH);
    printf("attograd %s (headers %s)\n", ag_version(), headers);
    if (strcmp(ag_version(), headers) || strcmp(AG_VERSION_STRING, headers))
        return fail("version", "the library and its headers disagree");

    /* L = Σ tanh(x · w), x (2,3), w (3,2), in float64 */
    ag_graph *g = ag_graph_new();
    if (!g) return fail("graph", "out of memory");
    ag_graph_set_float(g, AG_FLOAT64);
    ag_node *x = ag_input(g, "x", AG_FLOAT64, 2, (int64_t[]){2, 3});
    ag_node *w = ag_variable(g, "w", 2, (int64_t[]){3, 2});
    ag_node *loss = ag_sum(g, ag_tanh(g, ag_matmul(g, x, w, 0, 0)), NULL, 0, 0);
    if (!loss) return fail("build", ag_graph_error(g));
    ag_fill_uniform(ag_value(w), -1, 1, 42, 0);
    ag_tensor *xv = ag_tensor_new(AG_FLOAT64, 2, (int64_t[]){2, 3}, NULL);
    if (!xv) return fail("tensor", "out of memory");
    ag_fill_uniform(xv, -1, 1, 42, 1);
    ag_gradcheck_report rep;
    if (ag_feed(g, x, xv) || ag_forward(g, &loss, 1) || ag_backward(g, loss, NULL) ||
        ag_gradcheck(g, loss, 7, &rep))
        return fail("run", ag_graph_error(g));
    printf("loss %.6f, gradient of w %s, check max_rel %.1e: %s\n",
           ag_tensor_get(ag_value(loss), 0), ag_grad(w) ? "present" : "missing", rep.max_rel,
           rep.max_rel < 1e-6 ? "ok" : "WRONG");
    int ok = ag_grad(w) && rep.max_rel < 1e-6;
    ag_tensor_free(xv);
    ag_graph_free(g);

    ag_error err = {0};
    int64_t n = 0;
    char **tok = ag_tokenize("In the beginning God created the heaven and the earth.", &n, &err);
    if (!tok) return fail("tokenize", err.msg);
    printf("tokens: %lld (%s ... %s)\n", (long long)n, tok[0], tok[n - 1]);
    ok = ok && n == 10 && !strcmp(tok[n - 1], "earth");
    free(tok);
    puts(ok ? "consumer: ok" : "consumer: FAILED");
    return ok ? 0 : 1;
}
