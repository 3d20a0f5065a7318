/* fuzz_tsv.c — TSV pairs, their vocabulary and batches: ag_pairs_load on
 * any bytes, then a vocabulary (and its text form read back), encoding with
 * a max_length, and every batch of 3 rows. */
#include "attograd_app.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ag_error err = {0};
    ag_pairs *p = ag_pairs_load(fuzz_file(data, size), &err);
    if (!p) {
        if (!err.code || !err.msg[0]) abort();
        fuzz_check_msg(err.msg);
        return 0;
    }
    ag_vocab *v = ag_vocab_from_pairs(p, 50, &err);
    if (!v) abort();
    char *s = ag_vocab_to_string(v, &err);
    ag_vocab *w = s ? ag_vocab_from_string(s, &err) : NULL;
    if (!w || ag_vocab_size(w) != ag_vocab_size(v)) abort();
    ag_pair_ids *d = ag_pair_ids_encode(p, w, 16, &err);
    if (!d) abort();
    ag_tensor a = {0}, b = {0}, y = {0};
    int64_t rows[3];
    for (int64_t i = 0; i < d->n; i += 3) {
        int64_t n = d->n - i < 3 ? d->n - i : 3;
        for (int64_t r = 0; r < n; r++)
            rows[r] = i + r;
        if (ag_pair_batch(d, rows, n, &a, &b, &y, &err)) abort();
        if (a.shape[1] > 16 || b.shape[1] > 16) abort();
        for (int64_t k = 0; k < a.size; k++)
            if (AG_I32(&a)[k] < 0 || AG_I32(&a)[k] >= ag_vocab_size(w)) abort();
    }
    ag_tensor_release(&a);
    ag_tensor_release(&b);
    ag_tensor_release(&y);
    ag_pair_ids_free(d);
    ag_vocab_free(w);
    free(s);
    ag_vocab_free(v);
    ag_pairs_free(p);
    return 0;
}
