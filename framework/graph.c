/* graph.c — the engine: nodes, forward and backward runs.
 *
 * Nodes are created after their inputs, so creation order is a topological
 * order: a forward run walks the nodes by id, a backward run walks them in
 * reverse. Each op node re-infers its shape from its inputs' values at run
 * time, sizes its buffers (reusing them when they are big enough), and calls
 * its op's kernel. The engine never looks at an op's math.
 */
#include "engine.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>

ag_status ag__fail(ag_graph *g, ag_status code, const char *fmt, ...)
{
    if (!g) return code;
    va_list ap;
    va_start(ap, fmt);
    g->err.code = code;
    vsnprintf(g->err.msg, sizeof g->err.msg, fmt, ap);
    va_end(ap);
    return code;
}

/* A builder got a NULL node: an earlier call failed. Keep its message. */
static ag_node *null_input(ag_graph *g, const char *who)
{
    if (g && g->err.code == AG_OK) ag__fail(g, AG_ERR_ARG, "%s: an input node is NULL", who);
    return NULL;
}

int64_t ag__shape_size(const ag_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dim[i] < 0) return -1;
        n *= s->dim[i];
    }
    return n;
}

int ag__shape_equal(const ag_shape *a, const ag_shape *b)
{
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i]) return 0;
    return 1;
}

ag_shape ag__tensor_shape(const ag_tensor *t)
{
    ag_shape s = {.dtype = t->dtype, .rank = t->rank};
    for (int i = 0; i < t->rank; i++)
        s.dim[i] = t->shape[i];
    return s;
}

const char *ag__sstr(const ag_shape *s, char *buf, size_t n)
{
    return ag_shape_str(s->rank, s->dim, buf, n);
}

ag_status ag__ensure(ag_graph *g, ag_tensor *t, ag_dtype dtype, int rank, const int64_t *shape,
                     ag_error *err)
{
    if (!g) return ag_tensor_reshape_storage(t, dtype, rank, shape, NULL, err);
    /* the graph's budget: what it holds now, with t grown to the new size */
    int64_t size = 1;
    for (int i = 0; i < rank && shape; i++)
        size = shape[i] >= 0 && (size == 0 || shape[i] <= INT64_MAX / 16 / size) ? size * shape[i]
                                                                                 : -1;
    uint64_t bytes = size < 0 ? 0 : ((uint64_t)size * ag_dtype_size(dtype) + 63) / 64 * 64;
    uint64_t limit = ag_memory_limit();
    if (size >= 0 && bytes > t->capacity && g->bytes - t->capacity + bytes > limit) {
        char s[160];
        return ag_error_set(err, AG_ERR_NOMEM,
                            "graph: a %s %s tensor needs %" PRIu64 " bytes; with the %" PRIu64
                            " the graph holds that exceeds the memory limit of %" PRIu64
                            " bytes (ag_set_memory_limit)",
                            ag_dtype_name(dtype), ag_shape_str(rank, shape, s, sizeof s), bytes,
                            g->bytes, limit);
    }
    size_t before = t->capacity;
    ag_status st = ag_tensor_reshape_storage(t, dtype, rank, shape, &g->allocs, err);
    if (!st) g->bytes += t->capacity - before;
    return st;
}

/* ---- graph ---- */

ag_graph *ag_graph_new(void)
{
    ag_graph *g = calloc(1, sizeof *g);
    if (g) g->float_dtype = AG_FLOAT32;
    return g;
}

void ag_graph_free(ag_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        ag_node *n = g->nodes[i];
        ag_tensor_release(&n->val);
        ag_tensor_release(&n->grad);
        if (n->aux) {
            for (int a = 0; a < n->op->n_aux; a++)
                ag_tensor_release(&n->aux[a]);
            free(n->aux);
        }
        free(n->params);
        free(n);
    }
    free(g->nodes);
    free(g);
}

const char *ag_graph_error(const ag_graph *g) { return g ? g->err.msg : "graph is NULL"; }
ag_status ag_graph_status(const ag_graph *g) { return g ? g->err.code : AG_ERR_ARG; }
void ag_graph_clear_error(ag_graph *g)
{
    if (g) g->err.code = AG_OK, g->err.msg[0] = 0;
}
void ag_graph_set_float(ag_graph *g, ag_dtype t)
{
    if (g && ag_dtype_is_float(t)) g->float_dtype = t;
}
ag_dtype ag_graph_float(const ag_graph *g) { return g ? g->float_dtype : AG_FLOAT32; }
void ag_graph_set_training(ag_graph *g, int training)
{
    if (g) g->training = training != 0;
}
int ag_graph_training(const ag_graph *g) { return g ? g->training : 0; }
uint64_t ag_graph_step(const ag_graph *g) { return g ? g->step : 0; }
void ag_graph_set_step(ag_graph *g, uint64_t step)
{
    if (g) g->step = step;
}
uint64_t ag_graph_alloc_count(const ag_graph *g) { return g ? g->allocs : 0; }
uint64_t ag_graph_bytes(const ag_graph *g)
{
    uint64_t n = 0;
    for (int i = 0; g && i < g->n_nodes; i++) {
        const ag_node *v = g->nodes[i];
        n += v->val.capacity + v->grad.capacity;
        for (int a = 0; v->aux && a < v->op->n_aux; a++)
            n += v->aux[a].capacity;
    }
    return n;
}
int ag_graph_node_count(const ag_graph *g) { return g ? g->n_nodes : 0; }
ag_node *ag_graph_node(const ag_graph *g, int i)
{
    return g && i >= 0 && i < g->n_nodes ? g->nodes[i] : NULL;
}

static ag_node *new_node(ag_graph *g, ag_node_kind kind, const char *name)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        ag_node **p = realloc(g->nodes, (size_t)cap * sizeof *p);
        if (!p) {
            ag__fail(g, AG_ERR_NOMEM, "graph: out of memory adding a node");
            return NULL;
        }
        g->nodes = p;
        g->cap_nodes = cap;
    }
    ag_node *n = calloc(1, sizeof *n);
    if (!n) {
        ag__fail(g, AG_ERR_NOMEM, "graph: out of memory adding a node");
        return NULL;
    }
    n->g = g;
    n->id = g->n_nodes;
    n->kind = kind;
    n->trainable = kind == AG_VARIABLE;
    if (name && *name)
        snprintf(n->name, sizeof n->name, "%s", name);
    else
        snprintf(n->name, sizeof n->name, "node%d", n->id);
    g->nodes[g->n_nodes++] = n;
    return n;
}

static ag_status check_static_shape(ag_graph *g, const char *who, int rank, const int64_t *shape,
                                    int allow_unknown)
{
    if (rank < 0 || rank > AG_MAX_RANK)
        return ag__fail(g, AG_ERR_ARG, "%s: rank must be 0 to %d, received %d", who, AG_MAX_RANK,
                        rank);
    if (rank > 0 && !shape) return ag__fail(g, AG_ERR_ARG, "%s: shape is NULL", who);
    for (int i = 0; i < rank; i++)
        if (shape[i] < (allow_unknown ? -1 : 0))
            return ag__fail(g, AG_ERR_SHAPE, "%s: dimension %d must be %s, received %" PRId64, who,
                            i, allow_unknown ? ">= 0 or -1 (unknown)" : ">= 0", shape[i]);
    return AG_OK;
}

ag_node *ag_input(ag_graph *g, const char *name, ag_dtype dtype, int rank, const int64_t *shape)
{
    if (!g) return NULL;
    if (check_static_shape(g, "input", rank, shape, 1)) return NULL;
    ag_node *n = new_node(g, AG_INPUT, name);
    if (!n) return NULL;
    n->shape.dtype = dtype == AG_FLOAT32 || dtype == AG_FLOAT64 ? g->float_dtype : dtype;
    n->shape.rank = rank;
    for (int i = 0; i < rank; i++)
        n->shape.dim[i] = shape[i];
    return n;
}

ag_node *ag_variable(ag_graph *g, const char *name, int rank, const int64_t *shape)
{
    if (!g) return NULL;
    if (check_static_shape(g, "variable", rank, shape, 0)) return NULL;
    ag_node *n = new_node(g, AG_VARIABLE, name);
    if (!n) return NULL;
    n->shape.dtype = g->float_dtype;
    n->shape.rank = rank;
    for (int i = 0; i < rank; i++)
        n->shape.dim[i] = shape[i];
    if (ag__ensure(g, &n->val, g->float_dtype, rank, shape, &g->err)) return NULL;
    ag_tensor_zero(&n->val);
    return n;
}

ag_node *ag_constant(ag_graph *g, const ag_tensor *value)
{
    if (!g) return NULL;
    if (!value) {
        ag__fail(g, AG_ERR_ARG, "constant: value is NULL");
        return NULL;
    }
    ag_node *n = new_node(g, AG_CONSTANT, NULL);
    if (!n) return NULL;
    ag_dtype dt = ag_dtype_is_float(value->dtype) ? g->float_dtype : value->dtype;
    if (ag__ensure(g, &n->val, dt, value->rank, value->shape, &g->err)) return NULL;
    for (int64_t i = 0; i < value->size; i++)
        ag_tensor_set(&n->val, i, ag_tensor_get(value, i));
    n->shape = ag__tensor_shape(&n->val);
    return n;
}

ag_node *ag_scalar(ag_graph *g, double v)
{
    if (!g) return NULL;
    ag_tensor t = {0};
    double d = v;
    t.dtype = AG_FLOAT64;
    t.rank = 0;
    t.size = 1;
    t.data = &d;
    return ag_constant(g, &t);
}

/* Copies src into dst's storage, converting between float dtypes. */
static ag_status copy_convert(ag_graph *g, ag_tensor *dst, ag_dtype dt, const ag_tensor *src)
{
    ag_status st = ag__ensure(g, dst, dt, src->rank, src->shape, &g->err);
    if (st) return st;
    if (dt == src->dtype)
        memcpy(dst->data, src->data, (size_t)src->size * ag_dtype_size(dt));
    else
        for (int64_t i = 0; i < src->size; i++)
            ag_tensor_set(dst, i, ag_tensor_get(src, i));
    return AG_OK;
}

ag_status ag_feed(ag_graph *g, ag_node *input, const ag_tensor *value)
{
    if (!g) return AG_ERR_ARG;
    if (!input || !value)
        return ag__fail(g, AG_ERR_ARG, "feed: %s is NULL", input ? "value" : "input node");
    if (input->kind != AG_INPUT)
        return ag__fail(g, AG_ERR_ARG, "feed: node '%s' is a %s, expected an input", input->name,
                        ag_node_op_name(input));
    ag_dtype want = input->shape.dtype;
    int ok_dtype = want == value->dtype ||
                   (ag_dtype_is_float(want) && ag_dtype_is_float(value->dtype)) ||
                   (want == AG_INT32 && value->dtype == AG_INT64) ||
                   (want == AG_INT64 && value->dtype == AG_INT32);
    if (!ok_dtype)
        return ag__fail(g, AG_ERR_DTYPE, "feed: input '%s' expects %s, received %s", input->name,
                        ag_dtype_name(want), ag_dtype_name(value->dtype));
    int ok_shape = value->rank == input->shape.rank;
    for (int i = 0; ok_shape && i < value->rank; i++)
        ok_shape = ag__dim_compat(input->shape.dim[i], value->shape[i]);
    if (!ok_shape) {
        char a[96], b[96];
        return ag__fail(g, AG_ERR_SHAPE, "feed: input '%s' expects shape %s, received %s",
                        input->name, ag__sstr(&input->shape, a, sizeof a),
                        ag_shape_str(value->rank, value->shape, b, sizeof b));
    }
    if (want == AG_INT32 && value->dtype == AG_INT64) {
        for (int64_t i = 0; i < value->size; i++)
            if (AG_I64(value)[i] < INT32_MIN || AG_I64(value)[i] > INT32_MAX)
                return ag__fail(g, AG_ERR_RANGE,
                                "feed: input '%s': value %" PRId64 " at %" PRId64
                                " does not fit in int32",
                                input->name, AG_I64(value)[i], i);
    }
    ag_status st = copy_convert(g, &input->val, want, value);
    if (st) return st;
    input->fed = 1;
    return AG_OK;
}

ag_status ag_assign(ag_graph *g, ag_node *var, const ag_tensor *t)
{
    if (!g) return AG_ERR_ARG;
    if (!var || !t) return ag__fail(g, AG_ERR_ARG, "assign: %s is NULL", var ? "value" : "node");
    if (var->kind != AG_VARIABLE && var->kind != AG_CONSTANT)
        return ag__fail(g, AG_ERR_ARG, "assign: node '%s' is a %s, expected a variable", var->name,
                        ag_node_op_name(var));
    ag_shape s = ag__tensor_shape(t);
    s.dtype = var->shape.dtype;
    if (!ag__shape_equal(&s, &var->shape) || !ag_dtype_is_float(t->dtype)) {
        char a[96], b[96];
        return ag__fail(g, AG_ERR_SHAPE, "assign: variable '%s' has shape %s %s, received %s %s",
                        var->name, ag__sstr(&var->shape, a, sizeof a),
                        ag_dtype_name(var->shape.dtype),
                        ag_shape_str(t->rank, t->shape, b, sizeof b), ag_dtype_name(t->dtype));
    }
    return copy_convert(g, &var->val, var->shape.dtype, t);
}

ag_node *ag_apply(ag_graph *g, const ag_op *op, ag_node *const *inputs, int n_in,
                  const void *params, size_t params_size)
{
    if (!g) return NULL;
    const char *who = op && op->name ? op->name : "apply";
    if (!op || !op->infer || !op->forward)
        return ag__fail(g, AG_ERR_ARG, "%s: op must have infer and forward callbacks", who), NULL;
    if (n_in < 0 || n_in > AG_MAX_INPUTS)
        return ag__fail(g, AG_ERR_ARG, "%s: input count must be 0 to %d, received %d", who,
                        AG_MAX_INPUTS, n_in),
               NULL;
    ag_shape in_shapes[AG_MAX_INPUTS];
    for (int i = 0; i < n_in; i++) {
        if (!inputs[i]) return null_input(g, who);
        if (inputs[i]->g != g)
            return ag__fail(g, AG_ERR_ARG, "%s: input %d belongs to another graph", who, i), NULL;
        in_shapes[i] = inputs[i]->shape;
    }
    ag_shape out = {0};
    ag_error e = {0};
    if (op->infer(op, params, n_in, in_shapes, &out, &e)) {
        ag__fail(g, e.code, "%s: %s", who, e.msg);
        return NULL;
    }
    ag_node *n = new_node(g, AG_OP, NULL);
    if (!n) return NULL;
    snprintf(n->name, sizeof n->name, "%s_%d", who, n->id);
    n->op = op;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++)
        n->in[i] = inputs[i];
    n->shape = out;
    if (params_size) {
        n->params = malloc(params_size);
        if (!n->params) return ag__fail(g, AG_ERR_NOMEM, "%s: out of memory", who), NULL;
        memcpy(n->params, params, params_size);
    }
    if (op->n_aux > 0) {
        n->aux = calloc((size_t)op->n_aux, sizeof *n->aux);
        if (!n->aux) return ag__fail(g, AG_ERR_NOMEM, "%s: out of memory", who), NULL;
    }
    return n;
}

/* Workspace tensor i of the kernel's node, or NULL with k->err set. */
static ag_tensor *aux_slot(ag_kernel_ctx *k, int i)
{
    ag_node *n = k->node;
    if (!n->op || i < 0 || i >= n->op->n_aux) {
        ag_error_set(k->err, AG_ERR_ARG, "workspace %d does not exist (op declares %d)", i,
                     n->op ? n->op->n_aux : 0);
        return NULL;
    }
    return &n->aux[i];
}

ag_tensor *ag_kernel_aux(ag_kernel_ctx *k, int i, ag_dtype dtype, int rank, const int64_t *shape)
{
    ag_tensor *t = aux_slot(k, i);
    if (!t || ag__ensure(k->node->g, t, dtype, rank, shape, k->err)) return NULL;
    return t;
}

ag_tensor *ag_kernel_saved(ag_kernel_ctx *k, int i) { return aux_slot(k, i); }

static int mark_ancestors(ag_graph *g, ag_node *const *outputs, int n);

int ag__graph_walk_ancestors(ag_graph *g, ag_node *const *roots, int n_roots,
                             int (*visit)(ag_node *n, void *user), void *user)
{
    for (int r = 0; r < n_roots; r++)
        if (!roots[r] || roots[r]->g != g)
            return ag__fail(g, AG_ERR_ARG, "graph walk: root %d is %s", r,
                            roots[r] ? "a node of another graph" : "NULL");
    for (int i = mark_ancestors(g, roots, n_roots); i >= 0; i--) {
        if (!g->nodes[i]->mark) continue;
        int st = visit(g->nodes[i], user);
        if (st) return st;
    }
    return 0;
}

ag_graph *ag__node_graph(const ag_node *n) { return n ? n->g : NULL; }

/* ---- node accessors ---- */

const char *ag_node_name(const ag_node *n) { return n ? n->name : "(null)"; }
ag_node_kind ag_node_kind_of(const ag_node *n) { return n ? n->kind : AG_OP; }
const char *ag_node_op_name(const ag_node *n)
{
    if (!n) return "(null)";
    switch (n->kind) {
    case AG_INPUT: return "input";
    case AG_VARIABLE: return "variable";
    case AG_CONSTANT: return "constant";
    case AG_OP: return n->op->name;
    }
    return "?";
}
const ag_shape *ag_node_shape(const ag_node *n) { return n ? &n->shape : NULL; }
int ag_node_input_count(const ag_node *n) { return n ? n->n_in : 0; }
ag_node *ag_node_input(const ag_node *n, int i)
{
    return n && i >= 0 && i < n->n_in ? n->in[i] : NULL;
}
ag_tensor *ag_value(ag_node *n) { return n && n->val.data ? &n->val : NULL; }
ag_tensor *ag_grad(ag_node *n) { return n && n->has_grad ? &n->grad : NULL; }
ag_tensor *ag__grad_slot(ag_node *v, int on)
{
    if (!v || !on) {
        if (v) v->has_grad = 0;
        return NULL;
    }
    if (ag__ensure(v->g, &v->grad, v->val.dtype, v->val.rank, v->val.shape, &v->g->err))
        return NULL;
    v->has_grad = 1;
    return &v->grad;
}
void ag_set_requires_grad(ag_node *n, int on)
{
    if (n) n->requires_grad = on != 0;
}
void ag_set_trainable(ag_node *n, int on)
{
    if (n && n->kind == AG_VARIABLE) n->trainable = on != 0;
}
int ag_is_trainable(const ag_node *n) { return n && n->kind == AG_VARIABLE && n->trainable; }

/* ---- runs ---- */

/* Marks (mark = 1) every node that one of outputs depends on. Returns the
 * highest id marked, or -1. */
static int mark_ancestors(ag_graph *g, ag_node *const *outputs, int n)
{
    int top = -1;
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i]->mark = 0;
    for (int i = 0; i < n; i++) {
        outputs[i]->mark = 1;
        if (outputs[i]->id > top) top = outputs[i]->id;
    }
    for (int i = top; i >= 0; i--) {
        ag_node *v = g->nodes[i];
        if (!v->mark) continue;
        for (int j = 0; j < v->n_in; j++)
            v->in[j]->mark = 1;
    }
    return top;
}

static ag_status run_forward_node(ag_graph *g, ag_node *v)
{
    char a[96], b[96];
    if (v->kind == AG_INPUT) {
        if (!v->fed)
            return ag__fail(g, AG_ERR_STATE, "forward: input '%s' (shape %s) was not fed", v->name,
                            ag__sstr(&v->shape, a, sizeof a));
        return AG_OK;
    }
    if (v->kind != AG_OP) return AG_OK;
    ag_shape in_shapes[AG_MAX_INPUTS], out = {0};
    for (int j = 0; j < v->n_in; j++)
        in_shapes[j] = ag__tensor_shape(&v->in[j]->val);
    ag_error e = {0};
    if (v->op->infer(v->op, v->params, v->n_in, in_shapes, &out, &e))
        return ag__fail(g, e.code, "%s: %s", v->op->name, e.msg);
    /* the run-time shape must refine the build-time one */
    int ok = out.rank == v->shape.rank && out.dtype == v->shape.dtype;
    for (int d = 0; ok && d < out.rank; d++)
        ok = ag__dim_compat(v->shape.dim[d], out.dim[d]);
    if (!ok)
        return ag__fail(g, AG_ERR_SHAPE, "%s: run-time shape %s does not fit build-time shape %s",
                        v->op->name, ag__sstr(&out, a, sizeof a), ag__sstr(&v->shape, b, sizeof b));
    if (ag__ensure(g, &v->val, out.dtype, out.rank, out.dim, &e))
        return ag__fail(g, e.code, "%s: %s", v->op->name, e.msg);
    ag_kernel_ctx k = {.g = g,
                       .node = v,
                       .n_in = v->n_in,
                       .out = &v->val,
                       .params = v->params,
                       .training = g->training,
                       .step = g->step,
                       .err = &e};
    for (int j = 0; j < v->n_in; j++)
        k.in[j] = &v->in[j]->val;
    if (v->op->forward(&k)) return ag__fail(g, e.code, "%s: %s", v->op->name, e.msg);
    return AG_OK;
}

ag_status ag_forward(ag_graph *g, ag_node *const *outputs, int n)
{
    if (!g) return AG_ERR_ARG;
    if (!outputs || n <= 0) return ag__fail(g, AG_ERR_ARG, "forward: no outputs given");
    for (int i = 0; i < n; i++)
        if (!outputs[i]) return ag__fail(g, AG_ERR_ARG, "forward: output %d is NULL", i);
    int top = mark_ancestors(g, outputs, n);
    for (int i = 0; i <= top; i++) {
        ag_node *v = g->nodes[i];
        v->has_grad = 0;
        if (!v->mark) continue;
        ag_status st = run_forward_node(g, v);
        if (st) return st;
    }
    if (g->training) g->step++;
    return AG_OK;
}

ag_status ag_backward(ag_graph *g, ag_node *out, const ag_tensor *grad_out)
{
    if (!g) return AG_ERR_ARG;
    if (!out) return ag__fail(g, AG_ERR_ARG, "backward: output node is NULL");
    if (!out->val.data || (out->kind == AG_INPUT && !out->fed))
        return ag__fail(g, AG_ERR_STATE, "backward: run forward on '%s' first", out->name);
    if (!ag_dtype_is_float(out->val.dtype))
        return ag__fail(g, AG_ERR_DTYPE, "backward: output '%s' is %s, expected a float", out->name,
                        ag_dtype_name(out->val.dtype));
    char a[96], b[96];
    if (grad_out) {
        ag_shape gs = ag__tensor_shape(grad_out), os = ag__tensor_shape(&out->val);
        gs.dtype = os.dtype;
        if (!ag__shape_equal(&gs, &os))
            return ag__fail(g, AG_ERR_SHAPE, "backward: grad_out has shape %s, expected %s",
                            ag__sstr(&gs, a, sizeof a), ag__sstr(&os, b, sizeof b));
    }
    int top = mark_ancestors(g, &out, 1);
    /* which marked nodes need a gradient: variables, requested nodes, and
     * op nodes with such an input */
    for (int i = 0; i <= top; i++) {
        ag_node *v = g->nodes[i];
        int need = 0;
        if (v->mark) {
            if (v->kind == AG_VARIABLE || v->requires_grad) need = 1;
            if (v->kind == AG_OP && v->op->backward)
                for (int j = 0; j < v->n_in && !need; j++)
                    need = v->in[j]->mark == 2;
            if (!ag_dtype_is_float(v->val.dtype)) need = 0;
        }
        if (need) {
            v->mark = 2;
            ag_error e = {0};
            if (ag__ensure(g, &v->grad, v->val.dtype, v->val.rank, v->val.shape, &e))
                return ag__fail(g, e.code, "backward: %s", e.msg);
            ag_tensor_zero(&v->grad);
        }
        v->has_grad = 0;
    }
    if (out->mark != 2) return AG_OK; /* nothing to differentiate */
    /* seed the output's gradient: grad_out, or ones */
    ag_tensor *gz = &out->grad;
    if (grad_out && grad_out->dtype == gz->dtype)
        memcpy(gz->data, grad_out->data, (size_t)gz->size * ag_dtype_size(gz->dtype));
    else if (grad_out)
        for (int64_t i = 0; i < gz->size; i++)
            ag_tensor_set(gz, i, ag_tensor_get(grad_out, i));
    else if (gz->dtype == AG_FLOAT32)
        for (int64_t i = 0; i < gz->size; i++)
            AG_F32(gz)[i] = 1.0f;
    else
        for (int64_t i = 0; i < gz->size; i++)
            AG_F64(gz)[i] = 1.0;
    for (int i = top; i >= 0; i--) {
        ag_node *v = g->nodes[i];
        if (v->mark != 2) continue;
        v->has_grad = 1;
        if (v->kind != AG_OP || !v->op->backward) continue; /* no gradient flows through it */
        ag_error e = {0};
        ag_kernel_ctx k = {.g = g,
                           .node = v,
                           .n_in = v->n_in,
                           .out = &v->val,
                           .gout = &v->grad,
                           .params = v->params,
                           .training = g->training,
                           .step = g->training && g->step ? g->step - 1 : g->step,
                           .err = &e};
        for (int j = 0; j < v->n_in; j++) {
            k.in[j] = &v->in[j]->val;
            k.gin[j] = v->in[j]->mark == 2 ? &v->in[j]->grad : NULL;
        }
        if (v->op->backward(&k)) return ag__fail(g, e.code, "%s backward: %s", v->op->name, e.msg);
    }
    return AG_OK;
}

ag_node *ag__sample_var(ag_graph *g, const char *name, int rank, const int64_t *shape, double lo,
                        double hi, uint64_t seed, uint64_t stream)
{
    ag_node *v = ag_variable(g, name, rank, shape);
    if (v) ag_fill_uniform(&v->val, lo, hi, seed, stream);
    return v;
}

ag_node *ag__sample_mask(ag_graph *g, ag_dtype dtype, int rank, const int64_t *shape, uint64_t seed)
{
    ag_error e = {0};
    ag_tensor *t = ag_tensor_new(dtype, rank, shape, &e);
    if (!t) return ag__fail(g, e.code, "%s", e.msg), NULL;
    for (int64_t i = 0; i < t->size; i++)
        ag_tensor_set(t, i, ag_rand_uniform(seed, 77, (uint64_t)i) < 0.5);
    ag_node *m = ag_constant(g, t);
    ag_tensor_free(t);
    return m;
}

int ag_builtin_op_count(void) { return ag__builtin_op_count; }
const ag_op *ag_builtin_op(int i)
{
    return i >= 0 && i < ag__builtin_op_count ? ag__builtin_ops[i] : NULL;
}
const ag_op *ag_builtin_op_find(const char *name)
{
    for (int i = 0; name && i < ag__builtin_op_count; i++)
        if (!strcmp(ag__builtin_ops[i]->name, name)) return ag__builtin_ops[i];
    return NULL;
}
