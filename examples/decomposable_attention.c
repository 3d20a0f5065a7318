/* decomposable_attention.c — the Decomposable Attention model (Parikh et
 * al. 2016) with ESIM's comparison features, in C with Keras layers:
 *
 *   a_input = Input(shape=(None,), dtype='int32')
 *   b_input = Input(shape=(None,), dtype='int32')
 *   embedding = Embedding(max_tokens, dim, mask_zero=True)
 *   a, b = embedding(a_input), embedding(b_input)
 *   F = Sequential([Dropout(rate), Dense(units, 'relu')])      # attend
 *   attention = Attention()
 *   beta = attention([F(a), b, F(b)])       # a's tokens over b: (B,Ta,dim)
 *   alpha = attention([F(b), a, F(a)])      # b's tokens over a: (B,Tb,dim)
 *   G = Sequential([Dropout(rate), Dense(units, 'relu')])      # compare
 *   v_a = G(Concatenate()([a, beta, Subtract()([a, beta]), Multiply()([a, beta])]))
 *   v_b = G(Concatenate()([b, alpha, Subtract()([b, alpha]), Multiply()([b, alpha])]))
 *   h = Concatenate()([GlobalAveragePooling1D()(v_a),           # aggregate
 *                      GlobalAveragePooling1D()(v_b)])
 *   output = Dense(1, 'sigmoid')(Dense(units, 'relu')(Dropout(rate)(h)))
 *
 * The masks of mask_zero go through every step: padded steps get no
 * attention, the merge layers and Concatenate keep each text's mask, and
 * the pooling averages over real tokens only. This is the network behind
 * `attograd train --model decomposable` (which builds it with
 * ag_decomposable_model); docs/decomposable.md explains it.
 *
 * usage: decomposable_attention [--summary] [--config] [--gradcheck]
 *            [--max-tokens N] [--dim N] [--units N] [--dropout X]
 *            [--epochs N] [--examples N] [--seed S]
 *
 * --summary prints the model summary; --config its Keras config (JSON);
 * --gradcheck builds it in float64 and checks every weight's gradient,
 * through attention, masks and merge layers, against finite differences.
 * Otherwise it trains on a generated translation task: text b is text a's
 * words translated into a second vocabulary (word w of a is word w + 50
 * of b) in a shuffled order with a fifth replaced (label 1), or the
 * translation of another text (label 0). Only attention can pair the words
 * up, since no id is shared and the order differs.
 */
#include "attograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sizes {
    int64_t max_tokens, dim, units;
    double dropout;
} sizes;

/* Dropout (when rate > 0), then Dense(units, relu). */
static void ffn(ag_model *m, const sizes *s, ag_layer **drop, ag_layer **dense)
{
    *drop = s->dropout > 0 ? ag_layer_dropout(m, s->dropout, 0) : NULL;
    *dense = ag_layer_dense(m, s->units, AG_ACT_RELU, 1);
}

static ag_node *ffn_call(ag_layer *drop, ag_layer *dense, ag_node *x)
{
    return ag_call(dense, drop ? ag_call(drop, x) : x);
}

/* G([x; y; x - y; x * y]) */
static ag_node *compare(ag_model *m, ag_layer *drop, ag_layer *dense, ag_node *x, ag_node *y)
{
    ag_node *d = ag_call_n(ag_layer_subtract(m), (ag_node *[]){x, y}, 2);
    ag_node *p = ag_call_n(ag_layer_multiply(m), (ag_node *[]){x, y}, 2);
    ag_node *c = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){x, y, d, p}, 4);
    return ffn_call(drop, dense, c);
}

static ag_model *build(const sizes *s, ag_dtype dtype, uint64_t seed)
{
    ag_model *m = ag_model_new(dtype, seed);
    ag_node *ta = ag_model_input(m, "text_a", AG_INT32, 1, (int64_t[]){-1});
    ag_node *tb = ag_model_input(m, "text_b", AG_INT32, 1, (int64_t[]){-1});
    ag_layer *emb = ag_layer_embedding(m, s->max_tokens, s->dim, 1);
    ag_node *a = ag_call(emb, ta), *b = ag_call(emb, tb);

    /* attend: e_ij = F(a_i) . F(b_j); beta_i = sum_j softmax_j(e_ij) b_j */
    ag_layer *fd, *f;
    ffn(m, s, &fd, &f);
    ag_node *fa = ffn_call(fd, f, a), *fb = ffn_call(fd, f, b);
    ag_layer *att = ag_layer_attention(m, 0, "dot", 0.0, 0);
    ag_layer_set_name(att, "attention");
    ag_node *beta = ag_call_n(att, (ag_node *[]){fa, b, fb}, 3);
    ag_node *alpha = ag_call_n(att, (ag_node *[]){fb, a, fa}, 3);

    /* compare */
    ag_layer *gd, *g;
    ffn(m, s, &gd, &g);
    ag_node *va = compare(m, gd, g, a, beta), *vb = compare(m, gd, g, b, alpha);

    /* aggregate */
    ag_node *pa = ag_call(ag_layer_global_average_pooling1d(m), va);
    ag_node *pb = ag_call(ag_layer_global_average_pooling1d(m), vb);
    ag_node *h = ag_call_n(ag_layer_concatenate(m, -1), (ag_node *[]){pa, pb}, 2);
    if (s->dropout > 0) h = ag_call(ag_layer_dropout(m, s->dropout, 0), h);
    h = ag_call(ag_layer_dense(m, s->units, AG_ACT_RELU, 1), h);
    ag_node *y = ag_call(ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1), h);
    ag_model_build(m, (ag_node *[]){ta, tb}, 2, &y, 1);
    return m;
}

/* ---- the generated translation task ---- */

enum { WORDS = 50, MAX_LEN = 12 };

/* n pairs as (n, MAX_LEN) id tensors padded with 0, and labels (n, 1). */
static void make_task(int64_t n, uint64_t seed, ag_tensor **a, ag_tensor **b, ag_tensor **y)
{
    *a = ag_tensor_new(AG_INT32, 2, (int64_t[]){n, MAX_LEN}, NULL);
    *b = ag_tensor_new(AG_INT32, 2, (int64_t[]){n, MAX_LEN}, NULL);
    *y = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n, 1}, NULL);
    ag_rng r;
    ag_rng_init(&r, seed, 3);
    int32_t other[MAX_LEN];
    for (int64_t i = 0; i < n; i++) {
        int32_t *pa = AG_I32(*a) + i * MAX_LEN, *pb = AG_I32(*b) + i * MAX_LEN;
        int la = 4 + (int)ag_rng_below(&r, MAX_LEN - 3), lb = la;
        for (int t = 0; t < la; t++)
            pa[t] = 1 + (int32_t)ag_rng_below(&r, WORDS);
        int positive = ag_rng_below(&r, 2) == 1;
        const int32_t *src = pa;
        if (!positive) { /* another text's translation */
            lb = 4 + (int)ag_rng_below(&r, MAX_LEN - 3);
            for (int t = 0; t < lb; t++)
                other[t] = 1 + (int32_t)ag_rng_below(&r, WORDS);
            src = other;
        }
        for (int t = 0; t < lb; t++) /* translated, a fifth replaced */
            pb[t] = ag_rng_uniform(&r) < 0.2 ? WORDS + 1 + (int32_t)ag_rng_below(&r, WORDS)
                                             : src[t] + WORDS;
        for (int t = lb - 1; t > 0; t--) { /* in another order */
            int k = (int)ag_rng_below(&r, (uint64_t)t + 1);
            int32_t tmp = pb[t];
            pb[t] = pb[k], pb[k] = tmp;
        }
        AG_F32(*y)[i] = (float)positive;
    }
}

int main(int argc, char **argv)
{
    sizes s = {2 * WORDS + 1, 32, 32, 0.1};
    int summary = 0, config = 0, gradcheck = 0, epochs = 8;
    long examples = 4000;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--summary"))
            summary = 1;
        else if (!strcmp(a, "--config"))
            config = 1;
        else if (!strcmp(a, "--gradcheck"))
            gradcheck = 1;
        else if (v && !strcmp(a, "--max-tokens"))
            s.max_tokens = atoll(argv[++i]);
        else if (v && !strcmp(a, "--dim"))
            s.dim = atoll(argv[++i]);
        else if (v && !strcmp(a, "--units"))
            s.units = atoll(argv[++i]);
        else if (v && !strcmp(a, "--dropout"))
            s.dropout = atof(argv[++i]);
        else if (v && !strcmp(a, "--epochs"))
            epochs = atoi(argv[++i]);
        else if (v && !strcmp(a, "--examples"))
            examples = atol(argv[++i]);
        else if (v && !strcmp(a, "--seed"))
            seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: decomposable_attention [--summary] [--config] [--gradcheck]\n"
                            "           [--max-tokens N] [--dim N] [--units N] [--dropout X]\n"
                            "           [--epochs N] [--examples N] [--seed S]\n");
            return 2;
        }
    }
    if (gradcheck) { /* float64, small, no dropout: every weight against finite differences */
        sizes t = {12, 4, 5, 0.0};
        ag_model *m = build(&t, AG_FLOAT64, seed);
        ag_tensor *a = ag_tensor_from(AG_INT32, 2, (int64_t[]){2, 4},
                                      (int32_t[]){3, 5, 7, 0, 2, 4, 6, 8}, NULL);
        ag_tensor *b = ag_tensor_from(AG_INT32, 2, (int64_t[]){2, 5},
                                      (int32_t[]){9, 3, 1, 0, 0, 11, 2, 4, 6, 10}, NULL);
        /* biases away from 0, so that no ReLU sits on its kink (where the
         * finite difference straddles two slopes) */
        ag_node *w[16];
        int nw = ag_model_weights(m, -1, w, 16);
        for (int i = 0; i < nw && i < 16; i++) {
            const char *name = ag_node_name(w[i]);
            if (strstr(name, "/bias")) ag_fill_uniform(ag_value(w[i]), 0.1, 0.3, seed, (uint64_t)i);
        }
        ag_gradcheck_report rep;
        int ok = m && !ag_model_run(m, (const ag_tensor *[]){a, b}, NULL, 0) &&
                 !ag_gradcheck(ag_model_graph(m), ag_model_output_node(m, 0), 7, &rep);
        if (!ok) {
            fprintf(stderr, "decomposable_attention: %s\n", ag_model_error(m));
            return 1;
        }
        int n = ag_model_weights(m, -1, NULL, 0);
        if (getenv("AG_GRADCHECK_VERBOSE")) ag_gradcheck_print(stdout, &rep, "decomposable");
        printf("gradient check (float64): %d of %d weights, worst relative error %.2g: %s\n", rep.n,
               n, rep.max_rel, rep.max_rel < 1e-6 && rep.n == n ? "passed" : "FAILED");
        ag_tensor_free(a);
        ag_tensor_free(b);
        ag_model_free(m);
        return rep.max_rel < 1e-6 && rep.n == n ? 0 : 1;
    }

    ag_model *m = build(&s, AG_FLOAT32, seed);
    if (ag_model_status(m)) {
        fprintf(stderr, "decomposable_attention: %s\n", ag_model_error(m));
        ag_model_free(m);
        return 1;
    }
    if (summary || config) {
        if (summary) ag_model_summary(m, stdout);
        char *c = config ? ag_model_get_config(m) : NULL;
        if (c) printf("%s\n", c);
        free(c);
        ag_model_free(m);
        return 0;
    }
    if (s.max_tokens < 2 * WORDS + 1) {
        fprintf(stderr, "decomposable_attention: the task needs --max-tokens >= %d\n",
                2 * WORDS + 1);
        ag_model_free(m);
        return 2;
    }
    ag_tensor *a, *b, *y, *va, *vb, *vy;
    make_task(examples, seed, &a, &b, &y);
    make_task(1000, seed + 1, &va, &vb, &vy);
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = 0.005;
    ag_model_compile(m, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0, AG_METRIC_ACCURACY);
    ag_fit_options o = ag_fit_defaults();
    o.epochs = epochs;
    o.verbose = 2;
    o.val_x = (const ag_tensor *[]){va, vb};
    o.val_y = vy;
    ag_history h = {0};
    int rc = 0;
    if (ag_model_fit(m, (const ag_tensor *[]){a, b}, y, &o, &h)) {
        fprintf(stderr, "decomposable_attention: %s\n", ag_model_error(m));
        rc = 1;
    } else {
        printf("val_accuracy by epoch:");
        for (int e = 0; e < h.epochs; e++)
            printf(" %.3f", h.val_metric[0][e]);
        printf("\n");
    }
    ag_history_release(&h);
    ag_tensor_free(a), ag_tensor_free(b), ag_tensor_free(y);
    ag_tensor_free(va), ag_tensor_free(vb), ag_tensor_free(vy);
    ag_model_free(m);
    return rc;
}
