/* layer.c — what every layer shares: creation and automatic names, weights
 * and their initialisers, recorded calls, masks, configs; the InputLayer.
 *
 * A layer belongs to one model (its weights live in the model's graph). It
 * builds its weights on its first call, from the shapes of that call's
 * inputs; every later call reuses them, so a layer called on the query and
 * on the value shares one weight set, and the backward pass sums both calls'
 * gradients into it (the engine adds every consumer's contribution).
 */
#include "layer.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

ag_status ag__model_fail(ag_model *m, ag_status code, const char *fmt, ...)
{
    if (!m || !m->g) return code;
    char msg[AG_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ag__fail(m->g, code, "%s", msg);
}

/* A NULL argument that an earlier failure produced: keep that message. */
static void *null_arg(ag_model *m, const char *who, const char *what)
{
    if (m && m->g && ag_graph_status(m->g) == AG_OK)
        ag__model_fail(m, AG_ERR_ARG, "%s: %s is NULL", who, what);
    return NULL;
}

/* ---- names of enums ---- */

static const char *const act_names[] = {"linear", "relu", "sigmoid", "tanh", "softmax"};
const char *ag_activation_name(ag_activation a)
{
    return (unsigned)a < sizeof act_names / sizeof act_names[0] ? act_names[a] : "?";
}
int ag_activation_from_name(const char *name)
{
    if (!name) return AG_ACT_LINEAR;
    for (int i = 0; i < (int)(sizeof act_names / sizeof act_names[0]); i++)
        if (!strcmp(name, act_names[i])) return i;
    return -1;
}
static const char *const pad_names[] = {"valid", "same", "causal"};
const char *ag_padding_name(ag_padding p) { return (unsigned)p < 3 ? pad_names[p] : "?"; }
int ag_padding_from_name(const char *name)
{
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, pad_names[i])) return i;
    return -1;
}

/* ---- models: creation and errors ---- */

ag_model *ag_model_new(ag_dtype float_dtype, uint64_t seed)
{
    if (!ag_dtype_is_float(float_dtype)) return NULL;
    ag_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->g = ag_graph_new();
    if (!m->g) {
        free(m);
        return NULL;
    }
    ag_graph_set_float(m->g, float_dtype);
    m->seed = seed;
    snprintf(m->name, sizeof m->name, "functional");
    return m;
}

void ag_model_free(ag_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) {
        free(m->layers[i]->calls);
        free(m->layers[i]);
    }
    free(m->layers);
    for (int i = 0; i < AG_MAX_INPUTS; i++)
        ag_tensor_release(&m->buf.x[i]);
    ag_tensor_release(&m->buf.y);
    free(m->buf.pred);
    free(m->buf.truth);
    ag__shard_release(&m->shard);
    for (int i = 0; i < m->n_meta; i++)
        free(m->meta_key[i]), free(m->meta_value[i]);
    free(m->meta_key);
    free(m->meta_value);
    ag_optimizer_free(m->opt);
    ag_graph_free(m->g);
    free(m);
}

const char *ag_model_error(const ag_model *m) { return m ? ag_graph_error(m->g) : "model is NULL"; }
ag_status ag_model_status(const ag_model *m) { return m ? ag_graph_status(m->g) : AG_ERR_ARG; }
void ag_model_clear_error(ag_model *m)
{
    if (m) ag_graph_clear_error(m->g);
}
ag_graph *ag_model_graph(ag_model *m) { return m ? m->g : NULL; }
const char *ag_model_name(const ag_model *m) { return m ? m->name : "(null)"; }

int ag_model_input_count(const ag_model *m) { return m ? m->n_inputs : 0; }
ag_node *ag_model_input_node(const ag_model *m, int i)
{
    return m && i >= 0 && i < m->n_inputs ? m->inputs[i] : NULL;
}
int ag_model_output_count(const ag_model *m) { return m ? m->n_outputs : 0; }
ag_node *ag_model_output_node(const ag_model *m, int i)
{
    return m && i >= 0 && i < m->n_outputs ? m->outputs[i] : NULL;
}
int ag_model_layer_count(const ag_model *m) { return m ? m->n_layers : 0; }
ag_layer *ag_model_layer(const ag_model *m, int i)
{
    return m && i >= 0 && i < m->n_layers ? m->layers[i] : NULL;
}
ag_layer *ag_model_get_layer(const ag_model *m, const char *name)
{
    for (int i = 0; m && name && i < m->n_layers; i++)
        if (!strcmp(m->layers[i]->name, name)) return m->layers[i];
    return NULL;
}

int ag_model_weights(const ag_model *m, int trainable, ag_node **out, int max)
{
    int n = 0;
    for (int i = 0; m && i < m->n_layers; i++) {
        int k = ag_layer_weights(m->layers[i], trainable, out ? out + (n < max ? n : max) : NULL,
                                 n < max ? max - n : 0);
        n += k;
    }
    return n;
}

int64_t ag_model_count_params(const ag_model *m, int trainable)
{
    int64_t n = 0;
    for (int i = 0; m && i < m->n_layers; i++) {
        const ag_layer *l = m->layers[i];
        for (int w = 0; w < l->n_weights; w++)
            if (trainable < 0 || ag_is_trainable(l->w[w]) == (trainable != 0))
                n += ag__shape_size(ag_node_shape(l->w[w]));
    }
    return n;
}

/* ---- layers: creation, names, weights ---- */

static int name_taken(const ag_model *m, const char *name, const ag_layer *except)
{
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i] != except && !strcmp(m->layers[i]->name, name)) return 1;
    return 0;
}

ag_layer *ag__layer_new(ag_model *m, const ag_layer_class *cls)
{
    if (!m) return NULL;
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 16;
        ag_layer **p = realloc(m->layers, (size_t)cap * sizeof *p);
        if (!p) return ag__model_fail(m, AG_ERR_NOMEM, "%s: out of memory", cls->class_name), NULL;
        m->layers = p;
        m->cap_layers = cap;
    }
    ag_layer *l = calloc(1, sizeof *l);
    if (!l) return ag__model_fail(m, AG_ERR_NOMEM, "%s: out of memory", cls->class_name), NULL;
    l->m = m;
    l->cls = cls;
    l->index = m->n_layers;
    l->seed = m->seed + (uint64_t)l->index;
    l->trainable = 1;
    l->axis = -1;
    /* Keras's automatic names: conv1d, conv1d_1, conv1d_2, ... */
    snprintf(l->name, sizeof l->name, "%s", cls->base_name);
    for (int k = 1; name_taken(m, l->name, NULL); k++)
        snprintf(l->name, sizeof l->name, "%s_%d", cls->base_name, k);
    m->layers[m->n_layers++] = l;
    return l;
}

ag_status ag_layer_set_name(ag_layer *l, const char *name)
{
    if (!l) return AG_ERR_ARG;
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 40 || strchr(name, '/') || strchr(name, '"') || strchr(name, '\\'))
        return ag__model_fail(l->m, AG_ERR_ARG,
                              "%s '%s': a name must be 1 to 40 characters without '/', '\"' or "
                              "'\\', received \"%s\"",
                              l->cls->class_name, l->name, name ? name : "(null)");
    if (l->built || l->n_calls)
        return ag__model_fail(l->m, AG_ERR_STATE,
                              "%s '%s': rename a layer before its first call (its weights are "
                              "named after it)",
                              l->cls->class_name, l->name);
    if (name_taken(l->m, name, l))
        return ag__model_fail(l->m, AG_ERR_ARG,
                              "%s: the name \"%s\" is already used by another layer of the model",
                              l->cls->class_name, name);
    snprintf(l->name, sizeof l->name, "%s", name);
    return AG_OK;
}

const char *ag_layer_name(const ag_layer *l) { return l ? l->name : "(null)"; }
const char *ag_layer_class_name(const ag_layer *l) { return l ? l->cls->class_name : "(null)"; }
int ag_layer_call_count(const ag_layer *l) { return l ? l->n_calls : 0; }
ag_node *ag_layer_output(const ag_layer *l, int call)
{
    return l && call >= 0 && call < l->n_calls ? l->calls[call].out : NULL;
}
ag_node *ag_layer_attention_scores(const ag_layer *l, int call)
{
    return l && l->cls->call_options && call >= 0 && call < l->n_calls
               ? ag__call_output(&l->calls[call], 1)
               : NULL;
}

int ag_layer_weights(const ag_layer *l, int trainable, ag_node **out, int max)
{
    int n = 0;
    for (int w = 0; l && w < l->n_weights; w++) {
        if (trainable >= 0 && ag_is_trainable(l->w[w]) != (trainable != 0)) continue;
        if (out && n < max) out[n] = l->w[w];
        n++;
    }
    return n;
}

int64_t ag_layer_count_params(const ag_layer *l)
{
    int64_t n = 0;
    for (int w = 0; l && w < l->n_weights; w++)
        n += ag__shape_size(ag_node_shape(l->w[w]));
    return n;
}

void ag_layer_set_trainable(ag_layer *l, int trainable)
{
    if (!l) return;
    l->trainable = trainable != 0;
    for (int w = 0; w < l->n_weights; w++)
        ag_set_trainable(l->w[w], l->trainable);
}

ag_node *ag__layer_weight(ag_layer *l, const char *name, int rank, const int64_t *shape)
{
    if (l->n_weights == AG_LAYER_MAX_WEIGHTS) {
        ag__model_fail(l->m, AG_ERR_STATE, "%s '%s': too many weights", l->cls->class_name,
                       l->name);
        return NULL;
    }
    char full[128];
    snprintf(full, sizeof full, "%s/%s", l->name, name);
    const ag_safetensors *file = l->m->load_file;
    if (file) { /* loading: the file must hold this weight before it is allocated */
        const ag_tensor *t = ag_safetensors_get(file, full);
        char a[96], b[96];
        if (!t) {
            ag__model_fail(l->m, AG_ERR_FORMAT, "load: %s has no tensor '%s' (the model needs it)",
                           l->m->load_path, full);
            return NULL;
        }
        int ok = t->dtype == l->m->load_dtype && t->rank == rank;
        for (int d = 0; ok && d < rank; d++)
            ok = t->shape[d] == shape[d];
        if (!ok) {
            ag__model_fail(l->m, AG_ERR_FORMAT,
                           "load: %s: tensor '%s' is %s %s, the model expects %s %s",
                           l->m->load_path, full, ag_dtype_name(t->dtype),
                           ag_shape_str(t->rank, t->shape, a, sizeof a),
                           ag_dtype_name(l->m->load_dtype), ag_shape_str(rank, shape, b, sizeof b));
            return NULL;
        }
    }
    ag_node *w = ag_variable(l->m->g, full, rank, shape);
    if (!w) return NULL;
    ag_set_trainable(w, l->trainable);
    l->w[l->n_weights++] = w;
    return w;
}

void ag__init_glorot(ag_layer *l, ag_node *w, int64_t fan_in, int64_t fan_out)
{
    double limit = sqrt(6.0 / (double)(fan_in + fan_out > 0 ? fan_in + fan_out : 1));
    ag__init_uniform(l, w, -limit, limit);
}

void ag__init_uniform(ag_layer *l, ag_node *w, double lo, double hi)
{
    int stream = 0;
    while (stream < l->n_weights && l->w[stream] != w)
        stream++;
    ag_fill_uniform(ag_value(w), lo, hi, l->seed, (uint64_t)stream);
}

void ag__init_const(ag_node *w, double v)
{
    ag_tensor *t = ag_value(w);
    for (int64_t i = 0; i < t->size; i++)
        ag_tensor_set(t, i, v);
}

uint64_t ag__layer_dropout_seed(const ag_layer *l)
{
    if (l->user_seed) return l->user_seed;
    /* splitmix64 of the layer's seed: distinct layers get unrelated streams */
    uint64_t z = l->seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

ag_node *ag__activate(ag_graph *g, ag_node *x, ag_activation a)
{
    switch (a) {
    case AG_ACT_LINEAR: return x;
    case AG_ACT_RELU: return ag_relu(g, x);
    case AG_ACT_SIGMOID: return ag_sigmoid(g, x);
    case AG_ACT_TANH: return ag_tanh(g, x);
    case AG_ACT_SOFTMAX: return ag_softmax(g, x);
    }
    return x;
}

ag_node *ag__call_output(const ag_layer_call_rec *r, int index)
{
    if (index == 0) return r->out;
    return index >= 1 && index <= r->n_extra ? r->extra[index - 1] : NULL;
}

int ag__call_explicit_masks(const ag_layer_call_rec *r)
{
    return r->kw.n_mask > 0 || r->kw.key_mask || r->kw.attention_mask;
}

int ag__find_producer(const ag_model *m, const ag_node *n, ag_layer **layer, int *call,
                      int *out_index)
{
    for (int i = 0; m && n && i < m->n_layers; i++) {
        ag_layer *l = m->layers[i];
        for (int c = 0; c < l->n_calls; c++) {
            const ag_layer_call_rec *r = &l->calls[c];
            for (int k = 0; k <= r->n_extra; k++) {
                if (ag__call_output(r, k) != n) continue;
                *layer = l;
                *call = c;
                *out_index = k;
                return 1;
            }
        }
    }
    *layer = NULL;
    return 0;
}

ag_node *ag_model_mask(const ag_model *m, const ag_node *x)
{
    ag_layer *l;
    int c, k;
    /* a mask belongs to a call's output 0; extra outputs carry none */
    if (!ag__find_producer(m, x, &l, &c, &k) || k != 0) return NULL;
    return l->calls[c].out_mask;
}

/* ---- calls ---- */

ag_node *ag__layer_call(ag_layer *l, ag_node *const *in, int n, const ag_layer_kwargs *kw,
                        const ag_layer_call_rec **rec_out)
{
    if (!l) return NULL; /* the constructor failed; its message stands */
    ag_model *m = l->m;
    const char *cls = l->cls->class_name;
    if (n < l->cls->min_in || n > l->cls->max_in) {
        if (l->cls->min_in == l->cls->max_in)
            ag__model_fail(m, AG_ERR_ARG, "%s '%s' expects %d input%s, received %d", cls, l->name,
                           l->cls->min_in, l->cls->min_in == 1 ? "" : "s", n);
        else
            ag__model_fail(m, AG_ERR_ARG, "%s '%s' expects a list of %d to %d inputs, received %d",
                           cls, l->name, l->cls->min_in, l->cls->max_in, n);
        return NULL;
    }
    if (n > 0 && !in) return null_arg(m, cls, "the input list");
    for (int i = 0; i < n; i++) {
        if (!in[i]) return null_arg(m, cls, "an input");
        if (ag__node_graph(in[i]) != m->g) {
            ag__model_fail(m, AG_ERR_ARG,
                           "%s '%s': input %d belongs to another model (layers and their inputs "
                           "must come from one model)",
                           cls, l->name, i);
            return NULL;
        }
    }
    if (!l->built) {
        if (l->cls->build && l->cls->build(l, in, n)) return NULL;
        l->built = 1;
    }
    if (l->n_calls == l->cap_calls) {
        int cap = l->cap_calls ? 2 * l->cap_calls : 2;
        ag_layer_call_rec *p = realloc(l->calls, (size_t)cap * sizeof *p);
        if (!p) return ag__model_fail(m, AG_ERR_NOMEM, "%s: out of memory", cls), NULL;
        l->calls = p;
        l->cap_calls = cap;
    }
    ag_layer_call_rec rec = {.n_in = n};
    for (int i = 0; i < n; i++) {
        rec.in[i] = in[i];
        rec.in_mask[i] = ag_model_mask(m, in[i]);
    }
    if (kw) rec.kw = *kw;
    ag_node *out = l->cls->call(l, rec.in, n, &rec);
    if (!out) return NULL;
    rec.out = out;
    l->calls[l->n_calls] = rec;
    if (rec_out) *rec_out = &l->calls[l->n_calls];
    l->n_calls++;
    return out;
}

ag_node *ag_call(ag_layer *l, ag_node *x)
{
    if (l && !x) return null_arg(l->m, l->cls->class_name, "the input");
    return ag__layer_call(l, &x, 1, NULL, NULL);
}

ag_node *ag_call_n(ag_layer *l, ag_node *const *inputs, int n)
{
    return ag__layer_call(l, inputs, n, NULL, NULL);
}

ag_node *ag_call_attention(ag_layer *l, ag_node *const *inputs, int n,
                           const ag_attention_call *opts)
{
    if (l && !l->cls->call_options) {
        ag__model_fail(l->m, AG_ERR_ARG,
                       "ag_call_attention: layer '%s' is a %s, expected Attention, "
                       "AdditiveAttention or MultiHeadAttention",
                       l->name, l->cls->class_name);
        return NULL;
    }
    ag_layer_kwargs kw = {0};
    if (opts) {
        if (opts->n_mask < 0 || opts->n_mask > AG_MAX_INPUTS || (opts->n_mask && !opts->mask)) {
            if (l)
                ag__model_fail(l->m, AG_ERR_ARG,
                               "%s '%s': mask must be a list of 2 tensors [query_mask, "
                               "value_mask], received %d",
                               l->cls->class_name, l->name, opts->mask ? opts->n_mask : 0);
            return NULL;
        }
        kw.n_mask = opts->n_mask;
        for (int i = 0; i < opts->n_mask; i++)
            kw.mask[i] = opts->mask[i];
        kw.key_mask = opts->key_mask;
        kw.attention_mask = opts->attention_mask;
        kw.use_causal_mask = opts->use_causal_mask != 0;
        kw.return_attention_scores = opts->attention_scores != NULL;
    }
    const ag_layer_call_rec *rec = NULL;
    ag_node *out = ag__layer_call(l, inputs, n, &kw, &rec);
    if (out && opts && opts->attention_scores) *opts->attention_scores = ag__call_output(rec, 1);
    return out;
}

/* ---- InputLayer ---- */

static ag_node *input_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    (void)l, (void)in, (void)n, (void)rec;
    return NULL; /* never called: ag_model_input makes the node */
}

static void input_config(const ag_layer *l, ag_sbuf *b)
{
    ag_sb_puts(b, ",\"batch_shape\":[");
    for (int i = 0; i < l->batch_shape.rank; i++) {
        if (i) ag_sb_puts(b, ",");
        if (l->batch_shape.dim[i] < 0)
            ag_sb_puts(b, "null");
        else
            ag_sb_printf(b, "%" PRId64, l->batch_shape.dim[i]);
    }
    ag_sb_printf(b, "],\"dtype\":\"%s\"",
                 ag_dtype_is_float(l->batch_shape.dtype) ? "float"
                                                         : ag_dtype_name(l->batch_shape.dtype));
}

const ag_layer_class ag__input_layer_class = {.class_name = "InputLayer",
                                              .base_name = "input_layer",
                                              .call = input_call,
                                              .get_config = input_config};

ag_node *ag_model_input(ag_model *m, const char *name, ag_dtype dtype, int rank,
                        const int64_t *shape)
{
    if (!m) return NULL;
    if (m->built) return ag__model_fail(m, AG_ERR_STATE, "Input: the model is already built"), NULL;
    if (m->n_inputs == AG_MAX_INPUTS)
        return ag__model_fail(m, AG_ERR_ARG, "Input: a model takes at most %d inputs",
                              AG_MAX_INPUTS),
               NULL;
    if (rank < 0 || rank >= AG_MAX_RANK || (rank > 0 && !shape))
        return ag__model_fail(m, AG_ERR_ARG,
                              "Input: shape (without the batch axis) must have rank 0 to %d, "
                              "received rank %d%s",
                              AG_MAX_RANK - 1, rank, rank > 0 && !shape ? " and no shape" : ""),
               NULL;
    if (dtype != AG_INT32 && dtype != AG_INT64 && !ag_dtype_is_float(dtype) && dtype != AG_BOOL)
        return ag__model_fail(m, AG_ERR_DTYPE, "Input: unsupported dtype %d", (int)dtype), NULL;
    ag_layer *l = ag__layer_new(m, &ag__input_layer_class);
    if (!l) return NULL;
    if (name && *name && ag_layer_set_name(l, name)) {
        m->layers[--m->n_layers] = NULL;
        free(l);
        return NULL;
    }
    int64_t full[AG_MAX_RANK];
    full[0] = -1;
    for (int i = 0; i < rank; i++)
        full[i + 1] = shape[i];
    ag_node *x = ag_input(m->g, l->name, dtype, rank + 1, full);
    if (!x) return NULL;
    l->batch_shape = *ag_node_shape(x);
    l->built = 1;
    l->calls = calloc(1, sizeof *l->calls);
    if (!l->calls) return ag__model_fail(m, AG_ERR_NOMEM, "Input: out of memory"), NULL;
    l->cap_calls = l->n_calls = 1;
    l->calls[0].out = x;
    if (!m->seq_last) m->seq_last = x; /* a Sequential model starts here */
    return x;
}

/* ---- configs ---- */

char *ag_layer_get_config(const ag_layer *l)
{
    if (!l) return NULL;
    ag_sbuf b = {0};
    ag_sb_puts(&b, "{\"name\":");
    ag_sb_json_str(&b, l->name);
    ag_sb_printf(&b, ",\"trainable\":%s", l->trainable ? "true" : "false");
    if (l->cls != &ag__input_layer_class) /* an InputLayer writes its own dtype */
        ag_sb_printf(&b, ",\"dtype\":\"%s\"", ag_dtype_name(ag_graph_float(l->m->g)));
    if (l->cls->get_config) l->cls->get_config(l, &b);
    ag_sb_puts(&b, "}");
    char *s = ag_sb_take(&b);
    if (!s) ag__model_fail(l->m, AG_ERR_NOMEM, "get_config: out of memory");
    return s;
}

static const ag_layer_class *const classes[] = {
    &ag__input_layer_class,
    &ag__embedding_class,
    &ag__conv1d_class,
    &ag__dense_class,
    &ag__dropout_class,
    &ag__activation_class,
    &ag__gap1d_class,
    &ag__gmp1d_class,
    &ag__concatenate_class,
    &ag__layer_norm_class,
    &ag__attention_class,
    &ag__additive_attention_class,
    &ag__add_class,
    &ag__subtract_class,
    &ag__multiply_class,
    &ag__mha_class,
    &ag__position_embedding_class,
};

const ag_layer_class *ag__layer_class_find(const char *class_name)
{
    for (size_t i = 0; class_name && i < sizeof classes / sizeof classes[0]; i++)
        if (!strcmp(classes[i]->class_name, class_name)) return classes[i];
    return NULL;
}

/* Makes a layer from a parsed config object. */
ag_layer *ag__layer_from_json(ag_model *m, const char *class_name, const ag_json *cfg)
{
    const ag_layer_class *cls = ag__layer_class_find(class_name);
    if (!cls || !cls->from_config) {
        ag_sbuf b = {0};
        for (size_t i = 1; i < sizeof classes / sizeof classes[0]; i++)
            ag_sb_printf(&b, "%s%s", i > 1 ? ", " : "", classes[i]->class_name);
        ag__model_fail(m, AG_ERR_ARG, "from_config: unknown layer class '%s'; known: %s",
                       class_name ? class_name : "(null)", b.s ? b.s : "");
        ag_sb_release(&b);
        return NULL;
    }
    if (!cfg || cfg->type != AG_JSON_OBJECT)
        return ag__model_fail(m, AG_ERR_ARG, "from_config: %s's config must be a JSON object",
                              class_name),
               NULL;
    ag_layer *l = cls->from_config(m, cfg);
    if (!l) return NULL;
    const char *name = ag_json_str(ag_json_get(cfg, "name"));
    if (name && ag_layer_set_name(l, name)) return NULL;
    int trainable = 1;
    if (!ag__cfg_bool(m, cfg, class_name, "trainable", 1, &trainable)) return NULL;
    l->trainable = trainable;
    return l;
}

ag_layer *ag_layer_from_config(ag_model *m, const char *class_name, const char *json)
{
    if (!m) return NULL;
    if (!json) return ag__model_fail(m, AG_ERR_ARG, "from_config: the JSON text is NULL"), NULL;
    ag_error e = {0};
    ag_json *cfg = ag_json_parse(json, strlen(json), &e);
    if (!cfg) return ag__model_fail(m, e.code, "from_config: %s", e.msg), NULL;
    ag_layer *l = ag__layer_from_json(m, class_name, cfg);
    ag_json_free(cfg);
    return l;
}

int ag__cfg_int(ag_model *m, const ag_json *cfg, const char *cls, const char *key, int64_t def,
                int64_t *out)
{
    const ag_json *v = ag_json_get(cfg, key);
    *out = def;
    if (!v || v->type == AG_JSON_NULL) return 1;
    if (ag_json_int(v, out)) return 1;
    ag__model_fail(m, AG_ERR_ARG, "from_config: %s's %s must be an integer", cls, key);
    return 0;
}

int ag__cfg_seed(ag_model *m, const ag_json *cfg, const char *cls, const char *key, uint64_t *out)
{
    const ag_json *v = ag_json_get(cfg, key);
    *out = 0;
    if (!v || v->type == AG_JSON_NULL || ag_json_u64(v, out)) return 1;
    char got[40] = "a value of another type";
    if (v->type == AG_JSON_NUMBER) snprintf(got, sizeof got, "%.17g", v->number);
    ag__model_fail(m, AG_ERR_ARG,
                   "from_config: %s's %s must be null or an integer from 0 to "
                   "18446744073709551615, received %s",
                   cls, key, got);
    return 0;
}

int ag__cfg_num(ag_model *m, const ag_json *cfg, const char *cls, const char *key, double def,
                double *out)
{
    const ag_json *v = ag_json_get(cfg, key);
    *out = def;
    if (!v || v->type == AG_JSON_NULL) return 1;
    if (ag_json_num(v, out)) return 1;
    ag__model_fail(m, AG_ERR_ARG, "from_config: %s's %s must be a number", cls, key);
    return 0;
}

int ag__cfg_bool(ag_model *m, const ag_json *cfg, const char *cls, const char *key, int def,
                 int *out)
{
    const ag_json *v = ag_json_get(cfg, key);
    *out = def;
    if (!v || v->type == AG_JSON_NULL) return 1;
    if (ag_json_bool(v, out)) return 1;
    ag__model_fail(m, AG_ERR_ARG, "from_config: %s's %s must be true or false", cls, key);
    return 0;
}

int ag__cfg_activation(ag_model *m, const ag_json *cfg, const char *cls, ag_activation def)
{
    const ag_json *v = ag_json_get(cfg, "activation");
    if (!v || v->type == AG_JSON_NULL) return (int)def;
    int a = ag_activation_from_name(ag_json_str(v));
    if (a < 0)
        ag__model_fail(m, AG_ERR_ARG,
                       "from_config: %s's activation must be one of \"linear\", \"relu\", "
                       "\"sigmoid\", \"tanh\", \"softmax\"",
                       cls);
    return a;
}
