/*
 * app.h — what the files of the application library share; not installed.
 * They use attograd.h and attograd_app.h only, never the engine's
 * internals.
 */
#ifndef ATTOGRAD_APP_INTERNAL_H
#define ATTOGRAD_APP_INTERNAL_H

#include "attograd_app.h"

#include <string.h>

/* A whole file in a malloc'd NUL-terminated buffer; *len (when not NULL)
 * gets its size. NULL with err set ("cannot open PATH ...") on failure. */
char *ag__app_read_file(const char *path, size_t *len, ag_error *err);

#endif
