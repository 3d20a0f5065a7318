/* cmd_train.c — `attograd train --data DIR ...`: the text-similarity model
 * end to end. Reads DIR/train.tsv, val.tsv, test.tsv; builds the vocabulary
 * from the training pairs; trains the seeds' CNN+Attention network with
 * Keras's defaults (Adam 0.001, binary cross-entropy, batch 64), printing
 * Keras's progress lines and each epoch's validation loss and accuracy;
 * keeps the weights of the epoch with the lowest validation loss; reports
 * test accuracy, AUC and loss and the training throughput; saves the model
 * with its vocabulary; draws a few validation pairs' attention heatmaps. */
#include "similarity.h"
#include "tools.h"

#include <errno.h>
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
        "Trains the CNN+Attention text-similarity network on DIR/train.tsv, keeps the epoch\n"
        "with the lowest loss on DIR/val.tsv, and reports accuracy, AUC and loss on\n"
        "DIR/test.tsv (text_a<TAB>text_b<TAB>label files; `attograd dataset bible` makes them).\n"
        "  --attention MODE     dot (default), concat or additive\n"
        "  --epochs N           training epochs (default 4)\n"
        "  --batch-size N       pairs per step (default 64)\n"
        "  --learning-rate X    Adam's learning rate (default 0.001)\n"
        "  --max-tokens N       vocabulary size, padding and [UNK] included (default 10000)\n"
        "  --dim N              embedding dimension (default 64)\n"
        "  --filters N          Conv1D filters (default 100)\n"
        "  --seed N             initialisation and shuffling seed (default 1337)\n"
        "  --threads N          OpenMP threads (default: all cores)\n"
        "  --limit N            train on the first N training pairs only\n"
        "  --max-length N       texts keep their first N tokens (default 100, which truncates\n"
        "                       no Bible verse but Esther 8:9); saved with the model\n"
        "  --save MODEL         write the model and its vocabulary (.safetensors)\n"
        "  --heatmaps DIR       write a few validation pairs' attention heatmaps there\n");
}

static ag_pairs *load(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ag_error err = {0};
    ag_pairs *p = ag_pairs_load(path, &err);
    if (!p) fprintf(stderr, "attograd train: %s\n", err.msg);
    return p;
}

/* Creates the heatmap directory and the saved model's directory before
 * training, so that a bad path fails at once instead of after the epochs. */
static int output_dirs(const char *save, const char *heat)
{
    ag_error err = {0};
    if (heat && ag_make_dirs(heat, &err)) {
        fprintf(stderr, "attograd train: --heatmaps: %s\n", err.msg);
        return 0;
    }
    const char *slash = save ? strrchr(save, '/') : NULL;
    if (slash && slash != save) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - save), save);
        if (ag_make_dirs(dir, &err)) {
            fprintf(stderr, "attograd train: --save: %s\n", err.msg);
            return 0;
        }
    }
    return 1;
}

/* Heatmaps of the first two positive and two negative validation pairs
 * whose texts have at most 30 tokens each. */
static void heatmaps(ag_model *m, const ag_vocab *v, int64_t max_length, const ag_pairs *val,
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
        if (!sim_heatmap(m, v, max_length, val->a[i], val->b[i], png, "attograd train", &p))
            printf("heatmap: %s (label %d, p = %.3f)\n", png, y, p);
    }
}

int cmd_train(int argc, char **argv)
{
    sim_config cfg = {"dot", 10000, 64, 100, 1337};
    const char *data = NULL, *save = NULL, *heat = NULL;
    const char *who = "attograd train";
    long long epochs = 4, batch = 64, threads = 0, limit = 0, mt = 10000, dim = 64, filters = 100,
              max_length = SIM_MAX_LENGTH;
    uint64_t seed = 1337;
    double lr = 0.001;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!val) {
            fprintf(stderr, "attograd train: unknown option or missing value '%s' (see --help)\n",
                    a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--data"))
            data = val;
        else if (!strcmp(a, "--save"))
            save = val;
        else if (!strcmp(a, "--heatmaps"))
            heat = val;
        else if (!strcmp(a, "--attention"))
            cfg.attention = val;
        else if (!strcmp(a, "--epochs"))
            ok = opt_int(who, a, val, 1, 100000, &epochs);
        else if (!strcmp(a, "--batch-size"))
            ok = opt_int(who, a, val, 1, 1000000, &batch);
        else if (!strcmp(a, "--threads"))
            ok = opt_int(who, a, val, 1, 1024, &threads);
        else if (!strcmp(a, "--limit"))
            ok = opt_int(who, a, val, 1, INT64_MAX, &limit);
        else if (!strcmp(a, "--seed"))
            ok = opt_u64(who, a, val, &seed);
        else if (!strcmp(a, "--max-tokens"))
            ok = opt_int(who, a, val, 3, 100000000, &mt);
        else if (!strcmp(a, "--dim"))
            ok = opt_int(who, a, val, 1, 65536, &dim);
        else if (!strcmp(a, "--filters"))
            ok = opt_int(who, a, val, 1, 65536, &filters);
        else if (!strcmp(a, "--max-length"))
            ok = opt_int(who, a, val, 1, 1000000, &max_length);
        else if (!strcmp(a, "--learning-rate"))
            ok = opt_num(who, a, val, 0, 1e300, 1, 0, &lr);
        else {
            fprintf(stderr, "attograd train: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (!ok) return 2;
    }
    if (!data) {
        fprintf(stderr, "attograd train: --data DIR is required (see --help)\n");
        return 2;
    }
    cfg.max_tokens = (int)mt, cfg.dim = (int)dim, cfg.filters = (int)filters;
    cfg.seed = seed;
    if (threads) omp_set_num_threads((int)threads);
    if (!output_dirs(save, heat)) return 1;

    int rc = 1;
    ag_pairs *tr = load(data, "train.tsv"), *va = tr ? load(data, "val.tsv") : NULL;
    ag_pairs *te = va ? load(data, "test.tsv") : NULL;
    ag_vocab *v = NULL;
    ag_pair_ids *dtr = NULL, *dva = NULL, *dte = NULL;
    ag_model *m = NULL;
    sim_source str = {0}, sva = {0}, ste = {0};
    ag_history h = {0};
    ag_error err = {0};
    char msg[512];
    if (!te) goto done;
    if (limit && limit < tr->n) {
        for (int64_t i = limit; i < tr->n; i++)
            free(tr->a[i]), free(tr->b[i]);
        tr->n = limit;
    }
    if (!(v = ag_vocab_from_pairs(tr, cfg.max_tokens, &err)) ||
        !(dtr = ag_pair_ids_encode(tr, v, max_length, &err)) ||
        !(dva = ag_pair_ids_encode(va, v, max_length, &err)) ||
        !(dte = ag_pair_ids_encode(te, v, max_length, &err)) ||
        sim_source_init(&str, dtr, batch, cfg.seed ? cfg.seed : 1, &err) ||
        sim_source_init(&sva, dva, batch, 0, &err) || sim_source_init(&ste, dte, batch, 0, &err)) {
        fprintf(stderr, "attograd train: %s\n", err.msg);
        goto done;
    }
    sva.timed = &str;
    sim_report_truncated(who, "train.tsv", dtr, max_length);
    sim_report_truncated(who, "val.tsv", dva, max_length);
    sim_report_truncated(who, "test.tsv", dte, max_length);
    printf("pairs: train %lld, val %lld, test %lld; vocabulary %d entries; unknown tokens: "
           "val %.1f%%, test %.1f%%\n",
           (long long)tr->n, (long long)va->n, (long long)te->n, ag_vocab_size(v),
           100.0 * (double)dva->n_oov / (double)dva->n_tokens,
           100.0 * (double)dte->n_oov / (double)dte->n_tokens);
    if (!(m = sim_build(&cfg, msg, sizeof msg))) {
        fprintf(stderr, "attograd train: %s\n", msg);
        goto done;
    }
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = lr;
    if (ag_model_compile(m, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0,
                         AG_METRIC_ACCURACY | AG_METRIC_AUC)) {
        fprintf(stderr, "attograd train: %s\n", ag_model_error(m));
        goto done;
    }
    ag_model_summary(m, stdout);
    printf("%s attention, %d threads, batch %lld, Adam %g, %lld epochs\n", cfg.attention,
           omp_get_max_threads(), batch, lr, epochs);
    fflush(stdout);

    ag_fit_options o = ag_fit_defaults();
    o.epochs = (int)epochs;
    o.shuffle = 0; /* the source reshuffles the pairs themselves each epoch */
    o.verbose = 1;
    o.val_source = &sva.src;
    o.early_stopping = 1;         /* used only to keep the best epoch: */
    o.patience = (int)epochs + 1; /* it never stops training early */
    o.restore_best_weights = 1;
    double t0 = sim_now();
    if (ag_model_fit_source(m, &str.src, &o, &h)) {
        fprintf(stderr, "attograd train: %s\n", ag_model_error(m));
        goto done;
    }
    double wall = sim_now() - t0, per_epoch = sva.timed_total / h.epochs;
    if (h.best_epoch >= 0)
        printf("best epoch %d (val_loss %.4f - val_accuracy %.4f)\n", h.best_epoch + 1,
               h.val_loss[h.best_epoch], h.val_metric[0][h.best_epoch]);
    else
        printf("no epoch had a finite val_loss: keeping the last epoch's weights\n");

    double loss, metric[AG_MAX_METRICS];
    if (ag_model_evaluate_source(m, &ste.src, &loss, metric)) {
        fprintf(stderr, "attograd train: %s\n", ag_model_error(m));
        goto done;
    }
    printf("test: accuracy %.4f - auc %.4f - loss %.4f\n", metric[0], metric[1], loss);
    printf("training: %.1f s per epoch, %.0f pairs per second (%.0f s in all with validation)\n",
           per_epoch, (double)tr->n / per_epoch, wall);

    if (save) {
        char *vs = ag_vocab_to_string(v, &err);
        char mls[32];
        snprintf(mls, sizeof mls, "%lld", max_length);
        const char *keys[4] = {"vocabulary", "task", "attention", "max_length"};
        const char *vals[4] = {vs, "text-similarity", cfg.attention, mls};
        if (!vs || ag_model_save(m, save, keys, vals, 4)) {
            fprintf(stderr, "attograd train: %s\n", vs ? ag_model_error(m) : err.msg);
            free(vs);
            goto done;
        }
        free(vs);
        printf("saved %s\n", save);
    }
    if (heat) heatmaps(m, v, max_length, va, heat);
    rc = 0;
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
