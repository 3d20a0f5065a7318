/*
 * json.h — a small JSON reader and writer for model configs and the
 * safetensors header; not part of the public API.
 *
 * The parser reads RFC 8259 JSON into a tree (objects keep their key order),
 * refuses anything else with the byte offset of the problem — an object
 * with a key given twice included, since which value counts is ambiguous
 * (and readers disagree) — and limits
 * nesting so that a corrupted file cannot exhaust the stack. The writer
 * appends to a growable buffer that remembers running out of memory.
 */
#ifndef ATTOGRAD_JSON_H
#define ATTOGRAD_JSON_H

#include "../attograd.h"

typedef enum ag_json_type {
    AG_JSON_NULL,
    AG_JSON_BOOL,
    AG_JSON_NUMBER,
    AG_JSON_STRING,
    AG_JSON_ARRAY,
    AG_JSON_OBJECT
} ag_json_type;

typedef struct ag_json ag_json;
struct ag_json {
    ag_json_type type;
    int boolean;
    double number;
    int is_int; /* the number was written as an integer that fits int64 */
    int64_t integer;
    int is_u64; /* ... as a non-negative integer that fits uint64 */
    uint64_t u64;
    char *string; /* NUL-terminated; strings with a \u0000 are refused */
    int n;        /* array items or object members */
    ag_json **item;
    char **key; /* objects only */
};

/* Parses text[0..len); NULL with err set ("JSON: at byte 17: expected ':'"). */
ag_json *ag_json_parse(const char *text, size_t len, ag_error *err);
void ag_json_free(ag_json *v);
/* Member of an object (NULL when absent or v is not an object). */
const ag_json *ag_json_get(const ag_json *v, const char *key);
/* Typed readers: 1 when v has that type, the value in *out. */
int ag_json_int(const ag_json *v, int64_t *out);
int ag_json_u64(const ag_json *v, uint64_t *out); /* a non-negative integer */
int ag_json_num(const ag_json *v, double *out);
int ag_json_bool(const ag_json *v, int *out);
const char *ag_json_str(const ag_json *v); /* NULL when not a string */

/* ---- writer ---- */
typedef struct ag_sbuf {
    char *s;
    size_t len, cap;
    int oom; /* an append failed: s holds a prefix */
} ag_sbuf;

void ag_sb_putn(ag_sbuf *b, const char *s, size_t n);
void ag_sb_puts(ag_sbuf *b, const char *s);
void ag_sb_printf(ag_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A JSON string literal, escaped. */
void ag_sb_json_str(ag_sbuf *b, const char *s);
/* A number that reads back to the same double (finite only; others: null). */
void ag_sb_json_num(ag_sbuf *b, double v);
/* Takes the text (NUL-terminated) out of b; NULL after an out-of-memory. */
char *ag_sb_take(ag_sbuf *b);
void ag_sb_release(ag_sbuf *b);

#endif
