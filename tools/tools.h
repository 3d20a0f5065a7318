/* tools.h — the subcommands of the attograd program. Each takes argc/argv
 * from its own name on and returns the process exit status. */
#ifndef AG_TOOLS_H
#define AG_TOOLS_H

#include "attograd_app.h"

typedef struct ag_command {
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv);
} ag_command;

int cmd_gradcheck(int argc, char **argv);
int cmd_attention(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_heatmap(int argc, char **argv);

/* Strict numbers for options (tools/options.c): 1 and *out, or 0 with msg
 * set to "FLAG must be an integer in [LO, HI], received 'TEXT'". */
typedef char opt_msg[160];
int opt_int(opt_msg msg, const char *flag, const char *text, long long lo, long long hi,
            long long *out);
int opt_u64(opt_msg msg, const char *flag, const char *text, uint64_t *out);
/* A finite number in [lo, hi], either end open when lo_open / hi_open. */
int opt_num(opt_msg msg, const char *flag, const char *text, double lo, double hi, int lo_open,
            int hi_open, double *out);
/* The same, printing "WHO: MESSAGE" to stderr on failure. */
int opt_int_or_say(const char *who, const char *flag, const char *text, long long lo, long long hi,
                   long long *out);
int opt_u64_or_say(const char *who, const char *flag, const char *text, uint64_t *out);
int opt_num_or_say(const char *who, const char *flag, const char *text, double lo, double hi,
                   int lo_open, int hi_open, double *out);

#endif
