/* transformer_similarity.c — a Keras-style Transformer encoder for text
 * pairs, in C with Keras layers:
 *
 *   a_input = Input(shape=(None,), dtype='int32')
 *   b_input = Input(shape=(None,), dtype='int32')
 *   embedding = Embedding(max_tokens, dim, mask_zero=True)
 *   positions = keras_hub.layers.PositionEmbedding(max_len)
 *   def embed(ids):
 *       x = embedding(ids)
 *       return Add()([x, positions(x)])
 *   # the encoder block, shared by both texts
 *   mha = MultiHeadAttention(num_heads=heads, key_dim=dim // heads)
 *   norm1, norm2 = LayerNormalization(epsilon=1e-6), LayerNormalization(epsilon=1e-6)
 *   ff1, ff2 = Dense(ff_dim, activation='relu'), Dense(dim)
 *   def encode(x):
 *       x = norm1(Add()([x, mha(x, x)]))       # self-attention over real tokens
 *       return norm2(Add()([x, ff2(ff1(x))]))
 *   h_a = GlobalAveragePooling1D()(encode(embed(a_input)))
 *   h_b = GlobalAveragePooling1D()(encode(embed(b_input)))
 *   h = Concatenate()([h_a, h_b, Subtract()([h_a, h_b]), Multiply()([h_a, h_b])])
 *   output = Dense(1, 'sigmoid')(Dense(units, 'relu')(h))
 *
 * `attograd train --model transformer` trains the same encoder (with
 * dropout) on the Bible pairs; attograd_app.h's ag_transformer_model builds it.
 *
 * usage: transformer_similarity [--summary] [--gradcheck] [--epochs N]
 *            [--examples N] [--seed S]
 *
 * --summary prints the model summary; --gradcheck builds it in float64 and
 * checks every weight's gradient (attention, position embeddings, layer
 * norms, merge layers, masks) against finite differences. Otherwise it
 * trains on a generated task that needs word order: text b is text a
 * (label 1), or text a with two of its words swapped (label 0) — the same
 * bag of words, so only the position embeddings and attention can tell.
 * Exits 1 unless the validation accuracy reaches 0.75.
 */
#include "attograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WORDS = 50, MAX_LEN = 10, BATCH = 32 };

typedef struct sizes {
    int64_t dim, heads, ff_dim, units;
} sizes;

static ag_model *build(const sizes *s, ag_dtype dtype, uint64_t seed)
{
    ag_model *m = ag_model_new(dtype, seed);
    ag_node *in[2] = {ag_model_input(m, "text_a", AG_INT32, 1, (int64_t[]){-1}),
                      ag_model_input(m, "text_b", AG_INT32, 1, (int64_t[]){-1})};
    ag_layer *embedding = ag_layer_embedding(m, WORDS + 1, s->dim, 1);
    ag_layer *positions = ag_layer_position_embedding(m, MAX_LEN);
    ag_layer *add_pos = ag_layer_add(m);
    ag_layer *mha = ag_layer_multi_head_attention(
        m, &(ag_mha_config){.num_heads = s->heads, .key_dim = s->dim / s->heads, .use_bias = 1});
    ag_layer *add1 = ag_layer_add(m), *add2 = ag_layer_add(m);
    ag_layer *norm1 = ag_layer_layer_normalization(m, 1e-6);
    ag_layer *norm2 = ag_layer_layer_normalization(m, 1e-6);
    ag_layer *ff1 = ag_layer_dense(m, s->ff_dim, AG_ACT_RELU, 1);
    ag_layer *ff2 = ag_layer_dense(m, s->dim, AG_ACT_LINEAR, 1);
    ag_layer *pool = ag_layer_global_average_pooling1d(m);
    ag_node *h[2];
    for (int t = 0; t < 2; t++) {
        ag_node *x = ag_call(embedding, in[t]);
        x = ag_call_n(add_pos, (ag_node *[]){x, ag_call(positions, x)}, 2);
        ag_node *a = ag_call_n(mha, (ag_node *[]){x, x}, 2);
        x = ag_call(norm1, ag_call_n(add1, (ag_node *[]){x, a}, 2));
        ag_node *f = ag_call(ff2, ag_call(ff1, x));
        x = ag_call(norm2, ag_call_n(add2, (ag_node *[]){x, f}, 2));
        h[t] = ag_call(pool, x);
    }
    ag_node *joined = ag_call_n(ag_layer_concatenate(m, -1),
                                (ag_node *[]){h[0], h[1], ag_call_n(ag_layer_subtract(m), h, 2),
                                              ag_call_n(ag_layer_multiply(m), h, 2)},
                                4);
    ag_node *hid = ag_call(ag_layer_dense(m, s->units, AG_ACT_RELU, 1), joined);
    ag_node *out = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), hid);
    ag_model_build(m, in, 2, &out, 1);
    return m;
}

/* n pairs as (n, MAX_LEN) id tensors padded with 0, and labels (n, 1). */
static void make_task(int64_t n, uint64_t seed, ag_tensor **a, ag_tensor **b, ag_tensor **y)
{
    *a = ag_tensor_new(AG_INT32, 2, (int64_t[]){n, MAX_LEN}, NULL);
    *b = ag_tensor_new(AG_INT32, 2, (int64_t[]){n, MAX_LEN}, NULL);
    *y = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n, 1}, NULL);
    ag_rng r;
    ag_rng_init(&r, seed, 5);
    for (int64_t i = 0; i < n; i++) {
        int32_t *pa = AG_I32(*a) + i * MAX_LEN, *pb = AG_I32(*b) + i * MAX_LEN;
        int len = 4 + (int)ag_rng_below(&r, MAX_LEN - 3);
        for (int t = 0; t < len; t++)
            pa[t] = pb[t] = 1 + (int32_t)ag_rng_below(&r, WORDS);
        int positive = ag_rng_below(&r, 2) == 1;
        if (!positive) { /* swap two words that differ */
            int i1 = (int)ag_rng_below(&r, (uint64_t)len), i2 = (i1 + 1) % len;
            while (pb[i2] == pb[i1])
                pb[i1] = 1 + (int32_t)ag_rng_below(&r, WORDS);
            pa[i1] = pb[i1];
            int32_t tmp = pb[i1];
            pb[i1] = pb[i2], pb[i2] = tmp;
        }
        AG_F32(*y)[i] = (float)positive;
    }
}

static int gradcheck(uint64_t seed)
{
    sizes t = {4, 2, 5, 3};
    ag_model *m = build(&t, AG_FLOAT64, seed);
    ag_tensor *a =
        ag_tensor_from(AG_INT32, 2, (int64_t[]){2, 4}, (int32_t[]){3, 5, 7, 0, 2, 4, 6, 8}, NULL);
    ag_tensor *b = ag_tensor_from(AG_INT32, 2, (int64_t[]){2, 5},
                                  (int32_t[]){9, 3, 1, 0, 0, 11, 2, 4, 6, 10}, NULL);
    /* biases away from 0, so that no ReLU sits on its kink */
    ag_node *w[64];
    int nw = ag_model_weights(m, -1, w, 64);
    for (int i = 0; i < nw && i < 64; i++)
        if (strstr(ag_node_name(w[i]), "dense") && strstr(ag_node_name(w[i]), "/bias"))
            ag_fill_uniform(ag_value(w[i]), 0.1, 0.3, seed, (uint64_t)i);
    ag_gradcheck_report rep;
    int ok = m && !ag_model_run(m, (const ag_tensor *[]){a, b}, NULL, 0) &&
             !ag_gradcheck(ag_model_graph(m), ag_model_output_node(m, 0), 7, &rep);
    if (!ok) {
        fprintf(stderr, "transformer_similarity: %s\n", ag_model_error(m));
        return 1;
    }
    if (getenv("AG_GRADCHECK_VERBOSE")) ag_gradcheck_print(stdout, &rep, "transformer");
    int passed = rep.max_rel < 1e-6 && rep.n == nw;
    printf("gradient check (float64): %d of %d weights, worst relative error %.2g: %s\n", rep.n, nw,
           rep.max_rel, passed ? "passed" : "FAILED");
    ag_tensor_free(a);
    ag_tensor_free(b);
    ag_model_free(m);
    return !passed;
}

int main(int argc, char **argv)
{
    sizes s = {32, 4, 64, 32};
    int summary = 0, epochs = 6;
    long examples = 3000;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--summary"))
            summary = 1;
        else if (!strcmp(a, "--gradcheck"))
            return gradcheck(seed);
        else if (v && !strcmp(a, "--epochs"))
            epochs = atoi(argv[++i]);
        else if (v && !strcmp(a, "--examples"))
            examples = atol(argv[++i]);
        else if (v && !strcmp(a, "--seed"))
            seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: transformer_similarity [--summary] [--gradcheck] "
                            "[--epochs N] [--examples N] [--seed S]\n");
            return 2;
        }
    }
    if (epochs < 1 || examples < 100) {
        fprintf(stderr, "transformer_similarity: --epochs must be >= 1 and --examples >= 100\n");
        return 2;
    }
    ag_model *m = build(&s, AG_FLOAT32, seed);
    if (ag_model_status(m)) {
        fprintf(stderr, "transformer_similarity: %s\n", ag_model_error(m));
        ag_model_free(m);
        return 1;
    }
    if (summary) {
        ag_model_summary(m, stdout);
        ag_model_free(m);
        return 0;
    }
    ag_tensor *a, *b, *y, *va, *vb, *vy;
    make_task(examples, seed, &a, &b, &y);
    make_task(examples / 4, seed + 1, &va, &vb, &vy);
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = 0.003;
    ag_fit_options o = ag_fit_defaults();
    o.batch_size = BATCH;
    o.epochs = epochs;
    o.verbose = 2;
    o.val_x = (const ag_tensor *[]){va, vb};
    o.val_y = vy;
    double loss = 0, metric[2] = {0, 0};
    int rc = 1;
    if (ag_model_compile(m, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0,
                         AG_METRIC_ACCURACY | AG_METRIC_AUC) ||
        ag_model_fit(m, (const ag_tensor *[]){a, b}, y, &o, NULL) ||
        ag_model_evaluate(m, (const ag_tensor *[]){va, vb}, vy, BATCH, &loss, metric)) {
        fprintf(stderr, "transformer_similarity: %s\n", ag_model_error(m));
    } else {
        printf("validation: accuracy %.4f - auc %.4f - loss %.4f (chance 0.5; the same words "
               "in another order are the negatives)\n",
               metric[0], metric[1], loss);
        rc = metric[0] >= 0.75 ? 0 : 1;
        if (rc) fprintf(stderr, "transformer_similarity: it did not learn the task\n");
    }
    ag_tensor_free(a), ag_tensor_free(b), ag_tensor_free(y);
    ag_tensor_free(va), ag_tensor_free(vb), ag_tensor_free(vy);
    ag_model_free(m);
    return rc;
}
