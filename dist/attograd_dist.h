/* attograd_dist.h — MPI's world as an ag_dist (the attograd_dist library).
 *
 *   int main(int argc, char **argv) {
 *       ag_error err = {0};
 *       ag_dist *d = ag_dist_init(&argc, &argv, &err);   // mpirun -np N ./train
 *       ... build the model from the same seed on every rank ...
 *       ag_fit_options o = ag_fit_defaults();
 *       o.shards = 8, o.dist = d;       // the same weights with any N
 *       ag_model_fit(m, x, y, &o, &h);  // every rank gets the same history
 *       if (ag_dist_rank(d) == 0) ag_model_save(m, "model.safetensors", ...);
 *       ag_dist_finalize(d);
 *   }
 *
 * Built with MPI (cmake -DAG_MPI=ON, the default when CMake finds MPI) it
 * links the MPI library; without, ag_dist_init gives the one-process group
 * and the same program runs alone. */
#ifndef ATTOGRAD_DIST_LIB_H
#define ATTOGRAD_DIST_LIB_H

#include "attograd.h"

/* The world: under mpirun (or another MPI launcher) MPI is initialised
 * (MPI_THREAD_FUNNELED: OpenMP threads inside a rank, MPI calls from its
 * main thread only) and the group is every process of the job, on a
 * communicator of its own. Started alone, or built without MPI, it is
 * ag_dist_single() and MPI is not touched. NULL only on failure (err says
 * why). */
AG_API ag_dist *ag_dist_init(int *argc, char ***argv, ag_error *err);
/* Ends MPI when ag_dist_init started it; every rank calls it once. */
AG_API void ag_dist_finalize(ag_dist *d);
/* 1 when this library was built with MPI. */
AG_API int ag_dist_has_mpi(void);

#endif
