/* mpi.c — ag_dist over MPI: the table's five collectives as MPI calls on
 * a duplicate of MPI_COMM_WORLD. Built without MPI (AG_MPI off), the same
 * functions give the one-process group. MPI's own errors keep its default
 * handler (MPI_ERRORS_ARE_FATAL: print and end every rank), the last
 * resort below attograd's own agreement on errors (ag_dist_agree). */
#include "attograd_dist.h"

#include <stdlib.h>
#include <string.h>

#ifdef AG_HAVE_MPI
#include <limits.h>
#include <mpi.h>

typedef struct world {
    ag_dist d;
    MPI_Comm comm;
    int started; /* this library called MPI_Init_thread */
} world;

static MPI_Comm comm_of(ag_dist *d) { return ((world *)d->user)->comm; }

/* bytes in pieces MPI's int counts can hold */
#define PIECE ((size_t)1 << 30)

static ag_status mpi_bcast(ag_dist *d, void *buf, size_t bytes, int root)
{
    for (size_t off = 0; off < bytes; off += PIECE) {
        size_t len = bytes - off < PIECE ? bytes - off : PIECE;
        MPI_Bcast((char *)buf + off, (int)len, MPI_BYTE, root, comm_of(d));
    }
    return AG_OK;
}

static ag_status mpi_gather(ag_dist *d, const void *mine, void *all, const size_t *counts)
{
    int *c = malloc(2 * (size_t)d->size * sizeof *c);
    if (!c) return snprintf(d->msg, sizeof d->msg, "out of memory"), AG_ERR_NOMEM;
    size_t off = 0;
    for (int r = 0; r < d->size; r++) {
        if (counts[r] > INT_MAX || off > INT_MAX) {
            free(c);
            snprintf(d->msg, sizeof d->msg, "gather: %zu bytes from rank %d exceed MPI's counts",
                     counts[r], r);
            return AG_ERR_RANGE;
        }
        c[r] = (int)counts[r];
        c[d->size + r] = (int)off;
        off += counts[r];
    }
    MPI_Allgatherv(mine, c[d->rank], MPI_BYTE, all, c, c + d->size, MPI_BYTE, comm_of(d));
    free(c);
    return AG_OK;
}

static ag_status mpi_min(ag_dist *d, int64_t *v, int n)
{
    MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_MIN, comm_of(d));
    return AG_OK;
}

static ag_status mpi_send(ag_dist *d, const void *buf, size_t bytes, int to)
{
    for (size_t off = 0; off < bytes; off += PIECE) {
        size_t len = bytes - off < PIECE ? bytes - off : PIECE;
        MPI_Send((const char *)buf + off, (int)len, MPI_BYTE, to, 0, comm_of(d));
    }
    return AG_OK;
}

static ag_status mpi_recv(ag_dist *d, void *buf, size_t bytes, int from)
{
    for (size_t off = 0; off < bytes; off += PIECE) {
        size_t len = bytes - off < PIECE ? bytes - off : PIECE;
        MPI_Recv((char *)buf + off, (int)len, MPI_BYTE, from, 0, comm_of(d), MPI_STATUS_IGNORE);
    }
    return AG_OK;
}

/* Started by an MPI launcher: OpenMPI, MPICH/Hydra or a PMIx server. */
static int launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

ag_dist *ag_dist_init(int *argc, char ***argv, ag_error *err)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && !launched()) return ag_dist_single();
    world *w = calloc(1, sizeof *w);
    if (!w) {
        ag_error_set(err, AG_ERR_NOMEM, "ag_dist_init: out of memory");
        return NULL;
    }
    if (!inited) {
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            free(w);
            ag_error_set(err, AG_ERR_STATE, "ag_dist_init: MPI_Init_thread failed");
            return NULL;
        }
        w->started = 1;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &w->comm);
    MPI_Comm_rank(w->comm, &w->d.rank);
    MPI_Comm_size(w->comm, &w->d.size);
    w->d.user = w;
    w->d.bcast = mpi_bcast;
    w->d.gather = mpi_gather;
    w->d.min = mpi_min;
    w->d.send = mpi_send;
    w->d.recv = mpi_recv;
    return &w->d;
}

void ag_dist_finalize(ag_dist *d)
{
    if (!d || d == ag_dist_single()) return;
    world *w = d->user;
    MPI_Comm_free(&w->comm);
    if (w->started) MPI_Finalize();
    free(w);
}

int ag_dist_has_mpi(void) { return 1; }

#else /* built without MPI: one process */

ag_dist *ag_dist_init(int *argc, char ***argv, ag_error *err)
{
    (void)argc, (void)argv, (void)err;
    return ag_dist_single();
}

void ag_dist_finalize(ag_dist *d) { (void)d; }

int ag_dist_has_mpi(void) { return 0; }

#endif
