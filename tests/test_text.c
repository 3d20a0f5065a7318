/* test_text.c — the tokenizer (Keras's TextVectorization defaults), the
 * vocabulary (frequency order, ties, max_tokens, round trips), the TSV pairs
 * loader (every error with file and line), encoding and batches padded to
 * their own longest row, and CRC-32. */
#include "attograd_app.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/ag_text_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes s to tmpdir/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *s)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
    return path;
}

/* Tokenizes text and checks the tokens against the NULL-terminated list. */
static void expect_tokens(const char *text, const char *const *want)
{
    int64_t n = -1;
    ag_error err = {0};
    char **t = ag_tokenize(text, &n, &err);
    assert_non_null(t);
    int64_t k = 0;
    for (; want[k]; k++) {
        if (k >= n)
            fail_msg("\"%s\": %lld tokens, expected more (next \"%s\")", text, (long long)n,
                     want[k]);
        if (strcmp(t[k], want[k]))
            fail_msg("\"%s\": token %lld is \"%s\", expected \"%s\"", text, (long long)k, t[k],
                     want[k]);
    }
    if (n != k) fail_msg("\"%s\": %lld tokens, expected %lld", text, (long long)n, (long long)k);
    assert_null(t[n]);
    free(t);
}

static void test_tokenize(void **state)
{
    (void)state;
    /* lowercase; punctuation deleted before the split (Keras: "well-known" -> one token) */
    expect_tokens("Hello, World! It's well-known.",
                  (const char *[]){"hello", "world", "its", "wellknown", NULL});
    /* every character of Keras's strip set */
    expect_tokens("a!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'b c", (const char *[]){"ab", "c", NULL});
    /* punctuation between spaces leaves no empty token */
    expect_tokens("a - b ; (c)", (const char *[]){"a", "b", "c", NULL});
    /* ASCII whitespace of every kind splits */
    expect_tokens("\tone\r\ntwo\v\fthree   ", (const char *[]){"one", "two", "three", NULL});
    /* non-ASCII marks stay (Keras strips ASCII only); Latin-1, Greek and
     * Cyrillic capitals are lowercased */
    expect_tokens("\xE2\x80\x9CLet God\xE2\x80\x99s",
                  (const char *[]){"\xE2\x80\x9Clet", "god\xE2\x80\x99s", NULL});
    expect_tokens("\xC3\x86THER \xC3\x96L \xCE\x91\xCE\xA9 \xD0\x96\xD0\x81",
                  (const char *[]){"\xC3\xA6ther", "\xC3\xB6l", "\xCE\xB1\xCF\x89",
                                   "\xD0\xB6\xD1\x91", NULL});
    /* Spanish: accented letters are letters, ¿ ¡ « » punctuation */
    expect_tokens(
        "\xC2\xBFQui\xC3\xA9n? \xC2\xA1Se\xC3\xB1or! \xC2\xAB\xC3\x89l\xC2\xBB ping\xC3\xBCino",
        (const char *[]){"qui\xC3\xA9n", "se\xC3\xB1or", "\xC3\xA9l", "ping\xC3\xBCino", NULL});
    /* nothing left */
    expect_tokens("", (const char *[]){NULL});
    expect_tokens(" ?! -- ", (const char *[]){NULL});

    ag_error err = {0};
    int64_t n = 7;
    assert_null(ag_tokenize(NULL, &n, &err));
    assert_int_equal(err.code, AG_ERR_ARG);
    ag_assert_msg_has(err.msg, "ag_tokenize");
    assert_int_equal(n, 0);
}

static void test_vocab_order_and_ties(void **state)
{
    (void)state;
    ag_error err = {0};
    /* counts: b 1, a 3, c 3, d 3, e 1; first occurrence b a c d e.
     * Equal counts keep first-occurrence order: a c d, then b e. */
    const char *texts[] = {"b a c", "A, c d!", "d a", "c D e"};
    ag_vocab *v = ag_vocab_build(texts, 4, 100, &err);
    assert_non_null(v);
    assert_int_equal(ag_vocab_size(v), 7);
    const char *order[] = {"", "[UNK]", "a", "c", "d", "b", "e"};
    for (int i = 0; i < 7; i++)
        assert_string_equal(ag_vocab_token(v, i), order[i]);
    assert_null(ag_vocab_token(v, 7));
    assert_null(ag_vocab_token(v, -1));
    assert_int_equal(ag_vocab_lookup(v, "d"), 4);
    assert_int_equal(ag_vocab_lookup(v, "zebra"), AG_VOCAB_OOV);
    assert_int_equal(ag_vocab_lookup(v, "[UNK]"), AG_VOCAB_OOV);
    assert_int_equal(ag_vocab_lookup(v, ""), AG_VOCAB_OOV);
    ag_vocab_free(v);

    /* max_tokens counts padding and [UNK]: 4 keeps two real tokens */
    v = ag_vocab_build(texts, 4, 4, &err);
    assert_non_null(v);
    assert_int_equal(ag_vocab_size(v), 4);
    assert_string_equal(ag_vocab_token(v, 3), "c");
    assert_int_equal(ag_vocab_lookup(v, "d"), AG_VOCAB_OOV);
    ag_vocab_free(v);

    assert_null(ag_vocab_build(texts, 4, 2, &err));
    assert_int_equal(err.code, AG_ERR_ARG);
    ag_assert_msg_has(err.msg, "max_tokens must be at least 3");
    ag_assert_msg_has(err.msg, "received 2");
    assert_null(ag_vocab_build(NULL, 3, 10, &err));
    assert_int_equal(err.code, AG_ERR_ARG);

    /* pairs: text_a then text_b, row by row: x (a of row 0) before y (b of
     * row 0) before z (a of row 1), all counted twice */
    ag_pairs *p = ag_pairs_new();
    assert_int_equal(ag_pairs_add(p, "x w", "y", 1, &err), AG_OK);
    assert_int_equal(ag_pairs_add(p, "z y", "x z", 0, &err), AG_OK);
    v = ag_vocab_from_pairs(p, 10000, &err);
    assert_non_null(v);
    assert_int_equal(ag_vocab_size(v), 6);
    const char *porder[] = {"x", "y", "z", "w"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(ag_vocab_token(v, i + 2), porder[i]);
    ag_vocab_free(v);
    ag_pairs_free(p);
}

static void test_vocab_round_trip(void **state)
{
    (void)state;
    ag_error err = {0};
    const char *texts[] = {"the lord said unto moses", "the lord spoke to moses",
                           "god\xE2\x80\x99s \xE2\x80\x9Clet the"};
    ag_vocab *v = ag_vocab_build(texts, 3, 10000, &err);
    assert_non_null(v);
    char *s = ag_vocab_to_string(v, &err);
    assert_non_null(s);
    assert_true(!strncmp(s, "the\nlord\nmoses\nsaid\n", 20));
    ag_vocab *w = ag_vocab_from_string(s, &err);
    assert_non_null(w);
    assert_int_equal(ag_vocab_size(w), ag_vocab_size(v));
    for (int i = 0; i < ag_vocab_size(v); i++)
        assert_string_equal(ag_vocab_token(w, i), ag_vocab_token(v, i));
    assert_int_equal(ag_vocab_lookup(w, "god\xE2\x80\x99s"),
                     ag_vocab_lookup(v, "god\xE2\x80\x99s"));
    ag_vocab_free(w);

    /* a file, and CRLF and a missing final newline accepted */
    char path[256];
    snprintf(path, sizeof path, "%s/vocab.txt", tmpdir);
    assert_int_equal(ag_vocab_save(v, path, &err), AG_OK);
    w = ag_vocab_load(path, &err);
    assert_non_null(w);
    assert_int_equal(ag_vocab_size(w), ag_vocab_size(v));
    ag_vocab_free(w);
    w = ag_vocab_from_string("alpha\r\nbeta\r\ngamma", &err);
    assert_non_null(w);
    assert_int_equal(ag_vocab_size(w), 5);
    assert_int_equal(ag_vocab_lookup(w, "gamma"), 4);
    ag_vocab_free(w);
    w = ag_vocab_from_string("", &err); /* only the reserved ids */
    assert_non_null(w);
    assert_int_equal(ag_vocab_size(w), 2);
    ag_vocab_free(w);

    /* malformed vocabularies name the line */
    assert_null(ag_vocab_from_string("a\nb\na\n", &err));
    assert_int_equal(err.code, AG_ERR_FORMAT);
    ag_assert_msg_has(err.msg, "line 3");
    ag_assert_msg_has(err.msg, "\"a\" repeats token 2");
    assert_null(ag_vocab_from_string("a\n\nb\n", &err));
    ag_assert_msg_has(err.msg, "line 2");
    ag_assert_msg_has(err.msg, "empty");
    assert_null(ag_vocab_from_string("a b\n", &err));
    ag_assert_msg_has(err.msg, "whitespace");
    assert_null(ag_vocab_from_string("[UNK]\n", &err));
    ag_assert_msg_has(err.msg, "[UNK]");
    snprintf(path, sizeof path, "%s/bad_vocab.txt", tmpdir);
    FILE *f = fopen(path, "wb");
    fputs("x\ny\nx\n", f);
    fclose(f);
    assert_null(ag_vocab_load(path, &err));
    ag_assert_msg_has(err.msg, path);
    ag_assert_msg_has(err.msg, "line 3");
    assert_null(ag_vocab_load("/nonexistent/vocab.txt", &err));
    assert_int_equal(err.code, AG_ERR_IO);
    ag_assert_msg_has(err.msg, "/nonexistent/vocab.txt");

    /* from_tokens */
    w = ag_vocab_from_tokens((const char *[]){"p", "q"}, 2, &err);
    assert_non_null(w);
    assert_int_equal(ag_vocab_lookup(w, "q"), 3);
    ag_vocab_free(w);

    free(s);
    ag_vocab_free(v);
    assert_null(ag_vocab_to_string(NULL, &err));
    assert_int_equal(ag_vocab_size(NULL), 0);
    ag_vocab_free(NULL);
}

static void test_encode(void **state)
{
    (void)state;
    ag_error err = {0};
    ag_vocab *v = ag_vocab_from_tokens((const char *[]){"the", "lord", "said"}, 3, &err);
    assert_non_null(v);
    int32_t ids[8];
    assert_int_equal(ag_vocab_encode(v, "The LORD said: Behold!", ids, 8, &err), 4);
    const int32_t want[4] = {2, 3, 4, AG_VOCAB_OOV};
    for (int i = 0; i < 4; i++)
        assert_int_equal(ids[i], want[i]);
    /* cap: writes what fits, returns the full count */
    ids[1] = -5;
    assert_int_equal(ag_vocab_encode(v, "said said said", ids, 1, &err), 3);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[1], -5);
    /* a text with no tokens is one [UNK], never empty */
    assert_int_equal(ag_vocab_encode(v, " ... ", ids, 8, &err), 1);
    assert_int_equal(ids[0], AG_VOCAB_OOV);
    assert_int_equal(ag_vocab_encode(v, NULL, ids, 8, &err), -1);
    ag_assert_msg_has(err.msg, "text is NULL");
    ag_vocab_free(v);
}

static void test_pairs_load_errors(void **state)
{
    (void)state;
    ag_error err = {0};
    struct {
        const char *name, *content, *msg;
    } bad[] = {
        {"fields.tsv", "a\tb\t1\nc\td\t0\ne\tf\n",
         "fields.tsv:3: expected 3 tab-separated fields, found 2"},
        {"many.tsv", "a\tb\t1\tx\n", "many.tsv:1: expected 3 tab-separated fields, found 4"},
        {"blank.tsv", "a\tb\t1\n\nc\td\t0\n",
         "blank.tsv:2: expected 3 tab-separated fields, found 1"},
        {"label.tsv", "a\tb\t1\nc\td\tyes\n",
         "label.tsv:2: label (field 3) must be 0 or 1, found \"yes\""},
        {"label2.tsv", "a\tb\t2\n", "label2.tsv:1: label (field 3) must be 0 or 1, found \"2\""},
        {"empty_a.tsv", "a\tb\t1\n \tb\t1\n", "empty_a.tsv:2: text_a (field 1) is empty"},
        {"empty_b.tsv", "a\tb\t1\r\na\t\t0\r\n", "empty_b.tsv:2: text_b (field 2) is empty"},
        {"none.tsv", "", "none.tsv: no pairs"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *path = write_file(bad[k].name, bad[k].content);
        memset(&err, 0, sizeof err);
        ag_pairs *p = ag_pairs_load(path, &err);
        if (p) fail_msg("%s loaded, expected \"%s\"", bad[k].name, bad[k].msg);
        assert_int_equal(err.code, AG_ERR_FORMAT);
        ag_assert_msg_has(err.msg, bad[k].msg);
        ag_assert_msg_has(err.msg, tmpdir); /* the path as given */
    }
    assert_null(ag_pairs_load("/nonexistent/train.tsv", &err));
    assert_int_equal(err.code, AG_ERR_IO);
    ag_assert_msg_has(err.msg, "/nonexistent/train.tsv");
    assert_null(ag_pairs_load(NULL, &err));
    assert_int_equal(err.code, AG_ERR_ARG);
}

static void test_pairs_load_save(void **state)
{
    (void)state;
    ag_error err = {0};
    /* BOM, CRLF, 0.0/1.0 labels, no final newline */
    const char *path = write_file("ok.tsv", "\xEF\xBB\xBFIn the beginning\tAt first\t1.0\r\n"
                                            "Jesus wept.\tThe earth was void\t0\r\n"
                                            "x\ty\t0.0\r\n"
                                            "p q\tr\t1");
    ag_pairs *p = ag_pairs_load(path, &err);
    if (!p) fail_msg("%s", err.msg);
    assert_int_equal(p->n, 4);
    assert_string_equal(p->a[0], "In the beginning");
    assert_string_equal(p->b[1], "The earth was void");
    assert_string_equal(p->b[3], "r");
    const float want[4] = {1, 0, 0, 1};
    for (int i = 0; i < 4; i++)
        assert_true(p->label[i] == want[i]);

    /* saving turns tabs and newlines inside texts into spaces */
    assert_int_equal(ag_pairs_add(p, "tab\there", "new\nline\r", 1, &err), AG_OK);
    char out[256];
    snprintf(out, sizeof out, "%s/saved.tsv", tmpdir);
    assert_int_equal(ag_pairs_save(p, out, &err), AG_OK);
    ag_pairs *q = ag_pairs_load(out, &err);
    if (!q) fail_msg("%s", err.msg);
    assert_int_equal(q->n, 5);
    assert_string_equal(q->a[4], "tab here");
    assert_string_equal(q->b[4], "new line ");
    for (int i = 0; i < 4; i++) {
        assert_string_equal(q->a[i], p->a[i]);
        assert_true(q->label[i] == p->label[i]);
    }
    ag_pairs_free(q);
    ag_pairs_free(p);
    assert_int_equal(ag_pairs_add(NULL, "a", "b", 1, &err), AG_ERR_ARG);
    assert_int_equal(ag_pairs_save(NULL, out, &err), AG_ERR_ARG);
    ag_pairs *empty = ag_pairs_new();
    assert_int_equal(ag_pairs_save(empty, NULL, &err), AG_ERR_ARG);
    ag_pairs_free(empty);
}

static void test_batches_pad_to_their_longest(void **state)
{
    (void)state;
    ag_error err = {0};
    ag_pairs *p = ag_pairs_new();
    ag_pairs_add(p, "a b c d e", "a", 1, &err);      /* 5, 1 */
    ag_pairs_add(p, "b", "c d", 0, &err);            /* 1, 2 */
    ag_pairs_add(p, "c c", "?!", 1, &err);           /* 2, 1 ([UNK]) */
    ag_pairs_add(p, "e zz", "a b c d e a", 0, &err); /* 2, 6 */
    ag_vocab *v = ag_vocab_from_tokens((const char *[]){"a", "b", "c", "d", "e"}, 5, &err);
    ag_pair_ids *d = ag_pair_ids_encode(p, v, 0, &err);
    assert_non_null(d);
    assert_int_equal(d->n, 4);
    assert_int_equal(d->n_tokens, 5 + 1 + 2 + 2 + 1 + 2 + 1 + 6);
    assert_int_equal(d->n_oov, 2); /* "zz" and the empty text's [UNK] */

    ag_tensor *a = ag_tensor_new(AG_INT32, 1, (int64_t[]){1}, &err);
    ag_tensor *b = ag_tensor_new(AG_INT32, 1, (int64_t[]){1}, &err);
    ag_tensor *y = ag_tensor_new(AG_FLOAT32, 1, (int64_t[]){1}, &err);
    /* rows 2 and 1: a is padded to 2 (not 5, the data's longest), b to 2 */
    assert_int_equal(ag_pair_batch(d, (int64_t[]){2, 1}, 2, a, b, y, &err), AG_OK);
    assert_int_equal(a->rank, 2);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->shape[1], 2);
    assert_int_equal(b->shape[1], 2);
    const int32_t wa[4] = {4, 4, 3, 0}, wb[4] = {AG_VOCAB_OOV, 0, 4, 5};
    for (int i = 0; i < 4; i++)
        assert_int_equal(AG_I32(a)[i], wa[i]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(AG_I32(b)[i], wb[i]);
    assert_int_equal(y->shape[0], 2);
    assert_int_equal(y->shape[1], 1);
    assert_true(AG_F32(y)[0] == 1 && AG_F32(y)[1] == 0);
    /* all rows: a to 5, b to 6, padding zeros after each row */
    assert_int_equal(ag_pair_batch(d, (int64_t[]){0, 1, 2, 3}, 4, a, b, NULL, &err), AG_OK);
    assert_int_equal(a->shape[1], 5);
    assert_int_equal(b->shape[1], 6);
    const int32_t row3b[6] = {2, 3, 4, 5, 6, 2};
    for (int i = 0; i < 6; i++)
        assert_int_equal(AG_I32(b)[18 + i], row3b[i]);
    assert_int_equal(AG_I32(a)[5 + 1], 0); /* row 1, after its one token */
    /* one row: its own length */
    assert_int_equal(ag_pair_batch(d, (int64_t[]){1}, 1, a, b, y, &err), AG_OK);
    assert_int_equal(a->shape[1], 1);
    assert_int_equal(b->shape[1], 2);
    /* bad rows */
    assert_int_equal(ag_pair_batch(d, (int64_t[]){0, 4}, 2, a, b, y, &err), AG_ERR_RANGE);
    ag_assert_msg_has(err.msg, "rows[1] must be in [0, 4), received 4");
    assert_int_equal(ag_pair_batch(d, (int64_t[]){0}, 0, a, b, y, &err), AG_ERR_ARG);
    assert_int_equal(ag_pair_batch(NULL, (int64_t[]){0}, 1, a, b, y, &err), AG_ERR_ARG);
    ag_pair_ids_free(d);

    /* max_len keeps the first tokens */
    d = ag_pair_ids_encode(p, v, 3, &err);
    assert_non_null(d);
    assert_int_equal(ag_pair_batch(d, (int64_t[]){0, 3}, 2, a, b, NULL, &err), AG_OK);
    assert_int_equal(a->shape[1], 3);
    assert_int_equal(b->shape[1], 3);
    assert_int_equal(AG_I32(a)[2], 4);
    ag_pair_ids_free(d);
    assert_null(ag_pair_ids_encode(p, v, -1, &err));
    assert_int_equal(err.code, AG_ERR_ARG);
    assert_null(ag_pair_ids_encode(NULL, v, 0, &err));

    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_tensor_free(y);
    ag_vocab_free(v);
    ag_pairs_free(p);
}

static void test_crc32(void **state)
{
    (void)state;
    const char *fox = "The quick brown fox jumps over the lazy dog";
    assert_int_equal(ag_crc32(0, fox, strlen(fox)), 0x414FA339u);
    assert_int_equal(ag_crc32(0, "", 0), 0);
    assert_int_equal(ag_crc32(0, "123456789", 9), 0xCBF43926u); /* the standard check value */
    /* continuing a CRC equals one pass */
    uint32_t c = ag_crc32(0, fox, 10);
    assert_int_equal(ag_crc32(c, fox + 10, strlen(fox) - 10), 0x414FA339u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_vocab_order_and_ties),
        cmocka_unit_test(test_vocab_round_trip),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_pairs_load_errors),
        cmocka_unit_test(test_pairs_load_save),
        cmocka_unit_test(test_batches_pad_to_their_longest),
        cmocka_unit_test(test_crc32),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
