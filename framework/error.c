/* error.c — the version, status names and the ag_error helper. */
#include "internal.h"

#include <stdarg.h>

const char *ag_version(void) { return AG_VERSION_STRING; }

const char *ag_status_name(ag_status s)
{
    switch (s) {
    case AG_OK: return "ok";
    case AG_ERR_ARG: return "invalid argument";
    case AG_ERR_SHAPE: return "shape mismatch";
    case AG_ERR_DTYPE: return "wrong dtype";
    case AG_ERR_RANGE: return "value out of range";
    case AG_ERR_IO: return "i/o error";
    case AG_ERR_FORMAT: return "malformed file";
    case AG_ERR_NOMEM: return "out of memory";
    case AG_ERR_STATE: return "call out of order";
    case AG_ERR_NONFINITE: return "non-finite value";
    }
    return "unknown status";
}

ag_status ag_error_set(ag_error *err, ag_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
