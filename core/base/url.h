/* The one URL parser for URLs an operator or the environment hands bsupd (endpoint URLs,
 * container credential URLs, IMDS endpoints): absolute URLs only,
 * scheme "://" authority [path] ["?" query] ["#" fragment].
 *
 * Strict, and the same for every caller:
 * - every byte is a character a URI may carry unescaped (RFC 3986: no controls, spaces,
 *   non-ASCII, or any of "<>\^`{|});
 * - scheme: a letter, then letters, digits, '+', '-', '.';
 * - user information ("user:pass@host") is refused, never silently dropped;
 * - host: a name or IPv4 address (letters, digits, '-', '.', '_'), or an IPv6 address in
 *   brackets (no zone id);
 * - port: optional, decimal, 1-65535 ("host:" with an empty port is refused).
 * Whether a scheme, a query or a fragment is acceptable is the caller's rule.
 * The parts point into the caller's string; nothing is allocated. */
#ifndef BSUP_CORE_BASE_URL_H
#define BSUP_CORE_BASE_URL_H

#include <stdbool.h>
#include <stddef.h>

/* A view of len bytes at p (not NUL-terminated); p is NULL for an absent part. */
struct bsup_url_part {
    const char *p;
    size_t len;
};

struct bsup_url {
    struct bsup_url_part scheme;    /* as written ("HTTPS"): compare with bsup_url_scheme_is */
    struct bsup_url_part authority; /* host[:port] as written, IPv6 brackets kept */
    struct bsup_url_part host;      /* without IPv6 brackets */
    struct bsup_url_part path;      /* "" or from the first '/' up to '?' or '#' */
    struct bsup_url_part query;     /* after '?', up to '#'; p NULL when there is no '?' */
    struct bsup_url_part fragment;  /* after '#'; p NULL when there is no '#' */
    unsigned port;                  /* 1-65535, or 0 when none was written */
    bool ipv6;                      /* the host was written in brackets */
};

/* 0 and *out, or BSUP_EINVAL with *out_why (may be NULL) set to a phrase that completes
 * "URL ...", such as "has an invalid port" or "did not specify a host". */
int bsup_url_parse(const char *url, struct bsup_url *out, const char **out_why);

/* Whether every byte of s may appear unescaped in a URI (the first check of the parser). */
bool bsup_url_chars_ok(const char *s);

/* Whether the URL's scheme is scheme, ignoring ASCII case. */
bool bsup_url_scheme_is(const struct bsup_url *u, const char *scheme);

#endif
