/* sgd.c — stochastic gradient descent, with momentum and Nesterov momentum
 * (Keras 3's SGD).
 *
 *   momentum 0:   w = w - lr·g
 *   momentum μ:   v = μ·v - lr·g;  w = w + v
 *   nesterov:     v = μ·v - lr·g;  w = w + μ·v - lr·g
 *
 * w, g, v (n). State: v when μ > 0. Parallel over elements.
 */
#include "rules.h"

int ag__sgd_slots(const ag_optimizer_config *cfg) { return cfg->momentum != 0 ? 1 : 0; }

#define T float
#include "sgd.inc"
#undef T
#define T double
#include "sgd.inc"
#undef T

void ag__sgd_update(const ag__update *u)
{
    int has_v = ag__sgd_slots(u->cfg) > 0;
    if (u->w->dtype == AG_FLOAT32)
        sgd_float(u, AG_F32(u->w), AG_F32(u->g), has_v ? AG_F32(u->s[0]) : NULL, u->w->size);
    else
        sgd_double(u, AG_F64(u->w), AG_F64(u->g), has_v ? AG_F64(u->s[0]) : NULL, u->w->size);
}
