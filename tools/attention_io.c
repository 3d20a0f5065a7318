/* attention_io.c — what both forms of `attograd attention` share: one-line
 * errors with the exit status (1 data, 2 usage), and .npy files in and out. */
#include "tools.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHO "attograd attention"

int att_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, WHO ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see --help)\n");
    va_end(ap);
    return 2;
}

int att_data_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, WHO ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* ---- files ---- */

ag_tensor *att_load(const char *flag, const char *path, int *rc)
{
    ag_error e = {0};
    ag_tensor *t = ag_npy_load(path, &e);
    if (!t) *rc = att_data_error("%s: %s", flag, e.msg);
    return t;
}

int att_save(const char *flag, const char *path, const ag_tensor *t)
{
    ag_error e = {0};
    if (ag_npy_save(path, t, &e)) return att_data_error("%s: %s", flag, e.msg);
    return 0;
}

/* A mask file as a bool tensor; values must be 0 or 1. */
ag_tensor *att_load_mask(const char *flag, const char *path, int *rc)
{
    ag_tensor *t = att_load(flag, path, rc);
    if (!t) return NULL;
    ag_tensor *m = ag_tensor_new(AG_BOOL, t->rank, t->shape, NULL);
    for (int64_t i = 0; m && i < t->size; i++) {
        double v = ag_tensor_get(t, i);
        if (v != 0 && v != 1) {
            *rc =
                att_data_error("%s: '%s' must hold bool or 0/1 values, found %g at flat index %lld",
                               flag, path, v, (long long)i);
            ag_tensor_free(m);
            m = NULL;
            break;
        }
        AG_U8(m)[i] = v != 0;
    }
    ag_tensor_free(t);
    return m;
}

/* A node's gradient, or zeros shaped like its value when it has none. */
int att_save_grad(const char *flag, const char *path, ag_node *n)
{
    if (!path) return 0;
    ag_tensor *gt = ag_grad(n);
    if (gt) return att_save(flag, path, gt);
    ag_tensor *zero =
        ag_tensor_new(ag_value(n)->dtype, ag_value(n)->rank, ag_value(n)->shape, NULL);
    int rc = zero ? att_save(flag, path, zero) : att_data_error("%s: out of memory", flag);
    ag_tensor_free(zero);
    return rc;
}

/* ---- flags ---- */

int att_parse_argv(int argc, char **argv, const att_valued *valued, int n_valued,
                   const att_flag *flags, int n_flags, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        }
        size_t n = strcspn(a, "=");
        int matched = 0;
        for (int f = 0; f < n_valued && !matched; f++) {
            if (strncmp(a, valued[f].flag, n) || valued[f].flag[n]) continue;
            matched = 1;
            const char *v = a[n] == '=' ? a + n + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || !*v) return att_usage_error("%s needs a value", valued[f].flag);
            if (*valued[f].dst) return att_usage_error("%s given twice", valued[f].flag);
            *valued[f].dst = v;
        }
        for (int f = 0; f < n_flags && !matched; f++)
            if (!strcmp(a, flags[f].flag)) matched = 1, *flags[f].dst = 1;
        if (!matched) return att_usage_error("unknown option '%s'", a);
    }
    return -1;
}

int att_parse_common(const char *dtype, const char *rate, const char *seed, int *dt,
                     double *dropout, uint64_t *seed_out)
{
    if (dtype) {
        if (!strcmp(dtype, "float32"))
            *dt = AG_FLOAT32;
        else if (!strcmp(dtype, "float64"))
            *dt = AG_FLOAT64;
        else
            return att_usage_error("--dtype must be one of {float32, float64}, received '%s'",
                                   dtype);
    }
    opt_msg m;
    if ((rate && !opt_num(m, "--dropout", rate, 0, 1, 0, 1, dropout)) ||
        (seed && !opt_u64(m, "--seed", seed, seed_out)))
        return att_usage_error("%s", m);
    return -1;
}
