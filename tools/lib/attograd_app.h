/*
 * attograd_app.h — the text-pair application library (libattograd_app),
 * built on the public API of attograd.h alone, as lauxlib is on lua.h: the
 * Keras-style tokenizer and vocabulary, labelled text pairs in TSV files,
 * the KJV <-> WEB Bible pair builder, and attention heatmaps as PNG files
 * (stb_image_write and stb_truetype, the DejaVu Sans font). The attograd
 * command is built on it. Link with attograd::attograd_app (CMake) or
 * `pkg-config --libs attograd_app`; the core library needs none of this.
 */
#ifndef ATTOGRAD_APP_H
#define ATTOGRAD_APP_H

#include "attograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Text pairs: tokenizer, vocabulary, TSV pairs, the Bible builder, heatmaps */
/* ------------------------------------------------------------------------ */

/* Tokenizing like Keras's TextVectorization defaults
 * (standardize="lower_and_strip_punctuation", split="whitespace"):
 * lowercase, delete the ASCII characters !"#$%&()*+,-./:;<=>?@[\]^_`{|}~'
 * (before splitting: "well-known" -> "wellknown"; curly quotes and other
 * non-ASCII marks stay, as in Keras) and the Spanish marks ¿ ¡ « » (which
 * Keras's ASCII set keeps), split on ASCII whitespace. Accented letters are
 * letters, lowercased: "¿Quién?" -> "quién".
 * Returns a NULL-terminated array of the *n_tokens tokens, in one block:
 * release it with free(). NULL (err set) only on a NULL text or no memory. */
AG_API char **ag_tokenize(const char *text, int64_t *n_tokens, ag_error *err);

/* A vocabulary: id 0 is padding (""), id 1 out-of-vocabulary ("[UNK]"),
 * then tokens by falling training frequency, at most max_tokens - 2 of them
 * (max_tokens counts the two reserved ids, as in Keras). Equal counts are
 * ordered by first occurrence in the texts as given; for pairs that is
 * text_a then text_b, row by row. */
#define AG_VOCAB_PAD                0
#define AG_VOCAB_OOV                1
#define AG_VOCAB_DEFAULT_MAX_TOKENS 10000
typedef struct ag_vocab ag_vocab;
AG_API ag_vocab *ag_vocab_build(const char *const *texts, int64_t n_texts, int max_tokens,
                                ag_error *err);
/* The tokens for ids 2, 3, ...: non-empty, no whitespace, no repeats. */
AG_API ag_vocab *ag_vocab_from_tokens(const char *const *tokens, int64_t n, ag_error *err);
AG_API void ag_vocab_free(ag_vocab *v);
AG_API int32_t ag_vocab_size(const ag_vocab *v); /* ids 0 .. size-1, reserved ones included */
AG_API const char *ag_vocab_token(const ag_vocab *v, int32_t id);     /* NULL when out of range */
AG_API int32_t ag_vocab_lookup(const ag_vocab *v, const char *token); /* AG_VOCAB_OOV when absent */
/* Text form (stored in a model's metadata): the tokens of ids 2, 3, ... one
 * per line, each followed by '\n'. The string is malloc'd: free() it. A file
 * holds the same text; reading accepts CRLF. */
AG_API char *ag_vocab_to_string(const ag_vocab *v, ag_error *err);
AG_API ag_vocab *ag_vocab_from_string(const char *s, ag_error *err);
AG_API ag_status ag_vocab_save(const ag_vocab *v, const char *path, ag_error *err);
AG_API ag_vocab *ag_vocab_load(const char *path, ag_error *err);
/* Token ids of text: writes min(n, cap) ids, returns n, the text's token
 * count (-1 on a NULL argument or no memory). Unknown tokens are 1. A text
 * without any token encodes as one [UNK], so n >= 1: its mask is never all
 * false. */
AG_API int64_t ag_vocab_encode(const ag_vocab *v, const char *text, int32_t *ids, int64_t cap,
                               ag_error *err);

/* Labelled text pairs. Texts are owned (copied in). */
typedef struct ag_pairs {
    int64_t n, cap;
    char **a, **b; /* text_a[i], text_b[i] */
    float *label;  /* 0 or 1 */
} ag_pairs;
AG_API ag_pairs *ag_pairs_new(void); /* empty; NULL only when out of memory */
AG_API void ag_pairs_free(ag_pairs *p);
AG_API ag_status ag_pairs_add(ag_pairs *p, const char *a, const char *b, float label,
                              ag_error *err);
/* TSV: text_a<TAB>text_b<TAB>label per line. Every row is checked: exactly
 * 3 fields, non-blank texts, label 0, 1, 0.0 or 1.0; LF or CRLF; a UTF-8 BOM
 * is skipped. The first bad row fails the load with its file and line:
 * "train.tsv:1234: expected 3 tab-separated fields, found 2". A file with no
 * pair fails too. Saving turns tabs and line breaks inside texts into
 * spaces and writes labels as 0/1. */
AG_API ag_pairs *ag_pairs_load(const char *path, ag_error *err);
AG_API ag_status ag_pairs_save(const ag_pairs *p, const char *path, ag_error *err);
/* The vocabulary of a training set: text_a then text_b, row by row. */
AG_API ag_vocab *ag_vocab_from_pairs(const ag_pairs *p, int max_tokens, ag_error *err);

/* Pairs encoded once with a vocabulary: text i's ids are
 * a_ids[a_off[i] .. a_off[i+1]) (same for b). max_len > 0 keeps only the
 * first max_len tokens of each text; 0 keeps all. */
typedef struct ag_pair_ids {
    int64_t n;
    int64_t *a_off, *b_off; /* (n+1) */
    int32_t *a_ids, *b_ids;
    float *label;            /* (n) */
    int64_t n_tokens, n_oov; /* ids stored, and how many of them are [UNK] */
    int64_t n_truncated;     /* texts longer than max_len (cut to it)         */
} ag_pair_ids;
AG_API ag_pair_ids *ag_pair_ids_encode(const ag_pairs *p, const ag_vocab *v, int64_t max_len,
                                       ag_error *err);
AG_API void ag_pair_ids_free(ag_pair_ids *d);
/* A batch of the rows rows[0..B-1]: a (B,Ta) and b (B,Tb) int32 ids padded
 * with 0 to the batch's own longest text (never a global maximum), y (B,1)
 * float32 labels (y may be NULL). The tensors (from ag_tensor_new, or
 * embedded) are resized in place, reusing their storage. */
AG_API ag_status ag_pair_batch(const ag_pair_ids *d, const int64_t *rows, int64_t n_rows,
                               ag_tensor *a, ag_tensor *b, ag_tensor *y, ag_error *err);

/* The KJV <-> WEB (or Reina-Valera) pairs (data/README.md gives the rules in full).
 * From two diatheke plain exports (`diatheke -b engKJV2006eb -f plain -k
 * "Genesis 1:1-Revelation of John 22:21"`): verse lines
 * ^\s*(.+?) (\d+):(\d+): (.*)$ (other lines ignored), Strong's numbers
 * (<H2416>, <G3361>) deleted with the space before them, texts trimmed, empty
 * verses dropped, only verses both have, in A's order; split by chapter,
 * crc32("Book Chapter") % 10: 0 test, 1 validation, else training; per
 * verse a positive (A, B, 1) and a negative (A, B of another verse of the
 * split, 0): with probability 1/2 a verse within ±3 in the same chapter
 * (when there is one), else any other verse of the split; each split
 * shuffled. ag_rng(seed, 1 + split) drives it, so a seed fixes the output. */
enum { AG_SPLIT_TRAIN = 0, AG_SPLIT_VAL = 1, AG_SPLIT_TEST = 2 };
typedef struct ag_bible_stats {
    int64_t verses_a, verses_b; /* non-empty verse lines in each export      */
    int64_t common;             /* verses both exports have                  */
    int64_t verses[3];          /* per split (AG_SPLIT_*)                    */
    int64_t pairs[3];           /* pairs written per split                   */
    int64_t near_negatives[3];  /* negatives taken from within ±3 verses     */
    int64_t markup_a, markup_b; /* Strong's numbers deleted from each export */
} ag_bible_stats;
/* The split of a chapter: AG_SPLIT_TEST, _VAL or _TRAIN. */
AG_API int ag_bible_split(const char *book, long chapter);
/* From the two exports' text (NUL-terminated) into out[AG_SPLIT_*]
 * (appended to). stats may be NULL. */
AG_API ag_status ag_bible_pairs(const char *export_a, const char *export_b, uint64_t seed,
                                ag_pairs *out[3], ag_bible_stats *stats, ag_error *err);
/* Writes out[AG_SPLIT_*] to out_dir/train.tsv, val.tsv and test.tsv,
 * creating out_dir (and its parents) when missing. */
AG_API ag_status ag_bible_save(ag_pairs *const out[3], const char *out_dir, ag_error *err);
/* Creates dir and any missing parents (mkdir -p); fails when a part exists
 * and is not a directory. */
AG_API ag_status ag_make_dirs(const char *dir, ag_error *err);
/* From two export files into out_dir, as ag_bible_pairs then ag_bible_save. */
AG_API ag_status ag_bible_build(const char *path_a, const char *path_b, const char *out_dir,
                                uint64_t seed, ag_bible_stats *stats, ag_error *err);

/* Attention weights as a PNG heatmap: weights (tq, tv) row-major, query
 * tokens down the left side, value tokens across the top (rotated 90°, read
 * bottom to top), cells coloured with viridis from 0 to the largest weight
 * (and showing their weight when large enough), a colour bar with tick
 * labels, and a title (NULL for none). Token lists may be NULL (indices are
 * shown); labels longer than 24 characters are cut with "…". Cells are 16
 * to 44 pixels, filling about 900 pixels along the longer side. Text is
 * drawn with DejaVu Sans through stb_truetype; AG_FONT names another .ttf
 * file; a missing font is an AG_ERR_IO naming the file and the Debian
 * package. Weights must be finite and >= 0; 1 <= tq, tv <= 1000. info (may
 * be NULL) receives the picture's layout. */
typedef struct ag_heatmap_info {
    int width, height; /* of the picture                        */
    int cell;          /* side of a cell                         */
    int x0, y0;        /* top-left corner of cell (0, 0)         */
} ag_heatmap_info;
AG_API ag_status ag_heatmap_png(const char *path, const float *weights, int tq, int tv,
                                const char *const *query_tokens, const char *const *value_tokens,
                                const char *title, ag_heatmap_info *info, ag_error *err);

/* ------------------------------------------------------------------------ */
/* Text-pair models                                                          */
/* ------------------------------------------------------------------------ */
/* The Decomposable Attention model (Parikh et al. 2016, "A Decomposable
 * Attention Model for Natural Language Inference") with ESIM's comparison
 * features, in Keras layers (docs/decomposable.md draws it):
 *   text_a (B,Ta), text_b (B,Tb) int32 ids, 0 = padding
 *   Embedding(max_tokens, dim, mask_zero=True), shared     -> a (B,Ta,dim), b
 *   attend:    F = [Dropout, Dense(units, relu)] x attend_layers, shared
 *              Attention() named "attention", called twice (masks both ways):
 *              β = Attention([F(a), b, F(b)])  a's tokens over b   (B,Ta,dim)
 *              α = Attention([F(b), a, F(a)])  b's tokens over a   (B,Tb,dim)
 *   compare:   G = [Dropout, Dense(units, relu)] x compare_layers, shared
 *              v_a = G(Concatenate([a, β, Subtract([a, β]), Multiply([a, β])]))
 *              v_b = G(Concatenate([b, α, Subtract([b, α]), Multiply([b, α])]))
 *   aggregate: GlobalAveragePooling1D (mask-aware) of v_a and of v_b,
 *              Concatenate -> Dropout, Dense(units, relu) -> Dense(1, sigmoid)
 * Dropout layers are left out when dropout is 0. The attention layer's
 * first call is a over b: its scores are the a -> b heatmap. NULL (err set)
 * on a bad size or no memory. */
typedef struct ag_decomposable_config {
    int64_t max_tokens, dim, units;
    int attend_layers, compare_layers; /* >= 1 */
    double dropout;                    /* [0, 1) */
    ag_dtype dtype;                    /* AG_FLOAT32, or AG_FLOAT64 to gradient-check */
    uint64_t seed;
} ag_decomposable_config;
/* max_tokens 10000, dim 64, units 64, one layer each, dropout 0.1, float32,
 * seed 1337. */
AG_API ag_decomposable_config ag_decomposable_defaults(void);
AG_API ag_model *ag_decomposable_model(const ag_decomposable_config *c, ag_error *err);

/* A Keras-style Transformer encoder (Vaswani et al. 2017, as Keras's
 * "text classification with Transformer" example writes it) over both texts
 * of a pair, with learned position embeddings:
 *   text_a (B,Ta), text_b (B,Tb) int32 ids, 0 = padding
 *   x = Dropout(Add([Embedding(max_tokens, dim, mask_zero=True)(ids),
 *                    PositionEmbedding(max_len)(...)]))            (B,T,dim)
 *   layers × encoder block, shared by both texts:
 *     x = LayerNormalization(1e-6)(Add([x, Dropout(MultiHeadAttention(
 *             num_heads, key_dim=dim/num_heads, dropout)([x, x]))]))
 *     x = LayerNormalization(1e-6)(Add([x, Dropout(Dense(dim)(Dense(ff_dim,
 *             relu)(x)))]))
 *   h_a, h_b = GlobalAveragePooling1D (mask-aware) of each text    (B,dim)
 *   Concatenate([h_a, h_b, Subtract([h_a, h_b]), Multiply([h_a, h_b])])
 *   -> Dropout -> Dense(units, relu) -> Dense(1, sigmoid)           (B,1)
 * The padding masks ride through every layer: attention never looks at a
 * padded key, and the pooling averages real tokens only. The first block's
 * MultiHeadAttention is named "attention". Texts longer than max_len fail
 * the run: truncate them (ag_pair_ids_encode's max_len). Dropout layers are
 * left out when dropout is 0. NULL (err set) on a bad size or no memory. */
typedef struct ag_transformer_config {
    int64_t max_tokens, max_len, dim, num_heads, ff_dim, units;
    int layers;     /* encoder blocks, 1 to 16 */
    double dropout; /* [0, 1) */
    ag_dtype dtype; /* AG_FLOAT32, or AG_FLOAT64 to gradient-check */
    uint64_t seed;
} ag_transformer_config;
/* max_tokens 10000, max_len 256, dim 64, 4 heads, ff_dim 128, units 64, one
 * block, dropout 0.1, float32, seed 1337. */
AG_API ag_transformer_config ag_transformer_defaults(void);
AG_API ag_model *ag_transformer_model(const ag_transformer_config *c, ag_error *err);

#ifdef __cplusplus
}
#endif
#endif /* ATTOGRAD_APP_H */
