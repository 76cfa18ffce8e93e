#include "core/base/url.h"

#include "core/base/error.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

static bool s_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool s_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool bsup_url_chars_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("\"<>\\^`{|}", *p))
            return false;
    return true;
}

bool bsup_url_scheme_is(const struct bsup_url *u, const char *scheme)
{
    size_t n = strlen(scheme);
    return u->scheme.p && u->scheme.len == n && strncasecmp(u->scheme.p, scheme, n) == 0;
}

static int s_fail(const char **out_why, const char *why)
{
    if (out_why)
        *out_why = why;
    return BSUP_EINVAL;
}

/* Brackets stripped: an IPv6 address as inet_pton reads it, nothing more (no zone id). */
static bool s_ipv6_ok(const char *p, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, p, len);
    text[len] = '\0';
    return inet_pton(AF_INET6, text, addr) == 1;
}

static bool s_name_ok(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!s_alpha(p[i]) && !s_digit(p[i]) && p[i] != '-' && p[i] != '.' && p[i] != '_')
            return false;
    return true;
}

int bsup_url_parse(const char *url, struct bsup_url *out, const char **out_why)
{
    memset(out, 0, sizeof(*out));
    if (!url || !bsup_url_chars_ok(url))
        return s_fail(out_why, "has an invalid character");
    const char *sep = strstr(url, "://");
    if (!sep)
        return s_fail(out_why, "did not specify a host");
    if (sep == url || !s_alpha(url[0]))
        return s_fail(out_why, "has an invalid scheme");
    for (const char *c = url; c < sep; c++)
        if (!s_alpha(*c) && !s_digit(*c) && *c != '+' && *c != '-' && *c != '.')
            return s_fail(out_why, "has an invalid scheme");
    out->scheme = (struct bsup_url_part){url, (size_t)(sep - url)};

    const char *a = sep + 3;
    size_t alen = strcspn(a, "/?#");
    const char *aend = a + alen;
    out->authority = (struct bsup_url_part){a, alen};
    if (memchr(a, '@', alen))
        return s_fail(out_why, "must not contain user information");

    const char *port = NULL;
    if (alen && a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb || !s_ipv6_ok(a + 1, (size_t)(rb - a - 1)))
            return s_fail(out_why, "has a bad IPv6 host");
        out->host = (struct bsup_url_part){a + 1, (size_t)(rb - a - 1)};
        out->ipv6 = true;
        if (rb + 1 < aend) {
            if (rb[1] != ':')
                return s_fail(out_why, "has an invalid authority");
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(a, ':', alen);
        const char *hend = colon ? colon : aend;
        out->host = (struct bsup_url_part){a, (size_t)(hend - a)};
        port = colon ? colon + 1 : NULL;
    }
    if (out->host.len == 0)
        return s_fail(out_why, "did not specify a host");
    if (!out->ipv6 && !s_name_ok(out->host.p, out->host.len))
        return s_fail(out_why, "has an invalid character in its host");
    if (port) {
        if (port == aend)
            return s_fail(out_why, "has an empty port");
        unsigned v = 0;
        if (aend - port > 5)
            return s_fail(out_why, "has an invalid port");
        for (const char *c = port; c < aend; c++) {
            if (!s_digit(*c))
                return s_fail(out_why, "has an invalid port");
            v = v * 10 + (unsigned)(*c - '0');
        }
        if (v < 1 || v > 65535)
            return s_fail(out_why, "has an invalid port");
        out->port = v;
    }

    size_t plen = strcspn(aend, "?#");
    out->path = (struct bsup_url_part){aend, plen};
    const char *rest = aend + plen;
    if (*rest == '?') {
        size_t qlen = strcspn(rest + 1, "#");
        out->query = (struct bsup_url_part){rest + 1, qlen};
        rest += 1 + qlen;
    }
    if (*rest == '#')
        out->fragment = (struct bsup_url_part){rest + 1, strlen(rest + 1)};
    return 0;
}
