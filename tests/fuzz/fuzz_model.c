/* fuzz_model.c — ag_model_load on any bytes, and a forward run of every
 * model it accepts: each input gets a batch of 2, unknown steps 3 long,
 * ids 1 (a valid id of any vocabulary) or zeros. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ag_error err = {0};
    ag_model *m = ag_model_load(fuzz_file(data, size), &err);
    if (!m) {
        if (!err.code || !err.msg[0]) abort();
        fuzz_check_msg(err.msg);
        return 0;
    }
    int n = ag_model_input_count(m);
    ag_tensor *x[AG_MAX_INPUTS] = {0};
    int ok = n > 0 && n <= AG_MAX_INPUTS;
    for (int i = 0; ok && i < n; i++) {
        const ag_shape *s = ag_node_shape(ag_model_input_node(m, i));
        int64_t shape[AG_MAX_RANK];
        shape[0] = 2;
        for (int d = 1; d < s->rank; d++)
            shape[d] = s->dim[d] < 0 ? 3 : s->dim[d];
        x[i] = ag_tensor_new(s->dtype, s->rank, shape, NULL);
        ok = x[i] != NULL;
        for (int64_t k = 0; ok && k < x[i]->size && s->dtype != AG_BOOL; k++)
            ag_tensor_set(x[i], k, ag_dtype_is_float(s->dtype) ? 0.5 : 1);
    }
    if (ok) ag_model_run(m, (const ag_tensor *const *)x, NULL, 0);
    for (int i = 0; i < n && i < AG_MAX_INPUTS; i++)
        ag_tensor_free(x[i]);
    ag_model_free(m);
    return 0;
}
