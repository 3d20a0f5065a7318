/* test_npy.c — NumPy .npy reading and writing: round trips for every dtype
 * and rank 0..4, files written by NumPy (tests/data/npy, made with
 * numpy.lib.format.write_array), byte-for-byte agreement with NumPy's own
 * output, and every refusal (each bad file is written here, in a temporary
 * directory). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ag_test_npy_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* Paths made by tmp_path are removed at teardown. */
static char made[128][128];
static int n_made;

static const char *tmp_path(const char *name)
{
    char *p = made[n_made < 127 ? n_made++ : 127];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    return p;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < n_made; i++)
        remove(made[i]);
    return rmdir(tmpdir);
}

static const char *fixture(const char *name)
{
    static char p[512];
    const char *src = getenv("AG_SOURCE");
    if (src)
        snprintf(p, sizeof p, "%s/tests/data/npy/%s", src, name);
    else
        snprintf(p, sizeof p, "data/npy/%s", name);
    return p;
}

static void write_raw(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static size_t read_raw(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* A .npy file of the given version with header text (padded with spaces
 * and '\n' to 64 bytes) followed by `data`. Returns its path. */
static const char *make_npy(const char *name, int major, const char *header, const void *data,
                            size_t n)
{
    unsigned char buf[1024];
    size_t lw = major == 1 ? 2 : 4, pre = 8 + lw, hl = strlen(header);
    size_t total = (pre + hl + 1 + 63) / 64 * 64;
    assert_true(total + n <= sizeof buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    size_t hlen = total - pre;
    for (size_t i = 0; i < lw; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + pre, header, hl);
    memset(buf + pre + hl, ' ', hlen - hl - 1);
    buf[total - 1] = '\n';
    if (n) memcpy(buf + total, data, n);
    const char *path = tmp_path(name);
    write_raw(path, buf, total + n);
    return path;
}

/* Loading path fails with code and a message naming the file and holding
 * each of the given pieces. */
static void assert_refused(const char *path, ag_status code, const char *a, const char *b)
{
    ag_error e = {0};
    ag_tensor *t = ag_npy_load(path, &e);
    if (t) fail_msg("'%s' loaded but should have been refused (%s)", path, a);
    if (e.code != code)
        fail_msg("'%s': status %s, expected %s: %s", path, ag_status_name(e.code),
                 ag_status_name(code), e.msg);
    ag_assert_msg_has(e.msg, path);
    if (a) ag_assert_msg_has(e.msg, a);
    if (b) ag_assert_msg_has(e.msg, b);
}

/* ---- round trips ---- */

static void test_round_trip_every_dtype_and_rank(void **state)
{
    (void)state;
    const ag_dtype dts[5] = {AG_FLOAT32, AG_FLOAT64, AG_INT32, AG_INT64, AG_BOOL};
    const int64_t shapes[6][4] = {{0}, {5}, {2, 3}, {2, 1, 4}, {2, 3, 1, 2}, {0, 3}};
    const int ranks[6] = {0, 1, 2, 3, 4, 2};
    for (int d = 0; d < 5; d++)
        for (int s = 0; s < 6; s++) {
            ag_error e = {0};
            ag_tensor *t = ag_tensor_new(dts[d], ranks[s], shapes[s], &e);
            assert_non_null(t);
            for (int64_t i = 0; i < t->size; i++)
                ag_tensor_set(t, i, dts[d] == AG_BOOL ? (i * 7 % 3 == 0) : (i * 1.25 - 3) * 1e3);
            char name[64];
            snprintf(name, sizeof name, "rt_%s_%d.npy", ag_dtype_name(dts[d]), s);
            const char *path = tmp_path(name);
            if (ag_npy_save(path, t, &e)) fail_msg("%s", e.msg);
            /* version 1.0, data aligned to 64 bytes, header ends in '\n' */
            unsigned char raw[512];
            size_t n = read_raw(path, raw, sizeof raw);
            assert_memory_equal(raw, "\x93NUMPY\x01\x00", 8);
            size_t hlen = raw[8] | (size_t)raw[9] << 8;
            assert_int_equal((10 + hlen) % 64, 0);
            assert_int_equal(raw[10 + hlen - 1], '\n');
            assert_int_equal(n, 10 + hlen + (size_t)t->size * ag_dtype_size(dts[d]));
            ag_tensor *u = ag_npy_load(path, &e);
            if (!u) fail_msg("%s", e.msg);
            assert_int_equal(u->dtype, dts[d]);
            assert_int_equal(u->rank, ranks[s]);
            for (int i = 0; i < ranks[s]; i++)
                assert_int_equal(u->shape[i], shapes[s][i]);
            assert_int_equal(u->size, t->size);
            if (t->size)
                assert_memory_equal(u->data, t->data, (size_t)t->size * ag_dtype_size(dts[d]));
            ag_tensor_free(t);
            ag_tensor_free(u);
        }
}

/* ---- files written by NumPy ---- */

static void test_loads_numpy_files(void **state)
{
    (void)state;
    ag_error e = {0};
    ag_tensor *t = ag_npy_load(fixture("f4_2x3.npy"), &e);
    if (!t) fail_msg("%s", e.msg);
    assert_int_equal(t->dtype, AG_FLOAT32);
    assert_int_equal(t->rank, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    const float f4[6] = {1.5f, -2, 3, 4, 5.25f, -6};
    assert_memory_equal(t->data, f4, sizeof f4);
    ag_tensor_free(t);

    t = ag_npy_load(fixture("f8_scalar.npy"), &e);
    if (!t) fail_msg("%s", e.msg);
    assert_int_equal(t->dtype, AG_FLOAT64);
    assert_int_equal(t->rank, 0);
    assert_int_equal(t->size, 1);
    assert_true(AG_F64(t)[0] == 3.141592653589793);
    ag_tensor_free(t);

    t = ag_npy_load(fixture("i4_4_v2.npy"), &e); /* format 2.0 */
    if (!t) fail_msg("%s", e.msg);
    assert_int_equal(t->dtype, AG_INT32);
    assert_int_equal(t->rank, 1);
    assert_int_equal(t->shape[0], 4);
    const int32_t i4[4] = {7, -1, 0, 2147483647};
    assert_memory_equal(t->data, i4, sizeof i4);
    ag_tensor_free(t);

    t = ag_npy_load(fixture("i8_2x1x2_v3.npy"), &e); /* format 3.0 */
    if (!t) fail_msg("%s", e.msg);
    assert_int_equal(t->dtype, AG_INT64);
    assert_int_equal(t->rank, 3);
    const int64_t i8[4] = {1, -2, 3, (int64_t)1 << 40};
    assert_memory_equal(t->data, i8, sizeof i8);
    ag_tensor_free(t);

    t = ag_npy_load(fixture("b1_2x2.npy"), &e);
    if (!t) fail_msg("%s", e.msg);
    assert_int_equal(t->dtype, AG_BOOL);
    const uint8_t b1[4] = {1, 0, 0, 1};
    assert_memory_equal(t->data, b1, sizeof b1);
    ag_tensor_free(t);
}

/* What attograd writes is byte for byte what NumPy writes. */
static void test_writes_numpy_bytes(void **state)
{
    (void)state;
    const char *names[3] = {"f4_2x3.npy", "f8_scalar.npy", "b1_2x2.npy"};
    for (int i = 0; i < 3; i++) {
        ag_error e = {0};
        ag_tensor *t = ag_npy_load(fixture(names[i]), &e);
        if (!t) fail_msg("%s", e.msg);
        char out[64];
        snprintf(out, sizeof out, "copy_%s", names[i]);
        const char *path = tmp_path(out);
        if (ag_npy_save(path, t, &e)) fail_msg("%s", e.msg);
        unsigned char a[512], b[512];
        size_t na = read_raw(fixture(names[i]), a, sizeof a), nb = read_raw(path, b, sizeof b);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        ag_tensor_free(t);
    }
}

/* Headers NumPy would accept, written in other legal ways. */
static void test_header_variants(void **state)
{
    (void)state;
    const float v[2] = {1, 2};
    const char *headers[4] = {
        "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}",
        "{'descr':'<f4','fortran_order':False,'shape':(2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': ( 1 , 2 , ), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }",
    };
    const int ranks[4] = {1, 1, 2, 1};
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "variant%d.npy", i);
        ag_error e = {0};
        ag_tensor *t = ag_npy_load(make_npy(name, i % 2 ? 2 : 1, headers[i], v, sizeof v), &e);
        if (!t) fail_msg("header %d: %s", i, e.msg);
        assert_int_equal(t->rank, ranks[i]);
        assert_int_equal(t->size, 2);
        assert_memory_equal(t->data, v, sizeof v);
        ag_tensor_free(t);
    }
}

/* ---- refusals ---- */

static void test_refuses_numpy_files_it_cannot_read(void **state)
{
    (void)state;
    assert_refused(fixture("fortran_f8_2x3.npy"), AG_ERR_FORMAT, "Fortran", "C order");
    assert_refused(fixture("bigendian_f4_3.npy"), AG_ERR_FORMAT, "big-endian", "'<f4'");
    assert_refused(fixture("u1_3.npy"), AG_ERR_FORMAT, "'|u1'",
                   "'<f4', '<f8', '<i4', '<i8' or '|b1'");
}

static void test_refuses_bad_files(void **state)
{
    (void)state;
    const float v[6] = {0};
    const char *ok_f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

    /* bad magic, an empty file, a missing file */
    const char *p = tmp_path("magic.npy");
    write_raw(p, "PK\x03\x04 not numpy at all", 22);
    assert_refused(p, AG_ERR_FORMAT, "\\x93NUMPY", "PK");
    p = tmp_path("empty.npy");
    write_raw(p, "", 0);
    assert_refused(p, AG_ERR_FORMAT, "too short", NULL);
    assert_refused(tmp_path("absent.npy"), AG_ERR_IO, "cannot open", NULL);

    /* truncated: the data, the header, the header length */
    assert_refused(make_npy("short_data.npy", 1, ok_f4, v, 10), AG_ERR_FORMAT, "truncated data",
                   "needs 24 bytes, the file holds 10");
    p = tmp_path("short_header.npy");
    write_raw(p, "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4'", 25);
    assert_refused(p, AG_ERR_FORMAT, "truncated header", "expected 118 bytes");
    p = tmp_path("short_len.npy");
    write_raw(p, "\x93NUMPY\x02\x00\x10", 9);
    assert_refused(p, AG_ERR_FORMAT, "truncated", "header length");
    /* a shape far larger than the file: refused before allocating */
    assert_refused(make_npy("huge.npy", 1,
                            "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }",
                            v, sizeof v),
                   AG_ERR_FORMAT, "truncated data", "(100000, 100000)");

    /* versions */
    p = tmp_path("version.npy");
    write_raw(p, "\x93NUMPY\x04\x00\x00\x00", 10);
    assert_refused(p, AG_ERR_FORMAT, "version 4.0", "expected 1.0, 2.0 or 3.0");

    /* dtypes and layout in the header */
    assert_refused(
        make_npy("be8.npy", 1, "{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", v, 8),
        AG_ERR_FORMAT, "big-endian data ('>i8')", "'<i8'");
    assert_refused(
        make_npy("f2.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", v, 2),
        AG_ERR_FORMAT, "unsupported dtype '<f2'", "expected '<f4'");
    assert_refused(make_npy("fort.npy", 1,
                            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", v,
                            sizeof v),
                   AG_ERR_FORMAT, "Fortran-order", NULL);
    assert_refused(make_npy("struct.npy", 1,
                            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", v,
                            4),
                   AG_ERR_FORMAT, "structured", NULL);
    assert_refused(make_npy("rank7.npy", 1,
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1), }",
                            v, 4),
                   AG_ERR_FORMAT, "more than 6 dimensions", NULL);

    /* malformed header dicts */
    static const struct {
        const char *header, *expected;
    } bad[] = {
        {"'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", "'{'"},
        {"{'descr': '<f4', 'fortran_order': False}", "'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
         "unexpected key 'extra'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "(n,)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", "non-negative integer"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (6,)}", "True or False"},
        {"{'descr': <f4, 'fortran_order': False, 'shape': (6,)}", "quoted descr"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)", "',' or '}'"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", "',' or '}'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", "once"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} junk", "only padding"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.npy", i);
        assert_refused(make_npy(name, 1, bad[i].header, v, sizeof v), AG_ERR_FORMAT,
                       "malformed header", bad[i].expected);
    }
}

static void test_save_errors(void **state)
{
    (void)state;
    ag_error e = {0};
    assert_int_equal(ag_npy_save(tmp_path("null.npy"), NULL, &e), AG_ERR_ARG);
    ag_assert_msg_has(e.msg, "tensor is NULL");
    int64_t s[1] = {2};
    ag_tensor *t = ag_tensor_new(AG_FLOAT32, 1, s, NULL);
    assert_int_equal(ag_npy_save("/nonexistent-dir/x.npy", t, &e), AG_ERR_IO);
    ag_assert_msg_has(e.msg, "/nonexistent-dir/x.npy");
    assert_int_equal(ag_npy_save(NULL, t, &e), AG_ERR_ARG);
    assert_null(ag_npy_load(NULL, &e));
    assert_int_equal(e.code, AG_ERR_ARG);
    /* a NULL error pointer is allowed */
    assert_null(ag_npy_load("/nonexistent-dir/x.npy", NULL));
    ag_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_dtype_and_rank),
        cmocka_unit_test(test_loads_numpy_files),
        cmocka_unit_test(test_writes_numpy_bytes),
        cmocka_unit_test(test_header_variants),
        cmocka_unit_test(test_refuses_numpy_files_it_cannot_read),
        cmocka_unit_test(test_refuses_bad_files),
        cmocka_unit_test(test_save_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
