/* safetensors.c — the safetensors file format, read and written.
 *
 *   bytes 0..7   N, the header's length, uint64 little-endian
 *   bytes 8..8+N the header: a JSON object
 *                  {"__metadata__": {string: string, ...},
 *                   name: {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
 *   the rest     the tensors' bytes, little-endian, C order; tensor `name`
 *                occupies [b, e) of this buffer, which its tensors cover
 *                exactly, without holes or overlaps.
 *
 * Every tensor's CRC-32 (zlib's) is recorded in __metadata__ as
 * "crc32/<name>": "89abcdef"; reading verifies each one present and names a
 * damaged tensor (files from other tools, without them, still load). A key
 * given twice anywhere in the header is refused: which copy would count?
 *
 * Writing goes to <path>.tmp.XXXXXX in the same directory, then fflush,
 * fsync, rename over path, and fsync of the directory: a crash during a save
 * leaves either the old file or the new one. Reading checks everything
 * before trusting it, and refuses a bad file with the reason.
 */
#include "internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* The header may not be larger than this (the reference reader's limit). */
#define MAX_HEADER ((uint64_t)100 << 20)
/* __metadata__ keys of the checksums: CRC_PREFIX + the tensor's name. */
#define CRC_PREFIX "crc32/"
enum { CRC_PREFIX_LEN = 6 };

struct ag_safetensors {
    int n;
    char **name;
    ag_tensor *tensor; /* views into data */
    int n_meta;
    char **meta_key, **meta_value;
    unsigned char *data;
    void **copies; /* aligned copies of tensors whose offset is not a multiple of their size */
    int n_copies;
};

static const struct {
    const char *code;
    ag_dtype dtype;
} dtypes[] = {
    {"F32", AG_FLOAT32}, {"F64", AG_FLOAT64}, {"I32", AG_INT32},
    {"I64", AG_INT64},   {"BOOL", AG_BOOL},
};

static const char *dtype_code(ag_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == t) return dtypes[i].code;
    return NULL;
}

static int little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* ---- writing ---- */

/* Writes all of buf, or fails. */
static int write_all(FILE *f, const void *buf, size_t n) { return fwrite(buf, 1, n, f) == n; }

ag_status ag_safetensors_save(const char *path, const char *const *names,
                              const ag_tensor *const *tensors, int n, const char *const *meta_keys,
                              const char *const *meta_values, int n_meta, ag_error *err)
{
    if (!path || !*path) return ag_error_set(err, AG_ERR_ARG, "safetensors save: path is empty");
    if (n < 0 || (n > 0 && (!names || !tensors)))
        return ag_error_set(err, AG_ERR_ARG, "safetensors save: %d tensors but no names/tensors",
                            n);
    if (n_meta < 0 || (n_meta > 0 && (!meta_keys || !meta_values)))
        return ag_error_set(err, AG_ERR_ARG,
                            "safetensors save: %d metadata entries but no "
                            "keys/values",
                            n_meta);
    if (!little_endian())
        return ag_error_set(err, AG_ERR_ARG,
                            "safetensors save: big-endian hosts are not "
                            "supported");
    for (int i = 0; i < n_meta; i++)
        if (meta_keys && meta_keys[i] && !strncmp(meta_keys[i], CRC_PREFIX, CRC_PREFIX_LEN))
            return ag_error_set(err, AG_ERR_ARG,
                                "safetensors save: metadata key \"%s\" is reserved (\"" CRC_PREFIX
                                "<name>\" holds a tensor's checksum)",
                                meta_keys[i]);
    for (int i = 0; i < n; i++) {
        if (!names[i] || !*names[i] || !tensors[i] || !strcmp(names[i], "__metadata__"))
            return ag_error_set(err, AG_ERR_ARG, "safetensors save: tensor %d has %s", i,
                                !tensors[i] ? "no tensor" : "an empty or reserved name");
        if (!dtype_code(tensors[i]->dtype))
            return ag_error_set(err, AG_ERR_DTYPE, "safetensors save: tensor '%s' has dtype %s",
                                names[i], ag_dtype_name(tensors[i]->dtype));
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                return ag_error_set(err, AG_ERR_ARG,
                                    "safetensors save: tensor name '%s' is used twice", names[i]);
    }
    /* the header */
    ag_sbuf h = {0};
    ag_sb_puts(&h, "{");
    if (n_meta > 0 || n > 0) {
        ag_sb_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (!meta_keys[i] || !meta_values[i]) {
                ag_sb_release(&h);
                return ag_error_set(err, AG_ERR_ARG, "safetensors save: metadata entry %d is NULL",
                                    i);
            }
            for (int j = 0; j < i; j++)
                if (!strcmp(meta_keys[i], meta_keys[j])) {
                    ag_sb_release(&h);
                    return ag_error_set(err, AG_ERR_ARG,
                                        "safetensors save: metadata key '%s' is used twice",
                                        meta_keys[i]);
                }
            if (i) ag_sb_puts(&h, ",");
            ag_sb_json_str(&h, meta_keys[i]);
            ag_sb_puts(&h, ":");
            ag_sb_json_str(&h, meta_values[i]);
        }
        for (int i = 0; i < n; i++) {
            const ag_tensor *t = tensors[i];
            uint32_t crc = ag_crc32(0, t->data, (size_t)t->size * ag_dtype_size(t->dtype));
            if (i || n_meta > 0) ag_sb_puts(&h, ",");
            size_t kl = strlen(names[i]) + CRC_PREFIX_LEN + 1;
            char *key = malloc(kl);
            if (!key) {
                h.oom = 1;
                break;
            }
            snprintf(key, kl, CRC_PREFIX "%s", names[i]);
            ag_sb_json_str(&h, key);
            free(key);
            ag_sb_printf(&h, ":\"%08" PRIx32 "\"", crc);
        }
        ag_sb_puts(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const ag_tensor *t = tensors[i];
        uint64_t bytes = (uint64_t)t->size * ag_dtype_size(t->dtype);
        ag_sb_puts(&h, ",");
        ag_sb_json_str(&h, names[i]);
        ag_sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_code(t->dtype));
        for (int d = 0; d < t->rank; d++)
            ag_sb_printf(&h, "%s%" PRId64, d ? "," : "", t->shape[d]);
        ag_sb_printf(&h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + bytes);
        off += bytes;
    }
    ag_sb_puts(&h, "}");
    while (h.len % 8)
        ag_sb_puts(&h, " "); /* align the data to 8 bytes */
    if (h.oom) {
        ag_sb_release(&h);
        return ag_error_set(err, AG_ERR_NOMEM, "safetensors save: out of memory");
    }
    char *tmp;
    FILE *f = ag_file_create_atomic(path, "safetensors save", &tmp, err);
    if (!f) {
        ag_sb_release(&h);
        return err ? err->code : AG_ERR_IO;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    int ok = write_all(f, len8, 8) && write_all(f, h.s, h.len);
    for (int i = 0; ok && i < n; i++)
        ok = write_all(f, tensors[i]->data,
                       (size_t)tensors[i]->size * ag_dtype_size(tensors[i]->dtype));
    ag_sb_release(&h);
    return ag_file_commit_atomic(f, tmp, path, "safetensors save", ok, err);
}

/* ---- reading ---- */

void ag_safetensors_close(ag_safetensors *st)
{
    if (!st) return;
    for (int i = 0; i < st->n; i++)
        free(st->name[i]);
    for (int i = 0; i < st->n_meta; i++)
        free(st->meta_key[i]), free(st->meta_value[i]);
    free(st->name);
    free(st->tensor);
    free(st->meta_key);
    free(st->meta_value);
    for (int i = 0; i < st->n_copies; i++)
        free(st->copies[i]);
    free(st->copies);
    free(st->data);
    free(st);
}

typedef struct span {
    uint64_t b, e;
    int i;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e > y->e) - (x->e < y->e);
}

/* A tensor's name and index, sorted by name to find checksums' tensors. */
typedef struct named {
    const char *name;
    int i;
} named;
static int named_cmp(const void *a, const void *b)
{
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Fills st's tensors from the parsed header; data_len bytes of data. */
static ag_status read_header(ag_safetensors *st, const ag_json *h, uint64_t data_len,
                             const char *path, ag_error *err)
{
    const char **crc_key = NULL; /* the "crc32/<name>" entries: name, CRC */
    uint32_t *crc = NULL;
    int n_crc = 0;
    if (h->type != AG_JSON_OBJECT)
        return ag_error_set(err, AG_ERR_FORMAT, "safetensors %s: the header is not a JSON object",
                            path);
    int n = 0;
    for (int i = 0; i < h->n; i++)
        n += strcmp(h->key[i], "__metadata__") != 0;
    st->name = calloc((size_t)n + 1, sizeof *st->name);
    st->copies = calloc((size_t)n + 1, sizeof *st->copies);
    st->tensor = calloc((size_t)n + 1, sizeof *st->tensor);
    span *sp = calloc((size_t)n + 1, sizeof *sp);
    if (!st->name || !st->tensor || !sp || !st->copies) {
        free(sp);
        return ag_error_set(err, AG_ERR_NOMEM, "safetensors %s: out of memory", path);
    }
    ag_status st_code = AG_OK;
    for (int i = 0; i < h->n && !st_code; i++) {
        const char *key = h->key[i];
        const ag_json *v = h->item[i];
        char ek[96];
        ag_escape(key, strlen(key), ek, sizeof ek);
        if (!strcmp(key, "__metadata__")) {
            if (st->meta_key) { /* the JSON reader refuses repeated keys; be sure */
                st_code = ag_error_set(err, AG_ERR_FORMAT,
                                       "safetensors %s: the header has two __metadata__", path);
                break;
            }
            if (v->type != AG_JSON_OBJECT) {
                st_code = ag_error_set(err, AG_ERR_FORMAT,
                                       "safetensors %s: __metadata__ is not an object", path);
                break;
            }
            st->meta_key = calloc((size_t)v->n + 1, sizeof *st->meta_key);
            st->meta_value = calloc((size_t)v->n + 1, sizeof *st->meta_value);
            crc_key = calloc((size_t)v->n + 1, sizeof *crc_key);
            crc = calloc((size_t)v->n + 1, sizeof *crc);
            if (!st->meta_key || !st->meta_value || !crc_key || !crc) {
                st_code = ag_error_set(err, AG_ERR_NOMEM, "safetensors %s: out of memory", path);
                break;
            }
            for (int j = 0; j < v->n; j++) {
                char e[96];
                if (v->item[j]->type != AG_JSON_STRING) {
                    st_code =
                        ag_error_set(err, AG_ERR_FORMAT,
                                     "safetensors %s: __metadata__ entry '%s' is not a "
                                     "string",
                                     path, ag_escape(v->key[j], strlen(v->key[j]), e, sizeof e));
                    break;
                }
                if (!strncmp(v->key[j], CRC_PREFIX, CRC_PREFIX_LEN)) {
                    const char *x = v->item[j]->string;
                    char *end;
                    unsigned long c = strtoul(x, &end, 16);
                    if (strlen(x) != 8 || *end || x[0] == '-' || x[0] == '+' || x[0] == ' ') {
                        st_code =
                            ag_error_set(err, AG_ERR_FORMAT,
                                         "safetensors %s: __metadata__ entry '%s' must be "
                                         "8 hexadecimal digits (a CRC-32), received \"%s\"",
                                         path, ag_escape(v->key[j], strlen(v->key[j]), e, sizeof e),
                                         ag_escape(x, strlen(x), ek, sizeof ek));
                        break;
                    }
                    crc_key[n_crc] = v->key[j] + CRC_PREFIX_LEN;
                    crc[n_crc++] = (uint32_t)c;
                    continue;
                }
                int k = st->n_meta;
                st->meta_key[k] = strdup(v->key[j]);
                st->meta_value[k] = strdup(v->item[j]->string);
                st->n_meta = k + 1;
                if (!st->meta_key[k] || !st->meta_value[k]) {
                    st_code =
                        ag_error_set(err, AG_ERR_NOMEM, "safetensors %s: out of memory", path);
                    break;
                }
            }
            continue;
        }
        const char *code = ag_json_str(ag_json_get(v, "dtype"));
        char ecode[32];
        const ag_json *shape = ag_json_get(v, "shape"), *offs = ag_json_get(v, "data_offsets");
        int d = -1;
        for (size_t k = 0; code && k < sizeof dtypes / sizeof dtypes[0]; k++)
            if (!strcmp(code, dtypes[k].code)) d = (int)k;
        if (d < 0) {
            st_code = ag_error_set(
                err, AG_ERR_FORMAT,
                "safetensors %s: tensor '%s': dtype must be one of F32, F64, "
                "I32, I64, BOOL, received %s",
                path, ek, code ? ag_escape(code, strlen(code), ecode, sizeof ecode) : "(none)");
            break;
        }
        if (!shape || shape->type != AG_JSON_ARRAY || shape->n > AG_MAX_RANK) {
            st_code = ag_error_set(err, AG_ERR_FORMAT,
                                   "safetensors %s: tensor '%s': shape must be a list of at most "
                                   "%d sizes",
                                   path, ek, AG_MAX_RANK);
            break;
        }
        ag_tensor *t = &st->tensor[st->n];
        t->dtype = dtypes[d].dtype;
        t->rank = shape->n;
        uint64_t size = 1;
        for (int k = 0; k < shape->n; k++) {
            int64_t dim;
            if (!ag_json_int(shape->item[k], &dim) || dim < 0 || (uint64_t)dim > data_len) {
                st_code = ag_error_set(err, AG_ERR_FORMAT,
                                       "safetensors %s: tensor '%s': dimension %d is not a size "
                                       "that fits the file",
                                       path, ek, k);
                break;
            }
            t->shape[k] = dim;
            size = dim == 0 ? 0 : size;
            if (size && (uint64_t)dim > data_len / size + 1)
                size = data_len + 1;
            else
                size *= (uint64_t)dim;
        }
        if (st_code) break;
        int64_t b, e;
        if (!offs || offs->type != AG_JSON_ARRAY || offs->n != 2 ||
            !ag_json_int(offs->item[0], &b) || !ag_json_int(offs->item[1], &e) || b < 0 || e < b ||
            (uint64_t)e > data_len) {
            st_code = ag_error_set(err, AG_ERR_FORMAT,
                                   "safetensors %s: tensor '%s': data_offsets must be [begin, end] "
                                   "inside the %" PRIu64 " data bytes",
                                   path, ek, data_len);
            break;
        }
        uint64_t want = size * ag_dtype_size(t->dtype);
        if (size > data_len || (uint64_t)(e - b) != want) {
            char buf[96];
            st_code = ag_error_set(err, AG_ERR_FORMAT,
                                   "safetensors %s: tensor '%s': %s %s needs %" PRIu64
                                   " bytes, data_offsets give %" PRId64,
                                   path, ek, code, ag_shape_str(t->rank, t->shape, buf, sizeof buf),
                                   want, e - b);
            break;
        }
        t->size = (int64_t)size;
        sp[st->n] = (span){(uint64_t)b, (uint64_t)e, st->n};
        st->name[st->n] = strdup(key);
        if (!st->name[st->n]) {
            st_code = ag_error_set(err, AG_ERR_NOMEM, "safetensors %s: out of memory", path);
            break;
        }
        st->n++;
    }
    if (!st_code) {
        /* the tensors must tile the data buffer: no holes, no overlaps */
        qsort(sp, (size_t)st->n, sizeof *sp, span_cmp);
        uint64_t at = 0;
        for (int i = 0; i < st->n && !st_code; i++) {
            if (sp[i].b != at)
                st_code = ag_error_set(err, AG_ERR_FORMAT,
                                       "safetensors %s: tensor '%s' starts at data byte %" PRIu64
                                       ", expected %" PRIu64 " (tensors overlap or leave a hole)",
                                       path, st->name[sp[i].i], sp[i].b, at);
            at = sp[i].e;
        }
        if (!st_code && at != data_len)
            st_code = ag_error_set(err, AG_ERR_FORMAT,
                                   "safetensors %s: the tensors cover %" PRIu64
                                   " data bytes, the file has %" PRIu64,
                                   path, at, data_len);
        for (int i = 0; i < st->n && !st_code; i++) {
            ag_tensor *t = &st->tensor[sp[i].i];
            size_t es = ag_dtype_size(t->dtype), bytes = (size_t)(sp[i].e - sp[i].b);
            t->data = st->data + sp[i].b;
            t->capacity = 0;    /* a view: never freed or grown */
            if (sp[i].b % es) { /* a misaligned tensor (after a BOOL, say) gets a copy */
                void *c = aligned_alloc(64, (bytes + 64) / 64 * 64);
                if (!c) {
                    st_code =
                        ag_error_set(err, AG_ERR_NOMEM, "safetensors %s: out of memory", path);
                    break;
                }
                memcpy(c, t->data, bytes);
                t->data = st->copies[st->n_copies++] = c;
            }
        }
    }
    /* the checksums: each names a tensor of the file, and matches its bytes */
    named *by_name = n_crc && !st_code ? malloc(((size_t)st->n + 1) * sizeof *by_name) : NULL;
    if (n_crc && !st_code && !by_name)
        st_code = ag_error_set(err, AG_ERR_NOMEM, "safetensors %s: out of memory", path);
    for (int i = 0; by_name && i < st->n; i++)
        by_name[i] = (named){st->name[i], i};
    if (by_name) qsort(by_name, (size_t)st->n, sizeof *by_name, named_cmp);
    for (int c = 0; c < n_crc && !st_code; c++) {
        named want = {crc_key[c], 0};
        const named *hit =
            st->n ? bsearch(&want, by_name, (size_t)st->n, sizeof *by_name, named_cmp) : NULL;
        int i = hit ? hit->i : st->n;
        char e[96];
        ag_escape(crc_key[c], strlen(crc_key[c]), e, sizeof e);
        if (i == st->n) {
            st_code = ag_error_set(err, AG_ERR_FORMAT,
                                   "safetensors %s: __metadata__ has a checksum of a tensor '%s' "
                                   "that the file does not hold",
                                   path, e);
            break;
        }
        const ag_tensor *t = &st->tensor[i];
        uint32_t got = ag_crc32(0, t->data, (size_t)t->size * ag_dtype_size(t->dtype));
        if (got != crc[c])
            st_code = ag_error_set(err, AG_ERR_FORMAT,
                                   "safetensors %s: tensor '%s' is damaged: its bytes have CRC-32 "
                                   "%08" PRIx32 ", the file recorded %08" PRIx32,
                                   path, e, got, crc[c]);
    }
    free(sp);
    free(by_name);
    free(crc_key);
    free(crc);
    return st_code;
}

ag_safetensors *ag_safetensors_open(const char *path, ag_error *err)
{
    if (!path) return ag_error_set(err, AG_ERR_ARG, "safetensors open: path is NULL"), NULL;
    if (!little_endian())
        return ag_error_set(err, AG_ERR_ARG,
                            "safetensors open: big-endian hosts are not "
                            "supported"),
               NULL;
    uint64_t file_len = 0;
    FILE *f = ag_file_open_read(path, "safetensors", &file_len, err);
    if (!f) return NULL;
    ag_safetensors *st = NULL;
    char *header = NULL;
    ag_json *h = NULL;
    unsigned char len8[8];
    if (file_len < 8 || fread(len8, 1, 8, f) != 8) {
        ag_error_set(err, AG_ERR_FORMAT,
                     "safetensors %s: the file has %" PRIu64 " bytes, too short for the 8-byte "
                     "header length",
                     path, file_len);
        goto out;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)len8[i] << (8 * i);
    if (hlen < 2 || hlen > MAX_HEADER || hlen > file_len - 8) {
        ag_error_set(err, AG_ERR_FORMAT,
                     "safetensors %s: header length %" PRIu64 " does not fit: the file has %" PRIu64
                     " bytes after the length (and the limit is %" PRIu64 ")",
                     path, hlen, file_len - 8, MAX_HEADER);
        goto out;
    }
    uint64_t data_len = file_len - 8 - hlen;
    if (data_len > ag_memory_limit()) {
        ag_error_set(err, AG_ERR_NOMEM,
                     "safetensors %s: %" PRIu64
                     " bytes of tensors exceed the memory limit of %" PRIu64
                     " bytes (ag_set_memory_limit)",
                     path, data_len, ag_memory_limit());
        goto out;
    }
    header = malloc((size_t)hlen);
    st = calloc(1, sizeof *st);
    if (st) st->data = malloc((size_t)data_len + 1);
    if (!header || !st || !st->data) {
        ag_error_set(err, AG_ERR_NOMEM, "safetensors %s: out of memory", path);
        goto fail;
    }
    if (fread(header, 1, (size_t)hlen, f) != hlen ||
        fread(st->data, 1, (size_t)data_len, f) != data_len) {
        ag_error_set(err, AG_ERR_IO,
                     "safetensors %s: the file ended early (was it truncated "
                     "while being read?)",
                     path);
        goto fail;
    }
    if (header[0] != '{') {
        ag_error_set(err, AG_ERR_FORMAT, "safetensors %s: the header does not start with '{'",
                     path);
        goto fail;
    }
    ag_error je = {0};
    h = ag_json_parse(header, (size_t)hlen, &je);
    if (!h) {
        ag_error_set(err, je.code, "safetensors %s: bad header: %s", path, je.msg);
        goto fail;
    }
    if (read_header(st, h, data_len, path, err)) goto fail;
    goto out;
fail:
    ag_safetensors_close(st);
    st = NULL;
out:
    ag_json_free(h);
    free(header);
    fclose(f);
    return st;
}

int ag_safetensors_count(const ag_safetensors *st) { return st ? st->n : 0; }

const char *ag_safetensors_name(const ag_safetensors *st, int i)
{
    return st && i >= 0 && i < st->n ? st->name[i] : NULL;
}

const ag_tensor *ag_safetensors_get(const ag_safetensors *st, const char *name)
{
    for (int i = 0; st && name && i < st->n; i++)
        if (!strcmp(st->name[i], name)) return &st->tensor[i];
    return NULL;
}

const char *ag_safetensors_metadata(const ag_safetensors *st, const char *key)
{
    for (int i = 0; st && key && i < st->n_meta; i++)
        if (!strcmp(st->meta_key[i], key)) return st->meta_value[i];
    return NULL;
}

int ag_safetensors_metadata_count(const ag_safetensors *st) { return st ? st->n_meta : 0; }

const char *ag_safetensors_metadata_key(const ag_safetensors *st, int i)
{
    return st && i >= 0 && i < st->n_meta ? st->meta_key[i] : NULL;
}
