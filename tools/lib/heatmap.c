/* heatmap.c — attention weights as a PNG picture a person can read.
 *
 *   weights (Tq,Tv) row-major -> an RGB image:
 *     title                                  (top left)
 *     value tokens, one per column           (rotated 90°, read bottom to top)
 *     query tokens, one per row | cells      | colour bar, ticks 0 … max
 *   cell colour = viridis(w / max w); each cell also shows its weight when
 *   cells are large enough for the digits.
 *
 * Text: DejaVu Sans through stb_truetype (libstb), anti-aliased, UTF-8.
 * Colours: viridis, the perceptually uniform map of van der Walt and Smith
 * (2015), interpolated linearly between ten published samples of it (its
 * values at 0, 1/9, …, 1, as R's viridisLite lists them).
 * PNG: stb_image_write.
 */
#include "app.h"

#include <math.h>
#include <stdlib.h>

#include <stb_image_write.h>
#include <stb_truetype.h>

#define DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

/* ---- colours ---- */

static const unsigned char viridis_keys[10][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3E, 0x4A, 0x89}, {0x31, 0x68, 0x8E},
    {0x26, 0x82, 0x8E}, {0x1F, 0x9E, 0x89}, {0x35, 0xB7, 0x79}, {0x6D, 0xCD, 0x59},
    {0xB4, 0xDE, 0x2C}, {0xFD, 0xE7, 0x25},
};

/* t in [0, 1] -> rgb */
static void viridis(double t, unsigned char rgb[3])
{
    if (!(t > 0)) t = 0; /* NaN too */
    if (t > 1) t = 1;
    double x = t * 9;
    int k = (int)x;
    if (k > 8) k = 8;
    double f = x - k;
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)lround(viridis_keys[k][c] * (1 - f) + viridis_keys[k + 1][c] * f);
}

/* ---- a canvas and text on it ---- */

typedef struct {
    int w, h;
    unsigned char *px; /* RGB */
} canvas;

static void fill_rect(canvas *cv, int x0, int y0, int w, int h, const unsigned char rgb[3])
{
    for (int y = y0 < 0 ? 0 : y0; y < y0 + h && y < cv->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x0 + w && x < cv->w; x++)
            memcpy(cv->px + ((size_t)y * cv->w + x) * 3, rgb, 3);
}

/* Blends rgb at (x, y) with coverage a (0..255). */
static void blend(canvas *cv, int x, int y, int a, const unsigned char rgb[3])
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h || a <= 0) return;
    unsigned char *p = cv->px + ((size_t)y * cv->w + x) * 3;
    for (int c = 0; c < 3; c++)
        p[c] = (unsigned char)((p[c] * (255 - a) + rgb[c] * a + 127) / 255);
}

/* Next code point of UTF-8 s (advancing *s); invalid bytes read as U+FFFD. */
static int next_cp(const char **s)
{
    const unsigned char *p = (const unsigned char *)*s;
    int cp, n;
    if (p[0] < 0x80)
        cp = p[0], n = 1;
    else if ((p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80)
        cp = ((p[0] & 0x1F) << 6) | (p[1] & 0x3F), n = 2;
    else if ((p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80)
        cp = ((p[0] & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F), n = 3;
    else if ((p[0] & 0xF8) == 0xF0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
             (p[3] & 0xC0) == 0x80)
        cp = ((p[0] & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F),
        n = 4;
    else
        cp = 0xFFFD, n = 1;
    *s += n;
    return cp;
}

typedef struct {
    stbtt_fontinfo info;
    unsigned char *data;
} font;

/* Width in pixels of s at pixel height px. */
static int text_width(const font *f, const char *s, float px)
{
    float scale = stbtt_ScaleForPixelHeight(&f->info, px), x = 0;
    int prev = 0;
    while (*s) {
        int cp = next_cp(&s), adv, lsb;
        if (prev) x += scale * stbtt_GetCodepointKernAdvance(&f->info, prev, cp);
        stbtt_GetCodepointHMetrics(&f->info, cp, &adv, &lsb);
        x += scale * adv;
        prev = cp;
    }
    return (int)ceilf(x);
}

/* Draws s at pixel height px in colour rgb. Horizontal: (x, y) is the left
 * end of the baseline. Rotated (rot90 != 0, read bottom to top): (x, y) is
 * the start of the baseline, the text going up from y. */
static void draw_text(canvas *cv, const font *f, const char *s, float px, int x, int y, int rot90,
                      const unsigned char rgb[3])
{
    float scale = stbtt_ScaleForPixelHeight(&f->info, px), pen = 0;
    int prev = 0;
    while (*s) {
        int cp = next_cp(&s), adv, lsb, x0, y0, x1, y1;
        if (prev) pen += scale * stbtt_GetCodepointKernAdvance(&f->info, prev, cp);
        stbtt_GetCodepointHMetrics(&f->info, cp, &adv, &lsb);
        float sub = pen - floorf(pen);
        stbtt_GetCodepointBitmapBoxSubpixel(&f->info, cp, scale, scale, sub, 0, &x0, &y0, &x1, &y1);
        int gw = x1 - x0, gh = y1 - y0;
        if (gw > 0 && gh > 0 && gw < 512 && gh < 512) {
            unsigned char glyph[512 * 64];
            unsigned char *buf = (size_t)gw * gh <= sizeof glyph ? glyph : malloc((size_t)gw * gh);
            if (buf) {
                stbtt_MakeCodepointBitmapSubpixel(&f->info, buf, gw, gh, gw, scale, scale, sub, 0,
                                                  cp);
                int ox = (int)floorf(pen) + x0;
                for (int j = 0; j < gh; j++)
                    for (int i = 0; i < gw; i++) {
                        int a = buf[j * gw + i];
                        /* glyph pixel (ox+i, y0+j) relative to the baseline origin */
                        if (rot90)
                            blend(cv, x + y0 + j, y - (ox + i), a, rgb);
                        else
                            blend(cv, x + ox + i, y + y0 + j, a, rgb);
                    }
                if (buf != glyph) free(buf);
            }
        }
        pen += scale * adv;
        prev = cp;
    }
}

/* A label no longer than max_chars code points ("…" marks a cut). */
static void label(char *out, size_t n, const char *s, int max_chars)
{
    const char *p = s;
    for (int k = 0; *p && k < max_chars; k++)
        next_cp(&p);
    if (!*p) {
        snprintf(out, n, "%s", s);
        return;
    }
    p = s;
    for (int k = 0; k < max_chars - 1; k++)
        next_cp(&p);
    snprintf(out, n, "%.*s\xE2\x80\xA6", (int)(p - s), s);
}

static ag_status load_font(font *f, ag_error *err)
{
    const char *path = getenv("AG_FONT");
    if (!path || !*path) path = DEFAULT_FONT;
    size_t len = 0;
    ag_error e2 = {0};
    f->data = (unsigned char *)ag_file_read(path, &len, &e2);
    if (!f->data)
        return ag_error_set(err, AG_ERR_IO,
                            "ag_heatmap_png: cannot read the font %s (install Debian's "
                            "fonts-dejavu-core, or set AG_FONT to a .ttf file)",
                            path);
    int off = stbtt_GetFontOffsetForIndex(f->data, 0);
    if (off < 0 || !stbtt_InitFont(&f->info, f->data, off)) {
        free(f->data);
        f->data = NULL;
        return ag_error_set(err, AG_ERR_FORMAT, "ag_heatmap_png: %s is not a TrueType font", path);
    }
    return AG_OK;
}

/* ---- the picture ---- */

static const unsigned char WHITE[3] = {255, 255, 255}, INK[3] = {34, 34, 34},
                           GREY[3] = {110, 110, 110}, BLACK[3] = {0, 0, 0};

ag_status ag_heatmap_png(const char *path, const float *weights, int tq, int tv,
                         const char *const *query_tokens, const char *const *value_tokens,
                         const char *title, ag_heatmap_info *info, ag_error *err)
{
    if (!path || !weights)
        return ag_error_set(err, AG_ERR_ARG, "ag_heatmap_png: %s is NULL",
                            !path ? "path" : "weights");
    if (tq < 1 || tv < 1 || tq > 1000 || tv > 1000)
        return ag_error_set(err, AG_ERR_ARG,
                            "ag_heatmap_png: the weights must be (Tq, Tv) with 1 <= Tq, Tv <= "
                            "1000, received (%d, %d)",
                            tq, tv);
    double vmax = 0;
    for (int64_t i = 0; i < (int64_t)tq * tv; i++) {
        if (!isfinite(weights[i]) || weights[i] < 0)
            return ag_error_set(err, AG_ERR_RANGE,
                                "ag_heatmap_png: weights must be finite and >= 0, received %g at "
                                "(%d, %d)",
                                (double)weights[i], (int)(i / tv), (int)(i % tv));
        if (weights[i] > vmax) vmax = weights[i];
    }
    if (vmax <= 0) vmax = 1;

    font f;
    ag_status st = load_font(&f, err);
    if (st) return st;

    /* Sizes: cells fill about 900 pixels across the longer side, between
     * 16 and 44 pixels; labels scale with them, within 11 to 16 pixels. */
    int n = tq > tv ? tq : tv;
    int cell = 900 / n;
    cell = cell < 16 ? 16 : cell > 44 ? 44 : cell;
    float lpx = cell * 0.62f;
    lpx = lpx < 11 ? 11 : lpx > 16 ? 16 : lpx;
    float tpx = 18, vpx = cell * 0.3f, kpx = 12;
    int pad = 16, gap = 6;

    char buf[128];
    int qw = 0, vh = 0;
    for (int i = 0; i < tq; i++) {
        if (query_tokens && query_tokens[i])
            label(buf, sizeof buf, query_tokens[i], 24);
        else
            snprintf(buf, sizeof buf, "%d", i);
        int w = text_width(&f, buf, lpx);
        if (w > qw) qw = w;
    }
    for (int j = 0; j < tv; j++) {
        if (value_tokens && value_tokens[j])
            label(buf, sizeof buf, value_tokens[j], 24);
        else
            snprintf(buf, sizeof buf, "%d", j);
        int w = text_width(&f, buf, lpx);
        if (w > vh) vh = w;
    }
    /* the corner above the row labels says which axis is which */
    const char *cap_v = "value \xE2\x86\x92", *cap_q = "query \xE2\x86\x93";
    int cap_w = text_width(&f, cap_v, kpx), cap_w2 = text_width(&f, cap_q, kpx);
    if (cap_w2 > cap_w) cap_w = cap_w2;
    if (qw < cap_w) qw = cap_w;
    if (vh < (int)(kpx * 2.8f)) vh = (int)(kpx * 2.8f);
    int title_h = title && *title ? (int)(tpx * 1.5f) : 0;
    int x0 = pad + qw + gap, y0 = pad + title_h + vh + gap;
    int mw = tv * cell, mh = tq * cell;
    int cbw = 18, cbh = mh > 160 ? mh : 160, cbx = x0 + mw + 24;
    int tick_w = text_width(&f, "0.000", kpx);
    int W = cbx + cbw + 6 + tick_w + pad, H = y0 + (mh > cbh ? mh : cbh) + pad;
    if (title && *title) {
        int tw = pad * 2 + text_width(&f, title, tpx);
        if (tw > W) W = tw;
    }

    canvas cv = {W, H, malloc((size_t)W * H * 3)};
    if (!cv.px) {
        free(f.data);
        return ag_error_set(err, AG_ERR_NOMEM, "ag_heatmap_png: cannot allocate a %dx%d picture", W,
                            H);
    }
    memset(cv.px, 255, (size_t)W * H * 3);
    if (title && *title) draw_text(&cv, &f, title, tpx, pad, pad + (int)(tpx * 0.9f), 0, INK);

    /* cells, and their values when there is room for "0.00" */
    int show_values = cell >= 34;
    for (int i = 0; i < tq; i++)
        for (int j = 0; j < tv; j++) {
            unsigned char rgb[3];
            double w = weights[(int64_t)i * tv + j];
            viridis(w / vmax, rgb);
            fill_rect(&cv, x0 + j * cell, y0 + i * cell, cell, cell, rgb);
            if (show_values) {
                snprintf(buf, sizeof buf, "%.2f", w);
                double lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
                int tw = text_width(&f, buf, vpx);
                draw_text(&cv, &f, buf, vpx, x0 + j * cell + (cell - tw) / 2,
                          y0 + i * cell + (cell + (int)(vpx * 0.7f)) / 2, 0,
                          lum > 110 ? BLACK : WHITE);
            }
        }
    /* labels: rows right-aligned at the left, columns rotated on top */
    for (int i = 0; i < tq; i++) {
        if (query_tokens && query_tokens[i])
            label(buf, sizeof buf, query_tokens[i], 24);
        else
            snprintf(buf, sizeof buf, "%d", i);
        int tw = text_width(&f, buf, lpx);
        draw_text(&cv, &f, buf, lpx, x0 - gap - tw, y0 + i * cell + (cell + (int)(lpx * 0.7f)) / 2,
                  0, INK);
    }
    for (int j = 0; j < tv; j++) {
        if (value_tokens && value_tokens[j])
            label(buf, sizeof buf, value_tokens[j], 24);
        else
            snprintf(buf, sizeof buf, "%d", j);
        draw_text(&cv, &f, buf, lpx, x0 + j * cell + (cell + (int)(lpx * 0.7f)) / 2, y0 - gap, 1,
                  INK);
    }
    draw_text(&cv, &f, cap_v, kpx, x0 - gap - text_width(&f, cap_v, kpx),
              y0 - gap - (int)(kpx * 1.5f), 0, GREY);
    draw_text(&cv, &f, cap_q, kpx, x0 - gap - text_width(&f, cap_q, kpx), y0 - gap, 0, GREY);
    /* colour bar: max at the top, ticks at 0, 1/4, … of the range */
    for (int y = 0; y < cbh; y++) {
        unsigned char rgb[3];
        viridis(1.0 - (double)y / (cbh - 1), rgb);
        fill_rect(&cv, cbx, y0 + y, cbw, 1, rgb);
    }
    for (int k = 0; k <= 4; k++) {
        int y = y0 + (int)lround((cbh - 1) * (1.0 - k / 4.0));
        fill_rect(&cv, cbx + cbw, y, 4, 1, GREY);
        snprintf(buf, sizeof buf, vmax < 0.1 ? "%.3f" : "%.2f", vmax * k / 4.0);
        draw_text(&cv, &f, buf, kpx, cbx + cbw + 6, y + (int)(kpx * 0.35f), 0, INK);
    }
    /* frames */
    fill_rect(&cv, x0 - 1, y0 - 1, mw + 2, 1, GREY);
    fill_rect(&cv, x0 - 1, y0 + mh, mw + 2, 1, GREY);
    fill_rect(&cv, x0 - 1, y0 - 1, 1, mh + 2, GREY);
    fill_rect(&cv, x0 + mw, y0 - 1, 1, mh + 2, GREY);

    int ok = stbi_write_png(path, W, H, 3, cv.px, W * 3);
    free(cv.px);
    free(f.data);
    if (!ok) return ag_error_set(err, AG_ERR_IO, "ag_heatmap_png: cannot write %s", path);
    if (info) *info = (ag_heatmap_info){W, H, cell, x0, y0};
    return AG_OK;
}
