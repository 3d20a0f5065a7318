/* tsv.c — text pairs: text_a<TAB>text_b<TAB>label, one per line.
 *
 * The format of the Bible pairs and of a user's own (Quora-, MRPC-style)
 * data. The loader checks every row and names the file and line of the first
 * bad one: exactly 3 tab-separated fields, both texts non-empty (after
 * trimming spaces), label 0 or 1 (written "0", "1", "0.0" or "1.0").
 * Line endings may be LF or CRLF; a UTF-8 byte-order mark is skipped; the
 * last line may lack its newline. A file without any pair is refused, and
 * so is anything but a regular file (without blocking on a FIFO). Saving
 * writes a temporary file and renames it over the path: a full disk leaves
 * the old file, never a truncated one.
 */
#include "app.h"

#include <inttypes.h>
#include <stdlib.h>

ag_pairs *ag_pairs_new(void) { return calloc(1, sizeof(ag_pairs)); }

void ag_pairs_free(ag_pairs *p)
{
    if (!p) return;
    for (int64_t i = 0; i < p->n; i++)
        free(p->a[i]), free(p->b[i]);
    free(p->a);
    free(p->b);
    free(p->label);
    free(p);
}

ag_status ag_pairs_add(ag_pairs *p, const char *a, const char *b, float label, ag_error *err)
{
    if (!p || !a || !b)
        return ag_error_set(err, AG_ERR_ARG, "ag_pairs_add: %s is NULL",
                            !p   ? "pairs"
                            : !a ? "text_a"
                                 : "text_b");
    if (p->n == p->cap) {
        int64_t cap = p->cap ? p->cap * 2 : 1024;
        char **na = realloc(p->a, (size_t)cap * sizeof *na);
        if (na) p->a = na;
        char **nb = realloc(p->b, (size_t)cap * sizeof *nb);
        if (nb) p->b = nb;
        float *nl = realloc(p->label, (size_t)cap * sizeof *nl);
        if (nl) p->label = nl;
        if (!na || !nb || !nl)
            return ag_error_set(err, AG_ERR_NOMEM,
                                "ag_pairs_add: out of memory at %" PRId64 " pairs", p->n);
        p->cap = cap;
    }
    char *sa = strdup(a), *sb = strdup(b);
    if (!sa || !sb) {
        free(sa), free(sb);
        return ag_error_set(err, AG_ERR_NOMEM, "ag_pairs_add: out of memory at %" PRId64 " pairs",
                            p->n);
    }
    p->a[p->n] = sa, p->b[p->n] = sb, p->label[p->n] = label;
    p->n++;
    return AG_OK;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\v' && *s != '\f') return 0;
    return 1;
}

ag_pairs *ag_pairs_load(const char *path, ag_error *err)
{
    if (!path) {
        ag_error_set(err, AG_ERR_ARG, "ag_pairs_load: path is NULL");
        return NULL;
    }
    size_t len = 0;
    char *buf = ag_file_read(path, &len, err);
    if (!buf) return NULL;
    ag_pairs *p = ag_pairs_new();
    if (!p) {
        free(buf);
        ag_error_set(err, AG_ERR_NOMEM, "ag_pairs_load: out of memory");
        return NULL;
    }
    char *line = buf, *end = buf + len;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) line += 3;
    for (int64_t ln = 1; line < end; ln++) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *next = nl ? nl + 1 : end;
        char *stop = nl ? nl : end;
        if (stop > line && stop[-1] == '\r') stop--;
        *stop = 0;
        if (strlen(line) != (size_t)(stop - line)) {
            ag_error_set(err, AG_ERR_FORMAT, "%s:%" PRId64 ": contains a NUL byte", path, ln);
            goto fail;
        }
        char *f[3];
        int nf = 1;
        f[0] = line;
        for (char *c = line; *c; c++)
            if (*c == '\t') {
                if (nf < 3) f[nf] = c + 1;
                nf++;
                *c = 0;
            }
        if (nf != 3) {
            ag_error_set(err, AG_ERR_FORMAT,
                         "%s:%" PRId64 ": expected 3 tab-separated fields, found %d", path, ln, nf);
            goto fail;
        }
        if (blank(f[0]) || blank(f[1])) {
            ag_error_set(err, AG_ERR_FORMAT, "%s:%" PRId64 ": %s is empty", path, ln,
                         blank(f[0]) ? "text_a (field 1)" : "text_b (field 2)");
            goto fail;
        }
        const char *l = f[2];
        float label;
        if (!strcmp(l, "0") || !strcmp(l, "0.0"))
            label = 0;
        else if (!strcmp(l, "1") || !strcmp(l, "1.0"))
            label = 1;
        else {
            char e[64];
            size_t n = strlen(l);
            ag_error_set(err, AG_ERR_FORMAT,
                         "%s:%" PRId64 ": label (field 3) must be 0 or 1, found \"%s\"%s", path, ln,
                         ag_escape(l, n < 40 ? n : 40, e, sizeof e), n > 40 ? "..." : "");
            goto fail;
        }
        if (ag_pairs_add(p, f[0], f[1], label, err)) goto fail;
        line = next;
    }
    free(buf);
    if (p->n == 0) {
        ag_pairs_free(p);
        ag_error_set(err, AG_ERR_FORMAT,
                     "%s: no pairs (expected lines text_a<TAB>text_b<TAB>label)", path);
        return NULL;
    }
    return p;
fail:
    free(buf);
    ag_pairs_free(p);
    return NULL;
}

/* Writes s with tabs and line breaks turned into spaces, so a row stays a row. */
static void put_text(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

ag_status ag_pairs_save(const ag_pairs *p, const char *path, ag_error *err)
{
    if (!p || !path)
        return ag_error_set(err, AG_ERR_ARG, "ag_pairs_save: %s is NULL", !p ? "pairs" : "path");
    char *tmp;
    FILE *f = ag_file_create_atomic(path, "ag_pairs_save", &tmp, err);
    if (!f) return err ? err->code : AG_ERR_IO;
    int ok = 1;
    for (int64_t i = 0; i < p->n && ok; i++) {
        put_text(f, p->a[i]);
        fputc('\t', f);
        put_text(f, p->b[i]);
        ok = fprintf(f, "\t%d\n", p->label[i] > 0.5f) > 0;
    }
    ok = ok && !ferror(f);
    return ag_file_commit_atomic(f, tmp, path, "ag_pairs_save", ok, err);
}
