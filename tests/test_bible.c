/* test_bible.c — the KJV/WEB pair builder's rules on two small synthetic
 * exports: verse lines and what is ignored (headings, module names, empty
 * verses, verses one side lacks, repeated keys), multi-word book names,
 * tabs in texts, the CRC-32 chapter split, positives and negatives (same
 * split, never the verse itself, the ±3 rule), determinism for a seed,
 * shuffled order, the file-level builder's outputs and errors, the
 * Reina-Valera export's markup and Spanish text, and the output unchanged
 * byte for byte. */
#include "attograd_app.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const books[] = {"Genesis", "I Samuel", "Song of Solomon", "Revelation of John"};
enum { N_BOOKS = 4, N_CHAPTERS = 14, N_VERSES = 9 };

typedef struct {
    char *a, *b; /* the exports */
    int n_common;
} exports;

static void append(char **s, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char line[512];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (*len + (size_t)n + 1 > *cap) {
        *cap = (*cap + (size_t)n + 1) * 2;
        *s = realloc(*s, *cap);
    }
    memcpy(*s + *len, line, (size_t)n + 1);
    *len += (size_t)n;
}

/* Verse (b, c, v) is special when: */
static int missing_in_b(int b, int c, int v) { return b == 0 && c == 2 && v == 5; }
static int empty_in_a(int b, int c, int v) { return b == 1 && c == 3 && v == 2; }

/* Texts carry their key so the test can map a text back to its verse:
 * "kjv <book> <chapter> <verse> ..." and "web <book> <chapter> <verse> ...". */
static exports make_exports(void)
{
    exports e = {NULL, NULL, 0};
    size_t la = 0, ca = 0, lb = 0, cb = 0;
    append(&e.a, &la, &ca, "%s", "");
    append(&e.b, &lb, &cb, "%s", "");
    for (int b = 0; b < N_BOOKS; b++)
        for (int c = 1; c <= N_CHAPTERS; c++) {
            append(&e.a, &la, &ca, "A Psalm of David, 3:4 and more.\n\n");
            append(&e.b, &lb, &cb, "  <title>Heading %d</title>\n", c);
            for (int v = 1; v <= N_VERSES; v++) {
                const char *lead = (v == 3) ? "   " : "";
                if (empty_in_a(b, c, v))
                    append(&e.a, &la, &ca, "%s %d:%d: \t \n", books[b], c, v);
                else if (v == 4) /* a tab inside, spaces around */
                    append(&e.a, &la, &ca, "%s%s %d:%d:   kjv %d %d %d\tsaith 1:2: x  \n", lead,
                           books[b], c, v, b, c, v);
                else
                    append(&e.a, &la, &ca, "%s%s %d:%d: kjv %d %d %d\n", lead, books[b], c, v, b, c,
                           v);
                if (!missing_in_b(b, c, v))
                    append(&e.b, &lb, &cb, "%s %d:%d: web %d %d %d\n", books[b], c, v, b, c, v);
                if (!missing_in_b(b, c, v) && !empty_in_a(b, c, v)) e.n_common++;
            }
        }
    /* a repeated key in A keeps its first text */
    append(&e.a, &la, &ca, "Genesis 1:1: a second Genesis 1:1\n(engKJV2006eb)\n");
    append(&e.b, &lb, &cb, "(engWEB2015eb)");
    return e;
}

/* Parses "kjv b c v" / "web b c v" back; returns 0 when the text is not one. */
static int key_of(const char *text, int *b, int *c, int *v)
{
    return sscanf(text + 4, "%d %d %d", b, c, v) == 3;
}

static int split_of(int b, int c)
{
    char key[64];
    int n = snprintf(key, sizeof key, "%s %d", books[b], c);
    uint32_t r = ag_crc32(0, key, (size_t)n) % 10;
    return r == 0 ? AG_SPLIT_TEST : r == 1 ? AG_SPLIT_VAL : AG_SPLIT_TRAIN;
}

static void build(const exports *e, uint64_t seed, ag_pairs *out[3], ag_bible_stats *st)
{
    ag_error err = {0};
    for (int k = 0; k < 3; k++)
        out[k] = ag_pairs_new();
    ag_status s = ag_bible_pairs(e->a, e->b, seed, out, st, &err);
    if (s) fail_msg("ag_bible_pairs: %s", err.msg);
}

static void free_out(ag_pairs *out[3])
{
    for (int k = 0; k < 3; k++)
        ag_pairs_free(out[k]);
}

static void test_rules(void **state)
{
    (void)state;
    exports e = make_exports();
    ag_pairs *out[3];
    ag_bible_stats st;
    build(&e, 1337, out, &st);

    int n_verses = N_BOOKS * N_CHAPTERS * N_VERSES;
    assert_int_equal(st.verses_a, n_verses); /* less the empty verse, plus the repeated key */
    assert_int_equal(st.verses_b, n_verses - 1);
    assert_int_equal(st.common, e.n_common);
    assert_int_equal(e.n_common, n_verses - 2);

    /* every split has verses in this data, so every rule below is exercised */
    int expect[3] = {0, 0, 0};
    for (int b = 0; b < N_BOOKS; b++)
        for (int c = 1; c <= N_CHAPTERS; c++)
            for (int v = 1; v <= N_VERSES; v++)
                if (!missing_in_b(b, c, v) && !empty_in_a(b, c, v)) expect[split_of(b, c)]++;
    static int seen_pos[N_BOOKS][N_CHAPTERS + 1][N_VERSES + 1];
    static int seen_neg[N_BOOKS][N_CHAPTERS + 1][N_VERSES + 1];
    memset(seen_pos, 0, sizeof seen_pos);
    memset(seen_neg, 0, sizeof seen_neg);
    int near = 0, has_neighbour = 0;
    for (int k = 0; k < 3; k++) {
        assert_true(expect[k] >= 20);
        assert_int_equal(st.verses[k], expect[k]);
        assert_int_equal(st.pairs[k], 2 * expect[k]);
        assert_int_equal(out[k]->n, 2 * expect[k]);
        int inversions = 0, prev = -1;
        for (int64_t i = 0; i < out[k]->n; i++) {
            const char *ta = out[k]->a[i], *tb = out[k]->b[i];
            int b1, c1, v1, b2, c2, v2;
            assert_true(!strncmp(ta, "kjv ", 4) && !strncmp(tb, "web ", 4));
            assert_true(key_of(ta, &b1, &c1, &v1) && key_of(tb, &b2, &c2, &v2));
            /* the split of a pair is its chapter's CRC-32 split (multi-word
             * book names parsed whole) */
            assert_int_equal(split_of(b1, c1), k);
            assert_int_equal(split_of(b2, c2), k);
            assert_false(missing_in_b(b1, c1, v1) || empty_in_a(b1, c1, v1));
            if (v1 == 4) assert_string_equal(strchr(ta + 4, 's'), "saith 1:2: x"); /* tab, trim */
            if (out[k]->label[i] == 1) {
                assert_true(b1 == b2 && c1 == c2 && v1 == v2);
                seen_pos[b1][c1][v1]++;
                int ord = (b1 * 100 + c1) * 100 + v1;
                inversions += ord < prev;
                prev = ord;
            } else {
                assert_true(out[k]->label[i] == 0);
                assert_false(b1 == b2 && c1 == c2 && v1 == v2); /* never itself */
                assert_false(missing_in_b(b2, c2, v2) || empty_in_a(b2, c2, v2));
                seen_neg[b1][c1][v1]++;
                has_neighbour++;
                near += b1 == b2 && c1 == c2 && abs(v1 - v2) <= 3;
            }
        }
        assert_true(inversions > 0); /* shuffled, not in Bible order */
    }
    /* one positive and one negative per common verse */
    for (int b = 0; b < N_BOOKS; b++)
        for (int c = 1; c <= N_CHAPTERS; c++)
            for (int v = 1; v <= N_VERSES; v++) {
                int want = !missing_in_b(b, c, v) && !empty_in_a(b, c, v);
                assert_int_equal(seen_pos[b][c][v], want);
                assert_int_equal(seen_neg[b][c][v], want);
            }
    /* the ±3 rule: half the negatives are drawn near, plus the random ones
     * that land near by chance; the stats count the deliberate ones */
    int64_t deliberate = st.near_negatives[0] + st.near_negatives[1] + st.near_negatives[2];
    assert_true(near >= deliberate);
    assert_true(deliberate > 0.40 * has_neighbour && deliberate < 0.60 * has_neighbour);
    free_out(out);
    free(e.a);
    free(e.b);
}

static int same(ag_pairs *x[3], ag_pairs *y[3])
{
    for (int k = 0; k < 3; k++) {
        if (x[k]->n != y[k]->n) return 0;
        for (int64_t i = 0; i < x[k]->n; i++)
            if (strcmp(x[k]->a[i], y[k]->a[i]) || strcmp(x[k]->b[i], y[k]->b[i]) ||
                x[k]->label[i] != y[k]->label[i])
                return 0;
    }
    return 1;
}

static void test_seed_determines_output(void **state)
{
    (void)state;
    exports e = make_exports();
    ag_pairs *x[3], *y[3], *z[3];
    ag_bible_stats st;
    build(&e, 7, x, &st);
    build(&e, 7, y, &st);
    build(&e, 8, z, &st);
    assert_true(same(x, y));
    assert_false(same(x, z));
    free_out(x);
    free_out(y);
    free_out(z);
    free(e.a);
    free(e.b);
}

static void test_split_and_line_rules(void **state)
{
    (void)state;
    /* crc32("Genesis 1") % 10 = 1 (validation), "Song of Solomon 1" = 8 */
    assert_int_equal(ag_bible_split("Genesis", 1), AG_SPLIT_VAL);
    assert_int_equal(ag_bible_split("Song of Solomon", 1), AG_SPLIT_TRAIN);
    assert_int_equal(ag_bible_split("Revelation of John", 22), AG_SPLIT_TRAIN);

    /* the shortest book prefix: a text that itself contains "N:M: " */
    const char *a = "Genesis 1:1: see John 3:16: here\n"
                    "Genesis 1:2: two\n"
                    "Genesis 1:3:\n"       /* no ": " then text: not a verse line */
                    "Genesis 1:x: nope\n"  /* not digits */
                    "Genesis1:4: glued\n"  /* no space before the chapter */
                    " 1:6: one space\n"    /* no book: the space is the separator */
                    "  1:5: two spaces\n"; /* the book is one space (regex semantics) */
    const char *b =
        "Genesis 1:1: one\nGenesis 1:2: two b\nGenesis 1:4: four\n  1:5: b five\n  1:6: b six\n";
    ag_pairs *out[3];
    ag_bible_stats st;
    ag_error err = {0};
    for (int k = 0; k < 3; k++)
        out[k] = ag_pairs_new();
    assert_int_equal(ag_bible_pairs(a, b, 1, out, &st, &err), AG_OK);
    assert_int_equal(st.verses_a, 3);
    assert_int_equal(st.common, 3);
    int found = 0;
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < out[k]->n; i++)
            if (out[k]->label[i] == 1 && !strcmp(out[k]->b[i], "one")) {
                assert_string_equal(out[k]->a[i], "see John 3:16: here");
                found++;
            }
    assert_int_equal(found, 1);
    free_out(out);

    /* no verse line at all names the export */
    for (int k = 0; k < 3; k++)
        out[k] = ag_pairs_new();
    assert_int_equal(ag_bible_pairs("heading only\n", b, 1, out, &st, &err), AG_ERR_FORMAT);
    ag_assert_msg_has(err.msg, "no verse lines in export A");
    assert_int_equal(ag_bible_pairs(NULL, b, 1, out, &st, &err), AG_ERR_ARG);
    assert_int_equal(ag_bible_pairs(a, b, 1, NULL, &st, &err), AG_ERR_ARG);
    free_out(out);
}

static void test_build_files(void **state)
{
    (void)state;
    char dir[64] = "/tmp/ag_bible_XXXXXX";
    assert_non_null(mkdtemp(dir));
    exports e = make_exports();
    char pa[128], pb[128], outdir[128], path[160];
    snprintf(pa, sizeof pa, "%s/kjv.txt", dir);
    snprintf(pb, sizeof pb, "%s/web.txt", dir);
    snprintf(outdir, sizeof outdir, "%s/data/bible", dir); /* parents created */
    FILE *f = fopen(pa, "wb");
    fputs(e.a, f);
    fclose(f);
    f = fopen(pb, "wb");
    fputs(e.b, f);
    fclose(f);

    ag_bible_stats st;
    ag_error err = {0};
    assert_int_equal(ag_bible_build(pa, pb, outdir, 1337, &st, &err), AG_OK);
    ag_pairs *mem[3];
    ag_bible_stats st2;
    build(&e, 1337, mem, &st2);
    static const char *const names[3] = {"train.tsv", "val.tsv", "test.tsv"};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", outdir, names[k]);
        ag_pairs *p = ag_pairs_load(path, &err);
        if (!p) fail_msg("%s", err.msg);
        assert_int_equal(p->n, mem[k]->n);
        for (int64_t i = 0; i < p->n; i++) {
            assert_string_equal(p->a[i], mem[k]->a[i]);
            assert_string_equal(p->b[i], mem[k]->b[i]);
        }
        ag_pairs_free(p);
    }
    free_out(mem);

    /* errors name the file */
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    assert_int_equal(ag_bible_build(path, pb, outdir, 1, &st, &err), AG_ERR_IO);
    ag_assert_msg_has(err.msg, path);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    f = fopen(path, "wb");
    fputs("nothing here\n", f);
    fclose(f);
    assert_int_equal(ag_bible_build(pa, path, outdir, 1, &st, &err), AG_ERR_FORMAT);
    ag_assert_msg_has(err.msg, "no verse lines in");
    ag_assert_msg_has(err.msg, path);
    assert_int_equal(ag_bible_build(pa, pb, pa, 1, &st, &err), AG_ERR_IO); /* a file, not a dir */
    assert_int_equal(ag_bible_build(NULL, pb, outdir, 1, &st, &err), AG_ERR_ARG);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(e.a);
    free(e.b);
}

/* The Reina-Valera export's markup: Strong's numbers go with the space
 * before them (several in a row, at the end, before punctuation), other
 * angle brackets stay; accented letters and ¿ ¡ « » reach the tokenizer
 * as letters and punctuation; no h2416-like token reaches the vocabulary. */
static void test_strongs_and_spanish(void **state)
{
    (void)state;
    const char *a = "Genesis 1:30: And to every beast of the earth, wherein there is life.\n"
                    "Genesis 3:1: Now the serpent was more subtil: Yea, hath God said?\n"
                    "Genesis 5:5: And all the days that Adam lived were nine hundred years.\n"
                    "Genesis 5:6: And Seth lived an hundred and five years.\n"
                    "(engKJV2006eb)\n";
    const char *b = "Genesis 1:30: Y á toda bestia, en que hay vida <H2416>, toda hierba.\n"
                    "Genesis 3:1: EMPERO la serpiente dijo: \xC2\xBF"
                    "Conque <H3588> Dios os "
                    "ha dicho? \xC2\xA1No! \xC2\xAB"
                    "Él\xC2\xBB\n"
                    "Genesis 5:5: Y fueron novecientos <H3967> <H8672>  y treinta años <G0846>\n"
                    "Genesis 5:6: Y vivió Seth <H>, <h12>, <G12 y Châm ÑANDÚ\n"
                    "(spaRV1909eb)\n";
    ag_pairs *out[3];
    ag_bible_stats st;
    for (int k = 0; k < 3; k++)
        out[k] = ag_pairs_new();
    ag_error err = {0};
    if (ag_bible_pairs(a, b, 1, out, &st, &err)) fail_msg("%s", err.msg);
    assert_int_equal(st.markup_a, 0);
    assert_int_equal(st.markup_b, 5);
    assert_int_equal(st.common, 4);
    static const char *const want[4] = {"Y á toda bestia, en que hay vida, toda hierba.",
                                        "EMPERO la serpiente dijo: \xC2\xBF"
                                        "Conque Dios os ha dicho? \xC2\xA1No! \xC2\xAB"
                                        "Él\xC2\xBB",
                                        "Y fueron novecientos  y treinta años",
                                        "Y vivió Seth <H>, <h12>, <G12 y Châm ÑANDÚ"};
    int found[4] = {0};
    const char *texts[16];
    int nt = 0;
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < out[k]->n; i++) {
            texts[nt++] = out[k]->a[i];
            texts[nt++] = out[k]->b[i];
            for (int w = 0; w < 4; w++)
                if (!strcmp(out[k]->b[i], want[w])) found[w] = 1;
        }
    for (int w = 0; w < 4; w++)
        if (!found[w]) fail_msg("no text \"%s\"", want[w]);
    /* the tokens */
    int64_t n;
    char **t = ag_tokenize(want[1], &n, &err);
    assert_non_null(t);
    static const char *const toks[] = {"empero", "la", "serpiente", "dijo", "conque", "dios",
                                       "os",     "ha", "dicho",     "no",   "él"};
    assert_int_equal(n, 11);
    for (int i = 0; i < 11; i++)
        assert_string_equal(t[i], toks[i]);
    free(t);
    t = ag_tokenize(want[3], &n, &err);
    assert_non_null(t);
    assert_int_equal(n, 9); /* y vivió seth h h12 g12 y châm ñandú */
    assert_string_equal(t[1], "vivió");
    assert_string_equal(t[7], "châm");
    assert_string_equal(t[8], "ñandú");
    free(t);
    ag_vocab *v = ag_vocab_build(texts, nt, 1000, &err);
    assert_non_null(v);
    for (int32_t id = 2; id < ag_vocab_size(v); id++) {
        const char *tok = ag_vocab_token(v, id);
        if ((tok[0] == 'h' || tok[0] == 'g') && tok[1] >= '0' && tok[1] <= '9' &&
            strcmp(tok, "h12") && strcmp(tok, "g12"))
            fail_msg("a Strong's number reached the vocabulary: \"%s\"", tok);
    }
    assert_int_equal(ag_vocab_lookup(v, "h2416"), AG_VOCAB_OOV);
    assert_int_not_equal(ag_vocab_lookup(v, "conque"), AG_VOCAB_OOV);
    ag_vocab_free(v);
    free_out(out);
}

/* The files of the synthetic build, byte for byte as the builder wrote them
 * when the Reina-Valera pairs were added (CRC-32 of each file): texts
 * without markup come out as they always did. tests/test_dataset_real.sh
 * checks the real KJV <-> WEB files against their SHA-256. */
static void test_output_unchanged(void **state)
{
    (void)state;
    exports e = make_exports();
    ag_pairs *out[3];
    ag_bible_stats st;
    build(&e, 1337, out, &st);
    char dir[64] = "/tmp/ag_bible_XXXXXX";
    assert_non_null(mkdtemp(dir));
    ag_error err = {0};
    assert_int_equal(ag_bible_save(out, dir, &err), AG_OK);
    static const char *const names[3] = {"train.tsv", "val.tsv", "test.tsv"};
    static const uint32_t want[3] = {0x18da2794, 0x5a654397, 0xb9bbd1e6};
    for (int k = 0; k < 3; k++) {
        char path[160];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char bytes[1 << 16];
        size_t len = fread(bytes, 1, sizeof bytes, f);
        fclose(f);
        assert_true(len > 0 && len < sizeof bytes);
        uint32_t crc = ag_crc32(0, bytes, len);
        print_message("%s: %zu bytes, crc32 %08x\n", names[k], len, (unsigned)crc);
        assert_int_equal(crc, want[k]);
        remove(path);
    }
    rmdir(dir);
    free_out(out);
    free(e.a);
    free(e.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_seed_determines_output),
        cmocka_unit_test(test_split_and_line_rules),
        cmocka_unit_test(test_build_files),
        cmocka_unit_test(test_strongs_and_spanish),
        cmocka_unit_test(test_output_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
