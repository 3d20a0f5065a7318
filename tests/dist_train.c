/* dist_train.c — test_dist.sh's library-level program: a small MLP with
 * dropout trained data-parallel through ag_fit_options.shards, alone or
 * under mpirun. Rank 0 prints the history as exact hex floats and saves
 * the weights, so runs with any number of ranks can be compared byte for
 * byte. --fail-rank R --fail-batch B makes rank R's batch source fail at
 * batch B of the first epoch, as a rank whose data goes bad would.
 *
 *   dist_train --shards K --out MODEL [--fail-rank R --fail-batch B]
 *   dist_train --has-mpi     prints 1 when attograd_dist was built with MPI
 */
#include "attograd_dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TRAIN 300
#define N_VAL   70
#define DIM     8
#define BATCH   32

typedef struct source {
    const ag_tensor *x, *y;
    ag_tensor bx, by;
    int fail_batch, calls;
} source;

static ag_status get_batch(void *user, int64_t b, const ag_tensor **in, const ag_tensor **target,
                           ag_error *err)
{
    source *s = user;
    if (s->calls++ == s->fail_batch)
        return ag_error_set(err, AG_ERR_IO, "injected failure (--fail-batch %d)", s->fail_batch);
    int64_t lo = b * BATCH, n = N_TRAIN - lo < BATCH ? N_TRAIN - lo : BATCH;
    ag_tensor_reshape_storage(&s->bx, AG_FLOAT32, 2, (int64_t[]){n, DIM}, NULL, err);
    ag_tensor_reshape_storage(&s->by, AG_FLOAT32, 2, (int64_t[]){n, 1}, NULL, err);
    memcpy(s->bx.data, AG_F32(s->x) + lo * DIM, (size_t)(n * DIM) * sizeof(float));
    memcpy(s->by.data, AG_F32(s->y) + lo, (size_t)n * sizeof(float));
    in[0] = &s->bx;
    *target = &s->by;
    return AG_OK;
}

/* y = [x·w > 0] for a fixed w, x uniform in [-1, 1). */
static void make_data(ag_tensor *x, ag_tensor *y, int64_t n, uint64_t stream)
{
    for (int64_t i = 0; i < n; i++) {
        double dot = 0;
        for (int j = 0; j < DIM; j++) {
            double v = 2 * ag_rand_uniform(7, stream, (uint64_t)(i * DIM + j)) - 1;
            AG_F32(x)[i * DIM + j] = (float)v;
            dot += v * (j % 3 - 1);
        }
        AG_F32(y)[i] = dot > 0;
    }
}

int main(int argc, char **argv)
{
    ag_error err = {0};
    if (argc == 2 && !strcmp(argv[1], "--has-mpi")) {
        printf("%d\n", ag_dist_has_mpi());
        return 0;
    }
    ag_dist *d = ag_dist_init(&argc, &argv, &err);
    if (!d) {
        fprintf(stderr, "dist_train: %s\n", err.msg);
        return 1;
    }
    int shards = 0, fail_rank = -1, fail_batch = -1;
    const char *out = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--shards")) shards = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        if (!strcmp(argv[i], "--fail-rank")) fail_rank = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--fail-batch")) fail_batch = atoi(argv[i + 1]);
    }
    int rank = ag_dist_rank(d), rc = 1;
    ag_tensor *x = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){N_TRAIN, DIM}, &err);
    ag_tensor *y = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){N_TRAIN, 1}, &err);
    ag_tensor *vx = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){N_VAL, DIM}, &err);
    ag_tensor *vy = ag_tensor_new(AG_FLOAT32, 2, (int64_t[]){N_VAL, 1}, &err);
    ag_model *m = ag_model_new(AG_FLOAT32, 42);
    ag_history h = {0};
    source s = {x, y, {0}, {0}, rank == fail_rank ? fail_batch : -1, 0};
    if (!x || !y || !vx || !vy || !m) goto done;
    make_data(x, y, N_TRAIN, 1);
    make_data(vx, vy, N_VAL, 2);
    ag_model_input(m, "x", AG_FLOAT32, 1, (int64_t[]){DIM});
    ag_model_add(m, ag_layer_dense(m, 16, AG_ACT_RELU, 1));
    ag_model_add(m, ag_layer_dropout(m, 0.3, 0));
    ag_model_add(m, ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1));
    if (ag_model_compile(m, NULL, AG_LOSS_BINARY_CROSSENTROPY, 0,
                         AG_METRIC_ACCURACY | AG_METRIC_AUC)) {
        fprintf(stderr, "dist_train: %s\n", ag_model_error(m));
        goto done;
    }
    ag_fit_options o = ag_fit_defaults();
    o.epochs = 3;
    o.verbose = 0;
    o.seed = 5;
    o.val_x = (const ag_tensor *const[]){vx};
    o.val_y = vy;
    o.shards = shards;
    o.dist = d;
    ag_batch_source src = {(N_TRAIN + BATCH - 1) / BATCH, get_batch, &s};
    if (ag_model_fit_source(m, &src, &o, &h)) {
        if (rank == 0) fprintf(stderr, "dist_train: %s\n", ag_model_error(m));
        goto done;
    }
    if (rank == 0) {
        for (int e = 0; e < h.epochs; e++)
            printf("epoch %d: loss %a accuracy %a auc %a val_loss %a val_auc %a\n", e + 1,
                   h.loss[e], h.metric[0][e], h.metric[1][e], h.val_loss[e], h.val_metric[1][e]);
        if (out && ag_model_save(m, out, NULL, NULL, 0)) {
            fprintf(stderr, "dist_train: %s\n", ag_model_error(m));
            goto done;
        }
    }
    rc = 0;
done:
    ag_history_release(&h);
    ag_tensor_release(&s.bx);
    ag_tensor_release(&s.by);
    ag_model_free(m);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_tensor_free(vx);
    ag_tensor_free(vy);
    ag_dist_finalize(d);
    return rc;
}
