/* fuzz_bible.c — the Bible export parser and pair builder on any two
 * texts: the input is cut at its first NUL byte (or in half) into export A
 * and export B. */
#include "attograd_app.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    size_t cut = strlen(text);
    if (cut == size) cut = size / 2;
    char *a = fuzz_text(data, cut),
         *b = fuzz_text(data + cut + (cut < size), size - cut - (cut < size));
    ag_pairs *out[3] = {ag_pairs_new(), ag_pairs_new(), ag_pairs_new()};
    ag_bible_stats st;
    ag_error err = {0};
    if (ag_bible_pairs(a, b, 7, out, &st, &err)) {
        if (!err.code || !err.msg[0]) abort();
    } else {
        int64_t total = 0;
        for (int k = 0; k < 3; k++)
            total += out[k]->n;
        if (total > 2 * st.common) abort();
    }
    for (int k = 0; k < 3; k++)
        ag_pairs_free(out[k]);
    free(a);
    free(b);
    free(text);
    return 0;
}
