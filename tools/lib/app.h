/*
 * app.h — what the files of the application library share; not installed.
 * They use attograd.h and attograd_app.h only, never the engine's
 * internals.
 */
#ifndef ATTOGRAD_APP_INTERNAL_H
#define ATTOGRAD_APP_INTERNAL_H

#include "attograd_app.h"

#include <string.h>

#endif
