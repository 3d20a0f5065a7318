/*
 * layer.h — what the layers, the model and training share; not part of the
 * public API.
 *
 * A layer is a class (a table of callbacks: build its weights, call it on
 * symbolic tensors, write its config) and its arguments. A call is recorded
 * with its input and output nodes, which is all the model needs for the
 * summary's "Connected to", the config's inbound nodes, and rebuilding a
 * loaded model.
 */
#ifndef ATTOGRAD_LAYER_H
#define ATTOGRAD_LAYER_H

#include "../framework/internal.h"
#include "../framework/json.h"

#define AG_LAYER_MAX_WEIGHTS 8

/* ---- the layer-author interface ----
 *
 * A layer class is a table of callbacks (ag_layer_class); ag_call,
 * ag_call_n and ag_call_attention all go through ag__layer_call, which
 * checks the inputs, builds the weights on the first call, fills a call
 * record and hands it to the class's call:
 *
 *   static ag_node *my_call(ag_layer *l, ag_node *const *in, int n,
 *                           ag_layer_call_rec *rec)
 *   {
 *       ag_node *z = ag_relu(l->m->g, in[0]);   (build the call's nodes)
 *       rec->out_mask = rec->in_mask[0];        (Keras's compute_mask)
 *       return z;                               (output 0; NULL on failure,
 *   }                                            message on the model)
 *
 * The record carries everything Keras's call(...) takes and gives:
 *   in[i], in_mask[i]  the inputs and their Keras masks (the mask the layer
 *                      call that made in[i] produced; NULL: none)
 *   kw                 the keyword arguments (mask=, use_causal_mask=,
 *                      return_attention_scores=, key_mask=, attention_mask=);
 *                      only for classes with call_options, zero otherwise
 *   out_mask           the output's mask, set by the call (NULL: none)
 *   extra[k]           further outputs, set by the call (an attention
 *                      layer's scores are extra[0], always made: heatmaps
 *                      read them through ag_layer_attention_scores)
 * The record is kept (l->calls[]), and is all the model needs for the
 * summary's "Connected to", the config's inbound nodes and kwargs,
 * rebuilding a loaded model, and ag_model_mask. A tensor is referred to as
 * [layer, call, index]: index 0 is out, 1 + k is extra[k]. Masks live here,
 * not in the engine's nodes.
 */

#define AG_LAYER_MAX_EXTRA 2

/* A call's keyword arguments. Explicit masks (n_mask, key_mask,
 * attention_mask) are nodes no layer made, so a config cannot describe a
 * call that had them. */
typedef struct ag_layer_kwargs {
    int n_mask; /* mask=[...] given: n_mask masks, replacing in_mask */
    ag_node *mask[AG_MAX_INPUTS];
    ag_node *key_mask, *attention_mask; /* MultiHeadAttention */
    int use_causal_mask;
    int return_attention_scores;
} ag_layer_kwargs;

/* One call of a layer, as above. */
typedef struct ag_layer_call_rec {
    int n_in;
    ag_node *in[AG_MAX_INPUTS];
    ag_node *in_mask[AG_MAX_INPUTS];
    ag_layer_kwargs kw;
    ag_node *out; /* the call's return value */
    ag_node *out_mask;
    int n_extra;
    ag_node *extra[AG_LAYER_MAX_EXTRA];
} ag_layer_call_rec;

typedef struct ag_layer_class {
    const char *class_name; /* Keras's class: "Conv1D"                */
    const char *base_name;  /* automatic names: "conv1d", "conv1d_1"  */
    int min_in, max_in;     /* how many inputs a call takes           */
    int call_options;       /* takes keyword arguments (ag_call_attention),
                               recorded as the call's kwargs in the config */
    /* Creates the weights from the first call's inputs (NULL: none). */
    ag_status (*build)(ag_layer *l, ag_node *const *in, int n);
    /* Builds the call's nodes from in[0..n-1] (= rec->in) and returns output
     * 0; sets rec->out_mask and rec->extra as above. */
    ag_node *(*call)(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec);
    /* Writes the config's fields after "name" and "trainable", each
     * preceded by a comma. */
    void (*get_config)(const ag_layer *l, ag_sbuf *b);
    /* Makes the layer from a config object (the name is set afterwards). */
    ag_layer *(*from_config)(ag_model *m, const ag_json *cfg);
} ag_layer_class;

struct ag_layer {
    ag_model *m;
    const ag_layer_class *cls;
    char name[64];
    int index;     /* position in the model's layer list */
    uint64_t seed; /* initialisers: the model's seed + index */
    int built, trainable;
    int n_weights;
    ag_node *w[AG_LAYER_MAX_WEIGHTS];
    int n_calls, cap_calls;
    ag_layer_call_rec *calls;
    /* arguments, as each class needs them */
    int64_t units, input_dim, output_dim, filters, kernel_size, strides;
    int mask_zero, use_bias, use_scale, causal, axis;
    ag_padding padding;
    ag_activation activation;
    ag_score_mode score_mode;
    double rate, epsilon;
    uint64_t user_seed;                    /* dropout seeds as given (0: none) */
    int64_t num_heads, key_dim, value_dim; /* MultiHeadAttention */
    int kernel_init, bias_init;            /* MultiHeadAttention's initialisers */
    ag_shape batch_shape;                  /* InputLayer: (None, *shape) and dtype */
};

typedef struct ag_model_buffers {
    ag_tensor x[AG_MAX_INPUTS]; /* one batch of each input */
    ag_tensor y;                /* one batch of targets     */
    float *pred, *truth;        /* metrics: the epoch's outputs as float */
    int64_t n_pred, cap_pred;
} ag_model_buffers;

/* Data-parallel steps (shards.c): one shard's rows, the batch's joined
 * outputs, the step's gradient and this rank's shards' gradients. */
typedef struct ag_shard_buffers {
    ag_tensor x[AG_MAX_INPUTS], y; /* one shard's rows            */
    ag_tensor own, out;            /* this rank's outputs, all    */
    ag_tensor seed;                /* backward's seed, B_s/B      */
    void *acc, **parts;            /* gradients, variables in a row */
    int64_t cap_acc;               /* elements of acc and of each part */
    int cap_parts;
    double *loss; /* each shard's mean loss */
    int64_t *has; /* per variable: some shard gave it a gradient */
    size_t *counts;
    int cap_shards, cap_vars, cap_ranks;
} ag_shard_buffers;

struct ag_model {
    ag_graph *g;
    uint64_t seed;
    char name[32];
    int sequential;
    ag_layer **layers;
    int n_layers, cap_layers;
    int n_inputs, n_outputs;
    ag_node *inputs[AG_MAX_INPUTS], *outputs[AG_MAX_INPUTS];
    int built;
    ag_node *seq_last; /* Sequential: the output the next ag_model_add calls on */
    /* compile */
    int compiled;
    ag_loss_kind loss;
    int from_logits;
    unsigned metrics;
    ag_optimizer_config opt_cfg;
    ag_optimizer *opt;
    ag_node *target, *loss_node;
    ag_model_buffers buf;
    ag_shard_buffers shard;
    /* metadata of the file the model was loaded from */
    int n_meta;
    char **meta_key, **meta_value;
    /* while loading: the file whose tensors each weight must match before it
     * is allocated (NULL otherwise), its path, and the model's float dtype */
    const ag_safetensors *load_file;
    const char *load_path;
    ag_dtype load_dtype;
};

/* Sets the model's error (on its graph), replacing an earlier one. Returns
 * code. Builders given the NULL of an earlier failure do not call it, so the
 * first message survives a chain of NULLs. */
ag_status ag__model_fail(ag_model *m, ag_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Data parallelism (shards.c). A step on batch (x, y) of B rows cut into
 * `shards` micro-shards over d's ranks: train = 1 computes the gradients of
 * this rank's shards, sums every shard's in shard order and takes the
 * optimizer step (the same on every rank); train = 0 only runs forward.
 * `pre` is the status of getting the batch (its message on the model):
 * the ranks agree on it and on the step's status, so every rank fails
 * together, with the failing rank's message. *loss receives the batch's
 * mean loss and *out the batch's outputs (every shard's rows, in order). */
ag_status ag__shard_step(ag_model *m, ag_dist *d, int shards, int train, ag_status pre,
                         const ag_tensor *const *x, const ag_tensor *y, ag_node **vars, int n_vars,
                         double *loss, const ag_tensor **out);
/* Before fit's first step: the ranks agree on pre (a rank's failed checks)
 * and on the run's shape (what[0..n): batches, epochs, shards, weights),
 * then every rank takes rank 0's weights. */
ag_status ag__shard_begin(ag_model *m, ag_dist *d, ag_status pre, const int64_t *what, int n);
void ag__shard_release(ag_shard_buffers *b);

/* A new layer of class cls in m with its automatic name; NULL on failure. */
ag_layer *ag__layer_new(ag_model *m, const ag_layer_class *cls);
/* A weight "<layer>/<name>" of shape, trainable, on the layer. */
ag_node *ag__layer_weight(ag_layer *l, const char *name, int rank, const int64_t *shape);
/* Initialisers, from the layer's seed; stream = the weight's position. */
void ag__init_glorot(ag_layer *l, ag_node *w, int64_t fan_in, int64_t fan_out);
void ag__init_uniform(ag_layer *l, ag_node *w, double lo, double hi);
void ag__init_const(ag_node *w, double v);
/* Applies an activation (LINEAR returns x). */
ag_node *ag__activate(ag_graph *g, ag_node *x, ag_activation a);
/* The layer that made node n, and which call of it; 0 when n is no layer's
 * output (then *layer is NULL). out_index: 0 for the call's out, 1 + k for
 * its extra[k]. */
int ag__find_producer(const ag_model *m, const ag_node *n, ag_layer **layer, int *call,
                      int *out_index);
/* Records a call and runs the class's call; shared by ag_call* and loading.
 * kw NULL: no keyword arguments. *rec_out (may be NULL) receives the kept
 * record. */
ag_node *ag__layer_call(ag_layer *l, ag_node *const *in, int n, const ag_layer_kwargs *kw,
                        const ag_layer_call_rec **rec_out);
/* A call's output by [call, index] reference (see above); NULL when absent. */
ag_node *ag__call_output(const ag_layer_call_rec *r, int index);
/* Are any of the call's masks explicit (given as keyword arguments)? */
int ag__call_explicit_masks(const ag_layer_call_rec *r);
/* Makes a layer of class_name from a parsed config object (name and
 * trainable included). */
ag_layer *ag__layer_from_json(ag_model *m, const char *class_name, const ag_json *cfg);
/* Builds a model from a parsed config ({"class_name", "config"}). With a
 * file (path names it), every weight is checked against the file's tensor of
 * its name (present, same dtype and shape) before it is allocated, so a
 * config cannot make the loader allocate what the file does not hold. */
ag_model *ag__model_from_json(const ag_json *root, const ag_safetensors *file, const char *path,
                              ag_error *err);
/* fit's progress, as a checkpoint holds it (checkpoint.c). */
typedef struct ag__fit_state {
    int epoch;            /* epochs done */
    uint64_t rng_counter; /* fit's shuffle RNG */
    double best_val;      /* early stopping: the best val_loss, its epoch, the wait */
    int best_epoch, wait, have_best;
    ag_history *h;  /* filled for epochs [0, epoch) */
    ag_node **vars; /* the trainable weights, and best copies of them */
    ag_tensor *best;
    int n_vars;
} ag__fit_state;
/* Writes DIR/epoch-NNNNNN.safetensors (s->epoch) atomically: the weights,
 * the optimizer's state and s; keeps the newest two. */
ag_status ag__checkpoint_save(ag_model *m, const char *dir, const char *tag,
                              const ag__fit_state *s);
/* Restores the newest checkpoint of DIR that loads and matches (config,
 * tag, at most max_epoch epochs), printing to out (may be NULL) which, and
 * why others were skipped; s->epoch is 0 when there is none. */
ag_status ag__checkpoint_resume(ag_model *m, const char *dir, const char *tag, int max_epoch,
                                ag__fit_state *s, FILE *out);

/* The class named name, or NULL. */
const ag_layer_class *ag__layer_class_find(const char *class_name);
/* (layers/attention.c) An attention call's [query_mask, value_mask]: the call's explicit list
 * (kw.mask), or else in_mask[0] and in_mask[1]. 0 (message set) on a
 * malformed list. */
int ag__attention_masks(ag_layer *l, const ag_layer_call_rec *rec, ag_node **query_mask,
                        ag_node **value_mask);
/* A seed for dropout: the user's, or one drawn from the model and layer. */
uint64_t ag__layer_dropout_seed(const ag_layer *l);

/* Config helpers: read an optional member with a default; 0 on a wrong type
 * (the model's error names the layer class and field). */
int ag__cfg_int(ag_model *m, const ag_json *cfg, const char *cls, const char *key, int64_t def,
                int64_t *out);
/* A seed: absent or null -> 0; else an integer from 0 to 2^64-1, as the
 * configs write them. */
int ag__cfg_seed(ag_model *m, const ag_json *cfg, const char *cls, const char *key, uint64_t *out);
int ag__cfg_num(ag_model *m, const ag_json *cfg, const char *cls, const char *key, double def,
                double *out);
int ag__cfg_bool(ag_model *m, const ag_json *cfg, const char *cls, const char *key, int def,
                 int *out);
/* An activation or padding by name in cfg (default def); -1 on error. */
int ag__cfg_activation(ag_model *m, const ag_json *cfg, const char *cls, ag_activation def);

/* The layer classes. */
extern const ag_layer_class ag__input_layer_class, ag__embedding_class, ag__conv1d_class,
    ag__dense_class, ag__dropout_class, ag__activation_class, ag__gap1d_class, ag__gmp1d_class,
    ag__concatenate_class, ag__layer_norm_class, ag__attention_class, ag__additive_attention_class,
    ag__add_class, ag__subtract_class, ag__multiply_class, ag__mha_class,
    ag__position_embedding_class;

/* OR of two bool masks; either may be NULL (then the other). merge.c. */
ag_node *ag__mask_or(ag_graph *g, ag_node *a, ag_node *b);

/* Model internals shared by model.c, fit.c and save.c. */
char *ag__model_training_config(const ag_model *m);
ag_status ag__model_apply_training_config(ag_model *m, const char *json, ag_error *err);

#endif
