/* cmd_train.c — `attograd train --data DIR ...`: the text-similarity model
 * end to end. Reads DIR/train.tsv, val.tsv, test.tsv; builds the vocabulary
 * from the training pairs; trains the seeds' CNN+Attention network with
 * Keras's defaults (Adam 0.001, binary cross-entropy, batch 64), printing
 * Keras's progress lines and each epoch's validation loss and accuracy;
 * keeps the weights of the epoch with the lowest validation loss; reports
 * test accuracy, AUC and loss and the training throughput; saves the model
 * with its vocabulary; draws a few validation pairs' attention heatmaps.
 *
 * Under `mpirun -np N` with --shards K the ranks train data-parallel
 * (ag_fit_options.shards): the weights are those of the one-process run
 * with the same K, bit for bit. Every rank reads the data and builds the
 * model; rank 0 alone prints and writes files. The ranks agree on their
 * status at each stage, so a failure on any rank ends all of them, rank 0
 * printing the failing rank's message. */
#include "attograd_dist.h"
#include "similarity.h"
#include "tools.h"

#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: attograd train --data DIR [options]\n"
        "Trains a text-similarity network on DIR/train.tsv, keeps the epoch with the lowest\n"
        "loss on DIR/val.tsv, and reports accuracy, AUC and loss on DIR/test.tsv beside the\n"
        "word-overlap baseline's (text_a<TAB>text_b<TAB>label files; `attograd dataset bible`\n"
        "makes them).\n"
        "  --model NAME         cnn-attention (default: the seeds' CNN+Attention network),\n"
        "                       decomposable (Parikh et al.'s attend-compare-aggregate model)\n"
        "                       or transformer (a Transformer encoder over both texts)\n"
        "  --attention MODE     cnn-attention's attention: dot (default), concat or additive\n"
        "  --epochs N           training epochs (default 4)\n"
        "  --batch-size N       pairs per step (default 64)\n"
        "  --learning-rate X    Adam's learning rate (default 0.001)\n"
        "  --max-tokens N       vocabulary size, padding and [UNK] included (default 10000)\n"
        "  --dim N              embedding dimension (default 64)\n"
        "  --filters N          cnn-attention's Conv1D filters (default 100)\n"
        "  --units N            decomposable's feed-forward width, transformer's Dense width\n"
        "                       before the output (default 64)\n"
        "  --attend-layers N    decomposable's layers in F, the attend net (default 1)\n"
        "  --compare-layers N   decomposable's layers in G, the compare net (default 1)\n"
        "  --dropout X          decomposable's dropout before each Dense, transformer's\n"
        "                       dropout (default 0.1)\n"
        "  --heads N            transformer's attention heads (default 4; dim a multiple of it)\n"
        "  --ff-dim N           transformer's feed-forward width (default 128)\n"
        "  --blocks N           transformer's encoder blocks (default 1)\n"
        "  --max-length N       texts keep their first N tokens (also --max-len; saved with the\n"
        "                       model; the transformer's position table): default 100, 256 for\n"
        "                       the transformer (of the Bible pairs only the WEB's Romans 14:23\n"
        "                       is longer than 100)\n"
        "  --patience N         stop after N epochs without a lower val_loss (default: never)\n"
        "  --bucket N           batch pairs of similar length: sort each run of N batches'\n"
        "                       pairs by length, then shuffle the batches (less padding,\n"
        "                       faster; validation too, not the test pairs, so that the test\n"
        "                       figures are `attograd evaluate`'s; default 0 = off for\n"
        "                       cnn-attention, 20 for the others)\n"
        "  --seed N             initialisation and shuffling seed (default 1337)\n"
        "  --threads N          OpenMP threads (default: all cores)\n"
        "  --limit N            train on the first N training pairs only\n"
        "  --save MODEL         write the model and its vocabulary (.safetensors)\n"
        "  --heatmaps DIR       write a few validation pairs' attention heatmaps there\n"
        "  --checkpoint DIR     at the end of every epoch, write DIR/epoch-N.safetensors\n"
        "                       atomically: weights, Adam's moments and step, the epoch, the\n"
        "                       shuffle position and the best epoch so far (newest two kept)\n"
        "  --resume             continue from the newest good checkpoint in DIR: the final\n"
        "                       weights are those of an uninterrupted run, bit for bit\n"
        "  --shards K           cut each batch into K micro-shards, spread over the ranks of\n"
        "                       `mpirun -np N` (needed when N > 1); the weights depend on K,\n"
        "                       never on N (default 0: whole batches)\n");
}

/* One run's ranks and its first error. */
typedef struct run {
    ag_dist *d;
    int rank;
    ag_status st;
    char msg[AG_ERRMSG_SIZE];
} run;

/* Records this rank's first error. */
static void fail(run *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void fail(run *r, const char *fmt, ...)
{
    if (r->st) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->st = AG_ERR_STATE;
}

/* A stage every rank reaches: 1 when no rank has failed; otherwise every
 * rank returns 0 and rank 0 prints the failing rank's message. */
static int all_ok(run *r)
{
    ag_error err = {0};
    if (!ag_dist_agree(r->d, r->st, r->msg, &err)) return 1;
    if (r->rank == 0) fprintf(stderr, "attograd train: %s\n", err.msg);
    if (!r->st) r->st = AG_ERR_STATE;
    return 0;
}

static ag_pairs *load(run *r, const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ag_error err = {0};
    ag_pairs *p = ag_pairs_load(path, &err);
    if (!p) fail(r, "%s", err.msg);
    return p;
}

/* Creates the heatmap directory and the saved model's directory before
 * training, so that a bad path fails at once instead of after the epochs. */
static int output_dirs(run *r, const char *save, const char *heat)
{
    ag_error err = {0};
    if (heat && ag_make_dirs(heat, &err)) {
        fail(r, "--heatmaps: %s", err.msg);
        return 0;
    }
    const char *slash = save ? strrchr(save, '/') : NULL;
    if (slash && slash != save) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - save), save);
        if (ag_make_dirs(dir, &err)) {
            fail(r, "--save: %s", err.msg);
            return 0;
        }
    }
    return 1;
}

/* Heatmaps of the first two positive and two negative validation pairs
 * whose texts have at most 30 tokens each. */
static void heatmaps(ag_model *m, const ag_vocab *v, int64_t max_len, const ag_pairs *val,
                     const char *dir)
{
    int want[2] = {2, 2};
    for (int64_t i = 0; i < val->n && (want[0] || want[1]); i++) {
        int y = val->label[i] > 0.5f;
        int64_t na = 0, nb = 0;
        char **ta = ag_tokenize(val->a[i], &na, NULL), **tb = ag_tokenize(val->b[i], &nb, NULL);
        free(ta);
        free(tb);
        if (!want[y] || na < 3 || nb < 3 || na > 30 || nb > 30) continue;
        want[y]--;
        char png[4200];
        snprintf(png, sizeof png, "%s/val_%05lld_label%d.png", dir, (long long)i + 1, y);
        double p;
        if (!sim_heatmap(m, v, max_len, val->a[i], val->b[i], png, "attograd train", &p))
            printf("heatmap: %s (label %d, p = %.3f)\n", png, y, p);
    }
}

/* The options, parsed; 0, or 2 for a usage error (r's message says why). */
typedef struct train_args {
    sim_config cfg;
    const char *data, *save, *heat, *checkpoint;
    int resume;
    long long epochs, batch, threads, limit, mt, dim, filters, shards;
    long long units, attend, compare, patience, bucket;
    long long heads, ff_dim, blocks, max_len;
    double lr, dropout;
    int attention_set;
    uint64_t seed;
} train_args;

static int parse_args(run *r, int argc, char **argv, train_args *t)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        opt_msg m;
        if (!strcmp(a, "--resume")) {
            t->resume = 1;
            continue;
        }
        if (!val) {
            fail(r, "unknown option or missing value '%s' (see --help)", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--data"))
            t->data = val;
        else if (!strcmp(a, "--save"))
            t->save = val;
        else if (!strcmp(a, "--heatmaps"))
            t->heat = val;
        else if (!strcmp(a, "--checkpoint"))
            t->checkpoint = val;
        else if (!strcmp(a, "--attention"))
            t->cfg.attention = val, t->attention_set = 1;
        else if (!strcmp(a, "--model"))
            t->cfg.model = val;
        else if (!strcmp(a, "--units"))
            ok = opt_int(m, a, val, 1, 100000, &t->units);
        else if (!strcmp(a, "--attend-layers"))
            ok = opt_int(m, a, val, 1, 8, &t->attend);
        else if (!strcmp(a, "--compare-layers"))
            ok = opt_int(m, a, val, 1, 8, &t->compare);
        else if (!strcmp(a, "--patience"))
            ok = opt_int(m, a, val, 1, 100000, &t->patience);
        else if (!strcmp(a, "--bucket"))
            ok = opt_int(m, a, val, 0, 1000000, &t->bucket);
        else if (!strcmp(a, "--heads"))
            ok = opt_int(m, a, val, 1, 1024, &t->heads);
        else if (!strcmp(a, "--ff-dim"))
            ok = opt_int(m, a, val, 1, 100000, &t->ff_dim);
        else if (!strcmp(a, "--blocks"))
            ok = opt_int(m, a, val, 1, 16, &t->blocks);
        else if (!strcmp(a, "--max-len") || !strcmp(a, "--max-length"))
            ok = opt_int(m, a, val, 1, 100000, &t->max_len);
        else if (!strcmp(a, "--dropout"))
            ok = opt_num(m, a, val, 0, 1, 0, 1, &t->dropout);
        else if (!strcmp(a, "--epochs"))
            ok = opt_int(m, a, val, 1, 100000, &t->epochs);
        else if (!strcmp(a, "--batch-size"))
            ok = opt_int(m, a, val, 1, 1000000, &t->batch);
        else if (!strcmp(a, "--threads"))
            ok = opt_int(m, a, val, 1, 1024, &t->threads);
        else if (!strcmp(a, "--limit"))
            ok = opt_int(m, a, val, 1, INT64_MAX, &t->limit);
        else if (!strcmp(a, "--seed"))
            ok = opt_u64(m, a, val, &t->seed);
        else if (!strcmp(a, "--max-tokens"))
            ok = opt_int(m, a, val, 3, 100000000, &t->mt);
        else if (!strcmp(a, "--dim"))
            ok = opt_int(m, a, val, 1, 65536, &t->dim);
        else if (!strcmp(a, "--filters"))
            ok = opt_int(m, a, val, 1, 65536, &t->filters);
        else if (!strcmp(a, "--shards"))
            ok = opt_int(m, a, val, 0, 1000000, &t->shards);
        else if (!strcmp(a, "--learning-rate"))
            ok = opt_num(m, a, val, 0, 1e300, 1, 0, &t->lr);
        else {
            fail(r, "unknown option '%s' (see --help)", a);
            return 2;
        }
        if (!ok) {
            fail(r, "%s", m);
            return 2;
        }
    }
    if (!t->data) {
        fail(r, "--data DIR is required (see --help)");
        return 2;
    }
    if (t->resume && !t->checkpoint) {
        fail(r, "--resume needs --checkpoint DIR (see --help)");
        return 2;
    }
    if (strcmp(t->cfg.model, "cnn-attention") && strcmp(t->cfg.model, "decomposable") &&
        strcmp(t->cfg.model, "transformer")) {
        fail(r, "--model must be cnn-attention, decomposable or transformer, received '%s'",
             t->cfg.model);
        return 2;
    }
    int transformer = !strcmp(t->cfg.model, "transformer");
    if (t->attention_set && strcmp(t->cfg.model, "cnn-attention")) {
        fail(r, "--attention is cnn-attention's option; --model %s uses %s", t->cfg.model,
             transformer ? "MultiHeadAttention" : "dot attention");
        return 2;
    }
    if (transformer && t->dim % t->heads) {
        fail(r, "--dim %lld must be a multiple of --heads %lld (each head gets dim/heads)", t->dim,
             t->heads);
        return 2;
    }
    if (transformer && t->heat) {
        fail(r, "--heatmaps draws one text's attention over the other's; the transformer's "
                "attention is within each text");
        return 2;
    }
    int n = ag_dist_size(r->d);
    if (n > 1 && !t->shards) {
        fail(r,
             "%d ranks need --shards K (each batch is cut into K micro-shards spread over the "
             "ranks; the weights depend on K, never on the number of ranks)",
             n);
        return 2;
    }
    return 0;
}

static int train(run *R, int argc, char **argv)
{
    train_args t = {.cfg = {.attention = "dot", .model = "cnn-attention"},
                    .epochs = 4,
                    .batch = 64,
                    .seed = 1337,
                    .mt = 10000,
                    .dim = 64,
                    .filters = 100,
                    .units = 64,
                    .attend = 1,
                    .compare = 1,
                    .heads = 4,
                    .ff_dim = 128,
                    .blocks = 1,
                    .max_len = 0,
                    .lr = 0.001,
                    .dropout = 0.1,
                    .bucket = -1};
    int usage_rc = parse_args(R, argc, argv, &t);
    if (!all_ok(R)) return usage_rc ? usage_rc : 2;
    sim_config cfg = t.cfg;
    const char *data = t.data, *save = t.save, *heat = t.heat;
    long long epochs = t.epochs, batch = t.batch, limit = t.limit;
    double lr = t.lr;
    int root = R->rank == 0;
    cfg.max_tokens = (int)t.mt, cfg.dim = (int)t.dim, cfg.filters = (int)t.filters;
    cfg.units = (int)t.units, cfg.attend_layers = (int)t.attend;
    cfg.compare_layers = (int)t.compare, cfg.dropout = t.dropout;
    long long bucket = t.bucket >= 0 ? t.bucket : strcmp(cfg.model, "cnn-attention") ? 20 : 0;
    cfg.heads = (int)t.heads, cfg.ff_dim = (int)t.ff_dim, cfg.blocks = (int)t.blocks;
    if (!t.max_len) t.max_len = !strcmp(cfg.model, "transformer") ? 256 : SIM_MAX_LENGTH;
    cfg.max_len = (int)t.max_len;
    /* every text keeps its first max_len tokens (the transformer's position
     * table is that long) */
    const int64_t cut = t.max_len;
    cfg.seed = t.seed;
    if (t.threads) omp_set_num_threads((int)t.threads);
    if (root) output_dirs(R, save, heat); /* only rank 0 writes files */
    ag_error derr = {0};
    if (root && !R->st && t.checkpoint && ag_make_dirs(t.checkpoint, &derr))
        fail(R, "--checkpoint: %s", derr.msg);
    /* what a checkpoint must have been written with to be resumed */
    char tag[1400];
    snprintf(tag, sizeof tag,
             "attograd train --data %s --model %s --attention %s --batch-size %lld "
             "--learning-rate %a --max-tokens %d --dim %d --filters %d --units %d "
             "--attend-layers %d --compare-layers %d --heads %d --ff-dim %d --blocks %d "
             "--dropout %a --bucket %lld --seed %llu --limit %lld --max-length %lld --shards %lld",
             data, cfg.model, cfg.attention, batch, lr, cfg.max_tokens, cfg.dim, cfg.filters,
             cfg.units, cfg.attend_layers, cfg.compare_layers, cfg.heads, cfg.ff_dim, cfg.blocks,
             cfg.dropout, bucket, (unsigned long long)cfg.seed, limit, (long long)cut, t.shards);

    int rc = 1;
    ag_pairs *tr = R->st ? NULL : load(R, data, "train.tsv");
    ag_pairs *va = tr ? load(R, data, "val.tsv") : NULL;
    ag_pairs *te = va ? load(R, data, "test.tsv") : NULL;
    ag_vocab *v = NULL;
    ag_pair_ids *dtr = NULL, *dva = NULL, *dte = NULL;
    ag_model *m = NULL;
    sim_source str = {0}, sva = {0}, ste = {0};
    ag_history h = {0};
    ag_error err = {0};
    char msg[512];
    if (te && limit && limit < tr->n) {
        for (int64_t i = limit; i < tr->n; i++)
            free(tr->a[i]), free(tr->b[i]);
        tr->n = limit;
    }
    if (te &&
        (!(v = ag_vocab_from_pairs(tr, cfg.max_tokens, &err)) ||
         !(dtr = ag_pair_ids_encode(tr, v, cut, &err)) ||
         !(dva = ag_pair_ids_encode(va, v, cut, &err)) ||
         !(dte = ag_pair_ids_encode(te, v, cut, &err)) ||
         sim_source_init(&str, dtr, batch, cfg.seed ? cfg.seed : 1, &err) ||
         sim_source_init(&sva, dva, batch, 0, &err) || sim_source_init(&ste, dte, batch, 0, &err) ||
         sim_source_bucket(&str, bucket, &err) || sim_source_bucket(&sva, bucket, &err)))
        fail(R, "%s", err.msg);
    if (!R->st && !(m = sim_build(&cfg, msg, sizeof msg))) fail(R, "%s", msg);
    sim_baseline_figures base = {0};
    int have_base = root && !R->st && !sim_baseline(va, te, &base);
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = lr;
    if (m && ag_model_compile(m, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0,
                              AG_METRIC_ACCURACY | AG_METRIC_AUC))
        fail(R, "%s", ag_model_error(m));
    if (!all_ok(R)) goto done;
    sva.timed = &str;
    if (root) {
        printf("pairs: train %lld, val %lld, test %lld; vocabulary %d entries; unknown tokens: "
               "val %.1f%%, test %.1f%%\n",
               (long long)tr->n, (long long)va->n, (long long)te->n, ag_vocab_size(v),
               100.0 * (double)dva->n_oov / (double)dva->n_tokens,
               100.0 * (double)dte->n_oov / (double)dte->n_tokens);
        sim_report_truncated("attograd train", "train.tsv", dtr, cut);
        sim_report_truncated("attograd train", "val.tsv", dva, cut);
        sim_report_truncated("attograd train", "test.tsv", dte, cut);
        if (have_base)
            printf("word-overlap baseline (Jaccard > %.4f, tuned on validation): val accuracy "
                   "%.4f - auc %.4f; test accuracy %.4f - auc %.4f\n",
                   base.threshold, base.val_accuracy, base.val_auc, base.test_accuracy,
                   base.test_auc);
        ag_model_summary(m, stdout);
        if (!strcmp(cfg.model, "cnn-attention"))
            printf("cnn-attention, %s attention, ", cfg.attention);
        else if (!strcmp(cfg.model, "transformer"))
            printf("transformer: %d block%s, %d heads, dim %d, ff %d, units %d, dropout %g, texts "
                   "cut to %d tokens, ",
                   cfg.blocks, cfg.blocks == 1 ? "" : "s", cfg.heads, cfg.dim, cfg.ff_dim,
                   cfg.units, cfg.dropout, cfg.max_len);
        else
            printf("decomposable attention, dim %d, units %d, %d+%d layers, dropout %g, ", cfg.dim,
                   cfg.units, cfg.attend_layers, cfg.compare_layers, cfg.dropout);
        printf("%d threads, batch %lld%s, Adam %g, %lld epochs\n", omp_get_max_threads(), batch,
               bucket ? " (length buckets)" : "", lr, epochs);
        if (t.shards)
            printf("data parallel: %d rank%s, %lld shards per batch\n", ag_dist_size(R->d),
                   ag_dist_size(R->d) == 1 ? "" : "s", t.shards);
        fflush(stdout);
    }

    ag_fit_options o = ag_fit_defaults();
    o.epochs = (int)epochs;
    o.shuffle = 0; /* the source reshuffles the pairs themselves each epoch */
    o.verbose = 1;
    o.val_source = &sva.src;
    o.early_stopping = 1; /* keeps the best epoch; stops only with --patience */
    o.patience = t.patience ? (int)t.patience : (int)epochs + 1;
    o.restore_best_weights = 1;
    o.shards = (int)t.shards;
    o.dist = R->d;
    o.begin_epoch = sim_source_begin_epoch;
    o.begin_epoch_user = &str;
    o.checkpoint_dir = t.checkpoint;
    o.checkpoint_tag = tag;
    o.resume = t.resume;
    double t0 = sim_now();
    if (ag_model_fit_source(m, &str.src, &o, &h)) {
        /* fit has agreed: every rank holds the failing rank's message */
        if (root) fprintf(stderr, "attograd train: %s\n", ag_model_error(m));
        if (root && t.checkpoint && ag_model_status(m) == AG_ERR_NONFINITE)
            fprintf(stderr,
                    "attograd train: nothing was saved; %s keeps the checkpoints of the "
                    "epochs before (--resume continues from the last good one)\n",
                    t.checkpoint);
        goto done;
    }
    double wall = sim_now() - t0, per_epoch = sva.timed_total / (h.epochs ? h.epochs : 1);
    if (root && h.best_epoch >= 0)
        printf("best epoch %d of %d (val_loss %.4f - val_accuracy %.4f - val_auc %.4f)\n",
               h.best_epoch + 1, h.epochs, h.val_loss[h.best_epoch], h.val_metric[0][h.best_epoch],
               h.val_metric[1][h.best_epoch]);
    else if (root)
        printf("no epoch had a finite val_loss: keeping the last epoch's weights\n");

    double loss, metric[AG_MAX_METRICS];
    if (ag_model_evaluate_source(m, &ste.src, &loss, metric)) {
        fail(R, "%s", ag_model_error(m));
    } else if (root) {
        printf("test: accuracy %.4f - auc %.4f - loss %.4f\n", metric[0], metric[1], loss);
        if (have_base)
            printf("      word-overlap baseline: accuracy %.4f - auc %.4f (%s by %.4f)\n",
                   base.test_accuracy, base.test_auc,
                   metric[0] >= base.test_accuracy ? "the model beats it" : "it beats the model",
                   fabs(metric[0] - base.test_accuracy));
        printf("training: %.1f s per epoch, %.0f pairs per second (%.0f s in all with "
               "validation)\n",
               per_epoch, (double)tr->n / per_epoch, wall);
    }

    if (root && save && !R->st) {
        char *vs = ag_vocab_to_string(v, &err);
        char mts[32];
        snprintf(mts, sizeof mts, "%d", cfg.max_tokens);
        int tf = !strcmp(cfg.model, "transformer");
        char ml[32];
        snprintf(ml, sizeof ml, "%d", cfg.max_len);
        const char *keys[5] = {"vocabulary", "task", "attention", "model", "max_len"};
        const char *vals[5] = {vs, "text-similarity",
                               tf                                   ? "multi_head"
                               : strcmp(cfg.model, "cnn-attention") ? "dot"
                                                                    : cfg.attention,
                               cfg.model, ml};
        if (!vs || ag_model_save(m, save, keys, vals, 5))
            fail(R, "%s", vs ? ag_model_error(m) : err.msg);
        else
            printf("saved %s\n", save);
        free(vs);
    }
    if (root && heat && !R->st) heatmaps(m, v, cut, va, heat);
    if (all_ok(R)) rc = 0;
done:
    ag_history_release(&h);
    sim_source_release(&str);
    sim_source_release(&sva);
    sim_source_release(&ste);
    ag_model_free(m);
    ag_pair_ids_free(dtr);
    ag_pair_ids_free(dva);
    ag_pair_ids_free(dte);
    ag_vocab_free(v);
    ag_pairs_free(tr);
    ag_pairs_free(va);
    ag_pairs_free(te);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    ag_error err = {0};
    run R = {0};
    R.d = ag_dist_init(&argc, &argv, &err);
    if (!R.d) {
        fprintf(stderr, "attograd train: %s\n", err.msg);
        return 1;
    }
    R.rank = ag_dist_rank(R.d);
    int rc = train(&R, argc, argv);
    ag_dist_finalize(R.d);
    return rc;
}
