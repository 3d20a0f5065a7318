/* options.c — the numbers of the command line, parsed strictly: the whole
 * text must be the number (no sign where none is allowed, no spaces, no
 * suffix, no exponent for an integer), within the option's range, or the
 * message says what was expected and what was received:
 *   --epochs must be an integer in [1, 100000], received '4294967296'
 * Nothing wraps or saturates silently. */
#include "tools.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(opt_msg msg, const char *flag, const char *expect, const char *text)
{
    char e[96];
    snprintf(msg, sizeof(opt_msg), "%s must be %s, received '%s'", flag, expect,
             ag_escape(text, strlen(text), e, sizeof e));
    return 0;
}

int opt_int(opt_msg msg, const char *flag, const char *text, long long lo, long long hi,
            long long *out)
{
    char expect[96];
    snprintf(expect, sizeof expect, "an integer in [%lld, %lld]", lo, hi);
    const char *d = text + (text[0] == '-');
    if (*d < '0' || *d > '9') return bad(msg, flag, expect, text);
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end || errno || v < lo || v > hi) return bad(msg, flag, expect, text);
    *out = v;
    return 1;
}

int opt_u64(opt_msg msg, const char *flag, const char *text, uint64_t *out)
{
    const char *expect = "an integer in [0, 18446744073709551615]";
    if (*text < '0' || *text > '9') return bad(msg, flag, expect, text);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end || errno) return bad(msg, flag, expect, text);
    *out = (uint64_t)v;
    return 1;
}

int opt_num(opt_msg msg, const char *flag, const char *text, double lo, double hi, int lo_open,
            int hi_open, double *out)
{
    char expect[96];
    snprintf(expect, sizeof expect, "a number in %s%g, %g%s", lo_open ? "(" : "[", lo, hi,
             hi_open ? ")" : "]");
    const char *d = text + (text[0] == '-');
    if ((*d < '0' || *d > '9') && *d != '.') return bad(msg, flag, expect, text);
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (*end || errno || !isfinite(v) || v < lo || v > hi || (lo_open && v == lo) ||
        (hi_open && v == hi))
        return bad(msg, flag, expect, text);
    *out = v;
    return 1;
}

int opt_int_or_say(const char *who, const char *flag, const char *text, long long lo, long long hi,
                   long long *out)
{
    opt_msg m;
    if (opt_int(m, flag, text, lo, hi, out)) return 1;
    fprintf(stderr, "%s: %s\n", who, m);
    return 0;
}

int opt_u64_or_say(const char *who, const char *flag, const char *text, uint64_t *out)
{
    opt_msg m;
    if (opt_u64(m, flag, text, out)) return 1;
    fprintf(stderr, "%s: %s\n", who, m);
    return 0;
}

int opt_num_or_say(const char *who, const char *flag, const char *text, double lo, double hi,
                   int lo_open, int hi_open, double *out)
{
    opt_msg m;
    if (opt_num(m, flag, text, lo, hi, lo_open, hi_open, out)) return 1;
    fprintf(stderr, "%s: %s\n", who, m);
    return 0;
}
