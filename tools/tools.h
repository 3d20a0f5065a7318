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

#endif
