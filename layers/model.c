/* model.c — functional and Sequential models, and their configs.
 *
 * A functional model is its inputs, its outputs, and the layer calls between
 * them, all recorded as they were made. Its config lists every layer
 * (class, config, the tensors each call consumed: "inbound_nodes"), which is
 * enough to rebuild the same graph: from_config replays the calls in an
 * order where each call's inputs exist, and each layer gets its original
 * position, hence its original seed and initial weights.
 */
#include "layer.h"

#include <inttypes.h>
#include <stdlib.h>

/* Is every graph input that out depends on one of the model's inputs? */
typedef struct reach_ctx {
    const ag_model *m;
    ag_node *foreign; /* the first input that is not the model's */
} reach_ctx;

static int visit_input(ag_node *v, void *user)
{
    reach_ctx *r = user;
    if (ag_node_kind_of(v) != AG_INPUT) return 0;
    for (int k = 0; k < r->m->n_inputs; k++)
        if (r->m->inputs[k] == v) return 0;
    r->foreign = v;
    return 1;
}

static ag_status check_reachable(ag_model *m, ag_node *out)
{
    reach_ctx r = {m, NULL};
    ag_node *roots[2] = {out, ag_model_mask(m, out)};
    if (ag__graph_walk_ancestors(m->g, roots, roots[1] ? 2 : 1, visit_input, &r))
        return ag__model_fail(m, AG_ERR_ARG,
                              "Model: output '%s' depends on the input '%s', which is not "
                              "among the model's inputs",
                              ag_node_name(out), ag_node_name(r.foreign));
    return AG_OK;
}

ag_status ag_model_build(ag_model *m, ag_node *const *inputs, int n_inputs, ag_node *const *outputs,
                         int n_outputs)
{
    if (!m) return AG_ERR_ARG;
    if (m->built)
        return ag__model_fail(m, AG_ERR_STATE,
                              "Model: the model's inputs and outputs are "
                              "already set");
    if (ag_model_status(m) != AG_OK) return ag_model_status(m); /* an earlier call failed */
    if (n_inputs < 1 || n_inputs > AG_MAX_INPUTS || !inputs)
        return ag__model_fail(m, AG_ERR_ARG, "Model: inputs must list 1 to %d tensors, received %d",
                              AG_MAX_INPUTS, inputs ? n_inputs : 0);
    if (n_outputs < 1 || n_outputs > AG_MAX_INPUTS || !outputs)
        return ag__model_fail(m, AG_ERR_ARG,
                              "Model: outputs must list 1 to %d tensors, received %d",
                              AG_MAX_INPUTS, outputs ? n_outputs : 0);
    for (int i = 0; i < n_inputs; i++) {
        ag_layer *l;
        int c, k;
        if (!inputs[i]) return ag__model_fail(m, AG_ERR_ARG, "Model: input %d is NULL", i);
        if (!ag__find_producer(m, inputs[i], &l, &c, &k) || l->cls != &ag__input_layer_class)
            return ag__model_fail(m, AG_ERR_ARG,
                                  "Model: input %d ('%s') is not an Input of this model "
                                  "(make it with ag_model_input)",
                                  i, ag_node_name(inputs[i]));
        for (int j = 0; j < i; j++)
            if (inputs[j] == inputs[i])
                return ag__model_fail(m, AG_ERR_ARG, "Model: input '%s' is listed twice",
                                      ag_node_name(inputs[i]));
        m->inputs[i] = inputs[i];
    }
    m->n_inputs = n_inputs;
    for (int i = 0; i < n_outputs; i++) {
        if (!outputs[i] || ag__node_graph(outputs[i]) != m->g) {
            m->n_inputs = 0;
            return ag__model_fail(m, AG_ERR_ARG, "Model: output %d is %s", i,
                                  outputs[i] ? "not a tensor of this model" : "NULL");
        }
        ag_status st = check_reachable(m, outputs[i]);
        if (st) {
            m->n_inputs = 0;
            return st;
        }
        m->outputs[i] = outputs[i];
    }
    m->n_outputs = n_outputs;
    m->built = 1;
    return AG_OK;
}

ag_status ag_model_add(ag_model *m, ag_layer *layer)
{
    if (!m) return AG_ERR_ARG;
    if (!layer) {
        if (ag_model_status(m) == AG_OK)
            ag__model_fail(m, AG_ERR_ARG, "Sequential add: the layer is NULL");
        return ag_model_status(m);
    }
    if (layer->m != m)
        return ag__model_fail(m, AG_ERR_ARG, "Sequential add: layer '%s' belongs to another model",
                              layer->name);
    if (m->built && !m->sequential)
        return ag__model_fail(m, AG_ERR_STATE,
                              "Sequential add: this is a functional model (ag_model_build was "
                              "called)");
    int n_input_layers = 0;
    for (int i = 0; i < m->n_layers; i++)
        n_input_layers += m->layers[i]->cls == &ag__input_layer_class;
    if (n_input_layers != 1 || !m->seq_last)
        return ag__model_fail(m, AG_ERR_STATE,
                              "Sequential add: a Sequential model needs exactly one input "
                              "(ag_model_input) before its layers, it has %d",
                              n_input_layers);
    if (layer->cls->min_in > 1 || layer->cls == &ag__input_layer_class)
        return ag__model_fail(m, AG_ERR_ARG,
                              "Sequential add: %s '%s' takes several inputs; use the functional "
                              "API",
                              layer->cls->class_name, layer->name);
    ag_node *out = ag_call(layer, m->seq_last);
    if (!out) return ag_model_status(m);
    if (!m->sequential) {
        m->sequential = 1;
        snprintf(m->name, sizeof m->name, "sequential");
        m->inputs[0] = m->seq_last;
        m->n_inputs = 1;
    }
    m->seq_last = out;
    m->outputs[0] = out;
    m->n_outputs = 1;
    m->built = 1;
    return AG_OK;
}

/* ---- config ---- */

/* Writes ["layer", call, index] for node n; 0 if no layer made it. */
static int write_ref(ag_sbuf *b, const ag_model *m, const ag_node *n)
{
    ag_layer *l;
    int c, k;
    if (!ag__find_producer(m, n, &l, &c, &k)) return 0;
    ag_sb_puts(b, "[");
    ag_sb_json_str(b, l->name);
    ag_sb_printf(b, ",%d,%d]", c, k);
    return 1;
}

char *ag_model_get_config(ag_model *m)
{
    if (!m) return NULL;
    if (!m->built)
        return ag__model_fail(m, AG_ERR_STATE,
                              "get_config: the model has no outputs yet (ag_model_build or "
                              "ag_model_add)"),
               NULL;
    ag_sbuf b = {0};
    ag_sb_printf(&b, "{\"class_name\":\"%s\",\"config\":{\"name\":",
                 m->sequential ? "Sequential" : "Functional");
    ag_sb_json_str(&b, m->name);
    ag_sb_printf(&b, ",\"dtype\":\"%s\",\"seed\":%" PRIu64 ",\"layers\":[",
                 ag_dtype_name(ag_graph_float(m->g)), m->seed);
    for (int i = 0; i < m->n_layers; i++) {
        ag_layer *l = m->layers[i];
        char *cfg = ag_layer_get_config(l);
        if (!cfg) goto fail;
        ag_sb_printf(&b, "%s{\"class_name\":\"%s\",\"name\":", i ? "," : "", l->cls->class_name);
        ag_sb_json_str(&b, l->name);
        ag_sb_printf(&b, ",\"config\":%s,\"inbound_nodes\":[", cfg);
        free(cfg);
        for (int c = 0; l->cls != &ag__input_layer_class && c < l->n_calls; c++) {
            const ag_layer_call_rec *r = &l->calls[c];
            if (ag__call_explicit_masks(r)) {
                ag__model_fail(m, AG_ERR_ARG,
                               "get_config: call %d of %s '%s' was given explicit masks, which a "
                               "config cannot describe",
                               c, l->cls->class_name, l->name);
                goto fail;
            }
            ag_sb_printf(&b, "%s{\"args\":[", c ? "," : "");
            for (int j = 0; j < r->n_in; j++) {
                if (j) ag_sb_puts(&b, ",");
                if (!write_ref(&b, m, r->in[j])) {
                    ag__model_fail(m, AG_ERR_ARG,
                                   "get_config: input %d of %s '%s' (node '%s') was not made by a "
                                   "layer, so the model cannot be described by its layers",
                                   j, l->cls->class_name, l->name, ag_node_name(r->in[j]));
                    goto fail;
                }
            }
            ag_sb_puts(&b, "],\"kwargs\":{");
            if (l->cls->call_options)
                ag_sb_printf(&b, "\"use_causal_mask\":%s,\"return_attention_scores\":%s",
                             r->kw.use_causal_mask ? "true" : "false",
                             r->kw.return_attention_scores ? "true" : "false");
            ag_sb_puts(&b, "}}");
        }
        ag_sb_puts(&b, "]}");
    }
    const char *what[2] = {"input_layers", "output_layers"};
    for (int side = 0; side < 2; side++) {
        ag_sb_printf(&b, "],\"%s\":[", what[side]);
        int n = side ? m->n_outputs : m->n_inputs;
        for (int i = 0; i < n; i++) {
            if (i) ag_sb_puts(&b, ",");
            ag_node *v = side ? m->outputs[i] : m->inputs[i];
            if (!write_ref(&b, m, v)) {
                ag__model_fail(m, AG_ERR_ARG,
                               "get_config: output %d (node '%s') was not made by a layer, so the "
                               "model cannot be described by its layers",
                               i, ag_node_name(v));
                goto fail;
            }
        }
    }
    ag_sb_puts(&b, "]}}");
    char *s = ag_sb_take(&b);
    if (!s) ag__model_fail(m, AG_ERR_NOMEM, "get_config: out of memory");
    return s;
fail:
    ag_sb_release(&b);
    return NULL;
}

/* Resolves ["layer", call, index] against the calls made so far: the node,
 * NULL (not yet made, *bad = 0) or NULL with *bad = 1 (malformed). */
static ag_node *resolve_ref(ag_model *m, const ag_json *ref, int *bad)
{
    int64_t c, k;
    const char *name =
        ref && ref->type == AG_JSON_ARRAY && ref->n == 3 ? ag_json_str(ref->item[0]) : NULL;
    if (!name || !ag_json_int(ref->item[1], &c) || !ag_json_int(ref->item[2], &k) || c < 0 ||
        k < 0 || k > AG_LAYER_MAX_EXTRA) {
        *bad = 1;
        return NULL;
    }
    ag_layer *l = ag_model_get_layer(m, name);
    if (!l) {
        *bad = 1;
        return NULL;
    }
    if (c >= l->n_calls) return NULL;
    return ag__call_output(&l->calls[c], (int)k);
}

static ag_model *fail_from_config(ag_model *m, ag_error *err, const char *what)
{
    if (m && ag_model_status(m) != AG_OK)
        ag_error_set(err, ag_model_status(m), "%s%s",
                     strncmp(ag_model_error(m), "from_config", 11) &&
                             strncmp(ag_model_error(m), "load: ", 6)
                         ? "from_config: "
                         : "",
                     ag_model_error(m));
    else
        ag_error_set(err, AG_ERR_FORMAT, "from_config: %s", what);
    ag_model_free(m);
    return NULL;
}

/* Builds the model from a parsed config object. */
/* The first string (key or value) of the tree holding a control character
 * or DEL, or NULL: names go into messages, which must not drive a terminal. */
static const char *control_string(const ag_json *v)
{
    if (v->type == AG_JSON_STRING)
        for (const char *c = v->string; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) return v->string;
    for (int i = 0; i < v->n; i++) {
        if (v->key)
            for (const char *c = v->key[i]; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f) return v->key[i];
        const char *s = control_string(v->item[i]);
        if (s) return s;
    }
    return NULL;
}

ag_model *ag__model_from_json(const ag_json *root, const ag_safetensors *file, const char *path,
                              ag_error *err)
{
    const char *bad = control_string(root);
    if (bad) {
        char e[96];
        ag_error_set(err, AG_ERR_FORMAT,
                     "from_config: the string \"%s\" holds a control character (names and "
                     "classes are printable text)",
                     ag_escape(bad, strlen(bad), e, sizeof e));
        return NULL;
    }
    const char *cls = ag_json_str(ag_json_get(root, "class_name"));
    const ag_json *cfg = ag_json_get(root, "config");
    if (!cls || (strcmp(cls, "Functional") && strcmp(cls, "Sequential")) || !cfg ||
        cfg->type != AG_JSON_OBJECT)
        return fail_from_config(NULL, err,
                                "expected {\"class_name\": \"Functional\" or \"Sequential\", "
                                "\"config\": {...}}");
    const char *dt = ag_json_str(ag_json_get(cfg, "dtype"));
    ag_dtype dtype = AG_FLOAT32;
    if (dt && !strcmp(dt, "float64"))
        dtype = AG_FLOAT64;
    else if (dt && strcmp(dt, "float32"))
        return fail_from_config(NULL, err, "dtype must be \"float32\" or \"float64\"");
    uint64_t seed = 0;
    const ag_json *sj = ag_json_get(cfg, "seed");
    if (sj && sj->type != AG_JSON_NULL && !ag_json_u64(sj, &seed)) {
        char got[40] = "a value of another type";
        if (sj->type == AG_JSON_NUMBER) snprintf(got, sizeof got, "%.17g", sj->number);
        ag_error_set(err, AG_ERR_ARG,
                     "from_config: config.seed must be an integer from 0 to "
                     "18446744073709551615, received %s",
                     got);
        return NULL;
    }
    ag_model *m = ag_model_new(dtype, seed);
    if (!m) return ag_error_set(err, AG_ERR_NOMEM, "from_config: out of memory"), NULL;
    m->load_file = file, m->load_path = path, m->load_dtype = dtype;
    const char *name = ag_json_str(ag_json_get(cfg, "name"));
    if (name) snprintf(m->name, sizeof m->name, "%s", name);
    const ag_json *layers = ag_json_get(cfg, "layers");
    if (!layers || layers->type != AG_JSON_ARRAY)
        return fail_from_config(m, err, "config.layers must be a list");
    /* the layers, in their original order (so each keeps its seed) */
    for (int i = 0; i < layers->n; i++) {
        const ag_json *lj = layers->item[i];
        const char *lcls = ag_json_str(ag_json_get(lj, "class_name"));
        const ag_json *lcfg = ag_json_get(lj, "config");
        if (!lcls || !lcfg || lcfg->type != AG_JSON_OBJECT)
            return fail_from_config(m, err, "each layer needs a class_name and a config object");
        if (!strcmp(lcls, "InputLayer")) {
            const ag_json *bs = ag_json_get(lcfg, "batch_shape");
            const char *idt = ag_json_str(ag_json_get(lcfg, "dtype"));
            int64_t shape[AG_MAX_RANK];
            if (!bs || bs->type != AG_JSON_ARRAY || bs->n < 1 || bs->n > AG_MAX_RANK || !idt)
                return fail_from_config(m, err, "an InputLayer needs a batch_shape and a dtype");
            for (int d = 1; d < bs->n; d++)
                if (bs->item[d]->type == AG_JSON_NULL)
                    shape[d - 1] = -1;
                else if (!ag_json_int(bs->item[d], &shape[d - 1]) || shape[d - 1] < 0)
                    return fail_from_config(m, err, "batch_shape entries must be sizes or null");
            ag_dtype t = !strcmp(idt, "int32")   ? AG_INT32
                         : !strcmp(idt, "int64") ? AG_INT64
                         : !strcmp(idt, "bool")  ? AG_BOOL
                                                 : AG_FLOAT32;
            if (!ag_model_input(m, ag_json_str(ag_json_get(lcfg, "name")), t, bs->n - 1, shape))
                return fail_from_config(m, err, "bad InputLayer");
        } else if (!ag__layer_from_json(m, lcls, lcfg)) {
            return fail_from_config(m, err, "bad layer");
        }
    }
    /* replay the calls: each pass makes every call whose inputs exist */
    int pending = 1;
    while (pending) {
        int progress = 0;
        pending = 0;
        for (int i = 0; i < layers->n; i++) {
            ag_layer *l = m->layers[i];
            const ag_json *nodes = ag_json_get(layers->item[i], "inbound_nodes");
            if (l->cls == &ag__input_layer_class || !nodes) continue;
            if (nodes->type != AG_JSON_ARRAY)
                return fail_from_config(m, err, "inbound_nodes must be a list");
            if (l->n_calls >= nodes->n) continue;
            const ag_json *call = nodes->item[l->n_calls];
            const ag_json *args = ag_json_get(call, "args");
            if (!args || args->type != AG_JSON_ARRAY || args->n > AG_MAX_INPUTS)
                return fail_from_config(m, err, "an inbound node needs an args list");
            ag_node *in[AG_MAX_INPUTS];
            int ready = 1, bad = 0;
            for (int j = 0; j < args->n && ready; j++) {
                in[j] = resolve_ref(m, args->item[j], &bad);
                if (bad)
                    return fail_from_config(m, err,
                                            "an inbound node names an unknown layer or is not "
                                            "[layer, call, index]");
                ready = in[j] != NULL;
            }
            pending = 1;
            if (!ready) continue;
            const ag_json *kw = ag_json_get(call, "kwargs");
            ag_layer_kwargs kwargs = {0};
            ag_json_bool(ag_json_get(kw, "use_causal_mask"), &kwargs.use_causal_mask);
            ag_json_bool(ag_json_get(kw, "return_attention_scores"),
                         &kwargs.return_attention_scores);
            if (!ag__layer_call(l, in, args->n, l->cls->call_options ? &kwargs : NULL, NULL))
                return fail_from_config(m, err, "a layer call failed");
            progress = 1;
        }
        if (pending && !progress) return fail_from_config(m, err, "the inbound nodes form a cycle");
    }
    ag_node *io[2][AG_MAX_INPUTS];
    int n_io[2] = {0, 0};
    const char *what[2] = {"input_layers", "output_layers"};
    for (int side = 0; side < 2; side++) {
        const ag_json *list = ag_json_get(cfg, what[side]);
        if (!list || list->type != AG_JSON_ARRAY || list->n < 1 || list->n > AG_MAX_INPUTS)
            return fail_from_config(m, err,
                                    "input_layers and output_layers must be lists of 1 to "
                                    "8 references");
        for (int j = 0; j < list->n; j++) {
            int bad = 0;
            io[side][j] = resolve_ref(m, list->item[j], &bad);
            if (!io[side][j])
                return fail_from_config(m, err,
                                        "input_layers/output_layers name a tensor that "
                                        "was never made");
        }
        n_io[side] = list->n;
    }
    if (!strcmp(cls, "Sequential")) {
        if (n_io[0] != 1 || n_io[1] != 1)
            return fail_from_config(m, err, "a Sequential model has one input and one output");
        m->sequential = 1;
        m->inputs[0] = io[0][0];
        m->outputs[0] = m->seq_last = io[1][0];
        m->n_inputs = m->n_outputs = 1;
        m->built = 1;
    } else if (ag_model_build(m, io[0], n_io[0], io[1], n_io[1])) {
        return fail_from_config(m, err, "bad inputs/outputs");
    }
    m->load_file = NULL, m->load_path = NULL;
    return m;
}

ag_model *ag_model_from_config(const char *json, ag_error *err)
{
    if (!json) return ag_error_set(err, AG_ERR_ARG, "from_config: the JSON text is NULL"), NULL;
    ag_error e = {0};
    ag_json *root = ag_json_parse(json, strlen(json), &e);
    if (!root) return ag_error_set(err, e.code, "from_config: %s", e.msg), NULL;
    ag_model *m = ag__model_from_json(root, NULL, NULL, err);
    ag_json_free(root);
    return m;
}
