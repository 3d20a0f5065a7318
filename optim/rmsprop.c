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

#define RMSPROP_KERNEL(T, SQRT)                                                                    \
    static void rmsprop_##T(const ag__update *u, T *w, const T *g, T *a, T *v, int64_t n)          \
    {                                                                                              \
        const T lr = (T)u->cfg->learning_rate, wd = (T)u->cfg->weight_decay;                       \
        const T rho = (T)u->cfg->rho, mu = (T)u->cfg->momentum, eps = (T)u->cfg->epsilon;          \
        const T num = (T)u->clip_num, den = (T)u->clip_den, cv = (T)u->clipvalue;                  \
        AG_PARALLEL_FOR(12 * n)                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T gi = AG__CLIPPED_GRAD(T, g[i], num, den, cv);                                        \
            T wi = AG__DECAYED(w[i], wd, lr);                                                      \
            a[i] = rho * a[i] + (1 - rho) * (gi * gi);                                             \
            T step = lr * gi / SQRT(a[i] + eps);                                                   \
            if (v) {                                                                               \
                v[i] = mu * v[i] + step;                                                           \
                step = v[i];                                                                       \
            }                                                                                      \
            w[i] = wi - step;                                                                      \
        }                                                                                          \
    }
RMSPROP_KERNEL(float, sqrtf)
RMSPROP_KERNEL(double, sqrt)

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
