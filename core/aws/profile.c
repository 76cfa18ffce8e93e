#include "core/aws/profile.h"

#include "core/base/array.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Section name prefixes, as the SDKs spell them. */
enum s_prefix { S_PREFIX_NONE, S_PREFIX_PROFILE, S_PREFIX_SSO_SESSION };

/* The parse state of one file (the SDK parser's "Starting" / "ReadingProfile"). */
struct s_parser {
    struct bsup_aws_profile_set *raw; /* sections keyed by their raw bracket text */
    const char *file_name;
    size_t line_no;
    long section;  /* index into raw->profiles, -1 before the first section */
    long property; /* index into that section's props, -1 when none */
    int is_subproperty;
    struct bsup_diag *diag;
};

static int s_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static void s_trim(const char **b, const char **e)
{
    while (*b < *e && s_is_ws(**b))
        (*b)++;
    while (*e > *b && s_is_ws((*e)[-1]))
        (*e)--;
}

/* Trims, drops a comment ('#' or ';'; for property lines only when preceded by whitespace),
 * trims again. */
static void s_prepare(const char **b, const char **e, int comments_need_ws)
{
    s_trim(b, e);
    int prev_ws = 0;
    for (const char *p = *b; p < *e; p++) {
        if ((*p == '#' || *p == ';') && (prev_ws || !comments_need_ws)) {
            *e = p;
            break;
        }
        prev_ws = s_is_ws(*p);
    }
    s_trim(b, e);
}

static int s_is_identifier(const char *b, const char *e)
{
    if (b == e)
        return 0;
    for (const char *p = b; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_-/.%@:+", c)))
            return 0;
    }
    return 1;
}

static void s_wipe_free(char *s)
{
    if (s) {
        bsup_secure_zero(s, strlen(s));
        free(s);
    }
}

static void s_profile_cleanup(struct bsup_aws_profile *p)
{
    for (size_t i = 0; i < p->n_props; i++) {
        free(p->props[i].name);
        s_wipe_free(p->props[i].value);
    }
    free(p->props);
    free(p->name);
    memset(p, 0, sizeof(*p));
}

void bsup_aws_profile_set_init(struct bsup_aws_profile_set *set)
{
    memset(set, 0, sizeof(*set));
}

void bsup_aws_profile_set_cleanup(struct bsup_aws_profile_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n_profiles; i++)
        s_profile_cleanup(&set->profiles[i]);
    for (size_t i = 0; i < set->n_sso_sessions; i++)
        s_profile_cleanup(&set->sso_sessions[i]);
    free(set->profiles);
    free(set->sso_sessions);
    memset(set, 0, sizeof(*set));
}

static long s_find(const struct bsup_aws_profile *list, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i].name) == len && memcmp(list[i].name, name, len) == 0)
            return (long)i;
    return -1;
}

/* Index of the section called name in *list, appended when missing; negative on ENOMEM. */
static long s_section(struct bsup_aws_profile **list, size_t *n, size_t *cap, const char *name,
                      size_t len)
{
    long i = s_find(*list, *n, name, len);
    if (i >= 0)
        return i;
    if (BSUP_ARRAY_RESERVE(*list, *cap, *n + 1) < 0)
        return BSUP_ENOMEM;
    struct bsup_aws_profile *p = &(*list)[*n];
    memset(p, 0, sizeof(*p));
    p->name = strndup(name, len);
    if (!p->name)
        return BSUP_ENOMEM;
    return (long)(*n)++;
}

/* Sets name (lower-cased) to value, replacing an earlier value; returns the property index. */
static long s_put(struct bsup_aws_profile *p, const char *name, size_t name_len, const char *value,
                  size_t value_len)
{
    char *v = strndup(value, value_len);
    if (!v)
        return BSUP_ENOMEM;
    for (size_t i = 0; i < p->n_props; i++) {
        if (strlen(p->props[i].name) == name_len &&
            strncasecmp(p->props[i].name, name, name_len) == 0) {
            s_wipe_free(p->props[i].value);
            p->props[i].value = v;
            return (long)i;
        }
    }
    if (BSUP_ARRAY_RESERVE(p->props, p->cap_props, p->n_props + 1) < 0) {
        s_wipe_free(v);
        return BSUP_ENOMEM;
    }
    char *n = strndup(name, name_len);
    if (!n) {
        s_wipe_free(v);
        return BSUP_ENOMEM;
    }
    for (char *c = n; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    p->props[p->n_props].name = n;
    p->props[p->n_props].value = v;
    return (long)p->n_props++;
}

static int s_error(struct s_parser *ps, const char *msg)
{
    return bsup_diag_set(ps->diag, BSUP_EPARSE, "%s:%zu: %s", ps->file_name, ps->line_no, msg);
}

/* "k = v" after comment stripping: returns 0 with the trimmed key and value, or a negative
 * code with diag "Expected an '=' sign defining a <what>" / "<What> did not have a name". */
static int s_split_property(struct s_parser *ps, const char *b, const char *e, int sub,
                            const char **kb, const char **ke, const char **vb, const char **ve)
{
    s_prepare(&b, &e, 1);
    const char *eq = memchr(b, '=', (size_t)(e - b));
    if (!eq)
        return s_error(ps, sub ? "Expected an '=' sign defining a sub-property"
                               : "Expected an '=' sign defining a property");
    *kb = b;
    *ke = eq;
    *vb = eq + 1;
    *ve = e;
    s_trim(kb, ke);
    s_trim(vb, ve);
    if (*kb == *ke)
        return s_error(ps,
                       sub ? "Sub-property did not have a name" : "Property did not have a name");
    return 0;
}

static int s_read_section_line(struct s_parser *ps, const char *b, const char *e)
{
    s_prepare(&b, &e, 0);
    if (e - b < 2 || e[-1] != ']')
        return s_error(ps, "Profile definition must end with ']'");
    struct bsup_aws_profile_set *raw = ps->raw;
    long i =
        s_section(&raw->profiles, &raw->n_profiles, &raw->cap_profiles, b + 1, (size_t)(e - b - 2));
    if (i < 0)
        return (int)i;
    ps->section = i;
    ps->property = -1;
    ps->is_subproperty = 0;
    return 0;
}

static int s_read_property_line(struct s_parser *ps, const char *b, const char *e)
{
    if (ps->section < 0)
        return s_error(ps, "Expected a profile definition");
    const char *kb, *ke, *vb, *ve;
    int rc = s_split_property(ps, b, e, 0, &kb, &ke, &vb, &ve);
    if (rc < 0)
        return rc;
    long i = s_put(&ps->raw->profiles[ps->section], kb, (size_t)(ke - kb), vb, (size_t)(ve - vb));
    if (i < 0)
        return (int)i;
    ps->property = i;
    ps->is_subproperty = vb == ve;
    return 0;
}

static int s_read_continuation(struct s_parser *ps, const char *b, const char *e)
{
    if (ps->section < 0)
        return s_error(ps, "Expected a profile definition");
    if (ps->property < 0)
        return s_error(ps, "Expected a property definition, found continuation");
    if (ps->is_subproperty) {
        const char *kb, *ke, *vb, *ve;
        int rc = s_split_property(ps, b, e, 1, &kb, &ke, &vb, &ve);
        if (rc < 0)
            return rc;
    }
    s_trim(&b, &e);
    struct bsup_aws_profile_property *prop = &ps->raw->profiles[ps->section].props[ps->property];
    size_t old = strlen(prop->value), add = (size_t)(e - b);
    char *v = malloc(old + 1 + add + 1);
    if (!v)
        return BSUP_ENOMEM;
    memcpy(v, prop->value, old);
    v[old] = '\n';
    memcpy(v + old + 1, b, add);
    v[old + 1 + add] = '\0';
    s_wipe_free(prop->value);
    prop->value = v;
    return 0;
}

/* Splits "profile foo" / "sso-session foo" / "foo" (already without brackets). */
static enum s_prefix s_section_name(const char *raw, const char **nb, const char **ne)
{
    const char *b = raw, *e = raw + strlen(raw);
    s_trim(&b, &e);
    static const struct {
        const char *word;
        enum s_prefix prefix;
    } prefixes[] = {{"profile", S_PREFIX_PROFILE}, {"sso-session", S_PREFIX_SSO_SESSION}};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i].word);
        if ((size_t)(e - b) > n && memcmp(b, prefixes[i].word, n) == 0 && s_is_ws(b[n])) {
            *nb = b + n;
            *ne = e;
            s_trim(nb, ne);
            return prefixes[i].prefix;
        }
    }
    *nb = b;
    *ne = e;
    return S_PREFIX_NONE;
}

/* Whether a section of this file kind and prefix names a profile (or sso-session) at all. */
static int s_section_valid(enum bsup_aws_profile_file_kind kind, enum s_prefix prefix,
                           const char *nb, const char *ne)
{
    if (!s_is_identifier(nb, ne))
        return 0;
    if (kind == BSUP_AWS_PROFILE_FILE_CREDENTIALS)
        return prefix == S_PREFIX_NONE;
    if (prefix != S_PREFIX_NONE)
        return 1;
    return (size_t)(ne - nb) == 7 && memcmp(nb, "default", 7) == 0;
}

/* Merges the raw sections of one file into set, dropping invalid names. */
static int s_normalize(struct bsup_aws_profile_set *set, const struct bsup_aws_profile_set *raw,
                       enum bsup_aws_profile_file_kind kind)
{
    /* [profile default] in the config file hides [default] of the same file entirely. */
    int hide_plain_default = 0;
    for (size_t i = 0; i < raw->n_profiles; i++) {
        const char *nb, *ne;
        enum s_prefix pf = s_section_name(raw->profiles[i].name, &nb, &ne);
        if (pf == S_PREFIX_PROFILE && s_section_valid(kind, pf, nb, ne) && ne - nb == 7 &&
            memcmp(nb, "default", 7) == 0)
            hide_plain_default = 1;
    }
    for (size_t i = 0; i < raw->n_profiles; i++) {
        const struct bsup_aws_profile *rp = &raw->profiles[i];
        const char *nb, *ne;
        enum s_prefix pf = s_section_name(rp->name, &nb, &ne);
        if (!s_section_valid(kind, pf, nb, ne))
            continue;
        if (kind == BSUP_AWS_PROFILE_FILE_CONFIG && pf == S_PREFIX_NONE && hide_plain_default)
            continue;
        long t;
        if (pf == S_PREFIX_SSO_SESSION)
            t = s_section(&set->sso_sessions, &set->n_sso_sessions, &set->cap_sso_sessions, nb,
                          (size_t)(ne - nb));
        else
            t = s_section(&set->profiles, &set->n_profiles, &set->cap_profiles, nb,
                          (size_t)(ne - nb));
        if (t < 0)
            return (int)t;
        struct bsup_aws_profile *target =
            pf == S_PREFIX_SSO_SESSION ? &set->sso_sessions[t] : &set->profiles[t];
        for (size_t k = 0; k < rp->n_props; k++) {
            const char *key = rp->props[k].name, *val = rp->props[k].value;
            if (!s_is_identifier(key, key + strlen(key)))
                continue;
            long r = s_put(target, key, strlen(key), val, strlen(val));
            if (r < 0)
                return (int)r;
        }
    }
    return 0;
}

int bsup_aws_profile_set_merge(struct bsup_aws_profile_set *set,
                               enum bsup_aws_profile_file_kind kind, const char *data, size_t len,
                               const char *file_name, struct bsup_diag *diag)
{
    struct bsup_aws_profile_set raw;
    bsup_aws_profile_set_init(&raw);
    struct s_parser ps = {.raw = &raw,
                          .file_name = file_name ? file_name : "(profile file)",
                          .section = -1,
                          .property = -1,
                          .diag = diag};
    int rc = 0;
    if (len > BSUP_AWS_PROFILE_MAX_BYTES) {
        rc = bsup_diag_set(diag, BSUP_ETOOBIG, "%s: larger than %d bytes", ps.file_name,
                           BSUP_AWS_PROFILE_MAX_BYTES);
        goto out;
    }
    if (len && memchr(data, '\0', len)) {
        rc = bsup_diag_set(diag, BSUP_EPARSE, "%s: contains a NUL byte", ps.file_name);
        goto out;
    }
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *lb = p;
        p = nl ? nl + 1 : end;
        ps.line_no++;
        if (le > lb && le[-1] == '\r')
            le--;
        const char *tb = lb, *te = le;
        s_trim(&tb, &te);
        if (tb == te || *lb == '#' || *lb == ';')
            continue;
        if (*lb == '[')
            rc = s_read_section_line(&ps, lb, le);
        else if (s_is_ws(*lb))
            rc = s_read_continuation(&ps, lb, le);
        else
            rc = s_read_property_line(&ps, lb, le);
        if (rc < 0)
            goto out;
    }
    rc = s_normalize(set, &raw, kind);
out:
    if (rc == BSUP_ENOMEM)
        bsup_diag_set(diag, rc, "%s: out of memory", ps.file_name);
    bsup_aws_profile_set_cleanup(&raw);
    return rc;
}

const struct bsup_aws_profile *bsup_aws_profile_set_find(const struct bsup_aws_profile_set *set,
                                                         const char *name)
{
    long i = s_find(set->profiles, set->n_profiles, name, strlen(name));
    return i < 0 ? NULL : &set->profiles[i];
}

const struct bsup_aws_profile *
bsup_aws_profile_set_find_sso_session(const struct bsup_aws_profile_set *set, const char *name)
{
    long i = s_find(set->sso_sessions, set->n_sso_sessions, name, strlen(name));
    return i < 0 ? NULL : &set->sso_sessions[i];
}

const char *bsup_aws_profile_get(const struct bsup_aws_profile *profile, const char *name)
{
    if (!profile)
        return NULL;
    for (size_t i = 0; i < profile->n_props; i++)
        if (strcasecmp(profile->props[i].name, name) == 0)
            return profile->props[i].value;
    return NULL;
}

static const char *s_env(bsup_aws_getenv_fn *getenv_fn, void *ctx, const char *name)
{
    const char *v = getenv_fn ? getenv_fn(ctx, name) : NULL;
    return v && *v ? v : NULL;
}

/* override (with "~" / "~/" expanded) or HOME + suffix; *out NULL when HOME is needed but
 * unset. */
static int s_path(const char *override, const char *home, const char *suffix, char **out)
{
    *out = NULL;
    const char *rest = NULL;
    if (override) {
        if (override[0] == '~' && (override[1] == '/' || override[1] == '\0'))
            rest = override + 1;
        else
            return (*out = strdup(override)) ? 0 : BSUP_ENOMEM;
    } else {
        rest = suffix;
    }
    if (!home)
        return 0;
    size_t hl = strlen(home);
    while (hl > 1 && home[hl - 1] == '/')
        hl--;
    size_t rl = strlen(rest);
    char *s = malloc(hl + rl + 1);
    if (!s)
        return BSUP_ENOMEM;
    memcpy(s, home, hl);
    memcpy(s + hl, rest, rl + 1);
    *out = s;
    return 0;
}

int bsup_aws_profile_files_locate(bsup_aws_getenv_fn *getenv_fn, void *getenv_ctx,
                                  struct bsup_aws_profile_files *out)
{
    memset(out, 0, sizeof(*out));
    const char *home = s_env(getenv_fn, getenv_ctx, "HOME");
    const char *profile = s_env(getenv_fn, getenv_ctx, "AWS_PROFILE");
    int rc = s_path(s_env(getenv_fn, getenv_ctx, "AWS_CONFIG_FILE"), home, "/.aws/config",
                    &out->config_path);
    if (rc == 0)
        rc = s_path(s_env(getenv_fn, getenv_ctx, "AWS_SHARED_CREDENTIALS_FILE"), home,
                    "/.aws/credentials", &out->credentials_path);
    if (rc == 0) {
        out->profile = strdup(profile ? profile : "default");
        out->profile_explicit = profile != NULL;
        if (!out->profile)
            rc = BSUP_ENOMEM;
    }
    if (rc < 0)
        bsup_aws_profile_files_cleanup(out);
    return rc;
}

void bsup_aws_profile_files_cleanup(struct bsup_aws_profile_files *files)
{
    if (!files)
        return;
    free(files->config_path);
    free(files->credentials_path);
    free(files->profile);
    memset(files, 0, sizeof(*files));
}

int bsup_aws_profile_read_file(void *ctx, const char *path, size_t limit_bytes, char **out_data,
                               size_t *out_len)
{
    (void)ctx;
    *out_data = NULL;
    *out_len = 0;
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    /* O_NONBLOCK: a FIFO named as the file is refused below, not waited on for a writer. Plain
     * read(2) into our buffer: no stdio buffer is left holding the keys unwiped. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT || errno == ENOTDIR ? BSUP_ENOTFOUND
             : errno == EACCES                   ? BSUP_EPERM
                                                 : BSUP_EIO;
        goto out;
    }
    struct stat st, null_dev;
    if (fstat(fd, &st) != 0) {
        rc = BSUP_EIO;
        goto out;
    }
    /* /dev/null is "no file", as the SDKs read it (AWS_CONFIG_FILE=/dev/null). */
    if (S_ISCHR(st.st_mode) && stat("/dev/null", &null_dev) == 0 &&
        st.st_rdev == null_dev.st_rdev) {
        rc = BSUP_ENOTFOUND;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = BSUP_EIO;
        goto out;
    }
    if ((unsigned long long)st.st_size > limit_bytes) {
        rc = BSUP_ETOOBIG;
        goto out;
    }
    buf = malloc(limit_bytes + 1);
    if (!buf) {
        rc = BSUP_ENOMEM;
        goto out;
    }
    for (;;) { /* to the end, one byte past the limit telling a file that grew */
        ssize_t n = read(fd, buf + len, limit_bytes + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = BSUP_EIO;
            goto out;
        }
        if (n == 0 || (len += (size_t)n) > limit_bytes)
            break;
    }
    if (len > limit_bytes) {
        rc = BSUP_ETOOBIG;
        goto out;
    }
    buf[len] = '\0';
    *out_data = buf;
    *out_len = len;
    buf = NULL;
out:
    if (buf) {
        bsup_secure_zero(buf, limit_bytes + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}
