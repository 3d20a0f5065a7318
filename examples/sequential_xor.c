/* sequential_xor.c — a Sequential model learns XOR.
 *
 *   model = Sequential([Input(shape=(2,)), Dense(8, activation="tanh"),
 *                       Dense(1, activation="sigmoid")])
 *   model.compile(optimizer=Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
 *   model.fit(x, y, batch_size=4, epochs=300, verbose=0)
 *
 * XOR is not linearly separable: the hidden layer must bend the space.
 */
#include "attograd.h"

#include <stdio.h>

int main(void)
{
    ag_model *m = ag_model_new(AG_FLOAT32, 7);
    ag_model_input(m, "x", AG_FLOAT32, 1, (int64_t[]){2});
    ag_model_add(m, ag_layer_dense(m, 8, AG_ACT_TANH, 1));
    ag_model_add(m, ag_layer_dense(m, 1, AG_ACT_SIGMOID, 1));
    ag_optimizer_config adam = ag_optimizer_defaults(AG_ADAM);
    adam.learning_rate = 0.05;
    if (ag_model_compile(m, &adam, AG_LOSS_BINARY_CROSSENTROPY, 0, AG_METRIC_ACCURACY)) {
        fprintf(stderr, "sequential_xor: %s\n", ag_model_error(m));
        ag_model_free(m);
        return 1;
    }
    ag_model_summary(m, stdout);

    static const float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
    ag_tensor *x = ag_tensor_from(AG_FLOAT32, 2, (int64_t[]){4, 2}, xs, NULL);
    ag_tensor *y = ag_tensor_from(AG_FLOAT32, 2, (int64_t[]){4, 1}, ys, NULL);
    ag_fit_options o = ag_fit_defaults();
    o.batch_size = 4;
    o.epochs = 300;
    o.verbose = 0;
    ag_history h = {0};
    ag_tensor *p = NULL;
    int status = 1;
    if (!x || !y || ag_model_fit(m, (const ag_tensor *[]){x}, y, &o, &h) ||
        ag_model_predict(m, (const ag_tensor *[]){x}, 4, &p)) {
        fprintf(stderr, "sequential_xor: %s\n", ag_model_error(m));
        goto out;
    }
    printf("epoch   1: loss %.4f accuracy %.2f\n", h.loss[0], h.metric[0][0]);
    printf("epoch %d: loss %.4f accuracy %.2f\n", h.epochs, h.loss[h.epochs - 1],
           h.metric[0][h.epochs - 1]);
    for (int i = 0; i < 4; i++)
        printf("xor(%g, %g) = %.3f\n", xs[2 * i], xs[2 * i + 1], AG_F32(p)[i]);
    status = h.metric[0][h.epochs - 1] == 1.0 ? 0 : 1;
out:
    ag_history_release(&h);
    ag_tensor_free(p);
    ag_tensor_free(x);
    ag_tensor_free(y);
    ag_model_free(m);
    return status;
}
