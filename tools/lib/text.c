/* text.c — text to token ids, as Keras's TextVectorization does by default
 * (standardize="lower_and_strip_punctuation", split="whitespace",
 * output_mode="int"), and the batches a text-pair model eats.
 *
 *   standardize: lowercase; delete every character of Keras's default strip
 *                set  !"#$%&()*+,-./:;<=>?@[\]^_`{|}~'  and the Spanish
 *                marks ¿ ¡ « » (Keras's set is ASCII only and would keep
 *                "¿quién" apart from "quién"; curly quotes, dashes and
 *                other non-ASCII marks stay, as in Keras)
 *   split:       on ASCII whitespace (space, \t, \n, \v, \f, \r)
 *   vocabulary:  id 0 = padding "", id 1 = out-of-vocabulary "[UNK]", then the
 *                most frequent training tokens, at most max_tokens - 2 of
 *                them; equal counts are ordered by first occurrence in the
 *                texts as given (for pairs: text_a then text_b, row by row)
 *   encode:      token -> id, unknown -> 1; a text with no token at all
 *                encodes as one [UNK] (id 1), never as nothing, so that
 *                its mask (id != 0) is never all false.
 *
 * Punctuation is deleted before splitting, as Keras does: "well-known" is
 * one token "wellknown", "a - b" is two. Every other character, accented
 * letters included (á é í ó ú ñ ü, â î ê ô û), is part of a word.
 * Lowercasing covers ASCII, Latin-1, Latin Extended-A, basic Greek and
 * Cyrillic capitals (the ones whose lowercase has the same UTF-8 length);
 * other bytes pass unchanged.
 */
#include "app.h"

#include <inttypes.h>
#include <stdlib.h>

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_punct(unsigned char c)
{
    return c && c < 0x80 && strchr("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'", c) != NULL;
}

/* The Spanish marks ¿ ¡ « » (U+00BF, U+00A1, U+00AB, U+00BB): bytes C2 xx. */
static int is_spanish_punct(const unsigned char *p)
{
    return p[0] == 0xC2 && (p[1] == 0xBF || p[1] == 0xA1 || p[1] == 0xAB || p[1] == 0xBB);
}

/* Lowercase of a code point below U+0800 whose lowercase is also below U+0800
 * and a single code point; anything else is returned unchanged. */
static uint32_t lower_cp(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 0x20;
    if (cp >= 0x100 && cp <= 0x137 && cp != 0x130) return cp | 1;
    if (cp >= 0x139 && cp <= 0x148) return (cp & 1) ? cp + 1 : cp;
    if (cp >= 0x14A && cp <= 0x177) return cp | 1;
    if (cp == 0x178) return 0xFF;
    if (cp >= 0x179 && cp <= 0x17E) return (cp & 1) ? cp + 1 : cp;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 0x20;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 0x20;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
    return cp;
}

/* Standardizes and splits text into out, which must hold strlen(text) + 1
 * bytes: each token is written NUL-terminated, one after the other. The
 * first cap token starts go to tok (when not NULL). Returns the count. */
static int64_t split_tokens(const char *text, char *out, const char **tok, int64_t cap)
{
    const unsigned char *p = (const unsigned char *)text;
    char *w = out;
    int64_t n = 0;
    int in_tok = 0;
    while (*p) {
        unsigned char c = *p;
        if (is_space(c)) {
            if (in_tok) *w++ = 0, in_tok = 0;
            p++;
            continue;
        }
        if (is_punct(c)) {
            p++;
            continue;
        }
        if (is_spanish_punct(p)) {
            p += 2;
            continue;
        }
        if (!in_tok) {
            if (tok && n < cap) tok[n] = w;
            n++, in_tok = 1;
        }
        if (c >= 0xC2 && c <= 0xDF && (p[1] & 0xC0) == 0x80) {
            uint32_t cp = lower_cp(((uint32_t)(c & 0x1F) << 6) | (p[1] & 0x3F));
            *w++ = (char)(0xC0 | (cp >> 6));
            *w++ = (char)(0x80 | (cp & 0x3F));
            p += 2;
        } else {
            *w++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            p++;
        }
    }
    if (in_tok) *w = 0;
    return n;
}

char **ag_tokenize(const char *text, int64_t *n_tokens, ag_error *err)
{
    if (n_tokens) *n_tokens = 0;
    if (!text) {
        ag_error_set(err, AG_ERR_ARG, "ag_tokenize: text is NULL");
        return NULL;
    }
    size_t len = strlen(text);
    char *tmp = malloc(len + 1);
    if (!tmp) {
        ag_error_set(err, AG_ERR_NOMEM, "ag_tokenize: cannot allocate %zu bytes", len + 1);
        return NULL;
    }
    int64_t n = split_tokens(text, tmp, NULL, 0);
    size_t head = (size_t)(n + 1) * sizeof(char *);
    char **out = malloc(head + len + 1);
    if (!out) {
        free(tmp);
        ag_error_set(err, AG_ERR_NOMEM, "ag_tokenize: cannot allocate %zu bytes", head + len + 1);
        return NULL;
    }
    split_tokens(text, (char *)out + head, (const char **)out, n);
    out[n] = NULL;
    free(tmp);
    if (n_tokens) *n_tokens = n;
    return out;
}

/* ---- string hashing, shared by the counter and the vocabulary ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- the vocabulary ---- */

struct ag_vocab {
    int32_t n;     /* ids 0 .. n-1, the two reserved ones included */
    char **tok;    /* tok[id]; tok[0] = "", tok[1] = "[UNK]" */
    int32_t *slot; /* open addressing over ids >= 2; -1 is empty */
    uint64_t mask;
};

void ag_vocab_free(ag_vocab *v)
{
    if (!v) return;
    for (int32_t i = 0; v->tok && i < v->n; i++)
        free(v->tok[i]);
    free(v->tok);
    free(v->slot);
    free(v);
}

int32_t ag_vocab_size(const ag_vocab *v) { return v ? v->n : 0; }

const char *ag_vocab_token(const ag_vocab *v, int32_t id)
{
    if (!v || id < 0 || id >= v->n) return NULL;
    return v->tok[id];
}

int32_t ag_vocab_lookup(const ag_vocab *v, const char *token)
{
    if (!v || !token || !*token) return AG_VOCAB_OOV;
    for (uint64_t i = hash_str(token) & v->mask;; i = (i + 1) & v->mask) {
        int32_t id = v->slot[i];
        if (id < 0) return AG_VOCAB_OOV;
        if (!strcmp(v->tok[id], token)) return id;
    }
}

/* A vocabulary from tokens[0..n-1] (ids 2 .. n+1), checked: non-empty, no
 * whitespace, not "[UNK]", no duplicates. `where` names the source for
 * messages; line_base > 0 makes messages cite line numbers. */
static ag_vocab *vocab_from(const char *const *tokens, int64_t n, const char *where, int line_base,
                            ag_error *err)
{
    if (n < 0 || n > INT32_MAX - 2) {
        ag_error_set(err, AG_ERR_ARG, "%s: token count must be 0 to %d, received %" PRId64, where,
                     INT32_MAX - 2, n);
        return NULL;
    }
    ag_vocab *v = calloc(1, sizeof *v);
    uint64_t cap = 16;
    while (cap < (uint64_t)(n + 2) * 2)
        cap <<= 1;
    if (v) {
        v->tok = calloc((size_t)n + 2, sizeof *v->tok);
        v->slot = malloc(cap * sizeof *v->slot);
    }
    if (!v || !v->tok || !v->slot) goto nomem;
    v->mask = cap - 1;
    for (uint64_t i = 0; i < cap; i++)
        v->slot[i] = -1;
    v->tok[0] = strdup("");
    v->tok[1] = strdup("[UNK]");
    v->n = 2;
    if (!v->tok[0] || !v->tok[1]) goto nomem;
    for (int64_t k = 0; k < n; k++) {
        const char *t = tokens[k];
        char at[48] = "";
        if (line_base > 0) snprintf(at, sizeof at, " (line %" PRId64 ")", k + line_base);
        if (!t || !*t) {
            ag_error_set(err, AG_ERR_FORMAT, "%s: token %" PRId64 "%s is empty", where, k + 2, at);
            goto fail;
        }
        for (const char *c = t; *c; c++)
            if (is_space((unsigned char)*c)) {
                ag_error_set(err, AG_ERR_FORMAT,
                             "%s: token %" PRId64 "%s \"%s\" contains whitespace", where, k + 2, at,
                             t);
                goto fail;
            }
        int32_t id = ag_vocab_lookup(v, t);
        if (id != AG_VOCAB_OOV || !strcmp(t, "[UNK]")) {
            ag_error_set(err, AG_ERR_FORMAT, "%s: token %" PRId64 "%s \"%s\" repeats token %d",
                         where, k + 2, at, t, (int)id);
            goto fail;
        }
        if (!(v->tok[v->n] = strdup(t))) goto nomem;
        uint64_t i = hash_str(t) & v->mask;
        while (v->slot[i] >= 0)
            i = (i + 1) & v->mask;
        v->slot[i] = v->n++;
    }
    return v;
nomem:
    ag_error_set(err, AG_ERR_NOMEM, "%s: out of memory building a vocabulary of %" PRId64 " tokens",
                 where, n + 2);
fail:
    ag_vocab_free(v);
    return NULL;
}

ag_vocab *ag_vocab_from_tokens(const char *const *tokens, int64_t n, ag_error *err)
{
    if (!tokens && n > 0) {
        ag_error_set(err, AG_ERR_ARG, "ag_vocab_from_tokens: tokens is NULL");
        return NULL;
    }
    return vocab_from(tokens, n, "ag_vocab_from_tokens", 0, err);
}

/* ---- counting tokens ---- */

typedef struct {
    char *s;
    int64_t count, first;
} tcount;

typedef struct {
    tcount *e;
    int64_t n, cap;
    int64_t *slot; /* index into e, -1 empty */
    uint64_t mask;
} counter;

static int counter_grow(counter *c)
{
    uint64_t cap = c->mask ? (c->mask + 1) * 2 : 1024;
    int64_t *slot = malloc(cap * sizeof *slot);
    tcount *e = realloc(c->e, (size_t)(cap / 2) * sizeof *e);
    if (!slot || !e) {
        free(slot);
        if (e) c->e = e;
        return 0;
    }
    c->e = e;
    c->cap = (int64_t)(cap / 2);
    for (uint64_t i = 0; i < cap; i++)
        slot[i] = -1;
    for (int64_t k = 0; k < c->n; k++) {
        uint64_t i = hash_str(c->e[k].s) & (cap - 1);
        while (slot[i] >= 0)
            i = (i + 1) & (cap - 1);
        slot[i] = k;
    }
    free(c->slot);
    c->slot = slot;
    c->mask = cap - 1;
    return 1;
}

static int counter_add(counter *c, const char *t)
{
    if (c->n >= c->cap && !counter_grow(c)) return 0;
    uint64_t i = hash_str(t) & c->mask;
    for (; c->slot[i] >= 0; i = (i + 1) & c->mask) {
        tcount *e = &c->e[c->slot[i]];
        if (!strcmp(e->s, t)) {
            e->count++;
            return 1;
        }
    }
    char *s = strdup(t);
    if (!s) return 0;
    c->e[c->n] = (tcount){s, 1, c->n};
    c->slot[i] = c->n++;
    return 1;
}

static void counter_free(counter *c)
{
    for (int64_t k = 0; k < c->n; k++)
        free(c->e[k].s);
    free(c->e);
    free(c->slot);
}

/* More frequent first; equal counts in order of first occurrence. */
static int by_count(const void *x, const void *y)
{
    const tcount *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

ag_vocab *ag_vocab_build(const char *const *texts, int64_t n_texts, int max_tokens, ag_error *err)
{
    if (!texts && n_texts > 0) {
        ag_error_set(err, AG_ERR_ARG, "ag_vocab_build: texts is NULL");
        return NULL;
    }
    if (max_tokens < 3) {
        ag_error_set(err, AG_ERR_ARG,
                     "ag_vocab_build: max_tokens must be at least 3 (padding, [UNK] and one "
                     "token), received %d",
                     max_tokens);
        return NULL;
    }
    counter c = {0};
    char *buf = NULL;
    size_t buf_cap = 0;
    ag_vocab *v = NULL;
    const char **top = NULL;
    for (int64_t k = 0; k < n_texts; k++) {
        if (!texts[k]) {
            ag_error_set(err, AG_ERR_ARG, "ag_vocab_build: text %" PRId64 " is NULL", k);
            goto done;
        }
        size_t len = strlen(texts[k]) + 1;
        if (len > buf_cap) {
            char *nb = realloc(buf, len * 2);
            if (!nb) goto nomem;
            buf = nb, buf_cap = len * 2;
        }
        int64_t nt = split_tokens(texts[k], buf, NULL, 0);
        const char *t = buf;
        for (int64_t j = 0; j < nt; j++, t += strlen(t) + 1)
            if (!counter_add(&c, t)) goto nomem;
    }
    if (c.n > 1) qsort(c.e, (size_t)c.n, sizeof *c.e, by_count); /* c.e is NULL when empty */
    int64_t keep = c.n < max_tokens - 2 ? c.n : max_tokens - 2;
    top = malloc(((size_t)keep + 1) * sizeof *top);
    if (!top) goto nomem;
    for (int64_t k = 0; k < keep; k++)
        top[k] = c.e[k].s;
    v = vocab_from(top, keep, "ag_vocab_build", 0, err);
    goto done;
nomem:
    ag_error_set(err, AG_ERR_NOMEM,
                 "ag_vocab_build: out of memory after %" PRId64 " distinct tokens", c.n);
done:
    free(top);
    free(buf);
    counter_free(&c);
    return v;
}

ag_vocab *ag_vocab_from_pairs(const ag_pairs *p, int max_tokens, ag_error *err)
{
    if (!p) {
        ag_error_set(err, AG_ERR_ARG, "ag_vocab_from_pairs: pairs is NULL");
        return NULL;
    }
    const char **texts = malloc(((size_t)p->n * 2 + 1) * sizeof *texts);
    if (!texts) {
        ag_error_set(err, AG_ERR_NOMEM, "ag_vocab_from_pairs: out of memory for %" PRId64 " pairs",
                     p->n);
        return NULL;
    }
    for (int64_t i = 0; i < p->n; i++)
        texts[2 * i] = p->a[i], texts[2 * i + 1] = p->b[i];
    ag_vocab *v = ag_vocab_build(texts, p->n * 2, max_tokens, err);
    free(texts);
    return v;
}

/* ---- serialisation: the tokens of ids 2, 3, ... one per line ---- */

char *ag_vocab_to_string(const ag_vocab *v, ag_error *err)
{
    if (!v) {
        ag_error_set(err, AG_ERR_ARG, "ag_vocab_to_string: vocabulary is NULL");
        return NULL;
    }
    size_t len = 1;
    for (int32_t i = 2; i < v->n; i++)
        len += strlen(v->tok[i]) + 1;
    char *s = malloc(len), *w = s;
    if (!s) {
        ag_error_set(err, AG_ERR_NOMEM, "ag_vocab_to_string: cannot allocate %zu bytes", len);
        return NULL;
    }
    for (int32_t i = 2; i < v->n; i++) {
        size_t l = strlen(v->tok[i]);
        memcpy(w, v->tok[i], l);
        w += l;
        *w++ = '\n';
    }
    *w = 0;
    return s;
}

static ag_vocab *vocab_parse(const char *s, const char *where, ag_error *err)
{
    char *copy = strdup(s);
    int64_t n = 0;
    for (const char *c = s; *c; c++)
        n += *c == '\n';
    const char **tok = malloc(((size_t)n + 2) * sizeof *tok);
    if (!copy || !tok) {
        free(copy);
        free(tok);
        ag_error_set(err, AG_ERR_NOMEM, "%s: out of memory reading a vocabulary", where);
        return NULL;
    }
    n = 0;
    for (char *line = copy; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[l - 1] = 0;
        tok[n++] = line;
        if (!nl) break;
        line = nl + 1;
    }
    ag_vocab *v = vocab_from(tok, n, where, 1, err);
    free(tok);
    free(copy);
    return v;
}

ag_vocab *ag_vocab_from_string(const char *s, ag_error *err)
{
    if (!s) {
        ag_error_set(err, AG_ERR_ARG, "ag_vocab_from_string: string is NULL");
        return NULL;
    }
    return vocab_parse(s, "vocabulary", err);
}

ag_status ag_vocab_save(const ag_vocab *v, const char *path, ag_error *err)
{
    if (!path) return ag_error_set(err, AG_ERR_ARG, "ag_vocab_save: path is NULL");
    char *s = ag_vocab_to_string(v, err);
    if (!s) return err ? err->code : AG_ERR_ARG;
    char *tmp;
    FILE *f = ag_file_create_atomic(path, "ag_vocab_save", &tmp, err);
    if (!f) {
        free(s);
        return err ? err->code : AG_ERR_IO;
    }
    size_t len = strlen(s);
    int ok = fwrite(s, 1, len, f) == len;
    free(s);
    return ag_file_commit_atomic(f, tmp, path, "ag_vocab_save", ok, err);
}

ag_vocab *ag_vocab_load(const char *path, ag_error *err)
{
    if (!path) {
        ag_error_set(err, AG_ERR_ARG, "ag_vocab_load: path is NULL");
        return NULL;
    }
    char *s = ag_file_read(path, NULL, err);
    if (!s) return NULL;
    ag_vocab *v = vocab_parse(s, path, err);
    free(s);
    return v;
}

/* ---- encoding ---- */

int64_t ag_vocab_encode(const ag_vocab *v, const char *text, int32_t *ids, int64_t cap,
                        ag_error *err)
{
    if (!v || !text || (!ids && cap > 0)) {
        ag_error_set(err, AG_ERR_ARG, "ag_vocab_encode: %s is NULL",
                     !v      ? "vocabulary"
                     : !text ? "text"
                             : "ids");
        return -1;
    }
    char *buf = malloc(strlen(text) + 1);
    if (!buf) {
        ag_error_set(err, AG_ERR_NOMEM, "ag_vocab_encode: cannot allocate %zu bytes",
                     strlen(text) + 1);
        return -1;
    }
    int64_t n = split_tokens(text, buf, NULL, 0);
    const char *t = buf;
    for (int64_t j = 0; j < n && j < cap; j++, t += strlen(t) + 1)
        ids[j] = ag_vocab_lookup(v, t);
    free(buf);
    if (n == 0) {
        if (cap > 0) ids[0] = AG_VOCAB_OOV;
        n = 1;
    }
    return n;
}

/* ---- encoded pairs and batches ---- */

void ag_pair_ids_free(ag_pair_ids *d)
{
    if (!d) return;
    free(d->a_off);
    free(d->b_off);
    free(d->a_ids);
    free(d->b_ids);
    free(d->label);
    free(d);
}

/* Encodes texts[0..n-1] (stride apart) into *ids with offsets off[0..n]. */
static ag_status encode_side(const ag_vocab *v, char *const *texts, int64_t n, int64_t max_len,
                             int64_t **off, int32_t **ids, int64_t *n_tok, int64_t *n_oov,
                             int64_t *n_trunc, ag_error *err)
{
    int64_t total = 0, cap = 0;
    *off = malloc(((size_t)n + 1) * sizeof **off);
    if (!*off) goto nomem;
    /* An upper bound first: a text has at most (len+1)/2 tokens, or 1. */
    for (int64_t i = 0; i < n; i++) {
        int64_t m = (int64_t)(strlen(texts[i]) + 2) / 2;
        cap += max_len > 0 && m > max_len ? max_len : m;
    }
    *ids = malloc(((size_t)cap + 1) * sizeof **ids);
    if (!*ids) goto nomem;
    for (int64_t i = 0; i < n; i++) {
        (*off)[i] = total;
        int64_t room = cap - total;
        int64_t m = ag_vocab_encode(v, texts[i], *ids + total, room, err);
        if (m < 0) return err ? err->code : AG_ERR_NOMEM;
        if (max_len > 0 && m > max_len) m = max_len, (*n_trunc)++;
        for (int64_t j = 0; j < m; j++)
            *n_oov += (*ids)[total + j] == AG_VOCAB_OOV;
        total += m;
    }
    (*off)[n] = total;
    *n_tok += total;
    return AG_OK;
nomem:
    return ag_error_set(err, AG_ERR_NOMEM,
                        "ag_pair_ids_encode: out of memory for %" PRId64 " texts", n);
}

ag_pair_ids *ag_pair_ids_encode(const ag_pairs *p, const ag_vocab *v, int64_t max_len,
                                ag_error *err)
{
    if (!p || !v) {
        ag_error_set(err, AG_ERR_ARG, "ag_pair_ids_encode: %s is NULL",
                     !p ? "pairs" : "vocabulary");
        return NULL;
    }
    if (max_len < 0) {
        ag_error_set(err, AG_ERR_ARG,
                     "ag_pair_ids_encode: max_len must be >= 0 (0: no limit), received %" PRId64,
                     max_len);
        return NULL;
    }
    ag_pair_ids *d = calloc(1, sizeof *d);
    if (!d) {
        ag_error_set(err, AG_ERR_NOMEM, "ag_pair_ids_encode: out of memory");
        return NULL;
    }
    d->n = p->n;
    if (encode_side(v, p->a, p->n, max_len, &d->a_off, &d->a_ids, &d->n_tokens, &d->n_oov,
                    &d->n_truncated, err) ||
        encode_side(v, p->b, p->n, max_len, &d->b_off, &d->b_ids, &d->n_tokens, &d->n_oov,
                    &d->n_truncated, err)) {
        ag_pair_ids_free(d);
        return NULL;
    }
    d->label = malloc(((size_t)p->n + 1) * sizeof *d->label);
    if (!d->label) {
        ag_pair_ids_free(d);
        ag_error_set(err, AG_ERR_NOMEM, "ag_pair_ids_encode: out of memory");
        return NULL;
    }
    memcpy(d->label, p->label, (size_t)p->n * sizeof *d->label);
    return d;
}

/* ids of rows (n_rows) -> t (n_rows, T) int32, T the longest row, 0-padded. */
static ag_status fill_side(const int64_t *off, const int32_t *ids, const int64_t *rows,
                           int64_t n_rows, ag_tensor *t, ag_error *err)
{
    int64_t T = 1;
    for (int64_t r = 0; r < n_rows; r++) {
        int64_t len = off[rows[r] + 1] - off[rows[r]];
        if (len > T) T = len;
    }
    ag_status st = ag_tensor_reshape_storage(t, AG_INT32, 2, (int64_t[]){n_rows, T}, NULL, err);
    if (st) return st;
    int32_t *out = AG_I32(t);
    for (int64_t r = 0; r < n_rows; r++) {
        int64_t s = off[rows[r]], len = off[rows[r] + 1] - s;
        memcpy(out + r * T, ids + s, (size_t)len * sizeof *out);
        memset(out + r * T + len, 0, (size_t)(T - len) * sizeof *out);
    }
    return AG_OK;
}

ag_status ag_pair_batch(const ag_pair_ids *d, const int64_t *rows, int64_t n_rows, ag_tensor *a,
                        ag_tensor *b, ag_tensor *y, ag_error *err)
{
    if (!d || !rows || !a || !b)
        return ag_error_set(err, AG_ERR_ARG, "ag_pair_batch: %s is NULL",
                            !d      ? "data"
                            : !rows ? "rows"
                            : !a    ? "a"
                                    : "b");
    if (n_rows < 1)
        return ag_error_set(err, AG_ERR_ARG,
                            "ag_pair_batch: n_rows must be >= 1, received %" PRId64, n_rows);
    for (int64_t r = 0; r < n_rows; r++)
        if (rows[r] < 0 || rows[r] >= d->n)
            return ag_error_set(err, AG_ERR_RANGE,
                                "ag_pair_batch: rows[%" PRId64 "] must be in [0, %" PRId64
                                "), received %" PRId64,
                                r, d->n, rows[r]);
    ag_status st = fill_side(d->a_off, d->a_ids, rows, n_rows, a, err);
    if (!st) st = fill_side(d->b_off, d->b_ids, rows, n_rows, b, err);
    if (!st && y) {
        st = ag_tensor_reshape_storage(y, AG_FLOAT32, 2, (int64_t[]){n_rows, 1}, NULL, err);
        for (int64_t r = 0; !st && r < n_rows; r++)
            AG_F32(y)[r] = d->label[rows[r]];
    }
    return st;
}
