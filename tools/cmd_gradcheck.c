/* cmd_gradcheck.c — `attograd gradcheck`: every built-in op, at random
 * shapes, against central finite differences in float64. */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_gradcheck(int argc, char **argv)
{
    long seeds = 3;
    double tol = 1e-6;
    int verbose = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
            long long v;
            if (!opt_int_or_say("attograd gradcheck", argv[i], argv[i + 1], 1, 1000000, &v))
                return 2;
            seeds = (long)v, i++;
        } else if (!strcmp(argv[i], "--tolerance") && i + 1 < argc) {
            if (!opt_num_or_say("attograd gradcheck", argv[i], argv[i + 1], 0, 1, 1, 0, &tol))
                return 2;
            i++;
        } else if (!strcmp(argv[i], "--op") && i + 1 < argc)
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
    if (seeds < 1 || seeds > 1000000 || !(tol > 0)) {
        fprintf(stderr,
                "attograd gradcheck: --seeds must be 1 to 1000000 and --tolerance > 0, "
                "received %ld and %g\n",
                seeds, tol);
        return 2;
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
        ag_gradcheck_report rep;
        ag_error err = {0};
        int n = 0, op_fail = 0;
        if (ag_gradcheck_op(op, (int)seeds, &rep, &n, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            op_fail = 1;
        } else if (rep.max_rel > tol || verbose) {
            op_fail = rep.max_rel > tol;
            ag_gradcheck_print(stdout, &rep, op->name);
        }
        double op_worst = rep.max_rel;
        checks += n;
        printf("%-28s %2d samples  worst rel %.2e  %s\n", op->name, op->n_samples, op_worst,
               op_fail ? "FAIL" : "ok");
        failures += op_fail;
        if (op_worst > worst) worst = op_worst;
    }
    printf("%d checks, worst relative error %.2e, %d op%s failed (tolerance %.0e)\n", checks, worst,
           failures, failures == 1 ? "" : "s", tol);
    return failures ? 1 : 0;
}
