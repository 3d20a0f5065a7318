/* attograd.c — the command-line program: `attograd <command> [options]`. */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const ag_command commands[] = {
    {"gradcheck", "check every built-in op's gradient against finite differences", cmd_gradcheck},
    {"attention",
     "Keras's Attention/AdditiveAttention/MultiHeadAttention on .npy files, with gradients and "
     "--explain",
     cmd_attention},
    {"dataset", "build the KJV/WEB paraphrase pairs (train/val/test TSV)", cmd_dataset},
    {"baseline", "word-overlap baseline on a pairs directory: threshold, accuracy, AUC",
     cmd_baseline},
    {"train", "train the CNN+Attention text-similarity model on a pairs directory", cmd_train},
    {"evaluate", "accuracy, AUC and loss of a saved model on a pairs file", cmd_evaluate},
    {"predict", "similarity probability of two texts (or of each pair of a file)", cmd_predict},
    {"heatmap", "draw a saved model's attention weights for two texts as a PNG", cmd_heatmap},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: attograd <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`attograd <command> --help` describes a command's options;\n"
               "`attograd --version` prints the version.\n");
}

/* The memory budget of every command: AG_MEMORY_LIMIT MiB, or half of the
 * machine's memory, so that a hostile input fails with a message instead of
 * driving the machine into swap or the OOM killer. */
static int set_memory_limit(void)
{
    const char *env = getenv("AG_MEMORY_LIMIT");
    long long mib = 0;
    if (env && !opt_int_or_say("attograd", "AG_MEMORY_LIMIT (MiB)", env, 1, 1LL << 30, &mib))
        return 0;
    uint64_t bytes = (uint64_t)mib << 20;
    if (!env) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0) bytes = (uint64_t)pages * (uint64_t)page / 2;
    }
    ag_set_memory_limit(bytes);
    return 1;
}

int main(int argc, char **argv)
{
    if (!set_memory_limit()) return 2;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("attograd %s\n", ag_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "attograd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
