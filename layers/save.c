/* save.c — a model in one safetensors file, and back.
 *
 *   __metadata__: "format": "attograd", "config": ag_model_get_config's JSON,
 *                 "training_config": the compile settings (when compiled),
 *                 and the caller's own entries (a vocabulary, say)
 *   tensors:      every weight under its name ("conv1d/kernel"), in the
 *                 model's float dtype
 *
 * Loading rebuilds the model from the config (same layers, same graph),
 * checking each weight against the file's tensor of its name (present, same
 * dtype and shape) before allocating it — a config cannot make the loader
 * allocate more than the file holds — then checks that the file holds no
 * other tensor and no non-finite value, and copies the weights in:
 * predictions are bit-identical to the saved model's. Every tensor's CRC-32
 * is verified by the safetensors reader.
 */
#include "layer.h"

#include <inttypes.h>
#include <stdlib.h>

static const char *const reserved[] = {"format", "config", "training_config"};

ag_status ag_model_save(ag_model *m, const char *path, const char *const *meta_keys,
                        const char *const *meta_values, int n_meta)
{
    if (!m) return AG_ERR_ARG;
    ag_model_clear_error(m);
    if (!path || !*path) return ag__model_fail(m, AG_ERR_ARG, "save: path is empty");
    if (n_meta < 0 || n_meta > 1000 || (n_meta && (!meta_keys || !meta_values)))
        return ag__model_fail(m, AG_ERR_ARG,
                              "save: metadata must be 0 to 1000 key/value pairs, received %d%s",
                              n_meta, n_meta > 0 ? " without keys or values" : "");
    for (int i = 0; i < n_meta; i++) {
        if (!meta_keys[i] || !meta_values[i])
            return ag__model_fail(m, AG_ERR_ARG, "save: metadata entry %d is NULL", i);
        for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
            if (!strcmp(meta_keys[i], reserved[r]))
                return ag__model_fail(m, AG_ERR_ARG,
                                      "save: metadata key \"%s\" is reserved (format, config, "
                                      "training_config)",
                                      meta_keys[i]);
    }
    char *config = ag_model_get_config(m);
    if (!config) return ag_model_status(m);
    char *training = ag__model_training_config(m);
    int n_w = ag_model_weights(m, -1, NULL, 0);
    int n_all = n_meta + 3;
    const char **keys = calloc((size_t)n_all, sizeof *keys);
    const char **values = calloc((size_t)n_all, sizeof *values);
    const char **names = calloc((size_t)n_w + 1, sizeof *names);
    const ag_tensor **tensors = calloc((size_t)n_w + 1, sizeof *tensors);
    ag_node **w = calloc((size_t)n_w + 1, sizeof *w);
    ag_status st = AG_OK;
    if (!keys || !values || !names || !tensors || !w) {
        st = ag__model_fail(m, AG_ERR_NOMEM, "save: out of memory");
        goto out;
    }
    int k = 0;
    keys[k] = "format", values[k++] = "attograd";
    keys[k] = "config", values[k++] = config;
    if (training) keys[k] = "training_config", values[k++] = training;
    for (int i = 0; i < n_meta; i++)
        keys[k] = meta_keys[i], values[k++] = meta_values[i];
    ag_model_weights(m, -1, w, n_w);
    for (int i = 0; i < n_w; i++) {
        names[i] = ag_node_name(w[i]);
        tensors[i] = ag_value(w[i]);
        int64_t bad = ag_tensor_find_nonfinite(tensors[i]);
        if (bad >= 0) {
            st = ag__model_fail(m, AG_ERR_NONFINITE,
                                "save: weight '%s' holds %g at flat index %" PRId64
                                "; non-finite weights are never saved",
                                names[i], ag_tensor_get(tensors[i], bad), bad);
            goto out;
        }
    }
    ag_error e = {0};
    st = ag_safetensors_save(path, names, tensors, n_w, keys, values, k, &e);
    if (st) ag__model_fail(m, st, "save: %s", e.msg);
out:
    free(keys);
    free(values);
    free(names);
    free(tensors);
    free(w);
    free(config);
    free(training);
    return st;
}

static ag_model *load_fail(ag_model *m, ag_safetensors *st, ag_json *cfg)
{
    ag_model_free(m);
    ag_safetensors_close(st);
    ag_json_free(cfg);
    return NULL;
}

ag_model *ag_model_load(const char *path, ag_error *err)
{
    ag_error e = {0};
    ag_safetensors *st = ag_safetensors_open(path, &e);
    if (!st) return ag_error_set(err, e.code, "load: %s", e.msg), NULL;
    const char *format = ag_safetensors_metadata(st, "format");
    const char *config = ag_safetensors_metadata(st, "config");
    if (!format || strcmp(format, "attograd") || !config) {
        ag_error_set(err, AG_ERR_FORMAT,
                     "load: %s is a safetensors file but not an attograd model (its __metadata__ "
                     "lacks format \"attograd\" and a config)",
                     path);
        return load_fail(NULL, st, NULL);
    }
    ag_json *cfg = ag_json_parse(config, strlen(config), &e);
    if (!cfg) {
        ag_error_set(err, AG_ERR_FORMAT, "load: %s: the model config is not valid JSON: %s", path,
                     e.msg);
        return load_fail(NULL, st, NULL);
    }
    ag_model *m = ag__model_from_json(cfg, st, path, &e);
    if (!m) {
        if (!strncmp(e.msg, "load: ", 6))
            ag_error_set(err, e.code ? e.code : AG_ERR_FORMAT, "%s", e.msg);
        else
            ag_error_set(err, e.code ? e.code : AG_ERR_FORMAT, "load: %s: %s", path, e.msg);
        return load_fail(NULL, st, cfg);
    }
    /* exactly the model's weights, each of the right dtype and shape */
    int n_w = ag_model_weights(m, -1, NULL, 0);
    ag_node **w = calloc((size_t)n_w + 1, sizeof *w);
    if (!w) {
        ag_error_set(err, AG_ERR_NOMEM, "load: out of memory");
        return load_fail(m, st, cfg);
    }
    ag_model_weights(m, -1, w, n_w);
    for (int i = 0; i < n_w; i++) {
        const char *name = ag_node_name(w[i]);
        const ag_tensor *t = ag_safetensors_get(st, name);
        const ag_shape *s = ag_node_shape(w[i]);
        char a[96], b[96];
        if (!t) {
            ag_error_set(err, AG_ERR_FORMAT, "load: %s has no tensor '%s' (the model needs it)",
                         path, name);
            free(w);
            return load_fail(m, st, cfg);
        }
        int ok = t->dtype == s->dtype && t->rank == s->rank;
        for (int d = 0; ok && d < s->rank; d++)
            ok = t->shape[d] == s->dim[d];
        if (!ok) {
            ag_error_set(err, AG_ERR_FORMAT,
                         "load: %s: tensor '%s' is %s %s, the model expects %s %s", path, name,
                         ag_dtype_name(t->dtype), ag_shape_str(t->rank, t->shape, a, sizeof a),
                         ag_dtype_name(s->dtype), ag__sstr(s, b, sizeof b));
            free(w);
            return load_fail(m, st, cfg);
        }
        int64_t bad = ag_tensor_find_nonfinite(t);
        if (bad >= 0) {
            ag_error_set(err, AG_ERR_FORMAT,
                         "load: %s: tensor '%s' holds a non-finite value (%g at flat index %" PRId64
                         "); refusing weights that would make every output NaN",
                         path, name, ag_tensor_get(t, bad), bad);
            free(w);
            return load_fail(m, st, cfg);
        }
        memcpy(ag_value(w[i])->data, t->data, (size_t)t->size * ag_dtype_size(t->dtype));
    }
    free(w);
    if (ag_safetensors_count(st) != n_w) {
        for (int i = 0; i < ag_safetensors_count(st); i++) {
            const char *name = ag_safetensors_name(st, i);
            int found = 0;
            for (int j = 0; j < m->n_layers && !found; j++)
                for (int k = 0; k < m->layers[j]->n_weights && !found; k++)
                    found = !strcmp(ag_node_name(m->layers[j]->w[k]), name);
            if (!found) {
                ag_error_set(err, AG_ERR_FORMAT,
                             "load: %s holds a tensor '%s' that no layer of its config has", path,
                             name);
                return load_fail(m, st, cfg);
            }
        }
    }
    const char *training = ag_safetensors_metadata(st, "training_config");
    if (training && ag__model_apply_training_config(m, training, &e)) {
        ag_error_set(err, e.code, "load: %s: %s", path, e.msg);
        return load_fail(m, st, cfg);
    }
    /* keep the metadata for ag_model_metadata */
    int n_meta = ag_safetensors_metadata_count(st);
    m->meta_key = calloc((size_t)n_meta + 1, sizeof *m->meta_key);
    m->meta_value = calloc((size_t)n_meta + 1, sizeof *m->meta_value);
    if (!m->meta_key || !m->meta_value) {
        ag_error_set(err, AG_ERR_NOMEM, "load: out of memory");
        return load_fail(m, st, cfg);
    }
    for (int i = 0; i < n_meta; i++) {
        const char *key = ag_safetensors_metadata_key(st, i);
        m->meta_key[i] = strdup(key);
        m->meta_value[i] = strdup(ag_safetensors_metadata(st, key));
        m->n_meta = i + 1;
        if (!m->meta_key[i] || !m->meta_value[i]) {
            ag_error_set(err, AG_ERR_NOMEM, "load: out of memory");
            return load_fail(m, st, cfg);
        }
    }
    ag_safetensors_close(st);
    ag_json_free(cfg);
    return m;
}

const char *ag_model_metadata(const ag_model *m, const char *key)
{
    for (int i = 0; m && key && i < m->n_meta; i++)
        if (!strcmp(m->meta_key[i], key)) return m->meta_value[i];
    return NULL;
}
