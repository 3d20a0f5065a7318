/* cmd_gradcheck.c — `attograd gradcheck`: every built-in op, at random
 * shapes, against central finite differences in float64. */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_gradcheck(int argc, char **argv)
{
    uint64_t seeds = 3;
    double tol = 1e-6;
    int verbose = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
            seeds = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--tolerance") && i + 1 < argc)
            tol = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--op") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: attograd gradcheck [--op NAME] [--seeds N] [--tolerance X] [--verbose]\n"
                   "Checks every built-in op's gradient (each sample graph, N random seeds)\n"
                   "against five-point central differences in float64; exits 1 when a\n"
                   "relative error exceeds the tolerance (default 1e-6).\n");
            return 0;
        } else {
            fprintf(stderr, "attograd gradcheck: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (only && !ag_builtin_op_find(only)) {
        fprintf(stderr, "attograd gradcheck: no built-in op named '%s'\n", only);
        return 2;
    }
    int failures = 0, checks = 0;
    double worst = 0;
    for (int i = 0; i < ag_builtin_op_count(); i++) {
        const ag_op *op = ag_builtin_op(i);
        if (only && strcmp(op->name, only)) continue;
        double op_worst = 0;
        int op_fail = 0;
        for (int v = 0; v < op->n_samples; v++)
            for (uint64_t s = 1; s <= seeds; s++) {
                ag_graph *g = ag_graph_new();
                ag_graph_set_float(g, AG_FLOAT64);
                ag_node *out = op->sample(g, v, s);
                ag_gradcheck_report rep;
                if (!out || ag_gradcheck(g, out, s, &rep)) {
                    fprintf(stderr, "%s sample %d seed %llu: %s\n", op->name, v,
                            (unsigned long long)s, ag_graph_error(g));
                    op_fail = 1;
                } else {
                    if (verbose) ag_gradcheck_print(stdout, &rep, op->name);
                    if (rep.max_rel > op_worst) op_worst = rep.max_rel;
                    if (rep.max_rel > tol) op_fail = 1;
                }
                checks++;
                ag_graph_free(g);
            }
        printf("%-28s %2d samples  worst rel %.2e  %s\n", op->name, op->n_samples, op_worst,
               op_fail ? "FAIL" : "ok");
        failures += op_fail;
        if (op_worst > worst) worst = op_worst;
    }
    printf("%d checks, worst relative error %.2e, %d op%s failed (tolerance %.0e)\n", checks, worst,
           failures, failures == 1 ? "" : "s", tol);
    return failures ? 1 : 0;
}
