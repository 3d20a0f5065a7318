/* test_heatmap.c — the attention heatmap PNG: it decodes (stb_image), has
 * the size its layout says, cells carry viridis colours (0 and the maximum
 * at the ends of the map), labels are drawn on both axes, cells shrink for
 * long texts, long labels are cut, and bad input is refused with messages. */
#include "attograd_app.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <stb_image.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ag_heatmap_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const unsigned char *pixel(const unsigned char *img, int w, int x, int y)
{
    return img + ((size_t)y * w + x) * 3;
}

static void assert_rgb(const unsigned char *p, int r, int g, int b)
{
    if (abs(p[0] - r) > 1 || abs(p[1] - g) > 1 || abs(p[2] - b) > 1)
        fail_msg("pixel (%d, %d, %d), expected (%d, %d, %d)", p[0], p[1], p[2], r, g, b);
}

/* Pixels darker than light grey in the rectangle: drawn text. */
static int ink(const unsigned char *img, int w, int x0, int y0, int x1, int y1)
{
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            n += pixel(img, w, x, y)[0] < 128;
    return n;
}

static void test_picture(void **state)
{
    (void)state;
    const float wts[3 * 5] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, /* row 0 */
                              0.2f, 0.2f,  0.2f, 0.2f,  0.2f, /* row 1 */
                              1.0f, 0.0f,  0.0f, 0.0f,  0.0f};
    const char *q[3] = {"thou", "hast", "\xE2\x80\x9Cspoken"};
    const char *v[5] = {"you", "have", "said", "it", "God\xE2\x80\x99s"};
    char path[128];
    snprintf(path, sizeof path, "%s/pair.png", dir);
    ag_heatmap_info info;
    ag_error err = {0};
    ag_status st = ag_heatmap_png(path, wts, 3, 5, q, v, "dot attention", &info, &err);
    if (st) fail_msg("%s", err.msg);

    int w, h, c;
    unsigned char *img = stbi_load(path, &w, &h, &c, 3);
    assert_non_null(img);
    assert_int_equal(c, 3);
    assert_int_equal(w, info.width);
    assert_int_equal(h, info.height);
    assert_int_equal(info.cell, 44); /* 900 / 5 pixels, capped at 44 */
    /* the matrix, a colour bar and the labels fit in the picture */
    assert_true(info.x0 + 5 * info.cell < w);
    assert_true(info.y0 + 3 * info.cell < h);

    /* cell corners (clear of the printed values): viridis at w / max */
    int cs = info.cell;
#define CELL(i, j) pixel(img, w, info.x0 + (j)*cs + 2, info.y0 + (i)*cs + 2)
    assert_rgb(CELL(0, 0), 0x44, 0x01, 0x54); /* viridis(0) */
    assert_rgb(CELL(0, 4), 0xFD, 0xE7, 0x25); /* viridis(1) */
    assert_rgb(CELL(2, 0), 0xFD, 0xE7, 0x25);
    assert_rgb(CELL(0, 2), 35, 144, 140); /* viridis(0.5), between two key points */
    assert_rgb(CELL(1, 0), CELL(1, 4)[0], CELL(1, 4)[1], CELL(1, 4)[2]);
#undef CELL
    assert_rgb(pixel(img, w, 1, 1), 255, 255, 255); /* white margin */

    /* text: query labels left of the matrix, value labels above it, the title */
    assert_true(ink(img, w, 0, info.y0, info.x0 - 2, info.y0 + 3 * cs) > 50);
    assert_true(ink(img, w, info.x0, 30, info.x0 + 5 * cs, info.y0 - 2) > 50);
    assert_true(ink(img, w, 0, 0, w, 30) > 30);
    /* each row has its label: ink in every row's band */
    for (int i = 0; i < 3; i++)
        assert_true(ink(img, w, 0, info.y0 + i * cs, info.x0 - 2, info.y0 + (i + 1) * cs) > 10);
    for (int j = 0; j < 5; j++)
        assert_true(ink(img, w, info.x0 + j * cs, 30, info.x0 + (j + 1) * cs, info.y0 - 2) > 5);
    stbi_image_free(img);
}

static void test_sizes(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/long.png", dir);
    enum { TQ = 40, TV = 100 };
    static float wts[TQ * TV];
    for (int i = 0; i < TQ * TV; i++)
        wts[i] = (float)((i * 7919) % 101) / 100.0f;
    ag_heatmap_info info;
    ag_error err = {0};
    /* no tokens: indices label the axes; no title */
    assert_int_equal(ag_heatmap_png(path, wts, TQ, TV, NULL, NULL, NULL, &info, &err), AG_OK);
    assert_int_equal(info.cell, 16); /* the smallest cell */
    int w, h, c;
    unsigned char *img = stbi_load(path, &w, &h, &c, 3);
    assert_non_null(img);
    assert_int_equal(w, info.width);
    assert_int_equal(h, info.height);
    assert_true(w > TV * 16 && h > TQ * 16);
    stbi_image_free(img);

    /* a very long token is cut: the picture does not grow with it */
    char longtok[400];
    memset(longtok, 'w', sizeof longtok - 1);
    longtok[sizeof longtok - 1] = 0;
    const char *q1[1] = {"short"}, *q2[1] = {longtok};
    ag_heatmap_info a, b;
    float one = 1;
    assert_int_equal(ag_heatmap_png(path, &one, 1, 1, q1, q1, "t", &a, &err), AG_OK);
    assert_int_equal(ag_heatmap_png(path, &one, 1, 1, q2, q2, "t", &b, &err), AG_OK);
    assert_true(b.width > a.width && b.width < a.width + 400);
    assert_true(b.height < a.height + 400);
}

static void test_errors(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/bad.png", dir);
    float wts[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
    ag_error err = {0};
    assert_int_equal(ag_heatmap_png(path, wts, 0, 3, NULL, NULL, NULL, NULL, &err), AG_ERR_ARG);
    ag_assert_msg_has(err.msg, "ag_heatmap_png");
    ag_assert_msg_has(err.msg, "received (0, 3)");
    assert_int_equal(ag_heatmap_png(NULL, wts, 2, 3, NULL, NULL, NULL, NULL, &err), AG_ERR_ARG);
    ag_assert_msg_has(err.msg, "path is NULL");
    assert_int_equal(ag_heatmap_png(path, NULL, 2, 3, NULL, NULL, NULL, NULL, &err), AG_ERR_ARG);
    wts[5] = NAN;
    assert_int_equal(ag_heatmap_png(path, wts, 2, 3, NULL, NULL, NULL, NULL, &err), AG_ERR_RANGE);
    ag_assert_msg_has(err.msg, "(1, 2)");
    wts[5] = -0.5f;
    assert_int_equal(ag_heatmap_png(path, wts, 2, 3, NULL, NULL, NULL, NULL, &err), AG_ERR_RANGE);
    wts[5] = 0.6f;
    assert_int_equal(
        ag_heatmap_png("/nonexistent/dir/x.png", wts, 2, 3, NULL, NULL, NULL, NULL, &err),
        AG_ERR_IO);
    ag_assert_msg_has(err.msg, "/nonexistent/dir/x.png");
    /* a missing font says what to install */
    setenv("AG_FONT", "/nonexistent/font.ttf", 1);
    assert_int_equal(ag_heatmap_png(path, wts, 2, 3, NULL, NULL, NULL, NULL, &err), AG_ERR_IO);
    ag_assert_msg_has(err.msg, "/nonexistent/font.ttf");
    ag_assert_msg_has(err.msg, "fonts-dejavu-core");
    /* a file that is no font */
    char notfont[128];
    snprintf(notfont, sizeof notfont, "%s/notfont.ttf", dir);
    FILE *f = fopen(notfont, "wb");
    fputs("not a font at all", f);
    fclose(f);
    setenv("AG_FONT", notfont, 1);
    assert_int_equal(ag_heatmap_png(path, wts, 2, 3, NULL, NULL, NULL, NULL, &err), AG_ERR_FORMAT);
    unsetenv("AG_FONT");
    /* all-zero weights still draw (the scale becomes 0 … 1) */
    float zeros[4] = {0};
    assert_int_equal(ag_heatmap_png(path, zeros, 2, 2, NULL, NULL, NULL, NULL, &err), AG_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_picture),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
