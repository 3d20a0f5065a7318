/* test_safetensors.c — the safetensors format and model save/load: round
 * trips (every dtype, metadata), save -> load -> bit-identical predictions,
 * atomic writes, refusal of truncated and corrupted files, and the NumPy
 * reader in tools/ when Python with NumPy is available. */
#include "testutil.h"
#include "model_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
    (void)state;
    return ag_test_make_dir(dir, sizeof dir, "safetensors");
}

static int teardown(void **state)
{
    (void)state;
    ag_test_remove_dir(dir);
    return 0;
}

static const char *path_in(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static unsigned char *read_file(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*n + 1);
    assert_int_equal(fread(b, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return b;
}

static void write_file(const char *path, const void *b, long n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

static void test_round_trip_every_dtype(void **state)
{
    (void)state;
    ag_tensor *t[5] = {
        ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){2, 3}, NULL),
        ag_tensor_new(AG_FLOAT64, 1, (int64_t[]){4}, NULL),
        ag_tensor_new(AG_INT32, 3, (int64_t[]){1, 2, 2}, NULL),
        ag_tensor_new(AG_INT64, 0, NULL, NULL),
        ag_tensor_new(AG_BOOL, 1, (int64_t[]){0}, NULL),
    };
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < t[i]->size; j++)
            ag_tensor_set(t[i], j, (double)(j * 7 - 3) / 2);
    const char *names[5] = {"a/f32", "b/f64", "c/i32", "d/i64", "e/bool"};
    const char *keys[2] = {"vocab", "note"}, *vals[2] = {"the\nquick \"brown\" fox", "ü"};
    ag_error err = {0};
    const char *p = path_in("raw.safetensors");
    assert_int_equal(
        ag_safetensors_save(p, names, (const ag_tensor *const *)t, 5, keys, vals, 2, &err), AG_OK);
    ag_safetensors *st = ag_safetensors_open(p, &err);
    if (!st) fail_msg("%s", err.msg);
    assert_int_equal(ag_safetensors_count(st), 5);
    for (int i = 0; i < 5; i++) {
        const ag_tensor *r = ag_safetensors_get(st, names[i]);
        assert_non_null(r);
        assert_int_equal(r->dtype, t[i]->dtype);
        assert_int_equal(r->rank, t[i]->rank);
        assert_int_equal(r->size, t[i]->size);
        if (r->size)
            assert_memory_equal(r->data, t[i]->data, (size_t)r->size * ag_dtype_size(r->dtype));
        ag_tensor_free(t[i]);
    }
    assert_string_equal(ag_safetensors_metadata(st, "vocab"), vals[0]);
    assert_string_equal(ag_safetensors_metadata(st, "note"), vals[1]);
    assert_null(ag_safetensors_metadata(st, "absent"));
    assert_null(ag_safetensors_get(st, "absent"));
    ag_safetensors_close(st);
    /* the data starts 8-byte aligned */
    long n;
    unsigned char *b = read_file(p, &n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)b[i] << (8 * i);
    assert_int_equal(hlen % 8, 0);
    free(b);
}

typedef struct trained {
    ag_model *m;
    ag_tensor *q, *v, *y;
} trained;

static trained train_small(ag_dtype dt, int additive)
{
    trained t;
    cnn_size s = {30, 6, 5, 4, additive, !additive, 1};
    t.m = cnn_attention_model(&s, dt, 17);
    enum { N = 12, TQ = 5, TV = 6 };
    int32_t q[N * TQ], v[N * TV];
    float y[N];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < TQ; k++)
            q[i * TQ + k] = k < 2 + i % 4 ? 1 + (i + 3 * k) % 29 : 0;
        for (int k = 0; k < TV; k++)
            v[i * TV + k] = k < 3 + i % 3 ? 1 + (2 * i + 5 * k) % 29 : 0;
        y[i] = (float)(i % 2);
    }
    t.q = ids_tensor(N, TQ, q);
    t.v = ids_tensor(N, TV, v);
    t.y = ag_tensor_from(AG_FLOAT32, 2, (int64_t[]){N, 1}, y, NULL);
    ag_optimizer_config sgd = ag_optimizer_defaults(AG_SGD);
    sgd.momentum = 0.9;
    assert_int_equal(
        ag_model_compile(t.m, &sgd, AG_LOSS_BINARY_CROSSENTROPY, 0, AG_METRIC_ACCURACY), AG_OK);
    ag_fit_options o = ag_fit_defaults();
    o.verbose = 0;
    o.epochs = 3;
    o.batch_size = 4;
    if (ag_model_fit(t.m, (const ag_tensor *[]){t.q, t.v}, t.y, &o, NULL))
        fail_msg("%s", ag_model_error(t.m));
    return t;
}

static void free_trained(trained *t)
{
    ag_model_free(t->m);
    ag_tensor_free(t->q);
    ag_tensor_free(t->v);
    ag_tensor_free(t->y);
}

static void test_save_load_identical_predictions(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        trained t = train_small(variant ? AG_FLOAT64 : AG_FLOAT32, variant);
        const char *p = path_in("model.safetensors");
        const char *keys[1] = {"vocab"}, *vals[1] = {"[\"\", \"[UNK]\", \"the\"]"};
        assert_int_equal(ag_model_save(t.m, p, keys, vals, 1), AG_OK);
        ag_error err = {0};
        ag_model *l = ag_model_load(p, &err);
        if (!l) fail_msg("%s", err.msg);
        assert_string_equal(ag_model_metadata(l, "vocab"), vals[0]);
        assert_string_equal(ag_model_metadata(l, "format"), "attograd");
        char *c1 = ag_model_get_config(t.m), *c2 = ag_model_get_config(l);
        assert_string_equal(c1, c2);
        free(c1);
        free(c2);
        ag_tensor *p1, *p2;
        assert_int_equal(ag_model_predict(t.m, (const ag_tensor *[]){t.q, t.v}, 5, &p1), AG_OK);
        assert_int_equal(ag_model_predict(l, (const ag_tensor *[]){t.q, t.v}, 5, &p2), AG_OK);
        assert_int_equal(p1->dtype, p2->dtype);
        assert_memory_equal(p1->data, p2->data, (size_t)p1->size * ag_dtype_size(p1->dtype));
        /* the compile settings came back: evaluate works and agrees bit for bit */
        double l1, l2, a1, a2;
        assert_int_equal(ag_model_evaluate(t.m, (const ag_tensor *[]){t.q, t.v}, t.y, 4, &l1, &a1),
                         AG_OK);
        assert_int_equal(ag_model_evaluate(l, (const ag_tensor *[]){t.q, t.v}, t.y, 4, &l2, &a2),
                         AG_OK);
        assert_true(l1 == l2 && a1 == a2);
        /* no temporary file is left behind, and saving again replaces the file */
        assert_int_equal(ag_model_save(l, p, NULL, NULL, 0), AG_OK);
        DIR *d = opendir(dir);
        struct dirent *e;
        while ((e = readdir(d)))
            assert_null(strstr(e->d_name, ".tmp."));
        closedir(d);
        ag_model *l3 = ag_model_load(p, &err);
        assert_non_null(l3);
        assert_null(ag_model_metadata(l3, "vocab"));
        ag_model_free(l3);
        ag_tensor_free(p1);
        ag_tensor_free(p2);
        ag_model_free(l);
        free_trained(&t);
    }
}

static void test_save_errors(void **state)
{
    (void)state;
    trained t = train_small(AG_FLOAT32, 0);
    assert_int_equal(ag_model_save(t.m, "/nonexistent-dir/m.safetensors", NULL, NULL, 0),
                     AG_ERR_IO);
    ag_assert_msg_has(ag_model_error(t.m), "cannot create a temporary file");
    const char *keys[1] = {"config"}, *vals[1] = {"x"};
    assert_int_equal(ag_model_save(t.m, path_in("m.safetensors"), keys, vals, 1), AG_ERR_ARG);
    ag_assert_msg_has(ag_model_error(t.m), "metadata key \"config\" is reserved");
    ag_error err = {0};
    assert_null(ag_model_load(path_in("absent.safetensors"), &err));
    assert_int_equal(err.code, AG_ERR_IO);
    free_trained(&t);
}

/* Loading a corrupted copy must fail with message, never crash. */
static ag_status try_load(const unsigned char *b, long n, ag_error *err)
{
    const char *p = path_in("bad.safetensors");
    write_file(p, b, n);
    memset(err, 0, sizeof *err);
    ag_model *m = ag_model_load(p, err);
    if (m) {
        ag_model_free(m);
        return AG_OK;
    }
    assert_int_not_equal(err->code, AG_OK);
    assert_true(strlen(err->msg) > 0);
    return err->code;
}

static void test_corrupted_files_refused(void **state)
{
    (void)state;
    trained t = train_small(AG_FLOAT32, 0);
    const char *p = path_in("good.safetensors");
    assert_int_equal(ag_model_save(t.m, p, NULL, NULL, 0), AG_OK);
    long n;
    unsigned char *good = read_file(p, &n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)good[i] << (8 * i);
    unsigned char *b = malloc((size_t)n + 64);
    ag_error err;
    assert_int_equal(try_load(good, n, &err), AG_OK);
    /* truncated anywhere */
    long cuts[] = {0, 3, 8, 9, 8 + (long)hlen / 2, 8 + (long)hlen, n - 5, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        assert_int_not_equal(try_load(good, cuts[i], &err), AG_OK);
    try_load(good, 3, &err);
    ag_assert_msg_has(err.msg, "too short for the 8-byte header length");
    try_load(good, n - 1, &err);
    ag_assert_msg_has(err.msg, "data bytes");
    /* a header length beyond the file */
    memcpy(b, good, (size_t)n);
    b[7] = 0x40;
    assert_int_equal(try_load(b, n, &err), AG_ERR_FORMAT);
    ag_assert_msg_has(err.msg, "header length");
    /* every header byte flipped in turn: refused or harmless, never a crash */
    int refused = 0;
    for (uint64_t i = 8; i < 8 + hlen; i += 3) {
        memcpy(b, good, (size_t)n);
        b[i] ^= 0x5a;
        refused += try_load(b, n, &err) != AG_OK;
    }
    assert_true(refused > (int)(hlen / 3) / 2);
    /* a garbled JSON header */
    memcpy(b, good, (size_t)n);
    b[8 + hlen / 2] = '{';
    assert_int_not_equal(try_load(b, n, &err), AG_OK);
    free(b);
    free(good);
    free_trained(&t);
}

/* Files crafted with the right config but wrong tensors. */
static void test_wrong_tensors_refused(void **state)
{
    (void)state;
    trained t = train_small(AG_FLOAT32, 0);
    char *cfg = ag_model_get_config(t.m);
    ag_node *w[16];
    int n = ag_model_weights(t.m, -1, w, 16);
    const char *names[17];
    const ag_tensor *vals[17];
    for (int i = 0; i < n; i++)
        names[i] = ag_node_name(w[i]), vals[i] = ag_value(w[i]);
    const char *mk[2] = {"format", "config"}, *mv[2] = {"attograd", cfg};
    const char *p = path_in("crafted.safetensors");
    ag_error err = {0};
    /* as saved: loads */
    assert_int_equal(ag_safetensors_save(p, names, vals, n, mk, mv, 2, &err), AG_OK);
    ag_model *ok = ag_model_load(p, &err);
    if (!ok) fail_msg("%s", err.msg);
    ag_model_free(ok);
    /* conv1d/kernel (index 1) as float64 */
    ag_tensor *f64 = ag_tensor_cast(vals[1], AG_FLOAT64, NULL);
    const ag_tensor *keep = vals[1];
    vals[1] = f64;
    assert_int_equal(ag_safetensors_save(p, names, vals, n, mk, mv, 2, &err), AG_OK);
    assert_null(ag_model_load(p, &err));
    ag_assert_msg_has(
        err.msg,
        "tensor 'conv1d/kernel' is float64 (4, 6, 5), the model expects float32 (4, 6, 5)");
    /* the wrong shape */
    ag_tensor *small = ag_tensor_new(AG_FLOAT32, 3, (int64_t[]){4, 6, 4}, NULL);
    vals[1] = small;
    assert_int_equal(ag_safetensors_save(p, names, vals, n, mk, mv, 2, &err), AG_OK);
    assert_null(ag_model_load(p, &err));
    ag_assert_msg_has(err.msg, "the model expects float32 (4, 6, 5)");
    vals[1] = keep;
    /* a tensor missing */
    assert_int_equal(ag_safetensors_save(p, names, vals, n - 1, mk, mv, 2, &err), AG_OK);
    assert_null(ag_model_load(p, &err));
    ag_assert_msg_has(err.msg, "has no tensor 'dense_1/bias'");
    /* a tensor too many */
    names[n] = "stray/weight";
    vals[n] = keep;
    assert_int_equal(ag_safetensors_save(p, names, vals, n + 1, mk, mv, 2, &err), AG_OK);
    assert_null(ag_model_load(p, &err));
    ag_assert_msg_has(err.msg, "'stray/weight' that no layer");
    /* not an attograd model */
    assert_int_equal(ag_safetensors_save(p, names, vals, n, NULL, NULL, 0, &err), AG_OK);
    assert_null(ag_model_load(p, &err));
    ag_assert_msg_has(err.msg, "not an attograd model");
    /* a config that is not JSON */
    mv[1] = "{\"class_name\": ";
    assert_int_equal(ag_safetensors_save(p, names, vals, n, mk, mv, 2, &err), AG_OK);
    assert_null(ag_model_load(p, &err));
    ag_assert_msg_has(err.msg, "config is not valid JSON");
    ag_tensor_free(f64);
    ag_tensor_free(small);
    free(cfg);
    free_trained(&t);
}

/* Hand-made headers: offsets outside the data, overlaps, holes, bad dtypes. */
static void test_bad_headers_refused(void **state)
{
    (void)state;
    static const struct {
        const char *header, *msg;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1000]}}",
         "inside the 8 data bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         "overlap or leave a hole"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         "overlap or leave a hole"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         "cover 4 data bytes, the file has 8"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
         "dtype must be one of"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "needs 12 bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "dimension 0"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}",
         "fits the file"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[8,8,8,8,8,8],\"data_offsets\":[0,8]}}", "needs"},
        {"{\"__metadata__\":{\"k\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"
         "}}",
         "is not a string"},
        {"[1,2]", "does not start with"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", "JSON"},
        {"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]"
         "]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
         "nesting deeper"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t hl = strlen(cases[i].header);
        unsigned char b[1024] = {0};
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)((uint64_t)hl >> (8 * k));
        memcpy(b + 8, cases[i].header, hl);
        const char *p = path_in("hand.safetensors");
        write_file(p, b, (long)(8 + hl + 8));
        ag_error err = {0};
        ag_safetensors *st = ag_safetensors_open(p, &err);
        if (st) fail_msg("case %d was accepted", (int)i);
        ag_assert_msg_has(err.msg, cases[i].msg);
    }
}

/* The file opens in Python with NumPy alone (tools/safetensors_check.py). */
static void test_numpy_reader(void **state)
{
    (void)state;
    const char *src = getenv("AG_SOURCE");
    const char *py = NULL;
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0)
        py = "/usr/bin/python3";
    else if (system("python3 -c 'import numpy' >/dev/null 2>&1") == 0)
        py = "python3";
    if (!src || !py) {
        print_message("SKIP: no python3 with numpy (or AG_SOURCE unset)\n");
        return;
    }
    trained t = train_small(AG_FLOAT32, 1);
    const char *p = path_in("py.safetensors");
    assert_int_equal(ag_model_save(t.m, p, NULL, NULL, 0), AG_OK);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/tools/safetensors_check.py %s > %s.txt", py, src, p, p);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.txt", p);
    long n;
    char *out = (char *)read_file(cmd, &n);
    out[n] = 0;
    ag_assert_msg_has(out, "8 tensors");
    ag_assert_msg_has(out, "conv1d/kernel");
    ag_assert_msg_has(out, "(4, 6, 5)");
    ag_assert_msg_has(out, "additive_attention/scale");
    free(out);
    /* and it refuses a truncated file */
    long len;
    unsigned char *b = read_file(p, &len);
    write_file(p, b, len - 3);
    snprintf(cmd, sizeof cmd, "%s %s/tools/safetensors_check.py %s 2>/dev/null >/dev/null", py, src,
             p);
    assert_int_not_equal(system(cmd), 0);
    free(b);
    free_trained(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_dtype),
        cmocka_unit_test(test_save_load_identical_predictions),
        cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_corrupted_files_refused),
        cmocka_unit_test(test_wrong_tensors_refused),
        cmocka_unit_test(test_bad_headers_refused),
        cmocka_unit_test(test_numpy_reader),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
