/* test_optim.c — each optimizer's first steps against updates worked out by
 * hand from Keras 3's formulas, clipping, weight decay, Keras's defaults,
 * config checks, and the state's allocation.
 *
 * Every case starts from w = (1, -2, 0.5) and sees the same gradient
 * g = (0.5, -1, 2) at every step: the loss is L = Σ g_i·w_i, built from a
 * small op defined here, so ∂L/∂w = g exactly.
 */
#include "testutil.h"

#include <stdio.h>

static const double W0[3] = {1.0, -2.0, 0.5};
static const double G[3] = {0.5, -1.0, 2.0};

typedef struct {
    const double *g;
} dot_params;

static ag_status dot_infer(const ag_op *op, const void *params, int n_in, const ag_shape *in,
                           ag_shape *out, ag_error *err)
{
    (void)op, (void)params, (void)n_in, (void)err;
    *out = (ag_shape){.dtype = in[0].dtype, .rank = 0};
    return AG_OK;
}
static ag_status dot_forward(ag_kernel_ctx *k) /* z = Σ g_i w_i */
{
    const double *g = ((const dot_params *)k->params)->g;
    double s = 0;
    for (int64_t i = 0; i < k->in[0]->size; i++)
        s += g[i] * ag_tensor_get(k->in[0], i);
    ag_tensor_set(k->out, 0, s);
    return AG_OK;
}
static ag_status dot_backward(ag_kernel_ctx *k) /* gw_i += gz·g_i */
{
    const double *g = ((const dot_params *)k->params)->g;
    double gz = ag_tensor_get(k->gout, 0);
    for (int64_t i = 0; k->gin[0] && i < k->in[0]->size; i++)
        ag_tensor_set(k->gin[0], i, ag_tensor_get(k->gin[0], i) + gz * g[i]);
    return AG_OK;
}
static const ag_op dot_op = {
    .name = "fixed_dot", .infer = dot_infer, .forward = dot_forward, .backward = dot_backward};

typedef struct {
    ag_graph *g;
    ag_node *w, *loss;
} fixture;

static fixture make(ag_dtype dt, const double *w0, const double *grad, int n)
{
    fixture f = {.g = ag_graph_new()};
    ag_graph_set_float(f.g, dt);
    int64_t shape[1] = {n};
    f.w = ag_variable(f.g, "w", 1, shape);
    assert_non_null(f.w);
    for (int i = 0; i < n; i++)
        ag_tensor_set(ag_value(f.w), i, w0[i]);
    dot_params p = {grad};
    f.loss = ag_apply(f.g, &dot_op, &f.w, 1, &p, sizeof p);
    assert_non_null(f.loss);
    return f;
}

static void grad_and_step(fixture *f, ag_optimizer *opt)
{
    AG_ASSERT_OK(f->g, ag_forward(f->g, &f->loss, 1));
    AG_ASSERT_OK(f->g, ag_backward(f->g, f->loss, NULL));
    AG_ASSERT_OK(f->g, ag_optimizer_step(opt, f->g, &f->w, 1));
}

/* Runs `steps` steps of cfg from W0 with gradient G and compares w after
 * each with want[step][i]; float64 to 1e-13, float32 to 2e-6 relative. */
static void check_steps(const ag_optimizer_config *cfg, int steps, const double want[][3])
{
    for (int d = 0; d < 2; d++) {
        ag_dtype dt = d ? AG_FLOAT32 : AG_FLOAT64;
        double tol = d ? 2e-6 : 1e-13;
        fixture f = make(dt, W0, G, 3);
        ag_error err = {0};
        ag_optimizer *opt = ag_optimizer_new(cfg, &err);
        if (!opt) fail_msg("%s", err.msg);
        for (int s = 0; s < steps; s++) {
            grad_and_step(&f, opt);
            assert_int_equal(ag_optimizer_iterations(opt), s + 1);
            for (int i = 0; i < 3; i++) {
                double got = ag_tensor_get(ag_value(f.w), i);
                if (!(fabs(got - want[s][i]) <= tol * fmax(1, fabs(want[s][i]))))
                    fail_msg("%s step %d w[%d] = %.17g, expected %.17g", ag_dtype_name(dt), s + 1,
                             i, got, want[s][i]);
            }
        }
        ag_optimizer_free(opt);
        ag_graph_free(f.g);
    }
}

static ag_optimizer_config with_lr(ag_optimizer_kind kind, double lr)
{
    ag_optimizer_config c = ag_optimizer_defaults(kind);
    c.learning_rate = lr;
    return c;
}

/* w -= lr·g with lr 0.1: each step moves w by -(0.05, -0.1, 0.2). */
static void test_sgd_plain(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_SGD, 0.1);
    const double want[3][3] = {{0.95, -1.9, 0.3}, {0.9, -1.8, 0.1}, {0.85, -1.7, -0.1}};
    check_steps(&c, 3, want);
}

/* v = 0.9v - 0.1g; w += v:
 *   v1 = (-0.05, 0.1, -0.2),      w1 = (0.95, -1.9, 0.3)
 *   v2 = (-0.095, 0.19, -0.38),   w2 = (0.855, -1.71, -0.08)
 *   v3 = (-0.1355, 0.271, -0.542), w3 = (0.7195, -1.439, -0.622) */
static void test_sgd_momentum(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_SGD, 0.1);
    c.momentum = 0.9;
    const double want[3][3] = {{0.95, -1.9, 0.3}, {0.855, -1.71, -0.08}, {0.7195, -1.439, -0.622}};
    check_steps(&c, 3, want);
}

/* Nesterov: v as above, w += 0.9v - 0.1g:
 *   w1 = w0 + 0.9(-0.05, 0.1, -0.2) - (0.05, -0.1, 0.2)      = (0.905, -1.81, 0.12)
 *   w2 = w1 + 0.9(-0.095, 0.19, -0.38) - (0.05, -0.1, 0.2)   = (0.7695, -1.539, -0.422)
 *   w3 = w2 + 0.9(-0.1355, 0.271, -0.542) - (0.05, -0.1, 0.2) = (0.59755, -1.1951, -1.1098) */
static void test_sgd_nesterov(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_SGD, 0.1);
    c.momentum = 0.9;
    c.nesterov = 1;
    const double want[3][3] = {
        {0.905, -1.81, 0.12}, {0.7695, -1.539, -0.422}, {0.59755, -1.1951, -1.1098}};
    check_steps(&c, 3, want);
}

/* Adam, lr 0.1, β 0.9/0.999, ε 1e-7. With a constant gradient,
 * m_t = (1-0.9^t) g and v_t = (1-0.999^t) g², so
 *   m_t·α_t / (√v_t + ε) = lr·g / (|g| + ε/√(1-0.999^t)) ≈ lr·sign(g):
 * each step moves w by about -0.1·sign(g), a little less by the ε term:
 *   step 1: 0.1·|g|/(|g| + 1e-7/√0.001),  √0.001 = 0.0316227766... */
static void test_adam(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_ADAM, 0.1);
    const double want[3][3] = {{0.90000063245153206, -1.900000316226766, 0.40000015811363299},
                               {0.80000107977497259, -1.8000005398889869, 0.30000026994486884},
                               {0.70000144510465989, -1.7000007225541642, 0.20000036127754095}};
    check_steps(&c, 3, want);
    /* the first step worked by hand from the closed form above */
    double e = 1e-7 / sqrt(1 - 0.999);
    for (int i = 0; i < 3; i++)
        AG_ASSERT_NEAR(want[0][i], W0[i] - 0.1 * G[i] / (fabs(G[i]) + e), 1e-15);
}

/* AdamW, lr 0.1, weight_decay 0.5: first w = w - w·0.5·0.1 = 0.95w, then the
 * Adam step of test_adam: w1 = 0.95·(1, -2, 0.5) - (0.09999937, -0.09999968, 0.09999984). */
static void test_adamw(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_ADAMW, 0.1);
    c.weight_decay = 0.5;
    const double want[3][3] = {{0.85000063245153201, -1.8000003162267659, 0.37500015811363296},
                               {0.70750104815239589, -1.6100005240776485, 0.25625026203918716},
                               {0.57212636107446335, -1.4295006805389434, 0.14343784026989992}};
    check_steps(&c, 3, want);
    /* decay happens before the update: w1 = 0.95·w0 - (w0 - adam_w1) */
    const double adam_w1[3] = {0.90000063245153206, -1.900000316226766, 0.40000015811363299};
    for (int i = 0; i < 3; i++)
        AG_ASSERT_NEAR(want[0][i], 0.95 * W0[i] - (W0[i] - adam_w1[i]), 1e-15);
}

/* RMSprop, lr 0.1, ρ 0.9, ε 1e-7: a1 = 0.1g², Δ1 = 0.1·g/√(0.1g² + ε)
 * ≈ 0.1·sign(g)/√0.1 = 0.316·sign(g); a2 = 0.19g², Δ2 ≈ 0.1/√0.19 = 0.229. */
static void test_rmsprop(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_RMSPROP, 0.1);
    const double want[3][3] = {{0.68377286643679658, -1.6837723920969265, 0.18377227351162534},
                               {0.45435737405609966, -1.4543567185989024, -0.045643445265797583},
                               {0.26226282822441516, -1.2622620664418922, -0.2377381240041668}};
    check_steps(&c, 3, want);
    for (int i = 0; i < 3; i++)
        AG_ASSERT_NEAR(want[0][i], W0[i] - 0.1 * G[i] / sqrt(0.1 * G[i] * G[i] + 1e-7), 1e-15);
}

/* RMSprop with momentum 0.5: v = 0.5v + Δ; w -= v. v1 = Δ1, v2 = 0.5Δ1 + Δ2. */
static void test_rmsprop_momentum(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_RMSPROP, 0.1);
    c.momentum = 0.5;
    const double want[3][3] = {{0.68377286643679658, -1.6837723920969265, 0.18377227351162534},
                               {0.29624380727449795, -1.2962429146473657, -0.20375730850998491},
                               {-0.089615268138335868, -0.91038352376557508, -0.58961677825915926}};
    check_steps(&c, 3, want);
    double d1 = 0.1 * G[0] / sqrt(0.1 * G[0] * G[0] + 1e-7);
    double d2 = 0.1 * G[0] / sqrt(0.19 * G[0] * G[0] + 1e-7);
    AG_ASSERT_NEAR(want[1][0], W0[0] - d1 - (0.5 * d1 + d2), 1e-15);
}

/* Keras's RMSprop docstring: var = 10, loss = var²/2 (gradient var),
 * RMSprop(learning_rate=0.1), one minimize: var == 9.683772. */
static void test_rmsprop_keras_docstring(void **state)
{
    (void)state;
    const double w0 = 10, g = 10; /* the gradient of var²/2 at var = 10 */
    fixture f = make(AG_FLOAT32, &w0, &g, 1);
    ag_optimizer_config c = with_lr(AG_RMSPROP, 0.1);
    ag_optimizer *opt = ag_optimizer_new(&c, NULL);
    grad_and_step(&f, opt);
    AG_ASSERT_NEAR(AG_F32(ag_value(f.w))[0], 9.683772, 5e-7);
    ag_optimizer_free(opt);
    ag_graph_free(f.g);
}

/* clipnorm 1: ‖g‖ = √(0.25 + 1 + 4) = 2.2912878..., g' = g/2.2912878;
 * SGD lr 0.1: w1 = w0 - 0.1g'. A norm under clipnorm leaves g alone. */
static void test_clipnorm(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_SGD, 0.1);
    c.clipnorm = 1;
    double n = sqrt(0.25 + 1 + 4);
    const double want[1][3] = {{1 - 0.05 / n, -2 + 0.1 / n, 0.5 - 0.2 / n}};
    AG_ASSERT_NEAR(want[0][0], 0.97817821097640079, 1e-15);
    check_steps(&c, 1, want);
    c.clipnorm = 3; /* > ‖g‖: no change */
    const double plain[1][3] = {{0.95, -1.9, 0.3}};
    check_steps(&c, 1, plain);
}

/* clipvalue 0.75: g' = (0.5, -0.75, 0.75); SGD lr 0.1: w1 = (0.95, -1.925, 0.425).
 * With Adam, clipping changes the second step: g' is what the moments see. */
static void test_clipvalue(void **state)
{
    (void)state;
    ag_optimizer_config c = with_lr(AG_SGD, 0.1);
    c.clipvalue = 0.75;
    const double want[2][3] = {{0.95, -1.925, 0.425}, {0.9, -1.85, 0.35}};
    check_steps(&c, 2, want);
}

static void test_defaults_match_keras(void **state)
{
    (void)state;
    ag_optimizer_config a = ag_optimizer_defaults(AG_ADAM);
    assert_int_equal(a.kind, AG_ADAM);
    assert_true(a.learning_rate == 0.001 && a.beta_1 == 0.9 && a.beta_2 == 0.999);
    assert_true(a.epsilon == 1e-7 && a.weight_decay == 0 && a.clipnorm == 0 && a.clipvalue == 0);
    ag_optimizer_config w = ag_optimizer_defaults(AG_ADAMW);
    assert_true(w.learning_rate == 0.001 && w.weight_decay == 0.004 && w.beta_1 == 0.9 &&
                w.beta_2 == 0.999 && w.epsilon == 1e-7);
    ag_optimizer_config s = ag_optimizer_defaults(AG_SGD);
    assert_true(s.learning_rate == 0.01 && s.momentum == 0 && s.nesterov == 0 &&
                s.weight_decay == 0);
    ag_optimizer_config r = ag_optimizer_defaults(AG_RMSPROP);
    assert_true(r.learning_rate == 0.001 && r.rho == 0.9 && r.momentum == 0 && r.epsilon == 1e-7 &&
                r.weight_decay == 0);
    /* the optimizer keeps the config it was given */
    ag_optimizer *opt = ag_optimizer_new(&w, NULL);
    assert_non_null(opt);
    assert_true(ag_optimizer_get_config(opt)->weight_decay == 0.004);
    assert_int_equal(ag_optimizer_iterations(opt), 0);
    ag_optimizer_free(opt);
}

static void expect_bad(ag_optimizer_config c, const char *who, const char *field, const char *value)
{
    ag_error err = {0};
    ag_optimizer *opt = ag_optimizer_new(&c, &err);
    if (opt) fail_msg("%s %s=%s was accepted", who, field, value);
    assert_int_equal(err.code, AG_ERR_ARG);
    ag_assert_msg_has(err.msg, who);
    ag_assert_msg_has(err.msg, field);
    ag_assert_msg_has(err.msg, value);
}

static void test_config_errors(void **state)
{
    (void)state;
    ag_optimizer_config c = ag_optimizer_defaults(AG_ADAM);
    c.learning_rate = -0.1;
    expect_bad(c, "Adam", "learning_rate", "-0.1");
    c = ag_optimizer_defaults(AG_SGD);
    c.learning_rate = NAN;
    expect_bad(c, "SGD", "learning_rate", "nan");
    c = ag_optimizer_defaults(AG_ADAM);
    c.beta_1 = 1;
    expect_bad(c, "Adam", "beta_1", "received 1");
    c = ag_optimizer_defaults(AG_ADAMW);
    c.beta_2 = -0.5;
    expect_bad(c, "AdamW", "beta_2", "-0.5");
    c = ag_optimizer_defaults(AG_SGD);
    c.momentum = 1.5;
    expect_bad(c, "SGD", "momentum", "1.5");
    c = ag_optimizer_defaults(AG_RMSPROP);
    c.rho = 1;
    expect_bad(c, "RMSprop", "rho", "[0, 1)");
    c = ag_optimizer_defaults(AG_ADAM);
    c.epsilon = 0;
    expect_bad(c, "Adam", "epsilon", "> 0");
    c = ag_optimizer_defaults(AG_ADAMW);
    c.weight_decay = -1;
    expect_bad(c, "AdamW", "weight_decay", "-1");
    c = ag_optimizer_defaults(AG_SGD);
    c.clipnorm = -2;
    expect_bad(c, "SGD", "clipnorm", "-2");
    c = ag_optimizer_defaults(AG_SGD);
    c.clipvalue = INFINITY;
    expect_bad(c, "SGD", "clipvalue", "inf");
    c = ag_optimizer_defaults(AG_SGD);
    c.clipnorm = 1, c.clipvalue = 1;
    expect_bad(c, "SGD", "only one of clipnorm and clipvalue", "clipvalue=1");
    c = ag_optimizer_defaults(AG_SGD);
    c.kind = (ag_optimizer_kind)42;
    expect_bad(c, "optimizer", "kind", "42");
    ag_error err = {0};
    assert_null(ag_optimizer_new(NULL, &err));
    ag_assert_msg_has(err.msg, "config is NULL");
    assert_null(ag_optimizer_new(NULL, NULL)); /* no error object: still no crash */
}

/* Variables that are not trainable or got no gradient are left alone;
 * iterations counts steps that updated something. */
static void test_skips_frozen_and_gradless(void **state)
{
    (void)state;
    fixture f = make(AG_FLOAT64, W0, G, 3);
    int64_t shape[1] = {3};
    ag_node *unused = ag_variable(f.g, "unused", 1, shape); /* not in the loss: no gradient */
    ag_fill_uniform(ag_value(unused), -1, 1, 7, 0);
    double before[3];
    for (int i = 0; i < 3; i++)
        before[i] = ag_tensor_get(ag_value(unused), i);
    ag_optimizer_config c = with_lr(AG_SGD, 0.1);
    ag_optimizer *opt = ag_optimizer_new(&c, NULL);
    ag_set_trainable(f.w, 0);
    ag_node *vars[2] = {f.w, unused};
    AG_ASSERT_OK(f.g, ag_forward(f.g, &f.loss, 1));
    AG_ASSERT_OK(f.g, ag_backward(f.g, f.loss, NULL));
    AG_ASSERT_OK(f.g, ag_optimizer_step(opt, f.g, vars, 2));
    for (int i = 0; i < 3; i++) {
        assert_true(ag_tensor_get(ag_value(f.w), i) == W0[i]);
        assert_true(ag_tensor_get(ag_value(unused), i) == before[i]);
    }
    assert_int_equal(ag_optimizer_iterations(opt), 0);
    ag_set_trainable(f.w, 1);
    AG_ASSERT_OK(f.g, ag_optimizer_step(opt, f.g, vars, 2));
    AG_ASSERT_NEAR(ag_tensor_get(ag_value(f.w), 0), 0.95, 1e-15);
    assert_true(ag_tensor_get(ag_value(unused), 0) == before[0]);
    assert_int_equal(ag_optimizer_iterations(opt), 1);
    /* a new forward clears gradients: a step without backward changes nothing */
    AG_ASSERT_OK(f.g, ag_forward(f.g, &f.loss, 1));
    AG_ASSERT_OK(f.g, ag_optimizer_step(opt, f.g, vars, 2));
    AG_ASSERT_NEAR(ag_tensor_get(ag_value(f.w), 0), 0.95, 1e-15);
    ag_optimizer_free(opt);
    ag_graph_free(f.g);
}

/* State is allocated on a variable's first step only. */
static void test_state_allocated_once(void **state)
{
    (void)state;
    ag_optimizer_kind kinds[4] = {AG_SGD, AG_ADAM, AG_ADAMW, AG_RMSPROP};
    for (int k = 0; k < 4; k++) {
        fixture f = make(AG_FLOAT32, W0, G, 3);
        ag_optimizer_config c = ag_optimizer_defaults(kinds[k]);
        c.momentum = 0.5;
        ag_optimizer *opt = ag_optimizer_new(&c, NULL);
        assert_int_equal(ag_optimizer_alloc_count(opt), 0);
        grad_and_step(&f, opt);
        uint64_t after_first = ag_optimizer_alloc_count(opt);
        assert_true(after_first > 0);
        uint64_t graph_allocs = ag_graph_alloc_count(f.g);
        for (int s = 0; s < 5; s++)
            grad_and_step(&f, opt);
        assert_int_equal(ag_optimizer_alloc_count(opt), after_first);
        assert_int_equal(ag_graph_alloc_count(f.g), graph_allocs);
        ag_optimizer_free(opt);
        ag_graph_free(f.g);
    }
}

static void test_step_errors(void **state)
{
    (void)state;
    fixture f = make(AG_FLOAT64, W0, G, 3);
    ag_optimizer_config c = ag_optimizer_defaults(AG_ADAM);
    ag_optimizer *opt = ag_optimizer_new(&c, NULL);
    assert_int_equal(ag_optimizer_step(NULL, f.g, &f.w, 1), AG_ERR_ARG);
    ag_assert_msg_has(ag_graph_error(f.g), "optimizer is NULL");
    ag_graph_clear_error(f.g);
    assert_int_equal(ag_optimizer_step(opt, NULL, &f.w, 1), AG_ERR_ARG);
    assert_int_equal(ag_optimizer_step(opt, f.g, NULL, 2), AG_ERR_ARG);
    ag_assert_msg_has(ag_graph_error(f.g), "n=2");
    ag_graph_clear_error(f.g);
    ag_node *vars[2] = {f.w, NULL};
    assert_int_equal(ag_optimizer_step(opt, f.g, vars, 2), AG_ERR_ARG);
    ag_assert_msg_has(ag_graph_error(f.g), "Adam step: variable 1 is NULL");
    /* a NULL from an earlier failure keeps the first message */
    ag_graph_clear_error(f.g);
    int64_t bad[1] = {-3};
    assert_null(ag_variable(f.g, "broken", 1, bad));
    vars[1] = NULL;
    assert_int_not_equal(ag_optimizer_step(opt, f.g, vars, 2), AG_OK);
    ag_assert_msg_has(ag_graph_error(f.g), "variable: dimension 0");
    ag_graph_clear_error(f.g);
    /* a variable of another graph */
    fixture other = make(AG_FLOAT64, W0, G, 3);
    vars[1] = other.w;
    assert_int_equal(ag_optimizer_step(opt, f.g, vars, 2), AG_ERR_ARG);
    ag_assert_msg_has(ag_graph_error(f.g), "belongs to another graph");
    assert_true(ag_tensor_get(ag_value(f.w), 0) == W0[0]); /* nothing moved */
    assert_int_equal(ag_optimizer_iterations(opt), 0);
    ag_optimizer_free(opt);
    ag_optimizer_free(NULL);
    assert_int_equal(ag_optimizer_iterations(NULL), 0);
    assert_null(ag_optimizer_get_config(NULL));
    ag_graph_free(other.g);
    ag_graph_free(f.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain),
        cmocka_unit_test(test_sgd_momentum),
        cmocka_unit_test(test_sgd_nesterov),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_rmsprop),
        cmocka_unit_test(test_rmsprop_momentum),
        cmocka_unit_test(test_rmsprop_keras_docstring),
        cmocka_unit_test(test_clipnorm),
        cmocka_unit_test(test_clipvalue),
        cmocka_unit_test(test_defaults_match_keras),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_skips_frozen_and_gradless),
        cmocka_unit_test(test_state_allocated_once),
        cmocka_unit_test(test_step_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
