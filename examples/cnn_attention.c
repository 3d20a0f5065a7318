/* cnn_attention.c — the Keras documentation's CNN+Attention network, in C.
 *
 *   query_input = Input(shape=(None,), dtype='int32')
 *   value_input = Input(shape=(None,), dtype='int32')
 *   token_embedding = Embedding(max_tokens, dimension, mask_zero=True)
 *   cnn_layer = Conv1D(filters=100, kernel_size=4, padding='same')
 *   query_seq_encoding = cnn_layer(token_embedding(query_input))
 *   value_seq_encoding = cnn_layer(token_embedding(value_input))
 *   query_value_attention_seq = Attention()([query_seq_encoding, value_seq_encoding])
 *   query_encoding = GlobalAveragePooling1D()(query_seq_encoding)
 *   query_value_attention = GlobalAveragePooling1D()(query_value_attention_seq)
 *   input_layer = Concatenate()([query_encoding, query_value_attention])
 *   Dense(64, relu), Dense(1, sigmoid)
 *
 * usage: cnn_attention [--summary] [--additive] [--concat] [--epochs N]
 *                      [--examples N] [--seed S] [--save PATH]
 *
 * --summary prints the model summary (678,629 parameters with Attention).
 * Otherwise it trains on a generated task where attention helps: is the
 * value sequence a shuffled, noisy copy of the query's tokens, or unrelated
 * tokens? Sequences have different lengths, so batches come from a batch
 * source that pads each batch to its own longest sequence (id 0 = padding,
 * masked out by mask_zero).
 */
#include "attograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TOKENS = 10000, DIMENSION = 64, BATCH = 32 };

/* ---- the generated data set ---- */

typedef struct pairs {
    int64_t n;
    int32_t *tok; /* n × 2 sequences, each of up to max_len tokens */
    int *len;     /* n × 2 lengths */
    float *label; /* n */
    int max_len;
    /* one batch, padded to its longest sequences */
    ag_tensor *q, *v, *y;
} pairs;

/* Example i: a query of 6-12 tokens from the first `used` ids. Its value
 * is either the query copied after 0-3 random tokens, with 20% of its tokens
 * replaced (label 1), or 6-14 random tokens (label 0). Local context
 * survives the copy, so the shared Conv1D encodes matching spans alike and
 * attention can find them. */
static int32_t token(ag_rng *r, int used)
{
    return 1 + (int32_t)ag_rng_below(r, (uint64_t)used - 1);
}

static void make_pairs(pairs *p, int64_t n, int used, uint64_t seed)
{
    p->n = n;
    p->max_len = 16;
    p->tok = calloc((size_t)n * 2 * (size_t)p->max_len, sizeof *p->tok);
    p->len = calloc((size_t)n * 2, sizeof *p->len);
    p->label = calloc((size_t)n, sizeof *p->label);
    ag_rng r;
    ag_rng_init(&r, seed, 7);
    for (int64_t i = 0; i < n; i++) {
        int32_t *q = p->tok + i * 2 * p->max_len, *v = q + p->max_len;
        int lq = 6 + (int)ag_rng_below(&r, 7), lv = 0;
        for (int t = 0; t < lq; t++)
            q[t] = token(&r, used);
        int positive = ag_rng_below(&r, 2) == 1;
        if (positive) {
            int shift = (int)ag_rng_below(&r, 4);
            for (; lv < shift; lv++)
                v[lv] = token(&r, used);
            for (int t = 0; t < lq; t++, lv++)
                v[lv] = ag_rng_uniform(&r) < 0.2 ? token(&r, used) : q[t];
        } else {
            lv = 6 + (int)ag_rng_below(&r, 9);
            for (int t = 0; t < lv; t++)
                v[t] = token(&r, used);
        }
        p->len[2 * i] = lq;
        p->len[2 * i + 1] = lv;
        p->label[i] = (float)positive;
    }
}

/* Batch b: examples [b·BATCH, ...), each side padded with zeros to the
 * batch's longest sequence. */
static ag_status get_batch(void *user, int64_t b, const ag_tensor **inputs,
                           const ag_tensor **target, ag_error *err)
{
    pairs *p = user;
    int64_t start = b * BATCH, n = p->n - start < BATCH ? p->n - start : BATCH;
    int lq = 1, lv = 1;
    for (int64_t i = start; i < start + n; i++) {
        lq = p->len[2 * i] > lq ? p->len[2 * i] : lq;
        lv = p->len[2 * i + 1] > lv ? p->len[2 * i + 1] : lv;
    }
    ag_tensor_free(p->q);
    ag_tensor_free(p->v);
    ag_tensor_free(p->y);
    p->q = ag_tensor_new(AG_INT32, 2, (int64_t[]){n, lq}, err);
    p->v = ag_tensor_new(AG_INT32, 2, (int64_t[]){n, lv}, err);
    p->y = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n, 1}, err);
    if (!p->q || !p->v || !p->y) return err->code;
    for (int64_t i = 0; i < n; i++) {
        const int32_t *q = p->tok + (start + i) * 2 * p->max_len, *v = q + p->max_len;
        memcpy(AG_I32(p->q) + i * lq, q, (size_t)p->len[2 * (start + i)] * sizeof *q);
        memcpy(AG_I32(p->v) + i * lv, v, (size_t)p->len[2 * (start + i) + 1] * sizeof *v);
        AG_F32(p->y)[i] = p->label[start + i];
    }
    inputs[0] = p->q;
    inputs[1] = p->v;
    *target = p->y;
    return AG_OK;
}

static void free_pairs(pairs *p)
{
    free(p->tok);
    free(p->len);
    free(p->label);
    ag_tensor_free(p->q);
    ag_tensor_free(p->v);
    ag_tensor_free(p->y);
}

/* ---- the model, as the documentation writes it ---- */

static ag_model *build(int additive, int concat, uint64_t seed)
{
    ag_model *m = ag_model_new(AG_FLOAT32, seed);
    if (!m) return NULL;
    /* Variable-length int sequences. */
    ag_node *query_input = ag_model_input(m, "query", AG_INT32, 1, (int64_t[]){-1});
    ag_node *value_input = ag_model_input(m, "value", AG_INT32, 1, (int64_t[]){-1});
    /* Embedding lookup. */
    ag_layer *token_embedding = ag_layer_embedding(m, MAX_TOKENS, DIMENSION, 1);
    ag_node *query_embeddings = ag_call(token_embedding, query_input);
    ag_node *value_embeddings = ag_call(token_embedding, value_input);
    /* CNN layer, shared by query and value. */
    ag_layer *cnn_layer = ag_layer_conv1d(m, 100, 4, 1, AG_PAD_SAME, AG_ACT_LINEAR, 1);
    ag_node *query_seq_encoding = ag_call(cnn_layer, query_embeddings);
    ag_node *value_seq_encoding = ag_call(cnn_layer, value_embeddings);
    /* Query-value attention of shape [batch_size, Tq, filters]. */
    ag_layer *attention = additive ? ag_layer_additive_attention(m, 1, 0.0, 0)
                                   : ag_layer_attention(m, 0, concat ? "concat" : "dot", 0.0, 0);
    ag_node *query_value_attention_seq =
        ag_call_n(attention, (ag_node *[]){query_seq_encoding, value_seq_encoding}, 2);
    /* Reduce over the sequence axis: [batch_size, filters]. */
    ag_node *query_encoding = ag_call(ag_layer_global_average_pooling1d(m), query_seq_encoding);
    ag_node *query_value_attention =
        ag_call(ag_layer_global_average_pooling1d(m), query_value_attention_seq);
    /* Concatenate query and document encodings to produce a DNN input layer. */
    ag_node *input_layer = ag_call_n(ag_layer_concatenate(m, -1),
                                     (ag_node *[]){query_encoding, query_value_attention}, 2);
    /* DNN layers. */
    ag_node *hidden = ag_call(ag_layer_dense(m, 64, AG_ACT_RELU, 1), input_layer);
    ag_node *output = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), hidden);
    ag_model_build(m, (ag_node *[]){query_input, value_input}, 2, &output, 1);
    return m;
}

int main(int argc, char **argv)
{
    int summary = 0, additive = 0, concat = 0, epochs = 5;
    int64_t examples = 10000;
    uint64_t seed = 1;
    const char *save = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--summary"))
            summary = 1;
        else if (!strcmp(argv[i], "--additive"))
            additive = 1;
        else if (!strcmp(argv[i], "--concat"))
            concat = 1;
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--examples") && i + 1 < argc)
            examples = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--save") && i + 1 < argc)
            save = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--summary] [--additive] [--concat] [--epochs N] [--examples N] "
                    "[--seed S] [--save PATH]\n",
                    argv[0]);
            return 2;
        }
    }
    if (epochs < 1 || examples < 2 * BATCH) {
        fprintf(stderr, "cnn_attention: --epochs must be >= 1 and --examples >= %d\n", 2 * BATCH);
        return 2;
    }
    ag_model *m = build(additive, concat, seed);
    if (!m || ag_model_status(m)) {
        fprintf(stderr, "cnn_attention: %s\n", m ? ag_model_error(m) : "out of memory");
        ag_model_free(m);
        return 1;
    }
    if (summary) {
        ag_model_summary(m, stdout);
        ag_model_free(m);
        return 0;
    }
    int status = 1;
    pairs train = {0}, val = {0};
    make_pairs(&train, examples, 500, seed);
    make_pairs(&val, examples / 4, 500, seed + 1000);
    ag_batch_source train_src = {(train.n + BATCH - 1) / BATCH, get_batch, &train};
    ag_batch_source val_src = {(val.n + BATCH - 1) / BATCH, get_batch, &val};
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    ag_fit_options o = ag_fit_defaults();
    o.epochs = epochs;
    o.seed = seed;
    o.val_source = &val_src;
    ag_history h = {0};
    if (ag_model_compile(m, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0,
                         AG_METRIC_ACCURACY | AG_METRIC_AUC) ||
        ag_model_fit_source(m, &train_src, &o, &h)) {
        fprintf(stderr, "cnn_attention: %s\n", ag_model_error(m));
        goto out;
    }
    printf("loss by epoch:");
    for (int e = 0; e < h.epochs; e++)
        printf(" %.4f", h.loss[e]);
    printf("\nval_loss by epoch:");
    for (int e = 0; e < h.epochs; e++)
        printf(" %.4f", h.val_loss[e]);
    printf("\n");
    if (save) {
        if (ag_model_save(m, save, NULL, NULL, 0)) {
            fprintf(stderr, "cnn_attention: %s\n", ag_model_error(m));
            goto out;
        }
        printf("saved to %s\n", save);
    }
    status = 0;
out:
    ag_history_release(&h);
    free_pairs(&train);
    free_pairs(&val);
    ag_model_free(m);
    return status;
}
