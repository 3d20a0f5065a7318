/* dist.h — the collectives that data-parallel training builds on
 * ag_dist's table (not part of the public API; layers/shards.c uses them). */
#ifndef ATTOGRAD_DIST_H
#define ATTOGRAD_DIST_H

#include "../attograd.h"

/* Every rank's acc (n elements of dt, float32 or float64) becomes
 *   ((acc₀ + part₁,₀ + part₁,₁ + ...) + part₂,₀ + ...)
 * where acc₀ is rank 0's acc (0 plus its own parts, added by the caller)
 * and part_r,j is rank r's j-th of n_parts[r] parts, added in that order,
 * element by element: the sum of all parts in rank-then-part order, as one
 * process adding them one after another computes it, bit for bit. A chain:
 * rank r receives the running sum from r-1 in chunks, adds its parts and
 * passes it to r+1 (the chunks pipeline along the ranks); the last rank
 * then broadcasts it. parts is ignored on rank 0. */
ag_status ag__dist_ordered_sum(ag_dist *d, ag_dtype dt, int64_t n, void *acc, void *const *parts,
                               int n_parts, ag_error *err);
/* acc += part, n elements of dt (float32 or float64). */
void ag__dist_add(ag_dtype dt, int64_t n, void *acc, const void *part);
/* Wraps a table call's status with the transport's message. */
ag_status ag__dist_check(ag_dist *d, ag_status st, const char *what, ag_error *err);

#endif
