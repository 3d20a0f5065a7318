/* similarity.h — what `attograd train`, `evaluate`, `predict` and `heatmap`
 * share: the seeds' CNN+Attention text-similarity network, pair batches as
 * a batch source, and a saved model with its vocabulary. */
#ifndef AG_SIMILARITY_H
#define AG_SIMILARITY_H

#include "attograd_app.h"

/* The network (the seeds' example, with Keras's defaults):
 *   a (B,Ta), b (B,Tb) int32 ids, 0 = padding
 *   Embedding(max_tokens, dim, mask_zero=True), shared       -> (B,T,dim)
 *   Conv1D(filters, 4, padding="same"), shared               -> q (B,Ta,F), v (B,Tb,F)
 *   Attention() dot | Attention(score_mode="concat") | AdditiveAttention()
 *     ([q, v], masks from the embedding)                     -> o (B,Ta,F)
 *   GlobalAveragePooling1D(q), GlobalAveragePooling1D(o), mask-aware, Concatenate -> (B,2F)
 *   Dense(64, relu) -> Dense(1, sigmoid)                     -> p (B,1)
 * The attention layer is named "attention" so that a loaded model's
 * weights can be found for heatmaps. */
typedef struct sim_config {
    const char *attention; /* "dot", "concat" or "additive" */
    int max_tokens, dim, filters;
    uint64_t seed;
    /* "cnn-attention" (the network above, the default), "decomposable"
     * (ag_decomposable_model: dim, units, the layer counts and dropout) or
     * "transformer" (ag_transformer_model: dim, heads, ff_dim, blocks,
     * max_len, units, dropout) */
    const char *model;
    int units, attend_layers, compare_layers;
    int heads, ff_dim, blocks, max_len;
    double dropout;
} sim_config;
ag_model *sim_build(const sim_config *c, char *err, size_t errlen);

/* The word-overlap baseline (cmd_baseline.c): Jaccard overlap of the token
 * sets, the threshold tuned for accuracy on val. 0, or 1 when out of
 * memory or a set is empty. */
typedef struct sim_baseline_figures {
    double threshold, val_accuracy, val_auc, test_accuracy, test_auc;
} sim_baseline_figures;
int sim_baseline(const ag_pairs *val, const ag_pairs *test, sim_baseline_figures *f);

/* Batches of encoded pairs in the order order[0..n-1] (NULL: file order),
 * batch_size rows each (the last may be shorter), each batch padded to its
 * own longest text. When shuffle_seed is not 0 the order is reshuffled at
 * the start of every pass (each epoch), from ag_rng(shuffle_seed). The
 * source records when each pass started (pass_start, seconds). */
typedef struct sim_source {
    const ag_pair_ids *d;
    int64_t batch_size, n;
    int64_t *order;
    uint64_t shuffle_seed;
    ag_rng rng;
    int64_t calls;
    int epochs_shuffled; /* shuffles drawn: epochs 0 .. epochs_shuffled-1 */
    double pass_start;
    /* timing another source's passes: each pass of this one starts when a
     * pass of `timed` has ended; their gaps are summed in timed_total */
    struct sim_source *timed;
    double timed_total;
    ag_tensor a, b, y;
    ag_batch_source src;
    /* length buckets (sim_source_bucket) */
    int64_t bucket, *batch_perm;
    struct sized_row *sort_tmp;
} sim_source;
ag_status sim_source_init(sim_source *s, const ag_pair_ids *d, int64_t batch_size,
                          uint64_t shuffle_seed, ag_error *err);
/* Batches of pairs of similar length, so that less of each batch is
 * padding (the masks make the padding irrelevant to the results, not to the
 * time). A shuffled source, after each pass's shuffle, sorts every run of
 * `bucket` batches' rows by the pair's longer text and then shuffles the
 * order of the batches; a fixed-order source is sorted by length once. 0
 * leaves the source as it is. */
ag_status sim_source_bucket(sim_source *s, int64_t bucket, ag_error *err);
void sim_source_release(sim_source *s);
/* fit's begin_epoch for a shuffling source: draws the shuffles (and the
 * length-bucket sorts) of every epoch up to this one not drawn yet, so a
 * resumed run continues as an uninterrupted one (it skips some epochs). */
ag_status sim_source_begin_epoch(void *user, int epoch, ag_error *err);
double sim_now(void); /* seconds, monotonic */

/* A saved model and its vocabulary (the "vocabulary" metadata entry).
 * Returns 0, or prints why to stderr (prefixed by who) and returns 1. */
int sim_load(const char *path, const char *who, ag_model **m, ag_vocab **v);

/* Encodes one text for the model: ids (1,T) int32 written to t; tokens
 * (when not NULL) gets a label per id, "[UNK]"-marked for unknown words
 * (free the array and its strings with sim_free_labels). */
int sim_encode_one(const ag_vocab *v, const char *text, int64_t max_len, ag_tensor *t,
                   char ***labels, int64_t *n_labels, const char *who);
void sim_free_labels(char **labels, int64_t n);
/* The longest text a saved model reads, in tokens (its "max_len" metadata),
 * as Keras's TextVectorization(output_sequence_length=...) truncates:
 * longer texts keep their first max_len tokens. SIM_MAX_LENGTH for a file
 * without the entry. The default covers the Bible pairs: of their 124,380
 * texts only the WEB's Romans 14:23 (102 tokens: the WEB puts the doxology
 * there), in its two pairs, is longer; no other has more than 90 tokens. */
#define SIM_MAX_LENGTH 100
int64_t sim_max_len(const ag_model *m);

/* The attention heatmap of one pair, with the pair's probability in the
 * title. Returns 0, or prints why and returns 1. */
int sim_heatmap(ag_model *m, const ag_vocab *v, int64_t max_len, const char *text_a,
                const char *text_b, const char *png, const char *who, double *prob);

/* Prints "WHO: truncated N of the M texts of FILE to L tokens (--max-length)"
 * when d has truncated texts. */
void sim_report_truncated(const char *who, const char *file, const ag_pair_ids *d, int64_t max_len);

#endif
