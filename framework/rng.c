/* rng.c — Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11): a counter-based generator, so a random number is a pure
 * function of (key, counter) and any thread can draw any element's number. */
#include "internal.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void ag_philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

static inline double u53(uint32_t a, uint32_t b)
{
    return (double)(((uint64_t)a << 21) ^ (b >> 11)) * (1.0 / 9007199254740992.0);
}

double ag_rand_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t r[4];
    ag_philox4x32(seed, stream, index, r);
    return u53(r[0], r[1]);
}

double ag_rand_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    uint32_t r[4];
    ag_philox4x32(seed, stream, index, r);
    double u1 = 1.0 - u53(r[0], r[1]); /* (0, 1] */
    double u2 = u53(r[2], r[3]);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ag_fill_uniform(ag_tensor *t, double lo, double hi, uint64_t seed, uint64_t stream)
{
    for (int64_t i = 0; i < t->size; i++)
        ag_tensor_set(t, i, lo + (hi - lo) * ag_rand_uniform(seed, stream, (uint64_t)i));
}

void ag_fill_normal(ag_tensor *t, double mean, double stddev, uint64_t seed, uint64_t stream)
{
    for (int64_t i = 0; i < t->size; i++)
        ag_tensor_set(t, i, mean + stddev * ag_rand_normal(seed, stream, (uint64_t)i));
}

void ag_rng_init(ag_rng *r, uint64_t seed, uint64_t stream)
{
    r->seed = seed, r->stream = stream, r->counter = 0;
}

uint32_t ag_rng_u32(ag_rng *r)
{
    uint32_t out[4];
    ag_philox4x32(r->seed, r->stream, r->counter++, out);
    return out[0];
}

double ag_rng_uniform(ag_rng *r)
{
    uint32_t out[4];
    ag_philox4x32(r->seed, r->stream, r->counter++, out);
    return u53(out[0], out[1]);
}

uint64_t ag_rng_below(ag_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    /* rejection sampling on 64 bits keeps the draw unbiased */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint32_t out[4];
        ag_philox4x32(r->seed, r->stream, r->counter++, out);
        uint64_t x = ((uint64_t)out[0] << 32) | out[1];
        if (x < limit) return x % n;
    }
}

void ag_rng_shuffle(ag_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ag_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
