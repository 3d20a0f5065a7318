/* fuzz_config.c — ag_model_from_config on any text: a model or a message;
 * an accepted config's own config must build the same model again. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    ag_error err = {0};
    ag_model *m = ag_model_from_config(text, &err);
    free(text);
    if (!m) {
        if (!err.code || !err.msg[0]) abort();
        fuzz_check_msg(err.msg);
        return 0;
    }
    char *cfg = ag_model_get_config(m);
    if (cfg) {
        ag_model *again = ag_model_from_config(cfg, &err);
        if (!again) abort();
        char *cfg2 = ag_model_get_config(again);
        if (!cfg2 || strcmp(cfg, cfg2)) abort();
        free(cfg2);
        ag_model_free(again);
    }
    free(cfg);
    ag_model_free(m);
    return 0;
}
