/* The man pages exist and bsup.d(5) names every key of both key tables (docs/config.md is
 * checked by test_config); docs/config.md shows the rate-limit defaults of the family table.
 * The tables are the truth; the docs must follow. */
#include "tests/lib/testlib.h"

#include "core/aws/ratelimit.h"
#include "core/config/config.h"
#include "core/metrics/alerts.h"
#include "core/metrics/catalogue.h"
#include "core/reconcile/domain.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether text mentions key as a word (roff escapes "-" as "\-", so both are accepted). */
static int s_mentions(const char *text, const char *key)
{
    for (const char *p = strstr(text, key); p; p = strstr(p + 1, key)) {
        char after = p[strlen(key)];
        if (!(after == '_' || (after >= 'a' && after <= 'z')))
            return 1;
    }
    return 0;
}

static void s_check_keys(const char *path, const char *text, const struct bsup_config_key *keys,
                         const char *prefix, int *missing)
{
    for (const struct bsup_config_key *k = keys; k->name; k++) {
        if (k->type == BSUP_KEY_SECTION && k->section)
            s_check_keys(path, text, k->section, k->name, missing);
        if (!s_mentions(text, k->name)) {
            fprintf(stderr, "%s does not mention %s%s%s\n", path, prefix ? prefix : "",
                    prefix ? "." : "", k->name);
            (*missing)++;
        }
    }
}

static void test_man_page_keys(void **state)
{
    (void)state;
    char *text = bsup_test_read(BSUP_SRCDIR "/docs/man/bsup.d.5", NULL);
    int missing = 0;
    assert_non_null(text);
    s_check_keys("bsup.d(5)", text, bsup_service_keys, NULL, &missing);
    s_check_keys("bsup.d(5)", text, bsup_settings_keys, NULL, &missing);
    free(text);
    assert_int_equal(missing, 0);
}

static void test_man_pages_exist(void **state)
{
    (void)state;
    static const char *const pages[] = {"bsupd.8", "bsupctl.8", "bsup.d.5"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/docs/man/%s", BSUP_SRCDIR, pages[i]);
        char *text = bsup_test_read(path, NULL);
        assert_non_null(text);
        assert_non_null(strstr(text, ".TH "));
        free(text);
    }
}

/* Whether line (up to its newline) is a table separator row such as "|---|:--|". */
static int s_is_separator(const char *line)
{
    size_t n = strcspn(line, "\n");
    return n > 2 && line[0] == '|' && line[1] != ' ' && strspn(line, "|-: ") == n;
}

/* Every markdown table in path starts with its header and separator rows, and no paragraph
 * or blank line splits it: a row cut off from its header renders as plain text. */
static int s_check_tables(const char *path)
{
    char *text = bsup_test_read(path, NULL);
    int broken = 0, fenced = 0, line_no = 0, prev_row = 0;
    assert_non_null(text);
    for (const char *line = text; *line; line++) {
        line_no++;
        if (strncmp(line, "```", 3) == 0)
            fenced = !fenced;
        int row = !fenced && line[0] == '|';
        const char *next = strchr(line, '\n');
        if (row && !prev_row && !(next && s_is_separator(next + 1))) {
            fprintf(stderr, "%s:%d: a table row without a header and separator row above it\n",
                    path, line_no);
            broken++;
        }
        prev_row = row;
        if (!next)
            break;
        line = next;
    }
    free(text);
    return broken;
}

static void test_markdown_tables(void **state)
{
    (void)state;
    int broken = s_check_tables(BSUP_SRCDIR "/README.md");
    DIR *dir = opendir(BSUP_SRCDIR "/docs");
    assert_non_null(dir);
    for (struct dirent *e; (e = readdir(dir));) {
        size_t n = strlen(e->d_name);
        char path[512];
        if (n < 4 || strcmp(e->d_name + n - 3, ".md") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/docs/%s", BSUP_SRCDIR, e->d_name);
        broken += s_check_tables(path);
    }
    closedir(dir);
    assert_int_equal(broken, 0);
}

/* docs/config.md's rate_limits table gives every family's built-in default and AWS's
 * published bucket as the family table has them. */
static void test_rate_limit_defaults(void **state)
{
    (void)state;
    char *text = bsup_test_read(BSUP_SRCDIR "/docs/config.md", NULL);
    assert_non_null(text);
    for (int f = 0; f < BSUP_API_FAMILY_COUNT; f++) {
        const struct bsup_api_family_info *fam = &bsup_api_families[f];
        char row[160];
        if (fam->aws_burst)
            snprintf(row, sizeof(row), "| `rate_limits.%s` | %lld / %lld | %lld / %lld |",
                     fam->name, (long long)fam->burst, (long long)fam->rate_per_s,
                     (long long)fam->aws_burst, (long long)fam->aws_rate_per_s);
        else
            snprintf(row, sizeof(row), "| `rate_limits.%s` | %lld / %lld | not published |",
                     fam->name, (long long)fam->burst, (long long)fam->rate_per_s);
        if (!strstr(text, row))
            fail_msg("docs/config.md has no row starting \"%s\"", row);
    }
    free(text);
}

/* docs/metrics.md lists every metric of the catalogue with its unit, scope and emitter, and
 * says when a metric is not emitted yet; no row names a metric the table does not have. */
static void test_metric_catalogue(void **state)
{
    (void)state;
    char *text = bsup_test_read(BSUP_SRCDIR "/docs/metrics.md", NULL);
    assert_non_null(text);
    for (int m = 0; m < BSUP_METRIC_COUNT; m++) {
        const struct bsup_metric_info *mi = &bsup_metrics[m];
        char row[512];
        snprintf(row, sizeof(row), "| `%s` | %s | %s | %s%s | %s |", mi->name, mi->unit,
                 mi->scope == BSUP_METRIC_SERVICE ? "service" : "daemon", mi->emitter,
                 mi->emitted ? "" : " (not in this build: not emitted yet)", mi->doc);
        if (!strstr(text, row))
            fail_msg("docs/metrics.md has no row \"%s\"", row);
    }
    /* Every metric row of the doc (a row with a scope column) is in the table. */
    for (const char *p = strstr(text, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
        char name[64] = "", line[1024] = "";
        const char *eol = strchr(p + 1, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), p);
        if (sscanf(line, "\n| `%63[A-Za-z]`", name) == 1 &&
            (strstr(line, " | service | ") || strstr(line, " | daemon | ")) &&
            bsup_metric_find(name) < 0)
            fail_msg("docs/metrics.md lists %s, which the catalogue does not have", name);
    }
    free(text);
}

/* Whether text has "`word`". */
static bool s_quoted(const char *text, const char *word)
{
    char q[128];
    snprintf(q, sizeof(q), "`%s`", word);
    return strstr(text, q) != NULL;
}

/* docs/metrics.md's Alerts section names every alert of the table and every event kind that is
 * one; docs/reconcile.md (the events row) and docs/control-protocol.md (the event kinds) name
 * every event kind of a domain's own. */
static void test_alert_list(void **state)
{
    (void)state;
    char *metrics = bsup_test_read(BSUP_SRCDIR "/docs/metrics.md", NULL);
    char *reconcile = bsup_test_read(BSUP_SRCDIR "/docs/reconcile.md", NULL);
    char *protocol = bsup_test_read(BSUP_SRCDIR "/docs/control-protocol.md", NULL);
    assert_non_null(metrics);
    assert_non_null(reconcile);
    assert_non_null(protocol);
    char *alerts = strstr(metrics, "\n## Alerts\n");
    assert_non_null(alerts);
    char *end = strstr(alerts + 1, "\n## ");
    if (end)
        *end = '\0';
    for (int a = 0; a < BSUP_ALERT_COUNT; a++)
        if (!s_quoted(alerts, bsup_alerts[a].what))
            fail_msg("docs/metrics.md's Alerts do not name `%s`", bsup_alerts[a].what);
#define S_EVENT_NAMED(kind, e)                                                                     \
    if (!s_quoted(alerts, kind))                                                                   \
        fail_msg("docs/metrics.md's Alerts do not name `%s` (alert %s)", kind,                     \
                 bsup_alerts[BSUP_ALERT_##e].what);
    BSUP_ALERT_EVENT_MAP(S_EVENT_NAMED)
#undef S_EVENT_NAMED
    for (size_t d = 0; d < bsup_n_domains; d++)
        for (const struct bsup_domain_event *ev = bsup_domains[d]->events; ev && ev->field; ev++)
            for (int k = 0; k < 2; k++) {
                const char *kind = k ? ev->cleared : ev->appeared;
                if (kind && !s_quoted(reconcile, kind))
                    fail_msg("docs/reconcile.md does not name the %s domain's `%s`",
                             bsup_domains[d]->name, kind);
                if (kind && !s_quoted(protocol, kind))
                    fail_msg("docs/control-protocol.md does not name the %s domain's `%s`",
                             bsup_domains[d]->name, kind);
            }
    free(protocol);
    free(reconcile);
    free(metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_man_pages_exist),     cmocka_unit_test(test_man_page_keys),
        cmocka_unit_test(test_rate_limit_defaults), cmocka_unit_test(test_metric_catalogue),
        cmocka_unit_test(test_alert_list),          cmocka_unit_test(test_markdown_tables),
    };
    return cmocka_run_group_tests_name("docs", tests, NULL, NULL);
}
