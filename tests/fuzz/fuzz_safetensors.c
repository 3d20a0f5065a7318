/* fuzz_safetensors.c — ag_safetensors_open on any bytes: every tensor and
 * metadata entry of an accepted file is read back. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ag_error err = {0};
    ag_safetensors *st = ag_safetensors_open(fuzz_file(data, size), &err);
    if (!st) {
        if (!err.code || !err.msg[0]) abort();
        fuzz_check_msg(err.msg);
        return 0;
    }
    for (int i = 0; i < ag_safetensors_count(st); i++) {
        const ag_tensor *t = ag_safetensors_get(st, ag_safetensors_name(st, i));
        if (!t) abort();
        double sum = 0;
        for (int64_t k = 0; k < t->size; k++)
            sum += ag_tensor_get(t, k);
        if (sum != sum && ag_tensor_find_nonfinite(t) < 0) abort();
    }
    for (int i = 0; i < ag_safetensors_metadata_count(st); i++) {
        const char *k = ag_safetensors_metadata_key(st, i);
        if (!k || !ag_safetensors_metadata(st, k)) abort();
    }
    ag_safetensors_close(st);
    return 0;
}
