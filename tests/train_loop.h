/* train_loop.h — a small but complete training loop shared by the
 * determinism and allocation suites.
 *
 * The model is the seeds' network in miniature, built from plain ops:
 *   ids (B,T) int32 -> embedding table (V,D)            -> e (B,T,D)
 *   e -> conv1d w (4,D,F) + b (F), padding same -> relu -> c (B,T,F)
 *   attention(query = c, value = c), dot scores, dropout -> a (B,T,F)
 *   mean over T of c and of a                            -> (B,F), (B,F)
 *   feats (B,H0) float -> matmul W1 (H0,H) + b1 -> tanh -> dropout -> h (B,H)
 *   concat [(B,F), (B,F), (B,H)] -> matmul W2 (2F+H,1) + b2 -> logits (B,1)
 *   loss = binary cross-entropy from logits against y (B,1)
 * trained with Adam, clipnorm on. Sizes put every kernel above the parallel
 * threshold (AG_PAR_MIN_WORK), so a thread count can show in the results
 * if any kernel let it.
 */
#ifndef AG_TRAIN_LOOP_H
#define AG_TRAIN_LOOP_H

#include "attograd.h"

#include <math.h>

enum { TL_V = 50, TL_D = 16, TL_F = 32, TL_H0 = 24, TL_H = 64, TL_T = 24, TL_NW = 7 };

typedef struct train_loop {
    ag_graph *g;
    ag_node *ids, *feats, *y, *loss;
    ag_node *w[TL_NW]; /* table, conv w, conv b, W1, b1, W2, b2 */
    ag_optimizer *opt;
    ag_tensor *ids_t, *feats_t, *y_t; /* host batch buffers, (re)filled per step */
} train_loop;

/* Glorot-uniform init: U(±√(6/(fan_in+fan_out))), from (seed, stream). */
static inline void tl_glorot(ag_node *w, double fan_in, double fan_out, uint64_t seed,
                             uint64_t stream)
{
    double lim = sqrt(6.0 / (fan_in + fan_out));
    ag_fill_uniform(ag_value(w), -lim, lim, seed, stream);
}

/* Builds the graph and optimizer; returns 0, or -1 with the graph's message. */
static inline int tl_build(train_loop *tl, uint64_t seed)
{
    ag_graph *g = tl->g = ag_graph_new();
    if (!g) return -1;
    ag_graph_set_training(g, 1);
    tl->ids = ag_input(g, "ids", AG_INT32, 2, (int64_t[]){-1, -1});
    tl->feats = ag_input(g, "feats", AG_FLOAT32, 2, (int64_t[]){-1, TL_H0});
    tl->y = ag_input(g, "y", AG_FLOAT32, 2, (int64_t[]){-1, 1});
    ag_node **w = tl->w;
    w[0] = ag_variable(g, "table", 2, (int64_t[]){TL_V, TL_D});
    w[1] = ag_variable(g, "conv_w", 3, (int64_t[]){4, TL_D, TL_F});
    w[2] = ag_variable(g, "conv_b", 1, (int64_t[]){TL_F});
    w[3] = ag_variable(g, "W1", 2, (int64_t[]){TL_H0, TL_H});
    w[4] = ag_variable(g, "b1", 1, (int64_t[]){TL_H});
    w[5] = ag_variable(g, "W2", 2, (int64_t[]){2 * TL_F + TL_H, 1});
    w[6] = ag_variable(g, "b2", 1, (int64_t[]){1});
    for (int i = 0; i < TL_NW; i++)
        if (!w[i]) return -1;
    ag_fill_uniform(ag_value(w[0]), -0.05, 0.05, seed, 0);
    tl_glorot(w[1], 4 * TL_D, 4 * TL_F, seed, 1);
    tl_glorot(w[3], TL_H0, TL_H, seed, 3);
    tl_glorot(w[5], 2 * TL_F + TL_H, 1, seed, 5);

    ag_node *e = ag_embedding(g, tl->ids, w[0]);
    ag_node *c = ag_relu(g, ag_conv1d(g, e, w[1], w[2], AG_PAD_SAME));
    ag_attention_opts ao = {.mode = AG_SCORE_DOT, .dropout = 0.1, .seed = seed + 1};
    ag_node *a = ag_attention(g, c, c, NULL, NULL, NULL, NULL, NULL, &ao, NULL);
    int time_axis = 1;
    ag_node *cm = ag_mean(g, c, &time_axis, 1, 0);
    ag_node *am = ag_mean(g, a, &time_axis, 1, 0);
    ag_node *h = ag_tanh(g, ag_add(g, ag_matmul(g, tl->feats, w[3], 0, 0), w[4]));
    h = ag_dropout(g, h, 0.2, seed + 2);
    ag_node *joined = ag_concat(g, (ag_node *[]){cm, am, h}, 3, 1);
    ag_node *logits = ag_add(g, ag_matmul(g, joined, w[5], 0, 0), w[6]);
    tl->loss = ag_binary_crossentropy(g, logits, tl->y, 1);
    if (!tl->loss) return -1;

    ag_optimizer_config cfg = ag_optimizer_defaults(AG_ADAM);
    cfg.learning_rate = 0.01;
    cfg.clipnorm = 0.1; /* small enough to bite */
    tl->opt = ag_optimizer_new(&cfg, NULL);
    return tl->opt ? 0 : -1;
}

/* Sizes a host buffer, allocating only when it has never been big enough. */
static inline ag_tensor *tl_buffer(ag_tensor **t, ag_dtype dt, int64_t d0, int64_t d1)
{
    int64_t shape[2] = {d0, d1};
    if (!*t) return *t = ag_tensor_new(dt, 2, shape, NULL);
    return ag_tensor_reshape_storage(*t, dt, 2, shape, NULL, NULL) ? NULL : *t;
}

/* Fills the batch for `step` (a function of seed, step and element only):
 * label 1 when token ids below V/2 dominate the sequence and the first
 * feature is positive, plus noise; feats uniform in [-1, 1). */
static inline int tl_fill_batch(train_loop *tl, uint64_t seed, int step, int64_t batch, int64_t len)
{
    if (!tl_buffer(&tl->ids_t, AG_INT32, batch, len) ||
        !tl_buffer(&tl->feats_t, AG_FLOAT32, batch, TL_H0) ||
        !tl_buffer(&tl->y_t, AG_FLOAT32, batch, 1))
        return -1;
    ag_fill_uniform(tl->feats_t, -1, 1, seed + 100, (uint64_t)step);
    for (int64_t b = 0; b < batch; b++) {
        int low = 0;
        for (int64_t t = 0; t < len; t++) {
            uint64_t idx = (uint64_t)(b * len + t);
            int id = (int)(ag_rand_uniform(seed + 200, (uint64_t)step, idx) * TL_V);
            AG_I32(tl->ids_t)[b * len + t] = id;
            low += id < TL_V / 2;
        }
        int label = (2 * low > len) == (AG_F32(tl->feats_t)[b * TL_H0] > 0);
        if (ag_rand_uniform(seed + 300, (uint64_t)step, (uint64_t)b) < 0.05) label = !label;
        AG_F32(tl->y_t)[b] = (float)label;
    }
    return 0;
}

/* One training step on the current batch: feed, forward, backward, update.
 * Returns the loss, or NAN on failure (message on tl->g). */
static inline double tl_step(train_loop *tl)
{
    ag_graph *g = tl->g;
    if (ag_feed(g, tl->ids, tl->ids_t) || ag_feed(g, tl->feats, tl->feats_t) ||
        ag_feed(g, tl->y, tl->y_t) || ag_forward(g, &tl->loss, 1) ||
        ag_backward(g, tl->loss, NULL) || ag_optimizer_step(tl->opt, g, tl->w, TL_NW))
        return NAN;
    return ag_tensor_get(ag_value(tl->loss), 0);
}

static inline void tl_free(train_loop *tl)
{
    ag_optimizer_free(tl->opt);
    ag_graph_free(tl->g);
    ag_tensor_free(tl->ids_t);
    ag_tensor_free(tl->feats_t);
    ag_tensor_free(tl->y_t);
}

#endif
