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
 * w, g, m, v (n). State: m, v. Parallel over elements.
 */
#include "rules.h"

int ag__adam_slots(const ag_optimizer_config *cfg)
{
    (void)cfg;
    return 2;
}

#define ADAM_KERNEL(T, SQRT)                                                                       \
    static void adam_##T(const ag__update *u, T alpha, T *w, const T *g, T *m, T *v, int64_t n)    \
    {                                                                                              \
        const T lr = (T)u->cfg->learning_rate, wd = (T)u->cfg->weight_decay;                       \
        const T b1 = (T)u->cfg->beta_1, b2 = (T)u->cfg->beta_2, eps = (T)u->cfg->epsilon;          \
        const T num = (T)u->clip_num, den = (T)u->clip_den, cv = (T)u->clipvalue;                  \
        AG_PARALLEL_FOR(12 * n)                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T gi = AG__CLIPPED_GRAD(T, g[i], num, den, cv);                                        \
            T wi = AG__DECAYED(w[i], wd, lr);                                                      \
            m[i] += (gi - m[i]) * (1 - b1);                                                        \
            v[i] += (gi * gi - v[i]) * (1 - b2);                                                   \
            w[i] = wi - m[i] * alpha / (SQRT(v[i]) + eps);                                         \
        }                                                                                          \
    }
ADAM_KERNEL(float, sqrtf)
ADAM_KERNEL(double, sqrt)

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
