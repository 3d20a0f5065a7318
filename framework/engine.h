/*
 * engine.h — the engine's own structs, for framework/ only. Code in ops/,
 * layers/, optim/ and tools/ uses attograd.h and internal.h instead, and
 * never reads these fields.
 */
#ifndef ATTOGRAD_ENGINE_H
#define ATTOGRAD_ENGINE_H

#include "internal.h"

struct ag_node {
    ag_graph *g;
    int id; /* creation order, which is a topological order */
    ag_node_kind kind;
    const ag_op *op; /* AG_OP only */
    char name[64];
    int n_in;
    ag_node *in[AG_MAX_INPUTS];
    ag_shape shape; /* static: dims -1 where unknown */
    void *params;
    size_t params_size;
    ag_tensor val;  /* value: fed, assigned, or computed by forward */
    ag_tensor grad; /* gradient, valid after backward when has_grad  */
    ag_tensor *aux; /* op->n_aux workspace tensors                    */
    int fed;        /* inputs: fed since creation                    */
    int requires_grad, trainable;
    int has_grad; /* grad holds this backward's gradient            */
    int mark;     /* scratch for graph walks                        */
};

struct ag_graph {
    ag_error err;
    ag_dtype float_dtype;
    int training;
    uint64_t step;
    uint64_t allocs;
    uint64_t bytes; /* capacity of the tensors ag__ensure sized (the memory budget) */
    ag_node **nodes;
    int n_nodes, cap_nodes;
};

#endif
