/* registry.c — every built-in op, one line each. The gradient checker
 * (attograd gradcheck, tests/test_gradcheck.c) walks this list. */
#include "../framework/internal.h"

extern const ag_op ag_op_neg, ag_op_exp, ag_op_log, ag_op_sqrt, ag_op_tanh, ag_op_sigmoid,
    ag_op_relu;
extern const ag_op ag_op_add, ag_op_sub, ag_op_mul, ag_op_div, ag_op_add_scalar, ag_op_mul_scalar,
    ag_op_pow_scalar, ag_op_sum, ag_op_mean, ag_op_masked_mean, ag_op_reshape, ag_op_transpose,
    ag_op_expand_dims, ag_op_concat, ag_op_slice, ag_op_where, ag_op_masked_fill, ag_op_cast_float;
extern const ag_op ag_op_not_equal, ag_op_max;
extern const ag_op ag_op_matmul, ag_op_softmax, ag_op_embedding, ag_op_conv1d, ag_op_dropout,
    ag_op_binary_crossentropy, ag_op_categorical_crossentropy,
    ag_op_sparse_categorical_crossentropy, ag_op_mean_squared_error;
extern const ag_op ag_op_attention_weights, ag_op_dot_attention, ag_op_heads,
    ag_op_position_embedding;

const ag_op *const ag__builtin_ops[] = {
    &ag_op_neg,
    &ag_op_exp,
    &ag_op_log,
    &ag_op_sqrt,
    &ag_op_tanh,
    &ag_op_sigmoid,
    &ag_op_relu,
    &ag_op_add,
    &ag_op_sub,
    &ag_op_mul,
    &ag_op_div,
    &ag_op_add_scalar,
    &ag_op_mul_scalar,
    &ag_op_pow_scalar,
    &ag_op_sum,
    &ag_op_mean,
    &ag_op_masked_mean,
    &ag_op_reshape,
    &ag_op_transpose,
    &ag_op_expand_dims,
    &ag_op_concat,
    &ag_op_slice,
    &ag_op_where,
    &ag_op_masked_fill,
    &ag_op_cast_float,
    &ag_op_not_equal,
    &ag_op_max,
    &ag_op_matmul,
    &ag_op_softmax,
    &ag_op_embedding,
    &ag_op_conv1d,
    &ag_op_dropout,
    &ag_op_binary_crossentropy,
    &ag_op_categorical_crossentropy,
    &ag_op_sparse_categorical_crossentropy,
    &ag_op_mean_squared_error,
    &ag_op_attention_weights,
    &ag_op_dot_attention,
    &ag_op_heads,
    &ag_op_position_embedding,
};
const int ag__builtin_op_count = (int)(sizeof ag__builtin_ops / sizeof ag__builtin_ops[0]);
