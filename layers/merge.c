/* merge.c — Keras's elementwise merge layers: Add, Subtract, Multiply.
 *
 *   Add:      z = x_1 + x_2 + ... + x_n          (n >= 1)
 *   Subtract: z = x_1 - x_2                      (exactly 2)
 *   Multiply: z = x_1 ⊙ x_2 ⊙ ... ⊙ x_n          (n >= 1)
 *
 * Shapes as Keras 3's Merge: inputs of lower rank are first expanded at
 * axis 1 until every input has the highest rank, (B,D) with (B,T,D) becomes
 * (B,1,D); then each dim must be equal, 1 (broadcast) or unknown.
 *
 * Masks as Keras 3 (keras/src/layers/merging/base_merge.py, multiply.py):
 * when every input has a mask, the output's mask is their OR, else it has
 * none. Add and Subtract combine the values as they are. Multiply reads a
 * masked step of an input as 1 (so it does not zero the others) and, when
 * every input has a mask, sets the steps outside the OR to 0.
 *
 * No weights, so no parameters; the config is the base one (name,
 * trainable, dtype). The gradient is the ops' (binary.c, where.c).
 */
#include "layer.h"

/* OR of two bool masks (either may be NULL: then the other). */
ag_node *ag__mask_or(ag_graph *g, ag_node *a, ag_node *b)
{
    if (!a || !b) return a ? a : b;
    return ag_not_equal(g, ag_add(g, ag_cast_float(g, a), ag_cast_float(g, b)), 0.0);
}

/* The OR of every input's mask, or NULL when some input has none. */
static ag_node *masks_or(ag_graph *g, ag_node *const *masks, int n)
{
    ag_node *out = NULL;
    for (int i = 0; i < n; i++) {
        ag_node *m = masks[i];
        if (!m) return NULL;
        out = i == 0 ? m : ag__mask_or(g, out, m);
    }
    return out;
}

/* Checks the inputs (float, dims compatible after Keras's expansion) and
 * writes them, expanded to one rank, to x. */
static ag_status merge_inputs(ag_layer *l, ag_node *const *in, int n, ag_node **x)
{
    ag_graph *g = l->m->g;
    int rank = 0;
    for (int i = 0; i < n; i++) {
        const ag_shape *s = ag_node_shape(in[i]);
        char buf[96];
        if (!ag_dtype_is_float(s->dtype) || s->rank < 1)
            return ag__model_fail(l->m, AG_ERR_SHAPE,
                                  "%s '%s': expected float inputs with a batch axis, received %s "
                                  "%s as input %d",
                                  l->cls->class_name, l->name, ag_dtype_name(s->dtype),
                                  ag__sstr(s, buf, sizeof buf), i);
        if (s->rank > rank) rank = s->rank;
    }
    for (int i = 0; i < n; i++) {
        x[i] = in[i];
        while (x[i] && ag_node_shape(x[i])->rank < rank)
            x[i] = ag_expand_dims(g, x[i], 1);
        if (!x[i]) return ag_model_status(l->m);
    }
    for (int d = 1; d < rank; d++) {
        int64_t want = -1;
        for (int i = 0; i < n; i++) {
            int64_t v = ag_node_shape(x[i])->dim[d];
            if (v < 0 || v == 1) continue;
            if (want >= 0 && v != want) {
                char s0[96], s1[96];
                int j = 0;
                while (ag_node_shape(x[j])->dim[d] != want)
                    j++;
                return ag__model_fail(l->m, AG_ERR_SHAPE,
                                      "%s '%s': Inputs have incompatible shapes. Received shapes "
                                      "%s and %s",
                                      l->cls->class_name, l->name,
                                      ag__sstr(ag_node_shape(in[j]), s0, sizeof s0),
                                      ag__sstr(ag_node_shape(in[i]), s1, sizeof s1));
            }
            want = v;
        }
    }
    return AG_OK;
}

static ag_node *add_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    ag_graph *g = l->m->g;
    ag_node *x[AG_MAX_INPUTS];
    if (merge_inputs(l, in, n, x)) return NULL;
    /* n == 1 still makes a node of its own, so that the layer has an output */
    ag_node *z = n == 1 ? ag_mul_scalar(g, x[0], 1.0) : x[0];
    for (int i = 1; i < n; i++)
        z = ag_add(g, z, x[i]);
    if (z) rec->out_mask = masks_or(g, rec->in_mask, n);
    return z;
}

static ag_node *subtract_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    ag_graph *g = l->m->g;
    ag_node *x[2];
    if (merge_inputs(l, in, n, x)) return NULL;
    ag_node *z = ag_sub(g, x[0], x[1]);
    if (z) rec->out_mask = masks_or(g, rec->in_mask, n);
    return z;
}

static ag_node *multiply_call(ag_layer *l, ag_node *const *in, int n, ag_layer_call_rec *rec)
{
    ag_graph *g = l->m->g;
    ag_node *x[AG_MAX_INPUTS];
    if (merge_inputs(l, in, n, x)) return NULL;
    ag_node *z = NULL;
    for (int i = 0; i < n; i++) {
        ag_node *m = rec->in_mask[i], *xi = x[i];
        /* a masked step reads as 1: z = mask ? x : 1 */
        if (m) xi = ag_masked_fill(g, xi, ag_expand_dims(g, m, -1), 1.0);
        z = i == 0 ? (n == 1 && !m ? ag_mul_scalar(g, xi, 1.0) : xi) : ag_mul(g, z, xi);
    }
    ag_node *mask = masks_or(g, rec->in_mask, n);
    /* outside the OR of the masks the output is 0 */
    if (mask) z = ag_masked_fill(g, z, ag_expand_dims(g, mask, -1), 0.0);
    if (z) rec->out_mask = mask;
    return z;
}

static ag_layer *add_from_config(ag_model *m, const ag_json *cfg)
{
    (void)cfg;
    return ag_layer_add(m);
}
static ag_layer *subtract_from_config(ag_model *m, const ag_json *cfg)
{
    (void)cfg;
    return ag_layer_subtract(m);
}
static ag_layer *multiply_from_config(ag_model *m, const ag_json *cfg)
{
    (void)cfg;
    return ag_layer_multiply(m);
}

const ag_layer_class ag__add_class = {.class_name = "Add",
                                      .base_name = "add",
                                      .min_in = 1,
                                      .max_in = AG_MAX_INPUTS,
                                      .call = add_call,
                                      .from_config = add_from_config};

const ag_layer_class ag__subtract_class = {.class_name = "Subtract",
                                           .base_name = "subtract",
                                           .min_in = 2,
                                           .max_in = 2,
                                           .call = subtract_call,
                                           .from_config = subtract_from_config};

const ag_layer_class ag__multiply_class = {.class_name = "Multiply",
                                           .base_name = "multiply",
                                           .min_in = 1,
                                           .max_in = AG_MAX_INPUTS,
                                           .call = multiply_call,
                                           .from_config = multiply_from_config};

ag_layer *ag_layer_add(ag_model *m) { return ag__layer_new(m, &ag__add_class); }
ag_layer *ag_layer_subtract(ag_model *m) { return ag__layer_new(m, &ag__subtract_class); }
ag_layer *ag_layer_multiply(ag_model *m) { return ag__layer_new(m, &ag__multiply_class); }
