/* adam.c — Adam and AdamW (Keras 3's Adam; AdamW is Adam with decoupled
 * weight decay, which optimizer.c's config turns on and this kernel applies
 * first, as Keras's base optimizer does).
 *
 *   AdamW only:  w = w - w·weight_decay·lr
 *   m = m + (g - m)·(1-β1)           (= β1·m + (1-β1)·g)
 *   v = v + (g² - v)·(1-β2)          (= β2·v + (1-β2)·g²)
 *   α = lr·√(1-β2^t) / (1-β1^t)      (bias correction folded into the rate)
 *   w = w - m·α / (√v + ε)
 *
 * w, g, m, v (n). State: m, v. Parallel over elements. Moments below the
 * smallest normal number are flushed to zero, as TensorFlow's CPU kernels
 * (flush-to-zero) leave them: an embedding row seen once decays into the
 * subnormal range within a thousand steps, where every operation on it
 * would take a slow microcode assist; its update is below w's precision
 * long before that.
 */
#include "rules.h"

#include <float.h>

int ag__adam_slots(const ag_optimizer_config *cfg)
{
    (void)cfg;
    return 2;
}

#define T    float
#define SQRT sqrtf
#define TINY FLT_MIN
#include "adam_t.inc"
#undef T
#undef SQRT
#undef TINY
#define T    double
#define SQRT sqrt
#define TINY DBL_MIN
#include "adam_t.inc"
#undef T
#undef SQRT
#undef TINY

void ag__adam_update(const ag__update *u)
{
    const ag_optimizer_config *c = u->cfg;
    double t = (double)u->t;
    double alpha = c->learning_rate * sqrt(1 - pow(c->beta_2, t)) / (1 - pow(c->beta_1, t));
    if (u->w->dtype == AG_FLOAT32)
        adam_float(u, (float)alpha, AG_F32(u->w), AG_F32(u->g), AG_F32(u->s[0]), AG_F32(u->s[1]),
                   u->w->size);
    else
        adam_double(u, alpha, AG_F64(u->w), AG_F64(u->g), AG_F64(u->s[0]), AG_F64(u->s[1]),
                    u->w->size);
}
