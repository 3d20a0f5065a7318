/* gradcheck.c — analytic gradients against finite differences, in float64. */
#include "engine.h"

#include <math.h>
#include <stdlib.h>

/* f = Σ out ⊙ R after a forward run at the held step. */
static ag_status eval(ag_graph *g, ag_node *out, const double *r, uint64_t step, double *f)
{
    g->step = step;
    ag_status st = ag_forward(g, &out, 1);
    if (st) return st;
    const double *o = AG_F64(&out->val);
    double s = 0;
    for (int64_t i = 0; i < out->val.size; i++)
        s += o[i] * r[i];
    *f = s;
    return AG_OK;
}

ag_status ag_gradcheck(ag_graph *g, ag_node *out, uint64_t seed, ag_gradcheck_report *rep)
{
    if (!g) return AG_ERR_ARG;
    if (!out || !rep)
        return ag__fail(g, AG_ERR_ARG, "gradcheck: %s is NULL", out ? "report" : "output");
    memset(rep, 0, sizeof *rep);
    uint64_t step = g->step;
    ag_status st = ag_forward(g, &out, 1);
    g->step = step;
    if (st) return st;
    if (out->val.dtype != AG_FLOAT64)
        return ag__fail(g, AG_ERR_DTYPE,
                        "gradcheck: output '%s' is %s, expected float64 (build the graph after "
                        "ag_graph_set_float(g, AG_FLOAT64))",
                        out->name, ag_dtype_name(out->val.dtype));
    ag_tensor *r = ag_tensor_new(AG_FLOAT64, out->val.rank, out->val.shape, &g->err);
    if (!r) return g->err.code;
    ag_fill_uniform(r, -1.0, 1.0, seed, 0x6772616463686bULL);
    g->step = step;
    st = ag_forward(g, &out, 1);
    if (!st) st = ag_backward(g, out, r);
    if (st) {
        ag_tensor_free(r);
        return st;
    }
    /* the checked nodes: leaves that received a gradient */
    ag_node *targets[AG_GRADCHECK_MAX];
    int nt = 0;
    for (int i = 0; i <= out->id && nt < AG_GRADCHECK_MAX; i++) {
        ag_node *v = g->nodes[i];
        if (v->kind != AG_OP && v->has_grad) targets[nt++] = v;
    }
    /* keep the analytic gradients: later forward runs reset has_grad */
    int64_t total = 0;
    for (int t = 0; t < nt; t++)
        total += targets[t]->grad.size;
    double *analytic = malloc((size_t)(total ? total : 1) * sizeof *analytic);
    if (!analytic) {
        ag_tensor_free(r);
        return ag__fail(g, AG_ERR_NOMEM, "gradcheck: out of memory");
    }
    int64_t off = 0;
    for (int t = 0; t < nt; t++)
        for (int64_t i = 0; i < targets[t]->grad.size; i++)
            analytic[off++] = AG_F64(&targets[t]->grad)[i];
    off = 0;
    for (int t = 0; t < nt && !st; t++) {
        ag_node *v = targets[t];
        ag_gradcheck_entry *e = &rep->entry[rep->n++];
        snprintf(e->name, sizeof e->name, "%s", v->name);
        e->size = v->val.size;
        double *x = AG_F64(&v->val);
        for (int64_t i = 0; i < v->val.size && !st; i++) {
            double x0 = x[i], h = 1e-4 * (fabs(x0) > 1 ? fabs(x0) : 1), f[4];
            const double dx[4] = {2 * h, h, -h, -2 * h};
            for (int s = 0; s < 4 && !st; s++) {
                x[i] = x0 + dx[s];
                st = eval(g, out, AG_F64(r), step, &f[s]);
            }
            x[i] = x0;
            double num = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h);
            double a = analytic[off + i], d = fabs(a - num);
            double den = fmax(fmax(fabs(a), fabs(num)), AG_GRADCHECK_FLOOR);
            if (d > e->max_abs) e->max_abs = d;
            if (d / den > e->max_rel) e->max_rel = d / den;
        }
        off += v->val.size;
        if (e->max_abs > rep->max_abs) rep->max_abs = e->max_abs;
        if (e->max_rel > rep->max_rel) rep->max_rel = e->max_rel;
    }
    /* leave the graph as the analytic run left it */
    if (!st) st = eval(g, out, AG_F64(r), step, &(double){0});
    if (!st) st = ag_backward(g, out, r);
    g->step = step;
    free(analytic);
    ag_tensor_free(r);
    return st;
}

void ag_gradcheck_print(FILE *f, const ag_gradcheck_report *rep, const char *title)
{
    fprintf(f, "%s: worst abs %.3g, worst rel %.3g\n", title ? title : "gradcheck", rep->max_abs,
            rep->max_rel);
    for (int i = 0; i < rep->n; i++)
        fprintf(f, "  %-24s %8lld elems  abs %.3g  rel %.3g\n", rep->entry[i].name,
                (long long)rep->entry[i].size, rep->entry[i].max_abs, rep->entry[i].max_rel);
}

ag_status ag_gradcheck_op(const ag_op *op, int n_seeds, ag_gradcheck_report *worst, int *n_checks,
                          ag_error *err)
{
    if (worst) memset(worst, 0, sizeof *worst);
    if (n_checks) *n_checks = 0;
    if (!op || !worst)
        return ag_error_set(err, AG_ERR_ARG, "gradcheck_op: %s is NULL", op ? "worst" : "op");
    if (!op->sample || op->n_samples <= 0)
        return ag_error_set(err, AG_ERR_ARG,
                            "gradcheck_op: op '%s' has no sample graph (set sample and n_samples)",
                            op->name ? op->name : "?");
    if (n_seeds <= 0)
        return ag_error_set(err, AG_ERR_ARG, "gradcheck_op: n_seeds must be >= 1, received %d",
                            n_seeds);
    for (int v = 0; v < op->n_samples; v++)
        for (int s = 1; s <= n_seeds; s++) {
            ag_graph *g = ag_graph_new();
            if (!g) return ag_error_set(err, AG_ERR_NOMEM, "gradcheck_op: out of memory");
            ag_graph_set_float(g, AG_FLOAT64);
            ag_node *out = op->sample(g, v, (uint64_t)s);
            ag_gradcheck_report rep;
            if (!out || ag_gradcheck(g, out, (uint64_t)s, &rep)) {
                ag_status st = ag_error_set(err, g->err.code ? g->err.code : AG_ERR_ARG,
                                            "%s sample %d seed %d: %s", op->name, v, s,
                                            g->err.msg[0] ? g->err.msg : "sample returned NULL");
                ag_graph_free(g);
                return st;
            }
            if (n_checks) (*n_checks)++;
            if (rep.max_rel > worst->max_rel || (worst->n == 0 && rep.n > 0)) *worst = rep;
            ag_graph_free(g);
        }
    return AG_OK;
}
