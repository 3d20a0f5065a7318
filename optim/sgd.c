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

#define SGD_KERNEL(T)                                                                              \
    static void sgd_##T(const ag__update *u, T *w, const T *g, T *v, int64_t n)                    \
    {                                                                                              \
        const T lr = (T)u->cfg->learning_rate, mu = (T)u->cfg->momentum;                           \
        const T wd = (T)u->cfg->weight_decay, num = (T)u->clip_num, den = (T)u->clip_den;          \
        const T cv = (T)u->clipvalue;                                                              \
        const int nesterov = u->cfg->nesterov;                                                     \
        AG_PARALLEL_FOR(8 * n)                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T gi = AG__CLIPPED_GRAD(T, g[i], num, den, cv);                                        \
            T wi = AG__DECAYED(w[i], wd, lr);                                                      \
            if (!v) {                                                                              \
                w[i] = wi - gi * lr;                                                               \
                continue;                                                                          \
            }                                                                                      \
            v[i] = v[i] * mu - gi * lr;                                                            \
            w[i] = nesterov ? wi + (v[i] * mu - gi * lr) : wi + v[i];                              \
        }                                                                                          \
    }
SGD_KERNEL(float)
SGD_KERNEL(double)

void ag__sgd_update(const ag__update *u)
{
    int has_v = ag__sgd_slots(u->cfg) > 0;
    if (u->w->dtype == AG_FLOAT32)
        sgd_float(u, AG_F32(u->w), AG_F32(u->g), has_v ? AG_F32(u->s[0]) : NULL, u->w->size);
    else
        sgd_double(u, AG_F64(u->w), AG_F64(u->g), has_v ? AG_F64(u->s[0]) : NULL, u->w->size);
}
