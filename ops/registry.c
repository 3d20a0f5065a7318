/* registry.c — every built-in op, one line each. The gradient checker
 * (attograd gradcheck, tests/test_gradcheck.c) walks this list. */
#include "../framework/internal.h"

extern const ag_op ag_op_neg, ag_op_exp, ag_op_log, ag_op_sqrt, ag_op_tanh, ag_op_sigmoid,
    ag_op_relu;
extern const ag_op ag_op_not_equal, ag_op_max;

const ag_op *const ag__builtin_ops[] = {
    &ag_op_neg,
    &ag_op_exp,
    &ag_op_log,
    &ag_op_sqrt,
    &ag_op_tanh,
    &ag_op_sigmoid,
    &ag_op_relu,
    &ag_op_not_equal,
    &ag_op_max,
};
const int ag__builtin_op_count = (int)(sizeof ag__builtin_ops / sizeof ag__builtin_ops[0]);
