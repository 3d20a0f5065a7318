/* file.c — how attograd reads and writes files (see internal.h).
 *
 * Reading: open with O_NONBLOCK, then fstat: anything but a regular file (a
 * FIFO, a device, a directory) is refused at once instead of blocking in
 * open or read. Writing: to <path>.tmp.XXXXXX in the same directory, then
 * fflush, fsync, rename over path and fsync of the directory, so a crash or
 * a full disk leaves either the old file or the new one, never a part. Every
 * message says why (strerror) and shows file bytes with control characters
 * escaped.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

const char *ag_escape(const char *s, size_t n, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!buf || cap == 0) return "";
    for (size_t i = 0; s && i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f && c != '\\') {
            buf[o++] = (char)c;
            continue;
        }
        if (o + 4 >= cap) break;
        buf[o++] = '\\';
        if (c == '\\') {
            buf[o++] = '\\';
            continue;
        }
        buf[o++] = 'x';
        buf[o++] = hex[c >> 4];
        buf[o++] = hex[c & 15];
    }
    buf[o] = 0;
    return buf;
}

FILE *ag_file_open_read(const char *path, const char *who, uint64_t *size, ag_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        ag_error_set(err, AG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        ag_error_set(err, AG_ERR_IO, "%s: cannot stat %s: %s", who, path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        ag_error_set(err, AG_ERR_IO, "%s: %s is not a regular file (it is a %s)", who, path,
                     S_ISDIR(sb.st_mode)    ? "directory"
                     : S_ISFIFO(sb.st_mode) ? "FIFO"
                     : S_ISCHR(sb.st_mode)  ? "character device"
                     : S_ISBLK(sb.st_mode)  ? "block device"
                     : S_ISSOCK(sb.st_mode) ? "socket"
                                            : "special file");
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        ag_error_set(err, AG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (size) *size = (uint64_t)sb.st_size;
    return f;
}

char *ag_file_read(const char *path, size_t *len, ag_error *err)
{
    uint64_t size = 0;
    FILE *f = ag_file_open_read(path, "read", &size, err);
    if (!f) return NULL;
    if (size > ag_memory_limit()) {
        fclose(f);
        ag_error_set(err, AG_ERR_NOMEM,
                     "read: %s has %llu bytes, more than the memory limit of %llu "
                     "(ag_set_memory_limit)",
                     path, (unsigned long long)size, (unsigned long long)ag_memory_limit());
        return NULL;
    }
    size_t cap = (size_t)size + 1, n = 0;
    char *buf = malloc(cap);
    while (buf) { /* the file may grow while it is read */
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f), saved = errno;
    fclose(f);
    if (!buf) {
        ag_error_set(err, AG_ERR_NOMEM, "read: out of memory reading %s", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        ag_error_set(err, AG_ERR_IO, "read: cannot read %s: %s", path, strerror(saved));
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

FILE *ag_file_create_atomic(const char *path, const char *who, char **tmp, ag_error *err)
{
    *tmp = NULL;
    if (!path || !*path) {
        ag_error_set(err, AG_ERR_ARG, "%s: path is empty", who);
        return NULL;
    }
    size_t plen = strlen(path);
    char *t = malloc(plen + 16);
    if (!t) {
        ag_error_set(err, AG_ERR_NOMEM, "%s: out of memory", who);
        return NULL;
    }
    snprintf(t, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(t);
    if (fd < 0) {
        ag_error_set(err, AG_ERR_IO, "%s: cannot create a temporary file %s: %s", who, t,
                     strerror(errno));
        free(t);
        return NULL;
    }
    fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        ag_error_set(err, AG_ERR_IO, "%s: cannot open %s: %s", who, t, strerror(errno));
        close(fd);
        unlink(t);
        free(t);
        return NULL;
    }
    *tmp = t;
    return f;
}

ag_status ag_file_commit_atomic(FILE *f, char *tmp, const char *path, const char *who, int ok,
                                ag_error *err)
{
    int saved = ok ? 0 : errno;
    if (ok && (fflush(f) != 0 || fsync(fileno(f)) != 0)) ok = 0, saved = errno;
    if (fclose(f) != 0 && ok) ok = 0, saved = errno;
    if (!ok) {
        unlink(tmp);
        ag_error_set(err, AG_ERR_IO, "%s: writing %s failed: %s", who, tmp,
                     saved ? strerror(saved) : "a write error");
        free(tmp);
        return AG_ERR_IO;
    }
    if (rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        ag_error_set(err, AG_ERR_IO, "%s: renaming %s to %s failed: %s", who, tmp, path,
                     strerror(saved));
        free(tmp);
        return AG_ERR_IO;
    }
    free(tmp);
    /* make the rename itself durable */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = ".";
        if (slash == dir)
            d = "/";
        else if (slash)
            *slash = 0, d = dir;
        int dfd = open(d, O_RDONLY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return AG_OK;
}
