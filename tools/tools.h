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
/* `attograd attention --layer multi_head` (tools/cmd_attention_mha.c). */
int cmd_attention_multi_head(int argc, char **argv);

/* Shared by both forms of `attograd attention` (tools/attention_io.c): a
 * one-line message on stderr ("attograd attention: ...") and the exit
 * status, 2 for a usage error (with "(see --help)"), 1 for a data error. */
int att_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
int att_data_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Flags with a value ("--query Q" or "--query=Q"; each at most once) and
 * flags without one; --help prints usage. Returns -1 when parsed, else the
 * exit status (0 after --help, 2 on a usage error). */
typedef struct att_valued {
    const char *flag;
    const char **dst;
} att_valued;
typedef struct att_flag {
    const char *flag;
    int *dst;
} att_flag;
int att_parse_argv(int argc, char **argv, const att_valued *valued, int n_valued,
                   const att_flag *flags, int n_flags, const char *usage);
/* The values of --dtype (into *dt as an ag_dtype), --dropout (in [0, 1))
 * and --seed (non-negative); each may be NULL. -1 when valid, else 2. */
int att_parse_common(const char *dtype, const char *rate, const char *seed, int *dt,
                     double *dropout, uint64_t *seed_out);
/* A .npy file; NULL with *rc set to the data error's status. */
ag_tensor *att_load(const char *flag, const char *path, int *rc);
/* A mask file as a bool tensor: its values must be 0 or 1 (any dtype). */
ag_tensor *att_load_mask(const char *flag, const char *path, int *rc);
/* Writes t; 0 or the data error's status. */
int att_save(const char *flag, const char *path, const ag_tensor *t);
/* n's gradient to path (when not NULL), or zeros shaped like its value when
 * it has none. */
int att_save_grad(const char *flag, const char *path, ag_node *n);

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
