/* test_hostile.c — the readers and writers against hostile or careless input:
 * each test is the regression test of one finding of issue 10 (duplicate
 * JSON keys, FIFOs, control bytes in messages, reasons in I/O messages,
 * atomic writes on a full disk, qsort of nothing, the quadratic Bible parser,
 * model files whose config outgrows their tensors, checksums, non-finite
 * weights, the memory budget). */
#include "attograd_app.h"
#include "model_util.h"
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
    (void)state;
    return ag_test_make_dir(dir, sizeof dir, "hostile");
}

static int teardown(void **state)
{
    (void)state;
    ag_test_remove_dir(dir);
    return 0;
}

static const char *path_in(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static char *read_all(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)*n + 1);
    assert_int_equal(fread(b, 1, (size_t)*n, f), (size_t)*n);
    b[*n] = 0;
    fclose(f);
    return b;
}

/* A safetensors file from a header text and data bytes. */
static void write_st(const char *path, const char *header, const void *data, size_t n)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + n + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    if (n) memcpy(b + 8 + h, data, n);
    write_bytes(path, b, 8 + h + n);
    free(b);
}

static void assert_printable(const char *msg)
{
    for (const char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            fail_msg("message has control byte 0x%02x: %s", (unsigned char)*c, msg);
}

/* ---- duplicate keys ---- */

static void test_duplicate_metadata_refused(void **state)
{
    (void)state;
    /* the 88-byte file of the report: a second, smaller __metadata__ */
    const char *h = "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"},"
                    "\"__metadata__\":{\"a\":\"1\"}}";
    const char *p = path_in("dup.safetensors");
    write_st(p, h, NULL, 0);
    ag_error err = {0};
    assert_null(ag_safetensors_open(p, &err));
    ag_assert_msg_has(err.msg, "the key \"__metadata__\" twice");
    ag_model *m = ag_model_load(p, &err);
    assert_null(m);
    ag_assert_msg_has(err.msg, "twice");
}

static void test_duplicate_keys_anywhere_refused(void **state)
{
    (void)state;
    float x[2] = {1, 2};
    const char *p = path_in("dup_tensor.safetensors");
    write_st(p,
             "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             x, sizeof x);
    ag_error err = {0};
    assert_null(ag_safetensors_open(p, &err));
    ag_assert_msg_has(err.msg, "the key \"t\" twice");
    /* inside a tensor's entry, and in a model config */
    write_st(p,
             "{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             x, 4);
    assert_null(ag_safetensors_open(p, &err));
    ag_assert_msg_has(err.msg, "the key \"dtype\" twice");
    assert_null(ag_model_from_config("{\"class_name\":\"Sequential\",\"class_name\":\"Functional\","
                                     "\"config\":{}}",
                                     &err));
    ag_assert_msg_has(err.msg, "the key \"class_name\" twice");
    /* a key escaped into control bytes is shown escaped */
    write_st(p, "{\"\\u001b[31m\":{},\"\\u001b[31m\":{}}", NULL, 0);
    assert_null(ag_safetensors_open(p, &err));
    ag_assert_msg_has(err.msg, "\\x1b[31m");
    assert_printable(err.msg);
}

/* fuzz_safetensors' first finding: a tensor after an odd-sized one was a
 * misaligned view (UBSan: load of misaligned address for type 'double') */
static void test_misaligned_tensor(void **state)
{
    (void)state;
    unsigned char data[3 + 8] = {1, 0, 1};
    double v = -2.5;
    memcpy(data + 3, &v, 8);
    const char *p = path_in("odd.safetensors");
    write_st(p,
             "{\"b\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]},"
             "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[3,11]}}",
             data, sizeof data);
    ag_error err = {0};
    ag_safetensors *st = ag_safetensors_open(p, &err);
    assert_non_null(st);
    const ag_tensor *d = ag_safetensors_get(st, "d");
    assert_true(((uintptr_t)d->data & 7) == 0);
    assert_true(ag_tensor_get(d, 0) == -2.5);
    ag_safetensors_close(st);
}

/* the long fuzz run's findings: names from a file reached messages raw */
static void test_names_in_messages_escaped(void **state)
{
    (void)state;
    ag_error err = {0};
    assert_null(ag_model_from_config("{\"class_name\":\"Sequential\",\"config\":{\"layers\":"
                                     "[{\"class_name\":\"Dense\x7f\",\"config\":{}}]}}",
                                     &err));
    ag_assert_msg_has(err.msg, "the string \"Dense\\x7f\" holds a control character");
    assert_printable(err.msg);
    float x[2] = {0};
    write_st(path_in("hole.safetensors"),
             "{\"a\\r\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", x, 8);
    assert_null(ag_safetensors_open(path_in("hole.safetensors"), &err));
    ag_assert_msg_has(err.msg, "tensor 'a\\x0d' starts at data byte 4");
    assert_printable(err.msg);
}

/* The long fuzz run's finding: a model seed of -337 was taken as 2^64 - 337,
 * written so, and read back as 0 (a 20-digit number was not an integer to
 * the JSON reader), so a config did not survive its own round trip. Seeds
 * are integers from 0 to 2^64 - 1, in the model and in every layer. */
static void test_config_seeds(void **state)
{
    (void)state;
    ag_error err = {0};
    assert_null(ag_model_from_config(
        "{\"class_name\":\"Sequential\",\"config\":{\"seed\":-337,\"layers\":[]}}", &err));
    ag_assert_msg_has(err.msg, "config.seed must be an integer from 0 to 18446744073709551615, "
                               "received -337");
    assert_null(ag_model_from_config("{\"class_name\":\"Sequential\",\"config\":{\"seed\":1.5,"
                                     "\"layers\":[]}}",
                                     &err));
    ag_assert_msg_has(err.msg, "received 1.5");
    assert_null(ag_model_from_config(
        "{\"class_name\":\"Sequential\",\"config\":{\"layers\":[{\"class_name\":\"Dropout\","
        "\"config\":{\"rate\":0.5,\"seed\":-1}}]}}",
        &err));
    ag_assert_msg_has(err.msg, "Dropout's seed must be null or an integer from 0 to");
    ag_model *m = ag_model_new(AG_FLOAT32, UINT64_MAX);
    ag_model_input(m, "x", AG_FLOAT32, 1, (int64_t[]){2});
    ag_model_add(m, ag_layer_dropout(m, 0.5, UINT64_MAX - 1));
    assert_int_equal(ag_model_status(m), AG_OK);
    char *cfg = ag_model_get_config(m);
    assert_non_null(strstr(cfg, "\"seed\":18446744073709551615"));
    assert_non_null(strstr(cfg, "\"seed\":18446744073709551614"));
    ag_model *again = ag_model_from_config(cfg, &err);
    assert_non_null(again);
    char *cfg2 = ag_model_get_config(again);
    assert_string_equal(cfg, cfg2);
    free(cfg), free(cfg2);
    ag_model_free(m), ag_model_free(again);
    assert_null(ag_model_from_config("{\"class_name\":\"Sequential\",\"config\":{\"seed\":"
                                     "18446744073709551616,\"layers\":[]}}",
                                     &err));
    ag_assert_msg_has(err.msg, "config.seed must be an integer");
}

/* ---- special files: refused at once, never waited on ---- */

static void test_fifo_refused_without_blocking(void **state)
{
    (void)state;
    const char *p = path_in("fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    alarm(20); /* a reader that blocks is killed here, and the test fails */
    ag_error err = {0};
    assert_null(ag_npy_load(p, &err));
    ag_assert_msg_has(err.msg, "is not a regular file (it is a FIFO)");
    assert_null(ag_safetensors_open(p, &err));
    ag_assert_msg_has(err.msg, "is not a regular file (it is a FIFO)");
    assert_null(ag_model_load(p, &err));
    ag_assert_msg_has(err.msg, "FIFO");
    assert_null(ag_pairs_load(p, &err));
    ag_assert_msg_has(err.msg, "FIFO");
    assert_null(ag_vocab_load(p, &err));
    ag_assert_msg_has(err.msg, "FIFO");
    alarm(0);
    unlink(p);
    /* a directory, and a missing file: with the reason */
    assert_null(ag_pairs_load("/tmp", &err));
    ag_assert_msg_has(err.msg, "/tmp is not a regular file (it is a directory)");
    assert_null(ag_pairs_load(path_in("missing.tsv"), &err));
    ag_assert_msg_has(err.msg, "No such file or directory");
    assert_null(ag_npy_load(path_in("missing.npy"), &err));
    ag_assert_msg_has(err.msg, "No such file or directory");
}

/* ---- control bytes in messages ---- */

static void test_control_bytes_escaped(void **state)
{
    (void)state;
    /* a .npy header whose descr and key hold an escape sequence */
    const char *p = path_in("esc.npy");
    const char *hdrs[2] = {"{'descr': '\033[2J\033[31m', 'fortran_order': False, 'shape': (1,), }",
                           "{'\033]0;pwned\007': 1}"};
    for (int k = 0; k < 2; k++) {
        char b[256];
        size_t n = strlen(hdrs[k]);
        memcpy(b, "\x93NUMPY\x01\x00", 8);
        b[8] = (char)(n + 1), b[9] = 0;
        memcpy(b + 10, hdrs[k], n);
        b[10 + n] = '\n';
        write_bytes(p, b, 11 + n);
        ag_error err = {0};
        assert_null(ag_npy_load(p, &err));
        ag_assert_msg_has(err.msg, k == 0 ? "unsupported dtype '\\x1b[2J\\x1b[31m'" : "\\x1b]0;");
        assert_printable(err.msg);
    }
    /* the TSV label */
    const char *t = path_in("esc.tsv");
    const char *tsv = "a b\tc d\t\033[31mred\n";
    write_bytes(t, tsv, strlen(tsv));
    ag_error err = {0};
    assert_null(ag_pairs_load(t, &err));
    ag_assert_msg_has(err.msg, "found \"\\x1b[31mred\"");
    assert_printable(err.msg);
    char buf[16];
    assert_string_equal(ag_escape("a\\b\n\177", 5, buf, sizeof buf), "a\\\\b\\x0a\\x7f");
    assert_string_equal(ag_escape("abcdefghijklmnopqrstuvwxyz", 26, buf, 8), "abcdefg");
}

/* ---- atomic writes: a full disk leaves the old file ---- */

static void test_full_disk_keeps_old_files(void **state)
{
    (void)state;
    const char *tp = path_in("keep.tsv"), *np = path_in("keep.npy");
    const char *old = "old a\told b\t1\n";
    write_bytes(tp, old, strlen(old));
    write_bytes(np, old, strlen(old));
    ag_pairs *p = ag_pairs_new();
    static char big[100000];
    memset(big, 'x', sizeof big - 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ag_pairs_add(p, big, big, 1, NULL), AG_OK);
    ag_tensor *t = ag_tensor_new(AG_FLOAT32, 1, (int64_t[]){100000}, NULL);
    /* a file size limit stands in for a full disk: writes fail with EFBIG */
    struct rlimit saved, lim;
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 65536;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ag_error e1 = {0}, e2 = {0};
    ag_status s1 = ag_pairs_save(p, tp, &e1), s2 = ag_npy_save(np, t, &e2);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(s1, AG_ERR_IO);
    assert_int_equal(s2, AG_ERR_IO);
    ag_assert_msg_has(e1.msg, "File too large");
    ag_assert_msg_has(e2.msg, "File too large");
    long n;
    char *b = read_all(tp, &n);
    assert_string_equal(b, old);
    free(b);
    b = read_all(np, &n);
    assert_string_equal(b, old);
    free(b);
    /* no temporary file is left behind */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) fail_msg("left %s", e->d_name);
    closedir(d);
    /* and a save that succeeds replaces the file */
    assert_int_equal(ag_npy_save(np, t, NULL), AG_OK);
    ag_tensor *back = ag_npy_load(np, NULL);
    assert_non_null(back);
    assert_int_equal(back->size, 100000);
    ag_tensor_free(back);
    ag_tensor_free(t);
    ag_pairs_free(p);
}

/* ---- a vocabulary of no tokens (qsort of nothing) ---- */

static void test_vocabulary_of_no_tokens(void **state)
{
    (void)state;
    ag_pairs *p = ag_pairs_new();
    ag_pairs_add(p, "!!!", "...", 1, NULL);
    ag_pairs_add(p, "?", "-", 0, NULL);
    ag_error err = {0};
    ag_vocab *v = ag_vocab_from_pairs(p, 100, &err);
    assert_non_null(v);
    assert_int_equal(ag_vocab_size(v), 2); /* padding and [UNK] */
    ag_vocab_free(v);
    v = ag_vocab_build(NULL, 0, 10, &err);
    assert_non_null(v);
    ag_vocab_free(v);
    ag_pairs_free(p);
}

/* ---- the Bible parser is linear in leading whitespace ---- */

static void test_bible_leading_whitespace(void **state)
{
    (void)state;
    /* 400,000 spaces: 8e10 steps for the old quadratic parser (minutes),
     * 4e5 now. */
    size_t n = 400000;
    const char *tail = "x\nGenesis 1:1: In the beginning\nGenesis 1:2: And the earth\n";
    char *a = malloc(n + strlen(tail) + 1);
    memset(a, ' ', n);
    strcpy(a + n, tail);
    ag_pairs *out[3] = {ag_pairs_new(), ag_pairs_new(), ag_pairs_new()};
    ag_bible_stats st;
    ag_error err = {0};
    assert_int_equal(ag_bible_pairs(a, a, 1, out, &st, &err), AG_OK);
    assert_int_equal(st.verses_a, 2);
    /* the regex's corner: whitespace is given back when a digit follows it */
    const char *b = "  \t 1:2: text\n";
    ag_pairs *o2[3] = {ag_pairs_new(), ag_pairs_new(), ag_pairs_new()};
    assert_int_equal(ag_bible_pairs(b, b, 1, o2, &st, &err), AG_OK);
    assert_int_equal(st.verses_a, 1);
    for (int k = 0; k < 3; k++)
        ag_pairs_free(out[k]), ag_pairs_free(o2[k]);
    free(a);
}

/* ---- model files ---- */

static ag_model *small_model(void)
{
    cnn_size s = {.vocab = 12, .dim = 4, .filters = 3, .hidden = 5};
    return cnn_attention_model(&s, AG_FLOAT32, 7);
}

static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t a = (size_t)(at - s), n = strlen(s) - strlen(from) + strlen(to);
    char *r = malloc(n + 1);
    memcpy(r, s, a);
    strcpy(r + a, to);
    strcat(r, at + strlen(from));
    return r;
}

static void test_config_larger_than_tensors(void **state)
{
    (void)state;
    ag_model *m = small_model();
    char *cfg = ag_model_get_config(m);
    char *big = replace(cfg, "\"input_dim\":12", "\"input_dim\":100000000");
    const char *keys[2] = {"format", "config"}, *vals[2] = {"attograd", big};
    const char *p = path_in("huge.safetensors");
    assert_int_equal(ag_safetensors_save(p, NULL, NULL, 0, keys, vals, 2, NULL), AG_OK);
    /* with a 16 MB budget: building the 3.2 GB embedding first would fail
     * on the budget; checking the file first says what is missing */
    ag_set_memory_limit(16 << 20);
    ag_error err = {0};
    assert_null(ag_model_load(p, &err));
    ag_set_memory_limit(0);
    ag_assert_msg_has(err.msg, "has no tensor 'embedding/embeddings' (the model needs it)");
    /* the right name with the config's (huge) shape is no better: the file's
     * tensor decides */
    float w[48] = {0};
    const char *nm[1] = {"embedding/embeddings"};
    ag_tensor *t = ag_tensor_from(AG_FLOAT32, 2, (int64_t[]){12, 4}, w, NULL);
    const ag_tensor *ts[1] = {t};
    assert_int_equal(ag_safetensors_save(p, nm, ts, 1, keys, vals, 2, NULL), AG_OK);
    ag_set_memory_limit(16 << 20);
    assert_null(ag_model_load(p, &err));
    ag_set_memory_limit(0);
    ag_assert_msg_has(err.msg, "tensor 'embedding/embeddings' is float32 (12, 4), the model "
                               "expects float32 (100000000, 4)");
    ag_tensor_free(t);
    free(big);
    free(cfg);
    ag_model_free(m);
}

static void test_checksums(void **state)
{
    (void)state;
    ag_model *m = small_model();
    const char *p = path_in("m.safetensors");
    assert_int_equal(ag_model_save(m, p, NULL, NULL, 0), AG_OK);
    long n;
    char *b = read_all(p, &n);
    ag_assert_msg_has(b + 8, "\"crc32/embedding/embeddings\":\"");
    /* one flipped bit in the last tensor's data */
    b[n - 3] ^= 0x10;
    write_bytes(path_in("flip.safetensors"), b, (size_t)n);
    ag_error err = {0};
    assert_null(ag_model_load(path_in("flip.safetensors"), &err));
    ag_assert_msg_has(err.msg, "is damaged: its bytes have CRC-32");
    ag_assert_msg_has(err.msg, "tensor 'dense_1/");
    free(b);
    /* a file without checksums (another tool's) loads */
    float x[2] = {1.5f, -2};
    write_st(path_in("plain.safetensors"),
             "{\"__metadata__\":{\"k\":\"v\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
             "\"data_offsets\":[0,8]}}      ",
             x, sizeof x);
    ag_safetensors *st = ag_safetensors_open(path_in("plain.safetensors"), &err);
    assert_non_null(st);
    assert_int_equal(ag_safetensors_metadata_count(st), 1);
    ag_safetensors_close(st);
    /* a checksum of a tensor that is not there, or not a CRC, is refused */
    write_st(path_in("plain.safetensors"),
             "{\"__metadata__\":{\"crc32/y\":\"00000000\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
             "\"data_offsets\":[0,8]}}",
             x, sizeof x);
    assert_null(ag_safetensors_open(path_in("plain.safetensors"), &err));
    ag_assert_msg_has(err.msg, "checksum of a tensor 'y' that the file does not hold");
    write_st(path_in("plain.safetensors"),
             "{\"__metadata__\":{\"crc32/x\":\"-0000001\"},\"x\":{\"dtype\":\"F32\",\"shape\":[2],"
             "\"data_offsets\":[0,8]}}",
             x, sizeof x);
    assert_null(ag_safetensors_open(path_in("plain.safetensors"), &err));
    ag_assert_msg_has(err.msg, "must be 8 hexadecimal digits");
    /* the checksum entries are the writer's own */
    const char *k[1] = {"crc32/x"}, *v[1] = {"0"};
    assert_int_equal(ag_model_save(m, p, k, v, 1), AG_ERR_ARG);
    ag_model_free(m);
}

/* ag_tensor_find_nonfinite tests blocks of 4096 without an early exit:
 * the first NaN or infinity is still the one found, in any block. */
static void test_find_nonfinite(void **state)
{
    (void)state;
    const double bad[3] = {NAN, INFINITY, -INFINITY};
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_FLOAT64 : AG_FLOAT32;
        ag_tensor *t = ag_tensor_new(dt, 1, (int64_t[]){10000}, NULL);
        assert_int_equal(ag_tensor_find_nonfinite(t), -1);
        ag_tensor_set(t, 9999, 3.4e38); /* large but finite */
        assert_int_equal(ag_tensor_find_nonfinite(t), -1);
        for (int b = 0; b < 3; b++) {
            const int64_t at[4] = {0, 4095, 4096, 9999};
            for (int k = 0; k < 4; k++) {
                ag_tensor_set(t, at[k], bad[b]);
                assert_int_equal(ag_tensor_find_nonfinite(t), at[k]);
                if (at[k] + 7 < 10000) ag_tensor_set(t, at[k] + 7, bad[(b + 1) % 3]);
                assert_int_equal(ag_tensor_find_nonfinite(t), at[k]);
                ag_tensor_set(t, at[k], 0);
                if (at[k] + 7 < 10000) ag_tensor_set(t, at[k] + 7, 0);
            }
        }
        ag_tensor_free(t);
        /* large: searched by several threads, the lowest index still wins */
        t = ag_tensor_new(dt, 1, (int64_t[]){300000}, NULL);
        assert_int_equal(ag_tensor_find_nonfinite(t), -1);
        ag_tensor_set(t, 299999, NAN);
        assert_int_equal(ag_tensor_find_nonfinite(t), 299999);
        ag_tensor_set(t, 200000, INFINITY);
        ag_tensor_set(t, 70001, -INFINITY);
        assert_int_equal(ag_tensor_find_nonfinite(t), 70001);
        ag_tensor_set(t, 3, NAN);
        assert_int_equal(ag_tensor_find_nonfinite(t), 3);
        ag_tensor_free(t);
    }
}

static void test_nonfinite_weights_refused(void **state)
{
    (void)state;
    ag_model *m = small_model();
    ag_node *w[16];
    int n = ag_model_weights(m, -1, w, 16);
    assert_true(n > 2);
    AG_F32(ag_value(w[2]))[1] = NAN;
    const char *p = path_in("nan.safetensors");
    /* ag_model_save refuses it; write the file as another tool would */
    assert_int_equal(ag_model_save(m, p, NULL, NULL, 0), AG_ERR_NONFINITE);
    char *cfg = ag_model_get_config(m);
    const char *keys[2] = {"format", "config"}, *vals[2] = {"attograd", cfg};
    const char *names[16];
    const ag_tensor *ts[16];
    for (int i = 0; i < n; i++)
        names[i] = ag_node_name(w[i]), ts[i] = ag_value(w[i]);
    assert_int_equal(ag_safetensors_save(p, names, ts, n, keys, vals, 2, NULL), AG_OK);
    free(cfg);
    ag_error err = {0};
    assert_null(ag_model_load(p, &err));
    char want[160];
    snprintf(want, sizeof want, "tensor '%s' holds a non-finite value (nan at flat index 1)",
             ag_node_name(w[2]));
    ag_assert_msg_has(err.msg, want);
    ag_model_free(m);
}

/* ---- non-finite values stop training; checkpoints ---- */

typedef struct nan_source {
    ag_tensor *x, *y;
    int64_t calls, poison_at; /* the batch (counting from 0 over epochs) whose target is NaN */
} nan_source;

static ag_status nan_batch(void *user, int64_t b, const ag_tensor **in, const ag_tensor **target,
                           ag_error *err)
{
    (void)b, (void)err;
    nan_source *s = user;
    for (int64_t i = 0; i < s->y->size; i++)
        AG_F32(s->y)[i] = s->calls == s->poison_at ? NAN : (float)(i % 2);
    s->calls++;
    in[0] = s->x;
    *target = s->y;
    return AG_OK;
}

static ag_model *dense_model(void)
{
    ag_model *m = ag_model_new(AG_FLOAT32, 3);
    ag_node *x = ag_model_input(m, "x", AG_FLOAT32, 1, (int64_t[]){2});
    ag_node *o = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), x);
    ag_model_build(m, &x, 1, &o, 1);
    ag_model_compile(m, NULL, AG_LOSS_BINARY_CROSSENTROPY, 0, AG_METRIC_ACCURACY);
    return m;
}

static void test_nonfinite_loss_stops_fit(void **state)
{
    (void)state;
    ag_model *m = dense_model();
    nan_source s = {ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){4, 2}, NULL),
                    ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){4, 1}, NULL), 0, 5 + 2};
    for (int64_t i = 0; i < s.x->size; i++)
        AG_F32(s.x)[i] = (float)i / 8;
    ag_batch_source src = {5, nan_batch, &s};
    ag_fit_options o = ag_fit_defaults();
    o.epochs = 3, o.verbose = 0, o.shuffle = 0;
    o.checkpoint_dir = dir;
    ag_history h;
    assert_int_equal(ag_model_fit_source(m, &src, &o, &h), AG_ERR_NONFINITE);
    ag_assert_msg_has(ag_model_error(m), "fit: epoch 2, batch 3 of 5: the loss is nan (the "
                                         "weights were not updated); training stopped");
    /* the weights are those before the bad batch: finite, and saved */
    assert_int_equal(ag_model_save(m, path_in("after_nan.safetensors"), NULL, NULL, 0), AG_OK);
    /* epoch 1's checkpoint is there, epoch 2's is not */
    assert_int_equal(access(path_in("epoch-000001.safetensors"), F_OK), 0);
    assert_int_equal(access(path_in("epoch-000002.safetensors"), F_OK), -1);
    /* resuming runs epochs 2 and 3 only: it ends as a run without the NaN */
    ag_model *r = dense_model(), *ref = dense_model();
    nan_source s2 = s, s3 = s;
    s2.calls = 5, s2.poison_at = -1, s3.calls = 0, s3.poison_at = -1;
    ag_batch_source src2 = {5, nan_batch, &s2}, src3 = {5, nan_batch, &s3};
    o.resume = 1;
    assert_int_equal(ag_model_fit_source(r, &src2, &o, &h), AG_OK);
    assert_int_equal(h.epochs, 3);
    assert_int_equal(s2.calls, 15); /* two epochs of 5 batches after the first */
    ag_history_release(&h);
    o.resume = 0, o.checkpoint_dir = NULL;
    assert_int_equal(ag_model_fit_source(ref, &src3, &o, &h), AG_OK);
    ag_history_release(&h);
    ag_node *wr[4], *wf[4];
    int n = ag_model_weights(r, -1, wr, 4);
    ag_model_weights(ref, -1, wf, 4);
    for (int i = 0; i < n; i++)
        assert_memory_equal(ag_value(wr[i])->data, ag_value(wf[i])->data,
                            (size_t)ag_value(wr[i])->size * 4);
    assert_int_equal(ag_optimizer_state_count(NULL), 0);
    /* a model with a non-finite weight is never saved */
    AG_F32(ag_value(wr[0]))[0] = INFINITY;
    assert_int_equal(ag_model_save(r, path_in("inf.safetensors"), NULL, NULL, 0), AG_ERR_NONFINITE);
    ag_assert_msg_has(ag_model_error(r), "holds inf at flat index 0; non-finite weights are never");
    ag_model_free(r);
    ag_model_free(ref);
    ag_tensor_free(s.x);
    ag_tensor_free(s.y);
    ag_model_free(m);
}

/* ---- the memory budget ---- */

static void test_memory_budget(void **state)
{
    (void)state;
    ag_error err = {0};
    ag_set_memory_limit(1 << 20);
    assert_int_equal(ag_memory_limit(), 1 << 20);
    assert_null(ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){1024, 1024}, &err));
    ag_assert_msg_has(err.msg, "tensor: float32 (1024, 1024) needs 4194304 bytes, more than the "
                               "memory limit of 1048576 bytes");
    /* a graph's tensors add up: each fits, all do not */
    ag_graph *g = ag_graph_new();
    ag_node *a = ag_variable(g, "a", 1, (int64_t[]){100000});
    ag_node *b = ag_variable(g, "b", 1, (int64_t[]){100000});
    assert_non_null(a);
    assert_non_null(b);
    assert_null(ag_variable(g, "c", 1, (int64_t[]){100000}));
    ag_assert_msg_has(ag_graph_error(g), "exceeds the memory limit of 1048576 bytes");
    ag_graph_free(g);
    /* a file larger than the budget is not read */
    static char big[2 << 20];
    memset(big, 'a', sizeof big);
    write_bytes(path_in("big.tsv"), big, sizeof big);
    assert_null(ag_pairs_load(path_in("big.tsv"), &err));
    ag_assert_msg_has(err.msg, "more than the memory limit");
    ag_set_memory_limit(0);
    assert_int_equal(ag_memory_limit(), UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicate_metadata_refused),
        cmocka_unit_test(test_duplicate_keys_anywhere_refused),
        cmocka_unit_test(test_misaligned_tensor),
        cmocka_unit_test(test_names_in_messages_escaped),
        cmocka_unit_test(test_config_seeds),
        cmocka_unit_test(test_fifo_refused_without_blocking),
        cmocka_unit_test(test_control_bytes_escaped),
        cmocka_unit_test(test_full_disk_keeps_old_files),
        cmocka_unit_test(test_vocabulary_of_no_tokens),
        cmocka_unit_test(test_bible_leading_whitespace),
        cmocka_unit_test(test_config_larger_than_tensors),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_find_nonfinite),
        cmocka_unit_test(test_nonfinite_weights_refused),
        cmocka_unit_test(test_nonfinite_loss_stops_fit),
        cmocka_unit_test(test_memory_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
