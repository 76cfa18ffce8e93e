/* Desired state: the service model, the daemon settings, and their loaders.
 *
 * Both are described by key tables (schema.c): name, type, default, rule and doc line.
 * Loading, validation, printing, JSON and the docs check are loops over them (fields.c).
 * yaml.c walks a YAML document into those tables, dir.c loads the drop-in directory,
 * settings.c loads bsupd.yaml; load_internal.h is what they share.
 * Loading never stops at the first problem: every error is collected as
 * "file:line:column: message", and a file with any error contributes no service. */
#ifndef BSUP_CORE_CONFIG_CONFIG_H
#define BSUP_CORE_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/aws/services.h"
#include "core/base/strmap.h"
#include "core/base/error.h"

#define BSUP_CONFIG_MAX_FILE_BYTES (1024 * 1024) /* one drop-in */
#define BSUP_CONFIG_MAX_FILES 20000              /* drop-ins in one directory */
#define BSUP_CONFIG_MAX_NODES 20000              /* YAML nodes in one file */
#define BSUP_CONFIG_MAX_DEPTH 16                 /* YAML nesting in one file */

enum bsup_environment { BSUP_ENV_DEV, BSUP_ENV_STAGING, BSUP_ENV_PROD };
enum bsup_mode { BSUP_MODE_DEFAULT = -1, BSUP_MODE_OBSERVE = 0, BSUP_MODE_ENFORCE = 1 };

struct bsup_strlist {
    char **v;
    size_t n;
    size_t cap; /* room in v */
};

/* AWS names of a service's resources; empty fields mean "<service_name>-<environment>". */
struct bsup_resources {
    char *auto_scaling_group;
    char *target_group;
    char *load_balancer;
    char *db_instance;
    char *cache_replication_group;
};

/* Load-balancer health checking of the service's instances: the target group's health-check
 * settings (only those the drop-in writes are enforced: `declared`), how many healthy targets the
 * service needs, the damped replacement of instances that stay unhealthy, and the load balancer's
 * posture. */
enum bsup_health_protocol { BSUP_HEALTH_HTTP, BSUP_HEALTH_HTTPS };

struct bsup_health_check {
    int64_t grace_period_s; /* Auto Scaling HealthCheckGracePeriod when a target group is used */
    char *path;             /* HealthCheckPath */
    char *port;             /* HealthCheckPort: "traffic-port" or a number */
    int protocol;           /* enum bsup_health_protocol */
    int64_t interval_s;     /* HealthCheckIntervalSeconds */
    int64_t timeout_s;      /* HealthCheckTimeoutSeconds, < interval_s */
    int64_t healthy_threshold;
    int64_t unhealthy_threshold;
    char *matcher;       /* Matcher.HttpCode: "200", "200,202", "200-299" */
    int64_t min_healthy; /* healthy targets below this: degraded; resolved to min_size if unset */
    bool replace_unhealthy;
    int64_t unhealthy_cycles;    /* consecutive unhealthy observations before marking */
    int64_t max_replace_percent; /* of the group at once (at least one instance) */
    bool public;                 /* the load balancer may be internet-facing */
    int64_t sweep_s;             /* target health of a group that looks fine: read this often */
    /* Bit i: key i of the health_check table (a target-group setting, .if_declared) is written
     * in the drop-in. An unwritten one holds ELBv2's default, for reference only: bsupd leaves
     * the target group's value as it is. Test with bsup_health_declared. */
    uint32_t declared;
};

/* Backup verification of the service's database (core/reconcile/backup.h). */
struct bsup_backup {
    int64_t max_age_s;            /* the newest backup must be younger than this */
    int require_encryption;       /* 0 false, 1 true, -1 (unset): true in prod only */
    char *restore_test;           /* "off" or a duration: how often to run a restore drill */
    char *restore_instance_class; /* NULL: the drill restores with the snapshot's class */
    bool allow_disruptive;        /* may turn RDS backups on from 0 (restarts the instance) */
    int64_t password_max_age_s;   /* prod: the password secret rotated within this */
};

/* The service's ElastiCache replication group. */
struct bsup_cache {
    int64_t snapshot_retention; /* days; 0: not declared (the group is then not checked unless
                                 * resources.cache_replication_group names it) */
};

/* Where a service's alerts go (issue 15). */
struct bsup_service_alerts {
    char *sns_topic_arn; /* NULL: bsupd.yaml's alerts.sns_topic_arn */
};

struct bsup_service {
    char *service_name;
    int environment; /* enum bsup_environment */
    char *vpc_id;
    struct bsup_strlist subnet_ids;
    char *database_name;
    char *database_username;
    /* A reference (secretsmanager:<arn>, ssm:<name>, file:<path>) or, in dev only, a plaintext
     * password. Plaintext never leaves memory: JSON, the store and output show "<redacted>". */
    char *database_password;
    char *instance_type;
    int64_t min_size;
    int64_t max_size;
    bool enable_backup;
    int64_t backup_retention; /* days */
    char *region;             /* NULL: the daemon's region */
    int mode;                 /* enum bsup_mode; BSUP_MODE_DEFAULT: the daemon's mode */
    int64_t interval_s;       /* 0: the daemon's interval */
    struct bsup_resources resources;
    struct bsup_health_check health_check;
    struct bsup_backup backup;
    struct bsup_cache cache;
    struct bsup_service_alerts alerts;

    /* Where it was declared (not part of the content hash). */
    char *source_file; /* file name within the config directory */
    unsigned line;
    unsigned column;
};

/* A client-side budget for one AWS API family; 0 = the family's built-in default. */
struct bsup_rate_limit {
    int64_t burst;
    int64_t rate_per_s;
};

/* One budget per API family, named and ordered as BSUP_API_FAMILY_MAP (core/aws/services.h):
 * bsupd.yaml's rate_limits keys are the family names. */
struct bsup_rate_limits {
#define BSUP_RL_FIELD(id, name, ...) struct bsup_rate_limit name;
    BSUP_API_FAMILY_MAP(BSUP_RL_FIELD)
#undef BSUP_RL_FIELD
};

/* Per-service endpoint URLs, named and ordered as BSUP_AWS_SERVICE_MAP (core/aws/services.h).
 * NULL: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, then the regional default. */
struct bsup_endpoint_urls {
#define BSUP_EP_FIELD(id, name, ...) char *name;
    BSUP_AWS_SERVICE_MAP(BSUP_EP_FIELD)
#undef BSUP_EP_FIELD
};

/* CloudWatch metrics (docs/metrics.md). */
struct bsup_metrics_settings {
    bool enabled;
    char *namespace_;
    int64_t interval_s;       /* the publisher's period */
    int64_t outbox_max_age_s; /* datums older than this are dropped (counted) */
    int64_t outbox_max_rows;  /* and the oldest beyond this many */
    bool alarms;              /* bsupd keeps its alarms per service (core/reconcile/alarms.h) */
    int64_t error_periods;    /* the errors alarm: periods with reconcile errors in a row */
};

/* SNS alerts (docs/metrics.md). */
struct bsup_alerts_settings {
    char *sns_topic_arn;     /* the default topic; NULL: alerts stay in the events table only */
    int64_t reminder_s;      /* while a condition lasts; 0: no reminder */
    int64_t recovery_hold_s; /* at most this before a service's recovery goes; 0: at once */
    int64_t burst;           /* the global rate limit: at once ... */
    int64_t per_minute;      /* ... then per minute */
};

/* The tag that says which bsupd made an alarm or a restore-drill instance; its value is the
 * owner setting. The sweep deletes only its own owner's. */
#define BSUP_OWNER_TAG "bsup:owner"
#define BSUP_OWNER_DEFAULT "bsupd"
#define BSUP_OWNER_MAX 33 /* the owner setting: at most 32 characters */

/* Daemon-wide settings (/etc/bsup/bsupd.yaml); command-line flags override them. */
struct bsup_settings {
    char *region;
    int64_t interval_s;
    int64_t jitter_s;
    char *config_dir;
    char *state_dir;
    char *socket;
    int log_level;     /* index into error, warning, notice, info, debug */
    int mode;          /* enum bsup_mode, never BSUP_MODE_DEFAULT after loading */
    char *read_group;  /* may read over the control socket (status, plan, events) */
    char *admin_group; /* may change (reconcile, reload, pause, resume) */
    char *owner;       /* which bsupd: the bsup:owner tag of its alarms and drill instances */
    /* Safety rails of the reconcile engine. */
    int64_t cooldown_s;
    int64_t fight_threshold;
    int64_t max_changes_per_cycle;
    int64_t max_changes_per_service;
    struct bsup_rate_limits rate_limits;
    /* The AWS client. */
    int64_t max_attempts;
    struct bsup_endpoint_urls endpoint_urls;
    struct bsup_metrics_settings metrics;
    struct bsup_alerts_settings alerts;
};

enum bsup_config_severity { BSUP_CONFIG_ERROR, BSUP_CONFIG_WARNING };

struct bsup_config_msg {
    int severity;
    char *file; /* file the message is about, or NULL for the directory */
    char *text; /* "file:line:column: message" */
};

struct bsup_config_file {
    char *name; /* within the directory, e.g. "10-api.yaml" */
    bool ok;
    size_t n_services;
};

/* The outcome of loading a directory: services from good files only, every file seen, and
 * every message. Cleanup frees it all and wipes plaintext passwords. */
struct bsup_config_set {
    struct bsup_service **services; /* each allocated on its own: the engine takes them over */
    size_t n_services;
    size_t cap_services;
    struct bsup_config_file *files;
    size_t n_files;
    size_t cap_files;
    struct bsup_config_msg *msgs;
    size_t n_msgs;
    size_t cap_msgs;
    size_t n_errors;
    struct bsup_strmap by_name; /* service_name -> index + 1 in services (as a pointer) */
    /* Set by the caller before bsup_config_load_dir, may be NULL: service_name -> the file
     * (const char *) bsupd loaded it from before. That file keeps the service while it declares
     * it or is rejected; another file declaring it is then the one rejected. Not freed here. */
    const struct bsup_strmap *incumbents;
    /* Set by the caller with incumbents, may be NULL: the state bsupd keeps for service (its
     * last good one), into out: 0, BSUP_ENOTFOUND or an error. Asked for the services of an
     * incumbent file rejected on its own, which keep that state: services that share a resource
     * with one must agree with it. */
    int (*kept_fn)(void *ctx, const char *service, struct bsup_service *out);
    void *kept_ctx;
    /* Set by the caller, may be NULL: the daemon's region, which a service without region: is
     * in (resources of one name in two regions are two resources). Not freed here. */
    const char *region;
    /* Internal to the loader: "kind/region/name" -> the service whose declared settings a
     * resource more services use must match (docs/config.md, "Two services, one resource"). */
    struct bsup_strmap resources;
};

void bsup_config_set_init(struct bsup_config_set *set);
void bsup_config_set_cleanup(struct bsup_config_set *set);

/* Loads every .yaml and .yml file in dir, in lexical order, skipping hidden files and editor or
 * package-manager leftovers. A service_name declared by two files stays with its incumbent file
 * (set->incumbents) while that one holds it, else with the first in lexical order. Services that
 * use one AWS resource must declare the same settings for what bsupd changes on it; of two that
 * differ, the one its incumbent file declares again wins, else the first in lexical order, and
 * the other's file is rejected. Returns 0 when the directory could be read (file errors are in
 * set->msgs and set->n_errors), or a negative code with diag set (no such directory, ...). */
int bsup_config_load_dir(const char *dir, struct bsup_config_set *set, struct bsup_diag *diag);

/* Parses one drop-in held in memory as if it were file `name` of the directory, adding its
 * services (if it has no error) or its messages to set. Also checks service names and shared
 * resources against the services already in set (not set->incumbents: that needs the whole
 * directory). Returns BSUP_ENOMEM or 0 (errors go to set). */
int bsup_config_parse_buffer(struct bsup_config_set *set, const char *name, const char *data,
                             size_t len);

/* Whether a directory entry name is a drop-in: not hidden, ending .yaml or .yml, no leftover. */
bool bsup_config_is_dropin_name(const char *name);

/* Settings: defaults, then file (if path is not NULL; a missing file at the default path is
 * fine when optional is true), errors in diag as "path:line:column: message". */
void bsup_settings_init(struct bsup_settings *s);
/* Whether a resource whose bsup:owner tag is tag (NULL: none) is owner's. untagged_default:
 * one without the tag (made before the owner setting) is the default owner's. */
bool bsup_owner_is(const char *tag, const char *owner, bool untagged_default);
void bsup_settings_cleanup(struct bsup_settings *s);
int bsup_settings_load(struct bsup_settings *s, const char *path, bool optional,
                       struct bsup_diag *diag);
/* Sets one setting from text as the file would (for command-line overrides). */
int bsup_settings_set(struct bsup_settings *s, const char *key, const char *value,
                      struct bsup_diag *diag);

void bsup_service_cleanup(struct bsup_service *svc);
/* Deep copy; 0 or BSUP_ENOMEM. */
int bsup_service_copy(struct bsup_service *dst, const struct bsup_service *src);
/* Makes svc what bsup_service_from_json(bsup_service_to_json(svc)) would give, without the
 * round trip: a plaintext password becomes "<redacted>", where it was declared is forgotten.
 * 0 or BSUP_ENOMEM (svc unchanged). */
int bsup_service_as_stored(struct bsup_service *svc);

/* The resolved desired state of a service as a compact JSON object with sorted keys
 * (plaintext password as "<redacted>"). Caller frees. NULL on BSUP_ENOMEM. */
char *bsup_service_to_json(const struct bsup_service *svc);
/* The reverse, for a state read back from the store. 0, BSUP_EPARSE or BSUP_ENOMEM. */
int bsup_service_from_json(const char *json, struct bsup_service *out);
/* The service's content hash: SHA-256 of its bsup_service_to_json text, as 64 hex digits + NUL.
 * 0 or BSUP_ECRYPTO. */
int bsup_service_json_hash(const char *json, char out_hex[65]);

/* Name of the AWS resource of a kind ("auto_scaling_group", ...): the override from
 * resources, or "<service_name>-<environment>". Writes into buf. */
const char *bsup_service_resource_name(const struct bsup_service *svc, const char *kind, char *buf,
                                       size_t len);

const char *bsup_environment_name(int env);
const char *bsup_mode_name(int mode);
/* Whether the drop-in writes health_check.<key> (a target-group setting bsupd then enforces). */
bool bsup_health_declared(const struct bsup_health_check *hc, const char *key);
/* Whether it writes any of the target group's (grace_period is the Auto Scaling group's). */
bool bsup_health_declares_any(const struct bsup_health_check *hc);

/* Whether the password is a reference rather than plaintext. */
bool bsup_secret_is_reference(const char *value);

/* The key tables, for docs checks and printing. */
enum bsup_key_type {
    BSUP_KEY_STRING,
    BSUP_KEY_INT,
    BSUP_KEY_BOOL,
    BSUP_KEY_ENUM,
    BSUP_KEY_LIST,
    BSUP_KEY_DURATION,
    BSUP_KEY_SECRET,
    BSUP_KEY_SECTION,
};

struct bsup_config_key {
    const char *name;
    int type; /* enum bsup_key_type */
    bool required;
    const char *default_text;   /* as it would be written in YAML; NULL: none */
    size_t offset;              /* into the owning struct */
    int64_t min, max;           /* INT, DURATION: bounds; STRING/LIST: lengths */
    const char *const *choices; /* ENUM: names, index = stored int */
    /* STRING/LIST element rule: NULL when fine, else why not (e.g. "must look like vpc-…"). */
    const char *(*check)(const char *value);
    const struct bsup_config_key *section; /* SECTION: its keys, NULL-terminated */
    const char *unit;                      /* for messages: "days", "instances" */
    const char *doc;
    /* Enforced only when written (health_check's target-group settings): default_text is what
     * AWS starts with, never what bsupd sets. */
    bool if_declared;
};

extern const struct bsup_config_key bsup_service_keys[];
extern const struct bsup_config_key bsup_settings_keys[];

#endif
