/* cmd_dataset.c — `attograd dataset bible --out DIR [--pair kjv-web|kjv-rv]
 * [--seed N]`: the KJV <-> WEB paraphrase pairs, or the KJV <-> Reina-Valera
 * 1909 cross-lingual pairs (train.tsv, val.tsv, test.tsv) from Debian's SWORD
 * modules, exported with diatheke, or from two export files given. */
#include "tools.h"

#include <ctype.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define RANGE "Genesis 1:1-Revelation of John 22:21"

static void usage(FILE *f)
{
    fprintf(f, "usage: attograd dataset bible --out DIR [--pair kjv-web|kjv-rv] [--seed N]\n"
               "                              [--kjv FILE --web FILE]\n"
               "                              [--kjv-module NAME] [--web-module NAME]\n"
               "Builds DIR/train.tsv, val.tsv and test.tsv (text_a<TAB>text_b<TAB>label): each\n"
               "verse of the King James Version paired with the same verse of a second Bible\n"
               "(label 1) and with another verse's (label 0); chapters split by CRC-32 into\n"
               "training, validation and test. The rules are in data/README.md.\n"
               "  --out DIR          output directory (created when missing)\n"
               "  --pair NAME        kjv-web: the World English Bible, a paraphrase (default);\n"
               "                     kjv-rv: the Spanish Reina-Valera 1909, a translation\n"
               "  --seed N           seed of the negatives and the shuffles (default 1337)\n"
               "  --kjv, --web FILE  use these exports instead of running diatheke\n"
               "  --kjv-module NAME  SWORD module of the first text (default engKJV2006eb)\n"
               "  --web-module NAME  SWORD module of the second text (default: the pair's,\n"
               "                     engWEB2015eb or spaRV1909eb)\n"
               "Needs (Debian): sudo apt-get install diatheke sword-text-kjv sword-text-web\n"
               "                sword-text-sparv\n");
}

/* A SWORD module name: letters, digits, '_', '-' and '.', not starting
 * with '-' (diatheke would read an option), at most 64 characters. */
static int valid_module(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > 64 || m[0] == '-' || m[0] == '.') return 0;
    for (const char *c = m; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') return 0;
    return 1;
}

/* Runs diatheke on module (an argument vector, no shell: posix_spawnp with
 * its stdout and stderr on a pipe) and returns its whole output (malloc'd),
 * or NULL after printing why. */
static int check_module(const char *flag, const char *module)
{
    if (valid_module(module)) return 1;
    char e[160];
    fprintf(stderr,
            "attograd dataset: %s must be a SWORD module name (letters, digits, '_', '-', "
            "'.'; at most 64), received '%s'\n",
            flag, ag_escape(module, strlen(module), e, sizeof e));
    return 0;
}

static char *export_module(const char *flag, const char *module)
{
    if (!check_module(flag, module)) return NULL;
    fprintf(stderr, "running: diatheke -b %s -f plain -k \"%s\"\n", module, RANGE);
    int fd[2];
    if (pipe(fd) != 0) {
        fprintf(stderr, "attograd dataset: cannot create a pipe: %s\n", strerror(errno));
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    char *args[] = {"diatheke", "-b", (char *)module, "-f", "plain", "-k", RANGE, NULL};
    pid_t pid;
    int se = posix_spawnp(&pid, "diatheke", &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (se != 0) {
        close(fd[0]);
        fprintf(stderr,
                "attograd dataset: cannot run diatheke: %s.\n"
                "  Install it: sudo apt-get install diatheke sword-text-kjv sword-text-web\n"
                "  sword-text-sparv\n",
                strerror(se));
        return NULL;
    }
    FILE *p = fdopen(fd[0], "r");
    if (!p) {
        close(fd[0]);
        waitpid(pid, NULL, 0);
        fprintf(stderr, "attograd dataset: cannot read diatheke's output: %s\n", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (size_t got = 1; buf && got;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
            if (!buf) break;
        }
        got = fread(buf + n, 1, cap - n - 1, p);
        n += got;
    }
    fclose(p);
    int rc;
    while (waitpid(pid, &rc, 0) < 0 && errno == EINTR)
        ;
    if (!buf) {
        fprintf(stderr, "attograd dataset: out of memory reading diatheke's output\n");
        return NULL;
    }
    buf[n] = 0;
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) == 127) {
        fprintf(stderr,
                "attograd dataset: diatheke is not installed (or did not run).\n"
                "  Install it: sudo apt-get install diatheke sword-text-kjv sword-text-web\n");
        free(buf);
        return NULL;
    }
    /* diatheke prints little or nothing for a module it does not have */
    if (!strstr(buf, "Genesis 1:1:")) {
        char shown[900];
        fprintf(stderr,
                "attograd dataset: diatheke gave no verses for module %s (output: \"%s\").\n"
                "  Is the module installed? `diatheke -b system -k modulelist` lists them;\n"
                "  Debian's packages: sudo apt-get install sword-text-kjv sword-text-web\n",
                module, ag_escape(buf, strlen(buf) < 200 ? strlen(buf) : 200, shown, sizeof shown));
        free(buf);
        return NULL;
    }
    return buf;
}

static void print_stats(const ag_bible_stats *s, const char *out)
{
    static const char *const names[3] = {"train.tsv", "val.tsv", "test.tsv"};
    printf("verses: %lld in the first text, %lld in the second, %lld in both\n",
           (long long)s->verses_a, (long long)s->verses_b, (long long)s->common);
    if (s->markup_a || s->markup_b)
        printf("markup: %lld Strong's numbers (<H2416>, ...) deleted from the first text, %lld "
               "from the second\n",
               (long long)s->markup_a, (long long)s->markup_b);
    for (int k = 0; k < 3; k++)
        printf("%s/%-9s %6lld pairs from %5lld verses (%lld negatives from within ±3 verses)\n",
               out, names[k], (long long)s->pairs[k], (long long)s->verses[k],
               (long long)s->near_negatives[k]);
}

int cmd_dataset(int argc, char **argv)
{
    const char *out = NULL, *kjv = NULL, *web = NULL;
    const char *kjv_module = "engKJV2006eb", *web_module = NULL, *pair = "kjv-web";
    uint64_t seed = 1337;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "bible")) {
        fprintf(stderr, "attograd dataset: unknown dataset '%s' (the one there is: bible)\n",
                argv[1]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--out") && has)
            out = argv[++i];
        else if (!strcmp(a, "--kjv") && has)
            kjv = argv[++i];
        else if (!strcmp(a, "--web") && has)
            web = argv[++i];
        else if (!strcmp(a, "--kjv-module") && has)
            kjv_module = argv[++i];
        else if (!strcmp(a, "--web-module") && has)
            web_module = argv[++i];
        else if (!strcmp(a, "--pair") && has)
            pair = argv[++i];
        else if (!strcmp(a, "--seed") && has) {
            if (!opt_u64_or_say("attograd dataset", a, argv[++i], &seed)) return 2;
        } else {
            fprintf(stderr, "attograd dataset: unknown option or missing value '%s' (see --help)\n",
                    a);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "attograd dataset: --out DIR is required (see --help)\n");
        return 2;
    }
    if (strcmp(pair, "kjv-web") && strcmp(pair, "kjv-rv")) {
        fprintf(stderr, "attograd dataset: --pair expects kjv-web or kjv-rv, received '%s'\n",
                pair);
        return 2;
    }
    if (!web_module) web_module = strcmp(pair, "kjv-rv") ? "engWEB2015eb" : "spaRV1909eb";
    if (!kjv != !web) {
        fprintf(stderr, "attograd dataset: --kjv and --web go together\n");
        return 2;
    }
    if (!kjv &&
        (!check_module("--kjv-module", kjv_module) || !check_module("--web-module", web_module)))
        return 2;
    ag_bible_stats stats;
    ag_error err = {0};
    if (kjv) {
        if (ag_bible_build(kjv, web, out, seed, &stats, &err)) {
            fprintf(stderr, "attograd dataset: %s\n", err.msg);
            return 1;
        }
        print_stats(&stats, out);
        return 0;
    }
    char *ta = export_module("--kjv-module", kjv_module);
    char *tb = ta ? export_module("--web-module", web_module) : NULL;
    if (!tb) {
        free(ta);
        return 1;
    }
    ag_pairs *pairs[3] = {ag_pairs_new(), ag_pairs_new(), ag_pairs_new()};
    int rc = 0;
    if (!pairs[0] || !pairs[1] || !pairs[2]) {
        fprintf(stderr, "attograd dataset: out of memory\n");
        rc = 1;
    } else if (ag_bible_pairs(ta, tb, seed, pairs, &stats, &err)) {
        fprintf(stderr, "attograd dataset: %s\n", err.msg);
        rc = 1;
    }
    if (!rc && ag_bible_save(pairs, out, &err)) {
        fprintf(stderr, "attograd dataset: %s\n", err.msg);
        rc = 1;
    }
    if (!rc) print_stats(&stats, out);
    for (int k = 0; k < 3; k++)
        ag_pairs_free(pairs[k]);
    free(ta);
    free(tb);
    return rc;
}
