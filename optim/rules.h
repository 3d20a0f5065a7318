/*
 * rules.h — what optimizer.c shares with the update rules (sgd.c, adam.c,
 * rmsprop.c); not part of the public API.
 *
 * optimizer.c owns the bookkeeping common to every optimizer: the config
 * and its checks, the per-variable state, gradient clipping's norm, and the
 * step counter. A rule file owns one update formula and nothing else: it
 * sees one variable, its gradient and its state tensors, and updates them
 * element by element.
 */
#ifndef AG_OPTIM_RULES_H
#define AG_OPTIM_RULES_H

#include "../framework/internal.h"

#include <math.h>

/* One variable's update. w, g and s[] share w's float dtype and size. */
typedef struct ag__update {
    const ag_optimizer_config *cfg;
    int64_t t;          /* 1-based step number (Keras's iterations + 1)   */
    double clip_num;    /* clipnorm: g' = g·clip_num / clip_den;          */
    double clip_den;    /*   clip_den 0 means no rescaling                */
    double clipvalue;   /* g' = clip(g, -clipvalue, clipvalue); 0: off    */
    ag_tensor *w;       /* the variable's value (n)                       */
    const ag_tensor *g; /* its gradient (n), left unchanged               */
    ag_tensor *s[2];    /* the rule's state (n each), zero at first       */
} ag__update;

/* The gradient a rule uses: g rescaled (clipnorm) or clipped (clipvalue).
 * Keras allows one of the two, so they never combine. */
#define AG__CLIPPED_GRAD(T, gi, num, den, cv)                                                      \
    ((den) != 0 ? (gi) * (num) / (den)                                                             \
     : (cv) > 0 ? ((gi) > (cv)    ? (cv)                                                           \
                   : (gi) < -(cv) ? -(cv)                                                          \
                                  : (gi))                                                          \
                : (gi))

/* Decoupled weight decay, applied before the rule (Keras's base optimizer:
 * w = w - w·weight_decay·lr). */
#define AG__DECAYED(wi, wd, lr) ((wd) != 0 ? (wi) - (wi) * (wd) * (lr) : (wi))

/* Number of state tensors each rule keeps per variable. */
int ag__sgd_slots(const ag_optimizer_config *cfg);
int ag__adam_slots(const ag_optimizer_config *cfg);
int ag__rmsprop_slots(const ag_optimizer_config *cfg);

void ag__sgd_update(const ag__update *u);
void ag__adam_update(const ag__update *u); /* Adam and AdamW */
void ag__rmsprop_update(const ag__update *u);

#endif
