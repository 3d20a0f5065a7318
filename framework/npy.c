/* npy.c — NumPy .npy files, format versions 1.0, 2.0 and 3.0.
 *
 * A file is: the magic "\x93NUMPY", a major and a minor version byte, the
 * header's length (uint16 little-endian for 1.0, uint32 for 2.0 and 3.0),
 * then the header — a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a final '\n' — then the raw C-order data.
 *
 * Read: descr '<f4' '<f8' '<i4' '<i8' '|b1', C order, rank <= AG_MAX_RANK.
 * Anything else is refused with a message naming the file, what was
 * expected and what was found (file bytes escaped). Anything but a regular
 * file is refused without blocking. Written: version 1.0, the header padded
 * so the data starts at a multiple of 64 bytes, little-endian on every host,
 * atomically (a temporary file renamed over the path).
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#define MAGIC "\x93NUMPY"
enum { MAGIC_LEN = 6, MAX_HEADER = 1 << 20, ALIGN = 64 };

static int host_is_big_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 0;
}

/* Reverses the bytes of each es-byte element (big-endian hosts only). */
static void swap_bytes(void *data, int64_t n, size_t es)
{
    uint8_t *p = data;
    for (int64_t i = 0; i < n; i++, p += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

static const struct {
    const char *descr;
    ag_dtype dtype;
} descrs[] = {
    {"<f4", AG_FLOAT32}, {"<f8", AG_FLOAT64}, {"<i4", AG_INT32},
    {"<i8", AG_INT64},   {"|b1", AG_BOOL},
};
#define ACCEPTED "'<f4', '<f8', '<i4', '<i8' or '|b1'"

/* ---- header parsing: a tiny reader for the dict literal ---- */

typedef struct {
    const char *s, *end, *path;
    ag_error *err;
} hreader;

static void skip_ws(hreader *r)
{
    while (r->s < r->end && (*r->s == ' ' || *r->s == '\t' || *r->s == '\n' || *r->s == '\r'))
        r->s++;
}

static ag_status bad_header(hreader *r, const char *expected)
{
    char found[24];
    size_t n = 0;
    for (const char *p = r->s; p < r->end && n < sizeof found - 1; p++)
        found[n++] = *p >= 32 && *p < 127 ? *p : '?';
    found[n] = 0;
    return ag_error_set(
        r->err, AG_ERR_FORMAT, "npy_load: '%s': malformed header: expected %s, found \"%s\"%s",
        r->path, expected, n ? found : "the end of the header", r->s + n < r->end ? "..." : "");
}

static int eat(hreader *r, char c)
{
    skip_ws(r);
    if (r->s < r->end && *r->s == c) {
        r->s++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") into buf. */
static ag_status read_string(hreader *r, char *buf, size_t n, const char *what)
{
    skip_ws(r);
    if (r->s >= r->end || (*r->s != '\'' && *r->s != '"')) return bad_header(r, what);
    char q = *r->s++;
    size_t len = 0;
    while (r->s < r->end && *r->s != q) {
        if (len + 1 >= n) return bad_header(r, "a shorter string");
        buf[len++] = *r->s++;
    }
    if (r->s >= r->end) return bad_header(r, "a closing quote");
    r->s++;
    buf[len] = 0;
    return AG_OK;
}

static ag_status read_shape(hreader *r, int *rank, int64_t *shape)
{
    if (!eat(r, '(')) return bad_header(r, "a shape tuple such as (2, 3), (4,) or ()");
    *rank = 0;
    for (;;) {
        skip_ws(r);
        if (eat(r, ')')) return AG_OK;
        if (r->s >= r->end || *r->s < '0' || *r->s > '9')
            return bad_header(r, "a non-negative integer dimension or ')'");
        int64_t v = 0;
        while (r->s < r->end && *r->s >= '0' && *r->s <= '9') {
            if (v > (INT64_MAX - 9) / 10) return bad_header(r, "a smaller dimension");
            v = v * 10 + (*r->s++ - '0');
        }
        if (r->s < r->end && *r->s == 'L') r->s++; /* Python 2's long suffix */
        if (*rank >= AG_MAX_RANK)
            return ag_error_set(r->err, AG_ERR_FORMAT,
                                "npy_load: '%s': the array has more than %d dimensions; attograd "
                                "supports rank 0 to %d",
                                r->path, AG_MAX_RANK, AG_MAX_RANK);
        shape[(*rank)++] = v;
        if (eat(r, ',')) continue;
        if (eat(r, ')')) {
            if (*rank == 1) return bad_header(r, "(n,) for a one-dimensional shape");
            return AG_OK;
        }
        return bad_header(r, "',' or ')' in the shape tuple");
    }
}

typedef struct {
    char descr[32];
    int fortran_order;
    int rank;
    int64_t shape[AG_MAX_RANK];
} npy_header;

static ag_status parse_header(const char *path, const char *text, size_t len, npy_header *h,
                              ag_error *err)
{
    hreader r = {text, text + len, path, err};
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    ag_status st;
    if (!eat(&r, '{')) return bad_header(&r, "'{' opening the header dict");
    for (;;) {
        if (eat(&r, '}')) break;
        char key[32];
        if ((st = read_string(&r, key, sizeof key, "a quoted key or '}'"))) return st;
        if (!eat(&r, ':')) return bad_header(&r, "':' after a key");
        skip_ws(&r);
        if (!strcmp(key, "descr")) {
            if (r.s < r.end && (*r.s == '[' || *r.s == '('))
                return ag_error_set(err, AG_ERR_FORMAT,
                                    "npy_load: '%s': structured dtypes are not supported; "
                                    "expected descr " ACCEPTED,
                                    path);
            if ((st = read_string(&r, h->descr, sizeof h->descr, "a quoted descr such as '<f4'")))
                return st;
            seen_descr++;
        } else if (!strcmp(key, "fortran_order")) {
            if (r.end - r.s >= 4 && !memcmp(r.s, "True", 4))
                h->fortran_order = 1, r.s += 4;
            else if (r.end - r.s >= 5 && !memcmp(r.s, "False", 5))
                h->fortran_order = 0, r.s += 5;
            else
                return bad_header(&r, "True or False for fortran_order");
            seen_fortran++;
        } else if (!strcmp(key, "shape")) {
            if ((st = read_shape(&r, &h->rank, h->shape))) return st;
            seen_shape++;
        } else {
            char ekey[96];
            return ag_error_set(err, AG_ERR_FORMAT,
                                "npy_load: '%s': malformed header: unexpected key '%s' (expected "
                                "'descr', 'fortran_order' and 'shape')",
                                path, ag_escape(key, strlen(key), ekey, sizeof ekey));
        }
        if (eat(&r, ',')) continue;
        if (eat(&r, '}')) break;
        return bad_header(&r, "',' or '}' after a value");
    }
    skip_ws(&r);
    if (r.s != r.end) return bad_header(&r, "only padding after the header dict");
    if (seen_descr != 1 || seen_fortran != 1 || seen_shape != 1)
        return ag_error_set(err, AG_ERR_FORMAT,
                            "npy_load: '%s': malformed header: expected each of 'descr', "
                            "'fortran_order' and 'shape' once, found them %d, %d and %d times",
                            path, seen_descr, seen_fortran, seen_shape);
    return AG_OK;
}

/* The dtype of a descr, or a message saying why not. */
static ag_status descr_dtype(const char *path, const char *d, ag_dtype *dtype, ag_error *err)
{
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
        if (!strcmp(d, descrs[i].descr)) {
            *dtype = descrs[i].dtype;
            return AG_OK;
        }
    if (d[0] == '>' && (!strcmp(d + 1, "f4") || !strcmp(d + 1, "f8") || !strcmp(d + 1, "i4") ||
                        !strcmp(d + 1, "i8")))
        return ag_error_set(err, AG_ERR_FORMAT,
                            "npy_load: '%s': big-endian data ('%s') is not supported; expected "
                            "little-endian '<%s' (numpy: a.astype('<%s'))",
                            path, d, d + 1, d + 1);
    char e[96];
    return ag_error_set(err, AG_ERR_FORMAT,
                        "npy_load: '%s': unsupported dtype '%s'; expected " ACCEPTED, path,
                        ag_escape(d, strlen(d), e, sizeof e));
}

static uint64_t le_uint(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

ag_tensor *ag_npy_load(const char *path, ag_error *err)
{
    if (!path) {
        ag_error_set(err, AG_ERR_ARG, "npy_load: path is NULL");
        return NULL;
    }
    FILE *f = ag_file_open_read(path, "npy_load", NULL, err);
    if (!f) return NULL;
    ag_tensor *t = NULL;
    char *text = NULL;
    uint8_t pre[MAGIC_LEN + 2 + 4];
    size_t got = fread(pre, 1, MAGIC_LEN + 2, f);
    if (got < MAGIC_LEN || memcmp(pre, MAGIC, MAGIC_LEN)) {
        char found[32] = "";
        for (size_t i = 0; i < got && i < MAGIC_LEN; i++)
            snprintf(found + strlen(found), sizeof found - strlen(found),
                     pre[i] >= 32 && pre[i] < 127 ? "%c" : "\\x%02x", pre[i]);
        ag_error_set(err, AG_ERR_FORMAT,
                     "npy_load: '%s' is not a .npy file: expected the magic \\x93NUMPY, found "
                     "\"%s\"%s",
                     path, found, got < MAGIC_LEN ? " (the file is too short)" : "");
        goto done;
    }
    if (got < MAGIC_LEN + 2) {
        ag_error_set(err, AG_ERR_FORMAT, "npy_load: '%s': truncated after the magic", path);
        goto done;
    }
    int major = pre[MAGIC_LEN], minor = pre[MAGIC_LEN + 1];
    if (major < 1 || major > 3 || minor != 0) {
        ag_error_set(err, AG_ERR_FORMAT,
                     "npy_load: '%s': unsupported format version %d.%d; expected 1.0, 2.0 or 3.0",
                     path, major, minor);
        goto done;
    }
    int lw = major == 1 ? 2 : 4;
    if (fread(pre, 1, (size_t)lw, f) != (size_t)lw) {
        ag_error_set(err, AG_ERR_FORMAT, "npy_load: '%s': truncated in the header length", path);
        goto done;
    }
    uint64_t hlen = le_uint(pre, lw);
    if (hlen > MAX_HEADER) {
        ag_error_set(err, AG_ERR_FORMAT,
                     "npy_load: '%s': header length %" PRIu64 " bytes exceeds the %d allowed", path,
                     hlen, MAX_HEADER);
        goto done;
    }
    text = malloc(hlen + 1);
    if (!text) {
        ag_error_set(err, AG_ERR_NOMEM, "npy_load: '%s': out of memory", path);
        goto done;
    }
    got = fread(text, 1, hlen, f);
    if (got != hlen) {
        ag_error_set(err, AG_ERR_FORMAT,
                     "npy_load: '%s': truncated header: expected %" PRIu64 " bytes, found %zu",
                     path, hlen, got);
        goto done;
    }
    text[hlen] = 0;
    if (major != 3)
        for (uint64_t i = 0; i < hlen; i++)
            if ((uint8_t)text[i] >= 128) {
                ag_error_set(err, AG_ERR_FORMAT,
                             "npy_load: '%s': malformed header: byte %" PRIu64
                             " is not ASCII (version %d.0 headers are latin-1 ASCII)",
                             path, i, major);
                goto done;
            }
    npy_header h = {0};
    ag_dtype dtype = AG_FLOAT32;
    if (parse_header(path, text, hlen, &h, err) || descr_dtype(path, h.descr, &dtype, err))
        goto done;
    if (h.fortran_order) {
        ag_error_set(err, AG_ERR_FORMAT,
                     "npy_load: '%s': Fortran-order data is not supported; expected C order "
                     "(numpy: np.save(path, np.ascontiguousarray(a)))",
                     path);
        goto done;
    }
    /* the data must be all there before anything is allocated for it */
    int64_t n = 1;
    size_t es = ag_dtype_size(dtype);
    for (int i = 0; i < h.rank; i++) {
        if (h.shape[i] && n > INT64_MAX / 16 / h.shape[i]) {
            char s[160];
            ag_error_set(err, AG_ERR_FORMAT, "npy_load: '%s': shape %s is too large", path,
                         ag_shape_str(h.rank, h.shape, s, sizeof s));
            goto done;
        }
        n *= h.shape[i];
    }
    long here = ftell(f);
    if (here < 0 || fseek(f, 0, SEEK_END)) {
        ag_error_set(err, AG_ERR_IO, "npy_load: '%s': cannot seek: %s", path, strerror(errno));
        goto done;
    }
    long fsize = ftell(f);
    uint64_t need = (uint64_t)n * es, have = fsize > here ? (uint64_t)(fsize - here) : 0;
    if (have < need) {
        char s[160];
        ag_error_set(err, AG_ERR_FORMAT,
                     "npy_load: '%s': truncated data: shape %s of %s needs %" PRIu64
                     " bytes, the file holds %" PRIu64,
                     path, ag_shape_str(h.rank, h.shape, s, sizeof s), ag_dtype_name(dtype), need,
                     have);
        goto done;
    }
    if (fseek(f, here, SEEK_SET)) {
        ag_error_set(err, AG_ERR_IO, "npy_load: '%s': cannot seek: %s", path, strerror(errno));
        goto done;
    }
    t = ag_tensor_new(dtype, h.rank, h.shape, err);
    if (!t) goto done;
    if (fread(t->data, 1, need, f) != need) {
        ag_error_set(err, AG_ERR_IO, "npy_load: '%s': read failed: %s", path, strerror(errno));
        ag_tensor_free(t);
        t = NULL;
        goto done;
    }
    if (dtype == AG_BOOL)
        for (int64_t i = 0; i < n; i++)
            AG_U8(t)[i] = AG_U8(t)[i] != 0;
    else if (host_is_big_endian())
        swap_bytes(t->data, n, es);
done:
    free(text);
    fclose(f);
    return t;
}

ag_status ag_npy_save(const char *path, const ag_tensor *t, ag_error *err)
{
    if (!path) return ag_error_set(err, AG_ERR_ARG, "npy_save: path is NULL");
    if (!t) return ag_error_set(err, AG_ERR_ARG, "npy_save: '%s': tensor is NULL", path);
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
        if (descrs[i].dtype == t->dtype) descr = descrs[i].descr;
    if (!descr || t->rank < 0 || t->rank > AG_MAX_RANK)
        return ag_error_set(err, AG_ERR_ARG, "npy_save: '%s': invalid tensor (dtype %d, rank %d)",
                            path, (int)t->dtype, t->rank);
    char header[512];
    int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       descr);
    for (int i = 0; i < t->rank; i++)
        len += snprintf(header + len, sizeof header - (size_t)len, "%s%" PRId64, i ? ", " : "",
                        t->shape[i]);
    len += snprintf(header + len, sizeof header - (size_t)len, "%s), }", t->rank == 1 ? "," : "");
    /* pad with spaces so magic + version + length + header + '\n' is a
     * multiple of ALIGN */
    int total = (MAGIC_LEN + 2 + 2 + len + 1 + ALIGN - 1) / ALIGN * ALIGN;
    int hlen = total - (MAGIC_LEN + 2 + 2);
    memset(header + len, ' ', (size_t)(hlen - 1 - len));
    header[hlen - 1] = '\n';
    uint8_t pre[MAGIC_LEN + 4];
    memcpy(pre, MAGIC, MAGIC_LEN);
    pre[MAGIC_LEN] = 1;
    pre[MAGIC_LEN + 1] = 0;
    pre[MAGIC_LEN + 2] = (uint8_t)(hlen & 0xff);
    pre[MAGIC_LEN + 3] = (uint8_t)(hlen >> 8);
    char *tmp;
    FILE *f = ag_file_create_atomic(path, "npy_save", &tmp, err);
    if (!f) return err ? err->code : AG_ERR_IO;
    size_t es = ag_dtype_size(t->dtype), bytes = (size_t)t->size * es;
    int ok = fwrite(pre, 1, sizeof pre, f) == sizeof pre &&
             fwrite(header, 1, (size_t)hlen, f) == (size_t)hlen;
    if (ok && bytes) {
        if (host_is_big_endian() && es > 1) {
            void *sw = malloc(bytes);
            ok = sw != NULL;
            if (ok) {
                memcpy(sw, t->data, bytes);
                swap_bytes(sw, t->size, es);
                ok = fwrite(sw, 1, bytes, f) == bytes;
                free(sw);
            }
        } else {
            ok = fwrite(t->data, 1, bytes, f) == bytes;
        }
    }
    return ag_file_commit_atomic(f, tmp, path, "npy_save", ok, err);
}
