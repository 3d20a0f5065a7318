/* optimizer.c — what every optimizer shares: Keras's defaults, the config's
 * checks, per-variable state, gradient clipping and the step counter. The
 * update formulas live in sgd.c, adam.c and rmsprop.c.
 *
 * A step, for each trainable variable w with a gradient g, in order:
 *   clipnorm:   g' = g·clipnorm / max(‖g‖₂, clipnorm)   (‖g‖ summed serially)
 *   clipvalue:  g' = clip(g, -clipvalue, clipvalue)
 *   weight decay (AdamW, or any optimizer given weight_decay > 0):
 *               w = w - w·weight_decay·lr
 *   the rule's update with g'.
 * State is allocated on a variable's first step and reused after, so a
 * steady-state step allocates nothing (ag_optimizer_alloc_count counts).
 */
#include "rules.h"

#include <inttypes.h>
#include <stdlib.h>

typedef struct opt_slot {
    ag_node *var;
    ag_tensor s[2];
} opt_slot;

struct ag_optimizer {
    ag_optimizer_config cfg;
    int n_state; /* state tensors per variable */
    void (*update)(const ag__update *u);
    int64_t iterations;
    uint64_t allocs;
    opt_slot *slots;
    int n_slots, cap_slots;
};

static const char *kind_name(ag_optimizer_kind k)
{
    switch (k) {
    case AG_SGD: return "SGD";
    case AG_ADAM: return "Adam";
    case AG_ADAMW: return "AdamW";
    case AG_RMSPROP: return "RMSprop";
    }
    return "optimizer";
}

ag_optimizer_config ag_optimizer_defaults(ag_optimizer_kind kind)
{
    ag_optimizer_config c = {.kind = kind,
                             .learning_rate = 0.001,
                             .momentum = 0,
                             .nesterov = 0,
                             .beta_1 = 0.9,
                             .beta_2 = 0.999,
                             .epsilon = 1e-7,
                             .rho = 0.9,
                             .weight_decay = 0,
                             .clipnorm = 0,
                             .clipvalue = 0};
    if (kind == AG_SGD) c.learning_rate = 0.01;
    if (kind == AG_ADAMW) c.weight_decay = 0.004;
    return c;
}

/* lo <= x < hi (or <= hi when closed), and not NaN. */
static int in_range(double x, double lo, double hi, int closed)
{
    return x >= lo && (closed ? x <= hi : x < hi);
}

static ag_status check_config(const ag_optimizer_config *c, ag_error *err)
{
    if (c->kind != AG_SGD && c->kind != AG_ADAM && c->kind != AG_ADAMW && c->kind != AG_RMSPROP)
        return ag_error_set(err, AG_ERR_ARG,
                            "optimizer: kind must be AG_SGD, AG_ADAM, AG_ADAMW or AG_RMSPROP, "
                            "received %d",
                            (int)c->kind);
    const char *who = kind_name(c->kind);
    struct {
        const char *name;
        double value, lo, hi;
        int closed;
        const char *expect;
    } checks[] = {
        {"learning_rate", c->learning_rate, 0, INFINITY, 0, ">= 0 and finite"},
        {"momentum", c->momentum, 0, 1, 1, "in [0, 1]"},
        {"beta_1", c->beta_1, 0, 1, 0, "in [0, 1)"},
        {"beta_2", c->beta_2, 0, 1, 0, "in [0, 1)"},
        {"epsilon", c->epsilon, 0, INFINITY, 0, ">= 0 and finite"},
        {"rho", c->rho, 0, 1, 0, "in [0, 1)"},
        {"weight_decay", c->weight_decay, 0, INFINITY, 0, ">= 0 and finite"},
        {"clipnorm", c->clipnorm, 0, INFINITY, 0, ">= 0 and finite (0: off)"},
        {"clipvalue", c->clipvalue, 0, INFINITY, 0, ">= 0 and finite (0: off)"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (!in_range(checks[i].value, checks[i].lo, checks[i].hi, checks[i].closed))
            return ag_error_set(err, AG_ERR_ARG, "%s: %s must be %s, received %g", who,
                                checks[i].name, checks[i].expect, checks[i].value);
    if (c->kind != AG_SGD && !(c->epsilon > 0))
        return ag_error_set(err, AG_ERR_ARG, "%s: epsilon must be > 0, received %g", who,
                            c->epsilon);
    if (c->clipnorm > 0 && c->clipvalue > 0)
        return ag_error_set(err, AG_ERR_ARG,
                            "%s: only one of clipnorm and clipvalue can be set, received "
                            "clipnorm=%g, clipvalue=%g",
                            who, c->clipnorm, c->clipvalue);
    return AG_OK;
}

ag_optimizer *ag_optimizer_new(const ag_optimizer_config *cfg, ag_error *err)
{
    if (!cfg) {
        ag_error_set(err, AG_ERR_ARG, "optimizer: config is NULL");
        return NULL;
    }
    if (check_config(cfg, err)) return NULL;
    ag_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt) {
        ag_error_set(err, AG_ERR_NOMEM, "%s: out of memory", kind_name(cfg->kind));
        return NULL;
    }
    opt->cfg = *cfg;
    opt->cfg.nesterov = cfg->nesterov != 0;
    switch (cfg->kind) {
    case AG_SGD: opt->n_state = ag__sgd_slots(cfg), opt->update = ag__sgd_update; break;
    case AG_ADAM:
    case AG_ADAMW: opt->n_state = ag__adam_slots(cfg), opt->update = ag__adam_update; break;
    case AG_RMSPROP: opt->n_state = ag__rmsprop_slots(cfg), opt->update = ag__rmsprop_update; break;
    }
    return opt;
}

void ag_optimizer_free(ag_optimizer *opt)
{
    if (!opt) return;
    for (int i = 0; i < opt->n_slots; i++)
        for (int s = 0; s < 2; s++)
            ag_tensor_release(&opt->slots[i].s[s]);
    free(opt->slots);
    free(opt);
}

const ag_optimizer_config *ag_optimizer_get_config(const ag_optimizer *opt)
{
    return opt ? &opt->cfg : NULL;
}
int64_t ag_optimizer_iterations(const ag_optimizer *opt) { return opt ? opt->iterations : 0; }
uint64_t ag_optimizer_alloc_count(const ag_optimizer *opt) { return opt ? opt->allocs : 0; }

/* The state of var, created (zero) on its first step. `hint` is where var
 * sat last time: callers pass their variables in the same order each step,
 * so the lookup is usually one comparison. */
static opt_slot *slot_for(ag_optimizer *opt, ag_graph *g, ag_node *var, int hint)
{
    if (hint < opt->n_slots && opt->slots[hint].var == var) return &opt->slots[hint];
    for (int i = 0; i < opt->n_slots; i++)
        if (opt->slots[i].var == var) return &opt->slots[i];
    if (opt->n_slots == opt->cap_slots) {
        int cap = opt->cap_slots ? 2 * opt->cap_slots : 16;
        opt_slot *p = realloc(opt->slots, (size_t)cap * sizeof *p);
        if (!p) {
            ag__fail(g, AG_ERR_NOMEM, "%s step: out of memory for the state of '%s'",
                     kind_name(opt->cfg.kind), ag_node_name(var));
            return NULL;
        }
        opt->slots = p;
        opt->cap_slots = cap;
        opt->allocs++;
    }
    opt_slot *sl = &opt->slots[opt->n_slots];
    memset(sl, 0, sizeof *sl);
    for (int s = 0; s < opt->n_state; s++) {
        ag_error e = {0};
        const ag_tensor *w = ag_value(var);
        if (ag_tensor_reshape_storage(&sl->s[s], w->dtype, w->rank, w->shape, &opt->allocs, &e)) {
            for (int r = 0; r < s; r++)
                ag_tensor_release(&sl->s[r]);
            ag__fail(g, e.code, "%s step: state of '%s': %s", kind_name(opt->cfg.kind),
                     ag_node_name(var), e.msg);
            return NULL;
        }
        ag_tensor_zero(&sl->s[s]);
    }
    sl->var = var;
    opt->n_slots++;
    return sl;
}

/* ‖g‖₂, summed in double by one thread in index order. */
static double grad_norm(const ag_tensor *g)
{
    double s = 0;
    if (g->dtype == AG_FLOAT32)
        for (int64_t i = 0; i < g->size; i++)
            s += (double)AG_F32(g)[i] * AG_F32(g)[i];
    else
        for (int64_t i = 0; i < g->size; i++)
            s += AG_F64(g)[i] * AG_F64(g)[i];
    return sqrt(s);
}

ag_status ag_optimizer_step(ag_optimizer *opt, ag_graph *g, ag_node *const *vars, int n)
{
    if (!g) return AG_ERR_ARG;
    if (!opt) return ag__fail(g, AG_ERR_ARG, "optimizer step: optimizer is NULL");
    const char *who = kind_name(opt->cfg.kind);
    if (n < 0 || (n > 0 && !vars))
        return ag__fail(g, AG_ERR_ARG,
                        "%s step: expected an array of n >= 0 variables, received %s "
                        "with n=%d",
                        who, vars ? "an array" : "NULL", n);
    /* check every variable before touching any, so a failed step changes nothing */
    for (int i = 0; i < n; i++) {
        if (!vars[i]) {
            if (ag_graph_status(g) == AG_OK)
                ag__fail(g, AG_ERR_ARG, "%s step: variable %d is NULL", who, i);
            return ag_graph_status(g) ? ag_graph_status(g) : AG_ERR_ARG;
        }
        if (ag__node_graph(vars[i]) != g)
            return ag__fail(g, AG_ERR_ARG, "%s step: variable %d ('%s') belongs to another graph",
                            who, i, ag_node_name(vars[i]));
    }
    ag__update u = {.cfg = &opt->cfg, .t = opt->iterations + 1, .clipvalue = opt->cfg.clipvalue};
    int updated = 0;
    for (int i = 0; i < n; i++) {
        ag_node *var = vars[i];
        ag_tensor *grad = ag_grad(var);
        ag_tensor *w = ag_value(var);
        if (!ag_is_trainable(var) || !grad || !w) continue;
        if (grad->size != w->size || grad->dtype != w->dtype) {
            char a[96], b[96];
            return ag__fail(g, AG_ERR_SHAPE, "%s step: gradient of '%s' is %s %s, expected %s %s",
                            who, ag_node_name(var), ag_dtype_name(grad->dtype),
                            ag_shape_str(grad->rank, grad->shape, a, sizeof a),
                            ag_dtype_name(w->dtype), ag_shape_str(w->rank, w->shape, b, sizeof b));
        }
        opt_slot *sl = slot_for(opt, g, var, i);
        if (!sl) return ag_graph_status(g);
        for (int s = 0; s < opt->n_state; s++)
            if (sl->s[s].size != w->size || sl->s[s].dtype != w->dtype)
                return ag__fail(g, AG_ERR_STATE,
                                "%s step: variable '%s' changed shape or dtype since its state "
                                "was created (%" PRId64 " %s elements, now %" PRId64 " %s)",
                                who, ag_node_name(var), sl->s[s].size,
                                ag_dtype_name(sl->s[s].dtype), w->size, ag_dtype_name(w->dtype));
        u.clip_num = u.clip_den = 0;
        if (opt->cfg.clipnorm > 0) {
            double norm = grad_norm(grad);
            u.clip_num = opt->cfg.clipnorm;
            u.clip_den = norm > opt->cfg.clipnorm ? norm : opt->cfg.clipnorm;
        }
        u.w = w;
        u.g = grad;
        u.s[0] = &sl->s[0];
        u.s[1] = &sl->s[1];
        opt->update(&u);
        updated = 1;
    }
    if (updated) opt->iterations++;
    return AG_OK;
}

int ag_optimizer_state_size(const ag_optimizer *opt) { return opt ? opt->n_state : 0; }
int ag_optimizer_state_count(const ag_optimizer *opt) { return opt ? opt->n_slots : 0; }

ag_node *ag_optimizer_state_var(const ag_optimizer *opt, int i, const ag_tensor **state)
{
    if (!opt || i < 0 || i >= opt->n_slots) return NULL;
    for (int s = 0; state && s < opt->n_state; s++)
        state[s] = &opt->slots[i].s[s];
    return opt->slots[i].var;
}

ag_status ag_optimizer_set_state(ag_optimizer *opt, ag_node *var, const ag_tensor *const *state,
                                 ag_error *err)
{
    if (!opt || !var || (!state && opt->n_state))
        return ag_error_set(err, AG_ERR_ARG, "optimizer set_state: %s is NULL",
                            !opt   ? "optimizer"
                            : !var ? "var"
                                   : "state");
    const ag_tensor *w = ag_value(var);
    const char *who = kind_name(opt->cfg.kind);
    for (int s = 0; s < opt->n_state; s++)
        if (!state[s] || !w || state[s]->dtype != w->dtype || state[s]->size != w->size)
            return ag_error_set(err, AG_ERR_SHAPE,
                                "%s set_state: state %d of '%s' must be %" PRId64
                                " %s elements like the variable, received %" PRId64 " %s",
                                who, s, ag_node_name(var), w ? w->size : 0,
                                w ? ag_dtype_name(w->dtype) : "?", state[s] ? state[s]->size : 0,
                                state[s] ? ag_dtype_name(state[s]->dtype) : "none");
    opt_slot *sl = slot_for(opt, NULL, var, opt->n_slots);
    if (!sl)
        return ag_error_set(err, AG_ERR_NOMEM, "%s set_state: no memory for the state of '%s'", who,
                            ag_node_name(var));
    for (int s = 0; s < opt->n_state; s++)
        memcpy(sl->s[s].data, state[s]->data, (size_t)w->size * ag_dtype_size(w->dtype));
    return AG_OK;
}

void ag_optimizer_set_iterations(ag_optimizer *opt, int64_t iterations)
{
    if (opt && iterations >= 0) opt->iterations = iterations;
}
