/* Daemon settings (bsupd.yaml): defaults from the key table, then the directories systemd
 * passes (STATE_DIRECTORY, RUNTIME_DIRECTORY), then the file, then command-line overrides. */
#include "core/config/load_internal.h"

#include "core/config/fields.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void s_settings_env_defaults(struct bsup_settings *s)
{
    char why[256], path[4096];
    const char *state = getenv("STATE_DIRECTORY");
    const char *runtime = getenv("RUNTIME_DIRECTORY");
    int state_key = bsup_config_key_index(bsup_settings_keys, "state_dir");
    int socket_key = bsup_config_key_index(bsup_settings_keys, "socket");
    /* systemd may pass several directories separated by ':'; the first is ours. */
    if (state && *state == '/') {
        snprintf(path, sizeof(path), "%.*s", (int)strcspn(state, ":"), state);
        bsup_config_field_set(&bsup_settings_keys[state_key], s, path, why, sizeof(why));
    }
    if (runtime && *runtime == '/') {
        snprintf(path, sizeof(path), "%.*s/bsupd.sock", (int)strcspn(runtime, ":"), runtime);
        bsup_config_field_set(&bsup_settings_keys[socket_key], s, path, why, sizeof(why));
    }
}

void bsup_settings_init(struct bsup_settings *s)
{
    memset(s, 0, sizeof(*s));
    bsup_config_fields_init(bsup_settings_keys, s);
    bsup_config_fields_defaults(bsup_settings_keys, s);
    s_settings_env_defaults(s);
}

bool bsup_owner_is(const char *tag, const char *owner, bool untagged_default)
{
    if (!tag)
        return untagged_default && strcmp(owner, BSUP_OWNER_DEFAULT) == 0;
    return strcmp(tag, owner) == 0;
}

void bsup_settings_cleanup(struct bsup_settings *s)
{
    if (!s)
        return;
    bsup_config_fields_free(bsup_settings_keys, s);
    memset(s, 0, sizeof(*s));
}

int bsup_settings_set(struct bsup_settings *s, const char *key, const char *value,
                      struct bsup_diag *diag)
{
    int i = bsup_config_key_index(bsup_settings_keys, key);
    if (i < 0)
        return bsup_diag_set(diag, BSUP_EINVAL, "unknown setting %s", key);
    char why[512];
    int rc = bsup_config_field_set(&bsup_settings_keys[i], s, value, why, sizeof(why));
    if (rc)
        bsup_diag_set(diag, rc, "%s", why);
    return rc;
}

int bsup_settings_load(struct bsup_settings *s, const char *path, bool optional,
                       struct bsup_diag *diag)
{
    struct bsup_config_set msgs;
    bsup_config_set_init(&msgs);
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (slash && slash == path)
        snprintf(dir, sizeof(dir), "/");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *data = NULL, why[512];
    size_t len = 0;
    int rc = 0;
    bool have_doc = false;
    struct bsup_config_doc f = {.set = &msgs, .name = path, .settings = true};
    if (dfd < 0) {
        rc = (optional && errno == ENOENT) ? 0 : BSUP_EIO;
        if (rc)
            bsup_diag_set(diag, rc, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = bsup_config_read_file(dfd, slash ? slash + 1 : path, false, &data, &len, why, sizeof(why));
    close(dfd);
    if (rc) {
        if (optional && rc == BSUP_ENOTFOUND)
            rc = 0;
        else
            bsup_diag_set(diag, rc, "%s: %s", path, why);
        goto out;
    }
    const char *bad_why = NULL;
    size_t bad = bsup_config_utf8_check((const unsigned char *)data, len, &bad_why);
    if (bad != len) {
        yaml_mark_t m = bsup_config_mark_at((const unsigned char *)data, bad);
        bsup_config_error(&f, &m, "byte 0x%02x is %s", (unsigned char)data[bad], bad_why);
    } else if (bsup_config_yaml_load(&f, (const unsigned char *)data, len)) {
        have_doc = true;
        yaml_node_t *root = yaml_document_get_root_node(&f.doc);
        if (root && !bsup_config_yaml_is_null(root)) {
            if (root->type != YAML_MAPPING_NODE)
                bsup_config_error(&f, &root->start_mark,
                                  "settings must be a mapping of keys, not %s",
                                  bsup_config_yaml_node_kind(root));
            else
                bsup_config_yaml_apply_mapping(&f, bsup_settings_keys, root, s, "", NULL);
        }
    }
    if (f.rc) {
        rc = f.rc;
    } else if (msgs.n_errors) {
        /* Every error, joined, so the operator fixes them in one go. */
        char all[sizeof(diag->message)] = "";
        for (size_t i = 0; i < msgs.n_msgs; i++) {
            size_t used = strlen(all);
            snprintf(all + used, sizeof(all) - used, "%s%s", i ? "; " : "", msgs.msgs[i].text);
        }
        rc = bsup_diag_set(diag, BSUP_ECONFIG, "%s", all);
    }
out:
    if (have_doc)
        yaml_document_delete(&f.doc);
    free(data);
    bsup_config_set_cleanup(&msgs);
    return rc;
}
