/* fuzz_util.h — what the libFuzzer harnesses share. The readers take paths,
 * so each input is written to one temporary file per process first. Each
 * harness runs with a 64 MiB memory budget: a hostile size must be refused
 * with a message, never allocated. */
#ifndef AG_FUZZ_UTIL_H
#define AG_FUZZ_UTIL_H

#include "attograd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_path[64];

static void fuzz_cleanup(void)
{
    if (fuzz_path[0]) unlink(fuzz_path);
}

/* Writes data to this process's temporary file; returns its path. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) {
        /* in memory when /dev/shm is there: a file per input costs little */
        snprintf(fuzz_path, sizeof fuzz_path, "%s/ag_fuzz_%ld",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
        atexit(fuzz_cleanup);
        ag_set_memory_limit((uint64_t)64 << 20);
    }
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return fuzz_path;
}

/* A NUL-terminated copy of the input (text readers). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    if (!fuzz_path[0]) fuzz_file(NULL, 0);
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* Every message is one line of printable text. */
static inline void fuzz_check_msg(const char *msg)
{
    for (const char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) abort();
}

#endif
