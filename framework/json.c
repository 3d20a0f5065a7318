/* json.c — a small JSON reader and writer (see json.h). */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 64 };

typedef struct parser {
    const char *s;
    size_t len, pos;
    ag_error *err;
    int failed;
} parser;

static void *perr(parser *p, const char *what)
{
    if (!p->failed) {
        p->failed = 1;
        if (p->pos >= p->len)
            ag_error_set(p->err, AG_ERR_FORMAT, "JSON: at byte %zu: %s, reached the end", p->pos,
                         what);
        else
            ag_error_set(p->err, AG_ERR_FORMAT, "JSON: at byte %zu: %s, found '%c'", p->pos, what,
                         p->s[p->pos] >= 32 && p->s[p->pos] < 127 ? p->s[p->pos] : '?');
    }
    return NULL;
}

static void *poom(parser *p)
{
    if (!p->failed) {
        p->failed = 1;
        ag_error_set(p->err, AG_ERR_NOMEM, "JSON: out of memory at byte %zu", p->pos);
    }
    return NULL;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static ag_json *new_value(parser *p, ag_json_type t)
{
    ag_json *v = calloc(1, sizeof *v);
    if (!v) return poom(p);
    v->type = t;
    return v;
}

static int hex4(parser *p, unsigned *out)
{
    if (p->len - p->pos < 4) return 0;
    unsigned u = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + i];
        u <<= 4;
        if (c >= '0' && c <= '9')
            u |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            u |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            u |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    p->pos += 4;
    *out = u;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 63)),
               o[2] = (char)(0x80 | (cp & 63)), 3;
    return o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 63)),
           o[2] = (char)(0x80 | (cp >> 6 & 63)), o[3] = (char)(0x80 | (cp & 63)), 4;
}

/* At the opening quote; returns a malloc'd NUL-terminated string. */
static char *parse_string(parser *p)
{
    p->pos++; /* " */
    size_t start = p->pos, n = 0;
    /* the decoded string is never longer than the raw text */
    while (p->pos < p->len && p->s[p->pos] != '"') {
        if (p->s[p->pos] == '\\') p->pos++;
        p->pos++;
    }
    if (p->pos >= p->len) return perr(p, "unterminated string");
    size_t end = p->pos;
    char *o = malloc(end - start + 1);
    if (!o) return poom(p);
    p->pos = start;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            free(o);
            return perr(p, "control character in a string");
        }
        if (c != '\\') {
            o[n++] = (char)c;
            p->pos++;
            continue;
        }
        p->pos++;
        char e = p->s[p->pos++];
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!hex4(p, &cp) || cp == 0) {
                free(o);
                return perr(p, "bad \\u escape (\\u0000 is not allowed)");
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (p->pos + 2 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                    (p->pos += 2, !hex4(p, &lo)) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(o);
                    return perr(p, "unpaired UTF-16 surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(o);
                return perr(p, "unpaired UTF-16 surrogate");
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: free(o); return perr(p, "bad escape in a string");
        }
    }
    o[n] = 0;
    p->pos = end + 1;
    return o;
}

static ag_json *parse_value(parser *p, int depth);

static int push(parser *p, ag_json *v, ag_json *item, char *key)
{
    if ((v->n & (v->n - 1)) == 0) { /* grow at powers of two */
        int cap = v->n ? 2 * v->n : 1;
        ag_json **it = realloc(v->item, (size_t)cap * sizeof *it);
        if (!it) return poom(p), 0;
        v->item = it;
        if (v->type == AG_JSON_OBJECT) {
            char **k = realloc(v->key, (size_t)cap * sizeof *k);
            if (!k) return poom(p), 0;
            v->key = k;
        }
    }
    v->item[v->n] = item;
    if (v->type == AG_JSON_OBJECT) v->key[v->n] = key;
    v->n++;
    return 1;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An object whose key appears twice is ambiguous (which value counts?), so
 * it is refused; sorted copies of the keys find a repeat in n log n. */
static int unique_keys(parser *p, const ag_json *v)
{
    if (v->n < 2) return 1;
    char **k = malloc((size_t)v->n * sizeof *k);
    if (!k) return poom(p), 0;
    memcpy(k, v->key, (size_t)v->n * sizeof *k);
    qsort(k, (size_t)v->n, sizeof *k, key_cmp);
    for (int i = 1; i < v->n; i++)
        if (!strcmp(k[i - 1], k[i])) {
            if (!p->failed) {
                char e[80];
                p->failed = 1;
                ag_error_set(p->err, AG_ERR_FORMAT,
                             "JSON: the object ending at byte %zu has the key \"%s\" twice", p->pos,
                             ag_escape(k[i], strlen(k[i]), e, sizeof e));
            }
            free(k);
            return 0;
        }
    free(k);
    return 1;
}

static ag_json *parse_container(parser *p, int depth, int object)
{
    if (depth >= MAX_DEPTH) return perr(p, "nesting deeper than 64 levels");
    ag_json *v = new_value(p, object ? AG_JSON_OBJECT : AG_JSON_ARRAY);
    if (!v) return NULL;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == (object ? '}' : ']')) {
        p->pos++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(p);
        if (object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') goto fail_expect_key;
            key = parse_string(p);
            if (!key) goto fail;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                free(key);
                perr(p, "expected ':'");
                goto fail;
            }
            p->pos++;
        }
        ag_json *item = parse_value(p, depth + 1);
        if (!item || !push(p, v, item, key)) {
            free(key);
            ag_json_free(item);
            goto fail;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == (object ? '}' : ']')) {
            p->pos++;
            if (object && !unique_keys(p, v)) goto fail;
            return v;
        }
        perr(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
        goto fail;
    }
fail_expect_key:
    perr(p, "expected a string key");
fail:
    ag_json_free(v);
    return NULL;
}

static ag_json *parse_number(parser *p)
{
    size_t start = p->pos;
    int integral = 1;
    if (p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') return perr(p, "bad number");
    if (p->s[p->pos] == '0')
        p->pos++;
    else
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integral = 0;
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return perr(p, "bad number");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integral = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
            return perr(p, "bad number");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    char buf[64];
    size_t n = p->pos - start;
    if (n >= sizeof buf) {
        p->pos = start;
        return perr(p, "number too long");
    }
    memcpy(buf, p->s + start, n);
    buf[n] = 0;
    ag_json *v = new_value(p, AG_JSON_NUMBER);
    if (!v) return NULL;
    v->number = strtod(buf, NULL);
    if (integral && n <= 19) { /* at most 18 digits and a sign: fits int64 */
        v->is_int = 1;
        v->integer = strtoll(buf, NULL, 10);
    }
    if (integral && buf[0] != '-' && n <= 20) { /* up to 18446744073709551615 */
        errno = 0;
        unsigned long long u = strtoull(buf, NULL, 10);
        if (errno != ERANGE) v->is_u64 = 1, v->u64 = (uint64_t)u;
    }
    return v;
}

static int match(parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n)) return 0;
    p->pos += n;
    return 1;
}

static ag_json *parse_value(parser *p, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len) return perr(p, "expected a value");
    char c = p->s[p->pos];
    if (c == '{' || c == '[') return parse_container(p, depth, c == '{');
    if (c == '"') {
        char *s = parse_string(p);
        if (!s) return NULL;
        ag_json *v = new_value(p, AG_JSON_STRING);
        if (!v) return free(s), NULL;
        v->string = s;
        return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
    if (match(p, "true") || match(p, "false")) {
        ag_json *v = new_value(p, AG_JSON_BOOL);
        if (v) v->boolean = p->s[p->pos - 1] == 'e' && p->s[p->pos - 2] == 'u';
        return v;
    }
    if (match(p, "null")) return new_value(p, AG_JSON_NULL);
    return perr(p, "expected a value");
}

ag_json *ag_json_parse(const char *text, size_t len, ag_error *err)
{
    if (!text) return ag_error_set(err, AG_ERR_ARG, "JSON: text is NULL"), NULL;
    parser p = {.s = text, .len = len, .err = err};
    ag_json *v = parse_value(&p, 0);
    if (!v) return NULL;
    skip_ws(&p);
    if (p.pos != p.len) {
        perr(&p, "expected the end of the text");
        ag_json_free(v);
        return NULL;
    }
    return v;
}

void ag_json_free(ag_json *v)
{
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        ag_json_free(v->item[i]);
        if (v->key) free(v->key[i]);
    }
    free(v->item);
    free(v->key);
    free(v->string);
    free(v);
}

const ag_json *ag_json_get(const ag_json *v, const char *key)
{
    if (!v || v->type != AG_JSON_OBJECT || !key) return NULL;
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->key[i], key)) return v->item[i];
    return NULL;
}

int ag_json_int(const ag_json *v, int64_t *out)
{
    if (!v || v->type != AG_JSON_NUMBER || !v->is_int) return 0;
    *out = v->integer;
    return 1;
}

int ag_json_u64(const ag_json *v, uint64_t *out)
{
    if (!v || v->type != AG_JSON_NUMBER || !v->is_u64) return 0;
    *out = v->u64;
    return 1;
}

int ag_json_num(const ag_json *v, double *out)
{
    if (!v || v->type != AG_JSON_NUMBER) return 0;
    *out = v->number;
    return 1;
}

int ag_json_bool(const ag_json *v, int *out)
{
    if (!v || v->type != AG_JSON_BOOL) return 0;
    *out = v->boolean;
    return 1;
}

const char *ag_json_str(const ag_json *v)
{
    return v && v->type == AG_JSON_STRING ? v->string : NULL;
}

/* ---- writer ---- */

static int reserve(ag_sbuf *b, size_t extra)
{
    if (b->oom) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) return b->oom = 1, 0;
    b->s = s;
    b->cap = cap;
    return 1;
}

void ag_sb_putn(ag_sbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void ag_sb_puts(ag_sbuf *b, const char *s) { ag_sb_putn(b, s, strlen(s)); }

void ag_sb_printf(ag_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ag_sb_json_str(ag_sbuf *b, const char *s)
{
    ag_sb_putn(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': ag_sb_putn(b, "\\\"", 2); break;
        case '\\': ag_sb_putn(b, "\\\\", 2); break;
        case '\n': ag_sb_putn(b, "\\n", 2); break;
        case '\r': ag_sb_putn(b, "\\r", 2); break;
        case '\t': ag_sb_putn(b, "\\t", 2); break;
        default:
            if (*c < 0x20)
                ag_sb_printf(b, "\\u%04x", *c);
            else
                ag_sb_putn(b, (const char *)c, 1);
        }
    }
    ag_sb_putn(b, "\"", 1);
}

void ag_sb_json_num(ag_sbuf *b, double v)
{
    if (!isfinite(v)) {
        ag_sb_puts(b, "null");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        ag_sb_printf(b, "%.1f", v);
        return;
    }
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) { /* shortest that reads back exactly */
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    ag_sb_puts(b, buf);
}

char *ag_sb_take(ag_sbuf *b)
{
    if (b->oom || !reserve(b, 0)) {
        ag_sb_release(b);
        return NULL;
    }
    char *s = b->s;
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void ag_sb_release(ag_sbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
