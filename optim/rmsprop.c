/* rmsprop.c — RMSprop (Keras 3's RMSprop, uncentred).
 *
 *   a = ρ·a + (1-ρ)·g²
 *   Δ = lr·g / √(a + ε)              (ε inside the root, as Keras has it)
 *   momentum 0:   w = w - Δ
 *   momentum μ:   v = μ·v + Δ;  w = w - v
 *
 * w, g, a, v (n). State: a, and v when μ > 0. Parallel over elements.
 */
#include "rules.h"

int ag__rmsprop_slots(const ag_optimizer_config *cfg) { return cfg->momentum > 0 ? 2 : 1; }

#define T    float
#define SQRT sqrtf
#include "rmsprop.inc"
#undef T
#undef SQRT
#define T    double
#define SQRT sqrt
#include "rmsprop.inc"
#undef T
#undef SQRT

void ag__rmsprop_update(const ag__update *u)
{
    int has_v = ag__rmsprop_slots(u->cfg) > 1;
    if (u->w->dtype == AG_FLOAT32)
        rmsprop_float(u, AG_F32(u->w), AG_F32(u->g), AG_F32(u->s[0]),
                      has_v ? AG_F32(u->s[1]) : NULL, u->w->size);
    else
        rmsprop_double(u, AG_F64(u->w), AG_F64(u->g), AG_F64(u->s[0]),
                       has_v ? AG_F64(u->s[1]) : NULL, u->w->size);
}
