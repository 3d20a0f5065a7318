/* fuzz_npy.c — ag_npy_load on any bytes: a tensor or a message, then a
 * save and load round trip of what was read. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ag_error err = {0};
    ag_tensor *t = ag_npy_load(fuzz_file(data, size), &err);
    if (!t) {
        if (!err.code || !err.msg[0]) abort();
        return 0;
    }
    double sum = 0;
    for (int64_t i = 0; i < t->size; i++)
        sum += ag_tensor_get(t, i);
    (void)sum;
    if (ag_npy_save(fuzz_path, t, &err)) abort();
    ag_tensor *u = ag_npy_load(fuzz_path, &err);
    if (!u || u->size != t->size || u->dtype != t->dtype ||
        memcmp(u->data, t->data, (size_t)t->size * ag_dtype_size(t->dtype)))
        abort();
    ag_tensor_free(u);
    ag_tensor_free(t);
    return 0;
}
