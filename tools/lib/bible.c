/* bible.c — paraphrase pairs from two translations of the Bible.
 *
 * Input: two plain-text exports such as diatheke writes them
 * (`diatheke -b engKJV2006eb -f plain -k "Genesis 1:1-Revelation of John 22:21"`).
 * The rules, so that any two builds agree:
 *   1. A verse is a line matching  ^\s*(.+?) (\d+):(\d+): (.*)$  (book,
 *      chapter, verse, text), with Python's backtracking semantics: the
 *      leading whitespace is as long as possible, the book the shortest
 *      prefix after it that lets the rest match; \s is ASCII whitespace and
 *      \d ASCII digits. Every other line (headings, the module name) is
 *      ignored. Strong's numbers (<H2416>, <G3361>: '<', G or H, digits,
 *      '>') are deleted with the whitespace before them (the Reina-Valera
 *      export has them). Tabs in a text become spaces; the text is trimmed; empty
 *      verses are dropped; a key (book, chapter, verse) seen twice in one
 *      export keeps its first text.
 *   2. Only verses both exports have are kept, in the first export's order.
 *   3. Split by chapter: crc32("Book Chapter") % 10 (zlib's CRC-32 of e.g.
 *      "Revelation of John 22"): 0 test, 1 validation, else training.
 *   4. For each verse of a split, in order: (A text, B text, 1), then a
 *      negative (A text, B text of another verse of the same split, 0): with
 *      probability 1/2 (u < 0.5) one of the other verses of the same chapter
 *      whose number is within ±3 (when the split has one), chosen uniformly,
 *      otherwise a uniformly random other verse of the split. A split of one
 *      verse has no negative.
 *   5. Each split is shuffled (Fisher-Yates).
 * Random numbers: ag_rng(seed, stream = 1 + split) with split 0 train, 1
 * validation, 2 test; per verse one uniform u, then one ag_rng_below draw;
 * then the shuffle. Splits are thus independent of one another.
 */
#include "app.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct {
    const char *book; /* NUL-terminated, inside the parse buffer */
    long chapter, verse;
    const char *text; /* NUL-terminated, trimmed */
} verse;

typedef struct {
    verse *v;
    int64_t n, cap;
    char *buf; /* the export, cut into strings in place */
} verse_list;

static int ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
static int dig(char c) { return c >= '0' && c <= '9'; }

/* Does " \d+:\d+: " start at s? On success *ch, *vs get the numbers and *text
 * the start of the text. */
static int verse_tail(char *s, long *ch, long *vs, char **text)
{
    if (*s != ' ' || !dig(s[1])) return 0;
    char *p = s + 1, *q;
    errno = 0;
    *ch = strtol(p, &q, 10);
    while (dig(*p))
        p++;
    if (*p != ':' || !dig(p[1])) return 0;
    *vs = strtol(p + 1, &q, 10);
    p++;
    while (dig(*p))
        p++;
    if (p[0] != ':' || p[1] != ' ' || errno) return 0;
    *text = p + 2;
    return 1;
}

/* Matches one line (NUL-terminated, no '\n') against the verse pattern, in
 * linear time. With the leading whitespace at its longest (lead characters),
 * the book is the shortest non-empty prefix after it that a verse tail
 * follows. Only when there is none does the regex give whitespace back, and
 * then the one new place a tail can start is the last whitespace character
 * (when it is a space and a digit follows); the book is then the one
 * whitespace character before it. */
static int parse_line(char *line, char **book, char **book_end, long *ch, long *vs, char **text)
{
    size_t lead = 0;
    while (ws(line[lead]))
        lead++;
    if (!line[lead]) return 0;
    for (char *e = line + lead + 1; *e; e++) /* .+? lazy: shortest first */
        if (verse_tail(e, ch, vs, text)) {
            *book = line + lead;
            *book_end = e;
            return 1;
        }
    if (lead >= 2 && verse_tail(line + lead - 1, ch, vs, text)) {
        *book = line + lead - 2;
        *book_end = line + lead - 1;
        return 1;
    }
    return 0;
}

/* Length of a Strong's number <G1234> / <H1234> at s, or 0. */
static size_t strongs_len(const char *s)
{
    if (s[0] != '<' || (s[1] != 'G' && s[1] != 'H') || !dig(s[2])) return 0;
    size_t n = 2;
    while (dig(s[n]))
        n++;
    return s[n] == '>' ? n + 1 : 0;
}

/* Deletes every Strong's number in text, with the whitespace before it, in
 * place; returns how many. */
static int64_t strip_strongs(char *text)
{
    int64_t removed = 0;
    char *w = text;
    for (const char *r = text; *r;) {
        size_t k = strongs_len(r);
        if (k) {
            while (w > text && ws(w[-1]))
                w--;
            r += k;
            removed++;
        } else
            *w++ = *r++;
    }
    *w = 0;
    return removed;
}

static ag_status parse_export(char *buf, const char *name, verse_list *out, int64_t *markup,
                              ag_error *err)
{
    out->buf = buf;
    for (char *line = buf; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *book, *book_end, *text;
        long ch, vs;
        if (parse_line(line, &book, &book_end, &ch, &vs, &text)) {
            *markup += strip_strongs(text);
            for (char *c = text; *c; c++)
                if (*c == '\t') *c = ' ';
            while (ws(*text))
                text++;
            char *e = text + strlen(text);
            while (e > text && ws(e[-1]))
                e--;
            *e = 0;
            *book_end = 0;
            if (*text) {
                if (out->n == out->cap) {
                    int64_t cap = out->cap ? out->cap * 2 : 4096;
                    verse *nv = realloc(out->v, (size_t)cap * sizeof *nv);
                    if (!nv)
                        return ag_error_set(err, AG_ERR_NOMEM, "bible: out of memory reading %s",
                                            name);
                    out->v = nv, out->cap = cap;
                }
                out->v[out->n++] = (verse){book, ch, vs, text};
            }
        }
        if (!nl) break;
        line = nl + 1;
    }
    if (out->n == 0)
        return ag_error_set(err, AG_ERR_FORMAT,
                            "bible: no verse lines in %s (expected lines like \"Genesis 1:1: In "
                            "the beginning...\")",
                            name);
    return AG_OK;
}

static int key_cmp(const verse *a, const verse *b)
{
    int c = strcmp(a->book, b->book);
    if (c) return c;
    if (a->chapter != b->chapter) return a->chapter < b->chapter ? -1 : 1;
    return (a->verse > b->verse) - (a->verse < b->verse);
}

/* A verse's key and its position, sorted by key then position (so the
 * first of two equal keys comes first). */
typedef struct {
    const verse *v;
    int64_t pos;
} keyed;

static int by_key(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    int c = key_cmp(a->v, b->v);
    return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

static keyed *sort_keys(const verse_list *l)
{
    keyed *k = malloc(((size_t)l->n + 1) * sizeof *k);
    if (!k) return NULL;
    for (int64_t i = 0; i < l->n; i++)
        k[i] = (keyed){&l->v[i], i};
    qsort(k, (size_t)l->n, sizeof *k, by_key);
    return k;
}

/* Position of the first verse with key v, through the sorted keys; -1 when none. */
static int64_t find_key(const keyed *k, int64_t n, const verse *v)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (key_cmp(k[mid].v, v) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && !key_cmp(k[lo].v, v) ? k[lo].pos : -1;
}

int ag_bible_split(const char *book, long chapter)
{
    char key[512];
    int len = snprintf(key, sizeof key, "%s %ld", book ? book : "", chapter);
    if (len < 0) return AG_SPLIT_TRAIN;
    uint32_t r = ag_crc32(0, key, (size_t)len < sizeof key ? (size_t)len : sizeof key - 1) % 10;
    return r == 0 ? AG_SPLIT_TEST : r == 1 ? AG_SPLIT_VAL : AG_SPLIT_TRAIN;
}

/* The pairs of one split: verses a[idx[i]] (texts A) with b[idx[i]] (texts B). */
static ag_status make_split(const verse *a, const verse *b, const int64_t *idx, int64_t n,
                            uint64_t seed, int split, ag_pairs *out, int64_t *near, ag_error *err)
{
    ag_rng r;
    ag_rng_init(&r, seed, 1 + (uint64_t)split);
    ag_pairs *tmp = ag_pairs_new();
    int64_t *order = NULL;
    ag_status st = AG_OK;
    if (!tmp) return ag_error_set(err, AG_ERR_NOMEM, "bible: out of memory");
    *near = 0;
    int64_t lo = 0; /* first verse of the current chapter */
    for (int64_t i = 0; i < n && !st; i++) {
        const verse *v = &a[idx[i]];
        if (i > 0 && (strcmp(v->book, a[idx[i - 1]].book) || v->chapter != a[idx[i - 1]].chapter))
            lo = i;
        st = ag_pairs_add(tmp, v->text, b[idx[i]].text, 1, err);
        if (st || n < 2) continue;
        /* neighbours: other verses of this chapter within ±3 */
        int64_t nb[64], m = 0;
        for (int64_t j = lo; j < n && m < 64; j++) {
            const verse *w = &a[idx[j]];
            if (j > i && (strcmp(w->book, v->book) || w->chapter != v->chapter)) break;
            if (j != i && labs(w->verse - v->verse) <= 3) nb[m++] = j;
        }
        int64_t j;
        double u = ag_rng_uniform(&r);
        if (u < 0.5 && m > 0) {
            j = nb[ag_rng_below(&r, (uint64_t)m)];
            (*near)++;
        } else {
            j = (int64_t)ag_rng_below(&r, (uint64_t)(n - 1));
            if (j >= i) j++;
        }
        st = ag_pairs_add(tmp, v->text, b[idx[j]].text, 0, err);
    }
    if (!st && !(order = malloc(((size_t)tmp->n + 1) * sizeof *order)))
        st = ag_error_set(err, AG_ERR_NOMEM, "bible: out of memory");
    if (!st) {
        for (int64_t k = 0; k < tmp->n; k++)
            order[k] = k;
        ag_rng_shuffle(&r, order, tmp->n);
        for (int64_t k = 0; k < tmp->n && !st; k++)
            st = ag_pairs_add(out, tmp->a[order[k]], tmp->b[order[k]], tmp->label[order[k]], err);
    }
    free(order);
    ag_pairs_free(tmp);
    return st;
}

static ag_status bible_pairs(const char *export_a, const char *export_b, const char *name_a,
                             const char *name_b, uint64_t seed, ag_pairs *out[3],
                             ag_bible_stats *stats, ag_error *err)
{
    ag_bible_stats st0;
    ag_bible_stats *st = stats ? stats : &st0;
    memset(st, 0, sizeof *st);
    verse_list la = {0}, lb = {0};
    keyed *ka = NULL, *kb = NULL;
    int64_t *ia = NULL, *ib = NULL, *idx[3] = {NULL, NULL, NULL};
    verse *va = NULL, *vb = NULL;
    ag_status s = AG_OK;
    char *ba = strdup(export_a), *bb = strdup(export_b);
    if (!ba || !bb) {
        s = ag_error_set(err, AG_ERR_NOMEM, "bible: out of memory");
        goto done;
    }
    if ((s = parse_export(ba, name_a, &la, &st->markup_a, err))) goto done;
    if ((s = parse_export(bb, name_b, &lb, &st->markup_b, err))) goto done;
    st->verses_a = la.n, st->verses_b = lb.n;

    /* the join: A's verses in A's order (the first of a repeated key only)
     * that B has too (B's first text for that key) */
    ka = sort_keys(&la), kb = sort_keys(&lb);
    ia = malloc((size_t)la.n * sizeof *ia);
    ib = malloc((size_t)la.n * sizeof *ib);
    for (int k = 0; k < 3; k++)
        idx[k] = malloc((size_t)la.n * sizeof *idx[k]);
    if (!ka || !kb || !ia || !ib || !idx[0] || !idx[1] || !idx[2]) {
        s = ag_error_set(err, AG_ERR_NOMEM, "bible: out of memory");
        goto done;
    }
    int64_t nc = 0;
    for (int64_t i = 0; i < la.n; i++) {
        if (find_key(ka, la.n, &la.v[i]) != i) continue; /* a repeat */
        int64_t j = find_key(kb, lb.n, &la.v[i]);
        if (j < 0) continue;
        ia[nc] = i, ib[nc] = j, nc++;
    }
    st->common = nc;

    /* the common verses, A's and B's side by side, then split by chapter */
    va = malloc(((size_t)nc + 1) * sizeof *va), vb = malloc(((size_t)nc + 1) * sizeof *vb);
    if (!va || !vb) {
        s = ag_error_set(err, AG_ERR_NOMEM, "bible: out of memory");
        goto done;
    }
    int64_t cnt[3] = {0, 0, 0};
    for (int64_t k = 0; k < nc; k++) {
        va[k] = la.v[ia[k]], vb[k] = lb.v[ib[k]];
        int sp = ag_bible_split(va[k].book, va[k].chapter);
        idx[sp][cnt[sp]++] = k;
    }
    for (int sp = 0; sp < 3 && !s; sp++) {
        st->verses[sp] = cnt[sp];
        int64_t before = out[sp]->n;
        s = make_split(va, vb, idx[sp], cnt[sp], seed, sp, out[sp], &st->near_negatives[sp], err);
        st->pairs[sp] = out[sp]->n - before;
    }
done:
    for (int k = 0; k < 3; k++)
        free(idx[k]);
    free(va), free(vb), free(ka), free(kb), free(ia), free(ib);
    free(la.v), free(lb.v);
    free(ba), free(bb);
    return s;
}

ag_status ag_bible_pairs(const char *export_a, const char *export_b, uint64_t seed,
                         ag_pairs *out[3], ag_bible_stats *stats, ag_error *err)
{
    if (!export_a || !export_b || !out || !out[0] || !out[1] || !out[2])
        return ag_error_set(err, AG_ERR_ARG, "ag_bible_pairs: %s is NULL",
                            !export_a   ? "export_a"
                            : !export_b ? "export_b"
                            : !out      ? "out"
                                        : "an out[] pair list");
    return bible_pairs(export_a, export_b, "export A", "export B", seed, out, stats, err);
}

ag_status ag_make_dirs(const char *dir, ag_error *err)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return ag_error_set(err, AG_ERR_ARG, "output directory \"%s\" is %s", dir,
                            len ? "too long" : "empty");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != 0) continue;
        char c = path[i];
        path[i] = 0;
        if (mkdir(path, 0777) && errno != EEXIST)
            return ag_error_set(err, AG_ERR_IO, "cannot create directory %s: %s", path,
                                strerror(errno));
        path[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
        return ag_error_set(err, AG_ERR_IO, "%s is not a directory", dir);
    return AG_OK;
}

ag_status ag_bible_save(ag_pairs *const out[3], const char *out_dir, ag_error *err)
{
    static const char *const names[3] = {"train.tsv", "val.tsv", "test.tsv"};
    if (!out || !out[0] || !out[1] || !out[2] || !out_dir)
        return ag_error_set(err, AG_ERR_ARG, "ag_bible_save: %s is NULL",
                            out_dir ? "a pair list" : "out_dir");
    ag_status s = ag_make_dirs(out_dir, err);
    for (int k = 0; k < 3 && !s; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", out_dir, names[k]);
        s = ag_pairs_save(out[k], path, err);
    }
    return s;
}

ag_status ag_bible_build(const char *path_a, const char *path_b, const char *out_dir, uint64_t seed,
                         ag_bible_stats *stats, ag_error *err)
{
    if (!path_a || !path_b || !out_dir)
        return ag_error_set(err, AG_ERR_ARG, "ag_bible_build: %s is NULL",
                            !path_a   ? "path_a"
                            : !path_b ? "path_b"
                                      : "out_dir");
    char *ta = ag_file_read(path_a, NULL, err);
    char *tb = ta ? ag_file_read(path_b, NULL, err) : NULL;
    ag_pairs *out[3] = {ag_pairs_new(), ag_pairs_new(), ag_pairs_new()};
    ag_status s = AG_OK;
    if (!ta || !tb)
        s = err ? err->code : AG_ERR_IO;
    else if (!out[0] || !out[1] || !out[2])
        s = ag_error_set(err, AG_ERR_NOMEM, "ag_bible_build: out of memory");
    if (!s) s = bible_pairs(ta, tb, path_a, path_b, seed, out, stats, err);
    if (!s) s = ag_bible_save(out, out_dir, err);
    for (int k = 0; k < 3; k++)
        ag_pairs_free(out[k]);
    free(ta), free(tb);
    return s;
}
