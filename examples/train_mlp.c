/* train_mlp.c — a two-layer perceptron learns two interleaved spirals.
 *
 * The whole of a training program in plain attograd ops: generate the data,
 * build the graph once (its batch dimension unknown, -1), then for each
 * batch feed, run forward, run backward and let Adam update the weights.
 *
 *   x (B,2) -> tanh(x·W1 + b1) (B,H) -> tanh(·W2 + b2) (B,H)
 *           -> sigmoid(·W3 + b3) (B,1) = p;   loss = binary_crossentropy(p, y)
 *
 * Everything random (data, initial weights, shuffling) comes from --seed,
 * so a run is reproducible to the bit, whatever the number of threads.
 *
 *   train_mlp [--epochs N] [--batch B] [--hidden H] [--lr X] [--seed S]
 */
#include "attograd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

typedef struct options {
    int epochs, batch, hidden;
    double lr;
    uint64_t seed;
} options;

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.epochs = 100, .batch = 32, .hidden = 32, .lr = 0.01, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (!v) {
            fprintf(stderr, "train_mlp: %s needs a value\n", a);
            return -1;
        }
        if (!strcmp(a, "--epochs"))
            o->epochs = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--batch"))
            o->batch = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--hidden"))
            o->hidden = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--lr"))
            o->lr = strtod(v, &end);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, &end, 10);
        else {
            fprintf(stderr, "train_mlp: unknown option %s\n", a);
            return -1;
        }
        if (!end || *end || o->epochs < 1 || o->batch < 1 || o->hidden < 1) {
            fprintf(stderr, "train_mlp: bad value for %s: %s\n", a, v);
            return -1;
        }
        i++;
    }
    return 0;
}

/* n points on two spirals, 1.5 turns each, half of each class, with a little
 * Gaussian noise: x (n,2), y (n,1). Class 1 is class 0 turned by π. */
static void make_spirals(int64_t n, uint64_t seed, uint64_t stream, ag_tensor *x, ag_tensor *y)
{
    for (int64_t i = 0; i < n; i++) {
        int label = (int)(i % 2);
        double r = 0.1 + 0.9 * ag_rand_uniform(seed, stream, (uint64_t)i);
        double theta = 3 * PI * r + label * PI;
        AG_F32(x)[2 * i] = (float)(r * cos(theta) + 0.03 * ag_rand_normal(seed, stream + 1, 2 * i));
        AG_F32(x)
        [2 * i + 1] = (float)(r * sin(theta) + 0.03 * ag_rand_normal(seed, stream + 1, 2 * i + 1));
        AG_F32(y)[i] = (float)label;
    }
}

/* Standardises each of x's columns with the training set's mean and
 * standard deviation (mean, std: one per column), as a user would. */
static void standardize(ag_tensor *x, const double *mean, const double *std)
{
    int64_t cols = x->shape[1];
    for (int64_t i = 0; i < x->size; i++)
        AG_F32(x)[i] = (float)((AG_F32(x)[i] - mean[i % cols]) / std[i % cols]);
}

/* Keras's glorot-uniform: U(±√(6/(fan_in+fan_out))). */
static ag_node *dense_kernel(ag_graph *g, const char *name, int64_t in, int64_t out, uint64_t seed,
                             uint64_t stream)
{
    ag_node *w = ag_variable(g, name, 2, (int64_t[]){in, out});
    double lim = sqrt(6.0 / (double)(in + out));
    if (w) ag_fill_uniform(ag_value(w), -lim, lim, seed, stream);
    return w;
}

/* Copies rows idx[0..n-1] of src (rows of `width` floats) into dst (n,width). */
static void gather_rows(const ag_tensor *src, const int64_t *idx, int64_t n, int64_t width,
                        ag_tensor *dst)
{
    ag_tensor_reshape_storage(dst, AG_FLOAT32, 2, (int64_t[]){n, width}, NULL, NULL);
    for (int64_t i = 0; i < n; i++)
        memcpy(AG_F32(dst) + i * width, AG_F32(src) + idx[i] * width, width * sizeof(float));
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        fprintf(rc > 0 ? stdout : stderr,
                "usage: train_mlp [--epochs N] [--batch B] [--hidden H] [--lr X] [--seed S]\n");
        return rc > 0 ? 0 : 2;
    }
    const int64_t n_train = 512, n_test = 256, H = o.hidden;

    /* data: a training set and a held-out test set from other random streams */
    ag_tensor *xtr = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n_train, 2}, NULL);
    ag_tensor *ytr = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n_train, 1}, NULL);
    ag_tensor *xte = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n_test, 2}, NULL);
    ag_tensor *yte = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){n_test, 1}, NULL);
    ag_tensor *xb = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){o.batch, 2}, NULL);
    ag_tensor *yb = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){o.batch, 1}, NULL);
    int64_t *order = malloc((size_t)n_train * sizeof *order);
    if (!xtr || !ytr || !xte || !yte || !xb || !yb || !order) {
        fprintf(stderr, "train_mlp: out of memory\n");
        return 1;
    }
    make_spirals(n_train, o.seed, 0, xtr, ytr);
    make_spirals(n_test, o.seed, 10, xte, yte);
    double mean[2] = {0, 0}, std[2] = {0, 0};
    for (int64_t i = 0; i < 2 * n_train; i++)
        mean[i % 2] += AG_F32(xtr)[i] / (double)n_train;
    for (int64_t i = 0; i < 2 * n_train; i++) {
        double d = AG_F32(xtr)[i] - mean[i % 2];
        std[i % 2] += d * d / (double)n_train;
    }
    std[0] = sqrt(std[0]), std[1] = sqrt(std[1]);
    standardize(xtr, mean, std);
    standardize(xte, mean, std);

    /* the graph, built once; the batch dimension is unknown (-1) */
    ag_graph *g = ag_graph_new();
    ag_node *x = ag_input(g, "x", AG_FLOAT32, 2, (int64_t[]){-1, 2});
    ag_node *y = ag_input(g, "y", AG_FLOAT32, 2, (int64_t[]){-1, 1});
    ag_node *w[6] = {
        dense_kernel(g, "W1", 2, H, o.seed, 100), ag_variable(g, "b1", 1, (int64_t[]){H}),
        dense_kernel(g, "W2", H, H, o.seed, 101), ag_variable(g, "b2", 1, (int64_t[]){H}),
        dense_kernel(g, "W3", H, 1, o.seed, 102), ag_variable(g, "b3", 1, (int64_t[]){1}),
    };
    ag_node *h1 = ag_tanh(g, ag_add(g, ag_matmul(g, x, w[0], 0, 0), w[1]));
    ag_node *h2 = ag_tanh(g, ag_add(g, ag_matmul(g, h1, w[2], 0, 0), w[3]));
    ag_node *p = ag_sigmoid(g, ag_add(g, ag_matmul(g, h2, w[4], 0, 0), w[5]));
    ag_node *loss = ag_binary_crossentropy(g, p, y, 0);
    if (!loss) { /* every builder passes a NULL on: one check suffices */
        fprintf(stderr, "train_mlp: building the graph: %s\n", ag_graph_error(g));
        return 1;
    }

    ag_optimizer_config cfg = ag_optimizer_defaults(AG_ADAM);
    cfg.learning_rate = o.lr;
    ag_error err = {0};
    ag_optimizer *opt = ag_optimizer_new(&cfg, &err);
    if (!opt) {
        fprintf(stderr, "train_mlp: %s\n", err.msg);
        return 1;
    }

    printf("two spirals: %lld training points, %lld test points; MLP 2-%lld-%lld-1, Adam lr %g\n",
           (long long)n_train, (long long)n_test, (long long)H, (long long)H, o.lr);
    ag_rng rng;
    ag_rng_init(&rng, o.seed, 1);
    for (int64_t i = 0; i < n_train; i++)
        order[i] = i;
    ag_status st = AG_OK;
    for (int epoch = 1; epoch <= o.epochs && !st; epoch++) {
        ag_rng_shuffle(&rng, order, n_train);
        double sum = 0;
        int64_t seen = 0;
        for (int64_t start = 0; start < n_train && !st; start += o.batch) {
            int64_t n = n_train - start < o.batch ? n_train - start : o.batch;
            gather_rows(xtr, order + start, n, 2, xb);
            gather_rows(ytr, order + start, n, 1, yb);
            if ((st = ag_feed(g, x, xb)) || (st = ag_feed(g, y, yb)) ||
                (st = ag_forward(g, &loss, 1)) || (st = ag_backward(g, loss, NULL)) ||
                (st = ag_optimizer_step(opt, g, w, 6)))
                break;
            sum += ag_tensor_get(ag_value(loss), 0) * (double)n;
            seen += n;
        }
        if (!st && (epoch == 1 || epoch % 10 == 0 || epoch == o.epochs))
            printf("epoch %4d/%d - loss: %.4f\n", epoch, o.epochs, sum / (double)seen);
    }

    /* evaluation on both sets: one forward run each, the whole set a batch */
    const ag_tensor *sets[2][2] = {{xtr, ytr}, {xte, yte}};
    const char *names[2] = {"train", "test"};
    for (int s = 0; s < 2 && !st; s++) {
        if ((st = ag_feed(g, x, sets[s][0])) || (st = ag_feed(g, y, sets[s][1])) ||
            (st = ag_forward(g, &loss, 1)))
            break;
        const ag_tensor *pv = ag_value(p);
        const float *yv = AG_F32(sets[s][1]);
        printf("%-5s - loss: %.4f - accuracy: %.4f - auc: %.4f\n", names[s],
               ag_tensor_get(ag_value(loss), 0), ag_binary_accuracy(AG_F32(pv), yv, pv->size, 0.5),
               ag_roc_auc(AG_F32(pv), yv, pv->size));
    }
    if (st) fprintf(stderr, "train_mlp: %s\n", ag_graph_error(g));

    ag_optimizer_free(opt);
    ag_graph_free(g);
    ag_tensor_free(xtr), ag_tensor_free(ytr), ag_tensor_free(xte), ag_tensor_free(yte);
    ag_tensor_free(xb), ag_tensor_free(yb);
    free(order);
    return st ? 1 : 0;
}
