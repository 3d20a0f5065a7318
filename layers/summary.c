/* summary.c — Keras 3's model.summary(): a table of the layers, then the
 * parameter counts.
 *
 *   Model: "functional"
 *   ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━━━━━┓
 *   ┃ Layer (type)              ┃ Output Shape     ┃ Param # ┃ Connected to  ┃
 *   ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━━━━━┩
 *   │ embedding (Embedding)     │ (None, None, 64) │ 640,000 │ query[0][0],  │
 *   │                           │                  │         │ value[0][0]   │
 *   ...
 *    Total params: 678,629 (2.59 MB)
 *    Trainable params: 678,629 (2.59 MB)
 *    Non-trainable params: 0 (0.00 B)
 *
 * Sequential models have no "Connected to" column and no input row.
 * Memory is parameters × the float size, in Keras's units (1024-based).
 */
#include "layer.h"

#include <inttypes.h>

/* 678629 -> "678,629" */
static const char *with_commas(int64_t v, char *buf, size_t n)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%" PRId64, v < 0 ? -v : v);
    size_t len = strlen(digits), o = 0;
    if (v < 0 && o + 1 < n) buf[o++] = '-';
    for (size_t i = 0; i < len && o + 1 < n; i++) {
        if (i && (len - i) % 3 == 0 && o + 1 < n) buf[o++] = ',';
        if (o + 1 < n) buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

/* Keras's readable_memory_size: "2.59 MB", "0.00 B". */
static const char *memory_size(double bytes, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (u < 5 && bytes / 1024 >= 1)
        bytes /= 1024, u++;
    snprintf(buf, n, "%.2f %s", bytes, units[u]);
    return buf;
}

enum { MAX_LINES = 2 * AG_MAX_INPUTS * 4, CELL = 96 };

typedef struct row {
    char cell[4][MAX_LINES][CELL];
    int lines[4];
} row;

static void put(row *r, int col, const char *s)
{
    if (r->lines[col] >= MAX_LINES) return;
    size_t n = strlen(s);
    n = n < CELL - 1 ? n : CELL - 1;
    memcpy(r->cell[col][r->lines[col]], s, n);
    r->cell[col][r->lines[col]++][n] = 0;
}

static void fill_row(const ag_model *m, const ag_layer *l, row *r)
{
    char buf[CELL + 32], a[CELL];
    memset(r->lines, 0, sizeof r->lines);
    snprintf(buf, sizeof buf, "%s (%s)", l->name, l->cls->class_name);
    put(r, 0, buf);
    /* output shape: the calls' common shape, or "multiple" */
    const char *shape = "?";
    for (int c = 0; c < l->n_calls; c++) {
        ag__sstr(ag_node_shape(l->calls[c].out), a, sizeof a);
        if (c == 0)
            snprintf(buf, sizeof buf, "%s", a), shape = buf;
        else if (strcmp(a, buf))
            shape = "multiple";
    }
    put(r, 1, shape);
    put(r, 2, with_commas(ag_layer_count_params(l), a, sizeof a));
    int any = 0;
    for (int c = 0; c < l->n_calls; c++) {
        for (int j = 0; j < l->calls[c].n_in; j++) {
            ag_layer *src;
            int sc, k;
            if (ag__find_producer(m, l->calls[c].in[j], &src, &sc, &k))
                snprintf(a, sizeof a, "%s[%d][%d]", src->name, sc, k);
            else
                snprintf(a, sizeof a, "%s", ag_node_name(l->calls[c].in[j]));
            int last = c == l->n_calls - 1 && j == l->calls[c].n_in - 1;
            snprintf(buf, sizeof buf, "%s%s", a, last ? "" : ",");
            put(r, 3, buf);
            any = 1;
        }
    }
    if (!any) put(r, 3, "-");
}

static void rule(FILE *f, const int *w, int ncol, const char *left, const char *fill,
                 const char *mid, const char *right)
{
    fputs(left, f);
    for (int c = 0; c < ncol; c++) {
        for (int i = 0; i < w[c] + 2; i++)
            fputs(fill, f);
        fputs(c + 1 < ncol ? mid : right, f);
    }
    fputc('\n', f);
}

static void print_row(FILE *f, const row *r, const int *w, int ncol, const char *bar)
{
    int lines = 1;
    for (int c = 0; c < ncol; c++)
        lines = r->lines[c] > lines ? r->lines[c] : lines;
    for (int i = 0; i < lines; i++) {
        fputs(bar, f);
        for (int c = 0; c < ncol; c++) {
            const char *s = i < r->lines[c] ? r->cell[c][i] : "";
            if (c == 2)
                fprintf(f, " %*s %s", w[c], s, bar); /* numbers right-aligned */
            else
                fprintf(f, " %-*s %s", w[c], s, bar);
        }
        fputc('\n', f);
    }
}

void ag_model_summary(const ag_model *m, FILE *f)
{
    if (!m || !f) return;
    int ncol = m->sequential ? 3 : 4;
    row header, r;
    memset(&header, 0, sizeof header);
    put(&header, 0, "Layer (type)");
    put(&header, 1, "Output Shape");
    put(&header, 2, "Param #");
    put(&header, 3, "Connected to");
    int w[4];
    for (int c = 0; c < 4; c++)
        w[c] = (int)strlen(header.cell[c][0]);
    for (int i = 0; i < m->n_layers; i++) {
        const ag_layer *l = m->layers[i];
        if (m->sequential && l->cls == &ag__input_layer_class) continue;
        fill_row(m, l, &r);
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < r.lines[c]; k++) {
                int len = (int)strlen(r.cell[c][k]);
                w[c] = len > w[c] ? len : w[c];
            }
    }
    fprintf(f, "Model: \"%s\"\n", m->name);
    rule(f, w, ncol, "┏", "━", "┳", "┓");
    print_row(f, &header, w, ncol, "┃");
    rule(f, w, ncol, "┡", "━", "╇", "┩");
    int first = 1;
    for (int i = 0; i < m->n_layers; i++) {
        const ag_layer *l = m->layers[i];
        if (m->sequential && l->cls == &ag__input_layer_class) continue;
        if (!first && !m->sequential) rule(f, w, ncol, "├", "─", "┼", "┤");
        first = 0;
        fill_row(m, l, &r);
        print_row(f, &r, w, ncol, "│");
    }
    rule(f, w, ncol, "└", "─", "┴", "┘");
    double fsize = (double)ag_dtype_size(ag_graph_float(m->g));
    int64_t total = ag_model_count_params(m, -1), train = ag_model_count_params(m, 1);
    char a[32], b[32];
    fprintf(f, " Total params: %s (%s)\n", with_commas(total, a, sizeof a),
            memory_size((double)total * fsize, b, sizeof b));
    fprintf(f, " Trainable params: %s (%s)\n", with_commas(train, a, sizeof a),
            memory_size((double)train * fsize, b, sizeof b));
    fprintf(f, " Non-trainable params: %s (%s)\n", with_commas(total - train, a, sizeof a),
            memory_size((double)(total - train) * fsize, b, sizeof b));
}
